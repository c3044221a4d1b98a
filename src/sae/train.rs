//! Training sparse autoencoders with candle's autograd, in three architectures:
//!
//! * **TopK** (Gao et al. 2024, "Scaling and evaluating sparse autoencoders"):
//!   `f = TopK(ReLU(pre))`, loss = normalised MSE + AuxK/32, where AuxK reconstructs the
//!   residual `x − x̂` from the `k_aux` largest pre-activations of the *dead* latents only.
//! * **ReLU + L1**: `f = ReLU(pre)`, loss = normalised MSE + `l1 · Σᵢ fᵢ‖W_dec,ᵢ‖ / rms(x)`.
//! * **JumpReLU** (Rajamanoharan et al. 2024, "Jumping ahead"): `f = pre · H(pre − θ)`,
//!   `θ = exp(log θ)` trained through a straight-through estimator with a rectangle kernel;
//!   loss = normalised MSE + `λ · L0`.
//!
//! Here `pre = (x − b_dec) · W_enc + b_enc`, `x̂ = f · W_dec + b_dec`, and the "normalised MSE"
//! is `Σ‖x − x̂‖² / Σ‖x − x̄‖²` over the batch (the fraction of variance unexplained), so the
//! sparsity coefficients do not depend on the scale of the activations.
//!
//! Common to all: decoder rows kept at unit norm (the gradient component parallel to each row
//! is removed before the update, the row renormalised after it), `b_dec` initialised to the
//! geometric median of the first batch (Weiszfeld; the mean if that does not converge), the
//! encoder to the decoder's transpose, and Adam (implemented here, so that its moments can be
//! checkpointed) with a linear warm-up and a linear decay to 0 over the last 20% of the steps.
//! Every step is deterministic, so a run restored from [`SaeTrainer::state_tensors`] continues
//! bit for bit like an uninterrupted one.
//!
//! TopK steps on the CPU use hand-written gradients over the selected latents by default
//! ([`TopKKernel::Sparse`]): after the dense encoder matmul, everything costs `n · k · d_in`
//! rather than `n · d_sae · d_in`. [`TopKKernel::Dense`] is the same step through candle's
//! autograd (a unit test checks that the two agree).

use super::format::SaeLens;
use super::{Activation, Sae, SaeMeta};
use crate::hooks::HookPoint;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, Var, D};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub use super::format::save_saelens;

/// The architecture of a trained SAE, with its sparsity setting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "architecture", rename_all = "lowercase")]
pub enum Arch {
    /// Keep the `k` largest pre-activations (then ReLU); AuxK against dead latents.
    TopK { k: usize },
    /// ReLU with an L1 penalty of coefficient `l1`.
    Relu { l1: f64 },
    /// JumpReLU with an L0 penalty of coefficient `l0_coeff`.
    JumpRelu { l0_coeff: f64 },
}

impl Arch {
    /// `topk`, `relu` or `jumprelu`.
    pub fn name(&self) -> &'static str {
        match self {
            Arch::TopK { .. } => "topk",
            Arch::Relu { .. } => "relu",
            Arch::JumpRelu { .. } => "jumprelu",
        }
    }

    /// A short label for folder names and progress: `topk16`, `relu-l1_0.001`, `jumprelu-l0_0.01`.
    pub fn label(&self) -> String {
        match self {
            Arch::TopK { k } => format!("topk{k}"),
            Arch::Relu { l1 } => format!("relu-l1_{l1}"),
            Arch::JumpRelu { l0_coeff } => format!("jumprelu-l0_{l0_coeff}"),
        }
    }
}

/// How a TopK step computes its gradients (the step itself is the same, up to rounding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TopKKernel {
    /// Hand-written gradients over the k active latents of each token: after the dense
    /// encoder matmul, the decoder, the loss and every gradient cost `n · k · d_in`, not
    /// `n · d_sae · d_in` (CPU only; other devices use [`TopKKernel::Dense`]).
    #[default]
    Sparse,
    /// candle's autograd over dense `[n, d_sae]` activations.
    Dense,
}

impl TopKKernel {
    /// Configurations written before the kernel was a setting were trained densely.
    fn legacy() -> Self {
        TopKKernel::Dense
    }
}

/// Settings of one SAE being trained.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    pub d_in: usize,
    pub d_sae: usize,
    pub arch: Arch,
    /// Peak learning rate.
    pub lr: f64,
    /// Steps of linear warm-up.
    pub warmup_steps: usize,
    /// Total steps of the run: the learning rate decays linearly to 0 over the last 20% of
    /// them (0 = no decay).
    pub total_steps: usize,
    pub seed: u64,
    /// A latent that has not fired for this many tokens counts as dead (and feeds AuxK).
    pub dead_tokens: u64,
    /// Coefficient of the AuxK loss (TopK only).
    pub aux_coeff: f64,
    /// JumpReLU: the width ε of the rectangle kernel of the threshold's pseudo-derivative, in
    /// pre-activation units (`None`: 5% of the typical projection `rms(x − x̄)/√d_in` of the
    /// first batch).
    pub bandwidth: Option<f64>,
    /// JumpReLU: the initial threshold (`None`: twice the typical projection, so about 2% of
    /// a random direction's projections pass it at the start).
    pub init_threshold: Option<f64>,
    /// TopK: how the step is computed (ReLU and JumpReLU always use candle's autograd).
    #[serde(default = "TopKKernel::legacy")]
    pub kernel: TopKKernel,
}

impl TrainConfig {
    /// Defaults for everything but the shape and the architecture.
    pub fn new(d_in: usize, d_sae: usize, arch: Arch) -> Self {
        Self {
            d_in,
            d_sae,
            arch,
            lr: 1e-3,
            warmup_steps: 100,
            total_steps: 0,
            seed: 0,
            dead_tokens: 10_000_000,
            aux_coeff: 1.0 / 32.0,
            bandwidth: None,
            init_threshold: None,
            kernel: TopKKernel::default(),
        }
    }

    /// The learning rate of step `step` (0-based): warm-up, plateau, decay over the last 20%.
    pub fn lr_at(&self, step: usize) -> f64 {
        let warm = ((step + 1) as f64 / self.warmup_steps.max(1) as f64).min(1.0);
        let decay = if self.total_steps == 0 {
            1.0
        } else {
            let t = self.total_steps as f64;
            let start = 0.8 * t;
            if (step as f64) < start {
                1.0
            } else {
                ((t - step as f64) / (t - start)).clamp(0.0, 1.0)
            }
        };
        self.lr * warm * decay
    }
}

/// What one step measured, on its batch.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct StepStats {
    /// The training objective (normalised MSE + the architecture's penalty / auxiliary loss).
    pub loss: f32,
    /// Mean squared error per element.
    pub mse: f32,
    /// Mean number of active latents per token.
    pub l0: f32,
    /// Share of latents that have not fired for `dead_tokens` tokens (after this step).
    pub dead_fraction: f32,
    /// `1 − Σ‖x − x̂‖² / Σ‖x − x̄‖²`.
    pub explained_variance: f32,
}

/// The geometric median of the rows of `x` (`n × d`, row-major) by Weiszfeld's iterations,
/// starting from the mean; `None` if it does not converge within `max_iter` iterations (or
/// turns non-finite).
pub fn geometric_median(x: &[f32], d: usize, max_iter: usize, tol: f64) -> Option<Vec<f32>> {
    if d == 0 || x.is_empty() || !x.len().is_multiple_of(d) {
        return None;
    }
    let n = x.len() / d;
    let mut y = vec![0f64; d];
    for row in x.chunks(d) {
        for (a, &v) in y.iter_mut().zip(row) {
            *a += v as f64 / n as f64;
        }
    }
    let scale = x
        .iter()
        .map(|v| (*v as f64).abs())
        .fold(0.0, f64::max)
        .max(1e-30);
    for _ in 0..max_iter {
        let (mut num, mut den) = (vec![0f64; d], 0f64);
        for row in x.chunks(d) {
            let dist = row
                .iter()
                .zip(&y)
                .map(|(&a, &b)| (a as f64 - b).powi(2))
                .sum::<f64>()
                .sqrt()
                .max(1e-12 * scale);
            let w = 1.0 / dist;
            den += w;
            for (s, &v) in num.iter_mut().zip(row) {
                *s += w * v as f64;
            }
        }
        let next: Vec<f64> = num.iter().map(|s| s / den).collect();
        let shift = next
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        y = next;
        if !y.iter().all(|v| v.is_finite()) {
            return None;
        }
        if shift <= tol * scale {
            return Some(y.iter().map(|&v| v as f32).collect());
        }
    }
    None
}

/// Tokens since each latent last fired, updated from the per-latent firing counts of a batch.
fn update_dead(since: &mut [u64], counts: &[f32], n: u64) {
    for (s, &c) in since.iter_mut().zip(counts) {
        *s = if c > 0.0 { 0 } else { s.saturating_add(n) };
    }
}

/// The k-th largest value of `row` (−∞ when `k ≥ row.len()`): TopK keeps the values `v` with
/// `v ≥ kth` and `v > 0` (ties at the k-th value are all kept), like the SAE's encoder
/// ([`super::topk_relu`]). `scratch` is reused between calls.
fn topk_threshold(row: &[f32], k: usize, scratch: &mut Vec<f32>) -> f32 {
    if k < row.len() {
        scratch.clear();
        scratch.extend_from_slice(row);
        *scratch
            .select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a))
            .1
    } else {
        f32::NEG_INFINITY
    }
}

/// The TopK mask of pre-activations (1 where a latent is among the k largest and > 0), the
/// same selection as the SAE's encoder ([`super::topk_relu`]: kept where `v ≥ kth` and
/// `v > 0`), written as 0/1 directly in one pass over the rows.
fn topk_mask(pre: &Tensor, k: usize) -> Result<Tensor> {
    use rayon::prelude::*;
    let (n, d) = pre.dims2()?;
    let mut data = pre
        .to_device(&Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    data.par_chunks_mut(d).for_each_init(
        || Vec::with_capacity(d),
        |scratch: &mut Vec<f32>, row| {
            let kth = topk_threshold(row, k, scratch);
            for v in row.iter_mut() {
                *v = if *v >= kth && *v > 0.0 { 1.0 } else { 0.0 };
            }
        },
    );
    Ok(Tensor::from_vec(data, (n, d), pre.device())?)
}

/// Runs `f` on the f32 data of a contiguous CPU tensor, without copying it.
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else {
        bail!("the sparse TopK kernel runs on the CPU only");
    };
    let (start, end) = layout
        .contiguous_offsets()
        .context("a non-contiguous tensor")?;
    Ok(f(&cpu.as_slice::<f32>()?[start..end]))
}

/// `a [rows, cols]` (row-major) transposed into `[cols, rows]`, in parallel blocks of rows of
/// the output.
fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    use rayon::prelude::*;
    const B: usize = 16;
    let mut out = vec![0f32; rows * cols];
    out.par_chunks_mut(B * rows)
        .enumerate()
        .for_each(|(blk, chunk)| {
            let c0 = blk * B;
            let nb = chunk.len() / rows;
            for r in 0..rows {
                let src = &a[r * cols + c0..r * cols + c0 + nb];
                for (b, &v) in src.iter().enumerate() {
                    chunk[b * rows + r] = v;
                }
            }
        });
    out
}

/// One token's selected latents: `(latent, activation, ∂loss/∂activation)`.
type Active = Vec<(u32, f32, f32)>;

/// JumpReLU: the learning rate of `log θ` relative to the other parameters'.
const THRESHOLD_LR_SCALE: f64 = 10.0;

/// Names of the trained tensors, in the order of [`SaeTrainer`]'s parameters.
const PARAMS: [&str; 5] = ["W_enc", "b_enc", "W_dec", "b_dec", "log_threshold"];
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const ADAM_EPS: f64 = 1e-8;

/// One Adam update of one parameter (bias-correction factors `c1`, `c2`, learning rate
/// `rate`); `rows = Some(width)`: a matrix of unit rows (the decoder), whose gradient loses its
/// component parallel to each row and whose rows are renormalised after the update.
struct Adam {
    c1: f64,
    c2: f64,
    rate: f64,
    rows: Option<usize>,
}

impl Adam {
    /// On the CPU: one fused pass per row (parallel, each element's arithmetic independent
    /// of the threads). Returns the new parameter, first and second moments.
    fn cpu(
        &self,
        p: &Tensor,
        g: &Tensor,
        m: &Tensor,
        v: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        use rayon::prelude::*;
        let (p, g, m, v) = (
            p.contiguous()?,
            g.contiguous()?,
            m.contiguous()?,
            v.contiguous()?,
        );
        let len = p.elem_count();
        let width = self.rows.unwrap_or(len.clamp(1, 4096));
        let (b1, b2, eps) = (BETA1 as f32, BETA2 as f32, ADAM_EPS as f32);
        let (ib1, ib2) = ((1.0 - BETA1) as f32, (1.0 - BETA2) as f32);
        let (ic1, ic2, rate) = (
            (1.0 / self.c1) as f32,
            (1.0 / self.c2) as f32,
            self.rate as f32,
        );
        let (mut new_p, mut new_m, mut new_v) = (vec![0f32; len], vec![0f32; len], vec![0f32; len]);
        with_f32(&p, |p| {
            with_f32(&g, |g| {
                with_f32(&m, |m| {
                    with_f32(&v, |v| {
                        new_p
                            .par_chunks_mut(width)
                            .zip(new_m.par_chunks_mut(width))
                            .zip(new_v.par_chunks_mut(width))
                            .enumerate()
                            .for_each(|(r, ((np, nm), nv))| {
                                let o = r * width;
                                let (p, g) = (&p[o..o + np.len()], &g[o..o + np.len()]);
                                let (m, v) = (&m[o..o + np.len()], &v[o..o + np.len()]);
                                let par = if self.rows.is_some() {
                                    p.iter().zip(g).map(|(a, b)| a * b).sum::<f32>()
                                } else {
                                    0.0
                                };
                                for j in 0..np.len() {
                                    let gj = if self.rows.is_some() {
                                        g[j] - p[j] * par
                                    } else {
                                        g[j]
                                    };
                                    nm[j] = m[j] * b1 + gj * ib1;
                                    nv[j] = v[j] * b2 + gj * gj * ib2;
                                    let update = (nm[j] * ic1) / ((nv[j] * ic2).sqrt() + eps);
                                    np[j] = p[j] - update * rate;
                                }
                                if self.rows.is_some() {
                                    let norm = np.iter().map(|a| a * a).sum::<f32>().sqrt() + 1e-8;
                                    np.iter_mut().for_each(|a| *a /= norm);
                                }
                            })
                    })
                })
            })
        })????;
        let (dev, shape) = (p.device(), p.shape());
        Ok((
            Tensor::from_vec(new_p, shape, dev)?,
            Tensor::from_vec(new_m, shape, dev)?,
            Tensor::from_vec(new_v, shape, dev)?,
        ))
    }

    /// The same update with tensor operations (any device).
    fn tensors(
        &self,
        p: &Tensor,
        mut g: Tensor,
        m: &Tensor,
        v: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        if self.rows.is_some() {
            let par = (&g * p)?.sum_keepdim(D::Minus1)?;
            g = (g - p.broadcast_mul(&par)?)?;
        }
        let m = ((m * BETA1)? + (&g * (1.0 - BETA1))?)?.detach();
        let v = ((v * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?.detach();
        let update = ((&m / self.c1)? / ((&v / self.c2)?.sqrt()? + ADAM_EPS)?)?;
        let mut new = (p - (update * self.rate)?)?;
        if self.rows.is_some() {
            new = new.broadcast_div(&(new.sqr()?.sum_keepdim(D::Minus1)?.sqrt()? + 1e-8)?)?;
        }
        Ok((new.detach(), m, v))
    }
}

/// An SAE being trained (any [`Arch`]).
pub struct SaeTrainer {
    pub cfg: TrainConfig,
    /// `W_enc [d_in, d_sae]`, `b_enc`, `W_dec [d_sae, d_in]`, `b_dec`, and for JumpReLU
    /// `log_threshold [d_sae]`.
    params: Vec<Var>,
    /// Adam's first and second moments, one per parameter.
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Steps taken.
    pub step: usize,
    /// Tokens since each latent last fired.
    since_fired: Vec<u64>,
}

/// The trainer's former name (it trained TopK SAEs only).
pub type TopKTrainer = SaeTrainer;

impl SaeTrainer {
    /// Initialises from a first batch of activations `[n, d_in]`: `b_dec` = its geometric
    /// median, decoder rows seeded random unit vectors, encoder = decoder transposed, `b_enc` = 0,
    /// JumpReLU thresholds = `init_threshold`.
    pub fn new(mut cfg: TrainConfig, first: &Tensor) -> Result<Self> {
        match cfg.arch {
            Arch::TopK { k } if k == 0 || k > cfg.d_sae => {
                bail!("k must be between 1 and the width ({})", cfg.d_sae)
            }
            Arch::Relu { l1 } if l1.is_nan() || l1 < 0.0 => bail!("the L1 coefficient must be ≥ 0"),
            Arch::JumpRelu { l0_coeff } if l0_coeff.is_nan() || l0_coeff < 0.0 => {
                bail!("the L0 coefficient must be ≥ 0")
            }
            _ => {}
        }
        let dev = first.device().clone();
        let first = first.to_dtype(DType::F32)?;
        let (n, d) = first.dims2()?;
        if d != cfg.d_in {
            bail!("the first batch has width {d}, not d_in = {}", cfg.d_in);
        }
        // A seeded normal init, independent of candle's global RNG.
        let mut state = cfg.seed ^ 0x9e3779b97f4a7c15;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64).clamp(1e-12, 1.0 - 1e-12)
        };
        let normals: Vec<f32> = (0..cfg.d_sae * cfg.d_in)
            .map(|_| {
                let (u1, u2) = (next(), next());
                ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
            })
            .collect();
        let w = Tensor::from_vec(normals, (cfg.d_sae, cfg.d_in), &dev)?;
        let w = w.broadcast_div(&w.sqr()?.sum_keepdim(1)?.sqrt()?)?;
        let data = first
            .to_device(&Device::Cpu)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let b_dec = match geometric_median(&data, d, 200, 1e-6) {
            Some(m) => Tensor::from_vec(m, d, &dev)?,
            None => {
                tracing::warn!("the geometric median did not converge: b_dec starts at the mean");
                first.mean(0)?
            }
        };
        // The typical size of a projection of the centred data on a unit direction.
        let centred = first.broadcast_sub(&first.mean_keepdim(0)?)?;
        let rms = (centred.sqr()?.sum_all()?.to_scalar::<f32>()? as f64 / n.max(1) as f64).sqrt();
        let typical = (rms / (d as f64).sqrt()).max(1e-6);
        let mut params = vec![
            Var::from_tensor(&w.t()?.contiguous()?)?,
            Var::from_tensor(&Tensor::zeros(cfg.d_sae, DType::F32, &dev)?)?,
            Var::from_tensor(&w)?,
            Var::from_tensor(&b_dec)?,
        ];
        if matches!(cfg.arch, Arch::JumpRelu { .. }) {
            let eps = *cfg.bandwidth.get_or_insert(0.05 * typical);
            let th = *cfg.init_threshold.get_or_insert(2.0 * typical);
            if eps.is_nan() || th.is_nan() || eps <= 0.0 || th <= 0.0 {
                bail!("the JumpReLU bandwidth and initial threshold must be > 0");
            }
            params.push(Var::from_tensor(&Tensor::full(
                th.ln() as f32,
                cfg.d_sae,
                &dev,
            )?)?);
        }
        let zeros = |p: &Var| p.as_tensor().zeros_like();
        let m = params
            .iter()
            .map(zeros)
            .collect::<candle_core::Result<_>>()?;
        let v = params
            .iter()
            .map(zeros)
            .collect::<candle_core::Result<_>>()?;
        let since_fired = vec![0; cfg.d_sae];
        Ok(Self {
            cfg,
            params,
            m,
            v,
            step: 0,
            since_fired,
        })
    }

    fn w_enc(&self) -> &Tensor {
        self.params[0].as_tensor()
    }
    fn b_enc(&self) -> &Tensor {
        self.params[1].as_tensor()
    }
    fn w_dec(&self) -> &Tensor {
        self.params[2].as_tensor()
    }
    fn b_dec(&self) -> &Tensor {
        self.params[3].as_tensor()
    }

    /// JumpReLU thresholds `θ = exp(log θ)` (tracked by autograd), or `None`.
    fn theta(&self) -> Result<Option<Tensor>> {
        Ok(match self.params.get(4) {
            Some(p) => Some(p.as_tensor().exp()?),
            None => None,
        })
    }

    /// Latents that have not fired for `dead_tokens` tokens.
    pub fn dead_count(&self) -> usize {
        self.since_fired
            .iter()
            .filter(|&&s| s >= self.cfg.dead_tokens)
            .count()
    }

    /// Whether steps take the sparse TopK kernel (TopK, `TopKKernel::Sparse`, on the CPU).
    fn sparse_step(&self) -> bool {
        matches!(
            (self.cfg.arch, self.cfg.kernel),
            (Arch::TopK { .. }, TopKKernel::Sparse)
        ) && self.params[0].as_tensor().device().is_cpu()
    }

    /// One optimisation step on a batch `[n, d_in]`.
    pub fn train_step(&mut self, x: &Tensor) -> Result<StepStats> {
        let x = x.to_dtype(DType::F32)?;
        let (n, d) = x.dims2()?;
        let nf = n as f64;
        // Σ‖x − x̄‖² over the batch: the normaliser of the reconstruction error (detached).
        let total_var = x
            .broadcast_sub(&x.mean_keepdim(0)?)?
            .sqr()?
            .sum_all()?
            .to_scalar::<f32>()? as f64;
        let total_var = total_var.max(1e-12);
        if let (Arch::TopK { k }, TopKKernel::Sparse, true) =
            (self.cfg.arch, self.cfg.kernel, x.device().is_cpu())
        {
            return self.sparse_topk_step(&x, k, total_var);
        }
        let pre = x
            .broadcast_sub(self.b_dec())?
            .matmul(self.w_enc())?
            .broadcast_add(self.b_enc())?;
        let (f, penalty, topk_active) = match self.cfg.arch {
            Arch::TopK { k } => {
                // The mask keeps positive pre-activations only, so `pre · mask` equals
                // `ReLU(pre) · mask` in value and gradient (without ReLU's backward pass over
                // the whole [n, d_sae] batch).
                let mask = topk_mask(&pre.detach(), k)?;
                ((&pre * &mask)?, None, Some(mask))
            }
            Arch::Relu { l1 } => {
                let f = pre.relu()?;
                // Σᵢ fᵢ‖W_dec,ᵢ‖ per token (f ≥ 0), averaged, divided by the batch's RMS norm
                // so that l1 is scale-free like the normalised MSE.
                let norms = self.w_dec().sqr()?.sum_keepdim(1)?.sqrt()?;
                let rms = (total_var / nf).sqrt();
                let l1_term = (f.matmul(&norms)?.sum_all()? * (l1 / (nf * rms)))?;
                (f, Some(l1_term), None)
            }
            Arch::JumpRelu { l0_coeff } => {
                // Straight-through estimator (Rajamanoharan et al. 2024). With z = pre,
                // gate = H(z − θ) and rect = K((z − θ)/ε), K the rectangle on [−½, ½]:
                //   f  = z · gate,  ∂f/∂z = gate,  ∂f/∂θ := −(θ/ε) · rect
                //   L0 = Σ gate,    ∂L0/∂z = 0,    ∂L0/∂θ := −(1/ε) · rect.
                // candle has no custom backward here, so each pseudo-gradient comes from a
                // surrogate `s` that is linear in θ with a detached coefficient (so ∂s/∂θ is
                // exactly the wanted one), added as `s − s.detach()`: zero in value, the
                // pseudo-gradient in the backward pass. θ = exp(log θ) carries it on to log θ.
                let theta = self.theta()?.context("JumpReLU without thresholds")?;
                let eps = self.cfg.bandwidth.context("JumpReLU without a bandwidth")?;
                let z = pre.detach();
                let th = theta.detach();
                let diff = z.broadcast_sub(&th)?;
                let gate = diff.gt(0.0)?.to_dtype(DType::F32)?;
                let rect = diff.abs()?.lt(eps / 2.0)?.to_dtype(DType::F32)?;
                let s_f = (rect.broadcast_mul(&th)?.broadcast_mul(&theta)? * (-1.0 / eps))?;
                let f = ((&pre * &gate)? + (&s_f - s_f.detach())?)?;
                let s_l0 = (rect.broadcast_mul(&theta)?.sum_all()? * (-1.0 / eps))?;
                let l0 = ((gate.sum_all()? + (&s_l0 - s_l0.detach())?)? / nf)?;
                (f, Some((l0 * l0_coeff)?), None)
            }
        };
        let recon = f.matmul(self.w_dec())?.broadcast_add(self.b_dec())?;
        let err = (&recon - &x)?;
        let sse = err.sqr()?.sum_all()?;
        let mut loss = (&sse / total_var)?;
        if let Some(p) = &penalty {
            loss = (loss + p)?;
        }
        // AuxK: reconstruct the residual from the k_aux largest pre-activations of dead latents.
        let dead = self.dead_count();
        if let (Arch::TopK { .. }, true) = (self.cfg.arch, dead > 0) {
            let k_aux = (d / 2).max(1).min(dead);
            let offset: Vec<f32> = self
                .since_fired
                .iter()
                .map(|&s| {
                    if s >= self.cfg.dead_tokens {
                        0.0
                    } else {
                        -1e30
                    }
                })
                .collect();
            let offset = Tensor::from_vec(offset, self.cfg.d_sae, x.device())?;
            let aux_mask = topk_mask(&pre.detach().broadcast_add(&offset)?, k_aux)?;
            // As above, the mask implies pre > 0 (live latents are pushed to −1e30).
            let aux_f = (&pre * aux_mask)?;
            let e = (&x - &recon)?.detach();
            let e_var = e
                .broadcast_sub(&e.mean_keepdim(0)?)?
                .sqr()?
                .sum_all()?
                .to_scalar::<f32>()? as f64;
            let aux = ((aux_f.matmul(self.w_dec())? - &e)?.sqr()?.sum_all()? / e_var.max(1e-12))?;
            loss = (loss + (aux * self.cfg.aux_coeff)?)?;
        }
        let grads = loss.backward()?;
        // Per-latent firing counts (for TopK f > 0 exactly where the mask is 1).
        let fired = match topk_active {
            Some(mask) => mask,
            None => f.detach().gt(0.0)?.to_dtype(DType::F32)?,
        };
        let counts = fired.sum(0)?.to_device(&Device::Cpu)?.to_vec1::<f32>()?;
        // Detached: the optimiser state must not hold on to this step's graph.
        let grads: Vec<Option<Tensor>> = self
            .params
            .iter()
            .map(|p| grads.get(p).map(|g| g.detach()))
            .collect();
        let sse = sse.to_scalar::<f32>()? as f64;
        let loss = loss.to_scalar::<f32>()?;
        self.apply_step(grads, &counts, n, d, sse, loss, total_var)
    }

    /// The end of a step, whatever computed its gradients: Adam (the decoder's gradient
    /// without its component parallel to each row, the rows renormalised after the update),
    /// the dead counters from the per-latent firing `counts`, and the stats.
    #[allow(clippy::too_many_arguments)]
    fn apply_step(
        &mut self,
        grads: Vec<Option<Tensor>>,
        counts: &[f32],
        n: usize,
        d: usize,
        sse: f64,
        loss: f32,
        total_var: f64,
    ) -> Result<StepStats> {
        let nf = n as f64;
        let lr = self.cfg.lr_at(self.step);
        let t = (self.step + 1) as i32;
        let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
        for (i, (p, g)) in self.params.iter().zip(grads).enumerate() {
            let Some(g) = g else { continue };
            // log θ moves by about the learning rate per step under Adam; a larger rate lets
            // the thresholds travel the orders of magnitude they need within a short run.
            let rate = if i == 4 { lr * THRESHOLD_LR_SCALE } else { lr };
            // Decoder rows: the gradient's component parallel to each (unit) row is dropped,
            // and the row renormalised after the update.
            let rows = if i == 2 { Some(self.cfg.d_in) } else { None };
            let adam = Adam { c1, c2, rate, rows };
            // The fused update goes with the sparse kernel; the dense autograd path (and ReLU,
            // JumpReLU) keep the tensor-op update, so their results stay those of earlier
            // versions bit for bit (the bundled sample was trained with them).
            let (new, m, v) = if p.device().is_cpu() && self.sparse_step() {
                adam.cpu(p.as_tensor(), &g, &self.m[i], &self.v[i])?
            } else {
                adam.tensors(p.as_tensor(), g, &self.m[i], &self.v[i])?
            };
            self.m[i] = m;
            self.v[i] = v;
            p.set(&new)?;
        }
        update_dead(&mut self.since_fired, counts, n as u64);
        self.step += 1;
        Ok(StepStats {
            loss,
            mse: (sse / (nf * d as f64)) as f32,
            l0: (counts.iter().map(|&c| c as f64).sum::<f64>() / nf) as f32,
            dead_fraction: self.dead_count() as f32 / self.cfg.d_sae as f32,
            explained_variance: (1.0 - sse / total_var) as f32,
        })
    }

    /// A TopK step with hand-written gradients over the selected latents only
    /// ([`TopKKernel::Sparse`]): the same step as the dense path (the same pre-activations
    /// and selection, loss, AuxK and gradients, up to the order of float sums). Everything
    /// after the encoder matmul costs `n · (k + k_aux) · d_in`; the weight gradients are
    /// accumulated per latent, in row order, so the result does not depend on threads.
    fn sparse_topk_step(&mut self, x: &Tensor, k: usize, total_var: f64) -> Result<StepStats> {
        use rayon::prelude::*;
        let (n, d) = x.dims2()?;
        let s = self.cfg.d_sae;
        let dev = x.device().clone();
        let x = x.contiguous()?;
        // The same pre-activations as the dense path, so the same selection (b_enc is added
        // row by row below, the same f32 sum as candle's broadcast add).
        let xw = x
            .broadcast_sub(self.b_dec())?
            .matmul(self.w_enc())?
            .contiguous()?;
        let b_enc = self.b_enc().to_vec1::<f32>()?;
        let dead: Vec<u32> = (0..s as u32)
            .filter(|&i| self.since_fired[i as usize] >= self.cfg.dead_tokens)
            .collect();
        let k_aux = (d / 2).max(1).min(dead.len());
        // Per token: the TopK latents, and (if any latent is dead) the AuxK ones, the k_aux
        // largest pre-activations among the dead latents (same rule: ≥ the k_aux-th, > 0).
        let (mut sel, mut aux): (Vec<Active>, Vec<Active>) = with_f32(&xw, |xw| {
            xw.par_chunks(s)
                .map_init(
                    || (Vec::with_capacity(s), Vec::with_capacity(s)),
                    |(row, scratch): &mut (Vec<f32>, Vec<f32>), xw_row| {
                        row.clear();
                        row.extend(xw_row.iter().zip(&b_enc).map(|(a, b)| a + b));
                        let kth = topk_threshold(row, k, scratch);
                        let main: Active = (0..s)
                            .filter(|&i| row[i] >= kth && row[i] > 0.0)
                            .map(|i| (i as u32, row[i], 0.0))
                            .collect();
                        let mut aux = Active::new();
                        if !dead.is_empty() {
                            let vals: Vec<f32> = dead.iter().map(|&i| row[i as usize]).collect();
                            let kth = topk_threshold(&vals, k_aux, scratch);
                            aux = dead
                                .iter()
                                .zip(&vals)
                                .filter(|(_, &v)| v >= kth && v > 0.0)
                                .map(|(&i, &v)| (i, v, 0.0))
                                .collect();
                        }
                        (main, aux)
                    },
                )
                .unzip()
        })?;
        drop(xw);
        let xv = x.flatten_all()?.to_vec1::<f32>()?;
        let b_dec = self.b_dec().to_vec1::<f32>()?;
        let has_aux = !dead.is_empty();
        // err = x̂ − x, and (AuxK) the auxiliary reconstruction minus the residual e = x − x̂.
        let mut err = vec![0f32; n * d];
        let mut aux_diff = vec![0f32; if has_aux { n * d } else { 0 }];
        let w_dec = self.w_dec().contiguous()?;
        let (sse, aux_sse) = with_f32(&w_dec, |w_dec| {
            let row = |i: u32| &w_dec[i as usize * d..(i as usize + 1) * d];
            let sse: Vec<f64> = err
                .par_chunks_mut(d)
                .enumerate()
                .map(|(r, er)| {
                    er.copy_from_slice(&b_dec);
                    for &(i, v, _) in &sel[r] {
                        for (e, &w) in er.iter_mut().zip(row(i)) {
                            *e += v * w;
                        }
                    }
                    let mut sse = 0f64;
                    for (e, &xc) in er.iter_mut().zip(&xv[r * d..(r + 1) * d]) {
                        *e -= xc;
                        sse += (*e as f64) * (*e as f64);
                    }
                    sse
                })
                .collect();
            // aux x̂ − e = aux x̂ + err.
            let aux_sse: Vec<f64> = aux_diff
                .par_chunks_mut(d)
                .enumerate()
                .map(|(r, ad)| {
                    ad.copy_from_slice(&err[r * d..(r + 1) * d]);
                    for &(i, v, _) in &aux[r] {
                        for (a, &w) in ad.iter_mut().zip(row(i)) {
                            *a += v * w;
                        }
                    }
                    ad.iter().map(|&a| (a as f64) * (a as f64)).sum::<f64>()
                })
                .collect();
            (sse.iter().sum::<f64>(), aux_sse.iter().sum::<f64>())
        })?;
        let mut loss = sse / total_var;
        // AuxK's normaliser: Σ‖e − ē‖² (e = −err).
        let e_var = if has_aux {
            let mut mean = vec![0f64; d];
            for row in err.chunks(d) {
                for (m, &e) in mean.iter_mut().zip(row) {
                    *m += e as f64;
                }
            }
            mean.iter_mut().for_each(|m| *m /= n as f64);
            let var: f64 = err
                .chunks(d)
                .map(|row| {
                    row.iter()
                        .zip(&mean)
                        .map(|(&e, &m)| (e as f64 - m).powi(2))
                        .sum::<f64>()
                })
                .sum();
            let e_var = var.max(1e-12);
            loss += self.cfg.aux_coeff * aux_sse / e_var;
            e_var
        } else {
            1.0
        };
        // ∂loss/∂x̂ = 2·err/total_var (in place of err); AuxK: 2·coeff·aux_diff/e_var.
        let (g_main, g_aux) = (
            (2.0 / total_var) as f32,
            (2.0 * self.cfg.aux_coeff / e_var) as f32,
        );
        err.par_iter_mut().for_each(|e| *e *= g_main);
        aux_diff.par_iter_mut().for_each(|a| *a *= g_aux);
        let (g_rec, g_auxrec) = (err, aux_diff);
        // ∂loss/∂activation = ∂loss/∂x̂ · W_dec[latent] (the ReLU and the selection pass it on
        // to the pre-activation unchanged).
        with_f32(&w_dec, |w_dec| {
            let dot = |i: u32, g: &[f32]| -> f32 {
                let w = &w_dec[i as usize * d..(i as usize + 1) * d];
                w.iter().zip(g).map(|(a, b)| a * b).sum()
            };
            sel.par_iter_mut()
                .zip(aux.par_iter_mut())
                .enumerate()
                .for_each(|(r, (main, aux))| {
                    for e in main.iter_mut() {
                        e.2 = dot(e.0, &g_rec[r * d..(r + 1) * d]);
                    }
                    for e in aux.iter_mut() {
                        e.2 = dot(e.0, &g_auxrec[r * d..(r + 1) * d]);
                    }
                })
        })?;
        // The entries grouped by latent (a counting sort, in row order; TopK before AuxK
        // within a row): (row, activation, its gradient, from AuxK).
        let mut counts = vec![0f32; s];
        let mut start = vec![0usize; s + 1];
        for (main, aux) in sel.iter().zip(&aux) {
            for e in main {
                counts[e.0 as usize] += 1.0;
                start[e.0 as usize + 1] += 1;
            }
            for e in aux {
                start[e.0 as usize + 1] += 1;
            }
        }
        for i in 0..s {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut by_latent = vec![(0u32, 0f32, 0f32, false); start[s]];
        for (r, (main, aux)) in sel.iter().zip(&aux).enumerate() {
            for (list, is_aux) in [(main, false), (aux, true)] {
                for &(i, v, g) in list {
                    by_latent[fill[i as usize]] = (r as u32, v, g, is_aux);
                    fill[i as usize] += 1;
                }
            }
        }
        drop((sel, aux));
        // Per latent i: ∂W_dec[i] = Σ v·∂x̂_r, ∂W_enc[:, i] = Σ g·(x_r − b_dec), ∂b_enc[i] = Σ g.
        let mut g_wdec = vec![0f32; s * d];
        let mut g_wenc_t = vec![0f32; s * d];
        let mut g_benc = vec![0f32; s];
        g_wdec
            .par_chunks_mut(d)
            .zip(g_wenc_t.par_chunks_mut(d))
            .zip(g_benc.par_iter_mut())
            .enumerate()
            .for_each(|(i, ((gd, ge), gb))| {
                for &(r, v, g, is_aux) in &by_latent[start[i]..start[i + 1]] {
                    let r = r as usize;
                    let src = if is_aux { &g_auxrec } else { &g_rec };
                    for (a, &b) in gd.iter_mut().zip(&src[r * d..(r + 1) * d]) {
                        *a += v * b;
                    }
                    let xr = &xv[r * d..(r + 1) * d];
                    for ((a, &xc), &bd) in ge.iter_mut().zip(xr).zip(&b_dec) {
                        *a += g * (xc - bd);
                    }
                    *gb += g;
                }
            });
        // ∂b_dec = Σ_r ∂x̂_r − W_enc · ∂b_enc (b_dec is subtracted from the encoder's input).
        let mut g_bdec = vec![0f32; d];
        for row in g_rec.chunks(d) {
            for (a, &g) in g_bdec.iter_mut().zip(row) {
                *a += g;
            }
        }
        let w_enc = self.w_enc().contiguous()?;
        let through_enc: Vec<f32> = with_f32(&w_enc, |w| {
            w.par_chunks(s)
                .map(|row| row.iter().zip(&g_benc).map(|(a, b)| a * b).sum::<f32>())
                .collect()
        })?;
        for (a, t) in g_bdec.iter_mut().zip(through_enc) {
            *a -= t;
        }
        let g_wenc = transpose(&g_wenc_t, s, d);
        drop(g_wenc_t);
        let grads = vec![
            Some(Tensor::from_vec(g_wenc, (d, s), &dev)?),
            Some(Tensor::from_vec(g_benc, s, &dev)?),
            Some(Tensor::from_vec(g_wdec, (s, d), &dev)?),
            Some(Tensor::from_vec(g_bdec, d, &dev)?),
        ];
        self.apply_step(grads, &counts, n, d, sse, loss as f32, total_var)
    }

    /// The trained SAE (for a hook).
    pub fn to_sae(&self, hook: HookPoint) -> Result<Sae> {
        let activation = match self.cfg.arch {
            Arch::TopK { k } => Activation::TopK(k),
            Arch::Relu { .. } => Activation::Relu,
            Arch::JumpRelu { .. } => Activation::JumpRelu { relu: true },
        };
        Ok(Sae {
            meta: SaeMeta {
                path: "trained".into(),
                format: &SaeLens,
                d_in: self.cfg.d_in,
                d_sae: self.cfg.d_sae,
                hook,
                model_name: None,
            },
            activation,
            w_enc: self.w_enc().clone(),
            b_enc: self.b_enc().clone(),
            w_dec: Some(self.w_dec().clone()),
            b_dec: Some(self.b_dec().clone()),
            input_bias: Some(self.b_dec().clone()),
            threshold: self.theta()?.map(|t| t.detach()),
            input_scale: 1.0,
        })
    }

    /// The decoder rows `[d_sae, d_in]`.
    pub fn decoder(&self) -> &Tensor {
        self.w_dec()
    }

    /// The JumpReLU thresholds `[d_sae]`, or `None`.
    pub fn thresholds(&self) -> Result<Option<Tensor>> {
        Ok(self.theta()?.map(|t| t.detach()))
    }

    /// Everything a checkpoint needs besides the config, step and dead counters: the
    /// parameters and Adam's moments, named `{prefix}{name}`, `{prefix}adam_m.{name}`, ….
    pub fn state_tensors(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = vec![];
        for (i, p) in self.params.iter().enumerate() {
            let name = PARAMS[i];
            out.push((format!("{prefix}{name}"), p.as_tensor().detach()));
            out.push((format!("{prefix}adam_m.{name}"), self.m[i].clone()));
            out.push((format!("{prefix}adam_v.{name}"), self.v[i].clone()));
        }
        out
    }

    /// Tokens since each latent last fired (for checkpoints).
    pub fn since_fired(&self) -> &[u64] {
        &self.since_fired
    }

    /// A trainer restored from a checkpoint: `cfg` as it was (with its resolved bandwidth),
    /// the tensors of [`Self::state_tensors`], the step and the dead counters.
    pub fn restore(
        cfg: TrainConfig,
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        step: usize,
        since_fired: Vec<u64>,
        device: &Device,
    ) -> Result<Self> {
        let n = if matches!(cfg.arch, Arch::JumpRelu { .. }) {
            5
        } else {
            4
        };
        let get = |name: String| -> Result<Tensor> {
            Ok(tensors
                .get(&name)
                .with_context(|| format!("the checkpoint lacks `{name}`"))?
                .to_dtype(DType::F32)?
                .to_device(device)?)
        };
        let (mut params, mut m, mut v) = (vec![], vec![], vec![]);
        for name in &PARAMS[..n] {
            params.push(Var::from_tensor(&get(format!("{prefix}{name}"))?)?);
            m.push(get(format!("{prefix}adam_m.{name}"))?);
            v.push(get(format!("{prefix}adam_v.{name}"))?);
        }
        if params[0].as_tensor().dims() != [cfg.d_in, cfg.d_sae] || since_fired.len() != cfg.d_sae {
            bail!("the checkpoint's shapes do not match the configuration");
        }
        Ok(Self {
            cfg,
            params,
            m,
            v,
            step,
            since_fired,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Sparse combinations of `n_true` random unit directions in `d` dimensions, `active` per
    /// row, plus an offset so that `b_dec` matters.
    struct Synthetic {
        d: usize,
        dirs: Vec<Vec<f32>>,
        active: usize,
        rng: rand::rngs::StdRng,
    }

    impl Synthetic {
        fn new(d: usize, n_true: usize, active: usize, seed: u64) -> Self {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut dirs: Vec<Vec<f32>> = (0..n_true)
                .map(|_| (0..d).map(|_| rng.random::<f32>() - 0.5).collect())
                .collect();
            for v in &mut dirs {
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= n);
            }
            Self {
                d,
                dirs,
                active,
                rng,
            }
        }

        fn batch(&mut self, n: usize) -> Tensor {
            let d = self.d;
            let mut data = vec![0f32; n * d];
            for r in 0..n {
                for c in 0..d {
                    data[r * d + c] = 0.3;
                }
                for _ in 0..self.active {
                    let j = self.rng.random_range(0..self.dirs.len());
                    let a = 0.5 + self.rng.random::<f32>();
                    for c in 0..d {
                        data[r * d + c] += a * self.dirs[j][c];
                    }
                }
            }
            Tensor::from_vec(data, (n, d), &Device::Cpu).unwrap()
        }
    }

    fn config(arch: Arch) -> TrainConfig {
        TrainConfig {
            lr: 3e-3,
            warmup_steps: 20,
            seed: 1,
            ..TrainConfig::new(32, 96, arch)
        }
    }

    /// Trains `steps` steps; returns the trainer and every step's stats.
    fn train(
        arch: Arch,
        steps: usize,
        tweak: impl Fn(&mut TrainConfig),
    ) -> (SaeTrainer, Vec<StepStats>) {
        let mut data = Synthetic::new(32, 48, 3, 3);
        let mut cfg = config(arch);
        tweak(&mut cfg);
        let mut t = SaeTrainer::new(cfg, &data.batch(512)).unwrap();
        let stats = (0..steps)
            .map(|_| t.train_step(&data.batch(256)).unwrap())
            .collect();
        (t, stats)
    }

    /// A copy of `t` (its state as a checkpoint would hold it) under `cfg`.
    fn restored(t: &SaeTrainer, cfg: TrainConfig) -> SaeTrainer {
        let tensors: HashMap<String, Tensor> = t.state_tensors("").into_iter().collect();
        SaeTrainer::restore(
            cfg,
            &tensors,
            "",
            t.step,
            t.since_fired().to_vec(),
            &Device::Cpu,
        )
        .unwrap()
    }

    fn mean(s: &[StepStats], f: impl Fn(&StepStats) -> f32) -> f32 {
        s.iter().map(f).sum::<f32>() / s.len() as f32
    }

    #[test]
    fn geometric_median_by_hand() {
        // On a line the geometric median is the median, whatever the outlier.
        let x = [0f32, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 100.0, 100.0];
        let m = geometric_median(&x, 2, 200, 1e-7).unwrap();
        assert!(
            (m[0] - 2.0).abs() < 1e-3 && (m[1] - 2.0).abs() < 1e-3,
            "{m:?}"
        );
        // The vertices of a square: its centre (= the mean).
        let x = [0f32, 0.0, 2.0, 0.0, 0.0, 2.0, 2.0, 2.0];
        let m = geometric_median(&x, 2, 200, 1e-7).unwrap();
        assert!(
            (m[0] - 1.0).abs() < 1e-5 && (m[1] - 1.0).abs() < 1e-5,
            "{m:?}"
        );
        // A triangle with an angle ≥ 120°: the Fermat point is that vertex.
        let x = [0f32, 0.0, 10.0, 0.0, -10.0, 0.5];
        let m = geometric_median(&x, 2, 500, 1e-7).unwrap();
        assert!(m[0].abs() < 1e-2 && m[1].abs() < 1e-2, "{m:?}");
        assert!(
            geometric_median(&x, 2, 0, 1e-7).is_none(),
            "no iterations: no convergence"
        );
        assert!(geometric_median(&[1.0, 2.0, 3.0], 2, 10, 1e-7).is_none());
    }

    #[test]
    fn learning_rate_warms_up_and_decays() {
        let cfg = TrainConfig {
            lr: 1.0,
            warmup_steps: 10,
            total_steps: 100,
            ..TrainConfig::new(4, 8, Arch::TopK { k: 2 })
        };
        assert!((cfg.lr_at(0) - 0.1).abs() < 1e-12);
        assert_eq!(cfg.lr_at(9), 1.0);
        assert_eq!(cfg.lr_at(79), 1.0);
        assert!((cfg.lr_at(90) - 0.5).abs() < 1e-12);
        assert!(cfg.lr_at(99) > 0.0 && cfg.lr_at(99) <= 0.05 + 1e-12);
        assert_eq!(cfg.lr_at(100), 0.0);
    }

    /// Data made of sparse combinations of known unit directions: a TopK SAE recovers them.
    #[test]
    fn recovers_sparse_ground_truth_directions() {
        let mut data = Synthetic::new(32, 48, 3, 3);
        let cfg = TrainConfig {
            warmup_steps: 50,
            ..config(Arch::TopK { k: 3 })
        };
        let mut t = SaeTrainer::new(cfg, &data.batch(512)).unwrap();
        let mut last = StepStats::default();
        for _ in 0..1500 {
            last = t.train_step(&data.batch(256)).unwrap();
        }
        assert!(last.mse < 0.02, "mse {}", last.mse);
        assert!(last.explained_variance > 0.9, "{last:?}");
        assert!(last.l0 <= 3.0 + 1e-6, "{last:?}");
        // For each true direction, the best cosine among decoder rows.
        let dec = t.decoder().to_vec2::<f32>().unwrap();
        let recovered = data
            .dirs
            .iter()
            .filter(|g| {
                dec.iter()
                    .map(|r| r.iter().zip(g.iter()).map(|(a, b)| a * b).sum::<f32>())
                    .fold(f32::MIN, f32::max)
                    >= 0.9
            })
            .count();
        assert!(
            recovered as f64 >= 0.8 * data.dirs.len() as f64,
            "recovered {recovered} of {} directions",
            data.dirs.len()
        );
        // Decoder rows stay at unit norm.
        for r in &dec {
            let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((n - 1.0).abs() < 1e-4, "row norm {n}");
        }
    }

    #[test]
    fn every_architecture_learns() {
        for arch in [
            Arch::TopK { k: 4 },
            Arch::Relu { l1: 0.05 },
            Arch::JumpRelu { l0_coeff: 0.01 },
        ] {
            let (_, s) = train(arch, 300, |_| {});
            let (head, tail) = (
                mean(&s[..10], |s| s.loss),
                mean(&s[s.len() - 10..], |s| s.loss),
            );
            assert!(tail < 0.5 * head, "{arch:?}: loss {head} → {tail}");
            let ev = mean(&s[s.len() - 10..], |s| s.explained_variance);
            assert!(ev > 0.6, "{arch:?}: explained variance {ev}");
            assert!(s.iter().all(|s| s.loss.is_finite()));
        }
    }

    #[test]
    fn l1_penalty_makes_relu_sparser() {
        let l0 = |l1| {
            let (_, s) = train(Arch::Relu { l1 }, 300, |_| {});
            mean(&s[s.len() - 20..], |s| s.l0)
        };
        let (dense, sparse) = (l0(0.0), l0(0.3));
        assert!(sparse < 0.5 * dense, "L0 {dense} without L1, {sparse} with");
    }

    #[test]
    fn jumprelu_thresholds_train() {
        let (t0, _) = train(Arch::JumpRelu { l0_coeff: 0.01 }, 0, |_| {});
        let before = t0.thresholds().unwrap().unwrap().to_vec1::<f32>().unwrap();
        assert!(before
            .iter()
            .all(|&v| v > 0.0 && (v - before[0]).abs() < 1e-9));
        // One step: the thresholds get a non-zero (pseudo-)gradient, so Adam moves them.
        let (t1, _) = train(Arch::JumpRelu { l0_coeff: 0.01 }, 1, |_| {});
        let after = t1.thresholds().unwrap().unwrap().to_vec1::<f32>().unwrap();
        let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        assert!(moved > 0, "no threshold moved after a step");
        // A stronger L0 penalty raises the thresholds and lowers L0.
        let run = |c| {
            let (t, s) = train(Arch::JumpRelu { l0_coeff: c }, 300, |_| {});
            let th = t.thresholds().unwrap().unwrap().to_vec1::<f32>().unwrap();
            (
                th.iter().sum::<f32>() / th.len() as f32,
                mean(&s[s.len() - 20..], |s| s.l0),
            )
        };
        let ((th_lo, l0_lo), (th_hi, l0_hi)) = (run(0.001), run(0.05));
        assert!(th_hi > th_lo, "thresholds {th_lo} vs {th_hi}");
        assert!(l0_hi < l0_lo, "L0 {l0_lo} vs {l0_hi}");
    }

    #[test]
    fn auxk_trains_dead_latents_only() {
        // Many latents, small k: many lose the TopK competition and count as dead.
        let mut data = Synthetic::new(32, 48, 3, 3);
        let mut cfg = config(Arch::TopK { k: 2 });
        cfg.d_sae = 256;
        cfg.dead_tokens = 512;
        let mut t = SaeTrainer::new(cfg, &data.batch(512)).unwrap();
        for _ in 0..30 {
            t.train_step(&data.batch(256)).unwrap();
        }
        let dead: Vec<bool> = t.since_fired().iter().map(|&s| s >= 512).collect();
        assert!(dead.iter().any(|&d| d), "no latent died");
        // The same step from the same state, with and without AuxK.
        let x = data.batch(256);
        let step = |aux: f64| {
            let mut cfg = t.cfg.clone();
            cfg.aux_coeff = aux;
            let mut u = restored(&t, cfg);
            let s = u.train_step(&x).unwrap();
            (u.decoder().to_vec2::<f32>().unwrap(), s)
        };
        let ((with, s_with), (without, s_without)) = (step(1.0 / 32.0), step(0.0));
        assert!(
            s_with.loss > s_without.loss,
            "the AuxK term adds to the loss"
        );
        let changed: Vec<usize> = (0..256).filter(|&i| with[i] != without[i]).collect();
        assert!(!changed.is_empty(), "AuxK changed no decoder row");
        assert!(
            changed.iter().all(|&i| dead[i]),
            "AuxK touched the decoder rows of live latents"
        );
    }

    /// One step of each TopK kernel from the same state and batch (after a few dense steps, so
    /// that Adam's moments are not zero): the same loss, stats, parameters, moments and dead
    /// counters, up to float rounding; with dead latents, AuxK included.
    #[test]
    fn sparse_topk_step_matches_dense() {
        for (dead_tokens, warm_steps) in [(u64::MAX, 3), (64, 12)] {
            let mut data = Synthetic::new(16, 24, 3, 7);
            let cfg = TrainConfig {
                lr: 3e-3,
                warmup_steps: 5,
                seed: 2,
                dead_tokens,
                kernel: TopKKernel::Dense,
                ..TrainConfig::new(16, 64, Arch::TopK { k: 4 })
            };
            let mut t = SaeTrainer::new(cfg, &data.batch(64)).unwrap();
            for _ in 0..warm_steps {
                t.train_step(&data.batch(32)).unwrap();
            }
            let dead = t.dead_count();
            assert_eq!(dead > 0, dead_tokens == 64, "{dead} dead latents");
            let x = data.batch(32);
            let step = |kernel| {
                let cfg = TrainConfig {
                    kernel,
                    ..t.cfg.clone()
                };
                let mut u = restored(&t, cfg);
                let s = u.train_step(&x).unwrap();
                (s, u)
            };
            let ((sd, d), (ss, sp)) = (step(TopKKernel::Dense), step(TopKKernel::Sparse));
            if dead > 0 {
                // AuxK took part: the loss without it is lower.
                let mut cfg = t.cfg.clone();
                cfg.aux_coeff = 0.0;
                let mut u = restored(&t, cfg);
                assert!(u.train_step(&x).unwrap().loss < ss.loss, "AuxK did not run");
            }
            let rel = |a: f32, b: f32| (a - b).abs() / a.abs().max(1e-12);
            assert!(rel(sd.loss, ss.loss) < 1e-5, "loss {sd:?} vs {ss:?}");
            assert!(rel(sd.mse, ss.mse) < 1e-5, "mse {sd:?} vs {ss:?}");
            assert_eq!(sd.l0, ss.l0);
            assert_eq!(sd.dead_fraction, ss.dead_fraction);
            assert_eq!(d.since_fired(), sp.since_fired());
            for ((name, a), (_, b)) in d.state_tensors("").iter().zip(sp.state_tensors("")) {
                let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
                let diff = a
                    .iter()
                    .zip(&b)
                    .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
                assert!(
                    diff <= 1e-5 * scale.max(1e-30),
                    "{dead} dead latents: {name} differs by {diff} (largest value {scale})"
                );
            }
        }
    }

    #[test]
    fn restored_trainer_continues_bit_for_bit() {
        for arch in [
            Arch::TopK { k: 4 },
            Arch::Relu { l1: 0.05 },
            Arch::JumpRelu { l0_coeff: 0.01 },
        ] {
            let mut data = Synthetic::new(32, 48, 3, 5);
            let mut cfg = config(arch);
            cfg.dead_tokens = 256;
            let mut a = SaeTrainer::new(cfg, &data.batch(256)).unwrap();
            let batches: Vec<Tensor> = (0..40).map(|_| data.batch(128)).collect();
            for b in &batches[..20] {
                a.train_step(b).unwrap();
            }
            let tensors: HashMap<String, Tensor> = a.state_tensors("t0.").into_iter().collect();
            let mut b = SaeTrainer::restore(
                a.cfg.clone(),
                &tensors,
                "t0.",
                a.step,
                a.since_fired().to_vec(),
                &Device::Cpu,
            )
            .unwrap();
            for x in &batches[20..] {
                let (sa, sb) = (a.train_step(x).unwrap(), b.train_step(x).unwrap());
                assert_eq!(sa.loss.to_bits(), sb.loss.to_bits());
            }
            for ((na, ta), (_, tb)) in a.state_tensors("").iter().zip(b.state_tensors("")) {
                assert_eq!(
                    ta.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    tb.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    "{arch:?} {na}"
                );
            }
        }
    }
}
