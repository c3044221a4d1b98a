//! Weights used in place from a read-only memory map of their file: typed views that share the
//! page cache instead of copying into new buffers. The model's bf16 matrices
//! ([`crate::model::matmul::MappedBf16`]) and the SAEs' f32 matrices
//! ([`crate::sae::SaeMatrix`]) both rest on [`MappedSlice`]; `SAFE_SAIL_NO_MMAP=1` turns the
//! mechanism off (everything is read into memory as before).

use anyhow::{Context, Result};
use memmap2::Mmap;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

/// A plain number type whose every bit pattern is a value, stored little-endian in files.
pub trait Plain: Copy + Send + Sync + 'static {}
impl Plain for f32 {}
impl Plain for half::bf16 {}
impl Plain for half::f16 {}

/// `len` values of type `T` at byte `offset` of a read-only map.
pub struct MappedSlice<T> {
    map: Arc<Mmap>,
    offset: usize,
    len: usize,
    _t: PhantomData<T>,
}

impl<T> Clone for MappedSlice<T> {
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
            offset: self.offset,
            len: self.len,
            _t: PhantomData,
        }
    }
}

impl<T: Plain> MappedSlice<T> {
    /// The view, or `None` when it is out of range, not aligned for `T`, or the machine is not
    /// little-endian.
    pub fn new(map: Arc<Mmap>, offset: usize, len: usize) -> Option<Self> {
        if cfg!(target_endian = "big") {
            return None;
        }
        let end = offset.checked_add(len.checked_mul(std::mem::size_of::<T>())?)?;
        let aligned = (map.as_ptr() as usize + offset).is_multiple_of(std::mem::align_of::<T>());
        (aligned && end <= map.len()).then_some(Self {
            map,
            offset,
            len,
            _t: PhantomData,
        })
    }

    /// Where the bytes `bytes` (a slice of the map, e.g. a safetensors tensor's data) sit in
    /// the map, as a view of `T`; `None` as [`MappedSlice::new`] or when they lie outside it.
    pub fn of_bytes(map: &Arc<Mmap>, bytes: &[u8]) -> Option<Self> {
        let base = map.as_ptr() as usize;
        let at = (bytes.as_ptr() as usize).checked_sub(base)?;
        if !bytes.len().is_multiple_of(std::mem::size_of::<T>()) {
            return None;
        }
        Self::new(map.clone(), at, bytes.len() / std::mem::size_of::<T>())
    }

    /// The sub-view of `len` values from value `start`; `None` when out of range.
    pub fn sub(&self, start: usize, len: usize) -> Option<Self> {
        (start.checked_add(len)? <= self.len).then(|| Self {
            map: self.map.clone(),
            offset: self.offset + start * std::mem::size_of::<T>(),
            len,
            _t: PhantomData,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[T] {
        // SAFETY: in range and aligned (checked in `new`); every bit pattern is a `T` (`Plain`);
        // the map is read-only and lives as long as `self`.
        unsafe {
            std::slice::from_raw_parts(self.map.as_ptr().add(self.offset) as *const T, self.len)
        }
    }
}

/// Whether weights may be used in place (`SAFE_SAIL_NO_MMAP` unset).
pub fn enabled() -> bool {
    std::env::var_os("SAFE_SAIL_NO_MMAP").is_none()
}

/// Maps `path` read-only. With `populate`, every page is mapped in one pass up front (cheaper
/// than a fault per 4 KiB when everything will be read anyway, as the finite check does).
pub fn map_file(path: &Path, populate: bool) -> Result<Arc<Mmap>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut opts = memmap2::MmapOptions::new();
    if populate {
        opts.populate();
    }
    // SAFETY: read-only; a file changed while mapped is the user's problem, as in every tool
    // that maps weights (transformers, candle).
    let map =
        unsafe { opts.map(&file) }.with_context(|| format!("cannot map {}", path.display()))?;
    Ok(Arc::new(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_check_range_and_alignment() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.bin");
        let vals: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        std::fs::write(&p, &vals).unwrap();
        let map = map_file(&p, false).unwrap();
        let v = MappedSlice::<f32>::new(map.clone(), 4, 3).unwrap();
        assert_eq!(v.as_slice(), &[2.0, 3.0, 4.0]);
        assert_eq!(v.sub(1, 2).unwrap().as_slice(), &[3.0, 4.0]);
        assert!(v.sub(2, 2).is_none());
        assert!(MappedSlice::<f32>::new(map.clone(), 4, 4).is_none());
        assert!(MappedSlice::<f32>::new(map.clone(), 2, 1).is_none());
        let w = MappedSlice::<f32>::of_bytes(&map, &map[8..16]).unwrap();
        assert_eq!(w.as_slice(), &[3.0, 4.0]);
    }
}
