//! `safe-sail evaluate` against an independent recomputation on a small corpus.

mod common;

use candle_core::{DType, Device, Tensor, D};
use common::*;
use safe_sail::capture::Capture;
use safe_sail::hooks::HookPoint;
use safe_sail::model::{ForwardOpts, Hooks, Model};
use safe_sail::sae::load_sae;

fn ce(logits: &Tensor, ids: &[u32]) -> (f64, u64) {
    let lp = candle_nn::ops::log_softmax(&logits.narrow(0, 0, ids.len() - 1).unwrap(), D::Minus1)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let s: f64 = ids[1..]
        .iter()
        .enumerate()
        .map(|(i, &t)| -(lp[i][t as usize] as f64))
        .sum();
    (s, (ids.len() - 1) as u64)
}

#[test]
fn fidelity_and_downstream_loss_match_a_direct_computation() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = safe_sail::sample::corpus::generate(&safe_sail::sample::corpus::CorpusConfig {
        docs: 6,
        seed: 11,
        ..Default::default()
    });
    let corpus = tmp.path().join("c.jsonl");
    safe_sail::sample::corpus::write_jsonl(&docs, &corpus).unwrap();
    let model_dir = fixtures().join("models/qwen2");
    let sae_dir = fixtures().join("saes/saelens_topk");
    let out = tmp.path().join("eval");
    let o = bin()
        .args([
            "evaluate",
            "--model",
            &model_dir.display().to_string(),
            "--sae",
            &sae_dir.display().to_string(),
        ])
        .args([
            "--corpus",
            &corpus.display().to_string(),
            "--context",
            "24",
            "--batch",
            "3",
            "--tokens",
            "1000000",
        ])
        .args(["--out", &out.display().to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("evaluation.json")).unwrap())
            .unwrap();
    let row = &v["rows"][0];
    assert_eq!(v["directions"]["explained_variance"], "higher");

    // Independently: each context alone.
    let model = Model::load_dir(&model_dir, &Device::Cpu, DType::F32).unwrap();
    let sae = load_sae(
        &sae_dir.display().to_string().parse().unwrap(),
        &Device::Cpu,
    )
    .unwrap();
    struct Replace(HookPoint, Option<Tensor>);
    impl Hooks for Replace {
        fn at(&mut self, h: HookPoint, _x: &Tensor) -> anyhow::Result<Option<Tensor>> {
            Ok(if h == self.0 { self.1.clone() } else { None })
        }
    }
    let (mut sse, mut sum_sq, mut active, mut n) = (0f64, 0f64, 0u64, 0u64);
    let mut sum = vec![0f64; 64];
    let mut ces = [(0f64, 0u64); 3];
    for line in std::fs::read_to_string(&corpus).unwrap().lines() {
        let d: serde_json::Value = serde_json::from_str(line).unwrap();
        let ids = model
            .tok
            .encode_ids(d["text"].as_str().unwrap(), true)
            .unwrap();
        for c in ids.chunks(24) {
            let mut cap = Capture::new([sae.hook()]);
            let clean = model
                .run(c, &mut cap, ForwardOpts::default())
                .unwrap()
                .unwrap();
            let x = cap.acts[&sae.hook()].squeeze(0).unwrap();
            let f = sae.encode(&x).unwrap();
            let r = sae.decode(&f).unwrap();
            let (xs, rs, fs) = (
                x.to_vec2::<f32>().unwrap(),
                r.to_vec2::<f32>().unwrap(),
                f.to_vec2::<f32>().unwrap(),
            );
            for p in 0..c.len() {
                n += 1;
                active += fs[p].iter().filter(|v| **v > 0.0).count() as u64;
                for j in 0..64 {
                    let (a, b) = (xs[p][j] as f64, rs[p][j] as f64);
                    sse += (a - b) * (a - b);
                    sum_sq += a * a;
                    sum[j] += a;
                }
            }
            if c.len() < 2 {
                continue;
            }
            let spliced = model
                .run(
                    c,
                    &mut Replace(sae.hook(), Some(r.unsqueeze(0).unwrap())),
                    ForwardOpts::default(),
                )
                .unwrap()
                .unwrap();
            let zero = model
                .run(
                    c,
                    &mut Replace(
                        sae.hook(),
                        Some(x.zeros_like().unwrap().unsqueeze(0).unwrap()),
                    ),
                    ForwardOpts::default(),
                )
                .unwrap()
                .unwrap();
            for (k, l) in [clean, spliced, zero].iter().enumerate() {
                let (s, m) = ce(l, c);
                ces[k].0 += s;
                ces[k].1 += m;
            }
        }
    }
    let nf = n as f64;
    let var = sum_sq - sum.iter().map(|s| s * s / nf).sum::<f64>();
    let close = |name: &str, want: f64| {
        let got = row[name].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1e-4 * want.abs().max(1.0),
            "{name}: {got} vs {want}"
        );
    };
    assert_eq!(row["tokens"].as_u64().unwrap(), n);
    close("l0", active as f64 / nf);
    close("explained_variance", 1.0 - sse / var);
    close("nmse", sse / sum_sq);
    let ce = |k: usize| ces[k].0 / ces[k].1 as f64;
    close("ce_clean", ce(0));
    close("ce_sae", ce(1));
    close("ce_zero", ce(2));
    close("ce_loss_recovered", (ce(2) - ce(1)) / (ce(2) - ce(0)));
    close("delta_loss", ce(1) - ce(0));
    // The Parquet file has the agreed column names.
    use polars::prelude::*;
    let df = ParquetReader::new(std::fs::File::open(out.join("evaluation.parquet")).unwrap())
        .finish()
        .unwrap();
    for c in [
        "sae",
        "hook",
        "d_sae",
        "architecture",
        "k",
        "l0",
        "dead_fraction",
        "dense_fraction",
        "explained_variance",
        "nmse",
        "ce_clean",
        "ce_sae",
        "ce_zero",
        "ce_loss_recovered",
        "delta_loss",
    ] {
        assert!(df.column(c).is_ok(), "evaluation.parquet has {c}");
    }
}

/// Runs `evaluate` with concept pairs on the fixture model and SAE; returns evaluation.json.
fn evaluate_pairs(
    tmp: &std::path::Path,
    corpus: &std::path::Path,
    pairs: &std::path::Path,
    extra: &[&str],
) -> serde_json::Value {
    let out = tmp.join(format!("eval{}", extra.len()));
    let o = bin()
        .args([
            "evaluate",
            "--model",
            &fixtures().join("models/qwen2").display().to_string(),
            "--sae",
            &fixtures().join("saes/saelens_topk").display().to_string(),
        ])
        .args([
            "--corpus",
            &corpus.display().to_string(),
            "--context",
            "24",
            "--tokens",
            "1000000",
            "--concept-pairs",
            &pairs.display().to_string(),
        ])
        .args([
            "--threshold",
            "0.3",
            "--labeled-corpus",
            &corpus.display().to_string(),
        ])
        .args(extra)
        .args(["--out", &out.display().to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&std::fs::read_to_string(out.join("evaluation.json")).unwrap()).unwrap()
}

#[test]
fn concept_pair_metrics_match_their_definition() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = safe_sail::sample::corpus::generate(&safe_sail::sample::corpus::CorpusConfig {
        docs: 30,
        seed: 5,
        ..Default::default()
    });
    let corpus = tmp.path().join("c.jsonl");
    safe_sail::sample::corpus::write_jsonl(&docs, &corpus).unwrap();
    let pairs = safe_sail::sample::corpus::concept_pairs(5, 3);
    let pairs_file = tmp.path().join("pairs.jsonl");
    safe_sail::sample::corpus::write_jsonl(&pairs, &pairs_file).unwrap();
    let model_dir = fixtures().join("models/qwen2");
    let sae_dir = fixtures().join("saes/saelens_topk");
    let v = evaluate_pairs(tmp.path(), &corpus, &pairs_file, &[]);
    let row = &v["rows"][0];
    // The labeled corpus's probes: an accuracy in [0, 1] per probed domain and k, the chosen
    // latents listed, TPP beside them, the formulas among the definitions.
    let mut probed = 0;
    for domain in safe_sail::domains::SAFETY_DOMAINS {
        assert!(row.get(format!("tpp_{domain}")).is_some(), "{row}");
        if row[format!("probe_k1_{domain}")].is_null() {
            continue;
        }
        probed += 1;
        for k in [1, 2, 5] {
            let a = row[format!("probe_k{k}_{domain}")].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&a), "{domain} k={k}: {a}");
        }
        let lat = row["probe_latents"][domain].as_array().unwrap();
        assert!(!lat.is_empty() && lat.len() <= 5, "{row}");
    }
    assert!(probed > 0, "{row}");
    assert!(v["definitions"]["probe_k<k>_<domain>"].is_string());
    assert!(v["definitions"]["tpp_<domain>"].is_string());

    // The definition, computed here directly.
    let model = Model::load_dir(&model_dir, &Device::Cpu, DType::F32).unwrap();
    let sae = load_sae(
        &sae_dir.display().to_string().parse().unwrap(),
        &Device::Cpu,
    )
    .unwrap();
    let n_lat = sae.d_sae();
    let encode = |ids: &[u32]| -> Vec<Vec<f32>> {
        let mut cap = Capture::new([sae.hook()]);
        model.run(ids, &mut cap, ForwardOpts::default()).unwrap();
        sae.encode(&cap.acts[&sae.hook()].squeeze(0).unwrap())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap()
    };
    let maxima = |text: &str| -> Vec<f32> {
        let toks = model.tok.encode(text, true).unwrap();
        let ids: Vec<u32> = toks.iter().map(|t| t.id).collect();
        let f = encode(&ids);
        (0..n_lat)
            .map(|l| {
                f.iter()
                    .zip(&toks)
                    .filter(|(_, t)| !t.special)
                    .map(|(r, _)| r[l])
                    .fold(0f32, f32::max)
            })
            .collect()
    };
    let c: Vec<Vec<f32>> = pairs.iter().map(|p| maxima(&p.prompt)).collect();
    let d: Vec<Vec<f32>> = pairs.iter().map(|p| maxima(&p.deconcept)).collect();
    // Calibration: every activation over the general corpus in contexts of 24 tokens, sorted;
    // the ceil(0.001 n)-th largest, else the max, else no scale.
    let mut all: Vec<Vec<f32>> = vec![vec![]; n_lat];
    for line in std::fs::read_to_string(&corpus).unwrap().lines() {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        let ids = model
            .tok
            .encode_ids(doc["text"].as_str().unwrap(), true)
            .unwrap();
        for ctx in ids.chunks(24) {
            for r in encode(ctx) {
                for (l, v) in r.into_iter().enumerate() {
                    all[l].push(v);
                }
            }
        }
    }
    let n_tok = all[0].len();
    assert_eq!(row["tokens"].as_u64().unwrap(), n_tok as u64);
    let rank = (n_tok as f64 * 0.001).ceil() as usize;
    let calibrated: Vec<f32> = all
        .iter_mut()
        .map(|v| {
            v.sort_by(|a, b| b.total_cmp(a));
            if v[rank - 1] > 0.0 {
                v[rank - 1]
            } else {
                v[0].max(0.0)
            }
        })
        .collect();
    let check = |row: &serde_json::Value, scale: &[f32]| {
        let t = 0.3;
        let mut keys: Vec<(String, String)> = vec![];
        for p in &pairs {
            let k = (p.domain.clone(), p.concept.clone());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        let got = row["concepts"].as_array().unwrap();
        assert_eq!(got.len(), keys.len());
        let mut per_domain = std::collections::HashMap::<String, (f64, f64, f64, f64)>::new();
        for (k, g) in keys.iter().zip(got) {
            assert_eq!(
                (
                    g["domain"].as_str().unwrap(),
                    g["concept"].as_str().unwrap()
                ),
                (k.0.as_str(), k.1.as_str())
            );
            let idx: Vec<usize> = (0..pairs.len())
                .filter(|&i| pairs[i].domain == k.0 && pairs[i].concept == k.1)
                .collect();
            let np = idx.len() as f64;
            let (mut latents, mut area, mut at_t) = (vec![], 0f64, 0f64);
            for l in 0..n_lat {
                if scale[l] <= 0.0 {
                    continue;
                }
                let deltas: Vec<f64> = idx
                    .iter()
                    .map(|&i| ((c[i][l] - d[i][l]) / scale[l]) as f64)
                    .collect();
                if deltas.iter().sum::<f64>() / np > t {
                    latents.push(l as u64);
                }
                area += deltas.iter().map(|x| x.clamp(0.0, 1.0)).sum::<f64>() / np;
                at_t += deltas.iter().filter(|x| **x > t).count() as f64 / np;
            }
            let want: Vec<u64> = g["latents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect();
            assert_eq!(want, latents, "{k:?}");
            assert_eq!(g["l0t"].as_u64().unwrap(), latents.len() as u64);
            let (icdf, icdf_t) = (area / n_lat as f64, at_t / n_lat as f64);
            assert!((g["icdf"].as_f64().unwrap() - icdf).abs() < 1e-6, "{k:?}");
            assert!(
                (g["icdf_t"].as_f64().unwrap() - icdf_t).abs() < 1e-6,
                "{k:?}"
            );
            let e = per_domain.entry(k.0.clone()).or_default();
            *e = (
                e.0 + latents.len() as f64,
                e.1 + icdf,
                e.2 + icdf_t,
                e.3 + 1.0,
            );
        }
        for domain in safe_sail::domains::SAFETY_DOMAINS {
            let (l0t, icdf, icdf_t, n) = per_domain[domain];
            assert_eq!(
                row[format!("l0t_{domain}")].as_f64().unwrap(),
                l0t,
                "{domain}"
            );
            assert!((row[format!("icdf_{domain}")].as_f64().unwrap() - icdf / n).abs() < 1e-6);
            assert!((row[format!("icdf_t_{domain}")].as_f64().unwrap() - icdf_t / n).abs() < 1e-6);
        }
        let unc = (0..n_lat)
            .filter(|&l| scale[l] <= 0.0 && c.iter().chain(&d).any(|m| m[l] > 0.0))
            .count();
        assert_eq!(row["uncalibrated"].as_u64().unwrap(), unc as u64);
    };
    check(row, &calibrated);
    for domain in safe_sail::domains::SAFETY_DOMAINS {
        let spec = row[format!("specific_{domain}")].as_f64().unwrap();
        assert!((0.0..=256.0).contains(&spec));
        let list = row["specific_latents"][domain].as_array().unwrap();
        assert_eq!(list.len() as f64, spec, "the count is the list's length");
        assert!(list.iter().all(|l| l.as_u64().unwrap() < 256));
    }
    assert!(v["definitions"]["concepts"]
        .as_str()
        .unwrap()
        .contains("clamp"));
    assert!(row["scale_source"]
        .as_str()
        .unwrap()
        .starts_with("calibration pass"));
    assert_eq!(
        v["recommendations"][0]["by_l0t"].as_str().unwrap(),
        row["sae"].as_str().unwrap()
    );

    // With a feature store's quantiles: latent l gets q999 = 0.05 (l + 1) and max 1, except
    // every 7th (q999 0: scaled by its max 0.5) and every 11th (never fired: no scale).
    use safe_sail::store::{FeatureRow, Store, StoreMeta};
    let store_dir = tmp.path().join("store");
    let meta = StoreMeta {
        program: "safe-sail".into(),
        version: "0".into(),
        model: model_dir.display().to_string(),
        sae: sae_dir.display().to_string(),
        hook: sae.hook().to_string(),
        d_sae: n_lat,
        corpus: vec![],
        shard: None,
        documents: 1,
        bad_rows: 0,
        contexts: 1,
        tokens: 1000,
        settings: serde_json::json!({}),
        definitions: serde_json::json!({}),
    };
    let mut scale = vec![0f32; n_lat];
    let features: Vec<FeatureRow> = (0..n_lat as u32)
        .map(|l| {
            let (q, m) = if l % 11 == 0 {
                (0.0, 0.0)
            } else if l % 7 == 0 {
                (0.0, 0.5)
            } else {
                (0.05 * (l + 1) as f32, 1.0)
            };
            scale[l as usize] = if q > 0.0 { q } else { m };
            FeatureRow {
                latent: l,
                q999: q,
                max_act: m,
                ..Default::default()
            }
        })
        .collect();
    Store::write(&store_dir, &meta, &features, &[]).unwrap();
    let v = evaluate_pairs(
        tmp.path(),
        &corpus,
        &pairs_file,
        &["--quantiles-from", &store_dir.display().to_string()],
    );
    let row = &v["rows"][0];
    check(row, &scale);
    assert!(row["scale_source"]
        .as_str()
        .unwrap()
        .contains("feature store"));
    // A store of another SAE is refused, naming it.
    let mut other = meta.clone();
    other.sae = "/elsewhere/sae".into();
    Store::write(&store_dir, &other, &features, &[]).unwrap();
    let o = bin()
        .args(["evaluate", "--model", &model_dir.display().to_string()])
        .args(["--sae", &sae_dir.display().to_string()])
        .args(["--corpus", &corpus.display().to_string(), "--tokens", "200"])
        .args(["--quantiles-from", &store_dir.display().to_string()])
        .args(["--out", &tmp.path().join("x").display().to_string()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("/elsewhere/sae") && err.contains("store"),
        "{err}"
    );
}

/// Each latent's activations over a corpus read as `evaluate` reads it (JSONL `text`, the
/// tokenizer's special tokens, contexts of `context` tokens), per token with its special flag.
fn corpus_activations(
    model: &Model,
    sae: &safe_sail::sae::Sae,
    corpus: &std::path::Path,
    context: usize,
) -> Vec<(bool, Vec<f32>)> {
    let mut out = vec![];
    for line in std::fs::read_to_string(corpus).unwrap().lines() {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        let ids = model
            .tok
            .encode_ids(doc["text"].as_str().unwrap(), true)
            .unwrap();
        for ctx in ids.chunks(context) {
            let mut cap = Capture::new([sae.hook()]);
            model.run(ctx, &mut cap, ForwardOpts::default()).unwrap();
            let f = sae
                .encode(&cap.acts[&sae.hook()].squeeze(0).unwrap())
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            for (id, row) in ctx.iter().zip(f) {
                out.push((model.tok.is_special(*id), row));
            }
        }
    }
    out
}

/// The 0.999 quantile by its definition (the ceil(0.001 n)-th largest of the n activations,
/// 0 when fewer are positive) over the tokens `keep` lets through.
fn exact_q999(acts: &[(bool, Vec<f32>)], keep: impl Fn(bool) -> bool) -> (Vec<f32>, usize) {
    let rows: Vec<&Vec<f32>> = acts
        .iter()
        .filter(|(s, _)| keep(*s))
        .map(|(_, r)| r)
        .collect();
    let n = rows.len();
    let rank = ((n as f64 * 0.001).ceil() as usize).max(1);
    let q = (0..rows[0].len())
        .map(|l| {
            let mut v: Vec<f32> = rows.iter().map(|r| r[l]).collect();
            v.sort_by(|a, b| b.total_cmp(a));
            if v[rank - 1] > 0.0 {
                v[rank - 1]
            } else {
                0.0
            }
        })
        .collect();
    (q, n)
}

/// The calibration pass of `evaluate` counts the tokens `collect` counts: chat markers in the
/// general corpus do not enter the 0.999 quantile (they would change it here).
#[test]
fn the_calibration_pass_leaves_special_tokens_out() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("chat.jsonl");
    let mut text = String::new();
    for i in 0..12 {
        let doc = format!(
            "<|im_start|>user\nWhat happened on day {i} of the trip?<|im_end|>\n<|im_start|>assistant\nWe walked to the lake and back.<|im_end|>"
        );
        text.push_str(&serde_json::json!({ "text": doc }).to_string());
        text.push('\n');
    }
    std::fs::write(&corpus, text).unwrap();
    let model =
        Model::load_dir(&fixtures().join("models/qwen2"), &Device::Cpu, DType::F32).unwrap();
    let sae = load_sae(
        &fixtures()
            .join("saes/saelens_topk")
            .display()
            .to_string()
            .parse()
            .unwrap(),
        &Device::Cpu,
    )
    .unwrap();
    let spec = safe_sail::corpus::CorpusSpec {
        files: vec![corpus.clone()],
        text_field: "text".into(),
        messages_field: None,
    };
    let (rows, cals) = safe_sail::eval::fidelity::evaluate(
        &model,
        std::slice::from_ref(&sae),
        &spec,
        24,
        1,
        1_000_000,
        None,
        &mut |_, _| {},
    )
    .unwrap();
    let acts = corpus_activations(&model, &sae, &corpus, 24);
    let specials = acts.iter().filter(|(s, _)| *s).count();
    assert!(specials >= 48, "the corpus holds chat markers ({specials})");
    assert_eq!(
        rows[0].tokens,
        acts.len() as u64,
        "fidelity counts every token"
    );
    let (want, n) = exact_q999(&acts, |special| !special);
    let (with_specials, _) = exact_q999(&acts, |_| true);
    assert_eq!(
        cals[0].tokens(),
        n as u64,
        "the pass is over the non-special tokens"
    );
    let got = cals[0].q999();
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * a.abs().max(1.0);
    for l in 0..want.len() {
        assert!(
            close(got[l], want[l]),
            "latent {l}: {} vs {}",
            got[l],
            want[l]
        );
    }
    // The test can tell: counting the markers would change some latents' quantiles.
    let differ = (0..want.len())
        .filter(|&l| !close(want[l], with_specials[l]))
        .count();
    assert!(differ > 0, "the markers change no quantile here");
    println!(
        "{differ} of {} latents' q999 would change with the markers counted",
        want.len()
    );
}

/// Per concept (in file order): the latents whose mean Δ over the concept's pairs exceeds
/// `t`, from each prompt's and de-concept's per-latent maxima and the latents' scales.
fn distinguishing(
    pairs: &[safe_sail::sample::corpus::ConceptPair],
    c: &[Vec<f32>],
    d: &[Vec<f32>],
    scale: &[f32],
    t: f64,
) -> Vec<(String, Vec<u64>)> {
    let mut keys: Vec<String> = vec![];
    for p in pairs {
        if !keys.contains(&p.concept) {
            keys.push(p.concept.clone());
        }
    }
    keys.into_iter()
        .map(|k| {
            let idx: Vec<usize> = (0..pairs.len())
                .filter(|&i| pairs[i].concept == k)
                .collect();
            let latents = (0..scale.len())
                .filter(|&l| scale[l] > 0.0)
                .filter(|&l| {
                    let mean = idx
                        .iter()
                        .map(|&i| ((c[i][l] - d[i][l]) / scale[l]) as f64)
                        .sum::<f64>()
                        / idx.len() as f64;
                    mean > t
                })
                .map(|l| l as u64)
                .collect();
            (k, latents)
        })
        .collect()
}

/// `evaluate --chat-pairs`, with and without `--mask-special-attention`, end to end on the
/// fixtures: each concept's latents are those of a direct computation over the pairs rendered
/// in the chat template (template words counted, markers not), with the markers hidden from
/// attention or not; and the mask changes the result.
#[test]
fn chat_pairs_with_and_without_masked_markers() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = safe_sail::sample::corpus::generate(&safe_sail::sample::corpus::CorpusConfig {
        docs: 30,
        seed: 5,
        ..Default::default()
    });
    let corpus = tmp.path().join("c.jsonl");
    safe_sail::sample::corpus::write_jsonl(&docs, &corpus).unwrap();
    let pairs = safe_sail::sample::corpus::concept_pairs(5, 3);
    let pairs_file = tmp.path().join("pairs.jsonl");
    safe_sail::sample::corpus::write_jsonl(&pairs, &pairs_file).unwrap();
    let chat = evaluate_pairs(tmp.path(), &corpus, &pairs_file, &["--chat-pairs"]);
    let masked = evaluate_pairs(
        tmp.path(),
        &corpus,
        &pairs_file,
        &["--chat-pairs", "--mask-special-attention"],
    );
    assert_eq!(chat["chat_pairs"], true);
    assert_eq!(chat["mask_special_attention"], false);
    assert_eq!(masked["mask_special_attention"], true);

    let mut model =
        Model::load_dir(&fixtures().join("models/qwen2"), &Device::Cpu, DType::F32).unwrap();
    let sae = load_sae(
        &fixtures()
            .join("saes/saelens_topk")
            .display()
            .to_string()
            .parse()
            .unwrap(),
        &Device::Cpu,
    )
    .unwrap();
    // The general corpus has no markers: one scale serves both runs.
    let acts = corpus_activations(&model, &sae, &corpus, 24);
    assert!(acts.iter().all(|(s, _)| !s));
    let (q, _) = exact_q999(&acts, |_| true);
    let scale: Vec<f32> = (0..q.len())
        .map(|l| {
            if q[l] > 0.0 {
                q[l]
            } else {
                acts.iter().map(|(_, r)| r[l]).fold(0f32, f32::max)
            }
        })
        .collect();
    let mut reference = |mask: bool| {
        model.mask_special_attention = mask;
        let maxima = |text: &str| -> Vec<f32> {
            let toks = model
                .tokenize_prompt(&safe_sail::model::PromptSpec {
                    text: text.into(),
                    chat: true,
                    ..Default::default()
                })
                .unwrap();
            assert!(
                toks.iter().any(|t| t.text == "<|im_start|>"),
                "rendered as chat"
            );
            // The template's words (role names, newlines) are counted like the prompt's.
            let plain = model.tok.encode(text, true).unwrap();
            let words = |v: &[safe_sail::model::tokenizer::TokenInfo]| {
                v.iter().filter(|t| !t.special).count()
            };
            assert!(words(&toks) > words(&plain));
            let ids: Vec<u32> = toks.iter().map(|t| t.id).collect();
            let mut cap = Capture::new([sae.hook()]);
            model.run(&ids, &mut cap, ForwardOpts::default()).unwrap();
            let f = sae
                .encode(&cap.acts[&sae.hook()].squeeze(0).unwrap())
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            (0..sae.d_sae())
                .map(|l| {
                    f.iter()
                        .zip(&toks)
                        .filter(|(_, t)| !t.special)
                        .map(|(r, _)| r[l])
                        .fold(0f32, f32::max)
                })
                .collect()
        };
        let c: Vec<Vec<f32>> = pairs.iter().map(|p| maxima(&p.prompt)).collect();
        let d: Vec<Vec<f32>> = pairs.iter().map(|p| maxima(&p.deconcept)).collect();
        distinguishing(&pairs, &c, &d, &scale, 0.3)
    };
    let (want_chat, want_masked) = (reference(false), reference(true));
    let got = |v: &serde_json::Value| -> Vec<(String, Vec<u64>)> {
        v["rows"][0]["concepts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let l: Vec<u64> = c["latents"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap())
                    .collect();
                assert_eq!(c["l0t"].as_u64().unwrap(), l.len() as u64);
                (c["concept"].as_str().unwrap().to_string(), l)
            })
            .collect()
    };
    assert_eq!(got(&chat), want_chat, "chat-wrapped pairs");
    assert_eq!(
        got(&masked),
        want_masked,
        "chat-wrapped pairs, markers masked"
    );
    assert_ne!(
        want_chat, want_masked,
        "hiding the markers changes which latents separate"
    );
    let total = |v: &[(String, Vec<u64>)]| v.iter().map(|x| x.1.len()).sum::<usize>();
    println!(
        "L0,t over all concepts: chat {} · chat with markers masked {}",
        total(&want_chat),
        total(&want_masked)
    );
}

/// `merge-evaluations`: runs over single candidates (one Slurm task each) merge into the files
/// one run over all of them writes, byte for byte; runs with other settings are refused.
#[test]
fn evaluations_of_single_candidates_merge_into_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = safe_sail::sample::corpus::generate(&safe_sail::sample::corpus::CorpusConfig {
        docs: 8,
        seed: 7,
        ..Default::default()
    });
    let corpus = tmp.path().join("c.jsonl");
    safe_sail::sample::corpus::write_jsonl(&docs, &corpus).unwrap();
    let pairs = tmp.path().join("pairs.jsonl");
    safe_sail::sample::corpus::write_jsonl(&safe_sail::sample::corpus::concept_pairs(2, 3), &pairs)
        .unwrap();
    let s = |p: &std::path::Path| p.display().to_string();
    let saes = [
        fixtures().join("saes/saelens_topk"),
        fixtures().join("saes/saelens_jumprelu"),
    ];
    let run = |saes: &[std::path::PathBuf], out: &str, threshold: &str| {
        let mut c = bin();
        c.args(["evaluate", "--model", &s(&fixtures().join("models/qwen2"))]);
        for sae in saes {
            c.args(["--sae", &s(sae)]);
        }
        let o = c
            .args([
                "--corpus",
                &s(&corpus),
                "--context",
                "24",
                "--tokens",
                "600",
            ])
            .args(["--concept-pairs", &s(&pairs), "--threshold", threshold])
            .args(["--out", &s(&tmp.path().join(out))])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&saes, "whole", "0.3");
    run(&saes[..1], "a", "0.3");
    run(&saes[1..], "b", "0.3");
    let merge = |ins: &[&str]| {
        let mut c = bin();
        c.arg("merge-evaluations");
        for i in ins {
            c.arg(s(&tmp.path().join(i)));
        }
        c.args(["--out", &s(&tmp.path().join("merged"))])
            .output()
            .unwrap()
    };
    let o = merge(&["a", "b"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["evaluation.json", "evaluation.parquet"] {
        assert_eq!(
            std::fs::read(tmp.path().join("whole").join(f)).unwrap(),
            std::fs::read(tmp.path().join("merged").join(f)).unwrap(),
            "{f} of the merged runs differs from one run's"
        );
    }
    let o = merge(&["a", "a"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("earlier evaluation"),
        "{err}"
    );
    run(&saes[1..], "other", "0.6");
    let o = merge(&["a", "other"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("threshold"), "{err}");
}

/// `evaluate --resume`: a run killed after a checkpoint and resumed writes exactly the files of
/// an uninterrupted run; a resume with other arguments is refused.
#[test]
fn a_killed_evaluation_resumes_to_the_same_result() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = safe_sail::sample::corpus::generate(&safe_sail::sample::corpus::CorpusConfig {
        docs: 120,
        seed: 9,
        ..Default::default()
    });
    let corpus = tmp.path().join("c.jsonl");
    safe_sail::sample::corpus::write_jsonl(&docs, &corpus).unwrap();
    let s = |p: &std::path::Path| p.display().to_string();
    let args = |out: &std::path::Path, tokens: &str| -> Vec<String> {
        [
            "evaluate",
            "--model",
            &s(&fixtures().join("models/qwen2")),
            "--sae",
            &s(&fixtures().join("saes/saelens_topk")),
            "--corpus",
            &s(&corpus),
            "--context",
            "16",
            "--batch",
            "1",
            "--tokens",
            tokens,
            "--checkpoint-every",
            "5",
            "--out",
            &s(out),
        ]
        .map(String::from)
        .to_vec()
    };
    let (full, cut) = (tmp.path().join("full"), tmp.path().join("cut"));
    let o = bin().args(args(&full, "4000")).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        !full.join(".evaluate-checkpoint.bin").exists(),
        "removed once written"
    );
    let mut child = bin()
        .args(args(&cut, "4000"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ckpt = cut.join(".evaluate-checkpoint.bin");
    let start = std::time::Instant::now();
    while !ckpt.exists() && start.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let finished_early = child.try_wait().unwrap().is_some();
    child.kill().ok();
    child.wait().unwrap();
    assert!(
        !finished_early,
        "the child must be killed mid-run (make the corpus larger)"
    );
    assert!(!cut.join("evaluation.json").exists());
    // Other arguments: refused, the checkpoint kept.
    let mut other = args(&cut, "3000");
    other.push("--resume".into());
    let o = bin().args(&other).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("other arguments"),
        "{err}"
    );
    let mut resume = args(&cut, "4000");
    resume.push("--resume".into());
    let o = bin().args(&resume).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["evaluation.json", "evaluation.parquet"] {
        assert_eq!(
            std::fs::read(full.join(f)).unwrap(),
            std::fs::read(cut.join(f)).unwrap(),
            "{f} after a resume differs from an uninterrupted run's"
        );
    }
}
