//! TopK (Gao et al. 2024): `f = TopK(ReLU(pre))`, loss = normalised MSE + AuxK/32, where
//! AuxK reconstructs the residual `x − x̂` from the `k_aux` largest pre-activations of the
//! *dead* latents only. On the CPU the step runs by default on a sparse kernel with
//! hand-written gradients ([`TopKKernel::Sparse`](super::TopKKernel::Sparse)).

use super::adam::with_f32;
use super::params::Params;
use super::{Activated, Batch, Objective, SaeTrainer, StepStats};
use crate::sae::Activation;
use anyhow::{bail, Result};
use candle_core::{Device, Tensor};

/// Keep the `k` largest pre-activations (then ReLU); AuxK against dead latents.
pub(super) struct TopK {
    pub(super) k: usize,
}

impl Objective for TopK {
    fn activation(&self) -> Activation {
        Activation::TopK(self.k)
    }

    fn validate(&self, d_sae: usize) -> Result<()> {
        if self.k == 0 || self.k > d_sae {
            bail!("k must be between 1 and the width ({d_sae})")
        }
        Ok(())
    }

    fn activate(&self, pre: &Tensor, _: &Batch) -> Result<Activated> {
        // The mask keeps positive pre-activations only, so `pre · mask` equals
        // `ReLU(pre) · mask` in value and gradient (without ReLU's backward pass over
        // the whole [n, d_sae] batch).
        let mask = topk_mask(&pre.detach(), self.k)?;
        Ok(Activated {
            f: (pre * &mask)?,
            penalty: None,
            // For TopK f > 0 exactly where the mask is 1.
            fired: Some(mask),
        })
    }

    /// AuxK: reconstruct the residual from the k_aux largest pre-activations of dead latents.
    fn aux_loss(
        &self,
        b: &Batch,
        x: &Tensor,
        pre: &Tensor,
        recon: &Tensor,
    ) -> Result<Option<Tensor>> {
        let dead = b.dead_count();
        if dead == 0 {
            return Ok(None);
        }
        let d = x.dim(1)?;
        let k_aux = (d / 2).max(1).min(dead);
        let offset: Vec<f32> = b
            .since_fired
            .iter()
            .map(|&s| if s >= b.cfg.dead_tokens { 0.0 } else { -1e30 })
            .collect();
        let offset = Tensor::from_vec(offset, b.cfg.d_sae, x.device())?;
        let aux_mask = topk_mask(&pre.detach().broadcast_add(&offset)?, k_aux)?;
        // As above, the mask implies pre > 0 (live latents are pushed to −1e30).
        let aux_f = (pre * aux_mask)?;
        let e = (x - recon)?.detach();
        let e_var = e
            .broadcast_sub(&e.mean_keepdim(0)?)?
            .sqr()?
            .sum_all()?
            .to_scalar::<f32>()? as f64;
        let w_dec = b.params.w_dec.as_tensor();
        let aux = ((aux_f.matmul(w_dec)? - &e)?.sqr()?.sum_all()? / e_var.max(1e-12))?;
        Ok(Some((aux * b.cfg.aux_coeff)?))
    }

    fn sparse_k(&self) -> Option<usize> {
        Some(self.k)
    }
}

/// The k-th largest value of `row` (−∞ when `k ≥ row.len()`): TopK keeps the values `v` with
/// `v ≥ kth` and `v > 0` (ties at the k-th value are all kept), like the SAE's encoder
/// ([`crate::sae::topk_relu`]). `scratch` is reused between calls.
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

impl SaeTrainer {
    /// A TopK step with hand-written gradients over the selected latents only
    /// ([`TopKKernel::Sparse`]): the same step as the dense path (the same pre-activations
    /// and selection, loss, AuxK and gradients, up to the order of float sums). Everything
    /// after the encoder matmul costs `n · (k + k_aux) · d_in`; the weight gradients are
    /// accumulated per latent, in row order, so the result does not depend on threads.
    pub(super) fn sparse_topk_step(
        &mut self,
        x: &Tensor,
        k: usize,
        total_var: f64,
    ) -> Result<StepStats> {
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
        let grads = Params {
            w_enc: Some(Tensor::from_vec(g_wenc, (d, s), &dev)?),
            b_enc: Some(Tensor::from_vec(g_benc, s, &dev)?),
            w_dec: Some(Tensor::from_vec(g_wdec, (s, d), &dev)?),
            b_dec: Some(Tensor::from_vec(g_bdec, d, &dev)?),
            log_theta: None,
        };
        self.apply_step(grads, &counts, n, d, sse, loss as f32, total_var)
    }
}
