//! Gemma 2: Llama's layout with four norms per block (their scale stored as `w` for
//! `1 + w`), scaled embeddings, soft-capped attention scores and logits, and sliding windows
//! on every other layer.

use super::llama::{load_layout, Norms, GATED_DEFAULTS};
use super::Family;
use crate::model::config::{get_bool, get_f64, ConfigDefaults, ModelConfig};
use crate::model::files::WeightSource;
use crate::model::transformer::Transformer;
use anyhow::Result;
use serde_json::Value;

/// Gemma 2 (`model_type: gemma2`).
pub struct Gemma2;

impl Family for Gemma2 {
    fn model_types(&self) -> &'static [&'static str] {
        &["gemma2"]
    }

    fn config(&self, v: &Value) -> Result<ModelConfig> {
        let defaults = ConfigDefaults {
            act: "gelu_pytorch_tanh",
            tie_word_embeddings: true,
            sliding_windows,
            ..GATED_DEFAULTS
        };
        let mut c = ModelConfig::read(v, &Gemma2, &defaults)?;
        let b = get_bool(v, "attention_bias").unwrap_or(false);
        (c.qkv_bias, c.o_bias) = (b, b);
        let s = get_f64(v, &["query_pre_attn_scalar"]).unwrap_or(c.head_dim as f64);
        c.attn_scale = 1.0 / s.sqrt();
        let softcap = |k: &str| get_f64(v, &[k]).filter(|c| *c > 0.0);
        c.attn_softcap = softcap("attn_logit_softcapping");
        c.final_softcap = softcap("final_logit_softcapping");
        c.embed_scale = Some((c.hidden_size as f64).sqrt());
        Ok(c)
    }

    fn load(&self, cfg: ModelConfig, w: &dyn WeightSource) -> Result<Transformer> {
        load_layout(cfg, w, Norms::Gemma)
    }
}

/// Even layers slide, odd layers attend globally.
fn sliding_windows(_: &Value, window: Option<usize>, n: usize) -> Vec<Option<usize>> {
    (0..n)
        .map(|i| if i % 2 == 0 { window } else { None })
        .collect()
}
