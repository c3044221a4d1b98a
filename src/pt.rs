//! Reading PyTorch `.pt` files (zip + pickle) without Python.
//!
//! Handles the three shapes found in the wild: a plain `state_dict`, a dict nesting the
//! state dict under a key (`"state_dict"`, `"model"`, ...), and a bare tensor (Safe-SAIL's
//! neuron-index files are bare 1-D int64 tensors).

use crate::mapped::MappedSlice;
use anyhow::{anyhow, bail, Context, Result};
use candle_core::pickle::{Object, Stack, TensorInfo};
use candle_core::Tensor;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// A `data.pkl` larger than this is not a state dict (real ones are a few hundred KB).
const MAX_PICKLE: usize = 1 << 26;
/// The largest storage offset accepted, in elements.
const MAX_OFFSET: i64 = 1 << 48;

/// The name given to the tensor of a file that holds one bare tensor.
pub const BARE_TENSOR: &str = "tensor";

const NESTED_KEYS: [&str; 3] = ["state_dict", "model", "model_state_dict"];

/// Reads every tensor of a PyTorch checkpoint as (name, tensor) pairs, on the CPU.
pub fn read_pt(path: &Path) -> Result<Vec<(String, Tensor)>> {
    Ok(read_pt_in_place(path, &[])?.0)
}

/// f32 tensors used in place: name → (view into the file's map, shape).
pub type InPlace = std::collections::HashMap<String, (MappedSlice<f32>, Vec<usize>)>;

/// [`read_pt`], except that the tensors named in `in_place` that are f32, C-contiguous and
/// stored uncompressed stay views into the file's memory map (PyTorch aligns storages to 64
/// bytes), populated up front. Without mapping (`SAFE_SAIL_NO_MMAP`) they are read as well.
pub fn read_pt_in_place(
    path: &Path,
    in_place: &[&str],
) -> Result<(Vec<(String, Tensor)>, InPlace)> {
    read_pt_inner(path, in_place)
        .with_context(|| format!("cannot read PyTorch file {}", path.display()))
}

fn read_pt_inner(path: &Path, in_place: &[&str]) -> Result<(Vec<(String, Tensor)>, InPlace)> {
    let file = std::fs::File::open(path)?;
    let file_len = file.metadata()?.len();
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
    let pickle = {
        let reader = zip.by_name(&pkl_name)?;
        let mut bytes = vec![];
        reader
            .take(MAX_PICKLE as u64 + 1)
            .read_to_end(&mut bytes)
            .context("corrupt pickle")?;
        if bytes.len() > MAX_PICKLE {
            bail!("corrupt pickle: data.pkl is larger than {MAX_PICKLE} bytes");
        }
        bytes
    };
    check_pickle(&pickle).context("corrupt pickle")?;
    // candle's reader and its tensor descriptions were not written for hostile input: what the
    // checks above and in `check_rebuild` miss becomes an error, not a crash.
    let infos = crate::checks::catch_panics(&path.display(), || {
        let mut stack = Stack::empty();
        stack
            .read_loop(&mut std::io::Cursor::new(&pickle))
            .context("corrupt pickle")?;
        let obj = stack.finalize().context("corrupt pickle")?;
        collect_infos(obj, &dir)
    })?;
    if infos.is_empty() {
        bail!("the file holds no tensors");
    }
    let mut out = Vec::with_capacity(infos.len());
    let mut mapped = InPlace::new();
    let mut map = None;
    for info in infos {
        if in_place.contains(&info.name.as_str()) && crate::mapped::enabled() {
            if map.is_none() {
                map = Some(crate::mapped::map_file(path, true)?);
            }
            if let Some(v) = map_tensor(&mut zip, &info, map.as_ref().unwrap())? {
                mapped.insert(info.name.clone(), (v, info.layout.dims().to_vec()));
                continue;
            }
        }
        let t = read_tensor(&mut zip, &info, file_len)
            .with_context(|| format!("cannot read tensor `{}`", info.name))?;
        out.push((info.name.clone(), t));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((out, mapped))
}

/// An f32, C-contiguous tensor stored uncompressed, as a view into the file's map; `None`
/// when it is not such a tensor (then it is read).
fn map_tensor<R: std::io::Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    info: &TensorInfo,
    map: &std::sync::Arc<memmap2::Mmap>,
) -> Result<Option<MappedSlice<f32>>> {
    let layout = &info.layout;
    if info.dtype != candle_core::DType::F32
        || !layout.is_contiguous()
        || layout.stride().len() != layout.shape().rank()
    {
        return Ok(None);
    }
    let Ok(entry) = zip.by_name(&info.path) else {
        return Ok(None);
    };
    if entry.compression() != zip::CompressionMethod::Stored {
        return Ok(None);
    }
    let (Some(data_start), holds) = (entry.data_start(), entry.size()) else {
        return Ok(None);
    };
    let Some(n) = layout
        .dims()
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
    else {
        return Ok(None);
    };
    // candle keeps the storage offset in bytes.
    let start = layout.start_offset() as u64;
    if start.saturating_add(n as u64 * 4) > holds {
        return Ok(None);
    }
    let Ok(at) = usize::try_from(data_start + start) else {
        return Ok(None);
    };
    Ok(MappedSlice::new(map.clone(), at, n))
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
                check_rebuild(&v).with_context(|| {
                    format!(
                        "corrupt pickle: entry `{}`",
                        key.as_deref().unwrap_or("(not a string)")
                    )
                })?;
                match v.into_tensor_info(k, dir) {
                    Ok(Some(info)) => infos.push(info),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(
                        "skipping entry `{}`: {e}",
                        key.as_deref().unwrap_or("(not a string)")
                    ),
                }
            }
            if infos.is_empty() {
                if let Some(nested) = nested {
                    return collect_infos(nested, dir);
                }
            }
            Ok(infos)
        }
        other => {
            check_rebuild(&other).context("corrupt pickle")?;
            match other.into_tensor_info(Object::Unicode(BARE_TENSOR.into()), dir) {
                Ok(Some(info)) => Ok(vec![info]),
                _ => bail!("the pickle holds neither a state dict nor a tensor"),
            }
        }
    }
}

/// Checks the opcodes of a pickle for what candle's reader would trust blindly: string
/// lengths past the end of the data, integers wider than 64 bits.
fn check_pickle(p: &[u8]) -> Result<()> {
    let mut i = 0;
    while i < p.len() {
        let op = p[i];
        let arg = match op {
            b'.' => return Ok(()),
            0x80 | b'K' | b'q' | b'h' => 1,
            b'M' => 2,
            b'J' | b'r' | b'j' => 4,
            b'G' => 8,
            b'X' => {
                let n = p
                    .get(i + 1..i + 5)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                    .context("a string length is cut short")?;
                if n > p.len() - (i + 5) {
                    bail!("a string of {n} bytes at byte {i} runs past the end of the pickle");
                }
                4 + n
            }
            0x8a => {
                let n = *p.get(i + 1).context("an integer is cut short")? as usize;
                if n > 8 {
                    bail!("an integer of {n} bytes at byte {i} (at most 8 are supported)");
                }
                1 + n
            }
            b'c' => {
                // Module and class names, each ending at a newline.
                let mut lines = 0;
                let mut j = i + 1;
                while lines < 2 && j < p.len() {
                    if p[j] == b'\n' {
                        lines += 1;
                    }
                    j += 1;
                }
                j - i - 1
            }
            _ => 0,
        };
        i += 1 + arg;
    }
    Ok(())
}

fn class_name(o: &Object) -> Option<(&str, &str)> {
    match o {
        Object::Class {
            module_name,
            class_name,
        } => Some((module_name, class_name)),
        _ => None,
    }
}

/// Checks the arguments of a tensor in the pickle (`_rebuild_tensor_v2`, possibly inside
/// `_rebuild_parameter` or `_rebuild_from_type_v2`) before candle takes them apart by
/// position: too few of them, a storage id of the wrong length, sizes and strides of
/// different ranks, a negative or huge offset.
fn check_rebuild(v: &Object) -> Result<()> {
    let Object::Reduce { callable, args } = v else {
        return Ok(());
    };
    let (callable, args): (&Object, &Object) = match class_name(callable) {
        Some(("torch._tensor", "_rebuild_from_type_v2")) => match &**args {
            Object::Tuple(a) if a.len() >= 3 => (&a[0], &a[2]),
            Object::Tuple(a) => bail!(
                "_rebuild_from_type_v2 has {} arguments, expected at least 3",
                a.len()
            ),
            _ => return Ok(()),
        },
        Some(("torch._utils", "_rebuild_parameter")) => match &**args {
            Object::Tuple(a) => match a.first() {
                Some(Object::Reduce { callable, args }) => (&**callable, &**args),
                Some(_) => return Ok(()),
                None => bail!("_rebuild_parameter has no arguments"),
            },
            _ => return Ok(()),
        },
        _ => (&**callable, &**args),
    };
    if class_name(callable) != Some(("torch._utils", "_rebuild_tensor_v2")) {
        return Ok(());
    }
    let Object::Tuple(a) = args else {
        return Ok(());
    };
    if a.len() < 4 {
        bail!(
            "_rebuild_tensor_v2 has {} arguments, expected at least 4 (storage, offset, size, stride)",
            a.len()
        );
    }
    if let Object::PersistentLoad(id) = &a[0] {
        if let Object::Tuple(id) = &**id {
            if id.len() < 5 {
                bail!("its storage id has {} fields, expected 5", id.len());
            }
        }
    }
    let offset = match &a[1] {
        Object::Int(i) => i64::from(*i),
        Object::Long(l) => *l,
        _ => 0,
    };
    if !(0..=MAX_OFFSET).contains(&offset) {
        bail!("its storage offset {offset} is out of range");
    }
    if let (Object::Tuple(size), Object::Tuple(stride)) = (&a[2], &a[3]) {
        if size.len() != stride.len() {
            bail!(
                "its size has {} dimensions but its stride {}",
                size.len(),
                stride.len()
            );
        }
    }
    Ok(())
}

fn read_tensor<R: std::io::Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    info: &TensorInfo,
    file_len: u64,
) -> Result<Tensor> {
    let reader = zip
        .by_name(&info.path)
        .map_err(|e| anyhow!("storage `{}` missing from the archive ({e})", info.path))?;
    let layout = &info.layout;
    let rank = layout.shape().rank();
    if layout.stride().len() != rank {
        bail!("its size and stride have different ranks");
    }
    let fortran = layout.is_fortran_contiguous();
    if !layout.is_contiguous() && !fortran {
        bail!("strided (non-contiguous) storage is not supported");
    }
    let stored = reader.compression() == zip::CompressionMethod::Stored;
    let compressed = reader.compressed_size();
    if stored && compressed > file_len {
        bail!(
            "storage `{}` claims {compressed} bytes, more than the whole file",
            info.path
        );
    }
    // candle keeps the storage offset in bytes.
    let start = layout.start_offset() as u64;
    let n_bytes = layout
        .dims()
        .iter()
        .try_fold(info.dtype.size_in_bytes(), |acc, &d| acc.checked_mul(d))
        .with_context(|| format!("its shape {:?} has too many elements", layout.dims()))?;
    let holds = reader.size();
    if start.saturating_add(n_bytes as u64) > holds {
        bail!(
            "storage `{}` is shorter than its tensor (it holds {holds} bytes; the tensor needs \
             {n_bytes} from byte {start})",
            info.path
        );
    }
    let mut reader = reader;
    if start > 0 {
        std::io::copy(&mut reader.by_ref().take(start), &mut std::io::sink())?;
    }
    // The archive's sizes can lie: reserve no more than the file can hold.
    let capacity = if stored {
        n_bytes.min(compressed as usize)
    } else {
        n_bytes.min(1 << 26)
    };
    let mut data = Vec::with_capacity(capacity);
    reader.take(n_bytes as u64).read_to_end(&mut data)?;
    if data.len() != n_bytes {
        bail!(
            "storage `{}` is shorter than its tensor ({} of {n_bytes} bytes)",
            info.path,
            data.len()
        );
    }
    let t = Tensor::from_raw_buffer(&data, info.dtype, layout.dims(), &candle_core::Device::Cpu)?;
    if rank > 1 && fortran && !layout.is_contiguous() {
        let rev: Vec<usize> = layout.dims().iter().rev().copied().collect();
        let perm: Vec<usize> = (0..rank).rev().collect();
        return Ok(t.reshape(rev)?.permute(perm)?.contiguous()?);
    }
    Ok(t)
}

/// Writes f32 tensors `(name, shape, values)` as `torch.save` writes a state dict of them: a zip
/// archive (stored, each storage aligned to 64 bytes, as PyTorch aligns them) holding the
/// pickled `OrderedDict` (`_rebuild_tensor_v2` over one `FloatStorage` per tensor) that
/// `torch.load(..., weights_only=True)` reads. For benchmarks and tests that need `.pt` files
/// without Python. Returns the bytes of tensor data written.
pub fn write_pt_f32(path: &Path, tensors: &[(&str, Vec<usize>, &[f32])]) -> Result<u64> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    for (name, shape, values) in tensors {
        if shape.iter().product::<usize>() != values.len() {
            bail!(
                "tensor `{name}`: shape {shape:?} does not hold {} values",
                values.len()
            );
        }
    }
    let shapes: Vec<(&str, &[usize])> =
        tensors.iter().map(|(n, s, _)| (*n, s.as_slice())).collect();
    let archive = path
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty() && s.is_ascii())
        .unwrap_or("archive");
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .with_alignment(64);
    let mut written = 0u64;
    crate::fsutil::write_atomic_with(path, |f| {
        let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(f));
        zip.start_file(format!("{archive}/data.pkl"), opts)?;
        zip.write_all(&state_dict_pickle(&shapes))?;
        zip.start_file(format!("{archive}/byteorder"), opts)?;
        zip.write_all(b"little")?;
        for (i, (_, _, values)) in tensors.iter().enumerate() {
            let big = values.len() as u64 * 4 >= u32::MAX as u64;
            zip.start_file(format!("{archive}/data/{i}"), opts.large_file(big))?;
            for chunk in values.chunks(1 << 16) {
                let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
                zip.write_all(&bytes)?;
            }
            written += values.len() as u64 * 4;
        }
        zip.start_file(format!("{archive}/version"), opts)?;
        zip.write_all(b"3\n")?;
        zip.finish()?.flush()?;
        Ok(())
    })?;
    Ok(written)
}

/// The pickle (protocol 2) of an `OrderedDict` of f32 tensors, storage `i` for tensor `i`.
fn state_dict_pickle(tensors: &[(&str, &[usize])]) -> Vec<u8> {
    fn global(p: &mut Vec<u8>, module: &str, name: &str) {
        p.push(b'c');
        p.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }
    fn text(p: &mut Vec<u8>, s: &str) {
        p.push(b'X'); // BINUNICODE
        p.extend_from_slice(&(s.len() as u32).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
    }
    fn int(p: &mut Vec<u8>, v: usize) {
        match u8::try_from(v) {
            Ok(b) => p.extend_from_slice(&[b'K', b]), // BININT1
            Err(_) => match i32::try_from(v) {
                Ok(i) => {
                    p.push(b'J'); // BININT
                    p.extend_from_slice(&i.to_le_bytes());
                }
                Err(_) => {
                    p.extend_from_slice(&[0x8a, 8]); // LONG1, 8 bytes
                    p.extend_from_slice(&(v as u64).to_le_bytes());
                }
            },
        }
    }
    fn tuple(p: &mut Vec<u8>, items: impl Iterator<Item = usize>) {
        p.push(b'('); // MARK
        items.for_each(|v| int(p, v));
        p.push(b't'); // TUPLE
    }
    let mut p = vec![0x80, 2]; // PROTO 2
    global(&mut p, "collections", "OrderedDict");
    p.extend_from_slice(b")R("); // EMPTY_TUPLE, REDUCE, MARK
    for (i, (name, shape)) in tensors.iter().enumerate() {
        text(&mut p, name);
        global(&mut p, "torch._utils", "_rebuild_tensor_v2");
        p.extend_from_slice(b"(("); // the arguments; the storage's persistent id
        text(&mut p, "storage");
        global(&mut p, "torch", "FloatStorage");
        text(&mut p, &i.to_string());
        text(&mut p, "cpu");
        int(&mut p, shape.iter().product());
        p.extend_from_slice(b"tQ"); // TUPLE, BINPERSID
        int(&mut p, 0); // storage offset
        tuple(&mut p, shape.iter().copied());
        let mut strides = vec![1usize; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * shape[d + 1];
        }
        tuple(&mut p, strides.into_iter());
        p.push(0x89); // NEWFALSE: requires_grad
        global(&mut p, "collections", "OrderedDict"); // backward hooks
        p.extend_from_slice(b")RtR"); // EMPTY_TUPLE, REDUCE, TUPLE, REDUCE
    }
    p.extend_from_slice(b"u."); // SETITEMS, STOP
    p
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

    /// What `write_pt_f32` writes reads back: every tensor with its shape and values, the big
    /// ones in place (their storages aligned), a wrong shape refused.
    #[test]
    fn written_state_dicts_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ckpt_layer3.pt");
        let big: Vec<f32> = (0..3 * 300 * 7).map(|i| i as f32 * 0.5 - 9.0).collect();
        let bias = [1.5f32, -2.0, 0.25, 1e-30, f32::MAX, -0.0, 3.0];
        let tensors = [
            ("encoder.weight", vec![3, 300, 7], &big[..]),
            ("tied_bias", vec![7], &bias[..]),
            ("scale", vec![], &bias[..1]),
        ];
        assert_eq!(
            write_pt_f32(&p, &tensors).unwrap(),
            (big.len() + 8) as u64 * 4
        );
        let read: std::collections::HashMap<String, Tensor> =
            read_pt(&p).unwrap().into_iter().collect();
        assert_eq!(read.len(), 3);
        let w = &read["encoder.weight"];
        assert_eq!(w.dims(), [3, 300, 7]);
        assert_eq!(w.flatten_all().unwrap().to_vec1::<f32>().unwrap(), big);
        assert_eq!(read["tied_bias"].to_vec1::<f32>().unwrap(), bias);
        assert_eq!(read["scale"].to_scalar::<f32>().unwrap(), 1.5);
        if crate::mapped::enabled() {
            let (_, mapped) = read_pt_in_place(&p, &["encoder.weight"]).unwrap();
            let (v, dims) = &mapped["encoder.weight"];
            assert_eq!(dims, &[3, 300, 7]);
            assert_eq!(v.as_slice(), &big[..]);
        }
        let e = write_pt_f32(&p, &[("x", vec![2, 2], &bias[..])]).unwrap_err();
        assert!(format!("{e}").contains("`x`"), "{e}");
    }
}
