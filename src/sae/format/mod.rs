//! SAE checkpoint formats, one file each, chosen from what is at the path:
//!
//! * SAELens: a folder with `cfg.json` + `sae_weights.safetensors` (also written here)
//! * EleutherAI sparsify: a folder with `cfg.json` + `sae.safetensors`
//! * Gemma Scope: `params.npz` (or `params.safetensors`, Gemma Scope 2)
//! * dictionary_learning: a folder with `ae.pt` + `config.json`
//! * Safe-SAIL: a PyTorch `.pt` state dict of the `sparse_autoencoder` library
//!
//! A new format is one new file implementing [`Format`] plus one line in [`FORMATS`].

mod dictionary_learning;
mod gemmascope;
mod npz;
mod saelens;
mod safesail;
mod sparsify;

use super::{Sae, SaeSpec};
use crate::hooks::HookPoint;
use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};

pub use dictionary_learning::DictionaryLearning;
pub use gemmascope::GemmaScope;
pub use saelens::{save_saelens, SaeLens};
pub use safesail::{read_index_file, read_quantile_file, ColumnOrder, QuantileFile, SafeSail};
pub use sparsify::Sparsify;

/// One SAE checkpoint format.
pub trait Format: Sync {
    /// The name in `format=` and in messages (`saelens`).
    fn name(&self) -> &'static str;

    /// Other spellings `format=` accepts.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    /// The name JSON output gives the format (`SaeLens`).
    fn tag(&self) -> &'static str;

    /// What a folder of this format holds, for the message about a folder of no known
    /// format (`None`: the format is a single file).
    fn folder_hint(&self) -> Option<&'static str> {
        None
    }

    /// Whether `path` (which exists) holds an SAE of this format, judged by names only.
    fn detect(&self, path: &Path) -> bool;

    /// Reads the SAE at `spec.path` (weights in f32, on the CPU).
    fn load(&self, spec: &SaeSpec) -> Result<Sae>;

    /// Writes `sae` into the folder `dir`, its weights as `dtype`.
    fn save(
        &self,
        _sae: &Sae,
        _dir: &Path,
        _model_name: &str,
        _prepend_bos: bool,
        _dtype: DType,
    ) -> Result<()> {
        bail!("SAEs cannot be written in the {} format", self.name())
    }
}

impl std::fmt::Debug for dyn Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq for dyn Format {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

/// Every format, in the order detection tries them (dictionary_learning's `ae.pt` before
/// Safe-SAIL, which takes any `.pt`).
pub static FORMATS: &[&dyn Format] = &[
    &SaeLens,
    &Sparsify,
    &GemmaScope,
    &DictionaryLearning,
    &SafeSail,
];

/// The format called `name` (or one of its aliases).
pub fn by_name(name: &str) -> Option<&'static dyn Format> {
    FORMATS
        .iter()
        .copied()
        .find(|f| f.name() == name || f.aliases().contains(&name))
}

/// The formats' names, comma-separated.
pub fn names() -> String {
    FORMATS
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Detects the format at a path.
pub fn detect(path: &Path) -> Result<&'static dyn Format> {
    if !path.exists() {
        bail!("SAE path {} does not exist", path.display());
    }
    if let Some(f) = FORMATS.iter().copied().find(|f| f.detect(path)) {
        return Ok(f);
    }
    if path.is_dir() {
        let hints: Vec<&str> = FORMATS.iter().filter_map(|f| f.folder_hint()).collect();
        let expected = match hints.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => hints.join(""),
        };
        bail!(
            "{} holds no SAE I know: expected {expected}",
            path.display()
        );
    }
    bail!(
        "cannot tell the SAE format of {} (pass format=...)",
        path.display()
    )
}

/// Loads an SAE onto `device` (weights in f32). Every weight must be floating point and,
/// unless the spec says `allow_nonfinite`, finite; a TopK `k` must be in `1..=d_sae`.
pub fn load_sae(spec: &SaeSpec, device: &Device) -> Result<Sae> {
    let format = match spec.format {
        Some(f) => f,
        None => detect(&spec.path)?,
    };
    let mut sae = crate::checks::catch_panics(&spec.path.display(), || format.load(spec))
        .and_then(|sae| check_sizes(&sae).map(|()| sae))
        .with_context(|| format!("cannot load {} SAE {}", format.name(), spec.path.display()))?;
    if let Some(s) = spec.scale {
        sae.input_scale = s;
    }
    if let Some(t) = spec.threshold {
        sae.threshold = Some(Tensor::full(t as f32, sae.d_sae(), &Device::Cpu)?);
        sae.activation = super::Activation::JumpRelu { relu: true };
    }
    to_device(sae, device)
}

/// The sizes an SAE can be used with: some inputs, some latents, TopK keeping 1 to d_sae.
fn check_sizes(sae: &Sae) -> Result<()> {
    if sae.d_in() == 0 || sae.d_sae() == 0 {
        bail!(
            "the SAE has d_in = {} and d_sae = {}: no weights to use",
            sae.d_in(),
            sae.d_sae()
        );
    }
    if let super::Activation::TopK(k) = sae.activation {
        if k == 0 || k > sae.d_sae() {
            bail!(
                "TopK k = {k} is out of range for {} latents (1 to {})",
                sae.d_sae(),
                sae.d_sae()
            );
        }
    }
    Ok(())
}

/// Checks that the named weights of `file` are finite, unless the spec allows otherwise.
fn ensure_finite(spec: &SaeSpec, file: &dyn Display, tensors: &[(&str, &Tensor)]) -> Result<()> {
    if spec.allow_nonfinite {
        return Ok(());
    }
    for (name, t) in tensors {
        crate::checks::ensure_finite(
            t,
            name,
            file,
            &format!(
                " (to load it anyway: `,{}=true` after the SAE's path, or --allow-nonfinite)",
                super::spec::ALLOW_NONFINITE
            ),
        )?;
    }
    Ok(())
}

fn to_device(mut s: Sae, d: &Device) -> Result<Sae> {
    let mv = |t: Tensor| -> Result<Tensor> { Ok(t.to_dtype(DType::F32)?.to_device(d)?) };
    s.w_enc = mv(s.w_enc)?;
    s.b_enc = mv(s.b_enc)?;
    s.w_dec = s.w_dec.map(mv).transpose()?;
    s.b_dec = s.b_dec.map(mv).transpose()?;
    s.input_bias = s.input_bias.map(mv).transpose()?;
    s.threshold = s.threshold.map(mv).transpose()?;
    Ok(s)
}

/// The folder of a folder format's SAE: the path itself, or the folder of a file in it.
fn folder_of(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

/// Whether `path` is a folder holding `file`, or is that file.
fn is_or_holds(path: &Path, file: &str) -> bool {
    if path.is_dir() {
        path.join(file).exists()
    } else {
        path.file_name().and_then(|n| n.to_str()) == Some(file)
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

fn read_safetensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    if !path.exists() {
        bail!("{} is missing", path.display());
    }
    if let Some(all) = crate::model::files::read_float_safetensors(path)? {
        return Ok(all);
    }
    crate::checks::catch_panics(&path.display(), || {
        candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| anyhow!("{} is not a valid safetensors file: {e}", path.display()))
    })
}

/// Takes a tensor out of a map (under the first of `names` it has), checking its shape and
/// that it is floating point; returns it in f32.
fn take(
    map: &mut HashMap<String, Tensor>,
    names: &[&str],
    shape: &[usize],
    file: &Path,
) -> Result<Tensor> {
    let (name, t) = names
        .iter()
        .find_map(|n| map.remove(*n).map(|t| (*n, t)))
        .ok_or_else(|| {
            let mut have: Vec<&String> = map.keys().collect();
            have.sort();
            anyhow!(
                "tensor `{}` is missing from {} (it has {:?})",
                names[0],
                file.display(),
                have
            )
        })?;
    if t.dims() != shape {
        bail!(
            "tensor `{name}` in {} has shape {:?}, expected {:?}",
            file.display(),
            t.dims(),
            shape
        );
    }
    crate::checks::ensure_float(&t, name, &file.display(), "SAE")?;
    Ok(t.to_dtype(DType::F32)?)
}

/// The hook point: given in the spec, else as the checkpoint records it, else an error
/// naming `what` does not record it.
fn hook_required(spec: &SaeSpec, found: Option<HookPoint>, what: &str) -> Result<HookPoint> {
    spec.hook.or(found).ok_or_else(|| {
        anyhow!(
            "{what} does not record its hook point: give it, e.g. `{},hook=blocks.8.hook_mlp_out`",
            spec.path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let err = detect(d).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{} holds no SAE I know: expected cfg.json + sae_weights.safetensors (SAELens), \
                 cfg.json + sae.safetensors (sparsify), params.npz (Gemma Scope) or \
                 ae.pt + config.json (dictionary_learning)",
                d.display()
            )
        );
        let file = |name: &str| {
            let p = d.join(name);
            std::fs::write(&p, b"").unwrap();
            detect(&p).map(|f| f.name())
        };
        assert_eq!(file("ckpt.pt").unwrap(), "safe-sail");
        assert_eq!(file("ae.pt").unwrap(), "dictionary-learning");
        assert_eq!(file("params.npz").unwrap(), "gemma-scope");
        assert_eq!(file("sae.safetensors").unwrap(), "sparsify");
        assert_eq!(file("sae_weights.safetensors").unwrap(), "saelens");
        assert!(file("model.safetensors").is_err());
        // A folder holding several: the first format in the registry.
        assert_eq!(detect(d).unwrap().name(), "saelens");
        assert!(detect(&d.join("missing")).is_err());
    }

    #[test]
    fn finds_formats_by_name_and_alias() {
        assert_eq!(by_name("safesail").unwrap().name(), "safe-sail");
        assert_eq!(by_name("gemmascope").unwrap().name(), "gemma-scope");
        assert!(by_name("SAELens").is_none());
        assert_eq!(
            by_name("dictionary_learning").unwrap().name(),
            "dictionary-learning"
        );
        assert_eq!(
            names(),
            "saelens, sparsify, gemma-scope, dictionary-learning, safe-sail"
        );
    }
}
