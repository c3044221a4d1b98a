//! An SAE weight matrix: a tensor, or f32 used in place from the checkpoint's memory map
//! ([`crate::mapped`]), so loading the paper's five 20,480-latent SAEs copies nothing.

use crate::mapped::MappedSlice;
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};
use std::sync::Arc;

/// An f32 matrix `[rows, cols]` in a mapped file, stored row-major or (`transposed`) as its
/// transpose `[cols, rows]` (Safe-SAIL keeps the encoder as `[d_sae, d_in]`).
pub struct MappedF32 {
    pub data: MappedSlice<f32>,
    pub rows: usize,
    pub cols: usize,
    pub transposed: bool,
}

/// An SAE weight matrix `[rows, cols]` in f32.
#[derive(Clone)]
pub enum SaeMatrix {
    Tensor(Tensor),
    Mapped(Arc<MappedF32>),
}

impl From<Tensor> for SaeMatrix {
    fn from(t: Tensor) -> Self {
        SaeMatrix::Tensor(t)
    }
}

impl SaeMatrix {
    /// `data` viewed as `[rows, cols]` (or, `transposed`, stored as `[cols, rows]`); `None`
    /// when the sizes do not match.
    pub fn mapped(
        data: MappedSlice<f32>,
        rows: usize,
        cols: usize,
        transposed: bool,
    ) -> Option<Self> {
        (rows.checked_mul(cols)? == data.len()).then(|| {
            SaeMatrix::Mapped(Arc::new(MappedF32 {
                data,
                rows,
                cols,
                transposed,
            }))
        })
    }

    pub fn dims(&self) -> (usize, usize) {
        match self {
            SaeMatrix::Tensor(t) => t.dims2().unwrap_or((0, 0)),
            SaeMatrix::Mapped(m) => (m.rows, m.cols),
        }
    }

    pub fn device(&self) -> Device {
        match self {
            SaeMatrix::Tensor(t) => t.device().clone(),
            SaeMatrix::Mapped(_) => Device::Cpu,
        }
    }

    /// Whether the matrix is used in place from a mapped file.
    pub fn is_mapped(&self) -> bool {
        matches!(self, SaeMatrix::Mapped(_))
    }

    /// The matrix as an f32 tensor (a copy when mapped).
    pub fn to_tensor(&self) -> Result<Tensor> {
        match self {
            SaeMatrix::Tensor(t) => Ok(t.clone()),
            SaeMatrix::Mapped(m) => {
                let t = Tensor::from_slice(m.data.as_slice(), m.data.len(), &Device::Cpu)?;
                Ok(if m.transposed {
                    t.reshape((m.cols, m.rows))?.t()?.contiguous()?
                } else {
                    t.reshape((m.rows, m.cols))?
                })
            }
        }
    }

    /// The matrix on `device`: kept in place on the CPU, else copied there.
    pub fn to_device(self, device: &Device) -> Result<Self> {
        match self {
            SaeMatrix::Mapped(_) if device.is_cpu() => Ok(self),
            other => Ok(SaeMatrix::Tensor(
                other.to_tensor()?.to_dtype(DType::F32)?.to_device(device)?,
            )),
        }
    }

    /// How many values are NaN or ±Inf.
    pub fn count_nonfinite(&self) -> Result<usize> {
        match self {
            SaeMatrix::Tensor(t) => crate::checks::count_nonfinite(t),
            SaeMatrix::Mapped(m) => Ok(crate::checks::count_nonfinite_f32(m.data.as_slice())),
        }
    }

    /// `x · self` for `x [n, rows]`: `[n, cols]` in f32. A mapped matrix is multiplied where
    /// it lies (the same gemm kernel candle uses, reading the stored layout through strides).
    pub fn left_mul(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            SaeMatrix::Tensor(t) => Ok(x.matmul(t)?),
            SaeMatrix::Mapped(m) => {
                let (n, k) = x.dims2()?;
                if k != m.rows {
                    bail!(
                        "matmul: input width {k} does not match the matrix's {}",
                        m.rows
                    );
                }
                let xv = x
                    .to_dtype(DType::F32)?
                    .to_device(&Device::Cpu)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                let mut out = vec![0f32; n * m.cols];
                let (rs, cs) = if m.transposed {
                    (1, m.rows as isize)
                } else {
                    (m.cols as isize, 1)
                };
                if n > 0 && m.cols > 0 {
                    let threads = rayon::current_num_threads();
                    let par = if threads > 1 {
                        gemm::Parallelism::Rayon(threads)
                    } else {
                        gemm::Parallelism::None
                    };
                    // SAFETY: `out` is [n, cols] row-major, `xv` [n, k] row-major and the mapped
                    // data holds rows × cols values read through (rs, cs) strides, all in range.
                    unsafe {
                        gemm::gemm(
                            n,
                            m.cols,
                            k,
                            out.as_mut_ptr(),
                            1,
                            m.cols as isize,
                            false,
                            xv.as_ptr(),
                            1,
                            k as isize,
                            m.data.as_slice().as_ptr(),
                            cs,
                            rs,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            par,
                        )
                    };
                }
                Ok(Tensor::from_vec(out, (n, m.cols), &Device::Cpu)?)
            }
        }
    }

    /// Rows `start..start + len`: `[len, cols]` (a copy when mapped).
    pub fn narrow_rows(&self, start: usize, len: usize) -> Result<Tensor> {
        match self {
            SaeMatrix::Tensor(t) => Ok(t.narrow(0, start, len)?),
            SaeMatrix::Mapped(m) => {
                if start + len > m.rows {
                    bail!("rows {start}..{} out of range ({})", start + len, m.rows);
                }
                let all = m.data.as_slice();
                let v: Vec<f32> = if m.transposed {
                    let mut v = Vec::with_capacity(len * m.cols);
                    for r in start..start + len {
                        v.extend((0..m.cols).map(|c| all[c * m.rows + r]));
                    }
                    v
                } else {
                    all[start * m.cols..(start + len) * m.cols].to_vec()
                };
                Ok(Tensor::from_vec(v, (len, m.cols), &Device::Cpu)?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn write_f32(p: &Path, v: &[f32]) {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(p, bytes).unwrap();
    }

    /// Mapped matrices, stored either way round, multiply and slice as their tensor copies do.
    #[test]
    fn mapped_matches_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.bin");
        let (rows, cols) = (5, 7);
        let vals: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 0.37).sin()).collect();
        write_f32(&p, &vals);
        let map = crate::mapped::map_file(&p, false).unwrap();
        let x = Tensor::new(
            &[[0.5f32, -1.0, 2.0, 0.25, 3.0], [1.0, 0.0, -2.0, 1.5, 0.5]],
            &Device::Cpu,
        )
        .unwrap();
        for transposed in [false, true] {
            let data = MappedSlice::new(map.clone(), 0, rows * cols).unwrap();
            let m = SaeMatrix::mapped(data, rows, cols, transposed).unwrap();
            let stored = Tensor::from_slice(&vals, vals.len(), &Device::Cpu).unwrap();
            let t = if transposed {
                stored.reshape((cols, rows)).unwrap().t().unwrap()
            } else {
                stored.reshape((rows, cols)).unwrap()
            };
            let want = x
                .matmul(&t.contiguous().unwrap())
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            let got = m.left_mul(&x).unwrap().to_vec2::<f32>().unwrap();
            for (a, b) in want.iter().flatten().zip(got.iter().flatten()) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
            assert_eq!(
                m.to_tensor().unwrap().to_vec2::<f32>().unwrap(),
                t.to_vec2::<f32>().unwrap()
            );
            assert_eq!(
                m.narrow_rows(1, 3).unwrap().to_vec2::<f32>().unwrap(),
                t.narrow(0, 1, 3).unwrap().to_vec2::<f32>().unwrap()
            );
            assert_eq!(m.count_nonfinite().unwrap(), 0);
        }
    }
}
