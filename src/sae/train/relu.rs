//! ReLU + L1: `f = ReLU(pre)`, loss = normalised MSE + `l1 · Σᵢ fᵢ‖W_dec,ᵢ‖ / rms(x)`.

use super::{Activated, Batch, Objective};
use crate::sae::Activation;
use anyhow::{bail, Result};
use candle_core::Tensor;

/// ReLU with an L1 penalty of coefficient `l1`.
pub(super) struct Relu {
    pub(super) l1: f64,
}

impl Objective for Relu {
    fn activation(&self) -> Activation {
        Activation::Relu
    }

    fn validate(&self, _: usize) -> Result<()> {
        if self.l1.is_nan() || self.l1 < 0.0 {
            bail!("the L1 coefficient must be ≥ 0")
        }
        Ok(())
    }

    fn activate(&self, pre: &Tensor, b: &Batch) -> Result<Activated> {
        let nf = b.n as f64;
        let f = pre.relu()?;
        // Σᵢ fᵢ‖W_dec,ᵢ‖ per token (f ≥ 0), averaged, divided by the batch's RMS norm
        // so that l1 is scale-free like the normalised MSE.
        let norms = b.params.w_dec.as_tensor().sqr()?.sum_keepdim(1)?.sqrt()?;
        let rms = (b.total_var / nf).sqrt();
        let l1_term = (f.matmul(&norms)?.sum_all()? * (self.l1 / (nf * rms)))?;
        Ok(Activated {
            f,
            penalty: Some(l1_term),
            fired: None,
        })
    }
}
