//! Classification scores of an explanation (EleutherAI Delphi's detection and fuzzing): a
//! scorer LLM reads the explanation and judges, for each example, whether the whole example
//! (detection) or its highlighted tokens (fuzzing) match it; the judgements against the truth
//! give balanced accuracy, precision, recall and F1; with the server's log-probabilities,
//! [`roc_auc`] of the scorer's probability of "1". [`embedding_score`] ranks examples by the
//! cosine similarity of their embedding to the explanation's (AUC). A reply that cannot be
//! read, or a call that fails, gives no score (never a partial one).
//!
//! `safe-sail score --method detection|fuzzing|embedding` runs these over a latent's held-out
//! examples ([`detection_set`], [`fuzzing_set`]) and stores a
//! [`crate::db::provenance::MethodScore`].

use super::client::{LlmClient, Usage};
use crate::store::ExampleRow;
use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Counts of a binary classification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confusion {
    pub tp: usize,
    pub fp: usize,
    pub tn: usize,
    pub fn_: usize,
}

impl Confusion {
    /// Counts `pred` against `truth` (pairs beyond the shorter list are ignored).
    pub fn new(truth: &[bool], pred: &[bool]) -> Self {
        let mut c = Self::default();
        for (&t, &p) in truth.iter().zip(pred) {
            match (t, p) {
                (true, true) => c.tp += 1,
                (false, true) => c.fp += 1,
                (false, false) => c.tn += 1,
                (true, false) => c.fn_ += 1,
            }
        }
        c
    }

    fn ratio(a: usize, b: usize) -> Option<f64> {
        (b > 0).then(|| a as f64 / b as f64)
    }

    /// TP / (TP + FN); `None` without positives.
    pub fn recall(&self) -> Option<f64> {
        Self::ratio(self.tp, self.tp + self.fn_)
    }

    /// TN / (TN + FP); `None` without negatives.
    pub fn specificity(&self) -> Option<f64> {
        Self::ratio(self.tn, self.tn + self.fp)
    }

    /// TP / (TP + FP); `None` when nothing was predicted positive.
    pub fn precision(&self) -> Option<f64> {
        Self::ratio(self.tp, self.tp + self.fp)
    }

    /// (recall + specificity) / 2; `None` unless there are positives and negatives.
    pub fn balanced_accuracy(&self) -> Option<f64> {
        Some((self.recall()? + self.specificity()?) / 2.0)
    }

    /// 2·TP / (2·TP + FP + FN); `None` when there is nothing positive on either side.
    pub fn f1(&self) -> Option<f64> {
        Self::ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

/// The area under the ROC curve of `scores` for `labels` (the probability that a random
/// positive scores above a random negative, ties counting one half); `None` unless there are
/// positives and negatives, or when a score is not finite.
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Option<f64> {
    if labels.len() != scores.len() || scores.iter().any(|s| !s.is_finite()) {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Mann–Whitney U from average ranks (1-based) over tied groups.
    let mut rank = vec![0.0; scores.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            rank[k] = avg;
        }
        i = j + 1;
    }
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let sum: f64 = labels
        .iter()
        .zip(&rank)
        .filter(|(l, _)| **l)
        .map(|(_, r)| r)
        .sum();
    let u = sum - (pos * (pos + 1)) as f64 / 2.0;
    Some(u / (pos * neg) as f64)
}

/// Which judgement the scorer makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Whole examples: does this text activate the feature described?
    Detection,
    /// Highlighted tokens: are the marked tokens the ones the explanation describes?
    Fuzzing,
}

impl Method {
    /// The name in `--method` and in a score's provenance.
    pub fn name(self) -> &'static str {
        match self {
            Method::Detection => "detection",
            Method::Fuzzing => "fuzzing",
        }
    }
}

/// One example shown to the scorer: its tokens and, for fuzzing, which are highlighted.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub tokens: Vec<String>,
    pub highlighted: Vec<bool>,
}

impl Shown {
    /// The example as text; fuzzing marks highlighted tokens `<<like this>>`.
    pub fn text(&self, method: Method) -> String {
        let mut s = String::new();
        let mut open = false;
        for (i, t) in self.tokens.iter().enumerate() {
            let h = method == Method::Fuzzing && self.highlighted.get(i).copied().unwrap_or(false);
            if h && !open {
                s.push_str("<<");
                open = true;
            } else if !h && open {
                s.push_str(">>");
                open = false;
            }
            s.push_str(t);
        }
        if open {
            s.push_str(">>");
        }
        s.replace(['\n', '\t'], " ")
    }
}

/// The prompt version of the detection / fuzzing messages.
pub const CLASSIFY_PROMPT_VERSION: &str = "safe-sail-explorer/classify-1";

/// The chat messages asking the scorer to judge `examples` against `explanation`.
pub fn messages(
    method: Method,
    explanation: &str,
    examples: &[Shown],
) -> Vec<(&'static str, String)> {
    let task = match method {
        Method::Detection => {
            "You judge whether texts contain what a feature of a language model responds to. \
             For each numbered text, answer 1 if the feature described would activate on it, \
             else 0."
        }
        Method::Fuzzing => {
            "You judge whether the highlighted tokens (between << and >>) of each numbered text \
             are what a feature of a language model responds to. Answer 1 if the highlighted \
             tokens match the description, else 0."
        }
    };
    let system = format!(
        "{task} Reply with JSON only: {{\"judgements\": [one 0 or 1 per text, in order]}}."
    );
    let mut user = format!("Feature description: {explanation}\n\nTexts:\n");
    for (i, e) in examples.iter().enumerate() {
        user.push_str(&format!("{}\t{}\n", i + 1, e.text(method)));
    }
    vec![("system", system), ("user", user)]
}

/// Reads the judgements from a reply: the first JSON object with a `judgements` list (or a
/// bare list) of exactly `n` items, each 0, 1, true or false. Anything else is an error.
pub fn parse_judgements(reply: &str, n: usize) -> Result<Vec<bool>> {
    let list = reply
        .char_indices()
        .filter(|(_, c)| *c == '{' || *c == '[')
        .find_map(|(i, _)| {
            let mut it = serde_json::Deserializer::from_str(&reply[i..]).into_iter::<Value>();
            match it.next() {
                Some(Ok(Value::Object(o))) => o.get("judgements").cloned(),
                Some(Ok(v @ Value::Array(_))) => Some(v),
                _ => None,
            }
        })
        .context("the scorer's reply holds no {\"judgements\": [...]}")?;
    let items = list.as_array().context("`judgements` is not a list")?;
    if items.len() != n {
        bail!("the scorer judged {} texts, not {n}", items.len());
    }
    items
        .iter()
        .map(|v| match v {
            Value::Bool(b) => Ok(*b),
            Value::Number(x) if x.as_f64() == Some(1.0) => Ok(true),
            Value::Number(x) if x.as_f64() == Some(0.0) => Ok(false),
            other => bail!("judgement `{other}` is not 0 or 1"),
        })
        .collect()
}

/// A classification score.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassScore {
    pub method: Method,
    pub confusion: Confusion,
    pub balanced_accuracy: f64,
    pub f1: Option<f64>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    /// ROC AUC of the scorer's probability of "1" per example, when log-probs were asked for,
    /// given, and line up with the judgements.
    pub auc: Option<f64>,
    pub usage: Usage,
}

/// Asks the scorer to judge `examples` (`truth[i]`: example `i` is a true match) against
/// `explanation`, in one call through `client` (its cache and cost counters included). A
/// failed call, a reply that cannot be read, or examples that are all true or all false give
/// an error: no score.
pub fn score(
    client: &LlmClient,
    method: Method,
    explanation: &str,
    examples: &[Shown],
    truth: &[bool],
) -> Result<ClassScore> {
    score_with(client, method, explanation, examples, truth, false)
}

/// [`score`], asking for log-probabilities when `logprobs` (then [`ClassScore::auc`] is set
/// when the server's log-probs line up with the judgements; a missing AUC is not a failure).
pub fn score_with(
    client: &LlmClient,
    method: Method,
    explanation: &str,
    examples: &[Shown],
    truth: &[bool],
    logprobs: bool,
) -> Result<ClassScore> {
    if examples.len() != truth.len() {
        bail!(
            "{} examples but {} truth values",
            examples.len(),
            truth.len()
        );
    }
    if !truth.contains(&true) || !truth.contains(&false) {
        bail!("no score: the examples need matches and non-matches");
    }
    let msgs = messages(method, explanation, examples);
    let (reply, usage, lp) = if logprobs {
        client.chat_with_logprobs(&msgs)?
    } else {
        let (r, u) = client.chat_with_usage(&msgs)?;
        (r, u, None)
    };
    let pred = parse_judgements(&reply, examples.len()).context("no score")?;
    let auc = lp
        .as_ref()
        .and_then(|lp| judgement_probs(lp, examples.len()))
        .and_then(|p| roc_auc(truth, &p));
    from_judgements(method, truth, &pred, auc, usage)
}

/// The score of judgements `pred` against `truth`.
pub fn from_judgements(
    method: Method,
    truth: &[bool],
    pred: &[bool],
    auc: Option<f64>,
    usage: Usage,
) -> Result<ClassScore> {
    let c = Confusion::new(truth, pred);
    Ok(ClassScore {
        method,
        confusion: c,
        balanced_accuracy: c
            .balanced_accuracy()
            .context("no score: the examples need matches and non-matches")?,
        f1: c.f1(),
        precision: c.precision(),
        recall: c.recall(),
        auc,
        usage,
    })
}

/// The offline keyword judge (`--llm baseline`, no LLM): an example matches when its text
/// (detection) or its highlighted tokens (fuzzing) contain one of the explanation's quoted
/// terms, case-insensitively. An explanation without quoted terms cannot be judged (error).
pub fn keyword_judge(method: Method, explanation: &str, examples: &[Shown]) -> Result<Vec<bool>> {
    let terms: Vec<String> = super::quoted_terms(explanation)
        .into_iter()
        .map(|t| t.to_lowercase())
        .collect();
    if terms.is_empty() {
        bail!("no score: the explanation quotes no terms for the keyword judge");
    }
    Ok(examples
        .iter()
        .map(|e| {
            let text: String = match method {
                Method::Detection => e.tokens.concat(),
                Method::Fuzzing => e
                    .tokens
                    .iter()
                    .zip(&e.highlighted)
                    .filter(|(_, h)| **h)
                    .map(|(t, _)| t.as_str())
                    .collect(),
            }
            .to_lowercase();
            terms.iter().any(|t| text.contains(t.as_str()))
        })
        .collect())
}

/// The probability of "1" for each of the `n` judgements, from a reply's log-probs
/// (`{"content": [{"token", "logprob", "top_logprobs": [{"token", "logprob"}]}]}`): the tokens
/// after the first `[` whose text, stripped of brackets, commas and spaces, is `0` or `1`,
/// each giving P(1) / (P(0) + P(1)) from its top alternatives (the chosen token's own
/// probability when the other digit is not among them). `None` unless exactly `n` line up.
pub fn judgement_probs(logprobs: &Value, n: usize) -> Option<Vec<f64>> {
    let content = logprobs.get("content")?.as_array()?;
    let digit = |t: &str| -> Option<bool> {
        match t.trim_matches(|c: char| c.is_whitespace() || "[],{}".contains(c)) {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        }
    };
    let start = content.iter().position(|t| {
        t.get("token")
            .and_then(Value::as_str)
            .is_some_and(|s| s.contains('['))
    })?;
    let mut out = vec![];
    for (i, t) in content.iter().enumerate().skip(start) {
        let tok = t.get("token").and_then(Value::as_str)?;
        // `[1` may be one token; a bare `[` is only the start.
        let Some(chosen) = digit(tok) else {
            if i > start && tok.contains(']') {
                break;
            }
            continue;
        };
        let lp = t.get("logprob").and_then(Value::as_f64)?;
        let (mut p1, mut p0) = (None, None);
        for alt in t
            .get("top_logprobs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(at), Some(l)) = (
                alt.get("token").and_then(Value::as_str),
                alt.get("logprob").and_then(Value::as_f64),
            ) else {
                continue;
            };
            match digit(at) {
                Some(true) if p1.is_none() => p1 = Some(l.exp()),
                Some(false) if p0.is_none() => p0 = Some(l.exp()),
                _ => {}
            }
        }
        let p = lp.exp();
        let (p1, p0) = match (chosen, p1, p0) {
            (_, Some(a), Some(b)) => (a, b),
            (true, _, b) => (p, b.unwrap_or((1.0 - p).max(0.0))),
            (false, a, _) => (a.unwrap_or((1.0 - p).max(0.0)), p),
        };
        if p1 + p0 <= 0.0 {
            return None;
        }
        out.push(p1 / (p1 + p0));
        if tok.contains(']') {
            break;
        }
    }
    (out.len() == n).then_some(out)
}

/// Detection's examples from a latent's held-out set: each whole example, matching when the
/// latent fires anywhere on it (the top and quantile examples) and not matching when it fires
/// nowhere (the non-activating contexts). No token is highlighted.
pub fn detection_set(held: &[ExampleRow]) -> (Vec<Shown>, Vec<bool>) {
    held.iter()
        .map(|e| {
            (
                Shown {
                    tokens: e.tokens.clone(),
                    highlighted: vec![false; e.tokens.len()],
                },
                e.acts.iter().any(|a| *a > 0.0),
            )
        })
        .unzip()
}

/// Fuzzing's examples from a latent's held-out set (Delphi's): of the examples where the latent
/// fires, the 1st, 3rd, 5th… highlight the tokens it fires on (matching) and the 2nd, 4th…
/// as many tokens where it does not fire, chosen by a hash of `latent` and the position so
/// reruns agree (not matching). Examples with no such tokens, and non-activating contexts, are
/// left out.
pub fn fuzzing_set(held: &[ExampleRow], latent: u32) -> (Vec<Shown>, Vec<bool>) {
    let mut shown = vec![];
    let mut truth = vec![];
    let firing: Vec<&ExampleRow> = held
        .iter()
        .filter(|e| e.acts.iter().any(|a| *a > 0.0))
        .collect();
    for (i, e) in firing.iter().enumerate() {
        let on: Vec<bool> = (0..e.tokens.len())
            .map(|t| e.acts.get(t).is_some_and(|a| *a > 0.0))
            .collect();
        if i % 2 == 0 {
            shown.push(Shown {
                tokens: e.tokens.clone(),
                highlighted: on,
            });
            truth.push(true);
            continue;
        }
        let k = on.iter().filter(|x| **x).count();
        let mut off: Vec<usize> = (0..on.len())
            .filter(|&t| !on[t] && !e.tokens[t].trim().is_empty())
            .collect();
        if off.len() < k {
            continue;
        }
        // A deterministic shuffle: order by a hash of (latent, example, token).
        let h = |t: usize| {
            let x = ((latent as u64) << 40) ^ ((i as u64) << 20) ^ t as u64;
            x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31)
        };
        off.sort_by_key(|&t| h(t));
        let mut highlighted = vec![false; on.len()];
        for &t in &off[..k] {
            highlighted[t] = true;
        }
        shown.push(Shown {
            tokens: e.tokens.clone(),
            highlighted,
        });
        truth.push(false);
    }
    (shown, truth)
}

/// The cosine similarity of two vectors (0 when either is all zeros).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// The embedding query prefix, recorded as the embedding score's prompt version.
pub const EMBEDDING_PROMPT_VERSION: &str = "safe-sail-explorer/embedding-1";

/// Embedding scoring: `client` (an embedding model) embeds the explanation and each example's
/// text in one call; the score is the ROC AUC of the examples' cosine similarity to the
/// explanation, matching (`truth`) against not. Fails (no score) on a failed call, a reply of
/// the wrong shape, or examples that are all matching or all not; returns the similarities too.
pub fn embedding_score(
    client: &LlmClient,
    explanation: &str,
    examples: &[Shown],
    truth: &[bool],
) -> Result<(f64, Vec<f64>, Usage)> {
    if examples.len() != truth.len() {
        bail!(
            "{} examples but {} truth values",
            examples.len(),
            truth.len()
        );
    }
    if !truth.contains(&true) || !truth.contains(&false) {
        bail!("no score: the examples need matches and non-matches");
    }
    let mut texts = vec![explanation.to_string()];
    texts.extend(examples.iter().map(|e| e.text(Method::Detection)));
    let (emb, usage) = client.embed(&texts).context("no score")?;
    let dim = emb[0].len();
    if emb.iter().any(|e| e.len() != dim) {
        bail!("no score: the embeddings differ in length");
    }
    let sims: Vec<f64> = emb[1..].iter().map(|e| cosine(&emb[0], e)).collect();
    let auc = roc_auc(truth, &sims).context("no score: a similarity is not finite")?;
    Ok((auc, sims, usage))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::tests::row;

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("a value");
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn hand_computed_confusion_scores() {
        // truth: 4 positives, 6 negatives; pred: 3 of the positives, 1 negative.
        let truth = [
            true, true, true, true, false, false, false, false, false, false,
        ];
        let pred = [
            true, true, true, false, true, false, false, false, false, false,
        ];
        let c = Confusion::new(&truth, &pred);
        assert_eq!(
            c,
            Confusion {
                tp: 3,
                fp: 1,
                tn: 5,
                fn_: 1
            }
        );
        close(c.recall(), 0.75);
        close(c.specificity(), 5.0 / 6.0);
        close(c.balanced_accuracy(), (0.75 + 5.0 / 6.0) / 2.0);
        close(c.precision(), 0.75);
        close(c.f1(), 6.0 / 8.0);
        // All judged negative: precision undefined, F1 0, balanced accuracy 0.5.
        let c = Confusion::new(&truth, &[false; 10]);
        assert_eq!(c.precision(), None);
        close(c.f1(), 0.0);
        close(c.balanced_accuracy(), 0.5);
        assert_eq!(Confusion::new(&[true], &[true]).balanced_accuracy(), None);
    }

    #[test]
    fn hand_computed_auc() {
        close(
            roc_auc(&[true, true, false, false], &[0.9, 0.8, 0.3, 0.1]),
            1.0,
        );
        close(
            roc_auc(&[false, false, true, true], &[0.9, 0.8, 0.3, 0.1]),
            0.0,
        );
        // Pairs (pos, neg): (0.8,0.6)✓ (0.8,0.3)✓ (0.4,0.6)✗ (0.4,0.3)✓ → 3/4.
        close(
            roc_auc(&[true, false, true, false], &[0.8, 0.6, 0.4, 0.3]),
            0.75,
        );
        // A tie counts one half: (0.5,0.5)=½, (0.5,0.2)=1 → 0.75.
        close(roc_auc(&[true, false, false], &[0.5, 0.5, 0.2]), 0.75);
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), None);
        assert_eq!(roc_auc(&[true, false], &[f64::NAN, 0.2]), None);
    }

    #[test]
    fn detection_and_fuzzing_sets_from_held_out_examples() {
        let held = [
            row(&["a", " bomb", " here"], &[0.0, 3.0, 0.0]),
            row(&["the", " blast", " was", " loud"], &[0.0, 2.0, 1.0, 0.0]),
            row(&["x", " bomb"], &[0.0, 1.0]),
            row(&["calm", " day"], &[0.0, 0.0]),
        ];
        let (shown, truth) = detection_set(&held);
        assert_eq!(truth, [true, true, true, false]);
        assert!(shown.iter().all(|s| s.highlighted.iter().all(|h| !h)));
        let (shown, truth) = fuzzing_set(&held, 7);
        assert_eq!(
            truth,
            [true, false, true],
            "the non-firing context is left out"
        );
        assert_eq!(shown[0].text(Method::Fuzzing), "a<< bomb>> here");
        // Two tokens highlighted where the latent does not fire: "the" and " loud".
        assert_eq!(shown[1].highlighted, [true, false, false, true]);
        assert_eq!(fuzzing_set(&held, 7), (shown, truth), "reruns agree");
    }

    #[test]
    fn log_probs_line_up_with_judgements() {
        let t = |tok: &str, lp: f64, alts: &[(&str, f64)]| {
            serde_json::json!({"token": tok, "logprob": lp, "top_logprobs":
                alts.iter().map(|(a, l)| serde_json::json!({"token": a, "logprob": l})).collect::<Vec<_>>()})
        };
        let ln = f64::ln;
        let lp = serde_json::json!({"content": [
            t("{\"", 0.0, &[]), t("judgements", 0.0, &[]), t("\":", 0.0, &[]), t(" [", 0.0, &[]),
            t("1", ln(0.8), &[("1", ln(0.8)), ("0", ln(0.2))]), t(",", 0.0, &[]),
            t(" 0", ln(0.6), &[(" 0", ln(0.6)), (" 1", ln(0.3))]), t(",", 0.0, &[]),
            t(" 1", ln(0.9), &[]), t("]}", 0.0, &[]),
        ]});
        let p = judgement_probs(&lp, 3).unwrap();
        let want = [0.8, 1.0 / 3.0, 0.9];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{p:?}");
        }
        assert_eq!(
            judgement_probs(&lp, 2),
            None,
            "a count that does not line up"
        );
        assert_eq!(judgement_probs(&serde_json::json!({}), 3), None);
        // truth [1, 0, 0] ranked by [0.8, 0.33, 0.9]: one of two pairs right.
        close(roc_auc(&[true, false, false], &p), 0.5);
    }

    #[test]
    fn keyword_judge_reads_quoted_terms() {
        let ex = |t: &[&str], h: &[bool]| Shown {
            tokens: t.iter().map(|s| s.to_string()).collect(),
            highlighted: h.to_vec(),
        };
        let shown = [
            ex(&["a", " Bomb"], &[true, false]),
            ex(&["a", " cat"], &[false, true]),
        ];
        let expl = "Fires on \"bomb\".";
        assert_eq!(
            keyword_judge(Method::Detection, expl, &shown).unwrap(),
            [true, false]
        );
        assert_eq!(
            keyword_judge(Method::Fuzzing, expl, &shown).unwrap(),
            [false, false]
        );
        assert!(keyword_judge(Method::Detection, "no quotes", &shown).is_err());
    }

    #[test]
    fn cosine_similarity() {
        close(Some(cosine(&[1.0, 0.0], &[2.0, 0.0])), 1.0);
        close(Some(cosine(&[1.0, 0.0], &[0.0, 3.0])), 0.0);
        close(Some(cosine(&[1.0, 1.0], &[-1.0, -1.0])), -1.0);
        close(Some(cosine(&[0.0, 0.0], &[1.0, 0.0])), 0.0);
    }

    #[test]
    fn reads_judgements_and_refuses_malformed_ones() {
        assert_eq!(
            parse_judgements("Sure: {\"judgements\": [1, 0, true]}", 3).unwrap(),
            [true, false, true]
        );
        assert_eq!(parse_judgements("[0, 1]", 2).unwrap(), [false, true]);
        assert!(parse_judgements("{\"judgements\": [1, 0]}", 3).is_err());
        assert!(parse_judgements("{\"judgements\": [1, 2, 0]}", 3).is_err());
        assert!(parse_judgements("I cannot tell.", 1).is_err());
        let shown = Shown {
            tokens: vec!["a".into(), " big".into(), " dog".into(), "\n".into()],
            highlighted: vec![false, true, true, false],
        };
        assert_eq!(shown.text(Method::Fuzzing), "a<< big dog>> ");
        assert_eq!(shown.text(Method::Detection), "a big dog ");
    }
}
