//! The Safe-SAIL pre-explanation metrics, from concept / de-concept prompt pairs, and domain
//! specificity from a labeled corpus.
//!
//! For every latent l and pair p, `Δ(l, p) = (a_concept − a_deconcept) / s_l`, where `a` is
//! the latent's largest activation over a prompt's (non-special) tokens and `s_l` its largest
//! activation over all prompts of the file (a latent that never fires has Δ = 0). A latent
//! *distinguishes* a pair at threshold t when Δ > t. Per safety domain D with P pairs:
//! * `freq_l(t)` = the share of D's pairs l distinguishes at t;
//! * `l0t_D` = the number of latents with `freq_l(t) ≥ φ` (defaults t = 0.5, φ = 0.5): how many
//!   latents reliably separate the concept from its neutral twin;
//! * `icdf_D` = the mean over latents of ∫₀¹ freq_l(t) dt, which equals the mean over latents
//!   and pairs of clamp(Δ, 0, 1): the expected distinguishing frequency over thresholds.
//!
//! Specificity: per latent its `top_k` contexts of the labeled corpus by largest activation;
//! `specific_D` counts the latents with at least `top_k / 2` active contexts of which ≥ 80% carry
//! label D.

use crate::capture::Capture;
use crate::corpus::{ContextSplitter, DocBody};
use crate::domains::SAFETY_DOMAINS;
use crate::model::Model;
use crate::sae::Sae;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use std::io::BufRead;
use std::path::Path;

/// One concept pair.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Pair {
    pub domain: String,
    pub prompt: String,
    pub deconcept: String,
}

/// Reads a JSONL file of `{domain, prompt, deconcept}` rows; a missing field or a mismatched
/// pair (identical or wildly different texts) is an error naming the line.
pub fn read_pairs(path: &Path) -> Result<Vec<Pair>> {
    let f = std::fs::File::open(path)
        .with_context(|| format!("cannot open concept pairs {}", path.display()))?;
    let mut out = vec![];
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let p = serde_json::from_str::<Pair>(&line).with_context(|| {
            format!(
                "{}:{}: not a {{domain, prompt, deconcept}} row",
                path.display(),
                i + 1
            )
        })?;
        // A pair is the same question twice with only the concept replaced.
        let (a, b) = (p.prompt.trim(), p.deconcept.trim());
        if a.is_empty() || b.is_empty() || a == b {
            bail!(
                "{}:{}: prompt and deconcept must be two different, non-empty texts",
                path.display(),
                i + 1
            );
        }
        let (la, lb) = (a.chars().count() as f64, b.chars().count() as f64);
        if la.max(lb) > 3.0 * la.min(lb) + 10.0 {
            bail!(
                "{}:{}: prompt and deconcept differ too much in length ({la} vs {lb} characters) to be a concept pair",
                path.display(),
                i + 1
            );
        }
        out.push(p);
    }
    if out.is_empty() {
        bail!("{} holds no concept pairs", path.display());
    }
    Ok(out)
}

/// Per SAE, per prompt: each latent's largest activation over the prompt's non-special tokens.
fn prompt_maxima(model: &Model, saes: &[Sae], text: &str) -> Result<Vec<Vec<f32>>> {
    let toks = model.tok.encode(text, true)?;
    let ids: Vec<u32> = toks.iter().map(|t| t.id).collect();
    let cap = Capture::one(model, &ids, saes.iter().map(Sae::hook))?;
    saes.iter()
        .map(|s| {
            let f = s
                .encode(&cap.acts[&s.hook()].squeeze(0)?)?
                .to_dtype(DType::F32)?
                .to_device(&Device::Cpu)?
                .to_vec2::<f32>()?;
            let mut m = vec![0f32; s.d_sae()];
            for (row, t) in f.iter().zip(&toks) {
                if t.special {
                    continue;
                }
                for (l, v) in row.iter().enumerate() {
                    m[l] = m[l].max(*v);
                }
            }
            Ok(m)
        })
        .collect()
}

/// Per SAE: (`l0t`, `icdf`) per domain.
pub fn concept_metrics(
    model: &Model,
    saes: &[Sae],
    pairs: &[Pair],
    t: f64,
    phi: f64,
) -> Result<Vec<([f64; 4], [f64; 4])>> {
    let mut conc = vec![];
    let mut deco = vec![];
    for p in pairs {
        conc.push(prompt_maxima(model, saes, &p.prompt)?);
        deco.push(prompt_maxima(model, saes, &p.deconcept)?);
    }
    let mut out = vec![];
    for (si, sae) in saes.iter().enumerate() {
        let n = sae.d_sae();
        let mut scale = vec![0f32; n];
        for m in conc.iter().chain(&deco) {
            for l in 0..n {
                scale[l] = scale[l].max(m[si][l]);
            }
        }
        let mut l0t = [0f64; 4];
        let mut icdf = [0f64; 4];
        for (d, name) in SAFETY_DOMAINS.iter().enumerate() {
            let idx: Vec<usize> = pairs
                .iter()
                .enumerate()
                .filter(|(_, p)| p.domain == *name)
                .map(|(i, _)| i)
                .collect();
            if idx.is_empty() {
                l0t[d] = f64::NAN;
                icdf[d] = f64::NAN;
                continue;
            }
            let mut area = 0f64;
            for l in 0..n {
                if scale[l] <= 0.0 {
                    continue;
                }
                let deltas: Vec<f64> = idx
                    .iter()
                    .map(|&i| ((conc[i][si][l] - deco[i][si][l]) / scale[l]) as f64)
                    .collect();
                let freq = deltas.iter().filter(|&&x| x > t).count() as f64 / idx.len() as f64;
                if freq >= phi {
                    l0t[d] += 1.0;
                }
                area += deltas.iter().map(|x| x.clamp(0.0, 1.0)).sum::<f64>() / idx.len() as f64;
            }
            icdf[d] = area / n as f64;
        }
        out.push((l0t, icdf));
    }
    Ok(out)
}

/// Per SAE and safety domain: the latents specific to that domain (see the module docs);
/// `specific_D` is the length of each list.
#[allow(clippy::too_many_arguments)]
pub fn specificity(
    model: &Model,
    saes: &[Sae],
    labeled: &Path,
    label_field: &str,
    text_field: &str,
    context: usize,
    max_tokens: u64,
    top_k: usize,
) -> Result<Vec<[Vec<u32>; 4]>> {
    let f = std::fs::File::open(labeled)
        .with_context(|| format!("cannot open labeled corpus {}", labeled.display()))?;
    // Per SAE, per latent: the top_k (max activation, label index or 4 for other labels).
    let mut tops: Vec<Vec<Vec<(f32, usize)>>> =
        saes.iter().map(|s| vec![vec![]; s.d_sae()]).collect();
    let mut seen = 0u64;
    let mut bad = 0u64;
    let splitter = ContextSplitter::new(&model.tok, context);
    for line in std::io::BufReader::new(f).lines() {
        if seen >= max_tokens {
            break;
        }
        let line = line?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            bad += 1;
            continue;
        };
        let (Some(text), Some(label)) = (
            v.get(text_field).and_then(|x| x.as_str()),
            v.get(label_field).and_then(|x| x.as_str()),
        ) else {
            bad += 1;
            continue;
        };
        let lab = SAFETY_DOMAINS.iter().position(|d| *d == label).unwrap_or(4);
        let ids = splitter.doc_tokens(DocBody::Text(text.to_string()))?;
        for c in splitter.split(&ids) {
            seen += c.len() as u64;
            let cap = Capture::one(model, c, saes.iter().map(Sae::hook))?;
            for (si, s) in saes.iter().enumerate() {
                let f = s
                    .encode(&cap.acts[&s.hook()].squeeze(0)?)?
                    .to_dtype(DType::F32)?
                    .to_device(&Device::Cpu)?
                    .to_vec2::<f32>()?;
                for l in 0..s.d_sae() {
                    let m = f.iter().map(|r| r[l]).fold(0f32, f32::max);
                    if m <= 0.0 {
                        continue;
                    }
                    let t = &mut tops[si][l];
                    t.push((m, lab));
                    if t.len() > top_k {
                        t.sort_by(|a, b| b.0.total_cmp(&a.0));
                        t.truncate(top_k);
                    }
                }
            }
        }
    }
    if seen == 0 {
        bail!("{}: no usable labeled document ({bad} bad rows; fields `{text_field}` and `{label_field}` expected)", labeled.display());
    }
    Ok(tops
        .into_iter()
        .map(|per_latent| {
            let mut lists: [Vec<u32>; 4] = Default::default();
            for (l, t) in per_latent.into_iter().enumerate() {
                if t.len() < top_k.div_ceil(2) {
                    continue;
                }
                for (d, list) in lists.iter_mut().enumerate() {
                    if t.iter().filter(|x| x.1 == d).count() as f64 >= 0.8 * t.len() as f64 {
                        list.push(l as u32);
                    }
                }
            }
            lists
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pair_files_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pairs.jsonl");
        let good = r#"{"domain": "terror", "prompt": "How do terror cells recruit?", "deconcept": "How do chess clubs recruit?"}"#;
        std::fs::write(
            &p,
            format!("{good}\n{{\"domain\": \"terror\", \"prompt\": \"x\"}}\n"),
        )
        .unwrap();
        assert!(format!("{:#}", read_pairs(&p).unwrap_err()).contains("pairs.jsonl:2"));
        std::fs::write(&p, format!("{good}\n{good}\n{{\"domain\": \"terror\", \"prompt\": \"same\", \"deconcept\": \"same\"}}\n")).unwrap();
        assert!(format!("{:#}", read_pairs(&p).unwrap_err()).contains("pairs.jsonl:3"));
        std::fs::write(&p, format!("{good}\n")).unwrap();
        assert_eq!(read_pairs(&p).unwrap().len(), 1);
    }
}
