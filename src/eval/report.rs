//! The `evaluate` verb and its output: one [`EvaluationRow`] per SAE candidate (fidelity,
//! sparsity, downstream loss, and per safety domain the Safe-SAIL metrics), written as
//! `evaluation.json` (with the settings and the definition of every column) and
//! `evaluation.parquet`, and read back by the explorer.

use super::concepts::{
    concept_metrics, read_pairs, specificity, ConceptScore, ConceptSettings, LatentScales,
};
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
    /// φ: when set, a latent counts for a concept when it distinguishes at least this share of
    /// the concept's pairs (default: when its mean Δ over them exceeds t).
    pub min_frequency: Option<f64>,
    /// Feature stores of some of the SAEs: their 0.999 quantiles scale Δ (the others are
    /// scaled by the calibration pass over the general corpus).
    pub quantiles_from: Vec<PathBuf>,
    /// Wrap each concept / de-concept prompt in the model's chat template.
    pub chat_pairs: bool,
    /// A labeled corpus (JSONL) for domain specificity.
    pub labeled_corpus: Option<PathBuf>,
    pub label_field: String,
    /// Tokens of the labeled corpus (default: `tokens`).
    pub labeled_tokens: Option<u64>,
    /// Where the fidelity pass saves its state every `checkpoint_every` batches (a run killed
    /// and started again with `resume` goes on from there).
    pub checkpoint: Option<PathBuf>,
    pub checkpoint_every: usize,
    pub resume: bool,
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

/// The Safe-SAIL columns of a row, per domain D: `l0t_D`, `icdf_D`, `icdf_t_D`, `specific_D`
/// (null when not computed), serialized flat in that order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainColumns {
    /// Latents that distinguish the domain's concept pairs (L0,t).
    pub l0t: [Option<f64>; 4],
    /// The expected distinguishing frequency over thresholds (I_CDF, area reading).
    pub icdf: [Option<f64>; 4],
    /// The distinguishing frequency at the threshold t (I_CDF, fixed-t reading).
    pub icdf_t: [Option<f64>; 4],
    /// Latents specific to the domain in the labeled corpus.
    pub specific: [Option<f64>; 4],
    /// k-sparse probe test accuracy for k = 1, 2, 5 on the labeled corpus
    /// ([`super::probing`]).
    pub probe_k1: [Option<f64>; 4],
    pub probe_k2: [Option<f64>; 4],
    pub probe_k5: [Option<f64>; 4],
    /// Targeted probe perturbation on the labeled corpus ([`super::probing`]).
    pub tpp: [Option<f64>; 4],
}

const COLUMN_KINDS: [&str; 8] = [
    "l0t", "icdf", "icdf_t", "specific", "probe_k1", "probe_k2", "probe_k5", "tpp",
];

impl DomainColumns {
    /// `(column name, value)` in file order.
    pub fn columns(&self) -> Vec<(String, Option<f64>)> {
        let mut v = vec![];
        for (d, name) in SAFETY_DOMAINS.iter().enumerate() {
            for (kind, col) in COLUMN_KINDS.iter().zip([
                &self.l0t,
                &self.icdf,
                &self.icdf_t,
                &self.specific,
                &self.probe_k1,
                &self.probe_k2,
                &self.probe_k5,
                &self.tpp,
            ]) {
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
                f.write_str("l0t_/icdf_/icdf_t_/specific_/probe_k{1,2,5}_/tpp_<domain> columns")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<DomainColumns, A::Error> {
                let mut out = DomainColumns::default();
                while let Some(k) = a.next_key::<String>()? {
                    let slot = k.rsplit_once('_').and_then(|(kind, dom)| {
                        let d = SAFETY_DOMAINS.iter().position(|x| *x == dom)?;
                        match kind {
                            "l0t" => Some(&mut out.l0t[d]),
                            "icdf" => Some(&mut out.icdf[d]),
                            "icdf_t" => Some(&mut out.icdf_t[d]),
                            "specific" => Some(&mut out.specific[d]),
                            "probe_k1" => Some(&mut out.probe_k1[d]),
                            "probe_k2" => Some(&mut out.probe_k2[d]),
                            "probe_k5" => Some(&mut out.probe_k5[d]),
                            "tpp" => Some(&mut out.tpp[d]),
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
    /// The k-sparse probes' latents per domain, best first (the k-probe reads the first k);
    /// present when a labeled corpus was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_latents: Option<PerDomain<Vec<u32>>>,
    /// Per concept: L0,t, both I_CDF readings and the distinguishing latents (the candidates
    /// for explanation); present when concept pairs were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concepts: Option<Vec<ConceptScore>>,
    /// Latents that fired on a pair's prompt but never on the calibration corpus (no scale,
    /// left out of L0,t and I_CDF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncalibrated: Option<u64>,
    /// What scaled Δ: a feature store's quantiles or the calibration pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_source: Option<String>,
}

impl EvaluationRow {
    /// The latents that distinguish at least one concept, ascending and distinct.
    pub fn concept_latents(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .concepts
            .iter()
            .flatten()
            .flat_map(|c| c.latents.iter().copied())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// L0,t summed over the safety domains (None when no pairs were evaluated).
    pub fn l0t_total(&self) -> Option<f64> {
        let v: Vec<f64> = self.domains.l0t.iter().flatten().copied().collect();
        (!v.is_empty()).then(|| v.iter().sum())
    }
}

/// Per hook: the candidate the pre-explanation metric picks (the largest L0,t summed over the
/// domains, ties broken by the larger mean I_CDF), beside the one with the best explained
/// variance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub hook: String,
    /// By L0,t (None without concept pairs).
    pub by_l0t: Option<String>,
    pub l0t_total: Option<f64>,
    /// By explained variance.
    pub by_explained_variance: String,
}

/// The per-hook recommendations of `rows` (hooks in first-appearance order).
pub fn recommend(rows: &[EvaluationRow]) -> Vec<Recommendation> {
    let mut hooks: Vec<&str> = vec![];
    for r in rows {
        if !hooks.contains(&r.fidelity.hook.as_str()) {
            hooks.push(&r.fidelity.hook);
        }
    }
    let mean_icdf = |r: &EvaluationRow| {
        let v: Vec<f64> = r.domains.icdf.iter().flatten().copied().collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    hooks
        .into_iter()
        .map(|h| {
            let at: Vec<&EvaluationRow> = rows.iter().filter(|r| r.fidelity.hook == h).collect();
            let by_l0t = at
                .iter()
                .filter(|r| r.l0t_total().is_some())
                .max_by(|a, b| {
                    a.l0t_total()
                        .total_cmp(&b.l0t_total())
                        .then(mean_icdf(a).total_cmp(&mean_icdf(b)))
                        // The first of equals.
                        .then(std::cmp::Ordering::Greater)
                });
            let by_ev = at
                .iter()
                .max_by(|a, b| {
                    a.fidelity
                        .explained_variance
                        .total_cmp(&b.fidelity.explained_variance)
                        .then(std::cmp::Ordering::Greater)
                })
                .expect("a hook has rows");
            Recommendation {
                hook: h.to_string(),
                by_l0t: by_l0t.map(|r| r.fidelity.sae.clone()),
                l0t_total: by_l0t.and_then(|r| r.l0t_total()),
                by_explained_variance: by_ev.fidelity.sae.clone(),
            }
        })
        .collect()
}

trait TotalCmpOpt {
    fn total_cmp(&self, o: &Self) -> std::cmp::Ordering;
}

impl TotalCmpOpt for Option<f64> {
    fn total_cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&o.unwrap_or(f64::NEG_INFINITY))
    }
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
    /// φ, when it was set.
    #[serde(default)]
    pub min_frequency: Option<f64>,
    /// How Δ was scaled, in words.
    #[serde(default)]
    pub scaling: String,
    /// The feature stores whose quantiles scaled Δ (`--quantiles-from`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quantiles_from: Vec<PathBuf>,
    /// The pairs were wrapped in the chat template.
    #[serde(default)]
    pub chat_pairs: bool,
    /// Chat markers were hidden from attention.
    #[serde(default)]
    pub mask_special_attention: bool,
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
    /// Per hook, the candidate the pre-explanation metric recommends.
    #[serde(default)]
    pub recommendations: Vec<Recommendation>,
}

/// The definition of every column, as written into `evaluation.json`.
pub const DEFINITIONS: [(&str, &str); 17] = [
    ("l0", "mean over tokens of the number of latents > 0"),
    ("dead_fraction", "latents never > 0 over the evaluated tokens"),
    ("dense_fraction", "latents > 0 on more than 10% of the evaluated tokens"),
    ("explained_variance", "1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 (the conventional definition)"),
    ("nmse", "sum ||x - x_hat||^2 / sum ||x||^2"),
    ("ce", "mean next-token cross-entropy in nats over the real tokens of each context"),
    ("ce_loss_recovered", "(ce_zero - ce_sae) / (ce_zero - ce_clean)"),
    ("delta_loss", "ce_sae - ce_clean"),
    ("delta", "delta(l, p) = (a_concept - a_deconcept) / s_l, a = the latent's largest activation over a prompt's non-special tokens, s_l = its 0.999 quantile over a general corpus (a feature store's q999, or the calibration pass over --corpus without its special tokens, as collect counts them), its largest activation there when that quantile is 0, and no scale (delta = 0, counted in `uncalibrated`) when it never fired there"),
    ("concepts", "per concept c (the pairs' `concept` field, else their domain): a latent distinguishes c when its mean delta over c's pairs exceeds t (with min_frequency phi: when delta > t on at least a share phi of c's pairs); l0t = their number, latents = the list, icdf = mean over latents and c's pairs of clamp(delta, 0, 1) (= mean over latents of the integral over t in [0, 1] of freq_l(t)), icdf_t = mean over latents of freq_l(t) (the share of c's pairs with delta > t)"),
    ("l0t_<domain>", "the sum of l0t over the domain's concepts (a latent distinguishing two concepts counts twice)"),
    ("icdf_<domain>", "the mean of icdf over the domain's concepts (area reading of I_CDF)"),
    ("icdf_t_<domain>", "the mean of icdf_t over the domain's concepts (fixed-t reading of I_CDF)"),
    ("specific_<domain>", "latents with at least 10 active contexts among their top 20 in the labeled corpus, >= 80% of which carry the domain's label"),
    ("probe_k<k>_<domain>", "k-sparse probing, k = 1, 2, 5, on the labeled corpus: one row per context (each latent's largest activation over it); the domain's contexts against the rest, the larger class thinned to the size of the smaller (the rows with the smallest SplitMix64 hash of their position), every 5th row of each class held out for testing; the k latents with the largest mean difference (mean over the domain's training rows - mean over the others') feed an L2-penalized (0.01, standardized features) logistic regression; the value is its test accuracy (chance 0.5); null with fewer than 5 rows in a class"),
    ("tpp_<domain>", "targeted probe perturbation on the labeled corpus: every domain's probe reads the union U of each domain's top 20 latents by mean difference; drop(i, j) = probe j's test accuracy - its accuracy with domain i's top 20 latents set to 0; tpp_i = drop(i, i) - the mean of drop(i, j) over the other probed domains j"),
    ("recommendations", "per hook, the candidate with the largest L0,t summed over the domains (ties: the larger mean icdf, then the first), beside the one with the best explained variance"),
];

/// Per SAE, the scales of Δ: from the feature store made for it (matched by the SAE's path
/// and hook in `store.json`), else from the calibration pass.
fn latent_scales(
    saes: &[crate::sae::Sae],
    stores: &[PathBuf],
    calibration: &[super::concepts::Calibration],
) -> Result<Vec<LatentScales>> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out: Vec<Option<LatentScales>> = vec![None; saes.len()];
    for dir in stores {
        let store = crate::store::Store::open(dir)?;
        let path = store
            .meta
            .sae
            .parse::<crate::sae::spec::SaeSpec>()
            .map(|s| canon(&s.path))
            .with_context(|| format!("feature store {}: its SAE", dir.display()))?;
        let i = saes
            .iter()
            .position(|s| canon(&s.meta.path) == path && s.hook().to_string() == store.meta.hook)
            .with_context(|| {
                format!(
                    "feature store {} was made for the SAE {} at {}, which is not among --sae",
                    dir.display(),
                    store.meta.sae,
                    store.meta.hook
                )
            })?;
        out[i] = Some(LatentScales::from_store(&store, dir, saes[i].d_sae())?);
    }
    Ok(out
        .into_iter()
        .zip(calibration)
        .map(|(s, c)| s.unwrap_or_else(|| c.scales()))
        .collect())
}

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
    // What the fidelity pass's results depend on.
    let fingerprint = format!(
        "{:?}",
        (
            &req.model,
            &req.saes,
            &req.corpus,
            &req.text_field,
            req.context,
            req.batch,
            req.tokens
        )
    );
    let checkpoint = req
        .checkpoint
        .as_deref()
        .map(|path| super::fidelity::Checkpoint {
            path,
            every_batches: req.checkpoint_every,
            resume: req.resume,
            fingerprint,
        });
    let (rows, calibration) = fidelity(
        &model,
        &saes,
        &spec,
        req.context,
        req.batch,
        req.tokens,
        checkpoint.as_ref(),
        &mut |d, t| {
            progress.set_len(t);
            progress.set_pos(d);
        },
    )?;
    for w in super::fidelity::fidelity_warnings(&rows, req.tokens) {
        progress.note(&w);
    }
    let scales = latent_scales(&saes, &req.quantiles_from, &calibration)?;
    let settings = ConceptSettings {
        threshold: req.threshold,
        min_frequency: req.min_frequency,
        chat: req.chat_pairs,
    };
    let concept = match &req.concept_pairs {
        Some(p) => Some(concept_metrics(
            &model,
            &saes,
            &read_pairs(p)?,
            &scales,
            &settings,
        )?),
        None => None,
    };
    let labeled_tokens = req.labeled_tokens.unwrap_or(req.tokens);
    let labeled = match &req.labeled_corpus {
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
    let (specific, probes) = match labeled {
        Some((s, contexts)) => {
            // Per SAE: each domain's k-sparse probes, and TPP.
            type Probes = ([Option<super::probing::DomainProbe>; 4], [Option<f64>; 4]);
            let probes: Vec<Probes> = contexts
                .iter()
                .map(|c| {
                    (
                        std::array::from_fn(|d| super::probing::k_sparse(c, d)),
                        super::probing::tpp(c),
                    )
                })
                .collect();
            (Some(s), Some(probes))
        }
        None => (None, None),
    };
    let probe_acc = |i: usize, k: usize| -> [Option<f64>; 4] {
        std::array::from_fn(|d| {
            probes
                .as_ref()
                .and_then(|p| p[i].0[d].as_ref())
                .map(|x| x.accuracy[k])
        })
    };
    let rows = rows
        .into_iter()
        .enumerate()
        .map(|(i, fidelity)| {
            let per = concept.as_ref().map(|c| c[i].per_domain());
            let domains = DomainColumns {
                l0t: std::array::from_fn(|d| per.and_then(|p| p[d].0)),
                icdf: std::array::from_fn(|d| per.and_then(|p| p[d].1)),
                icdf_t: std::array::from_fn(|d| per.and_then(|p| p[d].2)),
                specific: std::array::from_fn(|d| specific.as_ref().map(|c| c[i][d].len() as f64)),
                probe_k1: probe_acc(i, 0),
                probe_k2: probe_acc(i, 1),
                probe_k5: probe_acc(i, 2),
                tpp: probes.as_ref().map_or([None; 4], |p| p[i].1),
            };
            EvaluationRow {
                fidelity,
                domains,
                specific_latents: specific.as_ref().map(|c| PerDomain(c[i].clone())),
                probe_latents: probes.as_ref().map(|p| {
                    PerDomain(std::array::from_fn(|d| {
                        p[i].0[d]
                            .as_ref()
                            .map(|x| x.latents.clone())
                            .unwrap_or_default()
                    }))
                }),
                concepts: concept.as_ref().map(|c| c[i].concepts.clone()),
                uncalibrated: concept.as_ref().map(|c| c[i].uncalibrated as u64),
                scale_source: concept.as_ref().map(|_| {
                    let s = &scales[i];
                    format!(
                        "{}; {} latents scaled by their max (q999 = 0), {} never fired",
                        s.source, s.from_max, s.never_fired
                    )
                }),
            }
        })
        .collect::<Vec<_>>();
    let recommendations = recommend(&rows);
    Ok(EvaluationReport {
        model: req.model.model.clone(),
        corpus: req.corpus.clone(),
        context: req.context,
        rows,
        concept_pairs: req.concept_pairs.clone(),
        threshold: req.threshold,
        min_frequency: req.min_frequency,
        scaling: scaling_text(&req.quantiles_from),
        quantiles_from: req.quantiles_from.clone(),
        chat_pairs: req.chat_pairs,
        mask_special_attention: req.model.mask_special_attention,
        labeled_corpus: req.labeled_corpus.clone(),
        label_field: req.label_field.clone(),
        labeled_tokens,
        directions: directions(),
        definitions: DEFINITIONS
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        recommendations,
    })
}

/// How Δ was scaled, in words, for the given `--quantiles-from` stores.
fn scaling_text(stores: &[PathBuf]) -> String {
    if stores.is_empty() {
        return "calibration pass over the general corpus".into();
    }
    format!(
        "feature stores {} where given, else the calibration pass over the general corpus",
        stores
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Combines the reports of `evaluate` runs over disjoint groups of candidates (one Slurm task
/// per candidate, say) into the report one run over all of them gives: the rows in the order
/// given, the stores' quantile sources joined, the recommendations recomputed. The runs must
/// share every other setting (model, corpora, context, pairs, threshold, …); a candidate in
/// two reports is an error.
pub fn merge(reports: Vec<(PathBuf, EvaluationReport)>) -> Result<EvaluationReport> {
    let mut it = reports.into_iter();
    let Some((first_path, mut merged)) = it.next() else {
        bail!("no evaluation to merge");
    };
    // Everything but the rows, the stores and what follows from them must agree.
    let settings = |r: &EvaluationReport| {
        let mut v = serde_json::to_value(r).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            for k in ["rows", "quantiles_from", "scaling", "recommendations"] {
                m.remove(k);
            }
        }
        v
    };
    let want = settings(&merged);
    for (path, r) in it {
        let got = settings(&r);
        if got != want {
            let (a, b) = (want.as_object(), got.as_object());
            let differing: Vec<String> = a
                .into_iter()
                .flatten()
                .filter(|(k, v)| b.and_then(|b| b.get(*k)) != Some(*v))
                .map(|(k, _)| k.clone())
                .collect();
            bail!(
                "{} was made with other settings than {} ({}): only runs that differ in their candidates can be merged",
                path.display(),
                first_path.display(),
                differing.join(", ")
            );
        }
        for row in r.rows {
            if let Some(dup) = merged.rows.iter().find(|m| {
                m.fidelity.sae == row.fidelity.sae && m.fidelity.hook == row.fidelity.hook
            }) {
                bail!(
                    "the candidate {} at {} is in {} and in an earlier evaluation",
                    dup.fidelity.sae,
                    dup.fidelity.hook,
                    path.display()
                );
            }
            merged.rows.push(row);
        }
        for q in r.quantiles_from {
            if !merged.quantiles_from.contains(&q) {
                merged.quantiles_from.push(q);
            }
        }
    }
    merged.scaling = scaling_text(&merged.quantiles_from);
    merged.recommendations = recommend(&merged.rows);
    Ok(merged)
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
        cols.push(Series::new(
            "uncalibrated".into(),
            self.rows.iter().map(|r| r.uncalibrated).collect::<Vec<_>>(),
        ));
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
                icdf_t: [Some(0.25), None, Some(0.5), None],
                specific: [Some(2.0), Some(0.0), None, Some(1.0)],
                probe_k1: [Some(0.9), None, None, None],
                probe_k5: [Some(0.95), None, None, Some(0.5)],
                tpp: [Some(0.4), None, None, None],
                ..Default::default()
            },
            specific_latents: specific.then(|| PerDomain([vec![1, 2], vec![], vec![5], vec![7]])),
            probe_latents: None,
            concepts: specific.then(|| {
                vec![ConceptScore {
                    domain: "violence".into(),
                    concept: "insult".into(),
                    pairs: 2,
                    l0t: 2,
                    icdf: 0.1,
                    icdf_t: 0.2,
                    latents: vec![5, 3],
                }]
            }),
            uncalibrated: specific.then_some(4),
            scale_source: None,
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
            "\"icdf_t_pornography\"",
            "\"specific_pornography\"",
            "\"probe_k1_pornography\"",
            "\"probe_k2_pornography\"",
            "\"probe_k5_pornography\"",
            "\"tpp_pornography\"",
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
        assert_eq!(back.concepts, r.concepts);
        assert_eq!(back.uncalibrated, Some(4));
        assert_eq!(back.concept_latents(), vec![3, 5]);
        assert_eq!(back.l0t_total(), Some(4.0));
        let plain = serde_json::to_string(&row(false)).unwrap();
        assert!(!plain.contains("specific_latents"));
        let back: EvaluationRow = serde_json::from_str(&plain).unwrap();
        assert_eq!(back.specific_latents, None);
        assert!(!plain.contains("concepts") && !plain.contains("uncalibrated"));
    }

    /// Per hook, the largest summed L0,t wins (ties: the larger mean I_CDF, then the first);
    /// explained variance picks independently.
    #[test]
    fn recommendations_per_hook() {
        let mk = |sae: &str, hook: &str, l0t: [Option<f64>; 4], icdf: f64, ev: f64| {
            let mut r = row(false);
            r.fidelity.sae = sae.into();
            r.fidelity.hook = hook.into();
            r.fidelity.explained_variance = ev;
            r.domains.l0t = l0t;
            r.domains.icdf = [Some(icdf), None, None, None];
            r
        };
        let rows = vec![
            mk("a", "h1", [Some(10.0), Some(2.0), None, None], 0.1, 0.9),
            mk("b", "h1", [Some(6.0), Some(7.0), None, None], 0.05, 0.5),
            mk("c", "h2", [Some(5.0), None, None, None], 0.1, 0.5),
            mk("d", "h2", [Some(5.0), None, None, None], 0.2, 0.6),
            mk("e", "h2", [Some(5.0), None, None, None], 0.2, 0.7),
            mk("f", "h3", [None; 4], 0.0, 0.7),
        ];
        let got: Vec<(String, Option<String>, Option<f64>, String)> = recommend(&rows)
            .into_iter()
            .map(|r| (r.hook, r.by_l0t, r.l0t_total, r.by_explained_variance))
            .collect();
        let s = |x: &str| x.to_string();
        assert_eq!(
            got,
            vec![
                (s("h1"), Some(s("b")), Some(13.0), s("a")),
                (s("h2"), Some(s("d")), Some(5.0), s("e")),
                (s("h3"), None, None, s("f")),
            ]
        );
    }
}
