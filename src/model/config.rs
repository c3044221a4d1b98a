//! `config.json` of a Hugging Face causal LM, normalised into one description that the
//! forward pass in [`super::transformer`] understands for every supported architecture.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::Path;

/// The supported model families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Qwen2,
    Llama,
    Gemma2,
    Gpt2,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Qwen2 => "qwen2",
            Arch::Llama => "llama",
            Arch::Gemma2 => "gemma2",
            Arch::Gpt2 => "gpt2",
        }
    }
}

/// The MLP's non-linearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Silu,
    /// GELU with the tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// Exact GELU (erf).
    Gelu,
    Relu,
}

impl Act {
    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "silu" | "swish" => Act::Silu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Act::GeluTanh,
            "gelu" => Act::Gelu,
            "relu" => Act::Relu,
            other => bail!("unsupported activation function `{other}`"),
        })
    }
}

/// How rotary position embeddings are scaled (`rope_scaling`).
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by `factor`.
    Linear {
        factor: f64,
    },
    /// Llama 3.x frequency-dependent scaling.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
}

/// Everything the forward pass needs to know about a model.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub arch: Arch,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub norm_eps: f64,
    pub act: Act,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    /// Bias on the q/k/v projections.
    pub qkv_bias: bool,
    /// Bias on the attention output projection.
    pub o_bias: bool,
    /// Bias on the MLP projections.
    pub mlp_bias: bool,
    pub tie_word_embeddings: bool,
    /// Attention scores are multiplied by this (1/sqrt(head_dim) unless the model says otherwise).
    pub attn_scale: f64,
    /// Gemma2: `tanh(x / c) * c` on attention scores.
    pub attn_softcap: Option<f64>,
    /// Gemma2: `tanh(x / c) * c` on the final logits.
    pub final_softcap: Option<f64>,
    /// Per layer: the sliding attention window, if the layer uses one.
    pub sliding_window: Vec<Option<usize>>,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    /// The dtype the weights were saved in, as the config states it.
    pub torch_dtype: Option<String>,
}

fn get_usize(v: &Value, keys: &[&str]) -> Option<usize> {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_u64))
        .map(|x| x as usize)
}

fn get_f64(v: &Value, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_f64))
}

fn get_bool(v: &Value, key: &str) -> Option<bool> {
    v.get(key).and_then(Value::as_bool)
}

fn token_ids(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|x| vec![x as u32]).unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_u64())
            .map(|x| x as u32)
            .collect(),
        _ => vec![],
    }
}

impl ModelConfig {
    /// Reads and normalises `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read model config {}", path.display()))?;
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        Self::from_json(&v).with_context(|| format!("unsupported model config {}", path.display()))
    }

    /// Normalises a parsed `config.json`.
    pub fn from_json(v: &Value) -> Result<Self> {
        let model_type = v
            .get("model_type")
            .and_then(Value::as_str)
            .context("`model_type` is missing")?;
        let arch = match model_type {
            "qwen2" => Arch::Qwen2,
            "llama" => Arch::Llama,
            "gemma2" => Arch::Gemma2,
            "gpt2" => Arch::Gpt2,
            other => bail!(
                "unknown model_type `{other}`: supported architectures are qwen2, llama, gemma2 and gpt2"
            ),
        };
        let need = |keys: &[&str]| -> Result<usize> {
            get_usize(v, keys).with_context(|| format!("`{}` is missing", keys[0]))
        };
        let vocab_size = need(&["vocab_size"])?;
        let hidden_size = need(&["hidden_size", "n_embd"])?;
        let num_layers = need(&["num_hidden_layers", "n_layer"])?;
        let num_heads = need(&["num_attention_heads", "n_head"])?;
        let num_kv_heads = get_usize(v, &["num_key_value_heads"]).unwrap_or(num_heads);
        if num_heads == 0 || num_kv_heads == 0 || num_heads % num_kv_heads != 0 {
            bail!("{num_heads} attention heads cannot be shared by {num_kv_heads} key/value heads");
        }
        let head_dim = get_usize(v, &["head_dim"]).unwrap_or(hidden_size / num_heads);
        let intermediate_size = match arch {
            Arch::Gpt2 => get_usize(v, &["n_inner"]).unwrap_or(4 * hidden_size),
            _ => need(&["intermediate_size"])?,
        };
        let max_position_embeddings =
            get_usize(v, &["max_position_embeddings", "n_positions", "n_ctx"]).unwrap_or(2048);
        let norm_eps =
            get_f64(v, &["rms_norm_eps", "layer_norm_epsilon", "layer_norm_eps"]).unwrap_or(1e-6);
        let act_name = v
            .get("hidden_activation")
            .or_else(|| v.get("hidden_act"))
            .or_else(|| v.get("activation_function"))
            .and_then(Value::as_str)
            .unwrap_or(match arch {
                Arch::Gpt2 => "gelu_new",
                Arch::Gemma2 => "gelu_pytorch_tanh",
                _ => "silu",
            });
        let act = Act::parse(act_name)?;
        let rope_theta = get_f64(v, &["rope_theta"])
            .or_else(|| {
                v.get("rope_parameters")
                    .and_then(|r| get_f64(r, &["rope_theta"]))
            })
            .unwrap_or(10000.0);
        // transformers ≥ 5 writes `rope_parameters` (type, theta and scaling together).
        let rope_scaling = parse_rope_scaling(
            v.get("rope_scaling")
                .filter(|r| !r.is_null())
                .or(v.get("rope_parameters")),
        )?;
        let tie_default = matches!(arch, Arch::Gemma2 | Arch::Gpt2);
        let tie_word_embeddings = get_bool(v, "tie_word_embeddings").unwrap_or(tie_default);
        let (qkv_bias, o_bias, mlp_bias) = match arch {
            Arch::Qwen2 => (true, false, false),
            Arch::Llama => {
                let b = get_bool(v, "attention_bias").unwrap_or(false);
                (b, b, get_bool(v, "mlp_bias").unwrap_or(false))
            }
            Arch::Gemma2 => {
                let b = get_bool(v, "attention_bias").unwrap_or(false);
                (b, b, false)
            }
            Arch::Gpt2 => (true, true, true),
        };
        let attn_scale = match arch {
            Arch::Gemma2 => {
                let s = get_f64(v, &["query_pre_attn_scalar"]).unwrap_or(head_dim as f64);
                1.0 / s.sqrt()
            }
            Arch::Gpt2 if get_bool(v, "scale_attn_weights") == Some(false) => 1.0,
            _ => 1.0 / (head_dim as f64).sqrt(),
        };
        let softcap = |k: &str| get_f64(v, &[k]).filter(|c| *c > 0.0);
        let (attn_softcap, final_softcap) = match arch {
            Arch::Gemma2 => (
                softcap("attn_logit_softcapping"),
                softcap("final_logit_softcapping"),
            ),
            _ => (None, None),
        };
        let sliding_window = sliding_windows(v, arch, num_layers)?;
        Ok(Self {
            arch,
            vocab_size,
            hidden_size,
            num_layers,
            num_heads,
            num_kv_heads,
            head_dim,
            intermediate_size,
            max_position_embeddings,
            norm_eps,
            act,
            rope_theta,
            rope_scaling,
            qkv_bias,
            o_bias,
            mlp_bias,
            tie_word_embeddings,
            attn_scale,
            attn_softcap,
            final_softcap,
            sliding_window,
            bos_token_id: token_ids(v.get("bos_token_id")).first().copied(),
            eos_token_ids: token_ids(v.get("eos_token_id")),
            torch_dtype: v
                .get("torch_dtype")
                .or_else(|| v.get("dtype"))
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// The width of the residual stream (every hook point of these models has this width).
    pub fn d_model(&self) -> usize {
        self.hidden_size
    }
}

fn parse_rope_scaling(v: Option<&Value>) -> Result<RopeScaling> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(RopeScaling::None);
    };
    let kind = v
        .get("rope_type")
        .or_else(|| v.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let factor = get_f64(v, &["factor"]).unwrap_or(1.0);
    Ok(match kind {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear { factor },
        "llama3" => RopeScaling::Llama3 {
            factor,
            low_freq_factor: get_f64(v, &["low_freq_factor"])
                .context("rope_scaling: `low_freq_factor` is missing")?,
            high_freq_factor: get_f64(v, &["high_freq_factor"])
                .context("rope_scaling: `high_freq_factor` is missing")?,
            original_max_position_embeddings: get_f64(v, &["original_max_position_embeddings"])
                .context("rope_scaling: `original_max_position_embeddings` is missing")?,
        },
        other => bail!("unsupported rope_scaling type `{other}` (supported: linear, llama3)"),
    })
}

fn sliding_windows(v: &Value, arch: Arch, n: usize) -> Result<Vec<Option<usize>>> {
    let window = get_usize(v, &["sliding_window"]);
    if let Some(types) = v.get("layer_types").and_then(Value::as_array) {
        if types.len() != n {
            bail!("`layer_types` has {} entries for {n} layers", types.len());
        }
        return types
            .iter()
            .map(|t| match t.as_str() {
                Some("sliding_attention") => window
                    .map(Some)
                    .context("`layer_types` names sliding layers but `sliding_window` is missing"),
                Some("full_attention") => Ok(None),
                other => bail!("unsupported layer type {other:?}"),
            })
            .collect();
    }
    Ok(match arch {
        // Gemma2 alternates: even layers slide, odd layers attend globally.
        Arch::Gemma2 => (0..n)
            .map(|i| if i % 2 == 0 { window } else { None })
            .collect(),
        Arch::Qwen2 if get_bool(v, "use_sliding_window") == Some(true) => {
            let from = get_usize(v, &["max_window_layers"]).unwrap_or(n);
            (0..n)
                .map(|i| if i >= from { window } else { None })
                .collect()
        }
        _ => vec![None; n],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_model_type_is_named() {
        let err = ModelConfig::from_json(&json!({"model_type": "mamba"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mamba") && err.contains("qwen2"), "{err}");
    }

    #[test]
    fn gemma2_defaults_alternate_sliding_layers() {
        let c = ModelConfig::from_json(&json!({
            "model_type": "gemma2", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 4,
            "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4, "intermediate_size": 16,
            "sliding_window": 3, "query_pre_attn_scalar": 16
        }))
        .unwrap();
        assert_eq!(c.sliding_window, vec![Some(3), None, Some(3), None]);
        assert!((c.attn_scale - 0.25).abs() < 1e-12);
    }

    #[test]
    fn unsupported_rope_scaling_is_an_error() {
        let err = ModelConfig::from_json(&json!({
            "model_type": "llama", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
            "num_attention_heads": 2, "intermediate_size": 16, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}
        }))
        .unwrap_err();
        assert!(format!("{err:#}").contains("yarn"));
    }
}
