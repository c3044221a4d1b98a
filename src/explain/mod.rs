//! Automated explanations and simulation scores through an OpenAI-compatible
//! chat-completions endpoint (vLLM, llama.cpp server, Ollama, OpenAI).
//!
//! * explain: the explainer sees a latent's top-activating and quantile-sampled examples, one
//!   token per line with its activation scaled to 0–10 (the neuron-explainer convention), and
//!   answers with a short explanation and safety-domain tags.
//! * score: the simulator reads the explanation and predicts, for held-out examples, either an
//!   activation 0–10 per token or (Safe-SAIL's segment level) 0/1 per segment; the score is the
//!   Pearson correlation between prediction and truth over all units. A failed or unparsable
//!   reply gives no score, never 0.

use crate::domains::SAFETY_DOMAINS;
use crate::store::ExampleRow;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::time::Duration;

/// The version of the prompts, recorded with every explanation and score.
pub const PROMPT_VERSION: &str = "safe-sail-explorer/2";

/// A chat-completions client with retries (429 / 5xx / network errors, exponential backoff),
/// an optional on-disk response cache (a rerun costs nothing) and a token tally.
pub struct LlmClient {
    agent: ureq::Agent,
    url: String,
    model: String,
    api_key: Option<String>,
    cache: Option<std::path::PathBuf>,
    retries: u32,
    /// Prompt and completion tokens the server reported, over calls that were not cached.
    pub prompt_tokens: std::sync::atomic::AtomicU64,
    pub completion_tokens: std::sync::atomic::AtomicU64,
    /// Calls answered from the cache.
    pub cached: std::sync::atomic::AtomicU64,
}

impl LlmClient {
    /// `endpoint` is the API base, e.g. `http://localhost:8000/v1`.
    pub fn new(endpoint: &str, model: &str, api_key: Option<String>) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(180)))
            .build()
            .into();
        Self {
            agent,
            url: format!("{}/chat/completions", endpoint.trim_end_matches('/')),
            model: model.into(),
            api_key,
            cache: None,
            retries: 3,
            prompt_tokens: Default::default(),
            completion_tokens: Default::default(),
            cached: Default::default(),
        }
    }

    /// Keeps replies in `dir`, keyed by model and messages.
    pub fn with_cache(mut self, dir: &std::path::Path) -> Self {
        self.cache = Some(dir.to_path_buf());
        self
    }

    fn cache_file(&self, body: &Value) -> Option<std::path::PathBuf> {
        let dir = self.cache.as_ref()?;
        let text = body.to_string();
        let h = text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100000001b3)
        });
        Some(dir.join(format!("{h:016x}.json")))
    }

    /// Sends messages (role, content) and returns the reply text.
    pub fn chat(&self, messages: &[(&str, String)]) -> Result<String> {
        Ok(self.chat_with_usage(messages)?.0)
    }

    /// Like [`LlmClient::chat`], with what the call cost (also for replies from the cache,
    /// whose stored body keeps the server's usage).
    pub fn chat_with_usage(&self, messages: &[(&str, String)]) -> Result<(String, Usage)> {
        let chars: u64 = messages.iter().map(|(_, c)| c.chars().count() as u64).sum();
        let usage = |v: &Value, reply: &str| {
            let u = |k: &str| {
                v.pointer(&format!("/usage/{k}"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            };
            Usage {
                prompt_tokens: u("prompt_tokens"),
                completion_tokens: u("completion_tokens"),
                chars: chars + reply.chars().count() as u64,
            }
        };
        let body = json!({
            "model": self.model,
            "temperature": 0.0,
            "messages": messages.iter().map(|(r, c)| json!({"role": r, "content": c})).collect::<Vec<_>>(),
        });
        let cache = self.cache_file(&body);
        if let Some(Ok(text)) = cache.as_ref().map(std::fs::read_to_string) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                if let Some(c) = v
                    .pointer("/choices/0/message/content")
                    .and_then(Value::as_str)
                {
                    self.cached
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Ok((c.to_string(), usage(&v, c)));
                }
            }
        }
        let mut attempt = 0;
        let v: Value = loop {
            let mut req = self.agent.post(&self.url);
            if let Some(k) = &self.api_key {
                req = req.header("Authorization", format!("Bearer {k}"));
            }
            let r = req.send_json(&body);
            let retryable = match &r {
                Err(ureq::Error::StatusCode(code)) => *code == 429 || *code >= 500,
                Err(ureq::Error::Io(_)) | Err(ureq::Error::Timeout(_)) => true,
                _ => false,
            };
            match r {
                Ok(mut resp) => {
                    break resp
                        .body_mut()
                        .read_json()
                        .map_err(|e| anyhow!("{}: the reply is not JSON ({e})", self.url))?;
                }
                Err(e) if retryable && attempt < self.retries => {
                    attempt += 1;
                    tracing::warn!("{}: {e}; retry {attempt} of {}", self.url, self.retries);
                    std::thread::sleep(Duration::from_millis(250 * (1 << attempt)));
                }
                Err(e) => bail!("{}: {e}", self.url),
            }
        };
        let used = usage(&v, "");
        self.prompt_tokens
            .fetch_add(used.prompt_tokens, std::sync::atomic::Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(used.completion_tokens, std::sync::atomic::Ordering::Relaxed);
        if let Some(f) = &cache {
            if let Some(dir) = f.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = crate::fsutil::write_atomic(f, v.to_string().as_bytes());
        }
        let reply = v
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("{}: the reply has no choices[0].message.content", self.url))?;
        Ok((reply.to_string(), usage(&v, reply)))
    }
}

/// What calls cost: the tokens the server reported and the characters sent and received (a
/// server-independent measure, for servers that report no usage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub chars: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, o: Usage) {
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.chars += o.chars;
    }
}

impl Usage {
    /// Tokens when the server reported any, else characters.
    pub fn cost(&self) -> (u64, &'static str) {
        match self.prompt_tokens + self.completion_tokens {
            0 => (self.chars, "characters"),
            t => (t, "tokens"),
        }
    }
}

/// Top and quantile-sampled examples split by parity: the explainer gets the even positions
/// (ranks 0, 2, 4, … of each kind), the simulator the odd ones, so both halves span the same
/// activations (a split by rank would leave the simulator only the weaker tail).
fn by_parity<'a>(
    ex: &'a [ExampleRow],
    kind: &'a str,
    odd: bool,
) -> impl Iterator<Item = &'a ExampleRow> {
    ex.iter()
        .filter(move |e| e.kind == kind)
        .skip(usize::from(odd))
        .step_by(2)
}

/// The examples the explainer sees: up to `n` even-ranked top examples and `n / 2`
/// even-positioned quantile-sampled ones.
pub fn explainer_examples(ex: &[ExampleRow], n: usize) -> Vec<ExampleRow> {
    by_parity(ex, "top", false)
        .take(n)
        .chain(by_parity(ex, "quantile", false).take(n / 2))
        .cloned()
        .collect()
}

/// The held-out examples a latent is scored on, and how many of each kind: odd-ranked top
/// examples (half of `n`), odd-positioned quantile-sampled ones spread over the bins to fill
/// `n`, neither ever shown to the explainer (see [`explainer_examples`]), then
/// `non_activating` contexts where the latent does not fire at all (see [`NonActivatingPool`]).
pub fn held_out_examples(
    ex: &[ExampleRow],
    n: usize,
    non_activating: Vec<ExampleRow>,
) -> (Vec<ExampleRow>, Value) {
    let mut held: Vec<ExampleRow> = by_parity(ex, "top", true)
        .take(n.div_ceil(2))
        .cloned()
        .collect();
    let top = held.len();
    let quantile: Vec<&ExampleRow> = by_parity(ex, "quantile", true).collect();
    let q = quantile.len().min(n - top);
    held.extend((0..q).map(|i| quantile[i * quantile.len() / q.max(1)].clone()));
    let z = non_activating.len();
    held.extend(non_activating);
    (
        held,
        json!({"top_odd_ranks": top, "quantile_odd_positions": q, "non_activating": z}),
    )
}

/// Contexts from a feature store with every latent's largest activation on them, to find
/// held-out examples on which a latent does not fire (truth: all zeros).
pub struct NonActivatingPool {
    rows: Vec<ExampleRow>,
    /// `[context][latent]` largest activation over the context.
    max: Vec<Vec<f32>>,
}

impl NonActivatingPool {
    /// Runs `model` + `sae` over up to `n` distinct example contexts of `ex_pool` (one forward
    /// pass per batch, stopping at the SAE's layer).
    pub fn build(
        model: &crate::model::Model,
        sae: &crate::sae::Sae,
        ex_pool: &[ExampleRow],
        n: usize,
    ) -> Result<Self> {
        let mut seen = std::collections::HashSet::new();
        let rows: Vec<ExampleRow> = ex_pool
            .iter()
            .filter(|e| !e.token_ids.is_empty() && seen.insert((e.doc, e.offset)))
            .take(n)
            .cloned()
            .collect();
        let hook = sae.hook();
        let mut max = Vec::with_capacity(rows.len());
        for batch in rows.chunks(16) {
            let seqs: Vec<Vec<u32>> = batch.iter().map(|e| e.token_ids.clone()).collect();
            let mut cap = crate::capture::Capture::new([hook]);
            model.run_batch(
                &seqs,
                0,
                &mut cap,
                crate::model::ForwardOpts {
                    stop_after_layer: Some(hook.layer),
                },
            )?;
            let acts = &cap.acts[&hook];
            for (i, s) in seqs.iter().enumerate() {
                let x = acts.get(i)?.narrow(0, 0, s.len())?;
                let f = sae.encode(&x)?.max(0)?;
                max.push(crate::tensor_util::to_vec_f32(&f)?);
            }
        }
        Ok(Self { rows, max })
    }

    /// Up to `n` contexts (chosen by a hash of the latent, so reruns agree) where `latent` never
    /// fires, with zero activations.
    pub fn pick(&self, latent: u32, n: usize) -> Vec<ExampleRow> {
        let len = self.rows.len().max(1);
        let start = (latent as usize).wrapping_mul(2654435761) % len;
        (0..self.rows.len())
            .map(|i| (start + i) % len)
            .filter(|&i| self.max[i].get(latent as usize).is_some_and(|m| *m <= 0.0))
            .take(n)
            .map(|i| {
                let mut e = self.rows[i].clone();
                e.latent = latent;
                e.kind = "non-activating".into();
                e.acts = vec![0.0; e.tokens.len()];
                e.max_act = 0.0;
                e
            })
            .collect()
    }

    /// Number of contexts in the pool.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Activations scaled to integers 0–10 by the latent's max.
pub fn scale10(acts: &[f32], max: f32) -> Vec<u32> {
    acts.iter()
        .map(|a| ((a.max(0.0) / max.max(1e-12)) * 10.0).floor().min(10.0) as u32)
        .collect()
}

fn example_block(e: &ExampleRow, max: f32) -> String {
    let mut s = String::from("<start>\n");
    for (t, a) in e.tokens.iter().zip(scale10(&e.acts, max)) {
        if t.is_empty() {
            continue;
        }
        s.push_str(&format!(
            "{}\t{a}\n",
            t.replace('\n', "\\n").replace('\t', "\\t")
        ));
    }
    s.push_str("<end>\n");
    s
}

/// The explainer's messages for one latent.
pub fn explain_messages(
    examples: &[ExampleRow],
    max: f32,
    n: usize,
) -> Vec<(&'static str, String)> {
    let system = "We study neurons (sparse autoencoder latents) of a language model for AI safety. Each neuron looks for \
                  something in text. You see text excerpts, one token per line, each with the neuron's activation scaled \
                  from 0 (none) to 10 (strongest). Explain in one or two sentences what the neuron detects. Then say which \
                  safety domains it concerns, among: pornography, politics, violence, terror (none if unrelated). Answer \
                  with JSON only: {\"explanation\": \"...\", \"tags\": [\"...\"]}.";
    let mut user = String::from("Neuron activations:\n");
    for e in examples.iter().take(n) {
        user.push_str(&example_block(e, max));
    }
    user.push_str("Answer with the JSON object only.");
    vec![("system", system.to_string()), ("user", user)]
}

/// The first JSON object inside a reply (models often wrap it in prose or code fences).
fn json_in(reply: &str) -> Option<Value> {
    let start = reply.find('{')?;
    let end = reply.rfind('}')?;
    serde_json::from_str(&reply[start..=end]).ok()
}

/// Parses an explainer reply into (explanation, tags ⊂ the four domains).
pub fn parse_explanation(reply: &str) -> Result<(String, Vec<String>)> {
    let v = json_in(reply)
        .ok_or_else(|| anyhow!("the explainer did not answer with JSON: {reply:?}"))?;
    let expl = v
        .get("explanation")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let expl = expl.ok_or_else(|| anyhow!("the explainer's JSON has no explanation: {reply:?}"))?;
    let tags = v
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|t| t.trim().to_lowercase())
                .filter(|t| SAFETY_DOMAINS.contains(&t.as_str()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut dedup = vec![];
    for t in tags {
        if !dedup.contains(&t) {
            dedup.push(t);
        }
    }
    Ok((expl.to_string(), dedup))
}

/// The offline baseline explainer (no LLM): the tokens a latent fires on most, from its top
/// examples. Clearly labeled as a baseline wherever it is stored.
pub fn baseline_explanation(examples: &[ExampleRow]) -> Option<String> {
    let mut weight: std::collections::HashMap<String, f32> = std::collections::HashMap::new();
    for e in examples.iter().filter(|e| e.kind == "top") {
        for (t, a) in e.tokens.iter().zip(&e.acts) {
            let t = t.trim();
            if *a > 0.0 && !t.is_empty() {
                *weight.entry(t.to_string()).or_default() += a / e.max_act.max(1e-12);
            }
        }
    }
    if weight.is_empty() {
        return None;
    }
    let mut w: Vec<(String, f32)> = weight.into_iter().collect();
    w.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let top: Vec<String> = w.iter().take(6).map(|(t, _)| format!("\"{t}\"")).collect();
    Some(format!(
        "[baseline, no LLM] Fires most on the tokens {} in its top examples.",
        top.join(", ")
    ))
}

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
    let scale = match unit {
        Unit::Token => "an integer from 0 (none) to 10 (strongest)",
        Unit::Segment => "1 if the neuron fires anywhere in the segment, else 0",
    };
    let listing: String = units
        .iter()
        .enumerate()
        .map(|(i, u)| format!("{i}\t{}\n", u.replace('\n', "\\n")))
        .collect();
    vec![
        (
            "system",
            format!(
                "You predict a language-model neuron's activations from its explanation. For each numbered {what} give {scale}. \
                 Answer with JSON only: {{\"predictions\": [numbers, one per {what}, in order]}}."
            ),
        ),
        ("user", format!("Explanation of the neuron: {explanation}\n\n{what}s:\n{listing}")),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tokens: &[&str], acts: &[f32]) -> ExampleRow {
        ExampleRow {
            latent: 0,
            kind: "top".into(),
            bin: 0,
            rank: 0,
            doc: 0,
            offset: 0,
            token_ids: vec![],
            tokens: tokens.iter().map(|s| s.to_string()).collect(),
            acts: acts.to_vec(),
            max_act: acts.iter().copied().fold(0.0, f32::max),
        }
    }

    #[test]
    fn keyword_simulator_predicts_units_with_quoted_terms() {
        let e = row(
            &["The", " bomb", " went", " off", ".", " 爆炸"],
            &[0.0, 5.0, 1.0, 0.0, 0.0, 4.0],
        );
        let expl = "Fires on \"bomb\" and 「爆炸」 in attack reports.";
        assert_eq!(quoted_terms(expl), vec!["bomb", "爆炸"]);
        let (truth, pred, _) = keyword_simulate(expl, &e, 5.0, Unit::Token).unwrap();
        assert_eq!(truth, vec![0.0, 10.0, 2.0, 0.0, 0.0, 8.0]);
        assert_eq!(pred, vec![0.0, 10.0, 0.0, 0.0, 0.0, 10.0]);
        let (truth, pred, _) = keyword_simulate(expl, &e, 5.0, Unit::Segment).unwrap();
        assert_eq!((truth, pred), (vec![1.0, 1.0], vec![1.0, 1.0]));
        assert!(keyword_simulate("no quotes", &e, 5.0, Unit::Token).is_err());
    }

    #[test]
    fn scaling_parsing_segments_and_correlation() {
        assert_eq!(scale10(&[0.0, 0.5, 1.0, 2.0, -1.0], 1.0), [0, 5, 10, 10, 0]);
        let (e, t) = parse_explanation("Sure!\n```json\n{\"explanation\": \" Insults \", \"tags\": [\"Violence\", \"weather\", \"violence\"]}\n```").unwrap();
        assert_eq!((e.as_str(), t), ("Insults", vec!["violence".to_string()]));
        assert!(parse_explanation("no json here").is_err());
        let toks: Vec<String> = ["Oh", " no", "!", " I", " am", " tired", ".", " ok"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(segments(&toks), vec![0..3, 3..7, 7..8]);
        // Safe-SAIL's figure: truth [1,0,1,1], simulated [1,0,1,0] → 0.577.
        let r = pearson(&[1.0, 0.0, 1.0, 1.0], &[1.0, 0.0, 1.0, 0.0]).unwrap();
        assert!((r - 0.5773).abs() < 1e-3, "{r}");
        assert_eq!(pearson(&[1.0, 1.0], &[0.0, 1.0]), None);
    }

    #[test]
    fn baseline_names_the_strongest_tokens() {
        let ex = row;
        let e = baseline_explanation(&[
            ex(&[" the", " bomb", " exploded"], &[0.0, 4.0, 1.0]),
            ex(&[" a", " bomb"], &[0.0, 2.0]),
        ])
        .unwrap();
        assert!(
            e.starts_with("[baseline, no LLM]") && e.find("\"bomb\"") < e.find("\"exploded\""),
            "{e}"
        );
        assert!(!e.contains("\"the\""));
        assert_eq!(baseline_explanation(&[ex(&["x"], &[0.0])]), None);
    }
}
