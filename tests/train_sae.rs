//! `safe-sail train-sae`: a sweep over widths × k on the tiny model, written in SAELens format
//! that our own loader (and the reference tests' SAELens layout) reads back.

mod common;

use candle_core::Device;
use common::*;

#[test]
fn sweep_writes_saelens_saes_that_load_and_reconstruct() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = safe_sail::sample::corpus::generate(&safe_sail::sample::corpus::CorpusConfig {
        docs: 60,
        seed: 2,
        ..Default::default()
    });
    let corpus = tmp.path().join("c.jsonl");
    safe_sail::sample::corpus::write_jsonl(&docs, &corpus).unwrap();
    let out = tmp.path().join("saes");
    let o = bin()
        .args([
            "train-sae",
            "--model",
            &fixtures().join("models/qwen2").display().to_string(),
        ])
        .args([
            "--corpus",
            &corpus.display().to_string(),
            "--hook",
            "blocks.1.hook_mlp_out,blocks.2.hook_mlp_out",
        ])
        .args([
            "--widths",
            "64,128",
            "--k",
            "4,8",
            "--tokens",
            "20000",
            "--batch-tokens",
            "256",
            "--lr",
            "0.003",
        ])
        .args(["--out", &out.display().to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dirs: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(dirs.len(), 2 * 2 * 2, "every hook × width × k: {dirs:?}");
    for d in &dirs {
        let sae = safe_sail::sae::load_sae(&d.display().to_string().parse().unwrap(), &Device::Cpu)
            .unwrap();
        assert!(matches!(
            sae.activation,
            safe_sail::sae::Activation::TopK(4 | 8)
        ));
        let info: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("training.json")).unwrap())
                .unwrap();
        let curve: Vec<f64> = info["loss_curve"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(curve.len() > 20);
        let head: f64 = curve[..5].iter().sum::<f64>() / 5.0;
        let tail: f64 = curve[curve.len() - 5..].iter().sum::<f64>() / 5.0;
        assert!(
            tail < head,
            "{}: the loss falls ({head} → {tail})",
            d.display()
        );
        assert_eq!(info["hook"], sae.hook().to_string());
    }
}
