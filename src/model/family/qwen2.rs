//! Qwen2 and Qwen2.5: Llama's layout with biases on the q/k/v projections, and optional
//! sliding windows on the upper layers.

use super::llama::{load_layout, Norms, GATED_DEFAULTS};
use super::Family;
use crate::model::config::{get_bool, get_usize, ConfigDefaults, ModelConfig};
use crate::model::files::WeightSource;
use crate::model::transformer::Transformer;
use anyhow::Result;
use serde_json::Value;

/// Qwen2 and Qwen2.5 (`model_type: qwen2`).
pub struct Qwen2;

impl Family for Qwen2 {
    fn model_types(&self) -> &'static [&'static str] {
        &["qwen2"]
    }

    fn config(&self, v: &Value) -> Result<ModelConfig> {
        let defaults = ConfigDefaults {
            sliding_windows,
            ..GATED_DEFAULTS
        };
        let mut c = ModelConfig::read(v, &Qwen2, &defaults)?;
        c.qkv_bias = true;
        Ok(c)
    }

    fn load(&self, cfg: ModelConfig, w: &dyn WeightSource) -> Result<Transformer> {
        load_layout(cfg, w, Norms::Llama)
    }
}

/// With `use_sliding_window`, the layers from `max_window_layers` on slide.
pub(super) fn sliding_windows(v: &Value, window: Option<usize>, n: usize) -> Vec<Option<usize>> {
    if get_bool(v, "use_sliding_window") != Some(true) {
        return vec![None; n];
    }
    let from = get_usize(v, &["max_window_layers"]).unwrap_or(n);
    (0..n)
        .map(|i| if i >= from { window } else { None })
        .collect()
}
