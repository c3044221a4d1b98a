//! `make-corpus`, `demo` and `gui`: the bundled sample and the window.

use anyhow::{bail, Context, Result};
use safe_sail::sample::corpus;
use std::path::{Path, PathBuf};

pub fn make_corpus(
    out: &Path,
    docs: usize,
    seed: u64,
    pairs: usize,
    real_text: Option<&Path>,
    heldout_style_docs: usize,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let cfg = corpus::CorpusConfig {
        seed,
        docs,
        ..Default::default()
    };
    let generated = corpus::generate(&cfg);
    let mut style = corpus::generate_heldout_style(&cfg, heldout_style_docs);
    let d = match real_text {
        Some(root) => {
            let (mixed, held, sources) = corpus::with_real_text(generated, root, seed)?;
            let n = style.len() as u64;
            style.extend(held.into_iter().map(|mut h| {
                h.id += n;
                h
            }));
            let path = out.join("sources.json");
            safe_sail::fsutil::write_atomic(
                &path,
                serde_json::to_string_pretty(&sources)?.as_bytes(),
            )
            .with_context(|| format!("cannot write {}", path.display()))?;
            for s in &sources {
                println!(
                    "  {:<24} {:>6} of {:>6} documents, {:>9} characters{}",
                    s.name,
                    s.docs,
                    s.candidates,
                    s.chars,
                    if s.held_out { " (held out)" } else { "" }
                );
            }
            mixed
        }
        None => generated,
    };
    let bytes = corpus::write_jsonl(&d, &out.join("corpus.jsonl"))
        .with_context(|| format!("cannot write {}", out.join("corpus.jsonl").display()))?;
    let p = corpus::concept_pairs(seed, pairs);
    corpus::write_jsonl(&p, &out.join("concept_pairs.jsonl"))
        .with_context(|| format!("cannot write {}", out.join("concept_pairs.jsonl").display()))?;
    corpus::write_jsonl(&style, &out.join("heldout_style.jsonl"))
        .with_context(|| format!("cannot write {}", out.join("heldout_style.jsonl").display()))?;
    println!(
        "{} documents ({bytes} bytes), {} concept pairs and {} held-out style documents in {}",
        d.len(),
        p.len(),
        style.len(),
        out.display()
    );
    Ok(())
}

pub fn demo() -> Result<()> {
    print!("{}", safe_sail::sample::demo::demo()?);
    Ok(())
}

pub fn gui(workspace: Option<PathBuf>, size: Option<String>) -> Result<()> {
    if let Some(w) = &workspace {
        if !w.exists() {
            bail!("workspace {} does not exist", w.display());
        }
    }
    let size = size.as_deref().map(parse_window_size).transpose()?;
    safe_sail::app::run(workspace, size)
}

/// Reads `--size WIDTHxHEIGHT` (logical points, each 400–10000).
fn parse_window_size(s: &str) -> Result<[f32; 2]> {
    let bad =
        || anyhow::anyhow!("--size {s}: give the window's size as WIDTHxHEIGHT, e.g. 1920x1080");
    let (w, h) = s.split_once(['x', 'X', '×']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (
        w.trim().parse().map_err(|_| bad())?,
        h.trim().parse().map_err(|_| bad())?,
    );
    if !(400..=10_000).contains(&w) || !(400..=10_000).contains(&h) {
        bail!("--size {s}: width and height must each be 400 to 10000 points");
    }
    Ok([w as f32, h as f32])
}

#[cfg(test)]
mod tests {
    #[test]
    fn window_sizes_are_read_or_refused() {
        assert_eq!(
            super::parse_window_size("1920x1080").unwrap(),
            [1920.0, 1080.0]
        );
        assert_eq!(super::parse_window_size("800×600").unwrap(), [800.0, 600.0]);
        for bad in ["1920", "axb", "100x100", "1920x", "-5x600"] {
            assert!(super::parse_window_size(bad).is_err(), "{bad}");
        }
    }
}
