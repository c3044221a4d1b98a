//! `workspace new`: a workspace file for your own model and SAEs.

use super::{Workspace, WorkspaceSae};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// What a new workspace names.
#[derive(Debug, Clone, Default)]
pub struct NewWorkspace {
    /// The workspace file to write.
    pub out: PathBuf,
    /// A display name (default: the file's stem).
    pub name: Option<String>,
    /// A model folder or a hub id.
    pub model: String,
    /// SAEs as on the command line (`PATH[,key=value...]`).
    pub saes: Vec<String>,
    /// Feature stores, `SAE_NUMBER=DIR` (1-based, in the order of `saes`) or, when there is one
    /// per SAE, plain folders in the same order.
    pub stores: Vec<String>,
    /// An evaluation folder shared by the SAEs (made by `safe-sail evaluate`).
    pub eval: Option<String>,
    /// A neuron database for the workspace; created empty (editable) when it does not exist.
    pub neuron_db: Option<String>,
    pub dtype: String,
    pub device: String,
}

/// Writes the workspace file (paths relative to it); an existing file is not replaced.
pub fn new_workspace(o: &NewWorkspace) -> Result<PathBuf> {
    if o.out.exists() {
        bail!("{} exists: choose another name", o.out.display());
    }
    let here = |p: &str| -> Result<String> {
        Ok(std::path::absolute(p)
            .with_context(|| format!("bad path {p}"))?
            .display()
            .to_string())
    };
    let model = if Path::new(&o.model).exists() {
        here(&o.model)?
    } else if crate::model::files::looks_like_hub_id(&o.model) {
        o.model.clone()
    } else {
        bail!(
            "model {} is neither a folder nor a hub id (OWNER/NAME)",
            o.model
        );
    };
    let mut saes = vec![];
    for (i, spec) in o.saes.iter().enumerate() {
        let parsed: crate::sae::SaeSpec = spec
            .parse()
            .with_context(|| format!("SAE {}: {spec}", i + 1))?;
        if !parsed.path.exists() {
            bail!("SAE {}: {} does not exist", i + 1, parsed.path.display());
        }
        let opts = spec.split_once(',').map(|(_, o)| o).unwrap_or("");
        let path = here(&parsed.path.display().to_string())?;
        let name = parsed
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("SAE {}", i + 1));
        saes.push(WorkspaceSae {
            name,
            sae: if opts.is_empty() {
                path
            } else {
                format!("{path},{opts}")
            },
            store: None,
            eval: o.eval.as_deref().map(here).transpose()?,
            neuron_db: None,
            indices: None,
            quantiles: None,
            quantile_tokens: None,
            inspect: None,
        });
    }
    let plain = o.stores.iter().all(|s| !s.contains('='));
    if plain && !o.stores.is_empty() && o.stores.len() != saes.len() {
        bail!(
            "{} stores for {} SAEs: give one per SAE in order, or SAE_NUMBER=DIR",
            o.stores.len(),
            saes.len()
        );
    }
    for (k, s) in o.stores.iter().enumerate() {
        let (i, dir) = match s.split_once('=') {
            Some((n, d)) => {
                let n: usize = n
                    .parse()
                    .with_context(|| format!("--store {s}: `{n}` is not an SAE number"))?;
                if n == 0 || n > saes.len() {
                    bail!("--store {s}: there are SAEs 1 to {}", saes.len());
                }
                (n - 1, d)
            }
            None => (k, s.as_str()),
        };
        if !Path::new(dir).is_dir() {
            bail!("--store {s}: {dir} is not a feature store folder");
        }
        saes[i].store = Some(here(dir)?);
    }
    let neuron_db = match &o.neuron_db {
        Some(p) => {
            let abs = std::path::absolute(p)?;
            if !abs.exists() {
                let mut db = crate::db::editable::EditableDb::parse("{}")?;
                db.kind = crate::db::editable::DbKind::Ours;
                db.save(&abs)?;
            }
            Some(abs.display().to_string())
        }
        None => None,
    };
    let ws = Workspace {
        name: o.name.clone().unwrap_or_else(|| {
            o.out
                .file_stem()
                .map(|s| s.to_string_lossy().trim_end_matches(".sail").to_string())
                .unwrap_or_else(|| "workspace".into())
        }),
        model,
        dtype: o.dtype.clone(),
        device: o.device.clone(),
        system_prompt: None,
        saes,
        neuron_db,
        mask_special_attention: false,
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
    Ok(o.out.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_workspace_opens_with_relative_paths_and_an_editable_database() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("mine/my.sail.json");
        let db = tmp.path().join("mine/neurons.json");
        let o = NewWorkspace {
            out: out.clone(),
            model: root.join("models/qwen2").display().to_string(),
            saes: vec![
                root.join("saes/saelens_topk").display().to_string(),
                format!(
                    "{},hook=blocks.2.hook_mlp_out",
                    root.join("saes/safesail_jumprelu.pt").display()
                ),
            ],
            neuron_db: Some(db.display().to_string()),
            dtype: "f32".into(),
            device: "cpu".into(),
            ..Default::default()
        };
        new_workspace(&o).unwrap();
        let ws = Workspace::load(&out).unwrap();
        assert_eq!(ws.name, "my");
        assert_eq!(ws.saes.len(), 2);
        assert_eq!(ws.saes[0].name, "saelens_topk");
        assert!(ws.saes[1].sae.ends_with(",hook=blocks.2.hook_mlp_out"));
        assert_eq!(ws.neuron_db.as_deref(), Some("neurons.json"));
        assert!(crate::db::editable::EditableDb::is_our_format(&db));
        let opened = super::super::OpenedWorkspace::open(&out, || {}).unwrap();
        assert_eq!(opened.saes.len(), 2);
        assert!(opened.sessions.for_sae(1).is_some(), "editable");
        // Not replaced; bad input named.
        assert!(new_workspace(&o)
            .unwrap_err()
            .to_string()
            .contains("exists"));
        let bad = NewWorkspace {
            out: tmp.path().join("b.sail.json"),
            saes: vec!["/nowhere/sae".into()],
            ..o.clone()
        };
        let e = new_workspace(&bad).unwrap_err();
        assert!(format!("{e:#}").contains("/nowhere/sae"), "{e:#}");
        let bad = NewWorkspace {
            out: tmp.path().join("c.sail.json"),
            stores: vec!["3=/x".into()],
            ..o.clone()
        };
        assert!(new_workspace(&bad)
            .unwrap_err()
            .to_string()
            .contains("SAEs 1 to 2"));
    }
}
