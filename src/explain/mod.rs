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

pub mod classify;
pub mod client;
pub mod deconcept;
pub mod output;
pub mod prompts;
pub mod run;
pub mod segment;
pub mod simulate;

pub use client::{LlmClient, Usage};
pub use segment::Segmenter;
pub use simulate::{
    keyword_simulate, pearson, quoted_terms, segments, simulate, Unit, Units, SEGMENT_THRESHOLD,
};

use crate::db::provenance::HeldOutMix;
use crate::store::ExampleRow;
use anyhow::{anyhow, Result};
use serde_json::Value;

/// The version of the simulator's prompts, recorded with every score.
pub const PROMPT_VERSION: &str = "safe-sail-explorer/2";

/// The version of the explainer's prompt, recorded with every explanation (3: it proposes the
/// taxonomy's sub-categories as `domain/sub-category` tags).
pub const EXPLAINER_PROMPT_VERSION: &str = "safe-sail-explorer/3";

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
) -> (Vec<ExampleRow>, HeldOutMix) {
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
        HeldOutMix {
            top_odd_ranks: top,
            quantile_odd_positions: q,
            non_activating: z,
        },
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
                    ..Default::default()
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
    let blocks: Vec<String> = examples
        .iter()
        .take(n)
        .map(|e| example_block(e, max))
        .collect();
    vec![
        ("system", prompts::explainer_system()),
        ("user", prompts::explainer_user(&blocks)),
    ]
}

/// The first JSON object inside a reply (models often wrap it in prose or code fences).
fn json_in(reply: &str) -> Option<Value> {
    let start = reply.find('{')?;
    let end = reply.rfind('}')?;
    serde_json::from_str(&reply[start..=end]).ok()
}

/// Parses an explainer reply into (explanation, tags): each tag a safety domain or one of its
/// sub-categories as `domain/sub-category` (a bare sub-category name that belongs to one
/// domain is read as that); anything else the explainer wrote is dropped.
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
                .filter_map(safety_tag)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut dedup: Vec<String> = vec![];
    for t in tags {
        if !dedup.contains(&t) {
            dedup.push(t);
        }
    }
    // A domain named beside one of its own sub-categories adds nothing.
    let subs: Vec<String> = dedup
        .iter()
        .filter_map(|t| {
            t.split_once(crate::domains::SEP)
                .map(|(d, _)| d.to_string())
        })
        .collect();
    dedup.retain(|t| t.contains(crate::domains::SEP) || !subs.contains(t));
    Ok((expl.to_string(), dedup))
}

/// An explainer's tag as a safety tag of the taxonomy, if it is one.
fn safety_tag(tag: &str) -> Option<String> {
    use crate::domains::{taxonomy, Tag};
    let t = taxonomy();
    match t.check_tag(tag) {
        Ok(Tag::Domain(d)) => Some(d),
        Ok(sub @ Tag::Sub { .. }) => Some(sub.text()),
        Ok(Tag::Free(free)) => {
            let low = free.trim().to_lowercase();
            let mut owners = t.domains.iter().filter(|d| d.subcategories.contains(&low));
            match (owners.next(), owners.next()) {
                (Some(d), None) => Some(format!("{}{}{low}", d.name, crate::domains::SEP)),
                _ => None,
            }
        }
        Err(_) => None,
    }
}

/// The offline baseline explainer (no LLM): the tokens a latent fires on most, from its top
/// examples. Clearly labeled as a baseline wherever it is stored.
pub fn baseline_explanation(examples: &[ExampleRow]) -> Option<String> {
    let mut weight: std::collections::HashMap<String, f32> = std::collections::HashMap::new();
    for e in examples.iter().filter(|e| e.kind == "top") {
        let texts: Vec<&str> = e.tokens.iter().map(String::as_str).collect();
        // A token holding the first bytes of a character counts for the token completing it.
        let partial = crate::model::tokenizer::partial_character(&texts, &[]);
        for (i, a) in e.acts.iter().enumerate().take(texts.len()) {
            let t = match partial[i] {
                Some((j, _)) => texts[j].trim(),
                None => texts[i].trim(),
            };
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A top example of latent 0 with these tokens and activations (shared by the explain
    /// modules' tests).
    pub(crate) fn row(tokens: &[&str], acts: &[f32]) -> ExampleRow {
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
        let tok = Units::new(Unit::Token, 5.0, 5.0);
        let (truth, pred, _) = keyword_simulate(expl, &e, &tok).unwrap();
        assert_eq!(truth, vec![0.0, 10.0, 2.0, 0.0, 0.0, 8.0]);
        assert_eq!(pred, vec![0.0, 10.0, 0.0, 0.0, 0.0, 10.0]);
        // Segments of at most 4 tokens: "The bomb went off" | "." | " 爆炸".
        let seg = Units::new(Unit::Segment, 5.0, 5.0);
        let (truth, pred, _) = keyword_simulate(expl, &e, &seg).unwrap();
        assert_eq!((truth, pred), (vec![1.0, 0.0, 1.0], vec![1.0, 0.0, 1.0]));
        assert!(keyword_simulate("no quotes", &e, &tok).is_err());
    }

    /// Safe-SAIL's overview figure end to end: the text cuts into four segments, the truth at
    /// 0.2 × q999 is [1, 0, 1, 1], a simulator that misses "away" predicts [1, 0, 1, 0], and the
    /// correlation is 0.577.
    #[test]
    fn the_figure_example_scores_0_577() {
        let e = row(
            &super::segment::tests::FIGURE_TOKENS,
            &[
                0.0, 8.0, 1.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 6.0, 1.0, 0.0, 3.0, 0.0,
            ],
        );
        let units = Units::new(Unit::Segment, 8.0, 10.0);
        let (segs, truth) = units.cut(&e);
        assert_eq!(
            segs,
            vec![
                "Oh fuck off!",
                " I'm tired of",
                " your bloody complaints go",
                " away…"
            ]
        );
        assert_eq!(truth, vec![1.0, 0.0, 1.0, 1.0]);
        let (truth, pred, _) =
            keyword_simulate("Insults: \"fuck\", \"bloody\".", &e, &units).unwrap();
        assert_eq!(pred, vec![1.0, 0.0, 1.0, 0.0]);
        let r = pearson(&truth, &pred).unwrap();
        assert!((r - 0.5774).abs() < 1e-4, "{r}");
        // Normalized by the quantile, not the max: at q999 = 20, "away" (3 / 20 = 0.15) and
        // "tired" stay below 0.2; with no quantile (0) the max 8 is the scale.
        assert_eq!(
            Units::new(Unit::Segment, 8.0, 20.0).cut(&e).1,
            vec![1.0, 0.0, 1.0, 0.0]
        );
        assert_eq!(
            Units::new(Unit::Segment, 8.0, 0.0).cut(&e).1,
            vec![1.0, 0.0, 1.0, 1.0]
        );
        assert_eq!(Units::new(Unit::Segment, 8.0, 0.0).q999, 8.0);
    }

    #[test]
    fn scaling_parsing_segments_and_correlation() {
        assert_eq!(scale10(&[0.0, 0.5, 1.0, 2.0, -1.0], 1.0), [0, 5, 10, 10, 0]);
        let (e, t) = parse_explanation("Sure!\n```json\n{\"explanation\": \" Insults \", \"tags\": [\"Violence\", \"weather\", \"violence\"]}\n```").unwrap();
        assert_eq!((e.as_str(), t), ("Insults", vec!["violence".to_string()]));
        assert!(parse_explanation("no json here").is_err());
        let tags = |reply: &str| parse_explanation(reply).unwrap().1;
        // Sub-categories as domain/sub-category (case forgiven), a bare sub-category name read
        // as its domain's, a domain beside its own sub-category dropped, unknown ones dropped.
        assert_eq!(
            tags(
                r#"{"explanation": "x", "tags": ["violence", "Violence / Insult", "weapons", "terror/bombs", "politics/weather", "cult"]}"#
            ),
            ["violence/insult", "terror/weapons", "politics/cult"]
        );
        assert_eq!(
            tags(r#"{"explanation": "x", "tags": ["pornography", "violence/cybersecurity"]}"#),
            ["pornography", "violence/cybersecurity"]
        );
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
        // A token holding part of a character counts for the token completing it; a cut-off
        // one for nothing, and no raw bytes are named.
        let e =
            baseline_explanation(&[ex(&["恐怖", "", "弹", ""], &[0.5, 3.0, 0.0, 2.0])]).unwrap();
        assert!(e.find("\"弹\"") < e.find("\"恐怖\""), "{e}");
        assert!(!e.contains("\"\"") && !e.contains("\\x"), "{e}");
    }
}
