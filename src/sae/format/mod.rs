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

use super::{Sae, SaeMatrix, SaeSpec};
use crate::hooks::HookPoint;
use crate::mapped::MappedSlice;
use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};

pub use dictionary_learning::DictionaryLearning;
pub use gemmascope::GemmaScope;
pub use saelens::{
    load_sparsity, save_saelens, save_sparsity, SaeLens, SAELENS_LAYOUT_VERSION, SPARSITY_EPS,
    SPARSITY_FILE, SPARSITY_TENSOR,
};
pub use safesail::{
    read_index_file, read_index_ids, read_quantile_file, ColumnOrder, QuantileFile, SafeSail,
};
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
    s.w_enc = s.w_enc.to_device(d)?;
    s.b_enc = mv(s.b_enc)?;
    s.w_dec = s.w_dec.map(|w| w.to_device(d)).transpose()?;
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

/// The tensors of a safetensors file when the weights may be used in place: those named in
/// `in_place` that are f32 stay views into the file's map (populated up front: the finite
/// check reads every page anyway); every other tensor is read. Without mapping (big-endian
/// machines, `SAFE_SAIL_NO_MMAP`), everything is read.
type InPlace = HashMap<String, (MappedSlice<f32>, Vec<usize>)>;

fn read_safetensors_in_place(
    path: &Path,
    in_place: &[&str],
) -> Result<(HashMap<String, Tensor>, InPlace)> {
    if !crate::mapped::enabled() || cfg!(target_endian = "big") {
        return Ok((read_safetensors(path)?, HashMap::new()));
    }
    if !path.exists() {
        bail!("{} is missing", path.display());
    }
    let map = crate::mapped::map_file(path, true)?;
    crate::checks::catch_panics(&path.display(), || {
        use candle_core::safetensors::Load;
        let st = safetensors::SafeTensors::deserialize(&map[..])
            .map_err(|e| anyhow!("{} is not a valid safetensors file: {e}", path.display()))?;
        let (mut tensors, mut mapped) = (HashMap::new(), HashMap::new());
        for (name, view) in st.tensors() {
            if in_place.contains(&name.as_str()) && view.dtype() == safetensors::Dtype::F32 {
                if let Some(v) = MappedSlice::<f32>::of_bytes(&map, view.data()) {
                    mapped.insert(name, (v, view.shape().to_vec()));
                    continue;
                }
            }
            let t = view
                .load(&Device::Cpu)
                .map_err(|e| anyhow!("cannot read tensor `{name}` from {}: {e}", path.display()))?;
            tensors.insert(name, t);
        }
        Ok((tensors, mapped))
    })
}

/// Takes a `[rows, cols]` matrix out of `mapped` (used in place) or else out of `w` (as
/// [`take`]), under the first of `names` either has.
fn take_matrix(
    w: &mut HashMap<String, Tensor>,
    mapped: &mut InPlace,
    names: &[&str],
    shape: [usize; 2],
    file: &Path,
) -> Result<SaeMatrix> {
    for name in names {
        if let Some((v, dims)) = mapped.remove(*name) {
            if dims != shape {
                bail!(
                    "tensor `{name}` in {} has shape {dims:?}, expected {shape:?}",
                    file.display()
                );
            }
            return SaeMatrix::mapped(v, shape[0], shape[1], false)
                .with_context(|| format!("tensor `{name}` in {} is malformed", file.display()));
        }
    }
    Ok(take(w, names, &shape, file)?.into())
}

/// [`ensure_finite`] for weight matrices: now for tensors, on first use for matrices read in
/// place (so loading reads no weight page; [`super::Sae::ensure_finite`] forces it).
fn ensure_finite_matrices(
    spec: &SaeSpec,
    file: &dyn Display,
    matrices: &[(&str, &SaeMatrix)],
) -> Result<()> {
    if spec.allow_nonfinite {
        return Ok(());
    }
    let hint = format!(
        " (to load it anyway: `,{}=true` after the SAE's path, or --allow-nonfinite)",
        super::spec::ALLOW_NONFINITE
    );
    for (name, m) in matrices {
        m.check_finite(name, &file.to_string(), &hint)?;
    }
    Ok(())
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

    /// Safe-SAIL's `.pt` (encoder stored `[d_sae, d_in]`, used transposed) and SAELens'
    /// safetensors: the big matrices are used in place and equal what reading the file gives.
    #[test]
    fn big_matrices_are_used_in_place_and_read_the_same() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/saes");
        let pt = root.join("safesail_topk.pt");
        let read: HashMap<String, Tensor> = crate::pt::read_pt(&pt).unwrap().into_iter().collect();
        for c in 0..2 {
            let spec: SaeSpec = format!(
                "{},activation=topk:8,hook=blocks.1.hook_mlp_out,component={c}",
                pt.display()
            )
            .parse()
            .unwrap();
            let sae = load_sae(&spec, &Device::Cpu).unwrap();
            assert!(sae.w_enc.is_mapped() && sae.w_dec.as_ref().unwrap().is_mapped());
            let enc = read["encoder.weight"].get(c).unwrap().t().unwrap();
            let dec = read["decoder.weight"].get(c).unwrap().t().unwrap();
            assert_eq!(
                sae.w_enc.to_tensor().unwrap().to_vec2::<f32>().unwrap(),
                enc.to_vec2::<f32>().unwrap()
            );
            let w_dec = sae.w_dec.as_ref().unwrap().to_tensor().unwrap();
            assert_eq!(
                w_dec.to_vec2::<f32>().unwrap(),
                dec.to_vec2::<f32>().unwrap()
            );
        }

        let spec: SaeSpec = format!("{}", root.join("saelens_topk").display())
            .parse()
            .unwrap();
        let sae = load_sae(&spec, &Device::Cpu).unwrap();
        assert!(sae.w_enc.is_mapped() && sae.w_dec.as_ref().unwrap().is_mapped());
        let read = read_safetensors(&root.join("saelens_topk/sae_weights.safetensors")).unwrap();
        assert_eq!(
            sae.w_enc.to_tensor().unwrap().to_vec2::<f32>().unwrap(),
            read["W_enc"]
                .to_dtype(DType::F32)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap()
        );
    }

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
