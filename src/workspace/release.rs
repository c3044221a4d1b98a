//! A workspace for the Safe-SAIL paper's release, as laid out in the authors' repository and
//! in the Hugging Face repo `OysterAI/Qwen2.5-3B-Instruct-SAEs`:
//!
//! ```text
//! data/sae_checkpoints/ckpt_layer{L}.pt          SAE of layer L (TopK k=200, component 0,
//!                                                 on blocks.L.hook_mlp_out)
//! data/activation/indices/indices_layer{L}.pt    the layer's safety-neuron ids
//! data/activation/quantiles/quantile_layer{L}.pt top / bottom 10,000 of 200,000 activations
//!                                                 per listed id
//! data/neuron_db/en_db.json, cn_db.json          the neuron database (English / Chinese)
//! ```
//!
//! [`safe_sail_release_workspace`] checks what is there, reads the index and quantile files
//! (sizes, columns against ids), and writes a workspace naming them. Checkpoints are required;
//! the rest is optional and what is missing becomes a note.

use super::{Workspace, WorkspaceSae};
use crate::model::files::{cached_snapshot, resolve_model_dir};
use crate::sae::{read_index_ids, read_quantile_file, ColumnOrder};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The release's Hugging Face repository.
pub const RELEASE_HUB_ID: &str = "OysterAI/Qwen2.5-3B-Instruct-SAEs";
/// Activations each released quantile file was taken over (the authors' `setup.py`).
pub const RELEASE_TOKENS: u64 = 200_000;
/// The TopK of the released SAEs (the authors' `setup.py`).
pub const RELEASE_TOPK: usize = 200;

/// What to make a workspace of.
#[derive(Debug, Clone)]
pub struct ReleaseOptions {
    /// The model: a folder or a hub id in the local Hugging Face cache.
    pub model: String,
    /// The release: a folder holding `data/` (or `data/` itself), or a hub id in the local
    /// Hugging Face cache.
    pub release: String,
    /// The workspace file to write.
    pub out: PathBuf,
    /// `en` or `cn`: which neuron database.
    pub lang: String,
    pub dtype: String,
    pub device: String,
    /// Activations the quantile files were taken over.
    pub quantile_tokens: u64,
}

impl ReleaseOptions {
    /// The release's settings for `model`, `release` and `out`: English, bf16 on the CPU.
    pub fn new(model: &str, release: &str, out: &Path) -> Self {
        Self {
            model: model.into(),
            release: release.into(),
            out: out.into(),
            lang: "en".into(),
            dtype: "bf16".into(),
            device: "cpu".into(),
            quantile_tokens: RELEASE_TOKENS,
        }
    }
}

/// What was found for one layer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReleaseLayer {
    pub layer: usize,
    pub checkpoint: PathBuf,
    /// The indices file, with its number of ids and of distinct ids.
    pub indices: Option<(PathBuf, usize, usize)>,
    /// The quantile file, with its values kept per neuron and how they were stored.
    pub quantiles: Option<(PathBuf, usize, ColumnOrder)>,
}

/// What [`safe_sail_release_workspace`] wrote.
#[derive(Debug, Clone)]
pub struct ReleaseReport {
    /// The release's `data/` folder.
    pub data: PathBuf,
    pub layers: Vec<ReleaseLayer>,
    pub neuron_db: Option<PathBuf>,
    /// What is missing, for the user.
    pub notes: Vec<String>,
    pub workspace: Workspace,
}

/// The release's `data/` folder: `spec` as a folder (holding `data/`, or `data/` itself), else
/// as a hub id in the local Hugging Face cache.
pub fn resolve_release(spec: &str) -> Result<PathBuf> {
    let p = Path::new(spec);
    if p.is_dir() {
        for d in [p.join("data"), p.to_path_buf()] {
            if d.join("sae_checkpoints").is_dir() {
                return Ok(d);
            }
        }
        bail!(
            "{} does not hold the Safe-SAIL release layout: no data/sae_checkpoints/ folder \
             (download it with `huggingface-cli download {RELEASE_HUB_ID}`)",
            p.display()
        );
    }
    if p.exists() {
        bail!("release `{spec}` is a file; give the folder that holds data/");
    }
    let hub_id = crate::model::files::looks_like_hub_id(spec);
    if !hub_id {
        bail!("release folder `{spec}` does not exist");
    }
    match cached_snapshot(spec, "data/sae_checkpoints") {
        Some(d) => Ok(d.join("data")),
        None => bail!(
            "release `{spec}` is neither a folder nor in the local Hugging Face cache with a \
             data/sae_checkpoints/ folder (looked in {}); download it on a machine with network \
             access, e.g. `huggingface-cli download {spec}`",
            crate::model::files::hub_cache_dirs()
                .iter()
                .map(|c| c.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The SAE spec of the release's checkpoint `ckpt` of layer `layer` (TopK k=200, component 0,
/// on the layer's MLP output), as [`crate::sae::SaeSpec`] reads it.
pub fn release_sae_spec(ckpt: &Path, layer: usize) -> String {
    format!(
        "{},format=safe-sail,component=0,activation=topk:{RELEASE_TOPK},hook=blocks.{layer}.hook_mlp_out",
        ckpt.display()
    )
}

/// The SAE specs of every checkpoint of the release's `data/` folder, in layer order.
pub fn release_sae_specs(data: &Path) -> Result<Vec<String>> {
    let ckpts = checkpoint_layers(&data.join("sae_checkpoints"))?;
    if ckpts.is_empty() {
        bail!(
            "no SAE checkpoints (ckpt_layer{{L}}.pt) in {}",
            data.join("sae_checkpoints").display()
        );
    }
    Ok(ckpts
        .iter()
        .map(|(l, p)| release_sae_spec(&absolute(p), *l))
        .collect())
}

/// The 0.999 quantiles of the neurons the release lists for layer `layer` (latent → value), from
/// its indices and quantile files in `data/`, taken over `tokens` activations; `None` when the
/// release has no indices or no quantile file for the layer.
pub fn layer_quantiles(
    data: &Path,
    layer: usize,
    tokens: u64,
) -> Result<Option<HashMap<u32, f32>>> {
    let ip = data.join(format!("activation/indices/indices_layer{layer}.pt"));
    let qp = data.join(format!("activation/quantiles/quantile_layer{layer}.pt"));
    if !ip.exists() || !qp.exists() {
        return Ok(None);
    }
    let ids = read_index_ids(&ip)?;
    let q = read_quantile_file(&qp, tokens, Some(ids.len()))?;
    Ok(Some(q.by_id(&ids)))
}

/// The layers with a checkpoint `ckpt_layer{L}.pt` in `dir`, in order.
fn checkpoint_layers(dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let mut out = vec![];
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let layer = name
            .strip_prefix("ckpt_layer")
            .and_then(|r| r.strip_suffix(".pt"))
            .and_then(|l| l.parse::<usize>().ok());
        if let Some(l) = layer {
            out.push((l, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// `p` absolute, with its folders resolved but a linked file kept as named (see
/// [`crate::fsutil::resolve_folders`]): the workspace names a cache snapshot's files, not the
/// blobs they link to.
fn absolute(p: &Path) -> PathBuf {
    crate::fsutil::resolve_folders(p).unwrap_or_else(|| p.to_path_buf())
}

/// The neuron database of a release in the Hugging Face cache, copied beside the workspace
/// `out` as `{lang}_db.json` so edits never touch the cache (whose files are links to shared,
/// content-addressed blobs). A copy already there is kept as it is: it holds earlier edits.
fn copy_out_of_cache(
    db: &Path,
    out: &Path,
    lang: &str,
    notes: &mut Vec<String>,
) -> Result<PathBuf> {
    let copy = crate::fsutil::folder_of(out).join(format!("{lang}_db.json"));
    if copy.exists() {
        crate::db::NeuronDb::load(&copy).with_context(|| {
            format!(
                "{} (the workspace's copy of the release's database)",
                copy.display()
            )
        })?;
        notes.push(format!(
            "kept the existing copy {} of the release's database (it may hold edits; delete it \
             to copy {} again)",
            copy.display(),
            db.display()
        ));
    } else {
        let bytes = std::fs::read(db).with_context(|| format!("cannot read {}", db.display()))?;
        crate::fsutil::write_atomic(&copy, &bytes)?;
        notes.push(format!(
            "copied the release's database out of the Hugging Face cache to {}: edits go there, \
             the cache stays as downloaded",
            copy.display()
        ));
    }
    Ok(absolute(&copy))
}

/// Writes a workspace for the Safe-SAIL release (see the module doc) to `o.out`: one SAE per
/// checkpoint, with its indices and quantile files when present, and the chosen neuron
/// database. Missing checkpoints, an unknown `lang` and broken files are errors; a missing
/// indices, quantile or database file or a model not found yet are notes.
pub fn safe_sail_release_workspace(o: &ReleaseOptions) -> Result<ReleaseReport> {
    let lang = o.lang.trim().to_ascii_lowercase();
    if lang != "en" && lang != "cn" {
        bail!("--lang `{}`: the release has en and cn databases", o.lang);
    }
    let data = resolve_release(&o.release)?;
    let ckpts = checkpoint_layers(&data.join("sae_checkpoints"))?;
    if ckpts.is_empty() {
        bail!(
            "no SAE checkpoints (ckpt_layer{{L}}.pt) in {}: the release's SAEs are missing",
            data.join("sae_checkpoints").display()
        );
    }
    let mut notes = vec![];
    let mut layers = vec![];
    let mut saes = vec![];
    for (layer, ckpt) in ckpts {
        let ckpt = absolute(&ckpt);
        let ip = data.join(format!("activation/indices/indices_layer{layer}.pt"));
        let qp = data.join(format!("activation/quantiles/quantile_layer{layer}.pt"));
        let indices = if ip.exists() {
            let ids = read_index_ids(&ip)?;
            let unique = ids.iter().collect::<BTreeSet<_>>().len();
            Some((absolute(&ip), ids.len(), unique))
        } else {
            notes.push(format!(
                "layer {layer}: no indices file ({}): the safety overview considers every \
                 safety-tagged neuron of the database",
                ip.display()
            ));
            None
        };
        let quantiles = match (&indices, qp.exists()) {
            (Some((_, n, _)), true) => {
                let q = read_quantile_file(&qp, o.quantile_tokens, Some(*n))?;
                Some((absolute(&qp), q.k, q.order))
            }
            (None, true) => {
                notes.push(format!(
                    "layer {layer}: {} is not used: its columns belong to the ids of the \
                     missing indices file",
                    qp.display()
                ));
                None
            }
            (_, false) => {
                notes.push(format!(
                    "layer {layer}: no quantile file ({}): activations are normalized by their \
                     largest value in each prompt until a feature store is collected",
                    qp.display()
                ));
                None
            }
        };
        saes.push(WorkspaceSae {
            name: format!("L{layer} Safe-SAIL topk{RELEASE_TOPK}"),
            sae: release_sae_spec(&ckpt, layer),
            store: None,
            eval: None,
            neuron_db: None,
            indices: indices.as_ref().map(|i| i.0.display().to_string()),
            quantiles: quantiles.as_ref().map(|q| q.0.display().to_string()),
            quantile_tokens: quantiles.as_ref().map(|_| o.quantile_tokens),
            inspect: None,
        });
        layers.push(ReleaseLayer {
            layer,
            checkpoint: ckpt,
            indices,
            quantiles,
        });
    }
    let db_path = data.join(format!("neuron_db/{lang}_db.json"));
    let neuron_db = if db_path.exists() {
        crate::db::NeuronDb::load(&db_path)?;
        // In a Hugging Face cache (given as a hub id or as a snapshot folder) the file is a
        // link to a shared blob: edits go to a copy.
        if crate::fsutil::in_hub_cache_blobs(&db_path) {
            Some(copy_out_of_cache(&db_path, &o.out, &lang, &mut notes)?)
        } else {
            Some(absolute(&db_path))
        }
    } else {
        notes.push(format!(
            "no neuron database ({}): neurons have no explanations or tags",
            db_path.display()
        ));
        None
    };
    let model = match resolve_model_dir(&o.model) {
        Ok(dir) if Path::new(&o.model).is_dir() => absolute(&dir).display().to_string(),
        Ok(_) => o.model.clone(),
        Err(e) => {
            notes.push(format!("the model is not there yet: {e:#}"));
            o.model.clone()
        }
    };
    let mut ws = Workspace {
        name: format!("Safe-SAIL release ({lang})"),
        model,
        dtype: o.dtype.clone(),
        device: o.device.clone(),
        system_prompt: None,
        saes,
        neuron_db: neuron_db.as_ref().map(|p| p.display().to_string()),
        // As the authors' demo reads activations: chat markers hidden from attention.
        mask_special_attention: true,
        starter_prompts: vec![],
        steer_sets: vec![],
        tripwires: vec![],
        file: None,
    };
    if let Some(dir) = o.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder of {}", o.out.display()))?;
    }
    ws.save_as(&o.out)?;
    ws.file = Some(o.out.clone());
    Ok(ReleaseReport {
        data: absolute(&data),
        layers,
        neuron_db,
        notes,
        workspace: ws,
    })
}
