//! An SAE weight matrix: a tensor, or f32 used in place from the checkpoint's memory map
//! ([`crate::mapped`]), so loading the paper's five 20,480-latent SAEs copies nothing.

use crate::mapped::MappedSlice;
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};
use std::sync::{Arc, OnceLock};

/// An f32 matrix `[rows, cols]` in a mapped file, stored row-major or (`transposed`) as its
/// transpose `[cols, rows]` (Safe-SAIL keeps the encoder as `[d_sae, d_in]`).
///
/// Its check that every value is finite runs on first use (as the model's bf16 weights do),
/// not at load: loading touches no weight page, and a non-finite weight is still an error
/// naming the tensor and its file before any result is computed from it.
pub struct MappedF32 {
    pub data: MappedSlice<f32>,
    pub rows: usize,
    pub cols: usize,
    pub transposed: bool,
    /// What to say when a value is not finite: the tensor's name, its file and how to load it
    /// anyway (unset: no check).
    origin: OnceLock<(String, String, String)>,
    checked: OnceLock<std::result::Result<(), String>>,
}

impl MappedF32 {
    /// An error when a value is NaN or ±Inf and the matrix is to be checked; the check runs
    /// once, on first call.
    fn ensure_finite(&self) -> Result<()> {
        let Some((name, file, hint)) = self.origin.get() else {
            return Ok(());
        };
        self.checked
            .get_or_init(|| nonfinite_error(name, file, hint, self.data.as_slice()))
            .clone()
            .map_err(anyhow::Error::msg)
    }
}

/// The error for a matrix `name` of `file` holding non-finite values, or `Ok` when it has none.
fn nonfinite_error(
    name: &str,
    file: &str,
    hint: &str,
    values: &[f32],
) -> std::result::Result<(), String> {
    let bad = crate::checks::count_nonfinite_f32(values);
    if bad == 0 {
        return Ok(());
    }
    Err(format!(
        "tensor `{name}` in {file} has {bad} non-finite value{} (NaN or ±Inf) of {}{hint}",
        if bad == 1 { "" } else { "s" },
        values.len()
    ))
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
                origin: OnceLock::new(),
                checked: OnceLock::new(),
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
                m.ensure_finite()?;
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

    /// Checks that every value is finite, as tensor `name` of `file` (`hint`: how to load it
    /// anyway, appended to the error): now for a tensor, on first use for a mapped matrix
    /// (or at [`SaeMatrix::ensure_finite`]).
    pub fn check_finite(&self, name: &str, file: &str, hint: &str) -> Result<()> {
        match self {
            SaeMatrix::Tensor(t) => match crate::checks::count_nonfinite(t)? {
                0 => Ok(()),
                _ => nonfinite_error(
                    name,
                    file,
                    hint,
                    &t.flatten_all()?
                        .to_dtype(DType::F32)?
                        .to_device(&Device::Cpu)?
                        .to_vec1::<f32>()?,
                )
                .map_err(anyhow::Error::msg),
            },
            SaeMatrix::Mapped(m) => {
                let _ = m
                    .origin
                    .set((name.to_string(), file.to_string(), hint.to_string()));
                Ok(())
            }
        }
    }

    /// Runs a mapped matrix's pending finite check now (nothing for a tensor: checked at
    /// load).
    pub fn ensure_finite(&self) -> Result<()> {
        match self {
            SaeMatrix::Tensor(_) => Ok(()),
            SaeMatrix::Mapped(m) => m.ensure_finite(),
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
                m.ensure_finite()?;
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
                m.ensure_finite()?;
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

    /// A mapped matrix holding a NaN is accepted when marked for checking; its first use (and
    /// every later one) fails naming the tensor and file, and nothing is computed from it.
    #[test]
    fn mapped_nonfinite_is_refused_on_first_use() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.bin");
        let mut vals = vec![1f32; 12];
        vals[5] = f32::NAN;
        write_f32(&p, &vals);
        let map = crate::mapped::map_file(&p, false).unwrap();
        let m = SaeMatrix::mapped(MappedSlice::new(map, 0, 12).unwrap(), 3, 4, false).unwrap();
        m.check_finite("W_enc", "m.bin", " (hint)").unwrap();
        let x = Tensor::ones((1, 3), DType::F32, &Device::Cpu).unwrap();
        for err in [
            m.left_mul(&x).unwrap_err(),
            m.narrow_rows(0, 1).unwrap_err(),
            m.to_tensor().unwrap_err(),
            m.ensure_finite().unwrap_err(),
        ] {
            assert_eq!(
                err.to_string(),
                "tensor `W_enc` in m.bin has 1 non-finite value (NaN or ±Inf) of 12 (hint)"
            );
        }
        // Unmarked (allow_nonfinite), it is used as it is.
        let map = crate::mapped::map_file(&p, false).unwrap();
        let m = SaeMatrix::mapped(MappedSlice::new(map, 0, 12).unwrap(), 3, 4, false).unwrap();
        assert!(m.left_mul(&x).is_ok());
        // A tensor is checked at once.
        let t = Tensor::from_slice(&vals, (3, 4), &Device::Cpu).unwrap();
        let err = SaeMatrix::from(t)
            .check_finite("W_dec", "f", "")
            .unwrap_err();
        assert!(err.to_string().contains("1 non-finite value"), "{err}");
    }
}
