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

//!
//! The trainer ([`SaeTrainer`]) is shared; what an architecture adds is one small
//! `Objective` in its own file (`topk`, `relu`, `jumprelu`), and the parameters are named
//! fields (`Params`) rather than positions.

mod adam;
mod checkpoint;
mod jumprelu;
mod params;
mod relu;
mod topk;

use super::format::SaeLens;
use super::{Activation, Sae, SaeMeta};
use crate::hooks::HookPoint;
use adam::Adam;
use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use params::{Param, Params};
use serde::{Deserialize, Serialize};

pub use super::format::save_saelens;
pub use params::geometric_median;

/// The architecture of a trained SAE, with its sparsity setting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "architecture", rename_all = "lowercase")]
pub enum SaeArch {
    /// Keep the `k` largest pre-activations (then ReLU); AuxK against dead latents.
    TopK { k: usize },
    /// ReLU with an L1 penalty of coefficient `l1`.
    Relu { l1: f64 },
    /// JumpReLU with an L0 penalty of coefficient `l0_coeff`.
    JumpRelu { l0_coeff: f64 },
}

impl SaeArch {
    /// `topk`, `relu` or `jumprelu`.
    pub fn name(&self) -> &'static str {
        match self {
            SaeArch::TopK { .. } => "topk",
            SaeArch::Relu { .. } => "relu",
            SaeArch::JumpRelu { .. } => "jumprelu",
        }
    }

    /// A short label for folder names and progress: `topk16`, `relu-l1_0.001`, `jumprelu-l0_0.01`.
    pub fn label(&self) -> String {
        match self {
            SaeArch::TopK { k } => format!("topk{k}"),
            SaeArch::Relu { l1 } => format!("relu-l1_{l1}"),
            SaeArch::JumpRelu { l0_coeff } => format!("jumprelu-l0_{l0_coeff}"),
        }
    }

    /// What the architecture adds to the shared trainer.
    fn objective(self) -> Box<dyn Objective> {
        match self {
            SaeArch::TopK { k } => Box::new(topk::TopK { k }),
            SaeArch::Relu { l1 } => Box::new(relu::Relu { l1 }),
            SaeArch::JumpRelu { l0_coeff } => Box::new(jumprelu::JumpRelu { l0_coeff }),
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
    pub arch: SaeArch,
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
    pub fn new(d_in: usize, d_sae: usize, arch: SaeArch) -> Self {
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
    /// `1 − Σ‖x − x̄‖² / Σ‖x − x̄‖²`.
    pub explained_variance: f32,
}

/// What one architecture adds to the shared trainer: its activation and sparsity penalty,
/// an optional auxiliary loss, and the checks and initialisation of its settings.
trait Objective {
    /// The activation the trained SAE encodes with.
    fn activation(&self) -> Activation;

    /// Checks the sparsity setting (against the width `d_sae`).
    fn validate(&self, d_sae: usize) -> Result<()>;

    /// Whether thresholds `log θ` are trained.
    fn learns_threshold(&self) -> bool {
        false
    }

    /// The initial threshold, when [`Self::learns_threshold`]: resolves the defaults left
    /// open in `cfg` from `typical`, the typical projection of the first batch.
    fn init_threshold(&self, _cfg: &mut TrainConfig, _typical: f64) -> Result<Option<f64>> {
        Ok(None)
    }

    /// The latents of pre-activations `pre` (`[n, d_sae]`, tracked by autograd), with the
    /// penalty added to the loss.
    fn activate(&self, pre: &Tensor, b: &Batch) -> Result<Activated>;

    /// An auxiliary loss term, weighted, added after the penalty (TopK's AuxK), from the
    /// batch `x`, the pre-activations and the reconstruction.
    fn aux_loss(
        &self,
        _b: &Batch,
        _x: &Tensor,
        _pre: &Tensor,
        _recon: &Tensor,
    ) -> Result<Option<Tensor>> {
        Ok(None)
    }

    /// TopK's `k`, when steps may take the sparse kernel ([`TopKKernel::Sparse`]).
    fn sparse_k(&self) -> Option<usize> {
        None
    }
}

/// What an [`Objective`] sees of a step.
struct Batch<'a> {
    cfg: &'a TrainConfig,
    params: &'a Params,
    since_fired: &'a [u64],
    /// Rows in the batch.
    n: usize,
    /// `Σ‖x − x̄‖²` over the batch (detached).
    total_var: f64,
}

impl Batch<'_> {
    /// Latents that have not fired for `dead_tokens` tokens.
    fn dead_count(&self) -> usize {
        dead_count(self.since_fired, self.cfg.dead_tokens)
    }
}

/// The latents of a step.
struct Activated {
    /// `[n, d_sae]`.
    f: Tensor,
    /// Added to the loss.
    penalty: Option<Tensor>,
    /// The 0/1 firing mask, when the objective has it at hand (else `f > 0`).
    fired: Option<Tensor>,
}

fn dead_count(since_fired: &[u64], dead_tokens: u64) -> usize {
    since_fired.iter().filter(|&&s| s >= dead_tokens).count()
}

/// Tokens since each latent last fired, updated from the per-latent firing counts of a batch.
fn update_dead(since: &mut [u64], counts: &[f32], n: u64) {
    for (s, &c) in since.iter_mut().zip(counts) {
        *s = if c > 0.0 { 0 } else { s.saturating_add(n) };
    }
}

/// An SAE being trained (any [`SaeArch`]).
pub struct SaeTrainer {
    pub cfg: TrainConfig,
    params: Params,
    /// Adam's first and second moments, one per parameter.
    m: Params<Tensor>,
    v: Params<Tensor>,
    /// Steps taken.
    pub step: usize,
    /// Tokens since each latent last fired.
    since_fired: Vec<u64>,
}

impl SaeTrainer {
    /// Initialises from a first batch of activations `[n, d_in]`: `b_dec` = its geometric
    /// median, decoder rows seeded random unit vectors, encoder = decoder transposed, `b_enc` = 0,
    /// JumpReLU thresholds = `init_threshold`.
    pub fn new(mut cfg: TrainConfig, first: &Tensor) -> Result<Self> {
        let objective = cfg.arch.objective();
        objective.validate(cfg.d_sae)?;
        let first = first.to_dtype(DType::F32)?;
        let (mut params, typical) = Params::init(&cfg, &first)?;
        if let Some(th) = objective.init_threshold(&mut cfg, typical)? {
            params.log_theta = Some(Var::from_tensor(&Tensor::full(
                th.ln() as f32,
                cfg.d_sae,
                first.device(),
            )?)?);
        }
        let zeros = |p: &Var| Ok(p.as_tensor().zeros_like()?);
        let m = params.try_map(zeros)?;
        let v = params.try_map(zeros)?;
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
        self.params.w_enc.as_tensor()
    }
    fn b_enc(&self) -> &Tensor {
        self.params.b_enc.as_tensor()
    }
    fn w_dec(&self) -> &Tensor {
        self.params.w_dec.as_tensor()
    }
    fn b_dec(&self) -> &Tensor {
        self.params.b_dec.as_tensor()
    }

    /// Latents that have not fired for `dead_tokens` tokens.
    pub fn dead_count(&self) -> usize {
        dead_count(&self.since_fired, self.cfg.dead_tokens)
    }

    /// Whether steps take the sparse TopK kernel (TopK, `TopKKernel::Sparse`, on the CPU).
    fn sparse_step(&self) -> bool {
        self.cfg.arch.objective().sparse_k().is_some()
            && self.cfg.kernel == TopKKernel::Sparse
            && self.w_enc().device().is_cpu()
    }

    /// One optimisation step on a batch `[n, d_in]`.
    pub fn train_step(&mut self, x: &Tensor) -> Result<StepStats> {
        let x = x.to_dtype(DType::F32)?;
        let (n, d) = x.dims2()?;
        // Σ‖x − x̄‖² over the batch: the normaliser of the reconstruction error (detached).
        let total_var = x
            .broadcast_sub(&x.mean_keepdim(0)?)?
            .sqr()?
            .sum_all()?
            .to_scalar::<f32>()? as f64;
        let total_var = total_var.max(1e-12);
        let objective = self.cfg.arch.objective();
        if let (Some(k), TopKKernel::Sparse, true) =
            (objective.sparse_k(), self.cfg.kernel, x.device().is_cpu())
        {
            return self.sparse_topk_step(&x, k, total_var);
        }
        let pre = x
            .broadcast_sub(self.b_dec())?
            .matmul(self.w_enc())?
            .broadcast_add(self.b_enc())?;
        let batch = Batch {
            cfg: &self.cfg,
            params: &self.params,
            since_fired: &self.since_fired,
            n,
            total_var,
        };
        let Activated { f, penalty, fired } = objective.activate(&pre, &batch)?;
        let recon = f.matmul(self.w_dec())?.broadcast_add(self.b_dec())?;
        let err = (&recon - &x)?;
        let sse = err.sqr()?.sum_all()?;
        let mut loss = (&sse / total_var)?;
        if let Some(p) = &penalty {
            loss = (loss + p)?;
        }
        if let Some(aux) = objective.aux_loss(&batch, &x, &pre, &recon)? {
            loss = (loss + aux)?;
        }
        let grads = loss.backward()?;
        let fired = match fired {
            Some(mask) => mask,
            None => f.detach().gt(0.0)?.to_dtype(DType::F32)?,
        };
        let counts = fired.sum(0)?.to_device(&Device::Cpu)?.to_vec1::<f32>()?;
        // Detached: the optimiser state must not hold on to this step's graph.
        let grads = self
            .params
            .try_map(|p| Ok(grads.get(p).map(|g| g.detach())))?;
        let sse = sse.to_scalar::<f32>()? as f64;
        let loss = loss.to_scalar::<f32>()?;
        self.apply_step(grads, &counts, n, d, sse, loss, total_var)
    }

    /// The end of a step, whatever computed its gradients: Adam on each parameter in the
    /// order of [`Param::ALL`] (the decoder's gradient without its component parallel to
    /// each row, the rows renormalised after the update), the dead counters from the
    /// per-latent firing `counts`, and the stats.
    #[allow(clippy::too_many_arguments)]
    fn apply_step(
        &mut self,
        grads: Params<Option<Tensor>>,
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
        let fused = self.sparse_step();
        for (which, g) in grads.iter() {
            let Some(g) = g else { continue };
            let (Some(p), Some(m), Some(v)) =
                (self.params.get(which), self.m.get(which), self.v.get(which))
            else {
                continue;
            };
            // Decoder rows: the gradient's component parallel to each (unit) row is dropped,
            // and the row renormalised after the update.
            let rows = (which == Param::WDec).then_some(self.cfg.d_in);
            let adam = Adam::at_step(t, lr * which.lr_scale(), rows);
            // The fused update goes with the sparse kernel; the dense autograd path (and ReLU,
            // JumpReLU) keep the tensor-op update, so their results stay those of earlier
            // versions bit for bit (the bundled sample was trained with them).
            let (new, m, v) = if p.device().is_cpu() && fused {
                adam.cpu(p.as_tensor(), g, m, v)?
            } else {
                adam.tensors(p.as_tensor(), g.clone(), m, v)?
            };
            p.set(&new)?;
            *self.m.get_mut(which).expect("a present parameter") = m;
            *self.v.get_mut(which).expect("a present parameter") = v;
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

    /// JumpReLU thresholds `θ = exp(log θ)` (tracked by autograd), or `None`.
    fn theta(&self) -> Result<Option<Tensor>> {
        Ok(match &self.params.log_theta {
            Some(p) => Some(p.as_tensor().exp()?),
            None => None,
        })
    }

    /// The trained SAE (for a hook).
    pub fn to_sae(&self, hook: HookPoint) -> Result<Sae> {
        Ok(Sae {
            meta: SaeMeta {
                path: "trained".into(),
                format: &SaeLens,
                d_in: self.cfg.d_in,
                d_sae: self.cfg.d_sae,
                hook,
                model_name: None,
            },
            activation: self.cfg.arch.objective().activation(),
            w_enc: self.w_enc().clone().into(),
            b_enc: self.b_enc().clone(),
            w_dec: Some(self.w_dec().clone().into()),
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

    /// Tokens since each latent last fired (for checkpoints).
    pub fn since_fired(&self) -> &[u64] {
        &self.since_fired
    }
}

#[cfg(test)]
mod tests;
