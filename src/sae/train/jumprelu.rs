//! JumpReLU (Rajamanoharan et al. 2024, "Jumping ahead"): `f = pre · H(pre − θ)`,
//! `θ = exp(log θ)` trained through a straight-through estimator with a rectangle kernel;
//! loss = normalised MSE + `λ · L0`.

use super::{Activated, Batch, Objective, TrainConfig};
use crate::sae::Activation;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Tensor};

/// JumpReLU with an L0 penalty of coefficient `l0_coeff`.
pub(super) struct JumpRelu {
    pub(super) l0_coeff: f64,
}

impl Objective for JumpRelu {
    fn activation(&self) -> Activation {
        Activation::JumpRelu { relu: true }
    }

    fn validate(&self, _: usize) -> Result<()> {
        if self.l0_coeff.is_nan() || self.l0_coeff < 0.0 {
            bail!("the L0 coefficient must be ≥ 0")
        }
        Ok(())
    }

    fn learns_threshold(&self) -> bool {
        true
    }

    /// The bandwidth defaults to 5% of the typical projection, the threshold to twice it.
    fn init_threshold(&self, cfg: &mut TrainConfig, typical: f64) -> Result<Option<f64>> {
        let eps = *cfg.bandwidth.get_or_insert(0.05 * typical);
        let th = *cfg.init_threshold.get_or_insert(2.0 * typical);
        if eps.is_nan() || th.is_nan() || eps <= 0.0 || th <= 0.0 {
            bail!("the JumpReLU bandwidth and initial threshold must be > 0");
        }
        Ok(Some(th))
    }

    fn activate(&self, pre: &Tensor, b: &Batch) -> Result<Activated> {
        // Straight-through estimator (Rajamanoharan et al. 2024). With z = pre,
        // gate = H(z − θ) and rect = K((z − θ)/ε), K the rectangle on [−½, ½]:
        //   f  = z · gate,  ∂f/∂z = gate,  ∂f/∂θ := −(θ/ε) · rect
        //   L0 = Σ gate,    ∂L0/∂z = 0,    ∂L0/∂θ := −(1/ε) · rect.
        // candle has no custom backward here, so each pseudo-gradient comes from a
        // surrogate `s` that is linear in θ with a detached coefficient (so ∂s/∂θ is
        // exactly the wanted one), added as `s − s.detach()`: zero in value, the
        // pseudo-gradient in the backward pass. θ = exp(log θ) carries it on to log θ.
        let nf = b.n as f64;
        let theta = b
            .params
            .log_theta
            .as_ref()
            .map(|p| p.as_tensor().exp())
            .transpose()?
            .context("JumpReLU without thresholds")?;
        let eps = b.cfg.bandwidth.context("JumpReLU without a bandwidth")?;
        let z = pre.detach();
        let th = theta.detach();
        let diff = z.broadcast_sub(&th)?;
        let gate = diff.gt(0.0)?.to_dtype(DType::F32)?;
        let rect = diff.abs()?.lt(eps / 2.0)?.to_dtype(DType::F32)?;
        let s_f = (rect.broadcast_mul(&th)?.broadcast_mul(&theta)? * (-1.0 / eps))?;
        let f = ((pre * &gate)? + (&s_f - s_f.detach())?)?;
        let s_l0 = (rect.broadcast_mul(&theta)?.sum_all()? * (-1.0 / eps))?;
        let l0 = ((gate.sum_all()? + (&s_l0 - s_l0.detach())?)? / nf)?;
        Ok(Activated {
            f,
            penalty: Some((l0 * self.l0_coeff)?),
            fired: None,
        })
    }
}
