//! The engine benchmark: "forward to layer L + SAE encode" on a Qwen2.5-0.5B-shaped
//! random-weight Qwen2, built in memory from a config (nothing downloaded or committed).

use crate::capture::Capture;
use crate::hooks::{HookPoint, HookSite};
use crate::model::config::ModelConfig;
use crate::model::files::RandomWeights;
use crate::model::{ForwardOpts, Transformer};
use crate::sae::{Activation, Sae, SaeFormat, SaeMeta};
use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use std::time::Instant;

/// What to measure.
pub struct BenchConfig {
    pub layer: usize,
    pub batch: usize,
    pub seq: usize,
    pub width: usize,
    pub k: usize,
    pub iters: usize,
    pub dtype: DType,
    pub device: Device,
}

/// Timings, averaged over the measured iterations (one warm-up excluded).
pub struct BenchReport {
    pub tokens_per_s: f64,
    pub seconds_per_batch: f64,
    pub forward_s: f64,
    pub encode_s: f64,
}

/// The Qwen2.5-0.5B configuration.
pub fn qwen25_05b_config() -> ModelConfig {
    ModelConfig::from_json(&serde_json::json!({
        "model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "num_hidden_layers": 24,
        "num_attention_heads": 14, "num_key_value_heads": 2, "intermediate_size": 4864,
        "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "tie_word_embeddings": true, "hidden_act": "silu"
    }))
    .expect("valid built-in config")
}

/// Runs the benchmark.
pub fn run_engine_bench(c: &BenchConfig) -> Result<BenchReport> {
    let cfg = qwen25_05b_config();
    let d = cfg.hidden_size;
    let src = RandomWeights {
        dtype: c.dtype,
        device: c.device.clone(),
        std: 0.02,
    };
    let net = Transformer::load(cfg, &src)?;
    let hook = HookPoint::new(c.layer, HookSite::MlpOut);
    let sae = Sae {
        meta: SaeMeta {
            path: "random".into(),
            format: SaeFormat::SaeLens,
            d_in: d,
            d_sae: c.width,
            hook,
            model_name: None,
        },
        activation: Activation::TopK(c.k),
        w_enc: Tensor::randn(0f32, 0.05, (d, c.width), &c.device)?,
        b_enc: Tensor::zeros(c.width, DType::F32, &c.device)?,
        w_dec: None,
        b_dec: None,
        input_bias: Some(Tensor::zeros(d, DType::F32, &c.device)?),
        threshold: None,
        input_scale: 1.0,
    };
    let ids: Vec<u32> = (0..c.batch * c.seq)
        .map(|i| ((i * 7919) % 151936) as u32)
        .collect();
    let input = Tensor::from_vec(ids, (c.batch, c.seq), &c.device)?;
    let mut total = (0.0, 0.0);
    for it in 0..=c.iters {
        let t0 = Instant::now();
        let mut cap = Capture::new([hook]);
        net.forward(
            &input,
            None,
            None,
            &mut cap,
            ForwardOpts {
                stop_after_layer: Some(c.layer),
            },
        )?;
        let x = cap.acts.remove(&hook).expect("hook captured");
        let x = x.reshape((c.batch * c.seq, d))?;
        c.device.synchronize()?;
        let t1 = Instant::now();
        let f = sae.encode(&x)?;
        c.device.synchronize()?;
        drop(f);
        let t2 = Instant::now();
        if it > 0 {
            total.0 += (t1 - t0).as_secs_f64();
            total.1 += (t2 - t1).as_secs_f64();
        }
    }
    let n = c.iters.max(1) as f64;
    let per_batch = (total.0 + total.1) / n;
    Ok(BenchReport {
        tokens_per_s: (c.batch * c.seq) as f64 / per_batch,
        seconds_per_batch: per_batch,
        forward_s: total.0 / n,
        encode_s: total.1 / n,
    })
}
