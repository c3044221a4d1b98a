//! Where an explanation and a score came from, as recorded beside them in the editable
//! database (`explanation_source`, `score_source`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who or what wrote an explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplanationSource {
    /// The explainer model, `baseline`, or `human`.
    pub explainer: String,
    /// The person, for human explanations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_version: Option<String>,
    /// Top examples shown to the explainer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub examples: Option<usize>,
    /// `unix:SECONDS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// For an explanation imported from another tool: where it came from (e.g.
    /// `neuronpedia:MODEL/SOURCE/INDEX (export folder)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_from: Option<String>,
    /// The other tool's kind of explanation (Neuronpedia's `typeName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation_type: Option<String>,
}

impl ExplanationSource {
    /// A person's explanation.
    pub fn human(author: &str) -> Self {
        Self {
            explainer: "human".into(),
            author: Some(author.into()),
            prompt_version: None,
            examples: None,
            date: None,
            imported_from: None,
            explanation_type: None,
        }
    }
}

/// How many held-out examples of each kind a score was computed on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldOutMix {
    pub top_odd_ranks: usize,
    pub quantile_odd_positions: usize,
    pub non_activating: usize,
}

/// How a score was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreSource {
    /// `segment-simulation` or `token-simulation`.
    pub method: String,
    /// The simulator model, or the offline keyword simulator.
    pub simulator: String,
    /// The explanation that was scored.
    pub explanation: String,
    pub prompt_version: String,
    /// Units (segments or tokens) the correlation is over.
    pub units: usize,
    pub held_out: HeldOutMix,
    /// `unix:SECONDS`.
    pub date: String,
    /// Segment level: how segments were cut and when one counts as active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<String>,
    /// With `--unit both`: the token-level score of the same examples, beside the segment one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_simulation_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_simulation_units: Option<usize>,
}

/// A score made by a method other than simulation (issue #19: Delphi's detection and fuzzing,
/// embedding similarity), kept per method in a record's `method_scores` map (one entry per
/// method, the latest), beside Safe-SAIL's `correlation_score`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodScore {
    /// `detection`, `fuzzing` or `embedding`.
    pub method: String,
    /// The scorer: the chat model (detection, fuzzing) or the embedding model.
    pub scorer: String,
    /// The explanation that was scored.
    pub explanation: String,
    pub prompt_version: String,
    /// Examples that truly match (activating / correctly highlighted) and that do not.
    pub positives: usize,
    pub negatives: usize,
    /// `unix:SECONDS`.
    pub date: String,
    /// (recall + specificity) / 2 of the scorer's judgements (detection, fuzzing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balanced_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<f64>,
    /// ROC AUC: of the scorer's probability of "1" (detection, fuzzing, when the server gave
    /// log-probs) or of the cosine similarity (embedding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auc: Option<f64>,
}

/// The numbers of a [`MethodScore`] that exports write as columns (`<method>_<metric>`), in
/// column order.
pub const METHOD_METRICS: [&str; 5] = ["balanced_accuracy", "f1", "precision", "recall", "auc"];

/// The methods of `score --method`, in the order exports list them (other methods after these,
/// alphabetically).
pub const METHOD_ORDER: [&str; 3] = ["detection", "fuzzing", "embedding"];

impl MethodScore {
    /// One of [`METHOD_METRICS`] by name (`None` when absent or not a metric).
    pub fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "balanced_accuracy" => self.balanced_accuracy,
            "f1" => self.f1,
            "precision" => self.precision,
            "recall" => self.recall,
            "auc" => self.auc,
            _ => None,
        }
    }

    /// The headline value: balanced accuracy, else AUC.
    pub fn value(&self) -> Option<f64> {
        self.balanced_accuracy.or(self.auc)
    }

    /// The headline value's name.
    pub fn value_name(&self) -> &'static str {
        if self.balanced_accuracy.is_some() {
            "balanced accuracy"
        } else {
            "AUC"
        }
    }

    /// The scores of a record's `method_scores` map that have this shape, in method order.
    pub fn all_of(entry: &Value) -> Vec<Self> {
        entry
            .get("method_scores")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(_, v)| serde_json::from_value(v.clone()).ok())
            .collect()
    }

    /// The record's score by `method`, if any.
    pub fn of(entry: &Value, method: &str) -> Option<Self> {
        serde_json::from_value(entry.get("method_scores")?.get(method)?.clone()).ok()
    }

    /// In words: `detection 0.83 (F1 0.80, AUC 0.91) by M, 10+/3−`.
    pub fn describe(&self) -> String {
        let mut extra = vec![];
        if self.balanced_accuracy.is_some() {
            if let Some(f) = self.f1 {
                extra.push(format!("F1 {f:.2}"));
            }
            if let Some(a) = self.auc {
                extra.push(format!("AUC {a:.2}"));
            }
        }
        format!(
            "{} {}{} {} by {}, {} matching / {} not",
            self.method,
            self.value_name(),
            self.value().map_or(" —".into(), |v| format!(" {v:.3}")),
            if extra.is_empty() {
                String::new()
            } else {
                format!("({})", extra.join(", "))
            },
            self.scorer,
            self.positives,
            self.negatives
        )
        .replace("  ", " ")
    }
}

impl ScoreSource {
    /// Reads a record's `score_source`, if it has one of this shape.
    pub fn of(entry: &Value) -> Option<Self> {
        serde_json::from_value(entry.get("score_source")?.clone()).ok()
    }
}

impl ExplanationSource {
    /// Reads a record's `explanation_source`, if it has one of this shape.
    pub fn of(entry: &Value) -> Option<Self> {
        serde_json::from_value(entry.get("explanation_source")?.clone()).ok()
    }
}

/// Whether a neuron passes the release's inclusion rule (`correlation_score >= min_score`), as
/// `score --min-score` records it in the `inclusion` field (kept current by every later change
/// of the score), so reviewers see it without running `db export --min-score`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Inclusion {
    /// The rule's R (the released database's is 0.2).
    pub min_score: f64,
    /// `correlation_score >= min_score` (false without a score).
    pub included: bool,
}

impl Inclusion {
    /// The rule applied to a score.
    pub fn new(min_score: f64, score: Option<f64>) -> Self {
        Self {
            min_score,
            included: score.is_some_and(|s| s >= min_score),
        }
    }

    /// Reads a record's `inclusion`, if it has one of this shape.
    pub fn of(entry: &Value) -> Option<Self> {
        serde_json::from_value(entry.get("inclusion")?.clone()).ok()
    }

    /// In words: `r >= 0.2: included` or `r < 0.2: left out of a --min-score export`.
    pub fn describe(&self) -> String {
        let m = super::pyjson::float_repr(self.min_score);
        if self.included {
            format!("r >= {m}: included")
        } else {
            format!("r < {m}: left out of a --min-score {m} export")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_serialize_as_the_fields_written_before_types() {
        let s = ScoreSource {
            method: "segment-simulation".into(),
            simulator: "m".into(),
            explanation: "e".into(),
            prompt_version: "v".into(),
            units: 12,
            held_out: HeldOutMix {
                top_odd_ranks: 5,
                quantile_odd_positions: 5,
                non_activating: 3,
            },
            date: "unix:1".into(),
            segmentation: None,
            token_simulation_score: Some(0.5),
            token_simulation_units: Some(40),
        };
        let old = json!({
            "method": "segment-simulation", "simulator": "m", "explanation": "e",
            "prompt_version": "v", "units": 12,
            "held_out": {"top_odd_ranks": 5, "quantile_odd_positions": 5, "non_activating": 3},
            "date": "unix:1", "token_simulation_score": 0.5, "token_simulation_units": 40,
        });
        assert_eq!(serde_json::to_string(&s).unwrap(), old.to_string());
        assert_eq!(ScoreSource::of(&json!({ "score_source": old })), Some(s));
        let h = ExplanationSource::human("ann");
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            json!({"explainer": "human", "author": "ann"}).to_string()
        );
        let llm = ExplanationSource {
            explainer: "baseline".into(),
            author: None,
            prompt_version: Some("v".into()),
            examples: Some(10),
            date: Some("unix:2".into()),
            imported_from: None,
            explanation_type: None,
        };
        assert_eq!(
            serde_json::to_string(&llm).unwrap(),
            json!({"explainer": "baseline", "prompt_version": "v", "examples": 10, "date": "unix:2"})
                .to_string()
        );
        assert_eq!(
            ExplanationSource::of(&json!({"explanation_source": 3})),
            None
        );
    }

    #[test]
    fn method_scores_are_read_per_method_and_described() {
        let d = json!({"method": "detection", "scorer": "m", "explanation": "e",
            "prompt_version": "v", "positives": 10, "negatives": 3, "date": "unix:1",
            "balanced_accuracy": 0.75, "f1": 0.8, "auc": 0.9});
        let e = json!({"method": "embedding", "scorer": "emb", "explanation": "e",
            "prompt_version": "v", "positives": 2, "negatives": 2, "date": "unix:1", "auc": 0.5});
        let rec = json!({"method_scores": {"detection": d, "embedding": e, "odd": 3}});
        let all = MethodScore::all_of(&rec);
        assert_eq!(all.len(), 2, "a record of another shape is left out");
        assert_eq!(all[0].value(), Some(0.75));
        assert_eq!(all[1].value(), Some(0.5));
        assert_eq!(all[1].value_name(), "AUC");
        assert_eq!(MethodScore::of(&rec, "embedding").unwrap().scorer, "emb");
        assert_eq!(MethodScore::of(&json!({}), "detection"), None);
        assert_eq!(
            all[0].describe(),
            "detection balanced accuracy 0.750 (F1 0.80, AUC 0.90) by m, 10 matching / 3 not"
        );
        // Written back as read.
        assert_eq!(serde_json::to_value(&all[0]).unwrap(), d);
    }
}
