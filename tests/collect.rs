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
                        ..Default::default()
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
        let all = store.examples(l);
        let top: Vec<_> = all.iter().filter(|e| e.kind == "top").collect();
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

fn stores_equal(a: &Store, b: &Store, exact: bool) {
    assert_eq!(a.meta.tokens, b.meta.tokens);
    assert_eq!(a.meta.documents, b.meta.documents);
    assert_eq!(a.meta.contexts, b.meta.contexts);
    assert_eq!(a.features.len(), b.features.len());
    for (x, y) in a.features.iter().zip(&b.features) {
        if exact {
            assert_eq!(x, y, "latent {}", x.latent);
        } else {
            assert_eq!(
                (x.latent, x.count, &x.hist_counts),
                (y.latent, y.count, &y.hist_counts),
                "latent {}",
                x.latent
            );
            assert!((x.mean_act - y.mean_act).abs() <= 1e-5 * x.mean_act.abs().max(1.0));
            assert!((x.max_act - y.max_act).abs() <= 1e-4 * x.max_act.abs().max(1.0));
            assert!((x.q999 - y.q999).abs() <= 1e-4 * x.q999.abs().max(1.0));
        }
        let (ex, ey) = (a.examples(x.latent), b.examples(x.latent));
        assert_eq!(ex.len(), ey.len(), "latent {}: examples", x.latent);
        for (p, q) in ex.iter().zip(ey.iter()) {
            if exact {
                assert_eq!(p, q);
            } else {
                assert_eq!(
                    (&p.kind, p.bin, p.rank, p.doc, p.offset, &p.token_ids),
                    (&q.kind, q.bin, q.rank, q.doc, q.offset, &q.token_ids)
                );
            }
        }
    }
}

/// A child `collect` is killed with SIGKILL after its first checkpoint; `--resume` finishes
/// the run and the store equals that of an uninterrupted run.
#[test]
fn resume_after_kill_gives_the_same_store() {
    let tmp = tempfile::tempdir().unwrap();
    let c = corpus(tmp.path(), 240);
    let model = s(&fixtures().join("models/qwen2"));
    let sae = s(&fixtures().join("saes/saelens_topk"));
    let args = |out: &Path| -> Vec<String> {
        [
            "collect",
            "--model",
            &model,
            "--sae",
            &sae,
            "--corpus",
            &s(&c),
            "--context",
            "16",
            "--top-k",
            "3",
            "--quantile-bins",
            "2",
            "--per-bin",
            "2",
            "--batch",
            "4",
            "--checkpoint-every",
            "8",
            "--out",
            &s(out),
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };
    let full = tmp.path().join("full");
    let o = bin().args(args(&full)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cut = tmp.path().join("cut");
    let mut child = bin()
        .args(args(&cut))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ckpt = cut.join(".collect-checkpoint.bin");
    let start = std::time::Instant::now();
    while !ckpt.exists() && start.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(150));
    let finished_early = child.try_wait().unwrap().is_some();
    child.kill().ok();
    child.wait().unwrap();
    assert!(
        !finished_early,
        "the child must be killed mid-run (make the corpus larger)"
    );
    assert!(
        !cut.join("store.json").exists(),
        "killed before writing the store"
    );
    let mut resume_args = args(&cut);
    resume_args.push("--resume".into());
    let o = bin().args(&resume_args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    stores_equal(
        &Store::open(&full).unwrap(),
        &Store::open(&cut).unwrap(),
        true,
    );
    assert!(
        !ckpt.exists(),
        "the checkpoint is removed once the store is written"
    );
    // A resume with other arguments is refused.
    std::fs::copy(
        full.join("collect-state.bin"),
        cut.join(".collect-checkpoint.bin"),
    )
    .unwrap();
    let mut other = args(&cut);
    let at = other.iter().position(|a| a == "16").unwrap();
    other[at] = "32".into();
    other.push("--resume".into());
    let o = bin().args(&other).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("other arguments"));
}

/// Two shards merged give the store of one run over the whole corpus.
#[test]
fn merged_shards_equal_a_single_run() {
    let tmp = tempfile::tempdir().unwrap();
    let c = corpus(tmp.path(), 30);
    let model = s(&fixtures().join("models/qwen2"));
    let sae = s(&fixtures().join("saes/saelens_topk"));
    let run = |out: &Path, shard: Option<&str>| {
        let mut a: Vec<String> = [
            "collect",
            "--model",
            &model,
            "--sae",
            &sae,
            "--corpus",
            &s(&c),
            "--context",
            "16",
            "--top-k",
            "3",
            "--quantile-bins",
            "2",
            "--per-bin",
            "2",
            "--batch",
            "1",
            "--out",
            &s(out),
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        if let Some(sh) = shard {
            a.push("--shard".into());
            a.push(sh.into());
        }
        let o = bin().args(&a).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (whole, a, b, merged) = (
        tmp.path().join("whole"),
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("merged"),
    );
    run(&whole, None);
    run(&a, Some("0/2"));
    run(&b, Some("1/2"));
    let sa = Store::open(&a).unwrap();
    assert!(sa.meta.documents < 30 && sa.meta.shard.as_deref() == Some("0/2"));
    let o = bin()
        .args(["merge-stores", &s(&a), &s(&b), "--out", &s(&merged)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Batch 1: every context runs alone in every run, so even the floats agree.
    stores_equal(
        &Store::open(&whole).unwrap(),
        &Store::open(&merged).unwrap(),
        false,
    );
    let o = bin()
        .args(["merge-stores", &s(&a), &s(&a), "--out", &s(&merged)])
        .output()
        .unwrap();
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("different --shard")
    );
    // Two of three shards (a Slurm task that never finished): refused, naming the missing one.
    let (c, d) = (tmp.path().join("c"), tmp.path().join("d"));
    run(&c, Some("0/3"));
    run(&d, Some("2/3"));
    let o = bin()
        .args(["merge-stores", &s(&c), &s(&d), "--out", &s(&merged)])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("shard 1/3 of the run is missing"),
        "{err}"
    );
    let o = bin()
        .args(["merge-stores", &s(&a), &s(&d), "--out", &s(&merged)])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("different shard counts"),
        "{err}"
    );
}

#[test]
fn stores_of_several_saes_are_named_after_them_and_not_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let c = corpus(tmp.path(), 4);
    // Given relative to the working directory, as people type them.
    let model = "tests/fixtures/models/qwen2";
    let topk = "tests/fixtures/saes/saelens_topk";
    let jump = "tests/fixtures/saes/saelens_jumprelu";
    let out = tmp.path().join("stores");
    let collect = |saes: &[&str], extra: &[&str]| {
        let mut cmd = bin();
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
        cmd.args(["collect", "--model", model, "--corpus", &s(&c)]);
        for sae in saes {
            cmd.args(["--sae", sae]);
        }
        cmd.args(["--context", "16", "--top-k", "2", "--out", &s(&out)])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = collect(&[topk, jump], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for name in ["saelens_topk", "saelens_jumprelu"] {
        let store = safe_sail::store::Store::open(&out.join(name)).unwrap();
        // Paths recorded relative to the store: they hold wherever the tree is opened from.
        assert!(store.meta.model.starts_with("../"), "{}", store.meta.model);
        assert!(
            Path::new(&store.model_path()).join("config.json").exists(),
            "{}",
            store.model_path()
        );
    }
    // One SAE into the same folder: refused, the stores stay.
    let o = collect(&[topk], &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--force"), "{err}");
    assert!(out.join("saelens_topk/store.json").exists());
    assert!(!out.join("store.json").exists());
    // With --force it is the user's call.
    let o = collect(&[topk], &["--force"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("store.json").exists());
}

/// `bench-collect` measures forward + encode alone and the whole collection on the same
/// contexts, each `--repeat` times, and names its input: every run is reported, the overhead is
/// computed from the fastest of each side, and the bookkeeping timed inside collect is part of
/// the collection's time.
#[test]
fn bench_collect_reports_both_sides_and_its_corpus() {
    let tmp = tempfile::tempdir().unwrap();
    let c = corpus(tmp.path(), 12);
    let o = run(&[
        "bench-collect",
        "--model",
        &s(&fixtures().join("models/qwen2")),
        "--sae",
        &s(&fixtures().join("saes/saelens_topk")),
        "--corpus",
        &s(&c),
        "--context",
        "16",
        "--batch",
        "2",
        "--max-tokens",
        "200",
        "--repeat",
        "3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    let bare = runs.iter().map(|r| f(&r[0])).fold(f64::INFINITY, f64::min);
    let full = runs.iter().map(|r| f(&r[1])).fold(f64::INFINITY, f64::min);
    assert_eq!(f(&r["forward_encode_s"]), bare);
    assert_eq!(f(&r["collect_s"]), full);
    assert!((f(&r["overhead"]) - (full / bare - 1.0)).abs() < 1e-12);
    let kept = f(&r["bookkeeping_s"]);
    assert!(
        kept > 0.0 && kept < full,
        "bookkeeping {kept} s of {full} s"
    );
    let tokens = r["tokens"].as_u64().unwrap();
    assert!(
        (200..400).contains(&tokens),
        "stops after the batch reaching 200: {tokens}"
    );
    let file = &r["corpus"][0];
    assert_eq!(
        file["bytes"].as_u64().unwrap(),
        std::fs::metadata(&c).unwrap().len()
    );
    assert_eq!(file["fnv1a64"].as_str().unwrap().len(), 16);
}
