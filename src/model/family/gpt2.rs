//! GPT-2: LayerNorm, learned positions, a plain GELU MLP, biases everywhere, and Conv1D
//! weights stored `[in, out]` with q, k and v in one `c_attn`.

use super::Family;
use crate::model::config::{get_bool, no_sliding_windows, ConfigDefaults, ModelConfig};
use crate::model::files::WeightSource;
use crate::model::matmul::Matrix;
use crate::model::transformer::{Attention, Block, Linear, LinearWeight, Mlp, Norm, Transformer};
use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use serde_json::Value;

/// GPT-2 (`model_type: gpt2`).
pub struct Gpt2;

impl Family for Gpt2 {
    fn model_types(&self) -> &'static [&'static str] {
        &["gpt2"]
    }

    fn config(&self, v: &Value) -> Result<ModelConfig> {
        let defaults = ConfigDefaults {
            mlp_width_keys: &["n_inner"],
            mlp_width_ratio: Some(4),
            act: "gelu_new",
            tie_word_embeddings: true,
            sliding_windows: no_sliding_windows,
        };
        let mut c = ModelConfig::read(v, &Gpt2, &defaults)?;
        (c.qkv_bias, c.o_bias, c.mlp_bias) = (true, true, true);
        if get_bool(v, "scale_attn_weights") == Some(false) {
            c.attn_scale = 1.0;
        }
        Ok(c)
    }

    fn load(&self, cfg: ModelConfig, src: &dyn WeightSource) -> Result<Transformer> {
        // Files saved from GPT2LMHeadModel prefix every name with `transformer.`; the hub's
        // original file (saved from GPT2Model) does not.
        let prefix = if src.contains("transformer.wte.weight") {
            "transformer."
        } else {
            ""
        };
        let w = Prefixed { src, prefix };
        let d = cfg.hidden_size;
        let ff = cfg.intermediate_size;
        let ln = |name: &str| -> Result<Norm> {
            Ok(Norm::Layer {
                w: w.get(&format!("{name}.weight"), &[d])?,
                b: w.get(&format!("{name}.bias"), &[d])?,
                eps: cfg.norm_eps,
            })
        };
        // GPT-2's Conv1D stores weights as [in, out]: already the layout Linear keeps.
        let conv = |name: &str, inp: usize, out: usize| -> Result<Linear> {
            Ok(Linear::from_in_out(
                w.get(&format!("{name}.weight"), &[inp, out])?,
                Some(w.get(&format!("{name}.bias"), &[out])?),
            ))
        };
        let embed = w.get("wte.weight", &[cfg.vocab_size, d])?;
        let pos_embed = w.get("wpe.weight", &[cfg.max_position_embeddings, d])?;
        let mut blocks = Vec::with_capacity(cfg.num_layers);
        for i in 0..cfg.num_layers {
            let p = format!("h.{i}");
            let qkv = conv(&format!("{p}.attn.c_attn"), d, 3 * d)?;
            let part = |j: usize| -> Result<Linear> {
                let LinearWeight::InOut(w) = &qkv.w else {
                    unreachable!("Conv1D weights are [in, out]")
                };
                Ok(Linear::from_in_out(
                    w.narrow(1, j * d, d)?.contiguous()?,
                    Some(qkv.b.as_ref().unwrap().narrow(0, j * d, d)?.contiguous()?),
                ))
            };
            blocks.push(Block {
                attn: Attention {
                    q: part(0)?,
                    k: part(1)?,
                    v: part(2)?,
                    o: conv(&format!("{p}.attn.c_proj"), d, d)?,
                    q_norm: None,
                    k_norm: None,
                },
                mlp: Mlp::Plain {
                    fc: conv(&format!("{p}.mlp.c_fc"), d, ff)?,
                    proj: conv(&format!("{p}.mlp.c_proj"), ff, d)?,
                },
                pre_attn: ln(&format!("{p}.ln_1"))?,
                pre_mlp: ln(&format!("{p}.ln_2"))?,
                post_attn: None,
                post_mlp: None,
            });
        }
        let final_norm = ln("ln_f")?;
        let embed = Matrix::Tensor(embed);
        let lm_head = embed.clone();
        Ok(Transformer {
            embed,
            pos_embed: Some(pos_embed),
            blocks,
            final_norm,
            lm_head,
            rope: None,
            dtype: w.dtype(),
            device: w.device().clone(),
            cfg,
        })
    }
}

/// A weight source whose names all carry a prefix.
struct Prefixed<'a> {
    src: &'a dyn WeightSource,
    prefix: &'a str,
}

impl Prefixed<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.src.get(&format!("{}{name}", self.prefix), shape)
    }
    fn dtype(&self) -> DType {
        self.src.dtype()
    }
    fn device(&self) -> &Device {
        self.src.device()
    }
}
