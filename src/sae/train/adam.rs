//! Adam, implemented here so that its moments can be checkpointed: a fused CPU pass (with
//! the sparse TopK kernel) and the same update in tensor operations (everything else).

use anyhow::{bail, Context, Result};
use candle_core::{Tensor, D};

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const ADAM_EPS: f64 = 1e-8;

/// One Adam update of one parameter (bias-correction factors `c1`, `c2`, learning rate
/// `rate`); `rows = Some(width)`: a matrix of unit rows (the decoder), whose gradient loses its
/// component parallel to each row and whose rows are renormalised after the update.
pub(super) struct Adam {
    pub(super) c1: f64,
    pub(super) c2: f64,
    pub(super) rate: f64,
    pub(super) rows: Option<usize>,
}

impl Adam {
    /// The update of step `t` (1-based) at learning rate `rate`.
    pub(super) fn at_step(t: i32, rate: f64, rows: Option<usize>) -> Self {
        Self {
            c1: 1.0 - BETA1.powi(t),
            c2: 1.0 - BETA2.powi(t),
            rate,
            rows,
        }
    }

    /// On the CPU: one fused pass per row (parallel, each element's arithmetic independent
    /// of the threads). Returns the new parameter, first and second moments.
    pub(super) fn cpu(
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
    pub(super) fn tensors(
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

/// Runs `f` on the f32 data of a contiguous CPU tensor, without copying it.
pub(super) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else {
        bail!("the sparse TopK kernel runs on the CPU only");
    };
    let (start, end) = layout
        .contiguous_offsets()
        .context("a non-contiguous tensor")?;
    Ok(f(&cpu.as_slice::<f32>()?[start..end]))
}
