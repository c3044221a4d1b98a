//! Neuronpedia's export layout (what its `utils/neuronpedia-utils/export-data.py` writes and a
//! local Neuronpedia imports through its admin panel), written from a feature store and a
//! neuron database, and its explanations read back into a database with their provenance.
//!
//! Layout under the output folder: `<modelId>/<sourceId>/features/batch-N.jsonl.gz`,
//! `activations/batch-N.jsonl.gz`, `explanations/batch-N.jsonl.gz` and (ours, see
//! [`NpExplanationScore`]) `explanation_scores/batch-N.jsonl.gz` (1024 latents per batch, one
//! JSON row per line, gzip as Neuronpedia's export compresses them). The rows hold the
//! columns that script selects from Neuronpedia's `Neuron`, `Activation` and `Explanation`
//! tables; columns we have no data for are written empty (`[]` or `null`).

use super::{argmax, bin_range, histogram_bars, store_layer};
use crate::db::editable::{current_user, Change, Edit, EditableDb};
use crate::db::provenance::ExplanationSource;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Latents per batch file, as Neuronpedia's export.
pub const BATCH: usize = 1024;

/// One row of `features/batch-N.jsonl` (Neuronpedia's `Neuron` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NpFeature {
    #[serde(rename = "modelId")]
    pub model_id: String,
    /// The source id, `<layer>-<sourceSetName>`.
    pub layer: String,
    /// The latent, as a string (Neuronpedia keys features by text).
    pub index: String,
    #[serde(rename = "maxActApprox")]
    pub max_act_approx: f64,
    #[serde(rename = "creatorId")]
    pub creator_id: Option<String>,
    /// Fraction of tokens where the latent is > 0.
    pub frac_nonzero: f64,
    pub freq_hist_data_bar_heights: Vec<f64>,
    pub freq_hist_data_bar_values: Vec<f64>,
    pub logits_hist_data_bar_heights: Vec<f64>,
    pub logits_hist_data_bar_values: Vec<f64>,
    pub neuron_alignment_indices: Vec<i64>,
    pub neuron_alignment_l1: Vec<f64>,
    pub neuron_alignment_values: Vec<f64>,
    pub correlated_neurons_indices: Vec<i64>,
    pub correlated_neurons_l1: Vec<f64>,
    pub correlated_neurons_pearson: Vec<f64>,
    pub decoder_weights_dist: Vec<f64>,
    /// The tokens the decoder direction suppresses most, strongest first.
    pub neg_str: Vec<String>,
    pub neg_values: Vec<f64>,
    /// The tokens it promotes most, strongest first.
    pub pos_str: Vec<String>,
    pub pos_values: Vec<f64>,
    #[serde(rename = "sourceSetName")]
    pub source_set_name: String,
    #[serde(rename = "topkCosSimIndices")]
    pub topk_cos_sim_indices: Vec<i64>,
    #[serde(rename = "topkCosSimValues")]
    pub topk_cos_sim_values: Vec<f64>,
    pub vector: Vec<f64>,
    #[serde(rename = "vectorLabel")]
    pub vector_label: Option<String>,
    #[serde(rename = "hookName")]
    pub hook_name: String,
    #[serde(rename = "vectorDefaultSteerStrength")]
    pub vector_default_steer_strength: f64,
    #[serde(rename = "hasVector")]
    pub has_vector: bool,
}

/// One row of `activations/batch-N.jsonl` (Neuronpedia's `Activation` table): one example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NpActivation {
    pub id: String,
    #[serde(rename = "modelId")]
    pub model_id: String,
    pub layer: String,
    pub index: String,
    #[serde(rename = "creatorId")]
    pub creator_id: Option<String>,
    #[serde(rename = "dataSource")]
    pub data_source: Option<String>,
    pub tokens: Vec<String>,
    #[serde(rename = "maxValue")]
    pub max_value: f64,
    #[serde(rename = "minValue")]
    pub min_value: f64,
    pub values: Vec<f64>,
    #[serde(rename = "maxValueTokenIndex")]
    pub max_value_token_index: usize,
    #[serde(rename = "dfaValues")]
    pub dfa_values: Vec<f64>,
    #[serde(rename = "dfaMaxValue")]
    pub dfa_max_value: Option<f64>,
    #[serde(rename = "dfaTargetIndex")]
    pub dfa_target_index: Option<i64>,
    #[serde(rename = "binContains")]
    pub bin_contains: Option<f64>,
    /// `-1` for the top examples; a quantile example's bin's lower edge.
    #[serde(rename = "binMin")]
    pub bin_min: f64,
    #[serde(rename = "binMax")]
    pub bin_max: f64,
}

/// One row of `explanations/batch-N.jsonl` (Neuronpedia's `Explanation` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NpExplanation {
    pub id: String,
    #[serde(rename = "modelId")]
    pub model_id: String,
    pub layer: String,
    pub index: String,
    #[serde(rename = "authorId")]
    pub author_id: Option<String>,
    pub description: String,
    pub embedding: Option<Vec<f64>>,
    #[serde(rename = "typeName")]
    pub type_name: Option<String>,
    #[serde(rename = "explanationModelName")]
    pub explanation_model_name: Option<String>,
    pub umap_x: Option<f64>,
    pub umap_y: Option<f64>,
    pub umap_cluster: Option<f64>,
    pub umap_log_feature_sparsity: Option<f64>,
}

/// One row of `explanation_scores/batch-N.jsonl` (the columns of Neuronpedia's
/// `ExplanationScore` table): a score of an exported explanation by another method than
/// simulation (the record's `method_scores`). Neuronpedia's export script writes no such file;
/// it is ours, in their column names, so a reader of the export finds the scores beside the
/// explanations they belong to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NpExplanationScore {
    pub id: String,
    #[serde(rename = "initiatedByUserId")]
    pub initiated_by_user_id: Option<String>,
    /// The headline value: balanced accuracy (detection, fuzzing) or AUC (embedding).
    pub value: f64,
    /// The `id` of the explanation row scored.
    #[serde(rename = "explanationId")]
    pub explanation_id: String,
    /// Neuronpedia's names for Delphi's scorers: `eleuther_recall` (detection),
    /// `eleuther_fuzz` (fuzzing), `eleuther_embedding` (embedding); another method's own name.
    #[serde(rename = "explanationScoreTypeName")]
    pub explanation_score_type_name: String,
    /// The scorer model.
    #[serde(rename = "explanationScoreModelName")]
    pub explanation_score_model_name: String,
    /// Our whole score record (`method_scores` entry) as a JSON string.
    #[serde(rename = "jsonDetails")]
    pub json_details: String,
    /// When it was scored, RFC 3339 (UTC); `null` when the record has no readable date.
    #[serde(rename = "createdAt")]
    pub created_at: Option<String>,
}

/// Neuronpedia's score type name for one of our methods.
pub fn score_type_name(method: &str) -> String {
    match method {
        "detection" => "eleuther_recall".into(),
        "fuzzing" => "eleuther_fuzz".into(),
        "embedding" => "eleuther_embedding".into(),
        other => other.to_string(),
    }
}

/// A `unix:SECONDS` date as RFC 3339.
fn rfc3339(date: &str) -> Option<String> {
    let secs: u64 = date.strip_prefix("unix:")?.trim().parse().ok()?;
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    Some(humantime::format_rfc3339_seconds(t).to_string())
}

/// The names an export is filed under, and the nearest neighbours it lists.
#[derive(Debug, Clone, Default)]
pub struct ExportNames {
    /// Neuronpedia's model id (default: the model folder's name).
    pub model_id: Option<String>,
    /// The source set (default `safesail-<site>`, e.g. `safesail-mlp-out`); the source id is
    /// `<layer>-<set>`.
    pub source_set: Option<String>,
    /// How many nearest latents by decoder cosine each feature lists (`topkCosSim*`; 0: none).
    pub neighbours: usize,
    /// The SAE (spec) whose decoder gives them (default: the one the store was collected with).
    pub sae: Option<String>,
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// `<out>/<modelId>/<sourceId>`.
    pub dir: PathBuf,
    pub features: usize,
    pub activations: usize,
    pub explanations: usize,
    /// Rows of `explanation_scores` (scores of the exported explanations by other methods).
    pub scores: usize,
}

/// The `typeName` we give our explanations.
pub const TYPE_NAME: &str = "safe-sail";

fn site_slug(hook: &str) -> String {
    hook.rsplit('.')
        .next()
        .unwrap_or(hook)
        .trim_start_matches("hook_")
        .replace('_', "-")
}

/// Writes one batch file (JSON lines, gzip) atomically.
fn write_batch<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut text = String::new();
    for r in rows {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(5));
    gz.write_all(text.as_bytes())?;
    crate::fsutil::write_atomic(path, &gz.finish()?)
}

/// Exports a feature store (and the explanations of `db` for its layer) in Neuronpedia's
/// layout under `out`.
pub fn export(
    store_dir: &Path,
    db: Option<&EditableDb>,
    names: &ExportNames,
    out: &Path,
) -> Result<Exported> {
    let store = Store::open(store_dir)?;
    let layer = store_layer(&store)?;
    let model_id = match &names.model_id {
        Some(m) => m.clone(),
        None => Path::new(&store.model_path())
            .file_name()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "model".into()),
    };
    let set = names
        .source_set
        .clone()
        .unwrap_or_else(|| format!("safesail-{}", site_slug(&store.meta.hook)));
    if set.is_empty() || set.contains(['/', '\\']) || model_id.contains(['/', '\\']) {
        bail!(
            "model id `{model_id}` and source set `{set}` must be non-empty names without slashes"
        );
    }
    let source = format!("{layer}-{set}");
    let dir = out.join(&model_id).join(&source);
    for sub in [
        "features",
        "activations",
        "explanations",
        "explanation_scores",
    ] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
    }
    let bins = store.settings_bins();
    let data_source = store
        .meta
        .corpus
        .iter()
        .map(|c| {
            Path::new(c)
                .file_name()
                .map_or(c.clone(), |s| s.to_string_lossy().to_string())
        })
        .collect::<Vec<_>>()
        .join(",");
    let near = if names.neighbours > 0 {
        let spec = names.sae.clone().unwrap_or_else(|| store.sae_path());
        let sae = crate::sae::load_sae(
            &spec.parse().with_context(|| format!("SAE `{spec}`"))?,
            &candle_core::Device::Cpu,
        )
        .with_context(|| {
            format!("the decoder for the nearest neighbours (give another with --sae, or --neighbours 0): {spec}")
        })?;
        if sae.d_sae() != store.meta.d_sae {
            bail!(
                "SAE {spec} has {} latents but the store {} has {}: not the store's SAE",
                sae.d_sae(),
                store_dir.display(),
                store.meta.d_sae
            );
        }
        crate::families::all_neighbours(&crate::families::unit_decoder(&sae)?, names.neighbours)?
    } else {
        vec![]
    };
    let mut features: Vec<&crate::store::FeatureRow> = store.features.iter().collect();
    features.sort_by_key(|f| f.latent);
    let mut totals = (0, 0, 0, 0);
    for (b, chunk) in features.chunks(BATCH).enumerate() {
        let (mut fr, mut ar, mut er, mut sr) = (vec![], vec![], vec![], vec![]);
        for f in chunk {
            let index = f.latent.to_string();
            let (values, heights) = histogram_bars(f);
            fr.push(NpFeature {
                model_id: model_id.clone(),
                layer: source.clone(),
                index: index.clone(),
                max_act_approx: f.max_act as f64,
                creator_id: None,
                frac_nonzero: f.density,
                freq_hist_data_bar_heights: heights,
                freq_hist_data_bar_values: values,
                logits_hist_data_bar_heights: vec![],
                logits_hist_data_bar_values: vec![],
                neuron_alignment_indices: vec![],
                neuron_alignment_l1: vec![],
                neuron_alignment_values: vec![],
                correlated_neurons_indices: vec![],
                correlated_neurons_l1: vec![],
                correlated_neurons_pearson: vec![],
                decoder_weights_dist: vec![],
                neg_str: f.bottom_logit_tokens.clone(),
                neg_values: f.bottom_logit_values.iter().map(|&v| v as f64).collect(),
                pos_str: f.top_logit_tokens.clone(),
                pos_values: f.top_logit_values.iter().map(|&v| v as f64).collect(),
                source_set_name: set.clone(),
                topk_cos_sim_indices: near
                    .get(f.latent as usize)
                    .map(|v| v.iter().map(|p| p.0 as i64).collect())
                    .unwrap_or_default(),
                topk_cos_sim_values: near
                    .get(f.latent as usize)
                    .map(|v| v.iter().map(|p| p.1 as f64).collect())
                    .unwrap_or_default(),
                vector: vec![],
                vector_label: None,
                hook_name: store.meta.hook.clone(),
                vector_default_steer_strength: 10.0,
                has_vector: false,
            });
            for e in store.examples(f.latent).iter() {
                let (bin_min, bin_max) = bin_range(e, f.max_act, bins);
                let imax = argmax(&e.acts);
                ar.push(NpActivation {
                    id: format!("{model_id}@{source}@{index}@{}{}-{}", e.kind, e.bin, e.rank),
                    model_id: model_id.clone(),
                    layer: source.clone(),
                    index: index.clone(),
                    creator_id: None,
                    data_source: Some(format!("{data_source}#doc{}+{}", e.doc, e.offset)),
                    tokens: e.tokens.clone(),
                    max_value: e.acts.get(imax).copied().unwrap_or(0.0) as f64,
                    min_value: e
                        .acts
                        .iter()
                        .copied()
                        .fold(f32::INFINITY, f32::min)
                        .min(0.0) as f64,
                    values: e.acts.iter().map(|&v| v as f64).collect(),
                    max_value_token_index: imax,
                    dfa_values: vec![],
                    dfa_max_value: None,
                    dfa_target_index: None,
                    bin_contains: None,
                    bin_min,
                    bin_max,
                });
            }
            let id = crate::db::neuron_id(layer, f.latent);
            let rec = db.and_then(|d| d.entries.get(&id).map(|v| (d.record(&id), v)));
            if let Some((Some(r), raw)) = rec {
                if let Some(text) = r.explanation.filter(|t| !t.trim().is_empty() && t != "***") {
                    let src = ExplanationSource::of(raw);
                    let model_name =
                        src.as_ref()
                            .map(|s| match (&s.author, s.explainer.as_str()) {
                                (Some(a), "human") => format!("human:{a}"),
                                _ => s.explainer.clone(),
                            });
                    let explanation_id = format!("{model_id}@{source}@{index}@{TYPE_NAME}");
                    // Scores of this explanation (not of an earlier one) by other methods.
                    for m in crate::db::provenance::MethodScore::all_of(raw) {
                        let Some(value) = m.value().filter(|_| m.explanation == text) else {
                            continue;
                        };
                        sr.push(NpExplanationScore {
                            id: format!("{explanation_id}@{}", m.method),
                            initiated_by_user_id: None,
                            value,
                            explanation_id: explanation_id.clone(),
                            explanation_score_type_name: score_type_name(&m.method),
                            explanation_score_model_name: m.scorer.clone(),
                            json_details: serde_json::to_string(&m)?,
                            created_at: rfc3339(&m.date),
                        });
                    }
                    er.push(NpExplanation {
                        id: explanation_id,
                        model_id: model_id.clone(),
                        layer: source.clone(),
                        index: index.clone(),
                        author_id: None,
                        description: text,
                        embedding: None,
                        type_name: Some(TYPE_NAME.into()),
                        explanation_model_name: model_name,
                        umap_x: None,
                        umap_y: None,
                        umap_cluster: None,
                        umap_log_feature_sparsity: None,
                    });
                }
            }
        }
        let name = format!("batch-{b}.jsonl.gz");
        write_batch(&dir.join("features").join(&name), &fr)?;
        write_batch(&dir.join("activations").join(&name), &ar)?;
        write_batch(&dir.join("explanations").join(&name), &er)?;
        write_batch(&dir.join("explanation_scores").join(&name), &sr)?;
        totals.0 += fr.len();
        totals.1 += ar.len();
        totals.2 += er.len();
        totals.3 += sr.len();
    }
    Ok(Exported {
        dir,
        features: totals.0,
        activations: totals.1,
        explanations: totals.2,
        scores: totals.3,
    })
}

/// Reads every row of the batch files in `dir` (`batch-N.jsonl` or `batch-N.jsonl.gz`, in
/// batch order) as `T`; a bad line is an error naming its file and line.
pub fn read_rows<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<Vec<T>> {
    let mut files: Vec<(usize, PathBuf)> = vec![];
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let p = entry?.path();
        let name = p
            .file_name()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let stem = name
            .strip_suffix(".jsonl.gz")
            .or_else(|| name.strip_suffix(".jsonl"));
        if let Some(n) = stem
            .and_then(|s| s.strip_prefix("batch-"))
            .and_then(|n| n.parse().ok())
        {
            files.push((n, p));
        }
    }
    files.sort();
    let mut rows = vec![];
    for (_, p) in files {
        let bytes = std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let text = if p.extension().is_some_and(|e| e == "gz") {
            let mut s = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut s)
                .with_context(|| format!("{} is not gzip-compressed UTF-8 text", p.display()))?;
            s
        } else {
            String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", p.display()))?
        };
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            rows.push(
                serde_json::from_str(line)
                    .with_context(|| format!("{} line {}", p.display(), i + 1))?,
            );
        }
    }
    Ok(rows)
}

/// The explanation folders under a Neuronpedia export: `dir` itself when it holds an
/// `explanations` folder, else every `<modelId>/<sourceId>/explanations` beneath it.
fn explanation_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.join("explanations").is_dir() {
        return Ok(vec![dir.join("explanations")]);
    }
    let mut out = vec![];
    let subdirs = |d: &Path| -> Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .with_context(|| format!("cannot read {}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        v.sort();
        Ok(v)
    };
    for m in subdirs(dir)? {
        if m.join("explanations").is_dir() {
            out.push(m.join("explanations"));
            continue;
        }
        for s in subdirs(&m)? {
            if s.join("explanations").is_dir() {
                out.push(s.join("explanations"));
            }
        }
    }
    if out.is_empty() {
        bail!(
            "{} holds no Neuronpedia export (no `explanations` folder in it, or in <modelId>/<sourceId>/ beneath it)",
            dir.display()
        );
    }
    Ok(out)
}

/// The layer of a Neuronpedia source id (`6-res-jb` → 6).
pub fn source_layer(source: &str) -> Result<usize> {
    source
        .split('-')
        .next()
        .and_then(|l| l.parse().ok())
        .with_context(|| {
            format!("source `{source}` does not start with a layer number (LAYER-SET)")
        })
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// Explanation rows read.
    pub rows: usize,
    /// Neurons whose explanation was set.
    pub set: usize,
    /// Neurons that already had this explanation.
    pub unchanged: usize,
    /// Neurons that have another explanation, left alone (without `replace`).
    pub kept: usize,
    /// Further explanations of a neuron already taken from this export (the first wins).
    pub duplicates: usize,
    /// Fields changed.
    pub changes: usize,
}

/// Imports the explanations of a Neuronpedia export into the database at `db` (created when
/// absent): neuron `<layer>_<index>` gets the description, with an `explanation_source`
/// naming Neuronpedia's explanation model, author, type and where it came from. A neuron
/// that already has another explanation keeps it unless `replace`. Every change goes into
/// the edit history as made by `neuronpedia-import:<user>`.
pub fn import(export_dir: &Path, db: &Path, replace: bool) -> Result<Imported> {
    let mut rows: Vec<NpExplanation> = vec![];
    for d in explanation_dirs(export_dir)? {
        rows.extend(read_rows::<NpExplanation>(&d)?);
    }
    let mut plan: Vec<(String, Edit)> = vec![];
    let mut r = Imported {
        rows: rows.len(),
        ..Default::default()
    };
    let mut seen = std::collections::HashSet::new();
    let date = format!(
        "unix:{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    );
    for x in rows {
        let layer = source_layer(&x.layer)?;
        let latent: u32 = x.index.trim().parse().with_context(|| {
            format!(
                "explanation `{}`: index `{}` is not a latent number",
                x.id, x.index
            )
        })?;
        let id = crate::db::neuron_id(layer, latent);
        if !seen.insert(id.clone()) {
            r.duplicates += 1;
            continue;
        }
        // Our export writes a person's explanation as `human:<author>`.
        let model = x
            .explanation_model_name
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "neuronpedia".into());
        let (explainer, author) = match model.strip_prefix("human:") {
            Some(a) => (
                "human".to_string(),
                x.author_id.clone().or(Some(a.to_string())),
            ),
            None => (model, x.author_id.clone()),
        };
        let source = ExplanationSource {
            explainer,
            author,
            prompt_version: None,
            examples: None,
            date: Some(date.clone()),
            imported_from: Some(format!(
                "neuronpedia:{}/{}/{} ({})",
                x.model_id,
                x.layer,
                x.index,
                export_dir.display()
            )),
            explanation_type: x.type_name.clone(),
        };
        plan.push((
            id,
            Edit {
                explanation: Some(Some(x.description)),
                explanation_source: Some(Some(source)),
                ..Default::default()
            },
        ));
    }
    let who = format!("neuronpedia-import:{}", current_user());
    crate::db::commit::update(db, |d| {
        let mut changes: Vec<Change> = vec![];
        let mut r = r.clone();
        for (id, e) in &plan {
            let now = d.record(id).and_then(|rec| rec.explanation);
            let new = e.explanation.clone().flatten();
            if now == new {
                r.unchanged += 1;
                continue;
            }
            if now.as_deref().is_some_and(|t| !t.trim().is_empty()) && !replace {
                r.kept += 1;
                continue;
            }
            changes.extend(d.apply(id, e, &who)?);
            r.set += 1;
        }
        r.changes = changes.len();
        Ok((changes, r))
    })
}

/// The `explanation_source` of an imported record, if it came from Neuronpedia.
pub fn imported_from(entry: &Value) -> Option<String> {
    ExplanationSource::of(entry)?.imported_from
}
