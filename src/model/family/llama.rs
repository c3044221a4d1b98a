//! Llama, and the tensor layout it set, which Qwen2 and Gemma2 share: `model.embed_tokens`,
//! `model.layers.{i}.self_attn.{q,k,v,o}_proj`, `model.layers.{i}.mlp.{gate,up,down}_proj`,
//! RMS norms, rotary positions and an optional `lm_head`.

use super::Family;
use crate::model::config::{get_bool, no_sliding_windows, ConfigDefaults, ModelConfig};
use crate::model::files::WeightSource;
use crate::model::transformer::{Attention, Block, Linear, Mlp, Norm, Rope, Transformer};
use anyhow::{bail, Result};
use candle_core::DType;
use serde_json::Value;

/// Llama 2 and 3.x (`model_type: llama`).
pub struct Llama;

impl Family for Llama {
    fn model_types(&self) -> &'static [&'static str] {
        &["llama"]
    }

    fn config(&self, v: &Value) -> Result<ModelConfig> {
        let mut c = ModelConfig::read(v, &Llama, &GATED_DEFAULTS)?;
        let b = get_bool(v, "attention_bias").unwrap_or(false);
        (c.qkv_bias, c.o_bias) = (b, b);
        c.mlp_bias = get_bool(v, "mlp_bias").unwrap_or(false);
        Ok(c)
    }

    fn load(&self, cfg: ModelConfig, w: &dyn WeightSource) -> Result<Transformer> {
        load_layout(cfg, w, Norms::Llama)
    }
}

/// The defaults of the families with Llama's gated MLP: a required `intermediate_size`,
/// SiLU, an untied unembedding, no sliding windows.
pub(super) const GATED_DEFAULTS: ConfigDefaults = ConfigDefaults {
    mlp_width_keys: &["intermediate_size"],
    mlp_width_ratio: None,
    act: "silu",
    tie_word_embeddings: false,
    sliding_windows: no_sliding_windows,
};

/// Where a family of this layout puts its RMS norms.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Norms {
    /// `input_layernorm` before attention, `post_attention_layernorm` before the MLP, the
    /// scale stored as is.
    Llama,
    /// Gemma's: `input_layernorm` and `pre_feedforward_layernorm` before the sub-blocks,
    /// `post_attention_layernorm` and `post_feedforward_layernorm` on their outputs, the
    /// scale stored as `w` for `1 + w`.
    Gemma,
}

/// Builds a network stored in Llama's layout.
pub(super) fn load_layout(
    cfg: ModelConfig,
    w: &dyn WeightSource,
    norms: Norms,
) -> Result<Transformer> {
    let (d, hd, nh, nkv, ff) = (
        cfg.hidden_size,
        cfg.head_dim,
        cfg.num_heads,
        cfg.num_kv_heads,
        cfg.intermediate_size,
    );
    let gemma = norms == Norms::Gemma;
    let rms = |name: &str| -> Result<Norm> {
        let weight = w.get(name, &[d])?;
        let alpha = if gemma {
            (weight.to_dtype(DType::F32)? + 1.0)?.to_dtype(weight.dtype())?
        } else {
            weight
        };
        Ok(Norm::Rms {
            alpha,
            eps: cfg.norm_eps,
        })
    };
    let lin = |name: &str, out: usize, inp: usize, bias: bool| -> Result<Linear> {
        Linear::new(
            w.get_matrix(&format!("{name}.weight"), &[out, inp])?,
            if bias {
                Some(w.get(&format!("{name}.bias"), &[out])?)
            } else {
                None
            },
        )
    };
    let embed = w.get_matrix("model.embed_tokens.weight", &[cfg.vocab_size, d])?;
    let mut blocks = Vec::with_capacity(cfg.num_layers);
    for i in 0..cfg.num_layers {
        let p = format!("model.layers.{i}");
        let attn = Attention {
            q: lin(&format!("{p}.self_attn.q_proj"), nh * hd, d, cfg.qkv_bias)?,
            k: lin(&format!("{p}.self_attn.k_proj"), nkv * hd, d, cfg.qkv_bias)?,
            v: lin(&format!("{p}.self_attn.v_proj"), nkv * hd, d, cfg.qkv_bias)?,
            o: lin(&format!("{p}.self_attn.o_proj"), d, nh * hd, cfg.o_bias)?,
            q_norm: None,
            k_norm: None,
        };
        let mlp = Mlp::Gated {
            gate: lin(&format!("{p}.mlp.gate_proj"), ff, d, cfg.mlp_bias)?,
            up: lin(&format!("{p}.mlp.up_proj"), ff, d, cfg.mlp_bias)?,
            down: lin(&format!("{p}.mlp.down_proj"), d, ff, cfg.mlp_bias)?,
        };
        let block = match norms {
            Norms::Gemma => Block {
                attn,
                mlp,
                pre_attn: rms(&format!("{p}.input_layernorm.weight"))?,
                pre_mlp: rms(&format!("{p}.pre_feedforward_layernorm.weight"))?,
                post_attn: Some(rms(&format!("{p}.post_attention_layernorm.weight"))?),
                post_mlp: Some(rms(&format!("{p}.post_feedforward_layernorm.weight"))?),
            },
            Norms::Llama => Block {
                attn,
                mlp,
                pre_attn: rms(&format!("{p}.input_layernorm.weight"))?,
                pre_mlp: rms(&format!("{p}.post_attention_layernorm.weight"))?,
                post_attn: None,
                post_mlp: None,
            },
        };
        blocks.push(block);
    }
    let final_norm = rms("model.norm.weight")?;
    let lm_head = if cfg.tie_word_embeddings || !w.contains("lm_head.weight") {
        if !cfg.tie_word_embeddings {
            bail!("tensor `lm_head.weight` is missing and config.json does not tie it to the embeddings");
        }
        embed.clone()
    } else {
        w.get_matrix("lm_head.weight", &[cfg.vocab_size, d])?
    };
    let rope = Some(Rope::new(&cfg, w.dtype(), w.device())?);
    Ok(Transformer {
        embed,
        pos_embed: None,
        blocks,
        final_norm,
        lm_head,
        rope,
        dtype: w.dtype(),
        device: w.device().clone(),
        cfg,
    })
}
