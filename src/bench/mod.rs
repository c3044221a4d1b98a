//! The engine benchmark: "forward to layer L + SAE encode" on a Qwen2.5-0.5B-shaped
//! random-weight Qwen2, built in memory from a config (nothing downloaded or committed).

use crate::capture::Capture;
use crate::hooks::{HookPoint, HookSite};
use crate::model::config::ModelConfig;
use crate::model::files::RandomWeights;
use crate::model::{ForwardOpts, Transformer};
use crate::sae::format::SaeLens;
use crate::sae::{Activation, Sae, SaeMeta};
use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use std::time::Instant;

pub mod host;
pub mod map;
pub mod paper;

/// What to measure.
pub struct BenchConfig {
    pub layer: usize,
    pub batch: usize,
    pub seq: usize,
    pub width: usize,
    pub k: usize,
    pub iters: usize,
    pub dtype: DType,
    pub device: Device,
}

/// Timings, averaged over the measured iterations (one warm-up excluded).
pub struct BenchReport {
    pub tokens_per_s: f64,
    pub seconds_per_batch: f64,
    pub forward_s: f64,
    pub encode_s: f64,
}

/// The Qwen2.5-0.5B configuration.
pub fn qwen25_05b_config() -> ModelConfig {
    ModelConfig::from_json(&serde_json::json!({
        "model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "num_hidden_layers": 24,
        "num_attention_heads": 14, "num_key_value_heads": 2, "intermediate_size": 4864,
        "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "tie_word_embeddings": true, "hidden_act": "silu"
    }))
    .expect("valid built-in config")
}

/// A TopK SAE with random encoder weights (and a random decoder).
pub fn random_topk_sae(
    d: usize,
    width: usize,
    k: usize,
    hook: HookPoint,
    device: &Device,
) -> Result<Sae> {
    Ok(Sae {
        meta: SaeMeta {
            path: "random".into(),
            format: &SaeLens,
            d_in: d,
            d_sae: width,
            hook,
            model_name: None,
        },
        activation: Activation::TopK(k),
        w_enc: Tensor::randn(0f32, 0.05, (d, width), device)?.into(),
        b_enc: Tensor::zeros(width, DType::F32, device)?,
        w_dec: Some(Tensor::randn(0f32, 0.05, (width, d), device)?.into()),
        b_dec: Some(Tensor::zeros(d, DType::F32, device)?),
        input_bias: Some(Tensor::zeros(d, DType::F32, device)?),
        threshold: None,
        input_scale: 1.0,
    })
}

/// A Qwen2.5-0.5B-shaped random-weight model with the tokenizer of `tokenizer_dir`.
pub fn random_qwen25_05b(
    tokenizer_dir: &std::path::Path,
    dtype: DType,
    device: &Device,
) -> Result<crate::model::Model> {
    let cfg = qwen25_05b_config();
    let src = RandomWeights {
        dtype,
        device: device.clone(),
        std: 0.02,
    };
    let net = Transformer::load(cfg.clone(), &src)?;
    let tok = crate::model::tokenizer::Tok::from_dir(tokenizer_dir)?;
    Ok(crate::model::Model {
        dir: "random".into(),
        cfg,
        net,
        tok,
        mask_special_attention: false,
    })
}

/// Runs the benchmark.
pub fn run_engine_bench(c: &BenchConfig) -> Result<BenchReport> {
    let cfg = qwen25_05b_config();
    let d = cfg.hidden_size;
    let src = RandomWeights {
        dtype: c.dtype,
        device: c.device.clone(),
        std: 0.02,
    };
    let net = Transformer::load(cfg, &src)?;
    let hook = HookPoint::new(c.layer, HookSite::MlpOut);
    let sae = random_topk_sae(d, c.width, c.k, hook, &c.device)?;
    let ids: Vec<u32> = (0..c.batch * c.seq)
        .map(|i| ((i * 7919) % 151936) as u32)
        .collect();
    let input = Tensor::from_vec(ids, (c.batch, c.seq), &c.device)?;
    let mut total = (0.0, 0.0);
    for it in 0..=c.iters {
        let t0 = Instant::now();
        let mut cap = Capture::new([hook]);
        net.forward(
            &input,
            None,
            None,
            &mut cap,
            ForwardOpts {
                stop_after_layer: Some(c.layer),
                ..Default::default()
            },
        )?;
        let x = cap.acts.remove(&hook).expect("hook captured");
        let x = x.reshape((c.batch * c.seq, d))?;
        c.device.synchronize()?;
        let t1 = Instant::now();
        let f = sae.encode(&x)?;
        c.device.synchronize()?;
        drop(f);
        let t2 = Instant::now();
        if it > 0 {
            total.0 += (t1 - t0).as_secs_f64();
            total.1 += (t2 - t1).as_secs_f64();
        }
    }
    let n = c.iters.max(1) as f64;
    let per_batch = (total.0 + total.1) / n;
    Ok(BenchReport {
        tokens_per_s: (c.batch * c.seq) as f64 / per_batch,
        seconds_per_batch: per_batch,
        forward_s: total.0 / n,
        encode_s: total.1 / n,
    })
}

/// Timings of the feature-store reader on a synthetic store.
#[derive(serde::Serialize)]
pub struct StoreBench {
    pub latents: usize,
    pub examples: usize,
    pub write_s: f64,
    pub open_s: f64,
    /// Mean time to fetch one latent's row and examples.
    #[serde(rename = "fetch_one_latent_ms")]
    pub fetch_ms: f64,
}

/// Builds a synthetic store of `latents` × (`top` + `quantile`) examples of `context` tokens,
/// then times opening it and fetching latents.
pub fn run_store_bench(
    dir: &std::path::Path,
    latents: usize,
    top: usize,
    quantile: usize,
    context: usize,
) -> Result<StoreBench> {
    use crate::store::{hist_edges, ExampleRow, FeatureRow, Store, StoreMeta, HIST_BINS};
    let features: Vec<FeatureRow> = (0..latents as u32)
        .map(|l| FeatureRow {
            latent: l,
            count: 100 + l as u64,
            density: 0.01,
            mean_act: 1.0,
            max_act: 5.0,
            q999: 3.0,
            q9999: 4.0,
            hist_edges: hist_edges(),
            hist_counts: vec![1; HIST_BINS],
            top_logit_tokens: (0..10).map(|i| format!("tok{i}")).collect(),
            top_logit_values: vec![1.0; 10],
            bottom_logit_tokens: (0..10).map(|i| format!("neg{i}")).collect(),
            bottom_logit_values: vec![-1.0; 10],
        })
        .collect();
    let mut examples = Vec::with_capacity(latents * (top + quantile));
    for l in 0..latents as u32 {
        for r in 0..top + quantile {
            let (kind, bin, rank) = if r < top {
                ("top", 0, r)
            } else {
                ("quantile", ((r - top) / 5) as u32, (r - top) % 5)
            };
            examples.push(ExampleRow {
                latent: l,
                kind: kind.into(),
                bin,
                rank: rank as u32,
                doc: (l as u64) * 1000 + r as u64,
                offset: 0,
                token_ids: (0..context as u32).collect(),
                tokens: (0..context).map(|i| format!("t{i}")).collect(),
                acts: (0..context).map(|i| i as f32 / context as f32).collect(),
                max_act: 1.0,
            });
        }
    }
    let meta = StoreMeta {
        program: "safe-sail".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        model: "synthetic".into(),
        sae: "synthetic".into(),
        hook: "blocks.0.hook_mlp_out".into(),
        d_sae: latents,
        corpus: vec![],
        shard: None,
        documents: 0,
        bad_rows: 0,
        contexts: 0,
        tokens: 0,
        settings: serde_json::json!({}),
        definitions: serde_json::json!({}),
    };
    let t0 = Instant::now();
    Store::write(dir, &meta, &features, &examples)?;
    let write_s = t0.elapsed().as_secs_f64();
    drop(examples);
    let t1 = Instant::now();
    let store = Store::open(dir)?;
    let open_s = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let n = 1000.min(latents);
    let mut total = 0usize;
    for i in 0..n {
        let l = ((i * 7919) % latents) as u32;
        total += store.feature(l).map_or(0, |f| f.hist_counts.len()) + store.examples(l).len();
    }
    let fetch_ms = t2.elapsed().as_secs_f64() * 1e3 / n as f64;
    assert!(total > 0);
    Ok(StoreBench {
        latents,
        examples: latents * (top + quantile),
        write_s,
        open_s,
        fetch_ms,
    })
}

/// What the training benchmark measures: TopK SAE training steps on random activations.
pub struct TrainBenchConfig {
    pub d_in: usize,
    pub width: usize,
    pub k: usize,
    pub batch_tokens: usize,
    /// Timed steps.
    pub steps: usize,
    /// Untimed steps before them.
    pub warmup: usize,
    pub seed: u64,
    pub device: Device,
    /// How the TopK steps are computed.
    pub kernel: crate::sae::train::TopKKernel,
}

/// Training speed, averaged over the timed steps.
pub struct TrainBenchReport {
    pub tokens_per_s: f64,
    pub seconds_per_step: f64,
    /// The stats of the last step (a sanity check that the steps ran).
    pub last: crate::sae::train::StepStats,
}

/// `n × d` standard normal values from a seeded generator (Box–Muller), independent of
/// candle's global RNG.
fn seeded_normal(n: usize, d: usize, seed: u64, device: &Device) -> Result<Tensor> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let data: Vec<f32> = (0..n * d)
        .map(|_| {
            let u1: f64 = rng.random::<f64>().max(1e-12);
            let u2: f64 = rng.random();
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
        })
        .collect();
    Ok(Tensor::from_vec(data, (n, d), device)?)
}

/// Times `steps` [`SaeTrainer::train_step`](crate::sae::train::SaeTrainer::train_step)s of a
/// TopK SAE (after `warmup` untimed ones) on one random normal batch `[batch_tokens, d_in]`,
/// generated once outside the timed region and used for every step (as
/// `tools/bench_torch_train.py` does). The trainer's defaults otherwise: lr 1e-3 with 100
/// warm-up steps, a latent dead after 10M tokens without firing (so AuxK never runs here).
pub fn run_train_bench(c: &TrainBenchConfig) -> Result<TrainBenchReport> {
    use crate::sae::train::{SaeArch, SaeTrainer, TrainConfig};
    let x = seeded_normal(c.batch_tokens, c.d_in, c.seed, &c.device)?;
    let cfg = TrainConfig {
        seed: c.seed,
        kernel: c.kernel,
        ..TrainConfig::new(c.d_in, c.width, SaeArch::TopK { k: c.k })
    };
    let mut trainer = SaeTrainer::new(cfg, &x)?;
    let mut last = Default::default();
    for _ in 0..c.warmup {
        last = trainer.train_step(&x)?;
    }
    c.device.synchronize()?;
    let t0 = Instant::now();
    for _ in 0..c.steps {
        last = trainer.train_step(&x)?;
    }
    c.device.synchronize()?;
    let per_step = t0.elapsed().as_secs_f64() / c.steps.max(1) as f64;
    Ok(TrainBenchReport {
        tokens_per_s: c.batch_tokens as f64 / per_step,
        seconds_per_step: per_step,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_bench_runs_on_a_tiny_shape() {
        use crate::sae::train::TopKKernel;
        for kernel in [TopKKernel::Sparse, TopKKernel::Dense] {
            let r = run_train_bench(&TrainBenchConfig {
                d_in: 16,
                width: 64,
                k: 4,
                batch_tokens: 32,
                steps: 2,
                warmup: 1,
                seed: 0,
                device: Device::Cpu,
                kernel,
            })
            .unwrap();
            assert!(r.tokens_per_s.is_finite() && r.tokens_per_s > 0.0);
            assert!(r.seconds_per_step > 0.0);
            assert!(r.last.loss.is_finite());
            assert!(r.last.l0 <= 4.0 + 1e-6);
        }
    }
}

/// Sets the compute thread count for a benchmark (before candle starts its pool); returns it.
pub fn bench_threads(threads: Option<usize>) -> usize {
    if let Some(t) = threads {
        std::env::set_var("RAYON_NUM_THREADS", t.to_string());
    }
    threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// Runs the PyTorch side of a benchmark (`tools/SCRIPT` of this checkout) with `py` and returns
/// its last stdout line as JSON.
pub fn run_torch_script(
    py: &std::path::Path,
    script: &str,
    args: &[String],
) -> Result<serde_json::Value> {
    use anyhow::{bail, Context};
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tools")
        .join(script);
    let out = std::process::Command::new(py)
        .arg(&script)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {} {}", py.display(), script.display()))?;
    if !out.status.success() {
        bail!(
            "the PyTorch benchmark failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.lines().last().unwrap_or(""))
        .context("the PyTorch benchmark printed no JSON line")
}

/// What `bench-collect` measures: the model and SAEs (or a Qwen2.5-0.5B-shaped random model with
/// a 16,384-latent TopK SAE at layer 12), the corpus and collect's settings.
pub struct CollectBenchConfig {
    /// `None`: the Qwen2.5-0.5B-shaped random model.
    pub model: Option<crate::load::ModelSpec>,
    pub saes: Vec<String>,
    pub corpus: Vec<std::path::PathBuf>,
    pub context: usize,
    pub batch: usize,
    pub max_tokens: Option<u64>,
    /// Runs of each side; the fastest of each is compared (the machine's noise only slows).
    pub repeat: usize,
}

/// Forward + encode alone against the whole collection, on the same contexts.
#[derive(serde::Serialize)]
pub struct CollectBenchReport {
    /// The corpus files as read (size and hash), so a figure names its input.
    pub corpus: Vec<crate::fsutil::FileRecord>,
    pub tokens: u64,
    /// The fastest of the runs.
    pub forward_encode_s: f64,
    /// The fastest of the runs.
    pub collect_s: f64,
    /// collect_s / forward_encode_s − 1: the share collect's bookkeeping adds.
    pub overhead: f64,
    /// Time measured inside collect's bookkeeping during its fastest run.
    pub bookkeeping_s: f64,
    /// bookkeeping_s / (collect_s − bookkeeping_s): the same share, timed directly, so it does
    /// not depend on two separate runs being equally disturbed.
    pub bookkeeping_overhead: f64,
    /// Every run, in order: (forward_encode_s, collect_s).
    pub runs: Vec<(f64, f64)>,
}

/// Runs the same corpus through reading + tokenization + forward + SAE encode alone, then
/// through `collect`, in one run.
pub fn run_collect_bench(c: &CollectBenchConfig) -> Result<CollectBenchReport> {
    use crate::corpus::{Budget, ContextSplitter, CorpusSpec, MessagePolicy};
    use crate::store::collect::{collect, CollectConfig, BOOKKEEPING_NS};
    use std::sync::atomic::Ordering;
    let (model, saes) = match &c.model {
        None => {
            let tok =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer");
            let m = random_qwen25_05b(&tok, DType::F32, &Device::Cpu)?;
            let hook = HookPoint::new(12, HookSite::MlpOut);
            let s = random_topk_sae(m.cfg.hidden_size, 16384, 64, hook, &Device::Cpu)?;
            (m, vec![s])
        }
        Some(spec) => {
            let m = spec.load()?;
            let s = crate::load::load_saes(&c.saes, m.net.device())?;
            (m, s)
        }
    };
    if saes.is_empty() {
        anyhow::bail!("give --sae (or --qwen05b)");
    }
    let corpus = CorpusSpec {
        files: c.corpus.clone(),
        text_field: "text".into(),
        messages_field: None,
    };
    let batch_size = c.batch.max(1);
    let cfg = CollectConfig {
        context: c.context,
        batch: batch_size,
        max_tokens: c.max_tokens,
        logit_tokens: 0,
        ..Default::default()
    };
    let mut runs = vec![];
    let mut best: Option<(f64, f64, f64, u64)> = None; // collect_s, bookkeeping_s, bare, tokens
    let mut best_bare = f64::INFINITY;
    for _ in 0..c.repeat.max(1) {
        // The same reading, tokenization, contexts, batches and padding as collect, through
        // forward + encode only: the difference is collect's bookkeeping.
        let t0 = Instant::now();
        let splitter = ContextSplitter {
            messages: MessagePolicy::Skip,
            ..ContextSplitter::new(&model.tok, c.context)
        };
        let (mut contexts, _) = splitter.contexts(&corpus, Budget::All)?;
        if let Some(m) = c.max_tokens {
            // Collect stops after the batch that reaches max_tokens: keep the same contexts.
            let mut n = 0u64;
            let mut keep = 0;
            for chunk in contexts.chunks(batch_size) {
                if n >= m {
                    break;
                }
                n += chunk.iter().map(|c| c.len() as u64).sum::<u64>();
                keep += chunk.len();
            }
            contexts.truncate(keep);
        }
        for batch in contexts.chunks(batch_size) {
            let cap = Capture::batch(&model, batch, saes.iter().map(Sae::hook))?;
            for s in &saes {
                let x = &cap.acts[&s.hook()];
                let (b, t, d) = x.dims3()?;
                let _ = s.encode(&x.reshape((b * t, d))?)?.to_vec2::<f32>()?;
            }
        }
        let bare = t0.elapsed().as_secs_f64();
        let before = BOOKKEEPING_NS.load(Ordering::Relaxed);
        let t1 = Instant::now();
        let (res, _, _) = collect(&model, &saes, &corpus, &cfg, &mut |_| {})?;
        let full = t1.elapsed().as_secs_f64();
        let kept = (BOOKKEEPING_NS.load(Ordering::Relaxed) - before) as f64 * 1e-9;
        runs.push((bare, full));
        best_bare = best_bare.min(bare);
        if best.is_none_or(|b| full < b.0) {
            best = Some((full, kept, bare, res.first().map_or(0, |r| r.tokens)));
        }
    }
    let (full, kept, _, tokens) = best.expect("at least one run");
    Ok(CollectBenchReport {
        corpus: c
            .corpus
            .iter()
            .map(|p| crate::fsutil::FileRecord::read(p))
            .collect::<Result<_>>()?,
        tokens,
        forward_encode_s: best_bare,
        collect_s: full,
        overhead: full / best_bare - 1.0,
        bookkeeping_s: kept,
        bookkeeping_overhead: kept / (full - kept),
        runs,
    })
}

/// `bench`: the engine benchmark, then (with `torch`, a Python interpreter) the same work in
/// PyTorch eager with the same threads, and the ratio. Each result goes to `emit` as one JSON
/// line as soon as it is known.
pub fn engine_vs_torch(
    c: &BenchConfig,
    threads: usize,
    torch: Option<&std::path::Path>,
    emit: &mut dyn FnMut(&serde_json::Value),
) -> Result<()> {
    let report = run_engine_bench(c)?;
    emit(&serde_json::json!({
        "impl": "safe-sail (candle)", "tokens_per_s": report.tokens_per_s,
        "seconds_per_batch": report.seconds_per_batch, "threads": threads,
        "forward_s": report.forward_s, "encode_s": report.encode_s,
    }));
    if let Some(py) = torch {
        let s = |v: usize| v.to_string();
        let dtype = match c.dtype {
            DType::BF16 => "bf16",
            DType::F16 => "f16",
            _ => "f32",
        };
        let theirs = run_torch_script(
            py,
            "bench_torch.py",
            &[
                "--layer".into(),
                s(c.layer),
                "--batch".into(),
                s(c.batch),
                "--seq".into(),
                s(c.seq),
                "--d-sae".into(),
                s(c.width),
                "--k".into(),
                s(c.k),
                "--iters".into(),
                s(c.iters),
                "--threads".into(),
                s(threads),
                "--dtype".into(),
                dtype.into(),
            ],
        )?;
        emit(&theirs);
        let t = theirs["tokens_per_s"].as_f64().unwrap_or(f64::NAN);
        emit(&serde_json::json!({"ratio_vs_pytorch": report.tokens_per_s / t}));
    }
    Ok(())
}

/// `bench-train`: both TopK kernels on the same batch and initial state (`c.kernel` is
/// ignored), then (with `torch`) the same step in PyTorch and the ratios. Results go to `emit`
/// as JSON lines.
pub fn train_vs_torch(
    c: &TrainBenchConfig,
    threads: usize,
    torch: Option<&std::path::Path>,
    emit: &mut dyn FnMut(&serde_json::Value),
) -> Result<()> {
    use crate::sae::train::TopKKernel;
    let mut ours = vec![];
    for (kernel, name) in [(TopKKernel::Sparse, "sparse"), (TopKKernel::Dense, "dense")] {
        let r = run_train_bench(&TrainBenchConfig {
            device: c.device.clone(),
            kernel,
            ..*c
        })?;
        emit(&serde_json::json!({
            "impl": format!("safe-sail (candle, {name} TopK kernel)"), "kernel": name,
            "tokens_per_s": r.tokens_per_s,
            "seconds_per_step": r.seconds_per_step, "threads": threads,
            "d_in": c.d_in, "width": c.width, "k": c.k, "batch_tokens": c.batch_tokens,
            "steps": c.steps, "warmup": c.warmup, "last_loss": r.last.loss, "last_l0": r.last.l0,
        }));
        ours.push(r.tokens_per_s);
    }
    emit(&serde_json::json!({"sparse_speedup_vs_dense": ours[0] / ours[1]}));
    if let Some(py) = torch {
        let s = |v: usize| v.to_string();
        let theirs = run_torch_script(
            py,
            "bench_torch_train.py",
            &[
                "--d-in".into(),
                s(c.d_in),
                "--width".into(),
                s(c.width),
                "--k".into(),
                s(c.k),
                "--batch-tokens".into(),
                s(c.batch_tokens),
                "--steps".into(),
                s(c.steps),
                "--warmup".into(),
                s(c.warmup),
                "--threads".into(),
                s(threads),
                "--seed".into(),
                c.seed.to_string(),
            ],
        )?;
        emit(&theirs);
        let t = theirs["tokens_per_s"].as_f64().unwrap_or(f64::NAN);
        emit(&serde_json::json!({
            "ratio_vs_pytorch_sparse": ours[0] / t,
            "ratio_vs_pytorch_dense": ours[1] / t,
        }));
    }
    Ok(())
}

/// `bench-store` in a temporary folder (removed afterwards).
pub fn store_bench_in_temp(
    latents: usize,
    top: usize,
    quantile: usize,
    context: usize,
) -> Result<StoreBench> {
    let dir = std::env::temp_dir().join(format!("safe-sail-bench-store-{}", std::process::id()));
    let r = run_store_bench(&dir, latents, top, quantile, context);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// What one attribution (forward with the SAEs spliced in through the composed ops, plus the
/// backward pass) costs beside a plain forward pass (fused kernels, no SAE) of the same input.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AttributionCost {
    pub tokens: usize,
    pub saes: usize,
    pub reps: usize,
    /// Median seconds of a plain forward pass.
    pub forward_s: f64,
    /// Median seconds of [`crate::attribute::attribute`].
    pub attribution_s: f64,
    /// `attribution_s / forward_s`.
    pub ratio: f64,
}

/// Times `reps` plain forward passes and `reps` attributions, interleaved (one warm-up of each
/// excluded), and reports the medians and their ratio.
pub fn attribution_cost(
    model: &crate::model::Model,
    saes: &[crate::steer::SaeSlot],
    context: &[u32],
    metric: &crate::attribute::Metric,
    reps: usize,
) -> Result<AttributionCost> {
    let ids = metric.input_ids(context);
    let opts = crate::attribute::AttributeOpts {
        max_tokens: ids.len().max(1),
    };
    let (mut fw, mut at) = (vec![], vec![]);
    for i in 0..=reps.max(1) {
        let t0 = Instant::now();
        model.run(&ids, &mut crate::model::NoHooks, ForwardOpts::default())?;
        let t1 = Instant::now();
        crate::attribute::attribute(model, saes, context, metric, &opts)?;
        let t2 = Instant::now();
        if i > 0 {
            fw.push((t1 - t0).as_secs_f64());
            at.push((t2 - t1).as_secs_f64());
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (forward_s, attribution_s) = (median(&mut fw), median(&mut at));
    Ok(AttributionCost {
        tokens: ids.len(),
        saes: saes.len(),
        reps: fw.len(),
        forward_s,
        attribution_s,
        ratio: attribution_s / forward_s,
    })
}
