//! `collect` and `merge-stores`: feature stores over a corpus.

use super::args::ModelArgs;
use super::progress::{Bar, Plain};
use anyhow::Result;
use clap::Args;
use safe_sail::store::run::{self, parse_shard, CollectRun, RunOptions, WrittenStore};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct CollectArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// An SAE: `PATH[,key=value...]`. Repeatable; all share one forward pass.
    #[arg(long, required = true)]
    pub sae: Vec<String>,
    /// Corpus files: .jsonl/.ndjson, .parquet, .csv or .txt (one document per line).
    #[arg(long, required = true)]
    pub corpus: Vec<PathBuf>,
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Documents are chat messages in this field (rendered through the chat template).
    #[arg(long)]
    pub messages_field: Option<String>,
    /// Render plain documents through the chat template as user messages.
    #[arg(long)]
    pub chat: bool,
    /// Tokens per context.
    #[arg(long, default_value_t = 64)]
    pub context: usize,
    #[arg(long, default_value_t = 20)]
    pub top_k: usize,
    #[arg(long, default_value_t = 10)]
    pub quantile_bins: usize,
    #[arg(long, default_value_t = 5)]
    pub per_bin: usize,
    /// Stop after this many tokens.
    #[arg(long)]
    pub max_tokens: Option<u64>,
    /// Contexts per forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Count special tokens too.
    #[arg(long)]
    pub include_special: bool,
    /// The most largest activations kept per latent: the 0.999 quantile is exact up to about
    /// this / 0.002 tokens (4 bytes per value and latent).
    #[arg(long, default_value_t = 16_384)]
    pub max_top_values: usize,
    /// Process the slice i of n of the corpus (documents with id % n == i).
    #[arg(long)]
    pub shard: Option<String>,
    /// Replace a different store already in the output folder.
    #[arg(long)]
    pub force: bool,
    /// Continue an interrupted run from its last checkpoint in the output folder.
    #[arg(long)]
    pub resume: bool,
    /// Documents between checkpoints.
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: u64,
    /// Load SAEs whose weights hold NaN or ±Inf instead of refusing them (the same as
    /// `,allow_nonfinite=true` on each --sae).
    #[arg(long)]
    pub allow_nonfinite: bool,
    /// The store folder (one sub-folder per SAE when several are given).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn collect(a: CollectArgs) -> Result<()> {
    let shard = a.shard.as_deref().map(parse_shard).transpose()?;
    let run = CollectRun {
        model: a.model.model.clone(),
        dtype: a.model.dtype.clone(),
        device: a.model.device.clone(),
        saes: super::sae_specs(&a.sae, a.allow_nonfinite),
        corpus: a.corpus.clone(),
        text_field: a.text_field.clone(),
        messages_field: a.messages_field.clone(),
        chat: a.chat,
        context: a.context,
        top_k: a.top_k,
        quantile_bins: a.quantile_bins,
        per_bin: a.per_bin,
        max_tokens: a.max_tokens,
        batch: a.batch.max(1),
        include_special: a.include_special,
        shard,
        max_top_values: a.max_top_values,
        mask_special_attention: a.model.mask_special_attention,
    };
    let opts = RunOptions {
        resume: a.resume,
        force: a.force,
        checkpoint_every: a.checkpoint_every,
    };
    let bar = Bar::new("{spinner} {pos} tokens · {per_sec:0} · {elapsed_precise} {wide_bar} {eta}");
    let written = run::collect(&run, &a.out, opts, &bar)?;
    drop(bar);
    print_written(&written);
    Ok(())
}

pub fn merge_stores(inputs: &[PathBuf], out: &Path) -> Result<()> {
    print_written(&run::merge(inputs, out, &Plain)?);
    Ok(())
}

fn print_written(written: &[WrittenStore]) {
    for w in written {
        println!(
            "{}: {} latents, {} examples, {} tokens → {}",
            w.hook,
            w.latents,
            w.examples,
            w.tokens,
            w.dir.display()
        );
    }
}
