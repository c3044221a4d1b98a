//! `safe-sail train-sae`: a sweep over hooks × widths × architectures on the tiny model, written
//! in SAELens format that our own loader (and the reference tests' SAELens layout) reads back;
//! and a run interrupted after a checkpoint that, resumed, ends with the same bytes.

mod common;

use candle_core::Device;
use common::*;

fn corpus(dir: &std::path::Path, docs: usize) -> std::path::PathBuf {
    let docs = safe_sail::sample::corpus::generate(&safe_sail::sample::corpus::CorpusConfig {
        docs,
        seed: 2,
        ..Default::default()
    });
    let corpus = dir.join("c.jsonl");
    safe_sail::sample::corpus::write_jsonl(&docs, &corpus).unwrap();
    corpus
}

#[test]
fn sweep_writes_saelens_saes_that_load_and_reconstruct() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = corpus(tmp.path(), 60);
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
            "--activation",
            "topk,relu,jumprelu",
            "--k",
            "4,8",
            "--l1",
            "0.05",
            "--l0-coeff",
            "0.01",
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
    assert_eq!(
        dirs.len(),
        2 * 2 * (2 + 1 + 1),
        "every hook × width × (2 k + 1 L1 + 1 L0 coefficient): {dirs:?}"
    );
    for d in &dirs {
        let name = d.file_name().unwrap().to_str().unwrap();
        let sae = safe_sail::sae::load_sae(&d.display().to_string().parse().unwrap(), &Device::Cpu)
            .unwrap();
        let info: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("training.json")).unwrap())
                .unwrap();
        let cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("cfg.json")).unwrap()).unwrap();
        use safe_sail::sae::Activation;
        match (info["architecture"].as_str().unwrap(), sae.activation) {
            ("topk", Activation::TopK(k @ (4 | 8))) => {
                assert!(name.ends_with(&format!("-topk{k}")), "{name}");
                assert_eq!(cfg["architecture"], "topk");
                assert_eq!(cfg["k"], k);
            }
            ("relu", Activation::Relu) => {
                assert!(name.ends_with("-relu-l1_0.05"), "{name}");
                assert_eq!(cfg["architecture"], "standard");
            }
            ("jumprelu", Activation::JumpRelu { relu: true }) => {
                assert!(name.ends_with("-jumprelu-l0_0.01"), "{name}");
                assert_eq!(cfg["architecture"], "jumprelu");
                let th = sae.threshold.as_ref().unwrap().to_vec1::<f32>().unwrap();
                assert_eq!(th.len(), sae.d_sae());
                assert!(th.iter().all(|&t| t > 0.0));
            }
            (a, act) => panic!("{name}: architecture {a} loaded as {act:?}"),
        }
        for key in ["d_in", "d_sae", "dtype", "device", "apply_b_dec_to_input"] {
            assert!(cfg.get(key).is_some(), "{name}: cfg.json lacks {key}");
        }
        assert_eq!(cfg["metadata"]["hook_name"], sae.hook().to_string());
        // The metric series, one value per logged step, of the right ranges.
        let series = |k: &str| -> Vec<f64> {
            info["metrics"][k]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: no {k} series"))
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        let steps = series("step");
        assert!(steps.len() >= 7, "{name}: {} logged steps", steps.len());
        for k in [
            "l0",
            "dead_fraction",
            "explained_variance",
            "tokens_seen",
            "wall_seconds",
        ] {
            assert_eq!(series(k).len(), steps.len(), "{name}: {k}");
        }
        assert!(series("l0")
            .iter()
            .all(|&l| l > 0.0 && l <= sae.d_sae() as f64));
        assert!(series("dead_fraction")
            .iter()
            .all(|&f| (0.0..=1.0).contains(&f)));
        let ev = series("explained_variance");
        assert!(
            *ev.last().unwrap() > 0.2,
            "{name}: explained variance {ev:?}"
        );
        assert_eq!(info["tokens_seen"], info["steps"].as_u64().unwrap() * 256);
        assert!(info["config"]["d_sae"].as_u64().is_some());
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

/// Runs train-sae on the tiny model with the given extra arguments; panics on failure.
fn train(corpus: &std::path::Path, out: &std::path::Path, extra: &[&str]) -> String {
    let o = train_output(corpus, out, extra);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The `train-sae` run of [`train`], whatever its outcome.
fn train_output(
    corpus: &std::path::Path,
    out: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    bin()
        .args([
            "train-sae",
            "--model",
            &fixtures().join("models/qwen2").display().to_string(),
            "--corpus",
            &corpus.display().to_string(),
            "--hook",
            "blocks.1.hook_mlp_out,blocks.2.hook_mlp_out",
            "--widths",
            "64",
            "--activation",
            "topk,relu,jumprelu",
            "--k",
            "4",
            "--tokens",
            "6000",
            "--batch-tokens",
            "100",
            "--dead-tokens",
            "300",
            "--lr",
            "0.003",
            "--seed",
            "7",
            "--out",
            &out.display().to_string(),
        ])
        .args(extra)
        .output()
        .unwrap()
}

/// An interrupted run resumed from its checkpoint ends with exactly the weights of an
/// uninterrupted one: the Adam state, dead counters and the position in the activation stream
/// (including tokens buffered between steps) all travel in the checkpoint.
#[test]
fn resumed_run_matches_uninterrupted_run_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = corpus(tmp.path(), 40);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    train(&corpus, &a, &["--checkpoint-every", "7"]);
    // Interrupted after step 23 (not a multiple of the forward batch, so tokens are buffered).
    let said = train(
        &corpus,
        &b,
        &["--checkpoint-every", "7", "--stop-after-steps", "23"],
    );
    assert!(said.contains("stopped after 23 steps"), "{said}");
    assert!(b.join("checkpoint/checkpoint.safetensors").exists());
    assert!(
        !b.join("L1-mlp_out-w64-topk4").exists(),
        "an interrupted run writes no SAE"
    );
    // Without --resume an existing checkpoint is not silently overwritten …
    let o = bin()
        .args(["train-sae", "--model"])
        .arg(fixtures().join("models/qwen2"))
        .args([
            "--corpus",
            &corpus.display().to_string(),
            "--hook",
            "blocks.1.hook_mlp_out",
        ])
        .args(["--out", &b.display().to_string()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--resume"));
    // … and a resume with other arguments is refused, naming them.
    let o = bin()
        .args(["train-sae", "--model"])
        .arg(fixtures().join("models/qwen2"))
        .args([
            "--corpus",
            &corpus.display().to_string(),
            "--hook",
            "blocks.1.hook_mlp_out,blocks.2.hook_mlp_out",
            "--widths",
            "64",
            "--activation",
            "topk,relu,jumprelu",
            "--k",
            "4",
            "--tokens",
            "6000",
            "--batch-tokens",
            "100",
            "--dead-tokens",
            "300",
            "--lr",
            "0.001",
            "--seed",
            "7",
            "--resume",
        ])
        .args(["--out", &b.display().to_string()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("other arguments") && err.contains("lr"),
        "{err}"
    );
    // The TopK kernel is one of those arguments (the run used the default, sparse).
    let o = train_output(
        &corpus,
        &b,
        &[
            "--checkpoint-every",
            "7",
            "--resume",
            "--topk-kernel",
            "dense",
        ],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("topk_kernel"), "{err}");
    train(&corpus, &b, &["--checkpoint-every", "7", "--resume"]);
    let mut names: Vec<String> = std::fs::read_dir(&a)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        2 * 3,
        "{names:?}: the checkpoint is gone once the run ends"
    );
    for n in &names {
        let read = |root: &std::path::Path| {
            std::fs::read(root.join(n).join("sae_weights.safetensors")).unwrap()
        };
        assert!(
            read(&a) == read(&b),
            "{n}: resumed weights differ from the uninterrupted run"
        );
        let info = |root: &std::path::Path| read_json(&root.join(n).join("training.json"));
        let (ia, ib) = (info(&a), info(&b));
        assert_eq!(ia["loss_curve"], ib["loss_curve"], "{n}");
        assert_eq!(ia["metrics"]["l0"], ib["metrics"]["l0"], "{n}");
        assert_eq!(ia["steps"], ib["steps"]);
        assert!(
            ia["steps"].as_u64().unwrap() > 40,
            "the run goes well past the interruption"
        );
    }
}
