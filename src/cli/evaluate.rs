//! `evaluate`: SAE candidates' fidelity, loss and Safe-SAIL metrics.

use super::args::ModelArgs;
use super::progress::Bar;
use anyhow::Result;
use clap::Args;
use safe_sail::eval::report::{evaluate as run, EvaluateRequest};
use std::path::PathBuf;

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
    /// Concept / de-concept pairs (JSONL with domain, prompt, deconcept; `make-corpus` writes
    /// them) for the Safe-SAIL metrics L0,t and I_CDF per domain.
    #[arg(long)]
    pub concept_pairs: Option<PathBuf>,
    /// Threshold t of L0,t.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// Share of a domain's pairs a latent must distinguish to count in L0,t.
    #[arg(long, default_value_t = 0.5)]
    pub min_frequency: f64,
    /// A labeled corpus (JSONL) for domain specificity.
    #[arg(long)]
    pub labeled_corpus: Option<PathBuf>,
    #[arg(long, default_value = "domain")]
    pub label_field: String,
    /// Tokens of the labeled corpus for specificity [default: --tokens]. Specificity needs
    /// many contexts per domain; the fidelity pass (a forward per candidate) is the slow one.
    #[arg(long)]
    pub labeled_tokens: Option<u64>,
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
        labeled_corpus: a.labeled_corpus,
        label_field: a.label_field,
        labeled_tokens: a.labeled_tokens,
    };
    let bar = Bar::new("{spinner} evaluating {pos}/{len} tokens · {per_sec:0} · {wide_bar} {eta}");
    let report = run(&req, &bar)?;
    drop(bar);
    report.write(&a.out)?;
    for r in report.rows.iter().map(|r| &r.fidelity) {
        println!(
            "{} {}: L0 {:.1}, dead {:.1}%, EV {:.3}, CE clean {:.3} / SAE {:.3} / zero {:.3}, recovered {:.3}",
            r.hook, r.architecture, r.l0, r.dead_fraction * 100.0, r.explained_variance, r.ce_clean, r.ce_sae, r.ce_zero, r.ce_loss_recovered
        );
    }
    Ok(())
}
