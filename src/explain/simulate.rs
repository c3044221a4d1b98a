//! Simulation scoring: cut an example into units (tokens, or Safe-SAIL's segments), have the
//! simulator (an LLM, or the offline keyword baseline) predict each unit from the explanation,
//! and correlate prediction with truth.

use super::{json_in, prompts, scale10, LlmClient, Usage};
use crate::store::ExampleRow;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

/// Splits a token sequence into segments at clause boundaries (punctuation, newlines).
pub fn segments(tokens: &[String]) -> Vec<std::ops::Range<usize>> {
    let mut out = vec![];
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        let ends = t.chars().any(|c| ".,;:!?。，；：！？\n".contains(c));
        if ends {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < tokens.len() {
        out.push(start..tokens.len());
    }
    out.retain(|r| !r.is_empty());
    out
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
    /// Safe-SAIL: 0/1 per segment (true label: the segment's max ≥ `segment_threshold` × max).
    Segment,
}

/// A segment counts as active when its largest activation reaches this share of the max.
pub const SEGMENT_THRESHOLD: f32 = 0.2;

/// An example cut into units (tokens or segments) with the true value of each: the token's
/// activation scaled 0–10, or 1 when the segment's max reaches [`SEGMENT_THRESHOLD`] × max.
fn units_and_truth(e: &ExampleRow, max: f32, unit: Unit) -> (Vec<String>, Vec<f64>) {
    match unit {
        Unit::Token => {
            let idx: Vec<usize> = (0..e.tokens.len())
                .filter(|&i| !e.tokens[i].is_empty())
                .collect();
            (
                idx.iter().map(|&i| e.tokens[i].clone()).collect(),
                idx.iter()
                    .map(|&i| scale10(&[e.acts[i]], max)[0] as f64)
                    .collect(),
            )
        }
        Unit::Segment => {
            let segs = segments(&e.tokens);
            (
                segs.iter().map(|r| e.tokens[r.clone()].concat()).collect(),
                segs.iter()
                    .map(|r| {
                        let m = e.acts[r.clone()].iter().copied().fold(0f32, f32::max);
                        f64::from(u8::from(m >= SEGMENT_THRESHOLD * max && m > 0.0))
                    })
                    .collect(),
            )
        }
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
    max: f32,
    unit: Unit,
) -> Result<(Vec<f64>, Vec<f64>, Usage)> {
    let terms: Vec<String> = quoted_terms(explanation)
        .into_iter()
        .map(|t| t.to_lowercase())
        .collect();
    if terms.is_empty() {
        bail!("the baseline simulator needs trigger words in quotes in the explanation");
    }
    let (units, truth) = units_and_truth(e, max, unit);
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
    max: f32,
    unit: Unit,
) -> Result<(Vec<f64>, Vec<f64>, Usage)> {
    let (units, truth) = units_and_truth(e, max, unit);
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
