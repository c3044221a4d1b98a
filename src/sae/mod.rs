//! Sparse autoencoders: one [`Sae`] type for every checkpoint format, with
//! ReLU, TopK and JumpReLU activations.

pub mod format;
pub mod lens;
pub mod matrix;
pub mod spec;
pub mod sweep;
pub mod train;

use crate::hooks::HookPoint;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;
use serde::Serialize;
use std::path::PathBuf;

pub use format::{
    load_sae, read_index_file, read_index_ids, read_quantile_file, ColumnOrder, Format,
    QuantileFile,
};
pub use matrix::SaeMatrix;
pub use spec::SaeSpec;

/// The non-linearity applied to the encoder's pre-activations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Activation {
    /// `max(0, z)`.
    Relu,
    /// Keep the k largest pre-activations of each token (ties at the k-th value are all
    /// kept, as Safe-SAIL's TopKReLU does), then ReLU.
    TopK(usize),
    /// `z · 1[z > θ]` with a per-latent threshold θ; with `relu` also `max(0, ·)` first
    /// (SAELens, Gemma Scope); without it Safe-SAIL's plain form.
    JumpRelu { relu: bool },
}

impl Activation {
    /// Parses `relu`, `topk:K` or `jumprelu`.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        if s == "relu" {
            return Ok(Activation::Relu);
        }
        if s == "jumprelu" {
            return Ok(Activation::JumpRelu { relu: true });
        }
        if let Some(k) = s.strip_prefix("topk:").or_else(|| s.strip_prefix("topk=")) {
            let k: usize = k
                .parse()
                .with_context(|| format!("activation `{s}`: `{k}` is not a number"))?;
            if k == 0 {
                bail!("activation `{s}`: k must be at least 1");
            }
            return Ok(Activation::TopK(k));
        }
        bail!("unknown activation `{s}` (expected relu, topk:K or jumprelu)")
    }

    pub fn describe(&self) -> String {
        match self {
            Activation::Relu => "relu".into(),
            Activation::TopK(k) => format!("topk:{k}"),
            Activation::JumpRelu { .. } => "jumprelu".into(),
        }
    }
}

/// Where an SAE came from and where it reads.
#[derive(Debug, Clone, Serialize)]
pub struct SaeMeta {
    pub path: PathBuf,
    /// The checkpoint format it was read from.
    #[serde(serialize_with = "ser_format")]
    pub format: &'static dyn Format,
    pub d_in: usize,
    pub d_sae: usize,
    /// The hook point it reads, from its own config or given by the user.
    #[serde(serialize_with = "ser_hook")]
    pub hook: HookPoint,
    /// The model it was trained on, if its config says.
    pub model_name: Option<String>,
}

fn ser_format<S: serde::Serializer>(
    f: &&'static dyn Format,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(f.tag())
}

fn ser_hook<S: serde::Serializer>(h: &HookPoint, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&h.to_string())
}

/// A sparse autoencoder: `f = σ((x − b_in) · s · W_enc + b_enc)`, `x̂ = (f · W_dec) / s + b_dec`.
/// Cloning is cheap: the weights are shared, not copied.
#[derive(Clone)]
pub struct Sae {
    pub meta: SaeMeta,
    pub activation: Activation,
    /// `[d_in, d_sae]` (used in place from the checkpoint where its layout allows).
    pub w_enc: SaeMatrix,
    /// `[d_sae]`.
    pub b_enc: Tensor,
    /// `[d_sae, d_in]`; `None` for checkpoints saved without a decoder.
    pub w_dec: Option<SaeMatrix>,
    /// `[d_in]`, added after decoding.
    pub b_dec: Option<Tensor>,
    /// `[d_in]`, subtracted before encoding (SAELens `apply_b_dec_to_input`, sparsify,
    /// Safe-SAIL's pre-encoder bias).
    pub input_bias: Option<Tensor>,
    /// `[d_sae]` JumpReLU thresholds.
    pub threshold: Option<Tensor>,
    /// Activation normalisation constant multiplied into the input (1 = none).
    pub input_scale: f64,
}

impl Sae {
    pub fn d_in(&self) -> usize {
        self.meta.d_in
    }

    pub fn d_sae(&self) -> usize {
        self.meta.d_sae
    }

    pub fn hook(&self) -> HookPoint {
        self.meta.hook
    }

    pub fn device(&self) -> &Device {
        self.b_enc.device()
    }

    /// Runs the finite check of weights read in place now (it otherwise runs at their first
    /// use): an error naming the tensor and file when one holds NaN or ±Inf.
    pub fn ensure_finite(&self) -> Result<()> {
        self.w_enc.ensure_finite()?;
        if let Some(w) = &self.w_dec {
            w.ensure_finite()?;
        }
        Ok(())
    }

    /// Checks that the input is `[n, d_in]` (or `[d_in]`) and returns it as f32 `[n, d_in]`
    /// on the SAE's device.
    fn prepare(&self, x: &Tensor) -> Result<Tensor> {
        let x = if x.rank() == 1 {
            x.unsqueeze(0)?
        } else {
            x.clone()
        };
        let x = match x.rank() {
            2 => x,
            _ => {
                let d = *x.dims().last().unwrap();
                x.reshape(((), d))?
            }
        };
        let d = x.dim(1)?;
        if d != self.d_in() {
            bail!(
                "SAE {} expects inputs of width {} but got {d} (check its hook: {})",
                self.meta.path.display(),
                self.d_in(),
                self.meta.hook
            );
        }
        Ok(x.to_dtype(DType::F32)?.to_device(self.device())?)
    }

    /// Pre-activations `[n, d_sae]`.
    pub fn pre_activations(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = self.prepare(x)?;
        if let Some(b) = &self.input_bias {
            x = x.broadcast_sub(b)?;
        }
        if self.input_scale != 1.0 {
            x = (x * self.input_scale)?;
        }
        Ok(self.w_enc.left_mul(&x)?.broadcast_add(&self.b_enc)?)
    }

    /// Dense latent activations `[n, d_sae]` (f32) of inputs `[n, d_in]`.
    pub fn encode(&self, x: &Tensor) -> Result<Tensor> {
        let pre = self.pre_activations(x)?;
        match self.activation {
            Activation::Relu => Ok(pre.relu()?),
            Activation::JumpRelu { relu } => {
                let th = self
                    .threshold
                    .as_ref()
                    .context("JumpReLU SAE without thresholds")?;
                let keep = pre.broadcast_gt(th)?.to_dtype(DType::F32)?;
                let base = if relu { pre.relu()? } else { pre };
                Ok((base * keep)?)
            }
            Activation::TopK(k) => topk_relu(&pre, k),
        }
    }

    /// The `n` strongest active latents of each token, as (latent, activation), strongest first.
    pub fn encode_sparse(&self, x: &Tensor, n: usize) -> Result<Vec<Vec<(u32, f32)>>> {
        let acts = self.encode(x)?.to_device(&Device::Cpu)?.to_vec2::<f32>()?;
        Ok(acts
            .into_par_iter()
            .map(|row| {
                let mut nz: Vec<(u32, f32)> = row
                    .into_iter()
                    .enumerate()
                    .filter(|(_, v)| *v > 0.0)
                    .map(|(i, v)| (i as u32, v))
                    .collect();
                nz.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                nz.truncate(n);
                nz
            })
            .collect())
    }

    /// Reconstruction `[n, d_in]` from latents `[n, d_sae]`.
    pub fn decode(&self, f: &Tensor) -> Result<Tensor> {
        let w = self
            .w_dec
            .as_ref()
            .with_context(|| format!("SAE {} has no decoder weights", self.meta.path.display()))?;
        let mut y = w.left_mul(&f.to_dtype(DType::F32)?)?;
        if self.input_scale != 1.0 {
            y = (y / self.input_scale)?;
        }
        if let Some(b) = &self.b_dec {
            y = y.broadcast_add(b)?;
        }
        Ok(y)
    }
}

/// TopK then ReLU on each row of `pre` (`[n, d]`), without a full sort.
pub(crate) fn topk_relu(pre: &Tensor, k: usize) -> Result<Tensor> {
    let (n, d) = pre.dims2()?;
    if k == 0 {
        bail!("TopK with k = 0 keeps no latents");
    }
    let device = pre.device().clone();
    let mut data = pre
        .to_device(&Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    if k < d {
        data.par_chunks_mut(d).for_each_init(
            || Vec::with_capacity(d),
            |scratch: &mut Vec<f32>, row| {
                scratch.clear();
                scratch.extend_from_slice(row);
                let (_, kth, _) = scratch.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
                let kth = *kth;
                for v in row.iter_mut() {
                    if *v < kth || *v <= 0.0 {
                        *v = 0.0;
                    }
                }
            },
        );
    } else {
        data.iter_mut().for_each(|v| *v = v.max(0.0));
    }
    Ok(Tensor::from_vec(data, (n, d), &device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topk_keeps_k_largest_positive() {
        let pre = Tensor::new(
            &[[0.5f32, -1.0, 3.0, 2.0, 0.1], [-1.0, -2.0, -3.0, 0.2, -0.5]],
            &Device::Cpu,
        )
        .unwrap();
        let out = topk_relu(&pre, 2).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(out[0], vec![0.0, 0.0, 3.0, 2.0, 0.0]);
        // Only one positive value: the other selected entry is cut by the ReLU.
        assert_eq!(out[1], vec![0.0, 0.0, 0.0, 0.2, 0.0]);
    }

    #[test]
    fn parses_activations() {
        assert_eq!(
            Activation::parse("topk:200").unwrap(),
            Activation::TopK(200)
        );
        assert_eq!(Activation::parse("ReLU").unwrap(), Activation::Relu);
        assert!(Activation::parse("topk:0").is_err());
        assert!(Activation::parse("gelu").is_err());
    }
}
