//! The sample workspace's language model: a byte-level BPE tokenizer and a small Qwen2 causal
//! LM, both trained here (on the CPU, with candle's autograd) on the generated corpus, and saved
//! as an ordinary Hugging Face folder (`config.json`, `model.safetensors`, `tokenizer.json`,
//! `tokenizer_config.json` with a ChatML `chat_template`) that this engine and `transformers`
//! both load.
//!
//! The training forward pass below is written with differentiable candle ops only; a test checks
//! that it gives the same logits as the inference engine (`crate::model`) on the saved folder,
//! and the engine itself is checked against `transformers`.

use super::corpus::SampleDoc;
use crate::model::tokenizer::{render_chat_template, ChatMessage};
use anyhow::{anyhow, bail, Context, Result};
use candle_core::{backprop::GradStore, DType, Device, Tensor, Var, D};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// The special tokens (ids 0, 1, 2), as in Qwen2.
pub const SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// The system prompt the chat template uses when a conversation has none.
pub const DEFAULT_SYSTEM: &str = "You are a helpful assistant.";

/// The ChatML template in the Qwen2.5 style (without tools) that the sample model's
/// `tokenizer_config.json` carries: `assets/chat_templates/chatml.jinja`.
pub fn chat_template() -> &'static str {
    include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/chat_templates/chatml.jinja"
    ))
    .trim_end_matches('\n')
}

/// The text a document contributes to LM training: chat documents in ChatML (rendered by
/// [`chat_template`]), plain documents followed by `<|endoftext|>`.
pub fn training_text(doc: &SampleDoc) -> String {
    match &doc.messages {
        Some(turns) => {
            let mut messages: Vec<ChatMessage> = turns
                .iter()
                .map(|t| ChatMessage::new(&t.role, &t.content))
                .collect();
            if messages.is_empty() {
                // The template needs a first message: an empty conversation is its system turn.
                messages.push(ChatMessage::new("system", DEFAULT_SYSTEM));
            }
            render_chat_template(chat_template(), &messages, false, "", "")
                .expect("the ChatML template renders any list of messages")
        }
        None => format!("{}<|endoftext|>", doc.text),
    }
}

/// Trains a byte-level BPE tokenizer (GPT-2 / Qwen2 style pre-tokenization, ChatML special
/// tokens) on `texts` and writes `tokenizer.json` + `tokenizer_config.json` into `dir`.
pub fn train_tokenizer(texts: &[String], vocab_size: usize, dir: &Path) -> Result<()> {
    use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::{AddedToken, Tokenizer};
    if vocab_size < 300 {
        bail!(
            "a byte-level BPE vocabulary needs more than 256 + {} tokens",
            SPECIAL_TOKENS.len()
        );
    }
    let mut trainer: tokenizers::models::TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(
            SPECIAL_TOKENS
                .iter()
                .map(|t| AddedToken::from(*t, true))
                .collect(),
        )
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    let mut tok = Tokenizer::new(BPE::default());
    tok.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
    tok.with_decoder(Some(ByteLevel::default()));
    tok.train(&mut trainer, texts.iter())
        .map_err(|e| anyhow!("tokenizer training failed: {e}"))?;
    tok.add_special_tokens(SPECIAL_TOKENS.iter().map(|t| AddedToken::from(*t, true)))
        .map_err(|e| anyhow!("cannot add the special tokens: {e}"))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = tok
        .to_string(true)
        .map_err(|e| anyhow!("cannot serialise the tokenizer: {e}"))?;
    crate::fsutil::write_atomic(&dir.join("tokenizer.json"), json.as_bytes())?;
    let added: serde_json::Map<String, serde_json::Value> = SPECIAL_TOKENS
        .iter()
        .map(|t| {
            let id = tok.token_to_id(t).expect("special tokens were added");
            (
                id.to_string(),
                serde_json::json!({"content": t, "lstrip": false, "normalized": false,
                    "rstrip": false, "single_word": false, "special": true}),
            )
        })
        .collect();
    let cfg = serde_json::json!({
        "add_bos_token": false, "add_prefix_space": false, "added_tokens_decoder": added,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"], "bos_token": null,
        "chat_template": chat_template(), "clean_up_tokenization_spaces": false,
        "eos_token": "<|im_end|>", "errors": "replace", "model_max_length": 1024,
        "pad_token": "<|endoftext|>", "split_special_tokens": false,
        "tokenizer_class": "PreTrainedTokenizerFast", "unk_token": null,
    });
    crate::fsutil::write_atomic(
        &dir.join("tokenizer_config.json"),
        serde_json::to_string_pretty(&cfg)?.as_bytes(),
    )
}

/// The shape of the sample LM (a Qwen2: GQA attention with q/k/v biases, RoPE, SwiGLU MLP,
/// RMSNorm, tied embeddings).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LmConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub rope_theta: f64,
    pub rms_norm_eps: f64,
}

impl LmConfig {
    fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// `config.json` as `transformers` writes it for a Qwen2ForCausalLM.
    pub fn hf_config(&self, bos: u32, eos: u32, pad: u32) -> serde_json::Value {
        serde_json::json!({
            "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0,
            "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad, "hidden_act": "silu",
            "hidden_size": self.hidden_size, "initializer_range": 0.02,
            "intermediate_size": self.intermediate_size,
            "max_position_embeddings": self.max_position_embeddings,
            "max_window_layers": self.num_hidden_layers, "model_type": "qwen2",
            "num_attention_heads": self.num_attention_heads,
            "num_hidden_layers": self.num_hidden_layers,
            "num_key_value_heads": self.num_key_value_heads, "rms_norm_eps": self.rms_norm_eps,
            "rope_scaling": null, "rope_theta": self.rope_theta, "sliding_window": null,
            "tie_word_embeddings": true, "torch_dtype": "float32", "use_cache": true,
            "use_sliding_window": false, "vocab_size": self.vocab_size,
        })
    }

    /// Number of trainable parameters.
    pub fn parameters(&self) -> usize {
        let (d, kv) = (self.hidden_size, self.num_key_value_heads * self.head_dim());
        let attn = d * d + d + 2 * (d * kv + kv) + d * d;
        let layer = attn + 3 * d * self.intermediate_size + 2 * d;
        self.vocab_size * d + self.num_hidden_layers * layer + d
    }
}

/// A Qwen2 whose weights are candle `Var`s, named as in Hugging Face checkpoints.
pub struct TinyLm {
    pub cfg: LmConfig,
    vars: Vec<(String, Var)>,
    index: HashMap<String, usize>,
}

/// Seeded N(0, 1) samples (Box–Muller), independent of any global RNG.
fn normals(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1: f64 = rng.random::<f64>().max(1e-12);
            let u2: f64 = rng.random();
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
        })
        .collect()
}

impl TinyLm {
    /// Fresh weights: N(0, 0.02) matrices (output projections scaled by 1/√(2·layers)), zero
    /// biases, unit norms.
    pub fn new(cfg: LmConfig, seed: u64, dev: &Device) -> Result<Self> {
        if !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
            || !cfg
                .num_attention_heads
                .is_multiple_of(cfg.num_key_value_heads)
            || !cfg.head_dim().is_multiple_of(2)
        {
            bail!("inconsistent shape: {cfg:?}");
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let (d, kv, i) = (
            cfg.hidden_size,
            cfg.num_key_value_heads * cfg.head_dim(),
            cfg.intermediate_size,
        );
        let out_std = 0.02 / (2.0 * cfg.num_hidden_layers as f64).sqrt();
        let mut shapes: Vec<(String, Vec<usize>, f64)> = vec![(
            "model.embed_tokens.weight".into(),
            vec![cfg.vocab_size, d],
            0.02,
        )];
        for l in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{l}");
            shapes.extend([
                (format!("{p}.input_layernorm.weight"), vec![d], -1.0),
                (format!("{p}.self_attn.q_proj.weight"), vec![d, d], 0.02),
                (format!("{p}.self_attn.q_proj.bias"), vec![d], 0.0),
                (format!("{p}.self_attn.k_proj.weight"), vec![kv, d], 0.02),
                (format!("{p}.self_attn.k_proj.bias"), vec![kv], 0.0),
                (format!("{p}.self_attn.v_proj.weight"), vec![kv, d], 0.02),
                (format!("{p}.self_attn.v_proj.bias"), vec![kv], 0.0),
                (format!("{p}.self_attn.o_proj.weight"), vec![d, d], out_std),
                (
                    format!("{p}.post_attention_layernorm.weight"),
                    vec![d],
                    -1.0,
                ),
                (format!("{p}.mlp.gate_proj.weight"), vec![i, d], 0.02),
                (format!("{p}.mlp.up_proj.weight"), vec![i, d], 0.02),
                (format!("{p}.mlp.down_proj.weight"), vec![d, i], out_std),
            ]);
        }
        shapes.push(("model.norm.weight".into(), vec![d], -1.0));
        let mut vars = vec![];
        for (name, shape, std) in shapes {
            let n: usize = shape.iter().product();
            // std < 0 marks a norm weight (ones), 0 a bias (zeros).
            let t = if std < 0.0 {
                Tensor::ones(shape, DType::F32, dev)?
            } else if std == 0.0 {
                Tensor::zeros(shape, DType::F32, dev)?
            } else {
                let v: Vec<f32> = normals(&mut rng, n)
                    .into_iter()
                    .map(|x| x * std as f32)
                    .collect();
                Tensor::from_vec(v, shape, dev)?
            };
            vars.push((name, Var::from_tensor(&t)?));
        }
        let index = vars
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i))
            .collect();
        Ok(Self { cfg, vars, index })
    }

    fn w(&self, name: &str) -> &Tensor {
        self.vars[self.index[name]].1.as_tensor()
    }

    /// All trainable variables.
    pub fn vars(&self) -> Vec<Var> {
        self.vars.iter().map(|(_, v)| v.clone()).collect()
    }

    /// Logits `[batch, seq, vocab]` for token ids `[batch, seq]` (causal attention from position 0).
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let c = &self.cfg;
        let (d, nh, nkv, hd) = (
            c.hidden_size,
            c.num_attention_heads,
            c.num_key_value_heads,
            c.head_dim(),
        );
        let dev = ids.device();
        let eps = c.rms_norm_eps as f32;
        // RoPE tables [t, hd] (each frequency twice, rotate-half layout) and the causal mask.
        let inv: Vec<f32> = (0..hd / 2)
            .map(|j| 1.0 / c.rope_theta.powf(2.0 * j as f64 / hd as f64) as f32)
            .collect();
        let mut cos = Vec::with_capacity(t * hd);
        let mut sin = Vec::with_capacity(t * hd);
        for p in 0..t {
            for _half in 0..2 {
                for f in &inv {
                    cos.push((p as f32 * f).cos());
                    sin.push((p as f32 * f).sin());
                }
            }
        }
        let cos = Tensor::from_vec(cos, (t, hd), dev)?;
        let sin = Tensor::from_vec(sin, (t, hd), dev)?;
        let mask: Vec<f32> = (0..t * t)
            .map(|i| if i % t > i / t { -1e9 } else { 0.0 })
            .collect();
        let mask = Tensor::from_vec(mask, (t, t), dev)?;
        let rope = |x: &Tensor| -> Result<Tensor> {
            let x1 = x.narrow(D::Minus1, 0, hd / 2)?;
            let x2 = x.narrow(D::Minus1, hd / 2, hd / 2)?;
            let rot = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
            Ok((x.broadcast_mul(&cos)? + rot.broadcast_mul(&sin)?)?)
        };
        let linear = |x: &Tensor, name: &str, bias: bool| -> Result<Tensor> {
            let y = x.matmul(&self.w(&format!("{name}.weight")).t()?)?;
            Ok(if bias {
                y.broadcast_add(self.w(&format!("{name}.bias")))?
            } else {
                y
            })
        };
        let norm = |x: &Tensor, name: &str| candle_nn::ops::rms_norm_slow(x, self.w(name), eps);
        let mut x = self
            .w("model.embed_tokens.weight")
            .embedding(&ids.flatten_all()?)?; // [b*t, d]
        for l in 0..c.num_hidden_layers {
            let p = format!("model.layers.{l}");
            let h = norm(&x, &format!("{p}.input_layernorm.weight"))?;
            let heads = |y: Tensor, n: usize| -> Result<Tensor> {
                Ok(y.reshape((b, t, n, hd))?.transpose(1, 2)?.contiguous()?)
            };
            let q = rope(&heads(
                linear(&h, &format!("{p}.self_attn.q_proj"), true)?,
                nh,
            )?)?;
            let k = rope(&heads(
                linear(&h, &format!("{p}.self_attn.k_proj"), true)?,
                nkv,
            )?)?;
            let v = heads(linear(&h, &format!("{p}.self_attn.v_proj"), true)?, nkv)?;
            let rep = nh / nkv;
            let expand = |y: Tensor| -> Result<Tensor> {
                Ok(y.unsqueeze(2)?
                    .broadcast_as((b, nkv, rep, t, hd))?
                    .reshape((b, nh, t, hd))?)
            };
            let (k, v) = (expand(k)?, expand(v)?);
            let att =
                (q.matmul(&k.t()?.contiguous()?)? / (hd as f64).sqrt())?.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax(&att, D::Minus1)?;
            let o = att
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b * t, d))?;
            x = (x + linear(&o, &format!("{p}.self_attn.o_proj"), false)?)?;
            let h = norm(&x, &format!("{p}.post_attention_layernorm.weight"))?;
            let g = linear(&h, &format!("{p}.mlp.gate_proj"), false)?.silu()?;
            let u = linear(&h, &format!("{p}.mlp.up_proj"), false)?;
            x = (x + linear(&(g * u)?, &format!("{p}.mlp.down_proj"), false)?)?;
        }
        let x = norm(&x, "model.norm.weight")?;
        let logits = x.matmul(&self.w("model.embed_tokens.weight").t()?)?;
        Ok(logits.reshape((b, t, c.vocab_size))?)
    }

    /// Mean next-token cross-entropy (nats) of sequences `[batch, seq]`.
    pub fn loss(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let logits = self.forward(&ids.narrow(1, 0, t - 1)?)?;
        let targets = ids.narrow(1, 1, t - 1)?.flatten_all()?;
        Ok(candle_nn::loss::cross_entropy(
            &logits.reshape((b * (t - 1), self.cfg.vocab_size))?,
            &targets,
        )?)
    }

    /// Writes `config.json` and `model.safetensors` (tied embeddings: no `lm_head.weight`).
    pub fn save(&self, dir: &Path, special: [u32; 3]) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let [eot, _im_start, im_end] = special;
        let mut cfg = self.cfg.hf_config(eot, im_end, eot);
        // Generation ends at the end of a chat turn or of a document.
        cfg["eos_token_id"] = serde_json::json!([im_end, eot]);
        crate::fsutil::write_atomic(
            &dir.join("config.json"),
            serde_json::to_string_pretty(&cfg)?.as_bytes(),
        )?;
        let gen = serde_json::json!({"bos_token_id": eot, "eos_token_id": [im_end, eot],
            "pad_token_id": eot, "do_sample": false});
        crate::fsutil::write_atomic(
            &dir.join("generation_config.json"),
            serde_json::to_string_pretty(&gen)?.as_bytes(),
        )?;
        let m: HashMap<String, Tensor> = self
            .vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        crate::tensor_util::save_safetensors_atomic(&m, &dir.join("model.safetensors"))
    }
}

/// How to train the sample LM.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LmTrainOpts {
    pub seq_len: usize,
    pub batch: usize,
    pub steps: usize,
    pub lr: f64,
    pub warmup: usize,
    pub seed: u64,
    /// Every `heldout_every`-th document is held out for the evaluation.
    pub heldout_every: u64,
}

/// What training reports (also written to `training.json` beside the model).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LmReport {
    pub config: LmConfig,
    pub opts: LmTrainOpts,
    pub parameters: usize,
    pub train_tokens: usize,
    pub heldout_tokens: usize,
    /// Tokens the optimiser saw (steps × batch × seq_len).
    pub tokens_seen: usize,
    /// (step, training loss) every few steps.
    pub loss_curve: Vec<(usize, f32)>,
    /// Held-out next-token cross-entropy (nats per token) of the trained model.
    pub heldout_loss: f64,
    /// Held-out cross-entropy of an add-one-smoothed unigram model fitted on the training tokens.
    pub unigram_loss: f64,
    pub wall_seconds: f64,
}

/// Clips the global gradient norm of `vars` to `max`; returns the norm before clipping.
fn clip_grads(grads: &mut GradStore, vars: &[Var], max: f64) -> Result<f64> {
    let mut sq = 0f64;
    for v in vars {
        if let Some(g) = grads.get(v) {
            sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
    }
    let norm = sq.sqrt();
    if norm > max {
        let s = max / norm;
        for v in vars {
            if let Some(g) = grads.remove(v) {
                grads.insert(v, (g * s)?);
            }
        }
    }
    Ok(norm)
}

/// Mean next-token loss over `stream` cut into windows of `seq_len` tokens.
pub(crate) fn eval_loss(
    model: &TinyLm,
    stream: &[u32],
    seq_len: usize,
    dev: &Device,
) -> Result<f64> {
    let windows: Vec<&[u32]> = stream.chunks_exact(seq_len).collect();
    if windows.is_empty() {
        bail!("held-out text shorter than one window of {seq_len} tokens");
    }
    let mut total = 0f64;
    for group in windows.chunks(16) {
        let flat: Vec<u32> = group.iter().flat_map(|w| w.iter().copied()).collect();
        let ids = Tensor::from_vec(flat, (group.len(), seq_len), dev)?;
        total += model.loss(&ids)?.to_scalar::<f32>()? as f64 * group.len() as f64;
    }
    Ok(total / windows.len() as f64)
}

/// Held-out cross-entropy of an add-one unigram model fitted on `train`, over the tokens the
/// LM is scored on (every window position but the first).
pub(crate) fn unigram_loss(train: &[u32], heldout: &[u32], seq_len: usize, vocab: usize) -> f64 {
    let mut counts = vec![1f64; vocab];
    for &t in train {
        counts[t as usize] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    let mut sum = 0f64;
    let mut n = 0usize;
    for w in heldout.chunks_exact(seq_len) {
        for &t in &w[1..] {
            sum -= (counts[t as usize] / total).ln();
            n += 1;
        }
    }
    sum / n.max(1) as f64
}

/// Trains `model` on the token streams (documents already concatenated), printing progress
/// through `progress(step, loss)`.
pub fn train_lm(
    model: &TinyLm,
    train: &[u32],
    heldout: &[u32],
    opts: &LmTrainOpts,
    mut progress: impl FnMut(usize, f32),
) -> Result<LmReport> {
    let start = std::time::Instant::now();
    let dev = model.w("model.norm.weight").device().clone();
    let need = opts.seq_len + 1;
    if train.len() < need * opts.batch {
        bail!(
            "{} training tokens are fewer than one batch of {} × {need}",
            train.len(),
            opts.batch
        );
    }
    let vars = model.vars();
    let mut opt = AdamW::new(
        vars.clone(),
        ParamsAdamW {
            lr: opts.lr,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.05,
        },
    )?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut curve = vec![];
    for step in 0..opts.steps {
        // Linear warm-up, then cosine decay to 10% of the peak.
        let lr = if step < opts.warmup {
            opts.lr * (step + 1) as f64 / opts.warmup as f64
        } else {
            let p = (step - opts.warmup) as f64 / (opts.steps - opts.warmup).max(1) as f64;
            opts.lr * (0.1 + 0.45 * (1.0 + (std::f64::consts::PI * p).cos()))
        };
        opt.set_learning_rate(lr);
        let mut flat = Vec::with_capacity(opts.batch * need);
        for _ in 0..opts.batch {
            let s = rng.random_range(0..=train.len() - need);
            flat.extend_from_slice(&train[s..s + need]);
        }
        let ids = Tensor::from_vec(flat, (opts.batch, need), &dev)?;
        let loss = model.loss(&ids)?;
        let l = loss.to_scalar::<f32>()?;
        if !l.is_finite() {
            bail!("the training loss diverged at step {step} ({l})");
        }
        let mut grads = loss.backward()?;
        clip_grads(&mut grads, &vars, 1.0)?;
        opt.step(&grads)?;
        if step % 10 == 0 || step + 1 == opts.steps {
            curve.push((step, l));
        }
        progress(step, l);
    }
    let heldout_loss = eval_loss(model, heldout, opts.seq_len, &dev)?;
    Ok(LmReport {
        config: model.cfg.clone(),
        opts: opts.clone(),
        parameters: model.cfg.parameters(),
        train_tokens: train.len(),
        heldout_tokens: heldout.len(),
        tokens_seen: opts.steps * opts.batch * opts.seq_len,
        loss_curve: curve,
        heldout_loss,
        unigram_loss: unigram_loss(train, heldout, opts.seq_len, model.cfg.vocab_size),
        wall_seconds: start.elapsed().as_secs_f64(),
    })
}

/// Tokenizes documents into one training and one held-out stream (every
/// `heldout_every`-th document by id goes to the held-out stream).
pub fn token_streams(
    tok: &tokenizers::Tokenizer,
    docs: &[SampleDoc],
    heldout_every: u64,
) -> Result<(Vec<u32>, Vec<u32>)> {
    let (mut train, mut held) = (vec![], vec![]);
    for d in docs {
        let enc = tok
            .encode(training_text(d), false)
            .map_err(|e| anyhow!("cannot tokenize document {}: {e}", d.id))?;
        let dst = if d.id % heldout_every == heldout_every - 1 {
            &mut held
        } else {
            &mut train
        };
        dst.extend_from_slice(enc.get_ids());
    }
    Ok((train, held))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use crate::sample::corpus::{generate, CorpusConfig};

    fn small() -> LmConfig {
        LmConfig {
            vocab_size: 400,
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            intermediate_size: 64,
            max_position_embeddings: 128,
            rope_theta: 10000.0,
            rms_norm_eps: 1e-6,
        }
    }

    /// Tokenizer, a few training steps, save: the engine loads the folder and computes the same
    /// logits as the training forward pass; the loss falls; the tokenizer round-trips EN/ZH text.
    #[test]
    fn trained_folder_loads_in_the_engine_with_the_same_logits() {
        let docs = generate(&CorpusConfig {
            docs: 120,
            seed: 5,
            ..Default::default()
        });
        let texts: Vec<String> = docs.iter().map(training_text).collect();
        let dir = tempfile::tempdir().unwrap();
        train_tokenizer(&texts, 400, dir.path()).unwrap();
        let tok = tokenizers::Tokenizer::from_file(dir.path().join("tokenizer.json")).unwrap();
        for (i, s) in SPECIAL_TOKENS.iter().enumerate() {
            assert_eq!(tok.token_to_id(s), Some(i as u32));
        }
        let zh = "暴力不是解决问题的办法。Elections matter.";
        let enc = tok.encode(zh, false).unwrap();
        assert_eq!(tok.decode(enc.get_ids(), false).unwrap(), zh);
        let chat = tok.encode("<|im_start|>user\nhi<|im_end|>", false).unwrap();
        assert_eq!(chat.get_ids()[0], 1);

        let (train, held) = token_streams(&tok, &docs, 10).unwrap();
        assert!(!held.is_empty() && train.len() > held.len());
        let model = TinyLm::new(small(), 1, &Device::Cpu).unwrap();
        let opts = LmTrainOpts {
            seq_len: 32,
            batch: 8,
            steps: 40,
            lr: 3e-3,
            warmup: 5,
            seed: 2,
            heldout_every: 10,
        };
        let report = train_lm(&model, &train, &held, &opts, |_, _| {}).unwrap();
        let first = report.loss_curve.first().unwrap().1;
        let last = report.loss_curve.last().unwrap().1;
        assert!(last < first - 0.5, "loss {first} → {last}");
        assert!(report.heldout_loss.is_finite() && report.unigram_loss > 0.0);
        model.save(dir.path(), [0, 1, 2]).unwrap();

        let engine = Model::load_dir(dir.path(), &Device::Cpu, DType::F32).unwrap();
        let ids = &held[..24];
        let theirs = engine
            .run(ids, &mut crate::model::NoHooks, Default::default())
            .unwrap()
            .unwrap();
        let ours = model
            .forward(
                &Tensor::new(ids, &Device::Cpu)
                    .unwrap()
                    .unsqueeze(0)
                    .unwrap(),
            )
            .unwrap()
            .squeeze(0)
            .unwrap();
        let diff = crate::tensor_util::max_rel_diff(&ours, &theirs).unwrap();
        assert!(diff < 1e-4, "engine vs training forward: {diff}");
        assert!(engine.tok.has_chat_template());
    }

    fn chat_doc(turns: &[(&str, &str)]) -> SampleDoc {
        SampleDoc {
            id: 0,
            domain: "neutral".into(),
            topic: "t".into(),
            lang: "en".into(),
            text: String::new(),
            messages: Some(
                turns
                    .iter()
                    .map(|(role, content)| crate::sample::corpus::ChatTurn {
                        role: role.to_string(),
                        content: content.to_string(),
                    })
                    .collect(),
            ),
            source: None,
        }
    }

    #[test]
    fn chat_documents_are_rendered_in_chatml() {
        let doc = chat_doc(&[("user", "hi"), ("assistant", "hello\nthere")]);
        assert_eq!(
            training_text(&doc),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n\
             <|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello\nthere<|im_end|>\n"
        );
        let doc = chat_doc(&[("system", "Be brief."), ("user", "hi")]);
        assert_eq!(
            training_text(&doc),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
        );
        assert_eq!(
            training_text(&chat_doc(&[])),
            format!("<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n")
        );
        let mut plain = chat_doc(&[]);
        plain.messages = None;
        plain.text = "text".into();
        assert_eq!(training_text(&plain), "text<|endoftext|>");
    }

    /// The bundled sample model was trained with this very template.
    #[test]
    fn the_sample_model_carries_the_chatml_template() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sample_data/model/tokenizer_config.json"
        );
        let cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(cfg["chat_template"].as_str(), Some(chat_template()));
    }

    #[test]
    fn unigram_baseline_is_the_entropy_of_a_uniform_stream() {
        // Four tokens equally frequent (plus add-one on a vocabulary of 4): loss = ln 4.
        let train: Vec<u32> = (0..400).map(|i| i % 4).collect();
        let held: Vec<u32> = (0..40).map(|i| i % 4).collect();
        let l = unigram_loss(&train, &held, 8, 4);
        assert!((l - 4f64.ln()).abs() < 1e-9);
    }
}
