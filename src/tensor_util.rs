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
    let a = a
        .to_device(reference.device())?
        .to_dtype(DType::F32)?
        .flatten_all()?;
    let b = reference.to_dtype(DType::F32)?.flatten_all()?;
    let diff = (a - &b)?.abs()?.max(0)?.to_scalar::<f32>()?;
    let scale = b.abs()?.max(0)?.to_scalar::<f32>()?.max(1e-12);
    Ok(diff / scale)
}

/// A tensor's values as a flat `Vec<f32>`.
pub fn to_vec_f32(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

/// Writes tensors to a safetensors file atomically (see [`crate::fsutil::write_atomic`]).
pub fn save_safetensors_atomic(
    tensors: &std::collections::HashMap<String, Tensor>,
    path: &std::path::Path,
) -> Result<()> {
    let bytes = safetensors::serialize(tensors.iter().map(|(k, v)| (k.clone(), v)), None)?;
    crate::fsutil::write_atomic(path, &bytes)
}
