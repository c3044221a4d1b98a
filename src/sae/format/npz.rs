//! Reading numpy `.npz` archives (`np.savez`, `np.savez_compressed`): a zip of `.npy` files.
//!
//! Every header is checked against the bytes the archive holds before anything is allocated
//! for the array, so a damaged header (a shape of 2^31 × 2^31, say) is an error naming the
//! file and the array, never an attempt to allocate it.

use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::Path;

/// A `.npy` header longer than this is not one numpy wrote.
const MAX_HEADER: usize = 1 << 16;

/// The arrays of an `.npz` file by name (without `.npy`), on the CPU.
pub(super) fn read_npz(path: &Path) -> Result<HashMap<String, Tensor>> {
    let not_npz =
        |e: &dyn std::fmt::Display| anyhow!("{} is not a readable .npz file: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| not_npz(&e))?;
    let file_len = file.metadata().map_err(|e| not_npz(&e))?.len();
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| not_npz(&e))?;
    let mut out = HashMap::new();
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(|e| not_npz(&e))?;
        let entry_name = entry.name().map_err(|e| not_npz(&e))?.into_owned();
        let name = entry_name
            .strip_suffix(".npy")
            .unwrap_or(&entry_name)
            .to_string();
        let sizes = Sizes {
            stored: entry.compression() == zip::CompressionMethod::Stored,
            compressed: entry.compressed_size(),
            declared: entry.size(),
            file: file_len,
        };
        let t = read_npy(entry, &sizes).with_context(|| {
            format!(
                "array `{name}` in {} is not a valid .npy array",
                path.display()
            )
        })?;
        out.insert(name, t);
    }
    Ok(out)
}

/// What the archive says about an entry, and the length of the whole file.
struct Sizes {
    stored: bool,
    compressed: u64,
    declared: u64,
    file: u64,
}

/// One `.npy` entry of the archive.
fn read_npy(mut entry: impl Read, sizes: &Sizes) -> Result<Tensor> {
    let (stored, declared) = (sizes.stored, sizes.declared);
    if stored && sizes.compressed > sizes.file {
        bail!(
            "the archive says it holds {} bytes, more than the whole file ({})",
            sizes.compressed,
            sizes.file
        );
    }
    let mut magic = [0u8; 8];
    entry
        .read_exact(&mut magic)
        .context("it is shorter than a .npy header")?;
    if &magic[..6] != b"\x93NUMPY" {
        bail!("it does not start with the .npy magic string");
    }
    let (len_bytes, mut prefix) = match magic[6] {
        1 => (2, 10u64),
        2 | 3 => (4, 12u64),
        v => bail!("unknown .npy version {v}"),
    };
    let mut len = [0u8; 4];
    entry
        .read_exact(&mut len[..len_bytes])
        .context("its header is cut short")?;
    let header_len = u32::from_le_bytes(len) as usize;
    if header_len > MAX_HEADER {
        bail!("its header claims {header_len} bytes");
    }
    let mut header = vec![0u8; header_len];
    entry
        .read_exact(&mut header)
        .context("its header is cut short")?;
    prefix += header_len as u64;
    let header = std::str::from_utf8(&header).context("its header is not text")?;
    let h = Header::parse(header)?;
    let elems = h
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .with_context(|| format!("its shape {:?} has too many elements", h.shape))?;
    let n_bytes = elems
        .checked_mul(h.dtype.size_in_bytes())
        .with_context(|| format!("its shape {:?} has too many bytes", h.shape))?;
    let holds = declared.saturating_sub(prefix);
    if n_bytes as u64 != holds {
        bail!(
            "its header says {} {:?} ({n_bytes} bytes) but it holds {holds} bytes of data",
            h.dtype.as_str(),
            h.shape
        );
    }
    // The archive's sizes can lie too: a compressed entry grows only as data really arrives.
    let capacity = if stored {
        n_bytes.min(sizes.compressed as usize)
    } else {
        n_bytes.min(1 << 26)
    };
    let mut data = Vec::with_capacity(capacity);
    entry
        .take(n_bytes as u64)
        .read_to_end(&mut data)
        .context("its data cannot be read")?;
    if data.len() != n_bytes {
        bail!("it holds {} bytes of data, not {n_bytes}", data.len());
    }
    let t = if h.fortran_order && h.shape.len() > 1 {
        // Column-major: read with the shape reversed, then put the axes back.
        let rev: Vec<usize> = h.shape.iter().rev().copied().collect();
        let perm: Vec<usize> = (0..h.shape.len()).rev().collect();
        Tensor::from_raw_buffer(&data, h.dtype, &rev, &Device::Cpu)?
            .permute(perm)?
            .contiguous()?
    } else {
        Tensor::from_raw_buffer(&data, h.dtype, &h.shape, &Device::Cpu)?
    };
    Ok(t)
}

/// The fields of a `.npy` header: `{'descr': '<f4', 'fortran_order': False, 'shape': (64, 256), }`.
#[derive(Debug, PartialEq)]
struct Header {
    dtype: DType,
    fortran_order: bool,
    shape: Vec<usize>,
}

impl Header {
    fn parse(h: &str) -> Result<Self> {
        let h = h.trim();
        if !(h.starts_with('{') && h.ends_with('}')) {
            bail!("its header `{h}` is not a dictionary");
        }
        let descr = value_of(h, "descr")?;
        let descr = descr
            .strip_prefix('\'')
            .and_then(|d| d.strip_suffix('\''))
            .or_else(|| descr.strip_prefix('"').and_then(|d| d.strip_suffix('"')))
            .with_context(|| format!("its dtype `{descr}` is not a string"))?;
        let dtype = match descr {
            "<f4" | "=f4" => DType::F32,
            "<f2" | "=f2" => DType::F16,
            "<f8" | "=f8" => DType::F64,
            "|u1" | "<u1" | "=u1" => DType::U8,
            "<u4" | "=u4" => DType::U32,
            "<i2" | "=i2" => DType::I16,
            "<i4" | "=i4" => DType::I32,
            "<i8" | "=i8" => DType::I64,
            other => {
                bail!("its dtype `{other}` is not supported (little-endian floats or integers)")
            }
        };
        let fortran_order = match value_of(h, "fortran_order")? {
            "True" => true,
            "False" => false,
            other => bail!("its fortran_order `{other}` is not True or False"),
        };
        let shape = value_of(h, "shape")?;
        let inner = shape
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .with_context(|| format!("its shape `{shape}` is not a tuple"))?;
        let shape = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|d| {
                d.parse::<usize>()
                    .with_context(|| format!("its shape `({inner})` has the dimension `{d}`"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Header {
            dtype,
            fortran_order,
            shape,
        })
    }
}

/// The text of the value of `key` in a Python dict literal (up to the next top-level comma).
fn value_of<'a>(h: &'a str, key: &str) -> Result<&'a str> {
    let at = [format!("'{key}'"), format!("\"{key}\"")]
        .iter()
        .find_map(|k| h.find(k.as_str()).map(|i| i + k.len()))
        .with_context(|| format!("its header has no `{key}`"))?;
    let rest = h[at..].trim_start();
    let rest = rest
        .strip_prefix(':')
        .with_context(|| format!("its header has no value for `{key}`"))?
        .trim_start();
    let mut depth = 0i32;
    let end = rest
        .char_indices()
        .find(|&(_, c)| {
            match c {
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                _ => {}
            }
            depth < 0 || (depth == 0 && (c == ',' || c == '}'))
        })
        .map(|(i, c)| if c == ')' || c == ']' { i + 1 } else { i })
        .unwrap_or(rest.len());
    Ok(rest[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers_numpy_writes() {
        let h = Header::parse("{'descr': '<f4', 'fortran_order': False, 'shape': (64, 256), }   ")
            .unwrap();
        assert_eq!(
            h,
            Header {
                dtype: DType::F32,
                fortran_order: false,
                shape: vec![64, 256]
            }
        );
        let h = Header::parse("{'descr': '<i8', 'fortran_order': True, 'shape': (3,), }").unwrap();
        assert_eq!(
            (h.dtype, h.fortran_order, h.shape),
            (DType::I64, true, vec![3])
        );
        let h = Header::parse("{'descr': '<f2', 'fortran_order': False, 'shape': (), }").unwrap();
        assert!(h.shape.is_empty());
        for bad in [
            "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<f4', 'shape': (2,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, }",
            "{'descr': 7, 'fortran_order': False, 'shape': (2,), }",
            "not a dict",
        ] {
            assert!(Header::parse(bad).is_err(), "{bad}");
        }
    }
}
