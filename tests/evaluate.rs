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
            "--tokens",
            "2000",
            "--concept-pairs",
            &pairs_file.display().to_string(),
        ])
        .args([
            "--threshold",
            "0.3",
            "--min-frequency",
            "0.5",
            "--labeled-corpus",
            &corpus.display().to_string(),
        ])
        .args(["--out", &out.display().to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("evaluation.json")).unwrap())
            .unwrap();
    let row = &v["rows"][0];

    // The definition, computed here directly.
    let model = Model::load_dir(&model_dir, &Device::Cpu, DType::F32).unwrap();
    let sae = load_sae(
        &sae_dir.display().to_string().parse().unwrap(),
        &Device::Cpu,
    )
    .unwrap();
    let maxima = |text: &str| -> Vec<f32> {
        let toks = model.tok.encode(text, true).unwrap();
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
    let scale: Vec<f32> = (0..sae.d_sae())
        .map(|l| c.iter().chain(&d).map(|m| m[l]).fold(0f32, f32::max))
        .collect();
    for domain in safe_sail::domains::SAFETY_DOMAINS {
        let idx: Vec<usize> = pairs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.domain == domain)
            .map(|(i, _)| i)
            .collect();
        let (mut l0t, mut area) = (0f64, 0f64);
        for l in 0..sae.d_sae() {
            if scale[l] <= 0.0 {
                continue;
            }
            let deltas: Vec<f64> = idx
                .iter()
                .map(|&i| ((c[i][l] - d[i][l]) / scale[l]) as f64)
                .collect();
            if deltas.iter().filter(|x| **x > 0.3).count() as f64 / idx.len() as f64 >= 0.5 {
                l0t += 1.0;
            }
            area += deltas.iter().map(|x| x.clamp(0.0, 1.0)).sum::<f64>() / idx.len() as f64;
        }
        assert_eq!(
            row[format!("l0t_{domain}")].as_f64().unwrap(),
            l0t,
            "{domain}"
        );
        let icdf = row[format!("icdf_{domain}")].as_f64().unwrap();
        assert!(
            (icdf - area / sae.d_sae() as f64).abs() < 1e-6,
            "{domain}: {icdf}"
        );
        let spec = row[format!("specific_{domain}")].as_f64().unwrap();
        assert!((0.0..=256.0).contains(&spec));
        let list = row["specific_latents"][domain].as_array().unwrap();
        assert_eq!(list.len() as f64, spec, "the count is the list's length");
        assert!(list.iter().all(|l| l.as_u64().unwrap() < 256));
    }
    assert!(v["definitions"]["icdf_<domain>"]
        .as_str()
        .unwrap()
        .contains("clamp"));
}
