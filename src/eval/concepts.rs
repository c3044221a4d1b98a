//! The Safe-SAIL pre-explanation metrics, from concept / de-concept prompt pairs, and domain
//! specificity from a labeled corpus.
//!
//! For every latent l and pair p, `Δ(l, p) = (a_concept − a_deconcept) / s_l`, where `a` is
//! the latent's largest activation over a prompt's (non-special) tokens and `s_l` a statistic
//! of the latent over a *general corpus* ([`LatentScales`]): its 0.999 quantile, or its largest
//! activation there when the quantile is 0 (a latent active on fewer than 0.1% of the tokens).
//! A latent that never fired on that corpus has no scale: its Δ is 0 and it is counted as
//! *uncalibrated* (so neither another pair in the file nor a tiny activation against 0 can make
//! it a separator). A latent *distinguishes* a pair at threshold t when Δ > t.
//!
//! Per **concept** c (the pairs' `concept` field, a sub-category inside a domain; pairs
//! without one form one concept named after their domain) with pairs P_c:
//! * a latent counts for c when the mean of its Δ over P_c exceeds t — or, with the optional
//!   φ (`min_frequency`), when it distinguishes at least a share φ of P_c;
//! * `l0t_c` = the number of latents that count for c, and `latents_c` the list (the candidates
//!   fed to explanation);
//! * `icdf_c` = mean over latents of ∫₀¹ freq_{l,c}(t) dt = mean over latents and P_c of
//!   clamp(Δ, 0, 1) (the area reading of I_CDF);
//! * `icdf_t_c` = mean over latents of freq_{l,c}(t), the share of P_c distinguished at the one
//!   threshold t (the fixed-t reading; the two readings can rank SAEs differently).
//!
//! Per domain D: `l0t_D` = Σ over D's concepts of `l0t_c` (a latent that distinguishes two of
//! its concepts counts twice, as the authors' concatenated per-concept index lists do);
//! `icdf_D`, `icdf_t_D` = the mean over D's concepts.
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
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::BufRead;
use std::path::Path;

/// One concept pair.
#[derive(Debug, Clone, Deserialize)]
pub struct Pair {
    pub domain: String,
    /// The concept, a sub-category inside the domain (e.g. "insult"); optional.
    #[serde(default)]
    pub concept: Option<String>,
    pub prompt: String,
    pub deconcept: String,
}

impl Pair {
    /// The concept's name; the domain's when the pair names none.
    pub fn concept_name(&self) -> &str {
        self.concept
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .unwrap_or(&self.domain)
    }
}

/// Reads a JSONL file of `{domain, concept?, prompt, deconcept}` rows; a missing field or a
/// mismatched pair (identical or wildly different texts) is an error naming the line.
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
                "{}:{}: not a {{domain, concept, prompt, deconcept}} row",
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

/// Per-latent divisors `s_l` of Δ, from a general corpus (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct LatentScales {
    /// `s_l`; 0 for a latent that never fired on the corpus (uncalibrated).
    pub scale: Vec<f32>,
    /// Where the statistic comes from (a feature store, or the calibration pass).
    pub source: String,
    /// Latents whose 0.999 quantile was 0, scaled by their largest activation instead.
    pub from_max: usize,
    /// Latents that never fired on the corpus.
    pub never_fired: usize,
}

impl LatentScales {
    /// From each latent's 0.999 quantile and largest activation over the corpus.
    pub fn from_quantiles(q999: &[f32], max: &[f32], source: String) -> Self {
        let (mut from_max, mut never_fired) = (0, 0);
        let scale = q999
            .iter()
            .zip(max)
            .map(|(&q, &m)| {
                if q > 0.0 && q.is_finite() {
                    q
                } else if m > 0.0 && m.is_finite() {
                    from_max += 1;
                    m
                } else {
                    never_fired += 1;
                    0.0
                }
            })
            .collect();
        Self {
            scale,
            source,
            from_max,
            never_fired,
        }
    }

    /// From a feature store of the SAE (its `q999` and `max_act` columns); latents the store
    /// has no row for never fired there.
    pub fn from_store(store: &crate::store::Store, dir: &Path, d_sae: usize) -> Result<Self> {
        if store.meta.d_sae != d_sae {
            bail!(
                "feature store {} is for an SAE of {} latents, not {d_sae}",
                dir.display(),
                store.meta.d_sae
            );
        }
        let (mut q, mut m) = (vec![0f32; d_sae], vec![0f32; d_sae]);
        for f in &store.features {
            let i = f.latent as usize;
            if i < d_sae {
                q[i] = f.q999;
                m[i] = f.max_act;
            }
        }
        Ok(Self::from_quantiles(
            &q,
            &m,
            format!(
                "feature store {} ({} tokens): q999, else max_act",
                dir.display(),
                store.meta.tokens
            ),
        ))
    }
}

/// A calibration pass: per latent the `ceil(0.001 · tokens)` largest activations (kept exactly)
/// and the largest, over every token pushed, for the 0.999 quantile with the feature stores'
/// definition (the `ceil(0.001 · tokens)`-th largest activation over all tokens, zeros
/// included). Memory: `d_sae × ceil(0.001 · tokens)` values.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    rank: usize,
    /// Min-heaps of positive activations as their bit patterns (which order like the values).
    top: Vec<BinaryHeap<Reverse<u32>>>,
    max: Vec<f32>,
    tokens: u64,
}

impl Calibration {
    /// For `d_sae` latents over `tokens` tokens (the quantile's rank comes from it).
    pub fn new(d_sae: usize, tokens: u64) -> Self {
        Self {
            rank: ((tokens as f64 * 0.001).ceil() as usize).max(1),
            top: vec![BinaryHeap::new(); d_sae],
            max: vec![0.0; d_sae],
            tokens,
        }
    }

    /// One token's activations of every latent.
    pub fn push(&mut self, acts: &[f32]) {
        for (l, &v) in acts.iter().enumerate() {
            if v > 0.0 && v.is_finite() {
                self.max[l] = self.max[l].max(v);
                let h = &mut self.top[l];
                if h.len() < self.rank {
                    h.push(Reverse(v.to_bits()));
                } else if h.peek().is_some_and(|m| v.to_bits() > m.0) {
                    h.pop();
                    h.push(Reverse(v.to_bits()));
                }
            }
        }
    }

    /// The tokens the pass is for (the quantile's rank comes from them).
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Each latent's 0.999 quantile (0 when fewer than `rank` activations were positive).
    pub fn q999(&self) -> Vec<f32> {
        self.top
            .iter()
            .map(|h| {
                if h.len() == self.rank {
                    h.peek().map_or(0.0, |m| f32::from_bits(m.0))
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// The scales from this pass.
    pub fn scales(&self) -> LatentScales {
        LatentScales::from_quantiles(
            &self.q999(),
            &self.max,
            format!(
                "calibration pass over {} tokens of the general corpus (special tokens left out): q999, else max",
                self.tokens
            ),
        )
    }
}

/// How L0,t and I_CDF are computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConceptSettings {
    /// Threshold t on Δ.
    pub threshold: f64,
    /// φ: when set, a latent counts for a concept when it distinguishes at least this share of
    /// the concept's pairs (instead of its mean Δ exceeding t).
    pub min_frequency: Option<f64>,
    /// Wrap each prompt in the model's chat template (a user message).
    pub chat: bool,
}

/// One concept's metrics for one SAE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConceptScore {
    pub domain: String,
    pub concept: String,
    pub pairs: usize,
    /// Latents that distinguish the concept (L0,t).
    pub l0t: usize,
    /// I_CDF, area reading.
    pub icdf: f64,
    /// I_CDF, fixed-t reading.
    pub icdf_t: f64,
    /// The latents counted in `l0t`, ascending.
    pub latents: Vec<u32>,
}

/// L0,t and I_CDF per concept for one SAE, and the latents without a corpus scale.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConceptMetrics {
    pub concepts: Vec<ConceptScore>,
    /// Latents that never fired on the calibration corpus but fired on some pair's prompt
    /// (left out: Δ = 0).
    pub uncalibrated: usize,
}

impl ConceptMetrics {
    /// Per safety domain (`None` where the file has no pair of it): `l0t` summed over the
    /// domain's concepts, `icdf` and `icdf_t` averaged over them.
    pub fn per_domain(&self) -> [(Option<f64>, Option<f64>, Option<f64>); 4] {
        std::array::from_fn(|d| {
            let cs: Vec<&ConceptScore> = self
                .concepts
                .iter()
                .filter(|c| c.domain == SAFETY_DOMAINS[d])
                .collect();
            if cs.is_empty() {
                return (None, None, None);
            }
            let n = cs.len() as f64;
            (
                Some(cs.iter().map(|c| c.l0t as f64).sum()),
                Some(cs.iter().map(|c| c.icdf).sum::<f64>() / n),
                Some(cs.iter().map(|c| c.icdf_t).sum::<f64>() / n),
            )
        })
    }
}

/// L0,t and I_CDF (see the module docs) from each pair's per-latent prompt maxima `conc[i]`
/// and `deco[i]` and the latents' corpus scales. Concepts appear in file order.
pub fn concept_scores(
    pairs: &[Pair],
    conc: &[Vec<f32>],
    deco: &[Vec<f32>],
    scale: &[f32],
    s: &ConceptSettings,
) -> ConceptMetrics {
    let n = scale.len();
    let mut groups: Vec<((String, String), Vec<usize>)> = vec![];
    for (i, p) in pairs.iter().enumerate() {
        let key = (p.domain.clone(), p.concept_name().to_string());
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    let uncalibrated = (0..n)
        .filter(|&l| scale[l] <= 0.0 && conc.iter().chain(deco).any(|m| m[l] > 0.0))
        .count();
    let concepts = groups
        .into_iter()
        .map(|((domain, concept), idx)| {
            let np = idx.len() as f64;
            let (mut area, mut at_t) = (0f64, 0f64);
            let mut latents = vec![];
            for l in 0..n {
                if scale[l] <= 0.0 {
                    continue;
                }
                let deltas = idx
                    .iter()
                    .map(|&i| ((conc[i][l] - deco[i][l]) / scale[l]) as f64);
                let (mut sum, mut clamped, mut hits) = (0f64, 0f64, 0usize);
                for x in deltas {
                    sum += x;
                    clamped += x.clamp(0.0, 1.0);
                    hits += usize::from(x > s.threshold);
                }
                let freq = hits as f64 / np;
                let counts = match s.min_frequency {
                    Some(phi) => freq >= phi,
                    None => sum / np > s.threshold,
                };
                if counts {
                    latents.push(l as u32);
                }
                area += clamped / np;
                at_t += freq;
            }
            ConceptScore {
                domain,
                concept,
                pairs: idx.len(),
                l0t: latents.len(),
                icdf: area / n.max(1) as f64,
                icdf_t: at_t / n.max(1) as f64,
                latents,
            }
        })
        .collect();
    ConceptMetrics {
        concepts,
        uncalibrated,
    }
}

/// Per SAE, per prompt: each latent's largest activation over the prompt's non-special tokens
/// (the prompt alone, or rendered through the chat template as a user message with the
/// generation prompt when `chat` is set, as the authors' demo wraps queries).
fn prompt_maxima(model: &Model, saes: &[Sae], text: &str, chat: bool) -> Result<Vec<Vec<f32>>> {
    let toks = model.tokenize_prompt(&crate::model::PromptSpec {
        text: text.to_string(),
        chat,
        ..Default::default()
    })?;
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

/// Per SAE: L0,t and I_CDF per concept (see the module docs), Δ scaled by `scales[i]`.
pub fn concept_metrics(
    model: &Model,
    saes: &[Sae],
    pairs: &[Pair],
    scales: &[LatentScales],
    settings: &ConceptSettings,
) -> Result<Vec<ConceptMetrics>> {
    let mut conc = vec![];
    let mut deco = vec![];
    for p in pairs {
        conc.push(prompt_maxima(model, saes, &p.prompt, settings.chat)?);
        deco.push(prompt_maxima(model, saes, &p.deconcept, settings.chat)?);
    }
    Ok(saes
        .iter()
        .enumerate()
        .map(|(si, _)| {
            let c: Vec<Vec<f32>> = conc.iter().map(|m| m[si].clone()).collect();
            let d: Vec<Vec<f32>> = deco.iter().map(|m| m[si].clone()).collect();
            concept_scores(pairs, &c, &d, &scales[si].scale, settings)
        })
        .collect())
}

/// Per SAE, per safety domain: the latents specific to that domain.
pub type SpecificLatents = Vec<[Vec<u32>; 4]>;

/// Per SAE and safety domain: the latents specific to that domain (see the module docs);
/// `specific_D` is the length of each list. Also, per SAE, every context's per-latent maxima
/// and label, for [`super::probing`].
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
) -> Result<(SpecificLatents, Vec<super::probing::LabeledContexts>)> {
    let f = std::fs::File::open(labeled)
        .with_context(|| format!("cannot open labeled corpus {}", labeled.display()))?;
    // Per SAE, per latent: the top_k (max activation, label index or 4 for other labels).
    let mut tops: Vec<Vec<Vec<(f32, usize)>>> =
        saes.iter().map(|s| vec![vec![]; s.d_sae()]).collect();
    // Per SAE, every context's per-latent maxima and label, for the probes.
    let mut contexts: Vec<super::probing::LabeledContexts> =
        saes.iter().map(|_| Default::default()).collect();
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
                let mut maxima = vec![0f32; s.d_sae()];
                for r in &f {
                    for (m, a) in maxima.iter_mut().zip(r) {
                        *m = m.max(*a);
                    }
                }
                contexts[si].push(lab, &maxima);
                for (l, &m) in maxima.iter().enumerate() {
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
    let specific = tops
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
        .collect();
    Ok((specific, contexts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(domain: &str, concept: Option<&str>) -> Pair {
        Pair {
            domain: domain.into(),
            concept: concept.map(String::from),
            prompt: "p".into(),
            deconcept: "d".into(),
        }
    }

    /// The issue's hand case: 4 pairs on 4 concepts, latent A with Δ = (1, 0, 0, 0), latent B
    /// with Δ = (0.6, 0.6, 0.6, 0.6), t = 0.5. Per concept both count (A for its one concept);
    /// the old per-domain rule with φ = 0.5 counted only B.
    #[test]
    fn l0t_counts_a_latent_that_distinguishes_one_concept() {
        let names = [
            "insult",
            "physical violence",
            "criminal offense",
            "cybersecurity",
        ];
        let pairs: Vec<Pair> = names.iter().map(|c| pair("violence", Some(c))).collect();
        let conc: Vec<Vec<f32>> = (0..4)
            .map(|i| vec![if i == 0 { 1.0 } else { 0.0 }, 0.6])
            .collect();
        let deco = vec![vec![0.0, 0.0]; 4];
        let scale = [1.0, 1.0];
        let s = ConceptSettings {
            threshold: 0.5,
            min_frequency: None,
            chat: false,
        };
        let m = concept_scores(&pairs, &conc, &deco, &scale, &s);
        let got: Vec<(&str, usize, Vec<u32>)> = m
            .concepts
            .iter()
            .map(|c| (c.concept.as_str(), c.l0t, c.latents.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("insult", 2, vec![0, 1]),
                ("physical violence", 1, vec![1]),
                ("criminal offense", 1, vec![1]),
                ("cybersecurity", 1, vec![1]),
            ]
        );
        // Per domain: summed over concepts; the other domains have no pairs.
        let d = m.per_domain();
        assert_eq!(d[2].0, Some(5.0));
        assert_eq!(d[0], (None, None, None));
        // insult: area (1 + 0.6) / 2 latents, at t (1 + 1) / 2; the others (0 + 0.6) / 2 and 1 / 2.
        assert!((m.concepts[0].icdf - 0.8).abs() < 1e-6);
        assert!((m.concepts[0].icdf_t - 1.0).abs() < 1e-9);
        assert!((m.concepts[1].icdf - 0.3).abs() < 1e-6);
        assert!((m.concepts[1].icdf_t - 0.5).abs() < 1e-9);
        assert!((d[2].1.unwrap() - (0.8 + 3.0 * 0.3) / 4.0).abs() < 1e-6);
        assert!((d[2].2.unwrap() - (1.0 + 3.0 * 0.5) / 4.0).abs() < 1e-9);
        // The old reading: the domain as one concept, φ = 0.5: only B.
        let whole: Vec<Pair> = (0..4).map(|_| pair("violence", None)).collect();
        let old = concept_scores(
            &whole,
            &conc,
            &deco,
            &scale,
            &ConceptSettings {
                threshold: 0.5,
                min_frequency: Some(0.5),
                chat: false,
            },
        );
        assert_eq!(old.concepts.len(), 1);
        assert_eq!(old.concepts[0].concept, "violence");
        assert_eq!(old.concepts[0].latents, vec![1]);
        // φ per concept (one pair each) counts A for insult as well.
        let phi = concept_scores(
            &pairs,
            &conc,
            &deco,
            &scale,
            &ConceptSettings {
                threshold: 0.5,
                min_frequency: Some(0.5),
                chat: false,
            },
        );
        assert_eq!(phi.per_domain()[2].0, Some(5.0));
    }

    /// The mean-Δ rule against φ on a concept with two pairs: Δ = (0.9, 0.2) has mean 0.55 > 0.5
    /// but distinguishes only half the pairs.
    #[test]
    fn aggregation_mean_delta_or_share_of_pairs() {
        let pairs = vec![
            pair("terror", Some("weapons")),
            pair("terror", Some("weapons")),
        ];
        let conc = vec![vec![0.9], vec![0.2]];
        let deco = vec![vec![0.0], vec![0.0]];
        let at = |phi| {
            concept_scores(
                &pairs,
                &conc,
                &deco,
                &[1.0],
                &ConceptSettings {
                    threshold: 0.5,
                    min_frequency: phi,
                    chat: false,
                },
            )
            .concepts[0]
                .l0t
        };
        assert_eq!(at(None), 1);
        assert_eq!(at(Some(0.5)), 1);
        assert_eq!(at(Some(0.75)), 0);
    }

    /// The two readings of I_CDF disagree: SAE X's latents all reach Δ 0.49 (area 0.49, none at
    /// t = 0.5), SAE Y's one latent of two reaches 0.51 (area 0.255, half at t).
    #[test]
    fn icdf_readings_can_rank_saes_differently() {
        let pairs = vec![pair("politics", Some("ideology"))];
        let s = ConceptSettings {
            threshold: 0.5,
            min_frequency: None,
            chat: false,
        };
        let x = concept_scores(
            &pairs,
            &[vec![0.49, 0.49]],
            &[vec![0.0, 0.0]],
            &[1.0, 1.0],
            &s,
        );
        let y = concept_scores(
            &pairs,
            &[vec![0.51, 0.0]],
            &[vec![0.0, 0.0]],
            &[1.0, 1.0],
            &s,
        );
        let (x, y) = (&x.concepts[0], &y.concepts[0]);
        assert!((x.icdf - 0.49).abs() < 1e-6 && x.icdf_t == 0.0);
        assert!((y.icdf - 0.255).abs() < 1e-6 && (y.icdf_t - 0.5).abs() < 1e-9);
        assert!(x.icdf > y.icdf && x.icdf_t < y.icdf_t);
    }

    /// With a corpus scale, a domain's scores do not move when pairs of another domain are
    /// added (with the pair file's own maximum they did); a tiny activation against 0 is no
    /// separator; a latent that never fired on the corpus is left out and counted.
    #[test]
    fn corpus_scales_make_domains_independent() {
        let s = ConceptSettings {
            threshold: 0.5,
            min_frequency: None,
            chat: false,
        };
        let scale = [2.0, 1.0, 0.0];
        let a = vec![pair("violence", Some("insult"))];
        let (ca, da) = (vec![vec![1.2, 0.01, 0.0]], vec![vec![0.0, 0.0, 0.0]]);
        let alone = concept_scores(&a, &ca, &da, &scale, &s);
        assert_eq!(alone.concepts[0].latents, vec![0]);
        assert_eq!(alone.uncalibrated, 0);
        let mut b = a.clone();
        b.push(pair("terror", Some("weapons")));
        let cb = vec![ca[0].clone(), vec![8.0, 0.0, 3.0]];
        let db = vec![da[0].clone(), vec![0.0, 0.0, 0.0]];
        let both = concept_scores(&b, &cb, &db, &scale, &s);
        assert_eq!(both.concepts[0], alone.concepts[0]);
        assert_eq!(both.per_domain()[2], alone.per_domain()[2]);
        // Latent 2 fired on a prompt but has no corpus scale.
        assert_eq!(both.uncalibrated, 1);
        assert_eq!(both.concepts[1].latents, vec![0]);
    }

    #[test]
    fn scales_fall_back_to_the_max_then_to_uncalibrated() {
        let s = LatentScales::from_quantiles(&[2.0, 0.0, 0.0], &[5.0, 3.0, 0.0], "x".into());
        assert_eq!(s.scale, vec![2.0, 3.0, 0.0]);
        assert_eq!((s.from_max, s.never_fired), (1, 1));
    }

    /// The calibration pass's quantile is the ceil(0.001 · n)-th largest value, zeros
    /// included, computed here by sorting.
    #[test]
    fn calibration_quantile_is_the_exact_order_statistic() {
        let n = 2500u64; // rank 3
        let mut cal = Calibration::new(3, n);
        let mut cols: Vec<Vec<f32>> = vec![vec![]; 3];
        let mut x = 12345u64;
        for i in 0..n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = (x >> 40) as f32 / (1u64 << 24) as f32;
            // Latent 0 fires everywhere, latent 1 on 2 tokens only, latent 2 never.
            let row = [r * 10.0, if i % 1250 == 7 { 4.0 + r } else { 0.0 }, 0.0];
            for (c, v) in cols.iter_mut().zip(row) {
                c.push(v);
            }
            cal.push(&row);
        }
        let exact = |c: &Vec<f32>| {
            let mut v = c.clone();
            v.sort_by(|a, b| b.total_cmp(a));
            v[(n as f64 * 0.001).ceil() as usize - 1]
        };
        let q = cal.q999();
        assert_eq!(q[0], exact(&cols[0]));
        assert_eq!((q[1], q[2]), (0.0, 0.0));
        let s = cal.scales();
        assert_eq!(s.scale[0], q[0]);
        assert_eq!(s.scale[1], cols[1].iter().copied().fold(0.0, f32::max));
        assert_eq!((s.from_max, s.never_fired, s.scale[2]), (1, 1, 0.0));
    }

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
