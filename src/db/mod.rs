//! Neuron explanations. Reads Safe-SAIL's neuron database JSON
//! (`{"35_10067": {"explanation": "...", "correlation_score": 0.31, "tag_list": ["violence"]}}`)
//! and our editable form of it ([`editable`]), which adds review fields and an edit history.
//! Every write to a database file goes through [`commit`]: under a lock, over a fresh read,
//! merged field by field, so concurrent writers lose nothing.

pub mod autosave;
pub mod commit;
pub mod editable;
pub mod ops;
pub mod provenance;
pub mod pyjson;

use crate::domains::SAFETY_DOMAINS;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One neuron's explanation record, as Safe-SAIL stores it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NeuronRecord {
    /// `None` for Safe-SAIL's `null` explanations; `"***"` marks masked ones.
    pub explanation: Option<String>,
    #[serde(default)]
    pub correlation_score: Option<f64>,
    #[serde(default)]
    pub tag_list: Vec<String>,
    /// Our second tag level: the sub-categories (`domain/sub-category`, e.g.
    /// `violence/insult`) of the domains in `tag_list`. Stored in the record only when there
    /// are any, so Safe-SAIL's own records round-trip unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subcategory_list: Vec<String>,
    /// The explanation changed after `correlation_score` was computed: the score is kept but
    /// belongs to the old text (shown struck through, left out of means and score filters).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub score_stale: bool,
}

impl NeuronRecord {
    /// Whether any safety domain is among the tags.
    pub fn is_safety(&self) -> bool {
        self.tag_list
            .iter()
            .any(|t| SAFETY_DOMAINS.contains(&t.as_str()))
    }

    /// The score when it belongs to the current explanation (`None` when stale or missing):
    /// the one that means, averages and score filters use.
    pub fn live_score(&self) -> Option<f64> {
        self.correlation_score.filter(|_| !self.score_stale)
    }

    /// The first safety domain among the tags.
    pub fn domain(&self) -> Option<&str> {
        self.tag_list
            .iter()
            .map(String::as_str)
            .find(|t| SAFETY_DOMAINS.contains(t))
    }

    /// The first sub-category of [`Self::domain`] (the name after `domain/`).
    pub fn subcategory(&self) -> Option<&str> {
        let d = self.domain()?;
        self.subcategory_list
            .iter()
            .filter_map(|s| s.split_once(crate::domains::SEP))
            .find(|(x, _)| x.trim() == d)
            .map(|(_, s)| s.trim())
    }

    /// The tags as a person reads and writes them: domains replaced by their sub-categories
    /// (`violence/insult`) where the record has any (see [`crate::domains::joined_tags`]).
    pub fn tags(&self) -> Vec<String> {
        crate::domains::joined_tags(&self.tag_list, &self.subcategory_list)
    }

    /// Whether the record passes a tag filter (`"none"`: no tags; a domain matches its
    /// sub-categories too).
    pub fn has_tag(&self, want: &str) -> bool {
        match want {
            "none" => self.tag_list.is_empty() && self.subcategory_list.is_empty(),
            w => crate::domains::tag_matches(&self.tags(), w),
        }
    }
}

/// A neuron database keyed by neuron id (`{layer}_{index}`).
#[derive(Debug, Clone, Default)]
pub struct NeuronDb {
    pub path: Option<PathBuf>,
    pub records: HashMap<String, NeuronRecord>,
}

/// The Safe-SAIL neuron id of a latent at a layer.
pub fn neuron_id(layer: usize, latent: u32) -> String {
    format!("{layer}_{latent}")
}

/// Splits `"{layer}_{index}"`.
pub fn parse_neuron_id(id: &str) -> Result<(usize, u32)> {
    let (l, i) = id
        .trim()
        .split_once('_')
        .with_context(|| format!("neuron id `{id}` is not LAYER_INDEX"))?;
    Ok((
        l.parse()
            .with_context(|| format!("neuron id `{id}`: `{l}` is not a layer"))?,
        i.parse()
            .with_context(|| format!("neuron id `{id}`: `{i}` is not an index"))?,
    ))
}

impl NeuronDb {
    /// Reads a neuron database: Safe-SAIL JSON or our editable form.
    pub fn load(path: &Path) -> Result<Self> {
        let db = editable::EditableDb::load(path)?;
        let mut view = db.view();
        if view.records.len() != db.entries.len() {
            bail!(
                "{}: some records are not Safe-SAIL neuron records",
                path.display()
            );
        }
        view.path = Some(path.to_path_buf());
        Ok(view)
    }

    pub fn get(&self, layer: usize, latent: u32) -> Option<&NeuronRecord> {
        self.records.get(&neuron_id(layer, latent))
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids_and_records() {
        assert_eq!(parse_neuron_id("35_10067").unwrap(), (35, 10067));
        assert!(parse_neuron_id("x_1").is_err());
        let r: NeuronRecord =
            serde_json::from_str(r#"{"explanation": null, "correlation_score": 0.3, "tag_list": ["violence", "politics"]}"#)
                .unwrap();
        assert!(r.is_safety());
        assert_eq!(r.domain(), Some("violence"));
        assert_eq!(r.explanation, None);
        let r: NeuronRecord = serde_json::from_str(
            r#"{"explanation": "x", "correlation_score": 0.3, "tag_list": ["politics", "violence"], "subcategory_list": ["violence/insult"]}"#,
        )
        .unwrap();
        assert_eq!(r.domain(), Some("politics"));
        assert_eq!(r.subcategory(), None, "the first domain has none");
        assert_eq!(r.tags(), ["politics", "violence/insult"]);
        assert!(r.has_tag("violence") && r.has_tag("violence/insult") && r.has_tag("politics"));
        assert!(!r.has_tag("violence/cybersecurity") && !r.has_tag("none"));
    }
}
