//! Small tensor helpers shared by the model, the SAEs and the tests.

use anyhow::{bail, Result};
use candle_core::{DType, Tensor};

/// The largest |a - b| divided by the largest |b| (the reference's scale), in f32.
///
/// This is the error measure the reference tests use: it does not blow up on entries
/// that happen to be near zero.
pub fn max_rel_diff(a: &Tensor, reference: &Tensor) -> Result<f32> {
    if a.dims() != reference.dims() {
        bail!("shape mismatch: {:?} vs {:?}", a.dims(), reference.dims());
    }
    let a = a.to_dtype(DType::F32)?.flatten_all()?;
    let b = reference.to_dtype(DType::F32)?.flatten_all()?;
    let diff = (a - &b)?.abs()?.max(0)?.to_scalar::<f32>()?;
    let scale = b.abs()?.max(0)?.to_scalar::<f32>()?.max(1e-12);
    Ok(diff / scale)
}

/// A tensor's values as a flat `Vec<f32>`.
pub fn to_vec_f32(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

/// Writes tensors to a safetensors file atomically: a temporary file in the same folder,
/// fsync, then rename, so a crash never leaves a half-written file at `path`.
pub fn save_safetensors_atomic(
    tensors: &std::collections::HashMap<String, Tensor>,
    path: &std::path::Path,
) -> Result<()> {
    use anyhow::Context;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> Result<()> {
        candle_core::safetensors::save(tensors, &tmp)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}
