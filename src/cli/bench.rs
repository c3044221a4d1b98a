//! The benchmarks: `bench`, `bench-train`, `bench-store`, `bench-collect`. Each prints JSON
//! lines; with `--torch PYTHON` the PyTorch side runs in the same run and the ratio follows.

use anyhow::Result;
use clap::Args;
use safe_sail::bench::{self, bench_threads, CollectBenchConfig};
use safe_sail::device::{parse_device, parse_dtype};
use safe_sail::load::ModelSpec;
use safe_sail::sae::train::TopKKernel;
use std::path::PathBuf;

fn print_line(v: &serde_json::Value) {
    println!("{v}");
}

#[derive(Args)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 12)]
    pub layer: usize,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    #[arg(long, default_value_t = 128)]
    pub seq: usize,
    #[arg(long, default_value_t = 16384)]
    pub width: usize,
    #[arg(long, default_value_t = 64)]
    pub k: usize,
    #[arg(long, default_value_t = 3)]
    pub iters: usize,
    /// Threads for the CPU kernels (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Compute dtype (default: f32; bf16 with --preset).
    #[arg(long)]
    pub dtype: Option<String>,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Also run the PyTorch side with this Python in the same run and print the ratios.
    #[arg(long)]
    pub torch: Option<PathBuf>,
    /// `qwen2.5-3b`: the paper-scale benchmark (a Qwen2.5-3B-shaped random bf16 model and five
    /// 20,480-latent TopK SAEs on layers 0/8/17/26/35, written at run time to a temporary
    /// folder and deleted afterwards; --layer/--batch/--seq/--width/--k do not apply).
    #[arg(long)]
    pub preset: Option<String>,
    /// With --preset: build the folder here (it must not exist) instead of a temporary one.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// With --preset: keep the folder afterwards.
    #[arg(long)]
    pub keep: bool,
    /// With --preset and --torch: PyTorch's compute dtype, when not --dtype (e.g. f32 on a CPU
    /// without AVX-512 BF16, where PyTorch's bf16 matmul takes a slow path).
    #[arg(long)]
    pub torch_dtype: Option<String>,
    /// With --preset: tokens decoded after the first.
    #[arg(long, default_value_t = 16)]
    pub decode_tokens: usize,
    /// With --preset: the SAEs' files, `saelens` (safetensors folders) or `safe-sail` (the
    /// release's `.pt` state dicts).
    #[arg(long, default_value = "saelens")]
    pub sae_format: String,
    /// With --preset: measure our side on an existing benchmark folder (what the benchmark
    /// runs in a fresh process).
    #[arg(long, hide = true)]
    pub measure_in: Option<PathBuf>,
    /// With --measure-in: the prompt's token ids, comma-separated.
    #[arg(long, hide = true)]
    pub ids: Option<String>,
}

fn paper(a: BenchArgs, preset: &str, threads: usize) -> Result<()> {
    use safe_sail::bench::paper::{self, PaperBenchConfig};
    if preset != "qwen2.5-3b" {
        anyhow::bail!("unknown preset `{preset}` (expected qwen2.5-3b)");
    }
    let c = PaperBenchConfig {
        dtype: parse_dtype(a.dtype.as_deref().unwrap_or("bf16"))?,
        torch_dtype: a.torch_dtype.as_deref().map(parse_dtype).transpose()?,
        device: a.device.clone(),
        iters: a.iters,
        decode_tokens: a.decode_tokens,
        sae_format: a.sae_format.parse()?,
        ..PaperBenchConfig::qwen25_3b()
    };
    if let Some(dir) = &a.measure_in {
        let ids = a
            .ids
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(|s| s.trim().parse::<u32>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("--ids: {e}"))?;
        let dev = parse_device(&c.device)?;
        let r = paper::measure_ours(
            dir,
            &c.layers,
            c.k,
            &ids,
            c.dtype,
            &dev,
            c.iters,
            c.decode_tokens,
        )?;
        print_line(&r);
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    paper::paper_vs_torch(
        &c,
        a.dir.as_deref(),
        a.keep,
        threads,
        &mut |dir, ids| paper::measure_ours_in_child(&exe, dir, ids, &c, threads),
        a.torch.as_deref(),
        &mut print_line,
    )
}

pub fn bench(a: BenchArgs) -> Result<()> {
    let threads = bench_threads(a.threads);
    if let Some(p) = a.preset.clone() {
        return paper(a, &p, threads);
    }
    let cfg = bench::BenchConfig {
        layer: a.layer,
        batch: a.batch,
        seq: a.seq,
        width: a.width,
        k: a.k,
        iters: a.iters,
        dtype: parse_dtype(a.dtype.as_deref().unwrap_or("f32"))?,
        device: parse_device(&a.device)?,
    };
    bench::engine_vs_torch(&cfg, threads, a.torch.as_deref(), &mut print_line)
}

#[derive(Args)]
pub struct BenchTrainArgs {
    #[arg(long, default_value_t = 896)]
    pub d_in: usize,
    #[arg(long, default_value_t = 16384)]
    pub width: usize,
    #[arg(long, default_value_t = 64)]
    pub k: usize,
    #[arg(long, default_value_t = 4096)]
    pub batch_tokens: usize,
    /// Timed steps (after --warmup untimed ones), on each side.
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads for the CPU kernels, and torch.set_num_threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Also run tools/bench_torch_train.py with this Python in the same run and print the ratio.
    #[arg(long)]
    pub torch: Option<PathBuf>,
}

pub fn bench_train(a: BenchTrainArgs) -> Result<()> {
    let threads = bench_threads(a.threads);
    let cfg = bench::TrainBenchConfig {
        d_in: a.d_in,
        width: a.width,
        k: a.k,
        batch_tokens: a.batch_tokens,
        steps: a.steps,
        warmup: a.warmup,
        seed: a.seed,
        device: parse_device(&a.device)?,
        kernel: TopKKernel::Sparse,
    };
    bench::train_vs_torch(&cfg, threads, a.torch.as_deref(), &mut print_line)
}

pub fn bench_store(latents: usize, top: usize, quantile: usize, context: usize) -> Result<()> {
    let r = bench::store_bench_in_temp(latents, top, quantile, context)?;
    println!("{}", serde_json::to_string(&r)?);
    Ok(())
}

#[derive(Args)]
pub struct BenchCollectArgs {
    /// Model folder (ignored with --qwen05b).
    #[arg(long, default_value = "")]
    pub model: String,
    /// SAEs (ignored with --qwen05b).
    #[arg(long)]
    pub sae: Vec<String>,
    /// Use a Qwen2.5-0.5B-shaped random model (tokenizer from the test fixtures) and a random
    /// TopK SAE (16,384 latents, k 64) on blocks.12.hook_mlp_out: a realistic cost ratio.
    #[arg(long)]
    pub qwen05b: bool,
    #[arg(long, required = true)]
    pub corpus: Vec<PathBuf>,
    #[arg(long, default_value_t = 64)]
    pub context: usize,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    #[arg(long)]
    pub max_tokens: Option<u64>,
    /// Runs of each side; the fastest of each is compared.
    #[arg(long, default_value_t = 2)]
    pub repeat: usize,
}

pub fn bench_collect(a: BenchCollectArgs) -> Result<()> {
    let cfg = CollectBenchConfig {
        model: (!a.qwen05b).then(|| ModelSpec {
            model: a.model.clone(),
            dtype: "f32".into(),
            device: "cpu".into(),
            mask_special_attention: false,
        }),
        saes: a.sae,
        corpus: a.corpus,
        context: a.context,
        batch: a.batch,
        max_tokens: a.max_tokens,
        repeat: a.repeat,
    };
    println!(
        "{}",
        serde_json::to_string(&bench::run_collect_bench(&cfg)?)?
    );
    Ok(())
}

#[derive(Args)]
pub struct BenchAttributeArgs {
    /// Model folder (default: the bundled sample's model).
    #[arg(long)]
    pub model: Option<String>,
    /// SAEs (default: the bundled sample's `L{1,2,3}-mlp_out-w1024-topk16`). Repeatable.
    #[arg(long)]
    pub sae: Vec<String>,
    #[arg(
        long,
        default_value = "Researchers warned that extremist propaganda spreads fast, and the police said"
    )]
    pub prompt: String,
    #[arg(long, default_value = "continuation: the attack was stopped.")]
    pub metric: String,
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
}

/// `bench-attribute`: one attribution against a plain forward pass, as a ratio.
pub fn bench_attribute(a: BenchAttributeArgs) -> Result<()> {
    let sample = || -> Result<PathBuf> {
        safe_sail::workspace::sample::bundled_sample()
            .and_then(|p| p.parent().map(|p| p.to_path_buf()))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the bundled sample (sample_data/) was not found: give --model and --sae"
                )
            })
    };
    let model_spec = match a.model {
        Some(m) => m,
        None => sample()?.join("model").display().to_string(),
    };
    let saes = if a.sae.is_empty() {
        let root = sample()?;
        (1..=3)
            .map(|l| {
                root.join(format!("saes/L{l}-mlp_out-w1024-topk16"))
                    .display()
                    .to_string()
            })
            .collect()
    } else {
        a.sae
    };
    let model = ModelSpec {
        model: model_spec,
        dtype: "f32".into(),
        device: "cpu".into(),
        mask_special_attention: false,
    }
    .load()?;
    let metric = a
        .metric
        .parse::<safe_sail::attribute::MetricSpec>()?
        .resolve(&model.tok)?;
    let slots: Vec<_> = safe_sail::load::load_saes(&saes, model.net.device())?
        .into_iter()
        .map(safe_sail::steer::SaeSlot::new)
        .collect();
    let prompt = safe_sail::model::PromptSpec {
        text: a.prompt,
        ..Default::default()
    };
    let context = safe_sail::attribute::context_ids(&model, &prompt, None)?;
    let r = bench::attribution_cost(&model, &slots, &context, &metric, a.reps)?;
    print_line(&serde_json::to_value(&r)?);
    Ok(())
}

#[derive(Args)]
pub struct BenchMapArgs {
    /// Neurons on the map.
    #[arg(long, default_value_t = 20480)]
    pub points: usize,
    /// Measured frames of each kind.
    #[arg(long, default_value_t = 200)]
    pub frames: usize,
    /// Also time computing the map of a random decoder of `--points` rows in this many
    /// dimensions (e.g. 2048), twice, checking that the seed gives the same points.
    #[arg(long)]
    pub layout_d_in: Option<usize>,
    /// Threads for the neighbour search (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// `bench-map`: the map's frame time against an empty frame's (JSON line), and with
/// --layout-d-in the time to compute a map.
pub fn bench_map(a: BenchMapArgs) -> Result<()> {
    let threads = bench_threads(a.threads);
    let r = safe_sail::app::frame_bench::map_frame_bench(a.points, a.frames)?;
    print_line(&serde_json::to_value(&r)?);
    if let Some(d) = a.layout_d_in {
        let r = bench::map::map_layout_bench(a.points, d, threads)?;
        print_line(&serde_json::to_value(&r)?);
    }
    Ok(())
}
