//! `make-corpus`, `demo` and `gui`: the bundled sample and the window.

use anyhow::{bail, Context, Result};
use safe_sail::sample::corpus;
use std::path::{Path, PathBuf};

pub fn make_corpus(out: &Path, docs: usize, seed: u64, pairs: usize) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let cfg = corpus::CorpusConfig {
        seed,
        docs,
        ..Default::default()
    };
    let d = corpus::generate(&cfg);
    let bytes = corpus::write_jsonl(&d, &out.join("corpus.jsonl"))
        .with_context(|| format!("cannot write {}", out.join("corpus.jsonl").display()))?;
    let p = corpus::concept_pairs(seed, pairs);
    corpus::write_jsonl(&p, &out.join("concept_pairs.jsonl"))
        .with_context(|| format!("cannot write {}", out.join("concept_pairs.jsonl").display()))?;
    println!(
        "{} documents ({bytes} bytes) and {} concept pairs in {}",
        d.len(),
        p.len(),
        out.display()
    );
    Ok(())
}

pub fn demo() -> Result<()> {
    print!("{}", safe_sail::sample::demo::demo()?);
    Ok(())
}

pub fn gui(workspace: Option<PathBuf>) -> Result<()> {
    if let Some(w) = &workspace {
        if !w.exists() {
            bail!("workspace {} does not exist", w.display());
        }
    }
    safe_sail::app::run(workspace)
}
