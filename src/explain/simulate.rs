//! Simulation scoring: cut an example into units (tokens, or Safe-SAIL's segments), have the
//! simulator (an LLM, or the offline keyword baseline) predict each unit from the explanation,
//! and correlate prediction with truth.

use super::segment::Segmenter;
use super::{json_in, prompts, scale10, LlmClient, Usage};
use crate::store::ExampleRow;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

/// Splits a token sequence into segments with the default rules ([`Segmenter::default`]).
pub fn segments(tokens: &[String]) -> Vec<std::ops::Range<usize>> {
    Segmenter::default().segments(tokens)
}

/// Pearson correlation (None when either side is constant).
pub fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

/// How the simulator predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// One activation 0–10 per token.
    Token,
    /// Safe-SAIL: 0/1 per segment (see [`Units`]).
    Segment,
}

/// A segment is active when its largest activation reaches this share of the latent's 0.999
/// quantile (the default of `--segment-threshold`).
pub const SEGMENT_THRESHOLD: f32 = 0.2;

/// How examples become units and truths for one latent.
#[derive(Debug, Clone)]
pub struct Units {
    pub unit: Unit,
    /// The latent's largest activation: token truths are ⌊10 · a / max⌋, capped at 10.
    pub max: f32,
    /// The latent's 0.999 quantile over the store's corpus (its max when that is 0): a
    /// segment's truth is 1 when its largest activation ÷ this reaches `threshold`.
    pub q999: f32,
    pub threshold: f32,
    pub segmenter: Segmenter,
}

impl Units {
    /// Token units scaled by `max`, or segment units with the default rules, normalized by
    /// `q999` (falling back to `max` when it is 0) and [`SEGMENT_THRESHOLD`].
    pub fn new(unit: Unit, max: f32, q999: f32) -> Self {
        Self {
            unit,
            max,
            q999: if q999 > 0.0 { q999 } else { max },
            threshold: SEGMENT_THRESHOLD,
            segmenter: Segmenter::default(),
        }
    }

    /// An example cut into units with the true value of each: the token's activation scaled
    /// 0–10, or 1 when the segment's largest activation ÷ q999 reaches the threshold.
    pub fn cut(&self, e: &ExampleRow) -> (Vec<String>, Vec<f64>) {
        match self.unit {
            Unit::Token => {
                let idx: Vec<usize> = (0..e.tokens.len())
                    .filter(|&i| !e.tokens[i].is_empty())
                    .collect();
                (
                    idx.iter().map(|&i| e.tokens[i].clone()).collect(),
                    idx.iter()
                        .map(|&i| scale10(&[e.acts[i]], self.max)[0] as f64)
                        .collect(),
                )
            }
            Unit::Segment => {
                let segs = self.segmenter.segments(&e.tokens);
                (
                    segs.iter().map(|r| e.tokens[r.clone()].concat()).collect(),
                    segs.iter()
                        .map(|r| {
                            let m = e.acts[r.clone()].iter().copied().fold(0f32, f32::max);
                            let active = m > 0.0 && m >= self.threshold * self.q999;
                            f64::from(u8::from(active))
                        })
                        .collect(),
                )
            }
        }
    }

    /// How segments were cut and judged, for provenance (None for token units).
    pub fn describe(&self) -> Option<String> {
        (self.unit == Unit::Segment).then(|| {
            format!(
                "{}; active when max / q999 >= {}",
                self.segmenter.describe(),
                self.threshold
            )
        })
    }
}

/// The quoted trigger words of an explanation ("…", “…”, 「…」).
pub fn quoted_terms(explanation: &str) -> Vec<String> {
    let mut out = vec![];
    for (open, close) in [('"', '"'), ('“', '”'), ('「', '」')] {
        let mut rest = explanation;
        while let Some(a) = rest.find(open) {
            let after = &rest[a + open.len_utf8()..];
            let Some(b) = after.find(close) else { break };
            let term = after[..b].trim();
            if !term.is_empty() && !out.iter().any(|t| t == term) {
                out.push(term.to_string());
            }
            rest = &after[b + close.len_utf8()..];
        }
    }
    out
}

fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Token => "token",
        Unit::Segment => "segment",
    }
}

/// The simulator's messages for one example cut into `units`.
fn simulator_messages(
    explanation: &str,
    units: &[String],
    unit: Unit,
) -> Vec<(&'static str, String)> {
    let what = unit_name(unit);
    vec![
        ("system", prompts::simulator_system(what)),
        ("user", prompts::simulator_user(explanation, what, units)),
    ]
}

/// The offline baseline simulator (no LLM): predicts that a unit fires (10 for tokens, 1 for
/// segments) when it contains one of the explanation's quoted trigger words, or, for tokens,
/// when the token is part of such a word. Labeled as such wherever its scores are stored. Its
/// cost is what an LLM simulator would have been sent and answered, in characters (the prompt
/// [`simulate`] builds and the JSON of these predictions), so the two methods' costs compare.
pub fn keyword_simulate(
    explanation: &str,
    e: &ExampleRow,
    units: &Units,
) -> Result<(Vec<f64>, Vec<f64>, Usage)> {
    let unit = units.unit;
    let terms: Vec<String> = quoted_terms(explanation)
        .into_iter()
        .map(|t| t.to_lowercase())
        .collect();
    if terms.is_empty() {
        bail!("the baseline simulator needs trigger words in quotes in the explanation");
    }
    let (units, truth) = units.cut(e);
    let hit = if unit == Unit::Token { 10.0 } else { 1.0 };
    let pred = units
        .iter()
        .map(|u| {
            let u = u.trim().to_lowercase();
            let fires = terms.iter().any(|t| {
                u.contains(t.as_str())
                    || (unit == Unit::Token && u.chars().count() > 1 && t.contains(u.as_str()))
            });
            if fires {
                hit
            } else {
                0.0
            }
        })
        .collect::<Vec<f64>>();
    let messages = simulator_messages(explanation, &units, unit);
    let reply = json!({ "predictions": pred }).to_string();
    let chars = messages
        .iter()
        .map(|(_, c)| c.chars().count() as u64)
        .sum::<u64>()
        + reply.chars().count() as u64;
    Ok((
        truth,
        pred,
        Usage {
            chars,
            ..Default::default()
        },
    ))
}

/// Simulates one example with the explanation; returns (truth, prediction, cost) per unit.
pub fn simulate(
    client: &LlmClient,
    explanation: &str,
    e: &ExampleRow,
    spec: &Units,
) -> Result<(Vec<f64>, Vec<f64>, Usage)> {
    let unit = spec.unit;
    let (units, truth) = spec.cut(e);
    let what = unit_name(unit);
    let messages = simulator_messages(explanation, &units, unit);
    let (reply, used) = client.chat_with_usage(&messages)?;
    let v = json_in(&reply)
        .ok_or_else(|| anyhow!("the simulator did not answer with JSON: {reply:?}"))?;
    let preds: Vec<f64> = v
        .get("predictions")
        .and_then(Value::as_array)
        .context("the simulator's JSON has no predictions")?
        .iter()
        .map(|x| {
            x.as_f64()
                .ok_or_else(|| anyhow!("a prediction is not a number"))
        })
        .collect::<Result<_>>()?;
    if preds.len() != truth.len() {
        bail!(
            "the simulator gave {} predictions for {} {what}s",
            preds.len(),
            truth.len()
        );
    }
    Ok((truth, preds, used))
}
