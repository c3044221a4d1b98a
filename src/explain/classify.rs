//! Classification scores of an explanation (EleutherAI Delphi's detection and fuzzing): a
//! scorer LLM reads the explanation and judges, for each example, whether the whole example
//! (detection) or its highlighted tokens (fuzzing) match it; the judgements against the truth
//! give balanced accuracy, precision, recall and F1. [`roc_auc`] ranks scores (for scorers
//! that give a probability or a similarity). A reply that cannot be read, or a call that fails,
//! gives no score (never a partial one).
//!
//! Not yet reachable from `score` (it writes only simulation scores): the library part of
//! issue #19's detection / fuzzing scoring.

use super::client::{LlmClient, Usage};
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
    let (reply, usage) = client.chat_with_usage(&messages(method, explanation, examples))?;
    let pred = parse_judgements(&reply, examples.len()).context("no score")?;
    let c = Confusion::new(truth, &pred);
    Ok(ClassScore {
        method,
        confusion: c,
        balanced_accuracy: c.balanced_accuracy().context("no score")?,
        f1: c.f1(),
        precision: c.precision(),
        recall: c.recall(),
        usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
