//! `sparsity.safetensors` from a feature store: the store's per-latent density (tokens where
//! the latent is > 0, over the tokens seen) written beside the SAE it was collected with, as
//! SAELens's trainer writes it and SAELens / SAEBench read it.

use crate::sae::format::{load_sparsity, save_sparsity, SPARSITY_FILE};
use crate::store::Store;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The store's densities, one per latent `0..d_sae` (a latent without a row: 0).
pub fn store_densities(store: &Store) -> Vec<f64> {
    let mut d = vec![0.0; store.meta.d_sae];
    for f in &store.features {
        if let Some(x) = d.get_mut(f.latent as usize) {
            *x = f.density;
        }
    }
    d
}

/// Writes `sparsity.safetensors` into the SAELens folder `sae_dir` (default: the SAE the
/// store was collected with) from the store's densities, and reads it back to check it.
/// Returns the file written.
pub fn write_from_store(store_dir: &Path, sae_dir: Option<&Path>) -> Result<PathBuf> {
    let store = Store::open(store_dir)?;
    let dir = match sae_dir {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from(store.sae_path()),
    };
    let cfg_path = dir.join("cfg.json");
    if !dir.join("sae_weights.safetensors").exists() || !cfg_path.exists() {
        bail!(
            "{} is not a SAELens folder (cfg.json + sae_weights.safetensors): sparsity.safetensors goes beside those",
            dir.display()
        );
    }
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&cfg_path)
            .with_context(|| format!("cannot read {}", cfg_path.display()))?,
    )
    .with_context(|| format!("{} is not valid JSON", cfg_path.display()))?;
    let d_sae = cfg.get("d_sae").and_then(serde_json::Value::as_u64);
    if d_sae != Some(store.meta.d_sae as u64) {
        bail!(
            "{} has d_sae {:?} but the store {} has {} latents",
            cfg_path.display(),
            d_sae,
            store_dir.display(),
            store.meta.d_sae
        );
    }
    save_sparsity(&dir, &store_densities(&store))?;
    load_sparsity(&dir, Some(store.meta.d_sae))?
        .with_context(|| format!("{} was not written", dir.join(SPARSITY_FILE).display()))?;
    Ok(dir.join(SPARSITY_FILE))
}
