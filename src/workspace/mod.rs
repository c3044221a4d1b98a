//! A workspace file (`*.sail.json`) names one model, its SAEs (each with its feature store
//! and evaluation results, when present) and a neuron database. Paths are relative to the
//! workspace file. [`OpenedWorkspace::open`] reads what it names; [`Workspace::load_model`]
//! loads its model and SAEs.

pub mod cluster;
pub mod new;
pub mod open;
pub mod release;
pub mod sample;
pub mod sessions;
pub mod starters;

pub use open::{OpenedSae, OpenedWorkspace};
pub use release::{safe_sail_release_workspace, ReleaseOptions, ReleaseReport};
pub use sessions::Sessions;
pub use starters::{starters_of, StarterPrompt};

use crate::sae::SaeSpec;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One SAE of a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceSae {
    /// A short display name, e.g. `L8 topk32 w4096`.
    pub name: String,
    /// The SAE as on the command line: `PATH[,key=value...]`.
    pub sae: String,
    /// Its feature store folder (made by `safe-sail collect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Its evaluation folder (made by `safe-sail evaluate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<String>,
    /// A neuron database for this SAE alone (overrides the workspace's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neuron_db: Option<String>,
    /// A Safe-SAIL neuron-index file (`indices_layer{L}.pt`): the latents the safety overview
    /// considers (all, when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indices: Option<String>,
    /// A Safe-SAIL quantile file (`quantile_layer{L}.pt`, one column per id of `indices`): the
    /// 0.999 quantiles that normalize activations when the SAE has no feature store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantiles: Option<String>,
    /// How many activations the quantile file was taken over (the release: 200,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile_tokens: Option<u64>,
    /// Whether the prompt inspector runs this SAE (chosen in the window). Absent: it does
    /// when the SAE has a feature store or explained neurons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspect: Option<bool>,
}

/// The workspace file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    pub name: String,
    /// A model folder (relative to the workspace) or a hub id.
    pub model: String,
    #[serde(default = "default_dtype")]
    pub dtype: String,
    #[serde(default = "default_device")]
    pub device: String,
    /// The system prompt the inspector starts with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    #[serde(default)]
    pub saes: Vec<WorkspaceSae>,
    /// A Safe-SAIL neuron database (`{layer}_{index}` keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neuron_db: Option<String>,
    /// Hide `<|im_start|>` / `<|im_end|>` from attention before reading activations, as the
    /// Safe-SAIL authors' demo does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mask_special_attention: bool,
    /// Prompts the inspector offers as one-click starters (none: the defaults of
    /// `assets/starter_prompts.toml`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub starter_prompts: Vec<StarterPrompt>,
    /// Named sets of neuron interventions saved from the Steer panel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steer_sets: Vec<SteerSet>,
    /// Tripwires the inspector marks and the Steer panel runs:
    /// `ID_OR_DOMAIN>THRESHOLD[:stop|:steer=...]`, as `safe-sail steer --tripwire` takes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tripwires: Vec<String>,
    /// Where the file was read from (not stored).
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

/// A named list of neuron interventions (the Steer panel's saved sets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SteerSet {
    pub name: String,
    /// Each as `safe-sail steer --set` takes it: `NAME:L_I=VALUE:add|clamp` or `NAME:L_I=ablate`
    /// (`VALUE` absolute, or `3x` = 3 × the neuron's max activation).
    pub interventions: Vec<String>,
    /// Where they apply.
    #[serde(default)]
    pub positions: crate::steer::Positions,
}

fn default_dtype() -> String {
    "f32".into()
}

fn default_device() -> String {
    "cpu".into()
}

impl Workspace {
    /// Reads a workspace file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read workspace {}", path.display()))?;
        let mut ws: Workspace = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid workspace file", path.display()))?;
        if ws.model.trim().is_empty() {
            bail!("{}: `model` is empty", path.display());
        }
        ws.file = Some(path.to_path_buf());
        Ok(ws)
    }

    /// Writes the workspace atomically (temporary file, fsync, rename), with paths made
    /// relative to the new location where possible.
    pub fn save_as(&self, path: &Path) -> Result<()> {
        let mut out = self.clone();
        let new_dir = crate::fsutil::folder_of(path);
        let rel = |p: &str| -> String {
            let abs = self.resolve(p);
            if !abs.exists() {
                return p.to_string();
            }
            relative_to(&abs, new_dir)
                .unwrap_or(abs)
                .display()
                .to_string()
        };
        out.model = rel(&self.model);
        out.neuron_db = self.neuron_db.as_deref().map(rel);
        for s in &mut out.saes {
            let (p, opts) = s
                .sae
                .split_once(',')
                .map_or((s.sae.as_str(), ""), |(p, o)| (p, o));
            let p = rel(p);
            s.sae = if opts.is_empty() {
                p
            } else {
                format!("{p},{opts}")
            };
            s.store = s.store.as_deref().map(rel);
            s.eval = s.eval.as_deref().map(rel);
            s.neuron_db = s.neuron_db.as_deref().map(rel);
            s.indices = s.indices.as_deref().map(rel);
            s.quantiles = s.quantiles.as_deref().map(rel);
        }
        let text = serde_json::to_string_pretty(&out)?;
        crate::fsutil::write_atomic(path, text.as_bytes())
    }

    /// The folder relative paths start from.
    pub fn dir(&self) -> PathBuf {
        self.file
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// A path of the workspace, made absolute against its folder.
    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir().join(p)
        }
    }

    /// The model argument: a folder resolved against the workspace, or a hub id as given.
    pub fn model_spec(&self) -> String {
        let local = self.resolve(&self.model);
        if local.exists() {
            local.display().to_string()
        } else {
            self.model.clone()
        }
    }

    /// Checks, without loading anything, that the model can be found and has what loading
    /// needs (config.json, tokenizer.json, its weight files): the window checks this before it
    /// closes the open workspace for this one.
    pub fn check_model(&self) -> Result<()> {
        let dir = crate::model::files::resolve_model_dir(&self.model_spec())?;
        for f in ["config.json", "tokenizer.json"] {
            if !dir.join(f).is_file() {
                bail!("the model folder {} has no {f}", dir.display());
            }
        }
        crate::model::files::weight_files(&dir)?;
        Ok(())
    }

    /// The SAE spec of entry `i` with its path resolved.
    pub fn sae_spec(&self, i: usize) -> Result<SaeSpec> {
        let s = self
            .saes
            .get(i)
            .with_context(|| format!("no SAE #{i} in the workspace"))?;
        let mut spec: SaeSpec = s
            .sae
            .parse()
            .with_context(|| format!("workspace SAE `{}`", s.name))?;
        spec.path = self.resolve(&spec.path.display().to_string());
        Ok(spec)
    }
}

/// `path` relative to the folder `base` ([`crate::fsutil::relative_path`]); `None` when they
/// share no root (another drive), so the path stays absolute.
fn relative_to(path: &Path, base: &Path) -> Option<PathBuf> {
    let root = |p: PathBuf| p.components().next().map(|c| c.as_os_str().to_owned());
    let same_root = root(crate::fsutil::resolve_folders(path)?) == root(base.canonicalize().ok()?);
    same_root.then(|| crate::fsutil::relative_path(base, path))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `mask_special_attention`: off unless set, written only when set (older files and the
    /// sample's stay as they are).
    #[test]
    fn the_attention_mask_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.sail.json");
        std::fs::write(&p, r#"{"name": "t", "model": "m"}"#).unwrap();
        let mut ws = Workspace::load(&p).unwrap();
        assert!(!ws.mask_special_attention);
        ws.save_as(&p).unwrap();
        assert!(!std::fs::read_to_string(&p)
            .unwrap()
            .contains("mask_special_attention"));
        ws.mask_special_attention = true;
        ws.save_as(&p).unwrap();
        assert!(Workspace::load(&p).unwrap().mask_special_attention);
    }

    #[test]
    fn round_trips_and_resolves_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ws/model")).unwrap();
        std::fs::create_dir_all(dir.path().join("ws/saes/a")).unwrap();
        let ws_path = dir.path().join("ws/sample.sail.json");
        std::fs::write(
            &ws_path,
            r#"{"name": "t", "model": "model", "saes": [{"name": "a", "sae": "saes/a,hook=blocks.1.hook_mlp_out"}]}"#,
        )
        .unwrap();
        let ws = Workspace::load(&ws_path).unwrap();
        assert_eq!(ws.dtype, "f32");
        assert_eq!(ws.sae_spec(0).unwrap().path, dir.path().join("ws/saes/a"));
        assert!(ws.model_spec().ends_with("ws/model"));
        // Saved elsewhere, paths still point at the same folders.
        std::fs::create_dir_all(dir.path().join("other")).unwrap();
        let moved = dir.path().join("other/copy.sail.json");
        ws.save_as(&moved).unwrap();
        let back = Workspace::load(&moved).unwrap();
        assert_eq!(back.saes[0].sae, "../ws/saes/a,hook=blocks.1.hook_mlp_out");
        assert_eq!(
            back.sae_spec(0).unwrap().path.canonicalize().unwrap(),
            dir.path().join("ws/saes/a").canonicalize().unwrap()
        );
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.sail.json");
        std::fs::write(&p, "{not json").unwrap();
        let err = format!("{:#}", Workspace::load(&p).unwrap_err());
        assert!(
            err.contains("bad.sail.json") && err.contains("not a valid workspace"),
            "{err}"
        );
    }
}
