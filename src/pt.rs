//! Reading PyTorch `.pt` files (zip + pickle) without Python.
//!
//! Handles the three shapes found in the wild: a plain `state_dict`, a dict nesting the
//! state dict under a key (`"state_dict"`, `"model"`, ...), and a bare tensor (Safe-SAIL's
//! neuron-index files are bare 1-D int64 tensors).

use anyhow::{anyhow, bail, Context, Result};
use candle_core::pickle::{Object, Stack, TensorInfo};
use candle_core::Tensor;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// The name given to the tensor of a file that holds one bare tensor.
pub const BARE_TENSOR: &str = "tensor";

const NESTED_KEYS: [&str; 3] = ["state_dict", "model", "model_state_dict"];

/// Reads every tensor of a PyTorch checkpoint as (name, tensor) pairs, on the CPU.
pub fn read_pt(path: &Path) -> Result<Vec<(String, Tensor)>> {
    read_pt_inner(path).with_context(|| format!("cannot read PyTorch file {}", path.display()))
}

fn read_pt_inner(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file = std::fs::File::open(path)?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
        anyhow!("not a PyTorch zip archive ({e}); legacy (pre-1.6) or truncated files are not supported")
    })?;
    let pkl_name = (0..zip.len())
        .filter_map(|i| {
            zip.name_for_index(i)
                .and_then(|n| n.ok())
                .map(|n| n.into_owned())
        })
        .find(|n| n.ends_with("data.pkl"))
        .ok_or_else(|| anyhow!("no data.pkl inside the archive"))?;
    let dir = PathBuf::from(pkl_name.strip_suffix(".pkl").unwrap_or(&pkl_name));
    let obj = {
        let reader = zip.by_name(&pkl_name)?;
        let mut reader = BufReader::new(reader);
        let mut stack = Stack::empty();
        stack.read_loop(&mut reader).context("corrupt pickle")?;
        stack.finalize().context("corrupt pickle")?
    };
    let infos = collect_infos(obj, &dir)?;
    if infos.is_empty() {
        bail!("the file holds no tensors");
    }
    let mut out = Vec::with_capacity(infos.len());
    for info in infos {
        let t = read_tensor(&mut zip, &info)
            .with_context(|| format!("cannot read tensor `{}`", info.name))?;
        out.push((info.name.clone(), t));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn collect_infos(obj: Object, dir: &Path) -> Result<Vec<TensorInfo>> {
    match obj {
        Object::Dict(entries) => {
            let mut infos = vec![];
            let mut nested = None;
            for (k, v) in entries {
                let key = match &k {
                    Object::Unicode(s) => Some(s.clone()),
                    _ => None,
                };
                if let (Some(key), Object::Dict(_)) = (&key, &v) {
                    if NESTED_KEYS.contains(&key.as_str()) {
                        nested = Some(v);
                        continue;
                    }
                }
                if let Ok(Some(info)) = v.into_tensor_info(k, dir) {
                    infos.push(info);
                }
            }
            if infos.is_empty() {
                if let Some(nested) = nested {
                    return collect_infos(nested, dir);
                }
            }
            Ok(infos)
        }
        other => match other.into_tensor_info(Object::Unicode(BARE_TENSOR.into()), dir) {
            Ok(Some(info)) => Ok(vec![info]),
            _ => bail!("the pickle holds neither a state dict nor a tensor"),
        },
    }
}

fn read_tensor<R: std::io::Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    info: &TensorInfo,
) -> Result<Tensor> {
    let mut reader = zip
        .by_name(&info.path)
        .map_err(|e| anyhow!("storage `{}` missing from the archive ({e})", info.path))?;
    let layout = &info.layout;
    let rank = layout.shape().rank();
    let fortran = layout.is_fortran_contiguous();
    if !layout.is_contiguous() && !fortran {
        bail!("strided (non-contiguous) storage is not supported");
    }
    let start = layout.start_offset() * info.dtype.size_in_bytes();
    if start > 0 {
        std::io::copy(
            &mut reader.by_ref().take(start as u64),
            &mut std::io::sink(),
        )?;
    }
    let n_bytes = layout.shape().elem_count() * info.dtype.size_in_bytes();
    let mut data = vec![0u8; n_bytes];
    reader
        .read_exact(&mut data)
        .map_err(|e| anyhow!("storage `{}` is shorter than its tensor ({e})", info.path))?;
    let t = Tensor::from_raw_buffer(&data, info.dtype, layout.dims(), &candle_core::Device::Cpu)?;
    if rank > 1 && fortran && !layout.is_contiguous() {
        let rev: Vec<usize> = layout.dims().iter().rev().copied().collect();
        let perm: Vec<usize> = (0..rank).rev().collect();
        return Ok(t.reshape(rev)?.permute(perm)?.contiguous()?);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.pt");
        std::fs::write(&p, b"definitely not a zip").unwrap();
        let err = format!("{:#}", read_pt(&p).unwrap_err());
        assert!(
            err.contains("bad.pt") && err.contains("not a PyTorch zip"),
            "{err}"
        );
    }
}
