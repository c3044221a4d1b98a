//! The `collect` and `merge-stores` verbs: a collection run with its arguments on disk
//! (`collect-run.json`), checkpoints every few hundred documents, resume after an interruption,
//! shards (`--shard i/n`) and their merge into the store one run would give.

use super::collect::{
    collect_state, fingerprint, finish_state, meta, Checkpointing, CollectConfig, CollectState,
};
use super::Store;
use crate::corpus::CorpusSpec;
use crate::load::{load_saes, ModelSpec};
use crate::model::Model;
use crate::progress::Progress;
use crate::sae::Sae;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The run's arguments, kept beside its output.
pub const RUN_FILE: &str = "collect-run.json";
/// The final collection state of a run (what `merge-stores` adds up).
pub const STATE_FILE: &str = "collect-state.bin";
/// The state of an unfinished run.
pub const CHECKPOINT_FILE: &str = ".collect-checkpoint.bin";

/// What a collect run was started with (`collect-run.json`), so a resume or a merge of its
/// shards rebuilds the same model, SAEs and settings.
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug, Clone)]
pub struct CollectRun {
    pub model: String,
    pub dtype: String,
    pub device: String,
    pub saes: Vec<String>,
    pub corpus: Vec<PathBuf>,
    pub text_field: String,
    pub messages_field: Option<String>,
    pub chat: bool,
    pub context: usize,
    pub top_k: usize,
    pub quantile_bins: usize,
    pub per_bin: usize,
    pub max_tokens: Option<u64>,
    pub batch: usize,
    pub include_special: bool,
    pub shard: Option<(u64, u64)>,
    /// The most largest activations kept per latent ([`CollectConfig::max_top_values`]).
    #[serde(default = "default_max_top_values")]
    pub max_top_values: usize,
    /// Hide the chat markers from attention (`--mask-special-attention`).
    #[serde(default)]
    pub mask_special_attention: bool,
}

fn default_max_top_values() -> usize {
    CollectConfig::default().max_top_values
}

/// How a run treats what is already in its output folder.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Continue from the folder's checkpoint, if any.
    pub resume: bool,
    /// Overwrite a store of another model or SAE.
    pub force: bool,
    /// Documents between checkpoints.
    pub checkpoint_every: u64,
}

/// One store a run wrote.
#[derive(Debug, Clone)]
pub struct WrittenStore {
    pub hook: String,
    pub latents: usize,
    pub examples: usize,
    pub tokens: u64,
    pub dir: PathBuf,
}

/// Parses `--shard i/n` (0 ≤ i < n).
pub fn parse_shard(s: &str) -> Result<(u64, u64)> {
    let (i, n) = s
        .split_once('/')
        .with_context(|| format!("--shard `{s}`: expected i/n"))?;
    let (i, n): (u64, u64) = (
        i.parse().context("--shard: i")?,
        n.parse().context("--shard: n")?,
    );
    if n == 0 || i >= n {
        bail!("--shard {s}: need 0 <= i < n");
    }
    Ok((i, n))
}

impl CollectRun {
    /// The collection settings.
    pub fn config(&self) -> CollectConfig {
        CollectConfig {
            context: self.context,
            top_k: self.top_k,
            quantile_bins: self.quantile_bins,
            per_bin: self.per_bin,
            max_tokens: self.max_tokens,
            batch: self.batch.max(1),
            chat: self.chat,
            include_special: self.include_special,
            shard: self.shard,
            max_top_values: self.max_top_values,
            mask_special_attention: self.mask_special_attention,
            ..Default::default()
        }
    }

    /// The corpus to read.
    pub fn corpus(&self) -> CorpusSpec {
        CorpusSpec {
            files: self.corpus.clone(),
            text_field: self.text_field.clone(),
            messages_field: self.messages_field.clone(),
        }
    }

    fn model_spec(&self) -> ModelSpec {
        ModelSpec {
            model: self.model.clone(),
            dtype: self.dtype.clone(),
            device: self.device.clone(),
            mask_special_attention: self.mask_special_attention,
        }
    }

    /// Where each SAE's store goes: `out` for one SAE; for several, `out/NAME` named after
    /// each SAE ([`sae_store_name`]; `NAME-2`, `NAME-3`, … when names repeat).
    pub fn store_dirs(&self, out: &Path, saes: &[Sae]) -> Vec<PathBuf> {
        if saes.len() == 1 {
            return vec![out.to_path_buf()];
        }
        let mut seen = std::collections::HashMap::<String, usize>::new();
        saes.iter()
            .map(|s| {
                let name = sae_store_name(s);
                let n = seen.entry(name.clone()).or_insert(0);
                *n += 1;
                match *n {
                    1 => out.join(name),
                    n => out.join(format!("{name}-{n}")),
                }
            })
            .collect()
    }
}

/// The name of an SAE's store folder in a run over several SAEs: the SAE's folder or file name
/// (the folder's name for a file with a generic name such as `sae_weights.safetensors`,
/// `ae.pt` or `params.npz`), else its hook.
pub fn sae_store_name(sae: &Sae) -> String {
    store_name_of_path(&sae.meta.path).unwrap_or_else(|| sae.hook().to_string())
}

/// [`sae_store_name`] from the SAE's path alone (`None` where the hook would be used).
pub fn store_name_of_path(p: &Path) -> Option<String> {
    const GENERIC: [&str; 6] = ["sae_weights", "ae", "params", "cfg", "config", "sae"];
    let stem = if p.is_dir() {
        p.file_name()
    } else {
        match p.file_stem() {
            Some(s) if GENERIC.contains(&s.to_string_lossy().as_ref()) => {
                p.parent().and_then(Path::file_name)
            }
            other => other,
        }
    };
    stem.map(|s| s.to_string_lossy().to_string())
        .filter(|s| !s.is_empty() && s != "." && s != "..")
}

/// Refuses to write a run into `out` over the output of a different run there (unless
/// `force`): a `collect-run.json` with other arguments beside that run's state, checkpoint or
/// store, or, for a single SAE, the store folders of a run over several SAEs.
fn check_out_is_free(run: &CollectRun, out: &Path, single: bool, force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    let run_file = out.join(RUN_FILE);
    // A run that failed before writing anything left only its arguments: nothing to lose.
    let has_output = [STATE_FILE, CHECKPOINT_FILE, "store.json"]
        .iter()
        .any(|f| out.join(f).exists());
    if let Some(text) = std::fs::read_to_string(&run_file)
        .ok()
        .filter(|_| has_output)
    {
        let old: Option<CollectRun> = serde_json::from_str(&text).ok();
        if old.as_ref() != Some(run) {
            bail!(
                "{} already holds the output of another collect run ({}): choose another --out \
                 or pass --force to replace it",
                out.display(),
                run_file.display()
            );
        }
    }
    if single {
        if let Ok(entries) = std::fs::read_dir(out) {
            for e in entries.flatten() {
                if e.path().join("store.json").exists() {
                    bail!(
                        "{} holds the stores of a run over several SAEs ({} is one): choose \
                         another --out or pass --force",
                        out.display(),
                        e.path().display()
                    );
                }
            }
        }
    }
    Ok(())
}

/// Runs (or, with `opts.resume`, continues) a collection into `out` and writes its stores.
pub fn collect(
    run: &CollectRun,
    out: &Path,
    opts: RunOptions,
    progress: &dyn Progress,
) -> Result<Vec<WrittenStore>> {
    for f in &run.corpus {
        if !f.exists() {
            bail!("corpus file {} does not exist", f.display());
        }
    }
    let model = run.model_spec().load()?;
    let saes = load_saes(&run.saes, model.net.device())?;
    let ckpt = out.join(CHECKPOINT_FILE);
    let resume = if opts.resume && ckpt.exists() {
        let old: CollectRun =
            serde_json::from_str(&std::fs::read_to_string(out.join(RUN_FILE)).unwrap_or_default())
                .context("--resume: the folder has a checkpoint but no collect-run.json")?;
        if &old != run {
            bail!("--resume: {} was started with other arguments ({:?}); rerun with those or without --resume", out.display(), old);
        }
        Some(CollectState::load(&ckpt)?)
    } else {
        if opts.resume {
            progress.note(&format!(
                "no checkpoint in {}: starting from the beginning",
                out.display()
            ));
        }
        check_out_is_free(run, out, saes.len() == 1, opts.force)?;
        for (d, s) in run.store_dirs(out, &saes).iter().zip(&saes) {
            let meta_path = d.join("store.json");
            if meta_path.exists() && !opts.force {
                let old: Option<super::StoreMeta> = std::fs::read_to_string(&meta_path)
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok());
                let same = |recorded: &str, given: &str| {
                    crate::fsutil::same_place(&crate::fsutil::resolve_recorded(d, recorded), given)
                };
                let same_store = old.is_some_and(|m| {
                    m.hook == s.hook().to_string()
                        && same(&m.sae, &s.meta.path.display().to_string())
                        && same(&m.model, &run.model)
                });
                if !same_store {
                    bail!("{} already holds a store of another model or SAE: choose another --out or pass --force", d.display());
                }
            }
        }
        None
    };
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    crate::fsutil::write_atomic(
        &out.join(RUN_FILE),
        serde_json::to_string_pretty(run)?.as_bytes(),
    )?;
    let cfg = run.config();
    let corpus = run.corpus();
    if let Some(m) = run.max_tokens {
        progress.set_len(m);
    }
    let fp = fingerprint(&run.model, &saes, &corpus, &cfg);
    let state = collect_state(
        &model,
        &saes,
        &corpus,
        &cfg,
        fp,
        resume,
        Some(Checkpointing {
            path: &ckpt,
            every_docs: opts.checkpoint_every.max(1),
        }),
        &mut |n| progress.set_pos(n),
    )?;
    let written = write_stores(run, out, &model, &saes, state)?;
    let _ = std::fs::remove_file(&ckpt);
    Ok(written)
}

/// Adds up the final states of `collect --shard i/n` runs into the stores one run would give.
pub fn merge(inputs: &[PathBuf], out: &Path, progress: &dyn Progress) -> Result<Vec<WrittenStore>> {
    if inputs.len() < 2 {
        bail!("give at least two store folders to merge");
    }
    let mut runs = vec![];
    for i in inputs {
        let p = i.join(RUN_FILE);
        let r: CollectRun = serde_json::from_str(
            &std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?,
        )
        .with_context(|| format!("{} is not valid", p.display()))?;
        runs.push(r);
    }
    let mut base = runs[0].clone();
    base.shard = None;
    for (r, i) in runs.iter().zip(inputs) {
        let mut x = r.clone();
        x.shard = None;
        if x != base {
            bail!(
                "{} was collected with other arguments than {}",
                i.display(),
                inputs[0].display()
            );
        }
    }
    let mut shards: Vec<(u64, u64)> = runs.iter().filter_map(|r| r.shard).collect();
    shards.sort_unstable();
    shards.dedup();
    if shards.len() != runs.len() {
        bail!("each input must be a different --shard of the same run");
    }
    // Every shard of the run, or the merged store silently misses documents.
    if let Some(&(_, n)) = shards.first() {
        let missing: Vec<String> = (0..n)
            .filter(|i| !shards.contains(&(*i, n)))
            .map(|i| format!("{i}/{n}"))
            .collect();
        if shards.iter().any(|s| s.1 != n) {
            bail!(
                "the inputs were collected with different shard counts (--shard i/n with other n)"
            );
        }
        if !missing.is_empty() {
            bail!(
                "shard {} of the run is missing: merge all {n} shards",
                missing.join(", ")
            );
        }
    }
    let cfg = base.config();
    let mut state: Option<CollectState> = None;
    for i in inputs {
        let s = CollectState::load(&i.join(STATE_FILE))?;
        match &mut state {
            None => state = Some(s),
            Some(acc) => acc.merge(s, &cfg)?,
        }
    }
    let state = state.expect("two inputs");
    let model = base.model_spec().load()?;
    let saes = load_saes(&base.saes, model.net.device())?;
    let n = shards.first().map_or(0, |s| s.1);
    if shards.len() as u64 != n {
        progress.note(&format!("note: merging {} of {n} shards", shards.len()));
    }
    write_stores(&base, out, &model, &saes, state)
}

/// Writes the stores of a finished state, and the state itself (for `merge-stores`).
fn write_stores(
    run: &CollectRun,
    out: &Path,
    model: &Model,
    saes: &[Sae],
    state: CollectState,
) -> Result<Vec<WrittenStore>> {
    let cfg = run.config();
    let corpus = run.corpus();
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    state.save(&out.join(STATE_FILE))?;
    crate::fsutil::write_atomic(
        &out.join(RUN_FILE),
        serde_json::to_string_pretty(run)?.as_bytes(),
    )?;
    let report = state.corpus_report();
    let contexts = state.contexts;
    let results = finish_state(model, saes, &cfg, state)?;
    let mut written = vec![];
    for ((r, s), d) in results.iter().zip(saes).zip(run.store_dirs(out, saes)) {
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        let m = meta(
            &d, &run.model, s, &corpus, &cfg, &report, contexts, r.tokens,
        );
        Store::write(&d, &m, &r.features, &r.examples)?;
        written.push(WrittenStore {
            hook: s.hook().to_string(),
            latents: r.features.len(),
            examples: r.examples.len(),
            tokens: r.tokens,
            dir: d,
        });
    }
    Ok(written)
}
