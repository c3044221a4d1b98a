//! One decoder-only transformer forward pass for Qwen2, Qwen3, Llama, Gemma2 and GPT-2, built
//! from candle tensors, with a hook at every `blocks.{L}.hook_*` point.
//!
//! The families differ only in data (norm kind, biases, position encoding, extra norms,
//! per-head query/key norms, soft-capping, sliding windows, embedding scale), so one code path
//! serves them all; each
//! family's loader ([`super::family`]) maps its tensor names onto the parts defined here.

use super::config::{Act, ModelConfig, RopeScaling};
use super::files::WeightSource;
use super::matmul::Matrix;
use crate::hooks::{HookPoint, HookSite};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};

/// Called at every hook point the forward pass reaches, in order. Returning `Some`
/// replaces the activation there (e.g. to splice in an SAE reconstruction).
pub trait Hooks {
    fn at(&mut self, hook: HookPoint, x: &Tensor) -> Result<Option<Tensor>>;
}

/// Hooks that do nothing.
pub struct NoHooks;

impl Hooks for NoHooks {
    fn at(&mut self, _: HookPoint, _: &Tensor) -> Result<Option<Tensor>> {
        Ok(None)
    }
}

/// Per-layer keys and values of earlier positions, for generation.
#[derive(Default)]
pub struct KvCache {
    kv: Vec<Option<(Tensor, Tensor)>>,
    /// Number of positions already in the cache.
    pub len: usize,
}

impl KvCache {
    pub fn new() -> Self {
        Self::default()
    }
}

/// What a forward pass should compute.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardOpts {
    /// Stop after this layer (its `hook_resid_post` is the last hook reached); no logits.
    pub stop_after_layer: Option<usize>,
    /// Compute logits for the last position only (generation needs no others).
    pub last_logits_only: bool,
    /// Compute logits for positions from this one on only (ignored with `last_logits_only`).
    pub logits_from: Option<usize>,
    /// Use composed candle ops instead of the fused kernels (RMS/layer norm, rotary embedding,
    /// softmax, gated activation), which drop gradients: needed for a backward pass
    /// ([`crate::attribute`]). Slower; the values agree to float rounding.
    pub differentiable: bool,
}

/// `y = x · Wᵀ + b`. A bf16 weight on the CPU stays as stored (`[out, in]`, possibly read in
/// place from a mapped file) and runs through [`super::matmul`]; any other is kept transposed
/// (`[in, out]`, contiguous) so candle's matmul reads both operands row-major, which its
/// kernels run fastest.
pub(super) struct Linear {
    pub(super) w: LinearWeight,
    pub(super) b: Option<Tensor>,
}

pub(super) enum LinearWeight {
    /// `[in, out]`.
    InOut(Tensor),
    /// `[out, in]`, bf16 on the CPU.
    Rows(Matrix),
}

impl Linear {
    /// From a weight in the usual `[out, in]` layout.
    pub(super) fn new(w: Matrix, b: Option<Tensor>) -> Result<Self> {
        let w = match w {
            Matrix::Tensor(t) if !(t.dtype() == DType::BF16 && t.device().is_cpu()) => {
                LinearWeight::InOut(t.t()?.contiguous()?)
            }
            m => LinearWeight::Rows(m),
        };
        Ok(Self { w, b })
    }

    /// From a weight already in the `[in, out]` layout (GPT-2's Conv1D).
    pub(super) fn from_in_out(wt: Tensor, b: Option<Tensor>) -> Self {
        Self {
            w: LinearWeight::InOut(wt),
            b,
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = match &self.w {
            LinearWeight::Rows(m) => m.times_t(x)?,
            LinearWeight::InOut(w) => {
                let dims = x.dims().to_vec();
                let inner = *dims.last().context("linear on a scalar")?;
                let rows: usize = dims[..dims.len() - 1].iter().product();
                let y = x.reshape((rows, inner))?.matmul(w)?;
                let mut out = dims;
                *out.last_mut().unwrap() = w.dim(1)?;
                y.reshape(out)?
            }
        };
        Ok(match &self.b {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}

pub(super) enum Norm {
    /// RMSNorm scaled by `alpha` (`w`, or `1 + w` for Gemma).
    Rms {
        alpha: Tensor,
        eps: f64,
    },
    Layer {
        w: Tensor,
        b: Tensor,
        eps: f64,
    },
}

impl Norm {
    fn forward(&self, x: &Tensor, differentiable: bool) -> Result<Tensor> {
        let x = x.contiguous()?;
        match (self, differentiable) {
            // One fused kernel (f32 accumulation); Gemma's `1 + w` is folded into `alpha` at load.
            (Norm::Rms { alpha, eps }, false) => {
                Ok(candle_nn::ops::rms_norm(&x, alpha, *eps as f32)?)
            }
            (Norm::Layer { w, b, eps }, false) => {
                Ok(candle_nn::ops::layer_norm(&x, w, b, *eps as f32)?)
            }
            // Composed ops: the fused kernels have no backward pass.
            (Norm::Rms { alpha, eps }, true) => {
                Ok(candle_nn::ops::rms_norm_slow(&x, alpha, *eps as f32)?)
            }
            (Norm::Layer { w, b, eps }, true) => {
                Ok(candle_nn::ops::layer_norm_slow(&x, w, b, *eps as f32)?)
            }
        }
    }
}

pub(super) enum Mlp {
    /// `down(act(gate(x)) * up(x))` (Llama, Qwen2, Qwen3, Gemma2).
    Gated {
        gate: Linear,
        up: Linear,
        down: Linear,
    },
    /// `proj(act(fc(x)))` (GPT-2).
    Plain { fc: Linear, proj: Linear },
}

impl Mlp {
    fn forward(&self, x: &Tensor, act: Act, differentiable: bool) -> Result<Tensor> {
        match self {
            Mlp::Gated { gate, up, down } => {
                let (g, u) = (gate.forward(x)?, up.forward(x)?);
                let h = if differentiable {
                    (super::ops::activate(act, &g)? * u)?
                } else {
                    super::ops::gated_act(act, &g, &u)?
                };
                down.forward(&h)
            }
            Mlp::Plain { fc, proj } => proj.forward(&super::ops::activate(act, &fc.forward(x)?)?),
        }
    }
}

pub(super) struct Attention {
    pub(super) q: Linear,
    pub(super) k: Linear,
    pub(super) v: Linear,
    pub(super) o: Linear,
    /// An RMS norm over each head's queries / keys, before the rotary embedding (Qwen3's
    /// `q_norm`, `k_norm`); applied wherever present.
    pub(super) q_norm: Option<Norm>,
    pub(super) k_norm: Option<Norm>,
}

pub(super) struct Block {
    pub(super) attn: Attention,
    pub(super) mlp: Mlp,
    /// Norm before attention (`input_layernorm`, `ln_1`).
    pub(super) pre_attn: Norm,
    /// Norm before the MLP (`post_attention_layernorm` in Llama/Qwen2, `pre_feedforward_layernorm` in Gemma2, `ln_2`).
    pub(super) pre_mlp: Norm,
    /// Gemma2's norms on the sub-block outputs.
    pub(super) post_attn: Option<Norm>,
    pub(super) post_mlp: Option<Norm>,
}

/// Rotary embedding tables (cos, sin) for positions `0..max`, `[max, head_dim/2]`.
pub(super) struct Rope {
    cos: Tensor,
    sin: Tensor,
}

/// The inverse frequencies of the rotary embedding, with `rope_scaling` applied.
pub fn rope_inv_freq(cfg: &ModelConfig) -> Vec<f64> {
    let d = cfg.head_dim;
    let base: Vec<f64> = (0..d / 2)
        .map(|i| 1.0 / cfg.rope_theta.powf((2 * i) as f64 / d as f64))
        .collect();
    match cfg.rope_scaling {
        RopeScaling::None | RopeScaling::Linear { .. } => base,
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings: old,
        } => {
            let low_wavelen = old / low_freq_factor;
            let high_wavelen = old / high_freq_factor;
            base.into_iter()
                .map(|f| {
                    let wavelen = 2.0 * std::f64::consts::PI / f;
                    if wavelen < high_wavelen {
                        f
                    } else if wavelen > low_wavelen {
                        f / factor
                    } else {
                        let smooth = (old / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        (1.0 - smooth) * f / factor + smooth * f
                    }
                })
                .collect()
        }
    }
}

impl Rope {
    pub(super) fn new(cfg: &ModelConfig, dtype: DType, device: &Device) -> Result<Self> {
        // Like transformers: frequencies in f32, angles = position · inv_freq in f32.
        let inv: Vec<f32> = rope_inv_freq(cfg).into_iter().map(|f| f as f32).collect();
        let pos_scale = match cfg.rope_scaling {
            RopeScaling::Linear { factor } => 1.0 / factor as f32,
            _ => 1.0,
        };
        let n = cfg.max_position_embeddings;
        let half = inv.len();
        let mut angles = Vec::with_capacity(n * half);
        for p in 0..n {
            let p = p as f32 * pos_scale;
            angles.extend(inv.iter().map(|f| p * f));
        }
        let a = Tensor::from_vec(angles, (n, half), device)?;
        Ok(Self {
            cos: a.cos()?.to_dtype(dtype)?,
            sin: a.sin()?.to_dtype(dtype)?,
        })
    }
}

/// A loaded causal language model.
pub struct Transformer {
    pub cfg: ModelConfig,
    /// `[vocab, d_model]`.
    pub(super) embed: Matrix,
    /// Learned position embeddings `[max_positions, d_model]` (GPT-2).
    pub(super) pos_embed: Option<Tensor>,
    pub(super) blocks: Vec<Block>,
    pub(super) final_norm: Norm,
    /// The unembedding `[vocab, d_model]`.
    pub(super) lm_head: Matrix,
    /// Rotary position embeddings (every family but GPT-2).
    pub(super) rope: Option<Rope>,
    pub(super) dtype: DType,
    pub(super) device: Device,
}

fn softcap(x: &Tensor, cap: f64) -> Result<Tensor> {
    Ok(((x / cap)?.tanh()? * cap)?)
}

impl Transformer {
    /// Builds the network from weights, checking every tensor's shape against the config
    /// (by the config's family).
    pub fn load(cfg: ModelConfig, w: &dyn WeightSource) -> Result<Self> {
        let family = cfg.family;
        family.load(cfg, w)
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The unembedding matrix `[vocab, d_model]` (a copy when the weights are read in place).
    pub fn unembedding(&self) -> Result<Tensor> {
        self.lm_head.to_tensor()
    }

    /// The unembedding matrix `[vocab, d_model]` as the model holds it (no copy).
    pub fn unembedding_matrix(&self) -> &Matrix {
        &self.lm_head
    }

    /// `x · Uᵀ` for `x [n, d_model]`: logits `[n, vocab]` in f32, computed the way the forward
    /// pass computes them.
    pub fn unembed(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.to_dtype(self.dtype)?.to_device(&self.device)?;
        Ok(self.lm_head.times_t(&x)?.to_dtype(DType::F32)?)
    }

    /// Runs the model on `ids` (`[batch, seq]`, u32).
    ///
    /// `mask` (`[batch, seq_total]`, 1 = real token, 0 = padding) covers the cached and
    /// the new positions; `None` means no padding. Returns the logits `[batch, seq, vocab]`
    /// (`[batch, 1, vocab]` with `opts.last_logits_only`) in f32 unless
    /// `opts.stop_after_layer` ends the pass early.
    pub fn forward(
        &self,
        ids: &Tensor,
        mask: Option<&[Vec<u8>]>,
        mut cache: Option<&mut KvCache>,
        hooks: &mut dyn Hooks,
        opts: ForwardOpts,
    ) -> Result<Option<Tensor>> {
        let (b, t) = ids.dims2()?;
        let offset = cache.as_ref().map_or(0, |c| c.len);
        if t == 0 {
            bail!("empty input: at least one token is needed");
        }
        if offset + t > self.cfg.max_position_embeddings {
            bail!(
                "input of {} tokens is longer than the model's context of {} tokens",
                offset + t,
                self.cfg.max_position_embeddings
            );
        }
        if let Some(last) = opts.stop_after_layer {
            if last >= self.cfg.num_layers {
                bail!(
                    "layer {last} is out of range: the model has {} layers",
                    self.cfg.num_layers
                );
            }
        }
        let mut x = self
            .embed
            .rows(&ids.flatten_all()?)?
            .reshape((b, t, self.cfg.hidden_size))?;
        if let Some(scale) = self.cfg.embed_scale {
            let scale = Tensor::new(scale as f32, &self.device)?.to_dtype(self.dtype)?;
            x = x.broadcast_mul(&scale)?;
        }
        if let Some(pe) = &self.pos_embed {
            x = x.broadcast_add(&pe.narrow(0, offset, t)?)?;
        }
        let masks = self.attention_masks(b, t, offset, mask)?;
        let (cos, sin) = match &self.rope {
            Some(r) => (
                Some(r.cos.narrow(0, offset, t)?),
                Some(r.sin.narrow(0, offset, t)?),
            ),
            None => (None, None),
        };
        if let Some(c) = cache.as_deref_mut() {
            if c.kv.len() < self.blocks.len() {
                c.kv.resize(self.blocks.len(), None);
            }
        }
        let last = opts.stop_after_layer.unwrap_or(self.blocks.len() - 1);
        let diff = opts.differentiable;
        for (l, block) in self.blocks.iter().enumerate().take(last + 1) {
            let hp = |site| HookPoint::new(l, site);
            if let Some(r) = hooks.at(hp(HookSite::ResidPre), &x)? {
                x = r;
            }
            let h = block.pre_attn.forward(&x, diff)?;
            let kv = cache.as_deref_mut().map(|c| &mut c.kv[l]);
            let window_mask = match self.cfg.sliding_window[l] {
                Some(_) => masks.1.as_ref(),
                None => masks.0.as_ref(),
            };
            let mut a = self.attention(
                &block.attn,
                &h,
                window_mask,
                (cos.as_ref(), sin.as_ref()),
                kv,
                diff,
            )?;
            if let Some(n) = &block.post_attn {
                a = n.forward(&a, diff)?;
            }
            if let Some(r) = hooks.at(hp(HookSite::AttnOut), &a)? {
                a = r;
            }
            x = (x + a)?;
            let h = block.pre_mlp.forward(&x, diff)?;
            let mut m = block.mlp.forward(&h, self.cfg.act, diff)?;
            if let Some(n) = &block.post_mlp {
                m = n.forward(&m, diff)?;
            }
            if let Some(r) = hooks.at(hp(HookSite::MlpOut), &m)? {
                m = r;
            }
            x = (x + m)?;
            if let Some(r) = hooks.at(hp(HookSite::ResidPost), &x)? {
                x = r;
            }
        }
        if let Some(c) = cache {
            c.len = offset + t;
        }
        if opts.stop_after_layer.is_some() {
            return Ok(None);
        }
        let x = if opts.last_logits_only && t > 1 {
            x.narrow(1, t - 1, 1)?
        } else if let Some(from) = opts.logits_from.filter(|&f| f > 0) {
            if from >= t {
                bail!("logits from position {from} asked of an input of {t} tokens");
            }
            x.narrow(1, from, t - from)?
        } else {
            x
        };
        let x = self.final_norm.forward(&x, diff)?;
        // The unembedding stays [vocab, d] (it is often the embedding itself).
        let (b, t, d) = x.dims3()?;
        let x = x.reshape((b * t, d))?;
        let logits = self.lm_head.times_t(&x)?;
        let mut logits = logits.reshape((b, t, ()))?;
        if let Some(cap) = self.cfg.final_softcap {
            logits = softcap(&logits, cap)?;
        }
        Ok(Some(logits.to_dtype(DType::F32)?))
    }

    /// Additive masks `[b, 1, t, offset + t]` (f32): one for full-attention layers and one
    /// for sliding-window layers. `None` where nothing needs masking.
    fn attention_masks(
        &self,
        b: usize,
        t: usize,
        offset: usize,
        pad: Option<&[Vec<u8>]>,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let total = offset + t;
        if let Some(p) = pad {
            if p.len() != b || p.iter().any(|row| row.len() != total) {
                bail!("attention mask must be [{b}, {total}]");
            }
        }
        let has_pad = pad.is_some_and(|p| p.iter().any(|r| r.contains(&0)));
        let build = |window: Option<usize>| -> Result<Option<Tensor>> {
            if t == 1 && !has_pad && window.is_none_or(|w| w >= total) {
                return Ok(None);
            }
            let rows = if has_pad { b } else { 1 };
            let mut m = vec![0f32; rows * t * total];
            for r in 0..rows {
                for i in 0..t {
                    let qi = offset + i;
                    for j in 0..total {
                        let causal = j <= qi;
                        let in_window = window.is_none_or(|w| qi - j.min(qi) < w);
                        let real = !has_pad || pad.unwrap()[r][j] == 1;
                        if !(causal && in_window && real) {
                            m[(r * t + i) * total + j] = f32::NEG_INFINITY;
                        }
                    }
                    // A query that may see nothing (a padding query) attends to itself, so
                    // softmax stays finite; its output is ignored.
                    let row = &mut m[(r * t + i) * total..(r * t + i + 1) * total];
                    if row.iter().all(|v| v.is_infinite()) {
                        row[qi] = 0.0;
                    }
                }
            }
            Ok(Some(Tensor::from_vec(
                m,
                (rows, 1, t, total),
                &self.device,
            )?))
        };
        let full = build(None)?;
        let windows: Vec<usize> = self.cfg.sliding_window.iter().flatten().copied().collect();
        let sliding = match windows.first() {
            Some(&w) => build(Some(w))?,
            None => None,
        };
        Ok((full, sliding))
    }

    fn attention(
        &self,
        attn: &Attention,
        x: &Tensor,
        mask: Option<&Tensor>,
        (cos, sin): (Option<&Tensor>, Option<&Tensor>),
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        differentiable: bool,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let (nh, nkv, hd) = (self.cfg.num_heads, self.cfg.num_kv_heads, self.cfg.head_dim);
        let head_norm = |h: Tensor, norm: &Option<Norm>| match norm {
            Some(n) => n.forward(&h, differentiable),
            None => Ok(h),
        };
        let q = head_norm(attn.q.forward(x)?.reshape((b, t, nh, hd))?, &attn.q_norm)?
            .transpose(1, 2)?
            .contiguous()?;
        let k = head_norm(attn.k.forward(x)?.reshape((b, t, nkv, hd))?, &attn.k_norm)?
            .transpose(1, 2)?
            .contiguous()?;
        let v = attn
            .v
            .forward(x)?
            .reshape((b, t, nkv, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let (q, k) = match (cos, sin) {
            (Some(c), Some(s)) if differentiable => (
                candle_nn::rotary_emb::rope_slow(&q, c, s)?,
                candle_nn::rotary_emb::rope_slow(&k, c, s)?,
            ),
            (Some(c), Some(s)) => (
                candle_nn::rotary_emb::rope(&q, c, s)?,
                candle_nn::rotary_emb::rope(&k, c, s)?,
            ),
            _ => (q, k),
        };
        let (k, v) = match cache {
            Some(slot) => {
                let (k, v) = match slot.take() {
                    Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                    None => (k, v),
                };
                *slot = Some((k.clone(), v.clone()));
                (k, v)
            }
            None => (k, v),
        };
        // Grouped-query attention without copying keys/values: the `rep` query heads that
        // share a key/value head are stacked along the sequence axis, so each group is one
        // larger matmul.
        let rep = nh / nkv;
        let total = k.dim(2)?;
        let q = q.reshape((b, nkv, rep * t, hd))?;
        let mut scores = (q.matmul(&k.t()?)? * self.cfg.attn_scale)?;
        if let Some(cap) = self.cfg.attn_softcap {
            scores = softcap(&scores, cap)?;
        }
        let mut scores = scores.to_dtype(DType::F32)?;
        if let Some(m) = mask {
            let m = m.unsqueeze(2)?; // [b|1, 1, 1, t, total]
            scores = scores
                .reshape((b, nkv, rep, t, total))?
                .broadcast_add(&m)?
                .reshape((b, nkv, rep * t, total))?;
        }
        let probs = if differentiable {
            candle_nn::ops::softmax(&scores, candle_core::D::Minus1)?
        } else {
            candle_nn::ops::softmax_last_dim(&scores)?
        }
        .to_dtype(self.dtype)?;
        let out = probs
            .matmul(&v.contiguous()?)?
            .reshape((b, nh, t, hd))?
            .transpose(1, 2)?
            .reshape((b, t, nh * hd))?;
        attn.o.forward(&out)
    }
}
