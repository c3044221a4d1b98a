//! `y = x · Wᵀ` for bf16 weights kept as stored (`[out, in]`) on the CPU.
//!
//! candle 0.11's CPU matmul has no bf16 kernel: it widens both whole operands to f32 on every
//! call (a 2× copy of each weight, single-threaded), which made bf16 models slower and larger
//! in memory than f32 ones. This kernel reads the bf16 weight in place, with the best of three
//! inner kernels the CPU runs (chosen at run time, [`Kernel::detect`]): with AVX-512 BF16
//! (`vdpbf16ps`) it multiplies bf16 pairs into f32 accumulators directly; with AVX2 and FMA it
//! packs the weights as a BLAS does (widened to f32 once per call, in 16-column panels) and
//! multiplies them in a 6 × 16 register tile for a prompt, and widens eight weights at a time
//! in a register for a decode step (whose weights are read once anyway); elsewhere it widens
//! one weight row at a time in cache. All accumulate in f32 and round the result to bf16 once,
//! as PyTorch's bf16 `Linear` does. Work is split over output columns on all cores.

use anyhow::{bail, Result};
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use half::bf16;
use rayon::prelude::*;

/// Weight rows (output columns) per parallel task.
const ROWS_PER_TASK: usize = 64;
/// Inner-dimension block: the task's weight rows and the inputs of one block stay in L2.
const K_BLOCK: usize = 2048;

/// `x · wᵀ` with `x [.., K]` and `w [N, K]` bf16 on the CPU: `[.., N]` in bf16. `x` is
/// converted to bf16 first if it is not.
pub fn linear_bf16(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let Some(&k) = dims.last() else {
        bail!("linear on a scalar");
    };
    let (n, wk) = w.dims2()?;
    if wk != k {
        bail!("linear: input width {k} does not match the weight's {wk}");
    }
    let rows: usize = dims[..dims.len() - 1].iter().product();
    let x2 = x.to_dtype(DType::BF16)?.reshape((rows, k))?.contiguous()?;
    let y = x2.apply_op2_no_bwd(&w.contiguous()?, &RowsMatmul)?;
    let mut out = dims;
    *out.last_mut().unwrap() = n;
    Ok(y.reshape(out)?)
}

/// `x · wᵀ` with `x [.., K]` (any float dtype) and `w [n, k]` bf16 given as a slice (e.g. a
/// memory-mapped weight): `[.., n]` in bf16 on the CPU.
pub fn linear_bf16_slice(x: &Tensor, w: &[bf16], n: usize, k: usize) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    if dims.last() != Some(&k) {
        bail!("linear: input {dims:?} does not match a weight of width {k}");
    }
    let rows: usize = dims[..dims.len() - 1].iter().product();
    let xv = x
        .to_dtype(DType::BF16)?
        .to_device(&candle_core::Device::Cpu)?
        .flatten_all()?
        .to_vec1::<bf16>()?;
    let y = matmul_rows(&xv, w, rows, n, k);
    let mut out = dims;
    *out.last_mut().unwrap() = n;
    Ok(Tensor::from_vec(y, out, &candle_core::Device::Cpu)?)
}

/// A bf16 matrix `[rows, cols]` read in place from a memory-mapped safetensors file: the
/// weights stay in the page cache, shared with it, and cost no copy at load.
///
/// Its check that every value is finite runs on first use ([`MappedBf16::ensure_finite`],
/// called by every [`Matrix`] operation), not at load: loading touches no weight page, as
/// PyTorch's lazy mapping does, and a non-finite weight is still an error naming the tensor
/// and its file before any result is computed from it.
pub struct MappedBf16 {
    data: crate::mapped::MappedSlice<bf16>,
    pub rows: usize,
    pub cols: usize,
    /// The tensor's name and file, for the finite check's message (`None`: no check).
    origin: Option<(String, String)>,
    checked: std::sync::OnceLock<std::result::Result<(), String>>,
}

impl MappedBf16 {
    /// The matrix at byte `offset` of `map`; `None` when it is not 2-byte aligned or out of
    /// range.
    pub fn new(
        map: std::sync::Arc<memmap2::Mmap>,
        offset: usize,
        rows: usize,
        cols: usize,
    ) -> Option<Self> {
        let data = crate::mapped::MappedSlice::new(map, offset, rows.checked_mul(cols)?)?;
        Some(Self {
            data,
            rows,
            cols,
            origin: None,
            checked: Default::default(),
        })
    }

    /// The same matrix, checked finite on first use as tensor `name` of `file`.
    pub fn checked_on_first_use(mut self, name: &str, file: &str) -> Self {
        self.origin = Some((name.to_string(), file.to_string()));
        self
    }

    /// An error when a value is NaN or ±Inf: the check runs once, on first call.
    pub fn ensure_finite(&self) -> Result<()> {
        let Some((name, file)) = &self.origin else {
            return Ok(());
        };
        self.checked
            .get_or_init(|| {
                crate::checks::ensure_finite_bf16(self.data.as_slice(), name, file)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(anyhow::Error::msg)
    }

    pub fn as_slice(&self) -> &[bf16] {
        self.data.as_slice()
    }

    /// An owned copy as a tensor.
    pub fn to_tensor(&self) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            self.as_slice(),
            (self.rows, self.cols),
            &candle_core::Device::Cpu,
        )?)
    }
}

/// A weight matrix `[rows, cols]`: a tensor, or bf16 read in place from a mapped file.
#[derive(Clone)]
pub enum Matrix {
    Tensor(Tensor),
    Mapped(std::sync::Arc<MappedBf16>),
}

impl Matrix {
    pub fn dims(&self) -> (usize, usize) {
        match self {
            Matrix::Tensor(t) => t.dims2().unwrap_or((0, 0)),
            Matrix::Mapped(m) => (m.rows, m.cols),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Matrix::Tensor(t) => t.dtype(),
            Matrix::Mapped(_) => DType::BF16,
        }
    }

    /// The matrix as a tensor (a copy when mapped).
    pub fn to_tensor(&self) -> Result<Tensor> {
        match self {
            Matrix::Tensor(t) => Ok(t.clone()),
            Matrix::Mapped(m) => {
                m.ensure_finite()?;
                m.to_tensor()
            }
        }
    }

    /// Rows `start..start + len` widened to f32: `[len, cols]` on the matrix's device (a
    /// tile of a mapped matrix, without copying the rest).
    pub fn rows_f32(&self, start: usize, len: usize) -> Result<Tensor> {
        match self {
            Matrix::Tensor(t) => Ok(t.narrow(0, start, len)?.to_dtype(DType::F32)?),
            Matrix::Mapped(m) => {
                if start + len > m.rows {
                    bail!("rows {start}..{} out of range ({})", start + len, m.rows);
                }
                m.ensure_finite()?;
                let tile = &m.as_slice()[start * m.cols..(start + len) * m.cols];
                let v: Vec<f32> = tile.iter().map(|x| x.to_f32()).collect();
                Ok(Tensor::from_vec(
                    v,
                    (len, m.cols),
                    &candle_core::Device::Cpu,
                )?)
            }
        }
    }

    /// Rows `ids` (an embedding lookup): `[ids.len(), cols]`.
    pub fn rows(&self, ids: &Tensor) -> Result<Tensor> {
        match self {
            Matrix::Tensor(t) => Ok(t.index_select(ids, 0)?),
            Matrix::Mapped(m) => {
                m.ensure_finite()?;
                let ids = ids.to_device(&candle_core::Device::Cpu)?.to_vec1::<u32>()?;
                let all = m.as_slice();
                let mut out = Vec::with_capacity(ids.len() * m.cols);
                for &i in &ids {
                    let i = i as usize;
                    if i >= m.rows {
                        bail!(
                            "token id {i} is out of range (the vocabulary has {})",
                            m.rows
                        );
                    }
                    out.extend_from_slice(&all[i * m.cols..(i + 1) * m.cols]);
                }
                Ok(Tensor::from_vec(
                    out,
                    (ids.len(), m.cols),
                    &candle_core::Device::Cpu,
                )?)
            }
        }
    }

    /// `x · selfᵀ` for `x [.., cols]`: `[.., rows]`, in bf16 when the matrix is bf16 on the
    /// CPU (through this module's kernel), else in `x`'s dtype through candle.
    pub fn times_t(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Matrix::Mapped(m) => {
                m.ensure_finite()?;
                linear_bf16_slice(x, m.as_slice(), m.rows, m.cols)
            }
            Matrix::Tensor(t) if t.dtype() == DType::BF16 && t.device().is_cpu() => {
                linear_bf16(x, t)
            }
            Matrix::Tensor(t) => {
                let dims = x.dims().to_vec();
                let k = *dims.last().unwrap_or(&0);
                let rows: usize = dims[..dims.len().saturating_sub(1)].iter().product();
                let y = x.reshape((rows, k))?.matmul(&t.t()?)?;
                let mut out = dims;
                if let Some(l) = out.last_mut() {
                    *l = t.dim(0)?;
                }
                Ok(y.reshape(out)?)
            }
        }
    }
}

struct RowsMatmul;

impl CustomOp2 for RowsMatmul {
    fn name(&self) -> &'static str {
        "bf16-rows-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (Some((a0, a1)), Some((b0, b1))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("bf16 matmul needs contiguous inputs");
        };
        let (m, k) = l1.shape().dims2()?;
        let (n, wk) = l2.shape().dims2()?;
        if k != wk {
            candle_core::bail!("bf16 matmul: inner dimensions {k} and {wk} differ");
        }
        let (CpuStorage::BF16(x), CpuStorage::BF16(w)) = (s1, s2) else {
            candle_core::bail!("bf16 matmul: both operands must be bf16");
        };
        let out = matmul_rows(&x[a0..a1], &w[b0..b1], m, n, k);
        Ok((CpuStorage::BF16(out), Shape::from((m, n))))
    }
}

/// A pointer to the output that tasks writing disjoint columns may share.
#[derive(Clone, Copy)]
struct OutPtr(*mut bf16);
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// `x [m, k] · w[n, k]ᵀ` → `[m, n]`.
pub fn matmul_rows(x: &[bf16], w: &[bf16], m: usize, n: usize, k: usize) -> Vec<bf16> {
    matmul_rows_with(Kernel::detect(), x, w, m, n, k)
}

/// [`matmul_rows`] with a given kernel (one [`Kernel::available`] on this CPU).
fn matmul_rows_with(
    kernel: Kernel,
    x: &[bf16],
    w: &[bf16],
    m: usize,
    n: usize,
    k: usize,
) -> Vec<bf16> {
    assert_eq!(x.len(), m * k);
    assert_eq!(w.len(), n * k);
    debug_assert!(Kernel::available().contains(&kernel));
    let mut out = vec![bf16::ZERO; m * n];
    if m == 0 || n == 0 {
        return out;
    }
    let xf: Vec<f32> = if kernel == Kernel::Avx512Bf16 {
        vec![]
    } else {
        x.iter().map(|v| v.to_f32()).collect()
    };
    let ptr = OutPtr(out.as_mut_ptr());
    let tasks = n.div_ceil(ROWS_PER_TASK);
    (0..tasks).into_par_iter().for_each(|t| {
        let n0 = t * ROWS_PER_TASK;
        let nr = ROWS_PER_TASK.min(n - n0);
        let wt = &w[n0 * k..(n0 + nr) * k];
        // acc[i * nr + j] = out[i, n0 + j] in f32.
        let mut acc = vec![0f32; m * nr];
        match kernel {
            // SAFETY: `Kernel::detect` chose these only on CPUs with the features they use.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Bf16 => unsafe { avx512::block(x, wt, m, nr, k, &mut acc) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => unsafe { avx2::block(&xf, wt, m, nr, k, &mut acc) },
            _ => portable_block(&xf, wt, m, nr, k, &mut acc),
        }
        let p = ptr;
        for i in 0..m {
            for j in 0..nr {
                // SAFETY: each task writes only its own columns n0..n0+nr of row i.
                unsafe { *p.0.add(i * n + n0 + j) = bf16::from_f32(acc[i * nr + j]) };
            }
        }
    });
    out
}

/// The inner kernel of [`matmul_rows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512 BF16: bf16 pairs multiplied into f32 (`vdpbf16ps`).
    Avx512Bf16,
    /// AVX2 + FMA: weights widened to f32 in registers.
    Avx2Fma,
    /// Any CPU: weight rows widened to f32 in cache.
    Portable,
}

impl Kernel {
    /// The fastest kernel this CPU runs. `SAFE_SAIL_BF16_KERNEL=avx2|portable` (or the older
    /// `SAFE_SAIL_NO_AVX512BF16`) asks for a slower one, to compare them.
    pub fn detect() -> Kernel {
        static CHOSEN: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let asked = std::env::var("SAFE_SAIL_BF16_KERNEL").unwrap_or_default();
            let best = if has_avx512_bf16() {
                Kernel::Avx512Bf16
            } else if has_avx2_fma() {
                Kernel::Avx2Fma
            } else {
                Kernel::Portable
            };
            match asked.as_str() {
                "portable" => Kernel::Portable,
                "avx2" if has_avx2_fma() => Kernel::Avx2Fma,
                _ => best,
            }
        })
    }

    /// Every kernel this CPU runs.
    pub fn available() -> Vec<Kernel> {
        let mut all = vec![Kernel::Portable];
        if has_avx2_fma() {
            all.push(Kernel::Avx2Fma);
        }
        if has_avx512_bf16() {
            all.push(Kernel::Avx512Bf16);
        }
        all
    }

    /// The kernel's name, for benchmark reports.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512Bf16 => "avx512-bf16",
            Kernel::Avx2Fma => "avx2-fma",
            Kernel::Portable => "portable",
        }
    }
}

/// Whether this CPU runs the AVX2 + FMA kernel.
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU runs the AVX-512 BF16 kernel.
pub fn has_avx512_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if std::env::var_os("SAFE_SAIL_NO_AVX512BF16").is_some() {
            return false;
        }
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The kernel for any CPU: each weight row is widened to f32 in a small buffer, then dotted
/// with every input row (16 lanes of partial sums, which the compiler vectorises).
fn portable_block(xf: &[f32], w: &[bf16], m: usize, nr: usize, k: usize, acc: &mut [f32]) {
    let mut row = vec![0f32; k];
    for j in 0..nr {
        for (r, v) in row.iter_mut().zip(&w[j * k..(j + 1) * k]) {
            *r = v.to_f32();
        }
        for i in 0..m {
            acc[i * nr + j] = dot(&xf[i * k..(i + 1) * k], &row);
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 16;
    let mut s = [0f32; L];
    let mut ca = a.chunks_exact(L);
    let mut cb = b.chunks_exact(L);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..L {
            s[l] += x[l] * y[l];
        }
    }
    let mut tail = 0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    s.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::K_BLOCK;
    use half::bf16;
    use std::arch::x86_64::*;

    /// `acc[i, j] = Σ_k x[i, k] · w[j, k]` for one task's `nr` weight rows, blocked over k.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F, BW and BF16; `x` is `[m, k]`, `w` is `[nr, k]`, `acc` is
    /// `[m, nr]`.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn block(
        x: &[bf16],
        w: &[bf16],
        m: usize,
        nr: usize,
        k: usize,
        acc: &mut [f32],
    ) {
        let mut k0 = 0;
        while k0 < k {
            let k1 = (k0 + K_BLOCK).min(k);
            let mut i = 0;
            while i < m {
                let mr = (m - i).min(4);
                let mut j = 0;
                while j < nr {
                    let jr = (nr - j).min(4);
                    match (mr, jr) {
                        (4, 4) => tile::<4, 4>(x, w, k, i, j, nr, k0, k1, acc),
                        (1, 4) => tile::<1, 4>(x, w, k, i, j, nr, k0, k1, acc),
                        (2, 4) => tile::<2, 4>(x, w, k, i, j, nr, k0, k1, acc),
                        (3, 4) => tile::<3, 4>(x, w, k, i, j, nr, k0, k1, acc),
                        _ => {
                            for ii in 0..mr {
                                for jj in 0..jr {
                                    tile::<1, 1>(x, w, k, i + ii, j + jj, nr, k0, k1, acc);
                                }
                            }
                        }
                    }
                    j += jr;
                }
                i += mr;
            }
            k0 = k1;
        }
    }

    /// Adds the products of input rows `i..i+MR` and weight rows `j..j+NR` over `k0..k1`
    /// to `acc`.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    #[inline]
    unsafe fn tile<const MR: usize, const NR: usize>(
        x: &[bf16],
        w: &[bf16],
        k: usize,
        i: usize,
        j: usize,
        nr: usize,
        k0: usize,
        k1: usize,
        acc: &mut [f32],
    ) {
        let xp = x.as_ptr() as *const u16;
        let wp = w.as_ptr() as *const u16;
        let mut s = [[_mm512_setzero_ps(); NR]; MR];
        let mut kk = k0;
        while kk + 32 <= k1 {
            let mut a = [_mm512_setzero_si512(); MR];
            for (r, a) in a.iter_mut().enumerate() {
                *a = _mm512_loadu_si512(xp.add((i + r) * k + kk) as *const _);
            }
            for c in 0..NR {
                let b = _mm512_loadu_si512(wp.add((j + c) * k + kk) as *const _);
                let b: __m512bh = std::mem::transmute(b);
                for r in 0..MR {
                    let ar: __m512bh = std::mem::transmute(a[r]);
                    s[r][c] = _mm512_dpbf16_ps(s[r][c], ar, b);
                }
            }
            kk += 32;
        }
        if kk < k1 {
            let mask: __mmask32 = (1u32 << (k1 - kk)) - 1;
            let mut a = [_mm512_setzero_si512(); MR];
            for (r, a) in a.iter_mut().enumerate() {
                *a = _mm512_maskz_loadu_epi16(mask, xp.add((i + r) * k + kk) as *const _);
            }
            for c in 0..NR {
                let b = _mm512_maskz_loadu_epi16(mask, wp.add((j + c) * k + kk) as *const _);
                let b: __m512bh = std::mem::transmute(b);
                for r in 0..MR {
                    let ar: __m512bh = std::mem::transmute(a[r]);
                    s[r][c] = _mm512_dpbf16_ps(s[r][c], ar, b);
                }
            }
        }
        for r in 0..MR {
            for c in 0..NR {
                acc[(i + r) * nr + j + c] += _mm512_reduce_add_ps(s[r][c]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use half::bf16;
    use std::arch::x86_64::*;

    /// Inner-dimension block for 4–11 input rows (fewer read each row in one pass, more are
    /// packed): 64 weight rows (bf16) and the f32 inputs of one block stay in a 512 KiB L2.
    const K_BLOCK: usize = 1024;

    /// `acc[i, j] = Σ_k x[i, k] · w[j, k]` for one task's `nr` weight rows, blocked over k.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; `x` is `[m, k]`, `w` is `[nr, k]`, `acc` is `[m, nr]`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn block(
        x: &[f32],
        w: &[bf16],
        m: usize,
        nr: usize,
        k: usize,
        acc: &mut [f32],
    ) {
        assert!(x.len() >= m * k && w.len() >= nr * k && acc.len() >= m * nr);
        if m >= PACK_ROWS {
            return block_packed(x, w, m, nr, k, acc);
        }
        // A decode step's few input rows stay in L2 whatever k is; splitting each weight row
        // into k-blocks only cut its stream short for the prefetcher (9–10 GB/s of weights
        // read at Qwen2.5-3B's decode shapes against 14–17 GB/s in one pass).
        let kbl = if m <= 3 { k } else { K_BLOCK };
        let mut k0 = 0;
        while k0 < k {
            let k1 = (k0 + kbl).min(k);
            let mut i = 0;
            while i < m {
                let mr = (m - i).min(3);
                let mut j = 0;
                while j < nr {
                    // One input row (a decode step) keeps eight chains of FMAs in flight.
                    let jr = (nr - j).min(if mr == 1 { 8 } else { 4 });
                    match (mr, jr) {
                        (3, 4) => tile::<3, 4>(x, w, k, i, j, nr, k0, k1, acc),
                        (2, 4) => tile::<2, 4>(x, w, k, i, j, nr, k0, k1, acc),
                        (1, 8) => tile::<1, 8>(x, w, k, i, j, nr, k0, k1, acc),
                        _ => {
                            for ii in 0..mr {
                                for jj in 0..jr {
                                    tile::<1, 1>(x, w, k, i + ii, j + jj, nr, k0, k1, acc);
                                }
                            }
                        }
                    }
                    j += jr;
                }
                i += mr;
            }
            k0 = k1;
        }
    }

    /// From this many input rows on, a task packs its weights ([`block_packed`]); below it
    /// (a decode step, a short batch) the weights are read once anyway and packing them
    /// would only add a copy (equal speed at 8–12 rows at Qwen2.5-3B's shapes).
    const PACK_ROWS: usize = 12;
    /// The k-block of [`block_packed`]: a 16-column panel (32 KiB of f32) stays in L1 while
    /// the input rows stream past it (256, 384 and 1,024 measured no faster).
    const K_PACK: usize = 512;
    /// Output columns per packed panel: two 8-lane vectors.
    const NP: usize = 16;

    /// Eight rows of eight f32 transposed in registers.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }

    /// [`block`] for prompts, as a BLAS packs its operands: per k-block, the task's weights
    /// are widened to f32 once and transposed into 16-column panels (`[k, 16]`), then a 6 × 16
    /// register tile (12 accumulators) takes one input value broadcast and two panel vectors
    /// per step: no weight is widened more than once and no horizontal sum is needed.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block_packed(x: &[f32], w: &[bf16], m: usize, nr: usize, k: usize, acc: &mut [f32]) {
        thread_local! {
            static PACKED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let panels = nr.div_ceil(NP);
        PACKED.with_borrow_mut(|packed| {
            // Every element a step reads is written by the packing below first.
            packed.resize(panels * K_PACK * NP, 0.0);
            packed_blocks(x, w, m, nr, k, acc, packed)
        });
    }

    /// [`block_packed`]'s loop over k-blocks, with the thread's panel buffer (`packed`, room
    /// for every panel of one k-block).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn packed_blocks(
        x: &[f32],
        w: &[bf16],
        m: usize,
        nr: usize,
        k: usize,
        acc: &mut [f32],
        packed: &mut [f32],
    ) {
        let panels = nr.div_ceil(NP);
        let wp = w.as_ptr() as *const u16;
        let mut k0 = 0;
        while k0 < k {
            let kb = K_PACK.min(k - k0);
            // packed[p][t][c] = w[p * 16 + c][k0 + t], eight rows × eight columns at a time;
            // columns past `nr` are zero.
            for p in 0..panels {
                let base = packed.as_mut_ptr().add(p * K_PACK * NP);
                for half in 0..2 {
                    let j0 = p * NP + half * 8;
                    let full = j0 + 8 <= nr;
                    let mut t = 0;
                    if full {
                        while t + 8 <= kb {
                            let mut r = [_mm256_setzero_ps(); 8];
                            for (c, r) in r.iter_mut().enumerate() {
                                *r = widen(wp.add((j0 + c) * k + k0 + t));
                            }
                            let tr = transpose8(r);
                            for (u, v) in tr.iter().enumerate() {
                                _mm256_storeu_ps(base.add((t + u) * NP + half * 8), *v);
                            }
                            t += 8;
                        }
                    }
                    for t in t..kb {
                        for c in 0..8 {
                            let j = j0 + c;
                            *base.add(t * NP + half * 8 + c) = if j < nr {
                                w[j * k + k0 + t].to_f32()
                            } else {
                                0.0
                            };
                        }
                    }
                }
            }
            for p in 0..panels {
                let panel = packed.as_ptr().add(p * K_PACK * NP);
                let j0 = p * NP;
                let jn = NP.min(nr - j0);
                let mut i = 0;
                while i < m {
                    let mr = (m - i).min(6);
                    match mr {
                        6 => micro::<6>(x, panel, k, kb, i, j0, jn, nr, k0, acc),
                        5 => micro::<5>(x, panel, k, kb, i, j0, jn, nr, k0, acc),
                        4 => micro::<4>(x, panel, k, kb, i, j0, jn, nr, k0, acc),
                        3 => micro::<3>(x, panel, k, kb, i, j0, jn, nr, k0, acc),
                        2 => micro::<2>(x, panel, k, kb, i, j0, jn, nr, k0, acc),
                        _ => micro::<1>(x, panel, k, kb, i, j0, jn, nr, k0, acc),
                    }
                    i += mr;
                }
            }
            k0 += kb;
        }
    }

    /// Adds the products of input rows `i..i+MR` (over `k0..k0+kb`) and one packed panel
    /// (weight rows `j0..j0+jn`) to `acc`.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    #[inline]
    unsafe fn micro<const MR: usize>(
        x: &[f32],
        panel: *const f32,
        k: usize,
        kb: usize,
        i: usize,
        j0: usize,
        jn: usize,
        nr: usize,
        k0: usize,
        acc: &mut [f32],
    ) {
        let xp = x.as_ptr().add(i * k + k0);
        let mut s0 = [_mm256_setzero_ps(); MR];
        let mut s1 = [_mm256_setzero_ps(); MR];
        for t in 0..kb {
            let b0 = _mm256_loadu_ps(panel.add(t * NP));
            let b1 = _mm256_loadu_ps(panel.add(t * NP + 8));
            for r in 0..MR {
                let a = _mm256_broadcast_ss(&*xp.add(r * k + t));
                s0[r] = _mm256_fmadd_ps(a, b0, s0[r]);
                s1[r] = _mm256_fmadd_ps(a, b1, s1[r]);
            }
        }
        for r in 0..MR {
            let out = acc.as_mut_ptr().add((i + r) * nr + j0);
            if jn == NP {
                _mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(out), s0[r]));
                _mm256_storeu_ps(
                    out.add(8),
                    _mm256_add_ps(_mm256_loadu_ps(out.add(8)), s1[r]),
                );
            } else {
                let mut tmp = [0f32; NP];
                _mm256_storeu_ps(tmp.as_mut_ptr(), s0[r]);
                _mm256_storeu_ps(tmp.as_mut_ptr().add(8), s1[r]);
                for c in 0..jn {
                    *out.add(c) += tmp[c];
                }
            }
        }
    }

    /// Eight bf16 at `p` widened to f32 (a bf16 is the high half of an f32).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn widen(p: *const u16) -> __m256 {
        let h = _mm_loadu_si128(p as *const __m128i);
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn sum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
    }

    /// Adds the products of input rows `i..i+MR` and weight rows `j..j+NR` over `k0..k1`
    /// to `acc`.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    #[inline]
    unsafe fn tile<const MR: usize, const NR: usize>(
        x: &[f32],
        w: &[bf16],
        k: usize,
        i: usize,
        j: usize,
        nr: usize,
        k0: usize,
        k1: usize,
        acc: &mut [f32],
    ) {
        let xp = x.as_ptr();
        let wp = w.as_ptr() as *const u16;
        let mut s = [[_mm256_setzero_ps(); NR]; MR];
        let mut kk = k0;
        while kk + 8 <= k1 {
            let mut a = [_mm256_setzero_ps(); MR];
            for r in 0..MR {
                a[r] = _mm256_loadu_ps(xp.add((i + r) * k + kk));
            }
            for c in 0..NR {
                let b = widen(wp.add((j + c) * k + kk));
                for r in 0..MR {
                    s[r][c] = _mm256_fmadd_ps(a[r], b, s[r][c]);
                }
            }
            kk += 8;
        }
        for r in 0..MR {
            for c in 0..NR {
                let mut v = sum(s[r][c]);
                for t in kk..k1 {
                    v += x[(i + r) * k + t] * w[(j + c) * k + t].to_f32();
                }
                acc[(i + r) * nr + j + c] += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn reference(x: &Tensor, w: &Tensor) -> Tensor {
        x.to_dtype(DType::F32)
            .unwrap()
            .matmul(&w.to_dtype(DType::F32).unwrap().t().unwrap())
            .unwrap()
    }

    #[test]
    fn matches_f32_matmul_on_awkward_shapes() {
        // Shapes that exercise every tail: rows not a multiple of 4, weight rows not a
        // multiple of 4 or of a task, an inner size not a multiple of 32 and over a k block.
        for &(m, n, k) in &[
            (1, 1, 1),
            (1, 70, 33),
            (5, 7, 64),
            (40, 131, 2100),
            (3, 64, 31),
        ] {
            let x = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu)
                .unwrap()
                .to_dtype(DType::BF16)
                .unwrap();
            let w = Tensor::randn(0f32, 1.0, (n, k), &Device::Cpu)
                .unwrap()
                .to_dtype(DType::BF16)
                .unwrap();
            let want = reference(&x, &w);
            let got = linear_bf16(&x, &w).unwrap();
            assert_eq!(got.dims(), &[m, n]);
            assert_eq!(got.dtype(), DType::BF16);
            let got = got.to_dtype(DType::F32).unwrap();
            // One bf16 rounding of the result (2^-8 relative) on sums of k products.
            let diff = (got - &want)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let mag = want
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            for (d, a) in diff.iter().zip(&mag) {
                assert!(
                    *d <= a * 8e-3 + 1e-3 * (k as f32).sqrt(),
                    "{m}x{n}x{k}: {d} vs {a}"
                );
            }
        }
    }

    #[test]
    fn every_kernel_this_cpu_runs_matches_f32_matmul() {
        // Every tail: rows not a multiple of the tile, weight rows not a multiple of a tile or
        // of a task, inner sizes not a multiple of the vector width and over a k block.
        for kernel in Kernel::available() {
            for &(m, n, k) in &[
                (1, 1, 1),
                (1, 70, 33),
                (1, 64, 2100),
                (2, 9, 17),
                (5, 7, 64),
                (7, 131, 2100),
                (3, 64, 31),
                // Packed (AVX2, 12 rows and more): rows not a multiple of 6, panels cut
                // short (n not a multiple of 8 or 16), k over one block and not a multiple of 8.
                (12, 16, 8),
                (13, 70, 1031),
                (56, 131, 1100),
            ] {
                let x = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu)
                    .unwrap()
                    .to_dtype(DType::BF16)
                    .unwrap();
                let w = Tensor::randn(0f32, 1.0, (n, k), &Device::Cpu)
                    .unwrap()
                    .to_dtype(DType::BF16)
                    .unwrap();
                let want = reference(&x, &w)
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                let xs = x.flatten_all().unwrap().to_vec1::<bf16>().unwrap();
                let ws = w.flatten_all().unwrap().to_vec1::<bf16>().unwrap();
                let got = matmul_rows_with(kernel, &xs, &ws, m, n, k);
                for (g, a) in got.iter().zip(&want) {
                    let d = (g.to_f32() - a).abs();
                    assert!(
                        d <= a.abs() * 8e-3 + 1e-3 * (k as f32).sqrt(),
                        "{kernel:?} {m}x{n}x{k}: {g} vs {a}"
                    );
                }
            }
        }
    }

    #[test]
    fn portable_kernel_matches_too() {
        let (m, n, k) = (6, 9, 45);
        let x: Vec<bf16> = (0..m * k)
            .map(|i| bf16::from_f32((i % 7) as f32 - 3.0))
            .collect();
        let w: Vec<bf16> = (0..n * k)
            .map(|i| bf16::from_f32((i % 5) as f32 * 0.5))
            .collect();
        let xf: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
        let mut acc = vec![0f32; m * n];
        portable_block(&xf, &w, m, n, k, &mut acc);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k)
                    .map(|t| x[i * k + t].to_f32() * w[j * k + t].to_f32())
                    .sum();
                assert_eq!(acc[i * n + j], want, "({i}, {j})");
            }
        }
        let fast = matmul_rows(&x, &w, m, n, k);
        for (a, b) in fast.iter().zip(&acc) {
            assert_eq!(*a, bf16::from_f32(*b));
        }
    }
}
