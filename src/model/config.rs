//! `config.json` of a Hugging Face causal LM, normalised into one description that the
//! forward pass in [`super::transformer`] understands for every supported family.
//!
//! The keys every family shares are read here ([`ModelConfig::read`]); what a family leaves
//! implicit or reads differently is in its file under [`super::family`].

use super::family::{self, Family};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::Path;

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
    /// The family that read the config and builds the network.
    pub family: &'static dyn Family,
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
    /// The token embeddings are multiplied by this (Gemma2: `√hidden_size`, applied in the
    /// compute dtype).
    pub embed_scale: Option<f64>,
    /// Per layer: the sliding attention window, if the layer uses one.
    pub sliding_window: Vec<Option<usize>>,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    /// The dtype the weights were saved in, as the config states it.
    pub torch_dtype: Option<String>,
}

/// What a family's `config.json` leaves implicit: the defaults of the shared reader.
pub struct ConfigDefaults {
    /// The keys of the MLP width, tried in order.
    pub mlp_width_keys: &'static [&'static str],
    /// Without any of those keys: this many times `hidden_size` (`None`: the first key is
    /// required).
    pub mlp_width_ratio: Option<usize>,
    /// The MLP's activation when `config.json` names none.
    pub act: &'static str,
    /// Whether the unembedding is the embedding when `tie_word_embeddings` is absent.
    pub tie_word_embeddings: bool,
    /// The sliding window of each layer when `layer_types` does not say: from the config,
    /// its `sliding_window` and the number of layers.
    pub sliding_windows: fn(&Value, Option<usize>, usize) -> Vec<Option<usize>>,
}

/// No layer slides.
pub fn no_sliding_windows(_: &Value, _: Option<usize>, n: usize) -> Vec<Option<usize>> {
    vec![None; n]
}

// Bounds on the sizes in `config.json`, far above any real model, so that a damaged file is
// an error instead of an attempt to allocate more memory than exists.
const MAX_VOCAB: usize = 1 << 24;
const MAX_WIDTH: usize = 1 << 20;
const MAX_MLP_WIDTH: usize = 1 << 24;
const MAX_LAYERS: usize = 1 << 14;
const MAX_HEADS: usize = 1 << 16;
const MAX_POSITIONS: usize = 1 << 24;
/// Positions × head_dim of the rotary tables built at load time.
const MAX_ROTARY_TABLE: usize = 1 << 28;

/// The first of `keys` that `v` has (the first of them when it has none).
fn present<'a>(v: &Value, keys: &[&'a str]) -> &'a str {
    keys.iter()
        .copied()
        .find(|k| v.get(*k).is_some())
        .unwrap_or(keys[0])
}

/// `x` when it is in `1..=max`, else an error naming `key`.
fn in_range(key: &str, x: usize, max: usize) -> Result<usize> {
    if x == 0 || x > max {
        bail!("`{key}` = {x} is out of range (1 to {max})");
    }
    Ok(x)
}

pub(crate) fn get_usize(v: &Value, keys: &[&str]) -> Option<usize> {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_u64))
        .map(|x| x as usize)
}

pub(crate) fn get_f64(v: &Value, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_f64))
}

pub(crate) fn get_bool(v: &Value, key: &str) -> Option<bool> {
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

    /// Normalises a parsed `config.json`, by the family its `model_type` names.
    pub fn from_json(v: &Value) -> Result<Self> {
        let model_type = v
            .get("model_type")
            .and_then(Value::as_str)
            .context("`model_type` is missing")?;
        let Some(family) = family::by_model_type(model_type) else {
            bail!(
                "unknown model_type `{model_type}`: supported architectures are {}",
                family::names()
            );
        };
        family.config(v)
    }

    /// Reads the keys every family shares, with `family`'s defaults for what the config
    /// leaves out. The family-specific settings (biases, attention scale, soft-capping,
    /// embedding scale) start neutral: no biases, `1/√head_dim`, none, none.
    pub fn read(v: &Value, family: &'static dyn Family, defaults: &ConfigDefaults) -> Result<Self> {
        let need = |keys: &[&str]| -> Result<usize> {
            get_usize(v, keys).with_context(|| format!("`{}` is missing", keys[0]))
        };
        // The value of the first of `keys` present, which must be in `1..=max`.
        let sized = |keys: &[&str], max: usize| -> Result<usize> {
            in_range(present(v, keys), need(keys)?, max)
        };
        let vocab_size = sized(&["vocab_size"], MAX_VOCAB)?;
        let hidden_size = sized(&["hidden_size", "n_embd"], MAX_WIDTH)?;
        let num_layers = sized(&["num_hidden_layers", "n_layer"], MAX_LAYERS)?;
        let num_heads = need(&["num_attention_heads", "n_head"])?;
        let num_kv_heads = get_usize(v, &["num_key_value_heads"]).unwrap_or(num_heads);
        if num_heads == 0 || num_kv_heads == 0 || num_heads % num_kv_heads != 0 {
            bail!("{num_heads} attention heads cannot be shared by {num_kv_heads} key/value heads");
        }
        in_range(
            present(v, &["num_attention_heads", "n_head"]),
            num_heads,
            MAX_HEADS,
        )?;
        let head_dim = match get_usize(v, &["head_dim"]) {
            Some(d) => in_range("head_dim", d, MAX_WIDTH)?,
            None if hidden_size < num_heads => {
                bail!("hidden_size {hidden_size} cannot be split into {num_heads} attention heads")
            }
            None => hidden_size / num_heads,
        };
        let intermediate_size = match defaults.mlp_width_ratio {
            Some(r) => get_usize(v, defaults.mlp_width_keys).unwrap_or(r * hidden_size),
            None => need(defaults.mlp_width_keys)?,
        };
        in_range(
            present(v, defaults.mlp_width_keys),
            intermediate_size,
            MAX_MLP_WIDTH,
        )?;
        let position_keys = ["max_position_embeddings", "n_positions", "n_ctx"];
        let max_position_embeddings = in_range(
            present(v, &position_keys),
            get_usize(v, &position_keys).unwrap_or(2048),
            MAX_POSITIONS,
        )?;
        if max_position_embeddings * head_dim > MAX_ROTARY_TABLE {
            bail!(
                "max_position_embeddings × head_dim = {max_position_embeddings} × {head_dim} \
                 is more than the {MAX_ROTARY_TABLE} rotary angles this program builds tables for"
            );
        }
        let norm_eps =
            get_f64(v, &["rms_norm_eps", "layer_norm_epsilon", "layer_norm_eps"]).unwrap_or(1e-6);
        if norm_eps < 0.0 {
            bail!("the norm epsilon {norm_eps} is negative");
        }
        let act_name = v
            .get("hidden_activation")
            .or_else(|| v.get("hidden_act"))
            .or_else(|| v.get("activation_function"))
            .and_then(Value::as_str)
            .unwrap_or(defaults.act);
        let act = Act::parse(act_name)?;
        let rope_theta = get_f64(v, &["rope_theta"])
            .or_else(|| {
                v.get("rope_parameters")
                    .and_then(|r| get_f64(r, &["rope_theta"]))
            })
            .unwrap_or(10000.0);
        if rope_theta <= 0.0 {
            bail!("`rope_theta` = {rope_theta} must be positive");
        }
        // transformers ≥ 5 writes `rope_parameters` (type, theta and scaling together).
        let rope_scaling = parse_rope_scaling(
            v.get("rope_scaling")
                .filter(|r| !r.is_null())
                .or(v.get("rope_parameters")),
        )?;
        let tie_word_embeddings =
            get_bool(v, "tie_word_embeddings").unwrap_or(defaults.tie_word_embeddings);
        let sliding_window = sliding_windows(v, defaults, num_layers)?;
        Ok(Self {
            family,
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
            qkv_bias: false,
            o_bias: false,
            mlp_bias: false,
            tie_word_embeddings,
            attn_scale: 1.0 / (head_dim as f64).sqrt(),
            attn_softcap: None,
            final_softcap: None,
            embed_scale: None,
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
    let positive = |key: &str| -> Result<f64> {
        let x = get_f64(v, &[key]).with_context(|| format!("rope_scaling: `{key}` is missing"))?;
        if x <= 0.0 {
            bail!("rope_scaling: `{key}` = {x} must be positive");
        }
        Ok(x)
    };
    if factor <= 0.0 && kind != "default" {
        bail!("rope_scaling: `factor` = {factor} must be positive");
    }
    Ok(match kind {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear { factor },
        "llama3" => RopeScaling::Llama3 {
            factor,
            low_freq_factor: positive("low_freq_factor")?,
            high_freq_factor: positive("high_freq_factor")?,
            original_max_position_embeddings: positive("original_max_position_embeddings")?,
        },
        other => bail!("unsupported rope_scaling type `{other}` (supported: linear, llama3)"),
    })
}

fn sliding_windows(v: &Value, defaults: &ConfigDefaults, n: usize) -> Result<Vec<Option<usize>>> {
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
    Ok((defaults.sliding_windows)(v, window, n))
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
        assert_eq!(
            err,
            "unknown model_type `mamba`: supported architectures are qwen2, qwen3, llama, gemma2 and gpt2"
        );
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
