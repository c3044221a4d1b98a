//! `train-sae` and `train-lm`.

use super::args::ModelArgs;
use super::progress::Bar;
use anyhow::Result;
use clap::Args;
use safe_sail::sae::sweep::{train, Sweep, SweepOutcome};
use safe_sail::sample::train_lm::{train as train_lm_run, TrainLmRequest};
use std::path::PathBuf;

#[derive(Args)]
pub struct TrainSaeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long, required = true)]
    pub corpus: Vec<PathBuf>,
    /// Hook points, comma-separated (e.g. blocks.1.hook_mlp_out,blocks.2.hook_mlp_out).
    #[arg(long)]
    pub hook: String,
    /// Widths, comma-separated.
    #[arg(long, default_value = "1024")]
    pub widths: String,
    /// Architectures, comma-separated: topk (one candidate per --k), relu (one per --l1),
    /// jumprelu (one per --l0-coeff).
    #[arg(long, default_value = "topk")]
    pub activation: String,
    /// TopK k values, comma-separated.
    #[arg(long, default_value = "32")]
    pub k: String,
    /// How TopK steps are computed: sparse (hand-written gradients over the k active latents
    /// of each token; CPU) or dense (candle's autograd over all latents). The same step up to
    /// float rounding; ReLU and JumpReLU always use autograd.
    #[arg(long, default_value = "sparse")]
    pub topk_kernel: String,
    /// L1 coefficients of the ReLU candidates, comma-separated (relative to the normalised
    /// MSE; the L1 term is divided by the batch's RMS norm, so they are scale-free).
    #[arg(long, default_value = "0.1")]
    pub l1: String,
    /// L0 coefficients of the JumpReLU candidates, comma-separated.
    #[arg(long, default_value = "0.01")]
    pub l0_coeff: String,
    /// Tokens to train on.
    #[arg(long, default_value_t = 1_000_000)]
    pub tokens: u64,
    /// Tokens per optimisation step.
    #[arg(long, default_value_t = 1024)]
    pub batch_tokens: usize,
    /// Peak learning rate (linear warm-up, linear decay to 0 over the last 20% of the steps).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Warm-up steps [default: 5% of the steps].
    #[arg(long)]
    pub warmup_steps: Option<usize>,
    /// A latent that has not fired for this many tokens counts as dead (AuxK, dead fraction)
    /// [default: a tenth of the run, at most 10M].
    #[arg(long)]
    pub dead_tokens: Option<u64>,
    #[arg(long, default_value_t = 64)]
    pub context: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Record L0, dead fraction and explained variance every this many steps.
    #[arg(long, default_value_t = 10)]
    pub log_every: usize,
    /// Write a checkpoint (weights, Adam state, position in the data) to OUT/checkpoint every
    /// this many steps.
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Go on from OUT/checkpoint (the same arguments as the interrupted run).
    #[arg(long)]
    pub resume: bool,
    /// Dtype of the saved weights: f32, f16 (half the size) or bf16.
    #[arg(long, default_value = "f32")]
    pub save_dtype: String,
    /// Testing: write a checkpoint after this many steps and stop, as if interrupted.
    #[arg(long, hide = true)]
    pub stop_after_steps: Option<usize>,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn train_sae(a: TrainSaeArgs) -> Result<()> {
    let sweep = Sweep {
        model: a.model.spec(),
        corpus: a.corpus,
        hook: a.hook,
        widths: a.widths,
        activation: a.activation,
        k: a.k,
        topk_kernel: a.topk_kernel,
        l1: a.l1,
        l0_coeff: a.l0_coeff,
        tokens: a.tokens,
        batch_tokens: a.batch_tokens,
        lr: a.lr,
        warmup_steps: a.warmup_steps,
        dead_tokens: a.dead_tokens,
        context: a.context,
        seed: a.seed,
        log_every: a.log_every,
        checkpoint_every: a.checkpoint_every,
        resume: a.resume,
        save_dtype: a.save_dtype,
        stop_after_steps: a.stop_after_steps,
        out: a.out,
    };
    let bar =
        Bar::arrows("{wide_bar} {human_pos}/{human_len} tokens, {per_sec:0}, ETA {eta} {msg}");
    let outcome = train(&sweep, &bar)?;
    drop(bar);
    match outcome {
        SweepOutcome::Stopped { step, checkpoint } => println!(
            "stopped after {step} steps; the checkpoint is in {}",
            checkpoint.display()
        ),
        SweepOutcome::Finished(trained) => {
            for t in trained {
                println!(
                    "{}: {} steps, loss {:.5}, L0 {:.1}, dead {:.1}%, explained variance {:.3} → {}",
                    t.label,
                    t.steps,
                    t.last.loss,
                    t.last.l0,
                    100.0 * t.last.dead_fraction,
                    t.last.explained_variance,
                    t.dir.display()
                );
            }
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct TrainLmArgs {
    /// corpus.jsonl written by `safe-sail make-corpus`.
    #[arg(long)]
    pub corpus: PathBuf,
    /// Output model folder.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 4096)]
    pub vocab: usize,
    #[arg(long, default_value_t = 128)]
    pub hidden: usize,
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    #[arg(long, default_value_t = 2)]
    pub kv_heads: usize,
    #[arg(long, default_value_t = 384)]
    pub intermediate: usize,
    #[arg(long, default_value_t = 128)]
    pub seq_len: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Documents of a style never trained on (`make-corpus` writes heldout_style.jsonl): the
    /// model's and a unigram model's loss on them, per source, go into training.json.
    #[arg(long)]
    pub heldout_style: Option<PathBuf>,
}

pub fn train_lm(a: TrainLmArgs) -> Result<()> {
    let req = TrainLmRequest {
        corpus: a.corpus,
        out: a.out,
        vocab: a.vocab,
        hidden: a.hidden,
        layers: a.layers,
        heads: a.heads,
        kv_heads: a.kv_heads,
        intermediate: a.intermediate,
        seq_len: a.seq_len,
        batch: a.batch,
        steps: a.steps,
        lr: a.lr,
        seed: a.seed,
        heldout_style: a.heldout_style,
    };
    let bar = Bar::new("{bar:30} {pos}/{len} steps  {per_sec:2}  ETA {eta}  {msg}");
    let t = train_lm_run(&req, &bar)?;
    drop(bar);
    println!(
        "held-out loss {:.3} nats/token (unigram baseline {:.3}) after {} steps, {:.0} s; saved to {}",
        t.report.heldout_loss,
        t.report.unigram_loss,
        req.steps,
        t.wall_seconds_total,
        req.out.display()
    );
    for g in t.heldout_by_source.iter().chain(&t.heldout_style) {
        println!(
            "  {:<40} {:>8} tokens: loss {:.3}, unigram {:.3}",
            g.name, g.tokens, g.loss, g.unigram_loss
        );
    }
    for s in &t.samples {
        println!(
            "  {} → {}",
            serde_json::to_string(&s.prompt)?,
            serde_json::to_string(&s.greedy)?
        );
    }
    Ok(())
}
