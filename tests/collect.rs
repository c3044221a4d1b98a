//! Feature stores: `safe-sail collect` against a brute-force recomputation on a small corpus,
//! the store files read by polars, and bad input.

mod common;

use candle_core::{DType, Device};
use common::*;
use safe_sail::capture::Capture;
use safe_sail::model::{ForwardOpts, Model};
use safe_sail::sae::load_sae;
use safe_sail::store::Store;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn corpus(dir: &Path, docs: usize) -> PathBuf {
    let d = safe_sail::sample::corpus::generate(&safe_sail::sample::corpus::CorpusConfig {
        docs,
        seed: 7,
        ..Default::default()
    });
    let p = dir.join("corpus.jsonl");
    safe_sail::sample::corpus::write_jsonl(&d, &p).unwrap();
    p
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn run(args: &[&str]) -> std::process::Output {
    bin().args(args).output().unwrap()
}

#[test]
fn collect_matches_a_brute_force_recomputation() {
    let tmp = tempfile::tempdir().unwrap();
    let c = corpus(tmp.path(), 12);
    let out = tmp.path().join("store");
    let model_dir = fixtures().join("models/qwen2");
    let sae_dir = fixtures().join("saes/saelens_topk");
    let o = run(&[
        "collect",
        "--model",
        &s(&model_dir),
        "--sae",
        &s(&sae_dir),
        "--corpus",
        &s(&c),
        "--context",
        "16",
        "--top-k",
        "4",
        "--quantile-bins",
        "3",
        "--per-bin",
        "2",
        "--batch",
        "5",
        "--out",
        &s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let store = Store::open(&out).unwrap();

    // Brute force: every context alone through the model and the SAE.
    let model = Model::load_dir(&model_dir, &Device::Cpu, DType::F32).unwrap();
    let sae = load_sae(&s(&sae_dir).parse().unwrap(), &Device::Cpu).unwrap();
    let mut counts = vec![0u64; sae.d_sae()];
    let mut maxes = vec![0f32; sae.d_sae()];
    let mut ctx_max: Vec<Vec<(f32, u64, u32)>> = vec![vec![]; sae.d_sae()];
    let mut ctx_acts: HashMap<(u64, u32), Vec<Vec<f32>>> = HashMap::new();
    let mut tokens = 0u64;
    for line in std::fs::read_to_string(&c).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let doc = v["id"].as_u64().unwrap();
        let toks = model.tok.encode(v["text"].as_str().unwrap(), true).unwrap();
        for (k, chunk) in toks.chunks(16).enumerate() {
            let ids: Vec<u32> = chunk.iter().map(|t| t.id).collect();
            let mut cap = Capture::new([sae.hook()]);
            model
                .run(
                    &ids,
                    &mut cap,
                    ForwardOpts {
                        stop_after_layer: Some(1),
                    },
                )
                .unwrap();
            let acts = sae
                .encode(&cap.acts[&sae.hook()].squeeze(0).unwrap())
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            let mut m = vec![0f32; sae.d_sae()];
            for (pos, row) in acts.iter().enumerate() {
                if chunk[pos].special {
                    continue;
                }
                tokens += 1;
                for (l, &a) in row.iter().enumerate() {
                    if a > 0.0 {
                        counts[l] += 1;
                        maxes[l] = maxes[l].max(a);
                        m[l] = m[l].max(a);
                    }
                }
            }
            for l in 0..sae.d_sae() {
                if m[l] > 0.0 {
                    ctx_max[l].push((m[l], doc, (k * 16) as u32));
                }
            }
            ctx_acts.insert((doc, (k * 16) as u32), acts);
        }
    }
    assert_eq!(store.meta.tokens, tokens);
    let mut checked = 0;
    for l in 0..sae.d_sae() as u32 {
        let f = store.feature(l).unwrap();
        assert_eq!(f.count, counts[l as usize], "latent {l} count");
        assert!(
            (f.max_act - maxes[l as usize]).abs() <= 1e-4 * maxes[l as usize].max(1.0),
            "latent {l} max"
        );
        assert_eq!(f.hist_counts.iter().sum::<u64>(), f.count);
        let mut want = ctx_max[l as usize].clone();
        want.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        let top: Vec<_> = store
            .examples(l)
            .iter()
            .filter(|e| e.kind == "top")
            .collect();
        assert_eq!(top.len(), want.len().min(4), "latent {l}: top examples");
        for (e, w) in top.iter().zip(&want) {
            assert_eq!(
                (e.doc, e.offset),
                (w.1, w.2),
                "latent {l}: top example order"
            );
            let acts = &ctx_acts[&(e.doc, e.offset)];
            for (pos, a) in e.acts.iter().enumerate() {
                assert!(
                    (a - acts[pos][l as usize]).abs() <= 1e-4 * w.0.max(1.0),
                    "latent {l}: stored activations"
                );
            }
            assert_eq!(e.tokens.len(), e.token_ids.len());
            checked += 1;
        }
        // Quantile examples sit in their bins.
        for e in store.examples(l).iter().filter(|e| e.kind == "quantile") {
            let lo = f.max_act * e.bin as f32 / 3.0;
            let hi = f.max_act * (e.bin + 1) as f32 / 3.0;
            assert!(
                e.max_act > lo - 1e-5 && e.max_act <= hi + 1e-5,
                "latent {l}: quantile bin"
            );
        }
        // q999 is an activation that exists (the k-th largest).
        assert!(f.q999 <= f.max_act + 1e-6);
    }
    assert!(checked > 100, "enough examples compared ({checked})");
    assert!(store
        .features
        .iter()
        .any(|f| !f.top_logit_tokens.is_empty()));
}

#[test]
fn store_files_are_plain_parquet() {
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    let c = corpus(tmp.path(), 4);
    let out = tmp.path().join("store");
    let o = run(&[
        "collect",
        "--model",
        &s(&fixtures().join("models/gpt2")),
        "--sae",
        &format!(
            "{},hook=blocks.1.hook_mlp_out",
            s(&fixtures().join("saes/gemmascope/layer_1/width_256/average_l0_20/params.npz"))
        ),
        "--corpus",
        &s(&c),
        "--context",
        "32",
        "--out",
        &s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let df = ParquetReader::new(std::fs::File::open(out.join("features.parquet")).unwrap())
        .finish()
        .unwrap();
    for col in [
        "latent",
        "count",
        "density",
        "mean_act",
        "max_act",
        "q999",
        "q9999",
        "hist_edges",
        "hist_counts",
        "top_logit_tokens",
        "top_logit_values",
        "bottom_logit_tokens",
        "bottom_logit_values",
    ] {
        assert!(df.column(col).is_ok(), "features.parquet has {col}");
    }
    assert_eq!(df.height(), 256);
    let ex = ParquetReader::new(std::fs::File::open(out.join("examples.parquet")).unwrap())
        .finish()
        .unwrap();
    for col in [
        "latent",
        "kind",
        "bin",
        "rank",
        "doc",
        "offset",
        "token_ids",
        "tokens",
        "acts",
        "max_act",
    ] {
        assert!(ex.column(col).is_ok(), "examples.parquet has {col}");
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("store.json")).unwrap()).unwrap();
    assert_eq!(meta["hook"], "blocks.1.hook_mlp_out");
    assert!(meta["definitions"]["q999"]
        .as_str()
        .unwrap()
        .contains("largest"));
}

#[test]
fn bad_input_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let model = s(&fixtures().join("models/qwen2"));
    let sae = s(&fixtures().join("saes/saelens_topk"));
    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let out = s(&tmp.path().join("o"));
    let err = |o: std::process::Output| {
        assert!(!o.status.success());
        let e = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!e.contains("panicked"), "{e}");
        e
    };
    let e = err(run(&[
        "collect",
        "--model",
        &model,
        "--sae",
        &sae,
        "--corpus",
        &s(&empty),
        "--out",
        &out,
    ]));
    assert!(e.contains("no usable document"), "{e}");
    let wrong = tmp.path().join("wrong.jsonl");
    std::fs::write(&wrong, "{\"body\": \"x\"}\n").unwrap();
    let e = err(run(&[
        "collect",
        "--model",
        &model,
        "--sae",
        &sae,
        "--corpus",
        &s(&wrong),
        "--out",
        &out,
    ]));
    assert!(e.contains("no field `text`"), "{e}");
    let c = corpus(tmp.path(), 3);
    let e = err(run(&[
        "collect",
        "--model",
        &model,
        "--sae",
        &sae,
        "--corpus",
        &s(&c),
        "--context",
        "100000",
        "--out",
        &out,
    ]));
    assert!(e.contains("maximum of 256"), "{e}");
    let e = err(run(&[
        "collect",
        "--model",
        &model,
        "--sae",
        &format!("{sae},hook=blocks.7.hook_mlp_out"),
        "--corpus",
        &s(&c),
        "--out",
        &out,
    ]));
    assert!(e.contains("out of range"), "{e}");
    let e = err(run(&[
        "collect",
        "--model",
        &model,
        "--sae",
        &sae,
        "--corpus",
        "/nope.jsonl",
        "--out",
        &out,
    ]));
    assert!(e.contains("does not exist"), "{e}");
    // A folder holding another SAE's store is not overwritten without --force.
    let ok = run(&[
        "collect",
        "--model",
        &model,
        "--sae",
        &sae,
        "--corpus",
        &s(&c),
        "--context",
        "16",
        "--out",
        &out,
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let other = s(&fixtures().join("saes/saelens_jumprelu"));
    let e = err(run(&[
        "collect",
        "--model",
        &model,
        "--sae",
        &other,
        "--corpus",
        &s(&c),
        "--context",
        "16",
        "--out",
        &out,
    ]));
    assert!(e.contains("--force"), "{e}");
    let forced = run(&[
        "collect",
        "--model",
        &model,
        "--sae",
        &other,
        "--corpus",
        &s(&c),
        "--context",
        "16",
        "--force",
        "--out",
        &out,
    ]);
    assert!(forced.status.success());
}
