//! Training TopK sparse autoencoders (the Safe-SAIL architecture) with candle's autograd:
//! `f = TopK(ReLU((x − b_dec) · W_enc + b_enc))`, `x̂ = f · W_dec + b_dec`, loss = MSE, Adam with
//! warm-up, decoder rows kept at unit norm, `b_dec` initialised to the data mean.
//!
//! This is the core step of `safe-sail train-sae` (an open issue adds the sweep command, the
//! AuxK loss, ReLU/JumpReLU, checkpoints and SAELens output on top of it).

use super::{Activation, Sae, SaeFormat, SaeMeta};
use crate::hooks::HookPoint;
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};

/// Settings of one TopK SAE.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub d_in: usize,
    pub d_sae: usize,
    pub k: usize,
    pub lr: f64,
    pub warmup_steps: usize,
    pub seed: u64,
}

/// A TopK SAE being trained.
pub struct TopKTrainer {
    pub cfg: TrainConfig,
    w_enc: Var,
    b_enc: Var,
    w_dec: Var,
    b_dec: Var,
    opt: AdamW,
    pub step: usize,
}

/// The TopK mask of pre-activations (1 where a latent is among the k largest and > 0), from
/// the same selection the SAE's encoder uses.
fn topk_mask(pre: &Tensor, k: usize) -> Result<Tensor> {
    Ok(super::topk_relu(pre, k)?.gt(0.0)?.to_dtype(DType::F32)?)
}

impl TopKTrainer {
    /// Initialises from a first batch of activations `[n, d_in]` (for `b_dec`): encoder =
    /// decoder transposed, decoder rows random unit vectors.
    pub fn new(cfg: TrainConfig, first: &Tensor) -> Result<Self> {
        if cfg.k == 0 || cfg.k > cfg.d_sae {
            bail!("k must be between 1 and the width ({})", cfg.d_sae);
        }
        let dev = first.device().clone();
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
        let w_dec = Var::from_tensor(&w)?;
        let w_enc = Var::from_tensor(&w.t()?.contiguous()?)?;
        let b_enc = Var::from_tensor(&Tensor::zeros(cfg.d_sae, DType::F32, &dev)?)?;
        let b_dec = Var::from_tensor(&first.to_dtype(DType::F32)?.mean(0)?)?;
        let opt = AdamW::new(
            vec![w_enc.clone(), b_enc.clone(), w_dec.clone(), b_dec.clone()],
            ParamsAdamW {
                lr: cfg.lr,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
            },
        )?;
        Ok(Self {
            cfg,
            w_enc,
            b_enc,
            w_dec,
            b_dec,
            opt,
            step: 0,
        })
    }

    /// One optimisation step on a batch `[n, d_in]`; returns the loss (mean squared error per element).
    pub fn train_step(&mut self, x: &Tensor) -> Result<f32> {
        let x = x.to_dtype(DType::F32)?;
        let pre = x
            .broadcast_sub(self.b_dec.as_tensor())?
            .matmul(self.w_enc.as_tensor())?
            .broadcast_add(self.b_enc.as_tensor())?;
        let mask = topk_mask(&pre.detach(), self.cfg.k)?;
        let f = (pre.relu()? * mask)?;
        let recon = f
            .matmul(self.w_dec.as_tensor())?
            .broadcast_add(self.b_dec.as_tensor())?;
        let loss = (recon - &x)?.sqr()?.mean_all()?;
        let warm = ((self.step + 1) as f64 / self.cfg.warmup_steps.max(1) as f64).min(1.0);
        self.opt.set_learning_rate(self.cfg.lr * warm);
        self.opt.backward_step(&loss)?;
        // Keep decoder rows at unit norm.
        let w = self.w_dec.as_tensor();
        let normed = w.broadcast_div(&(w.sqr()?.sum_keepdim(D::Minus1)?.sqrt()? + 1e-8)?)?;
        self.w_dec.set(&normed)?;
        self.step += 1;
        Ok(loss.to_scalar::<f32>()?)
    }

    /// The trained SAE (for a hook).
    pub fn to_sae(&self, hook: HookPoint) -> Result<Sae> {
        Ok(Sae {
            meta: SaeMeta {
                path: "trained".into(),
                format: SaeFormat::SaeLens,
                d_in: self.cfg.d_in,
                d_sae: self.cfg.d_sae,
                hook,
                model_name: None,
            },
            activation: Activation::TopK(self.cfg.k),
            w_enc: self.w_enc.as_tensor().clone(),
            b_enc: self.b_enc.as_tensor().clone(),
            w_dec: Some(self.w_dec.as_tensor().clone()),
            b_dec: Some(self.b_dec.as_tensor().clone()),
            input_bias: Some(self.b_dec.as_tensor().clone()),
            threshold: None,
            input_scale: 1.0,
        })
    }

    /// The decoder rows `[d_sae, d_in]`.
    pub fn decoder(&self) -> &Tensor {
        self.w_dec.as_tensor()
    }
}

/// Writes a trained TopK SAE in SAELens format (`cfg.json` + `sae_weights.safetensors`), so
/// SAELens and every loader here read it.
pub fn save_saelens(sae: &Sae, dir: &std::path::Path, model_name: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let k = match sae.activation {
        Activation::TopK(k) => k,
        _ => bail!("only TopK SAEs are trained here"),
    };
    let cfg = serde_json::json!({
        "architecture": "topk", "d_in": sae.d_in(), "d_sae": sae.d_sae(), "k": k,
        "dtype": "float32", "device": "cpu", "apply_b_dec_to_input": true, "normalize_activations": "none",
        "rescale_acts_by_decoder_norm": false,
        "metadata": {"model_name": model_name, "hook_name": sae.hook().to_string(), "hook_head_index": null,
                     "prepend_bos": true, "sae_lens_training_version": null, "trained_by": "safe-sail train-sae"},
    });
    crate::fsutil::write_atomic(
        &dir.join("cfg.json"),
        serde_json::to_string_pretty(&cfg)?.as_bytes(),
    )?;
    let cpu = |t: &Tensor| -> Result<Tensor> {
        Ok(t.to_dtype(DType::F32)?
            .to_device(&Device::Cpu)?
            .contiguous()?)
    };
    let mut m = std::collections::HashMap::new();
    m.insert("W_enc".to_string(), cpu(&sae.w_enc)?);
    m.insert("b_enc".to_string(), cpu(&sae.b_enc)?);
    m.insert(
        "W_dec".to_string(),
        cpu(sae.w_dec.as_ref().expect("trained SAEs have a decoder"))?,
    );
    m.insert(
        "b_dec".to_string(),
        cpu(sae.b_dec.as_ref().expect("trained SAEs have b_dec"))?,
    );
    crate::tensor_util::save_safetensors_atomic(&m, &dir.join("sae_weights.safetensors"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Data made of sparse combinations of known unit directions: a TopK SAE recovers them.
    #[test]
    fn recovers_sparse_ground_truth_directions() {
        let (d, n_true, active) = (32usize, 48usize, 3usize);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut dirs: Vec<Vec<f32>> = (0..n_true)
            .map(|_| (0..d).map(|_| rng.random::<f32>() - 0.5).collect())
            .collect();
        for v in &mut dirs {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= n);
        }
        let batch = |rng: &mut rand::rngs::StdRng, n: usize| -> Tensor {
            let mut data = vec![0f32; n * d];
            for r in 0..n {
                for _ in 0..active {
                    let j = rng.random_range(0..n_true);
                    let a = 0.5 + rng.random::<f32>();
                    for c in 0..d {
                        data[r * d + c] += a * dirs[j][c];
                    }
                }
            }
            Tensor::from_vec(data, (n, d), &Device::Cpu).unwrap()
        };
        let cfg = TrainConfig {
            d_in: d,
            d_sae: 96,
            k: active,
            lr: 3e-3,
            warmup_steps: 50,
            seed: 1,
        };
        let mut t = TopKTrainer::new(cfg, &batch(&mut rng, 512)).unwrap();
        let mut last = f32::INFINITY;
        for _ in 0..1500 {
            last = t.train_step(&batch(&mut rng, 256)).unwrap();
        }
        assert!(last < 0.02, "loss {last}");
        // For each true direction, the best cosine among decoder rows.
        let dec = t.decoder().to_vec2::<f32>().unwrap();
        let recovered = dirs
            .iter()
            .filter(|g| {
                dec.iter()
                    .map(|r| r.iter().zip(g.iter()).map(|(a, b)| a * b).sum::<f32>())
                    .fold(f32::MIN, f32::max)
                    >= 0.9
            })
            .count();
        assert!(
            recovered as f64 >= 0.8 * n_true as f64,
            "recovered {recovered} of {n_true} directions"
        );
    }
}
