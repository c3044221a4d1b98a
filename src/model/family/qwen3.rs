//! Qwen3: Qwen2's layout without the q/k/v biases, with an RMS norm over each head's queries
//! and keys (`q_norm`, `k_norm`, before the rotary embedding) and an explicit `head_dim`
//! that need not be `hidden_size / num_attention_heads`.

use super::llama::{load_layout, Norms, GATED_DEFAULTS};
use super::qwen2::sliding_windows;
use super::Family;
use crate::model::config::{get_bool, get_usize, ConfigDefaults, ModelConfig};
use crate::model::files::WeightSource;
use crate::model::transformer::{Norm, Transformer};
use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Qwen3 (`model_type: qwen3`; the dense models, not `qwen3_moe`).
pub struct Qwen3;

impl Family for Qwen3 {
    fn model_types(&self) -> &'static [&'static str] {
        &["qwen3"]
    }

    fn config(&self, v: &Value) -> Result<ModelConfig> {
        if get_usize(v, &["head_dim"]).is_none() {
            // Without `head_dim` the head size is hidden_size / num_attention_heads, which
            // must divide evenly (the weights are checked against it when they load).
            let hidden = get_usize(v, &["hidden_size"]);
            let heads = get_usize(v, &["num_attention_heads"]);
            if let (Some(h), Some(n)) = (hidden, heads) {
                // (0 heads: ModelConfig::read names that.)
                if n > 0 && h % n != 0 {
                    bail!(
                        "`head_dim` is missing and cannot be inferred: hidden_size {h} is not a \
                         multiple of num_attention_heads {n} (add \"head_dim\" to config.json)"
                    );
                }
            }
        }
        let defaults = ConfigDefaults {
            sliding_windows,
            ..GATED_DEFAULTS
        };
        let mut c = ModelConfig::read(v, &Qwen3, &defaults)?;
        let b = get_bool(v, "attention_bias").unwrap_or(false);
        (c.qkv_bias, c.o_bias) = (b, b);
        Ok(c)
    }

    fn load(&self, cfg: ModelConfig, w: &dyn WeightSource) -> Result<Transformer> {
        let (hd, eps) = (cfg.head_dim, cfg.norm_eps);
        let first = "model.layers.0.self_attn.q_norm.weight";
        if w.contains(first) {
            // Its length is the weights' head size: a wrong head_dim is named as such, before
            // a projection of the wrong shape is.
            w.get(first, &[hd]).with_context(|| {
                format!(
                    "the weights' head size differs from head_dim {hd} (config.json's `head_dim`, \
                     or hidden_size / num_attention_heads without it)"
                )
            })?;
        }
        let norm = |i: usize, which: &str| -> Result<Norm> {
            Ok(Norm::Rms {
                alpha: w.get(&format!("model.layers.{i}.self_attn.{which}.weight"), &[hd])?,
                eps,
            })
        };
        let head_norms = (0..cfg.num_layers)
            .map(|i| Ok((norm(i, "q_norm")?, norm(i, "k_norm")?)))
            .collect::<Result<Vec<_>>>()?;
        let mut net = load_layout(cfg, w, Norms::Llama)?;
        for (block, (q, k)) in net.blocks.iter_mut().zip(head_norms) {
            block.attn.q_norm = Some(q);
            block.attn.k_norm = Some(k);
        }
        Ok(net)
    }
}

#[cfg(test)]
mod tests {
    use crate::model::config::ModelConfig;
    use serde_json::json;

    fn config(head_dim: Option<usize>, hidden: usize) -> anyhow::Result<ModelConfig> {
        let mut v = json!({
            "model_type": "qwen3", "vocab_size": 10, "hidden_size": hidden, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 16
        });
        if let Some(d) = head_dim {
            v["head_dim"] = d.into();
        }
        ModelConfig::from_json(&v)
    }

    #[test]
    fn head_dim_is_explicit_or_inferred_when_it_divides() {
        let c = config(Some(32), 64).unwrap();
        assert_eq!((c.head_dim, c.family.name()), (32, "qwen3"));
        assert!((c.attn_scale - 32f64.powf(-0.5)).abs() < 1e-12);
        assert!(!c.qkv_bias && !c.o_bias && !c.tie_word_embeddings);
        assert_eq!(config(None, 64).unwrap().head_dim, 16);
        let err = config(None, 66).unwrap_err().to_string();
        assert!(
            err.contains("`head_dim` is missing and cannot be inferred")
                && err.contains("hidden_size 66"),
            "{err}"
        );
    }

    #[test]
    fn sizes_go_through_the_shared_range_checks() {
        let err = |v: serde_json::Value| ModelConfig::from_json(&v).unwrap_err().to_string();
        let base = json!({
            "model_type": "qwen3", "vocab_size": 10, "hidden_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 16,
            "head_dim": 32
        });
        let with = |key: &str, x: serde_json::Value| {
            let mut v = base.clone();
            v[key] = x;
            v
        };
        let e = err(with("head_dim", json!(1u64 << 40)));
        assert!(
            e.contains("`head_dim`") && e.contains("out of range"),
            "{e}"
        );
        let e = err(with("head_dim", json!(0)));
        assert!(
            e.contains("`head_dim`") && e.contains("out of range"),
            "{e}"
        );
        let e = err(with("num_hidden_layers", json!(0)));
        assert!(e.contains("`num_hidden_layers`"), "{e}");
        let e = err(with("num_attention_heads", json!(0)));
        assert!(e.contains("attention heads"), "{e}");
        let e = err(with("max_position_embeddings", json!(1u64 << 24)));
        assert!(e.contains("rotary"), "{e}");
        let e = err(with("rope_theta", json!(-1.0)));
        assert!(e.contains("rope_theta"), "{e}");
    }
}
