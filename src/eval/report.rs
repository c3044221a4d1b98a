//! The `evaluate` verb and its output: one [`EvaluationRow`] per SAE candidate (fidelity,
//! sparsity, downstream loss, and per safety domain the Safe-SAIL metrics), written as
//! `evaluation.json` (with the settings and the definition of every column) and
//! `evaluation.parquet`, and read back by the explorer.

use super::concepts::{concept_metrics, read_pairs, specificity};
use super::fidelity::{directions, evaluate as fidelity, FidelityRow};
use crate::corpus::CorpusSpec;
use crate::domains::SAFETY_DOMAINS;
use crate::load::{load_saes, ModelSpec};
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};

/// What `evaluate` runs on and with which settings.
#[derive(Debug, Clone)]
pub struct EvaluateRequest {
    pub model: ModelSpec,
    pub saes: Vec<String>,
    /// A general corpus for fidelity and loss.
    pub corpus: Vec<PathBuf>,
    pub text_field: String,
    pub context: usize,
    pub batch: usize,
    /// Tokens of the general corpus to evaluate on.
    pub tokens: u64,
    /// Concept / de-concept pairs for L0,t and I_CDF.
    pub concept_pairs: Option<PathBuf>,
    /// Threshold t of L0,t.
    pub threshold: f64,
    /// Share φ of a domain's pairs a latent must distinguish to count in L0,t.
    pub min_frequency: f64,
    /// A labeled corpus (JSONL) for domain specificity.
    pub labeled_corpus: Option<PathBuf>,
    pub label_field: String,
    /// Tokens of the labeled corpus (default: `tokens`).
    pub labeled_tokens: Option<u64>,
}

/// One value per safety domain, in [`SAFETY_DOMAINS`] order; serialized as a map keyed by
/// domain name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerDomain<T>(pub [T; 4]);

impl<T: Serialize> Serialize for PerDomain<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        for (d, v) in SAFETY_DOMAINS.iter().zip(&self.0) {
            m.serialize_entry(d, v)?;
        }
        m.end()
    }
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for PerDomain<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m: std::collections::HashMap<String, T> = Deserialize::deserialize(d)?;
        let mut out = PerDomain::<T>::default_array();
        for (k, v) in m {
            if let Some(i) = SAFETY_DOMAINS.iter().position(|d| *d == k) {
                out.0[i] = v;
            }
        }
        Ok(out)
    }
}

impl<T: Default> PerDomain<T> {
    fn default_array() -> Self {
        PerDomain(std::array::from_fn(|_| T::default()))
    }
}

/// The Safe-SAIL columns of a row, per domain D: `l0t_D`, `icdf_D`, `specific_D` (null when not
/// computed), serialized flat in that order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainColumns {
    /// Latents that distinguish the domain's concept pairs (L0,t).
    pub l0t: [Option<f64>; 4],
    /// The expected distinguishing frequency over thresholds (I_CDF).
    pub icdf: [Option<f64>; 4],
    /// Latents specific to the domain in the labeled corpus.
    pub specific: [Option<f64>; 4],
}

const COLUMN_KINDS: [&str; 3] = ["l0t", "icdf", "specific"];

impl DomainColumns {
    /// `(column name, value)` in file order.
    pub fn columns(&self) -> Vec<(String, Option<f64>)> {
        let mut v = vec![];
        for (d, name) in SAFETY_DOMAINS.iter().enumerate() {
            for (kind, col) in COLUMN_KINDS
                .iter()
                .zip([&self.l0t, &self.icdf, &self.specific])
            {
                v.push((format!("{kind}_{name}"), col[d]));
            }
        }
        v
    }
}

impl Serialize for DomainColumns {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let cols = self.columns();
        let mut m = s.serialize_map(Some(cols.len()))?;
        for (k, v) in &cols {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for DomainColumns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DomainColumns;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("l0t_/icdf_/specific_<domain> columns")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<DomainColumns, A::Error> {
                let mut out = DomainColumns::default();
                while let Some(k) = a.next_key::<String>()? {
                    let slot = k.split_once('_').and_then(|(kind, dom)| {
                        let d = SAFETY_DOMAINS.iter().position(|x| *x == dom)?;
                        match kind {
                            "l0t" => Some(&mut out.l0t[d]),
                            "icdf" => Some(&mut out.icdf[d]),
                            "specific" => Some(&mut out.specific[d]),
                            _ => None,
                        }
                    });
                    match slot {
                        Some(slot) => *slot = a.next_value::<Option<f64>>()?,
                        None => {
                            a.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// One candidate's row of the evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationRow {
    #[serde(flatten)]
    pub fidelity: FidelityRow,
    #[serde(flatten)]
    pub domains: DomainColumns,
    /// Which latents are specific, per domain (annotators start from these); present when a
    /// labeled corpus was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specific_latents: Option<PerDomain<Vec<u32>>>,
}

/// `evaluation.json`: the settings, the rows and what every column means. Files from earlier
/// versions lack some settings (`labeled_tokens`): they read as their defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvaluationReport {
    pub model: String,
    pub corpus: Vec<PathBuf>,
    pub context: usize,
    pub rows: Vec<EvaluationRow>,
    #[serde(default)]
    pub concept_pairs: Option<PathBuf>,
    #[serde(default)]
    pub threshold: f64,
    #[serde(default)]
    pub min_frequency: f64,
    #[serde(default)]
    pub labeled_corpus: Option<PathBuf>,
    #[serde(default)]
    pub label_field: String,
    #[serde(default)]
    pub labeled_tokens: u64,
    #[serde(default)]
    pub directions: serde_json::Value,
    #[serde(default)]
    pub definitions: serde_json::Value,
}

/// The definition of every column, as written into `evaluation.json`.
pub const DEFINITIONS: [(&str, &str); 11] = [
    ("l0", "mean over tokens of the number of latents > 0"),
    ("dead_fraction", "latents never > 0 over the evaluated tokens"),
    ("dense_fraction", "latents > 0 on more than 10% of the evaluated tokens"),
    ("explained_variance", "1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 (the conventional definition)"),
    ("nmse", "sum ||x - x_hat||^2 / sum ||x||^2"),
    ("ce", "mean next-token cross-entropy in nats over the real tokens of each context"),
    ("ce_loss_recovered", "(ce_zero - ce_sae) / (ce_zero - ce_clean)"),
    ("delta_loss", "ce_sae - ce_clean"),
    ("l0t_<domain>", "latents l with freq_l(t) >= min_frequency, where freq_l(t) is the share of the domain's concept pairs with (a_concept - a_deconcept) / s_l > t (a = the latent's largest activation over a prompt's non-special tokens, s_l = its largest over all prompts)"),
    ("icdf_<domain>", "mean over latents of the integral over t in [0, 1] of freq_l(t) = mean over latents and pairs of clamp(delta, 0, 1)"),
    ("specific_<domain>", "latents with at least 10 active contexts among their top 20 in the labeled corpus, >= 80% of which carry the domain's label"),
];

/// Runs the evaluation: fidelity and loss on the general corpus, then (when given) the concept
/// metrics and domain specificity.
pub fn evaluate(req: &EvaluateRequest, progress: &dyn Progress) -> Result<EvaluationReport> {
    for f in &req.corpus {
        if !f.exists() {
            bail!("corpus file {} does not exist", f.display());
        }
    }
    let model = req.model.load()?;
    let saes = load_saes(&req.saes, model.net.device())?;
    let spec = CorpusSpec {
        files: req.corpus.clone(),
        text_field: req.text_field.clone(),
        messages_field: None,
    };
    let rows = fidelity(
        &model,
        &saes,
        &spec,
        req.context,
        req.batch,
        req.tokens,
        &mut |d, t| {
            progress.set_len(t);
            progress.set_pos(d);
        },
    )?;
    for w in super::fidelity::fidelity_warnings(&rows, req.tokens) {
        progress.note(&w);
    }
    let concept = match &req.concept_pairs {
        Some(p) => Some(concept_metrics(
            &model,
            &saes,
            &read_pairs(p)?,
            req.threshold,
            req.min_frequency,
        )?),
        None => None,
    };
    let labeled_tokens = req.labeled_tokens.unwrap_or(req.tokens);
    let specific = match &req.labeled_corpus {
        Some(p) => Some(specificity(
            &model,
            &saes,
            p,
            &req.label_field,
            &req.text_field,
            req.context,
            labeled_tokens,
            20,
        )?),
        None => None,
    };
    let rows = rows
        .into_iter()
        .enumerate()
        .map(|(i, fidelity)| {
            let finite = |x: f64| Some(x).filter(|x| !x.is_nan());
            let domains = DomainColumns {
                l0t: std::array::from_fn(|d| concept.as_ref().and_then(|c| finite(c[i].0[d]))),
                icdf: std::array::from_fn(|d| concept.as_ref().and_then(|c| finite(c[i].1[d]))),
                specific: std::array::from_fn(|d| specific.as_ref().map(|c| c[i][d].len() as f64)),
            };
            EvaluationRow {
                fidelity,
                domains,
                specific_latents: specific.as_ref().map(|c| PerDomain(c[i].clone())),
            }
        })
        .collect();
    Ok(EvaluationReport {
        model: req.model.model.clone(),
        corpus: req.corpus.clone(),
        context: req.context,
        rows,
        concept_pairs: req.concept_pairs.clone(),
        threshold: req.threshold,
        min_frequency: req.min_frequency,
        labeled_corpus: req.labeled_corpus.clone(),
        label_field: req.label_field.clone(),
        labeled_tokens,
        directions: directions(),
        definitions: DEFINITIONS
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    })
}

impl EvaluationReport {
    /// Reads an `evaluation.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
    }

    /// Writes `evaluation.json` and `evaluation.parquet` into `out` (created if needed).
    pub fn write(&self, out: &Path) -> Result<()> {
        use polars::prelude::*;
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        crate::fsutil::write_atomic(
            &out.join("evaluation.json"),
            serde_json::to_string_pretty(self)?.as_bytes(),
        )?;
        let rows: Vec<&FidelityRow> = self.rows.iter().map(|r| &r.fidelity).collect();
        let f64s = |g: fn(&FidelityRow) -> f64| rows.iter().map(|r| g(r)).collect::<Vec<f64>>();
        let mut cols = vec![
            Series::new(
                "sae".into(),
                rows.iter().map(|r| r.sae.as_str()).collect::<Vec<_>>(),
            ),
            Series::new(
                "hook".into(),
                rows.iter().map(|r| r.hook.as_str()).collect::<Vec<_>>(),
            ),
            Series::new(
                "d_sae".into(),
                rows.iter().map(|r| r.d_sae as u64).collect::<Vec<_>>(),
            ),
            Series::new(
                "architecture".into(),
                rows.iter()
                    .map(|r| r.architecture.as_str())
                    .collect::<Vec<_>>(),
            ),
            Series::new(
                "k".into(),
                rows.iter()
                    .map(|r| r.k.map(|k| k as u64))
                    .collect::<Vec<_>>(),
            ),
            Series::new("l0".into(), f64s(|r| r.l0)),
            Series::new("dead_fraction".into(), f64s(|r| r.dead_fraction)),
            Series::new("dense_fraction".into(), f64s(|r| r.dense_fraction)),
            Series::new("explained_variance".into(), f64s(|r| r.explained_variance)),
            Series::new("nmse".into(), f64s(|r| r.nmse)),
            Series::new("ce_clean".into(), f64s(|r| r.ce_clean)),
            Series::new("ce_sae".into(), f64s(|r| r.ce_sae)),
            Series::new("ce_zero".into(), f64s(|r| r.ce_zero)),
            Series::new("ce_loss_recovered".into(), f64s(|r| r.ce_loss_recovered)),
            Series::new("delta_loss".into(), f64s(|r| r.delta_loss)),
        ];
        let domain_cols: Vec<Vec<(String, Option<f64>)>> =
            self.rows.iter().map(|r| r.domains.columns()).collect();
        if let Some(first) = domain_cols.first() {
            for (j, (name, _)) in first.iter().enumerate() {
                let vals: Vec<Option<f64>> = domain_cols.iter().map(|r| r[j].1).collect();
                cols.push(Series::new(name.as_str().into(), vals));
            }
        }
        let mut df =
            DataFrame::new_infer_height(cols.into_iter().map(Series::into_column).collect())?;
        crate::fsutil::write_atomic_with(&out.join("evaluation.parquet"), |f| {
            ParquetWriter::new(f).finish(&mut df)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(specific: bool) -> EvaluationRow {
        EvaluationRow {
            fidelity: FidelityRow {
                sae: "s".into(),
                hook: "blocks.1.hook_mlp_out".into(),
                d_sae: 8,
                architecture: "topk:2".into(),
                k: Some(2),
                tokens: 100,
                l0: 2.0,
                dead_fraction: 0.25,
                dense_fraction: 0.0,
                explained_variance: 0.5,
                nmse: 0.5,
                ce_clean: 1.0,
                ce_sae: 1.5,
                ce_zero: 3.0,
                ce_loss_recovered: f64::NAN,
                delta_loss: 0.5,
            },
            domains: DomainColumns {
                l0t: [Some(3.0), None, Some(1.0), Some(0.0)],
                icdf: [Some(0.125), None, None, None],
                specific: [Some(2.0), Some(0.0), None, Some(1.0)],
            },
            specific_latents: specific.then(|| PerDomain([vec![1, 2], vec![], vec![5], vec![7]])),
        }
    }

    #[test]
    fn rows_keep_their_column_order_and_read_back() {
        let r = row(true);
        let json = serde_json::to_string(&r).unwrap();
        // The fidelity columns, then per domain l0t/icdf/specific, then the latent lists.
        let keys: Vec<&str> = [
            "\"sae\"",
            "\"delta_loss\"",
            "\"l0t_pornography\"",
            "\"icdf_pornography\"",
            "\"specific_pornography\"",
            "\"l0t_politics\"",
            "\"specific_terror\"",
            "\"specific_latents\"",
        ]
        .to_vec();
        let pos: Vec<usize> = keys.iter().map(|k| json.find(k).unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{json}");
        assert!(json.contains("\"ce_loss_recovered\":null"));
        assert!(json.contains("\"l0t_politics\":null"));
        assert!(json.contains("\"specific_latents\":{\"pornography\":[1,2],\"politics\":[],\"violence\":[5],\"terror\":[7]}"));
        let back: EvaluationRow = serde_json::from_str(&json).unwrap();
        assert!(back.fidelity.ce_loss_recovered.is_nan());
        assert_eq!(back.domains, r.domains);
        assert_eq!(back.specific_latents, r.specific_latents);
        let plain = serde_json::to_string(&row(false)).unwrap();
        assert!(!plain.contains("specific_latents"));
        let back: EvaluationRow = serde_json::from_str(&plain).unwrap();
        assert_eq!(back.specific_latents, None);
    }
}
