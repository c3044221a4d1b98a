//! `evaluate`: SAE candidates' fidelity, loss and Safe-SAIL metrics.

use super::args::ModelArgs;
use super::progress::Bar;
use anyhow::Result;
use clap::Args;
use safe_sail::eval::report::{evaluate as run, EvaluateRequest};
use std::path::PathBuf;

/// The fidelity pass's checkpoint in the output folder.
const CHECKPOINT: &str = ".evaluate-checkpoint.bin";

#[derive(Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long, required = true)]
    pub sae: Vec<String>,
    /// A general corpus (.jsonl/.ndjson/.txt/.parquet/.csv).
    #[arg(long, required = true)]
    pub corpus: Vec<PathBuf>,
    #[arg(long, default_value = "text")]
    pub text_field: String,
    #[arg(long, default_value_t = 64)]
    pub context: usize,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Tokens to evaluate on.
    #[arg(long, default_value_t = 100_000)]
    pub tokens: u64,
    /// Concept / de-concept pairs (JSONL with domain, concept, prompt, deconcept; `make-corpus`
    /// writes them) for the Safe-SAIL metrics L0,t and I_CDF per concept and domain.
    #[arg(long)]
    pub concept_pairs: Option<PathBuf>,
    /// Threshold t on Δ (the activation difference over the latent's corpus 0.999 quantile).
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// φ: count a latent for a concept when it distinguishes at least this share of the
    /// concept's pairs [default: when its mean Δ over them exceeds the threshold].
    #[arg(long)]
    pub min_frequency: Option<f64>,
    /// A feature store of one of the SAEs (repeatable): its 0.999 quantiles scale Δ. SAEs
    /// without one are scaled by a calibration pass over --corpus.
    #[arg(long)]
    pub quantiles_from: Vec<PathBuf>,
    /// Wrap each concept / de-concept prompt in the model's chat template as a user message
    /// (with the generation prompt), as the Safe-SAIL demo wraps queries.
    #[arg(long)]
    pub chat_pairs: bool,
    /// A labeled corpus (JSONL) for domain specificity.
    #[arg(long)]
    pub labeled_corpus: Option<PathBuf>,
    #[arg(long, default_value = "domain")]
    pub label_field: String,
    /// Tokens of the labeled corpus for specificity [default: --tokens]. Specificity needs
    /// many contexts per domain; the fidelity pass (a forward per candidate) is the slow one.
    #[arg(long)]
    pub labeled_tokens: Option<u64>,
    /// Continue an interrupted run from its checkpoint in the output folder
    /// (`.evaluate-checkpoint.bin`; the same arguments are required).
    #[arg(long)]
    pub resume: bool,
    /// Batches of the fidelity pass between checkpoints (0 = none).
    #[arg(long, default_value_t = 50)]
    pub checkpoint_every: usize,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn evaluate(a: EvaluateArgs) -> Result<()> {
    let req = EvaluateRequest {
        model: a.model.spec(),
        saes: a.sae,
        corpus: a.corpus,
        text_field: a.text_field,
        context: a.context,
        batch: a.batch,
        tokens: a.tokens,
        concept_pairs: a.concept_pairs,
        threshold: a.threshold,
        min_frequency: a.min_frequency,
        quantiles_from: a.quantiles_from,
        chat_pairs: a.chat_pairs,
        labeled_corpus: a.labeled_corpus,
        label_field: a.label_field,
        labeled_tokens: a.labeled_tokens,
        checkpoint: (a.checkpoint_every > 0 || a.resume).then(|| a.out.join(CHECKPOINT)),
        checkpoint_every: a.checkpoint_every,
        resume: a.resume,
    };
    if a.checkpoint_every > 0 {
        std::fs::create_dir_all(&a.out)?;
    }
    let bar = Bar::new("{spinner} evaluating {pos}/{len} tokens · {per_sec:0} · {wide_bar} {eta}");
    let report = run(&req, &bar)?;
    drop(bar);
    report.write(&a.out)?;
    let _ = std::fs::remove_file(a.out.join(CHECKPOINT));
    print_report(&report);
    Ok(())
}

/// `merge-evaluations`: the runs' reports combined, written and summarised as `evaluate` does.
pub fn merge(inputs: &[PathBuf], out: &std::path::Path) -> Result<()> {
    let reports = inputs
        .iter()
        .map(|dir| {
            let f = dir.join("evaluation.json");
            safe_sail::eval::report::EvaluationReport::load(&f).map(|r| (f, r))
        })
        .collect::<Result<Vec<_>>>()?;
    let report = safe_sail::eval::report::merge(reports)?;
    report.write(out)?;
    print_report(&report);
    Ok(())
}

fn print_report(report: &safe_sail::eval::report::EvaluationReport) {
    for r in report.rows.iter().map(|r| &r.fidelity) {
        println!(
            "{} {}: L0 {:.1}, dead {:.1}%, EV {:.3}, CE clean {:.3} / SAE {:.3} / zero {:.3}, recovered {:.3}",
            r.hook, r.architecture, r.l0, r.dead_fraction * 100.0, r.explained_variance, r.ce_clean, r.ce_sae, r.ce_zero, r.ce_loss_recovered
        );
    }
    for r in &report.rows {
        if let Some(n) = r.uncalibrated.filter(|n| *n > 0) {
            println!(
                "{}: {n} latents fired on the concept pairs but never on the calibration corpus (left out of L0,t)",
                r.fidelity.sae
            );
        }
    }
    for r in &report.recommendations {
        match (&r.by_l0t, r.l0t_total) {
            (Some(s), Some(n)) => println!(
                "{}: by L0,t {s} ({n}); by explained variance {}",
                r.hook, r.by_explained_variance
            ),
            _ => println!(
                "{}: by explained variance {} (no concept pairs for L0,t)",
                r.hook, r.by_explained_variance
            ),
        }
    }
}
