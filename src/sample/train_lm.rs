//! The `train-lm` verb: the sample's byte-level BPE tokenizer and small Qwen2, trained on a
//! corpus from `make-corpus` and saved as a Hugging Face folder with a `training.json`.

use super::corpus::SampleDoc;
use super::lm::{
    token_streams, train_lm, train_tokenizer, training_text, LmConfig, LmReport, LmTrainOpts,
    TinyLm,
};
use crate::model::generate::{Flow, GenerateOpts};
use crate::model::{Model, NoHooks, PromptSpec};
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use serde::Serialize;
use std::path::PathBuf;

/// What to train.
#[derive(Debug, Clone)]
pub struct TrainLmRequest {
    /// corpus.jsonl written by `make-corpus`.
    pub corpus: PathBuf,
    /// Output model folder.
    pub out: PathBuf,
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub intermediate: usize,
    pub seq_len: usize,
    pub batch: usize,
    pub steps: usize,
    pub lr: f64,
    pub seed: u64,
}

/// One greedy continuation of the trained model.
#[derive(Debug, Clone, Serialize)]
pub struct LmSample {
    pub prompt: String,
    pub chat: bool,
    pub greedy: String,
}

/// What `train-lm` reports (its `training.json`).
#[derive(Debug, Clone, Serialize)]
pub struct TrainedLm {
    #[serde(flatten)]
    pub report: LmReport,
    pub samples: Vec<LmSample>,
    pub wall_seconds_total: f64,
}

/// Trains the tokenizer and the model and saves them in `a.out` with a `training.json` report
/// (held-out loss, unigram baseline, greedy samples from the saved folder).
pub fn train(a: &TrainLmRequest, progress: &dyn Progress) -> Result<TrainedLm> {
    let text = std::fs::read_to_string(&a.corpus)
        .with_context(|| format!("cannot read {}", a.corpus.display()))?;
    let docs: Vec<SampleDoc> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| {
                format!(
                    "{} line {}: not a corpus document",
                    a.corpus.display(),
                    i + 1
                )
            })
        })
        .collect::<Result<_>>()?;
    if docs.is_empty() {
        bail!("{} holds no document", a.corpus.display());
    }
    let start = std::time::Instant::now();
    let texts: Vec<String> = docs.iter().map(training_text).collect();
    train_tokenizer(&texts, a.vocab, &a.out)?;
    let tok = tokenizers::Tokenizer::from_file(a.out.join("tokenizer.json"))
        .map_err(|e| anyhow::anyhow!("cannot reload the tokenizer: {e}"))?;
    let heldout_every = 50;
    let (train, held) = token_streams(&tok, &docs, heldout_every)?;
    progress.report(&format!(
        "tokenizer: {} tokens; corpus: {} training / {} held-out tokens ({:.0} s)",
        tok.get_vocab_size(true),
        train.len(),
        held.len(),
        start.elapsed().as_secs_f64()
    ));
    let cfg = LmConfig {
        vocab_size: tok.get_vocab_size(true),
        hidden_size: a.hidden,
        num_hidden_layers: a.layers,
        num_attention_heads: a.heads,
        num_key_value_heads: a.kv_heads,
        intermediate_size: a.intermediate,
        max_position_embeddings: 2 * a.seq_len,
        rope_theta: 10000.0,
        rms_norm_eps: 1e-6,
    };
    progress.report(&format!("model: {} parameters", cfg.parameters()));
    let device = Device::Cpu;
    let model = TinyLm::new(cfg, a.seed, &device)?;
    let opts = LmTrainOpts {
        seq_len: a.seq_len,
        batch: a.batch,
        steps: a.steps,
        lr: a.lr,
        warmup: (a.steps / 20).max(1),
        seed: a.seed,
        heldout_every,
    };
    progress.set_len(a.steps as u64);
    let mut smooth = f32::NAN;
    let report = train_lm(&model, &train, &held, &opts, |_, l| {
        smooth = if smooth.is_nan() {
            l
        } else {
            0.95 * smooth + 0.05 * l
        };
        progress.message(&format!("loss {smooth:.3}"));
        progress.inc();
    })?;
    let ids = |t: &str| tok.token_to_id(t).expect("special token");
    model.save(
        &a.out,
        [ids("<|endoftext|>"), ids("<|im_start|>"), ids("<|im_end|>")],
    )?;
    // Samples from the saved folder, through the engine, show what the model learned.
    let engine = Model::load_dir(&a.out, &device, DType::F32)?;
    let mut samples = vec![];
    for (prompt, chat) in [
        ("The election", false),
        ("Police said the attack", false),
        ("To make the sauce,", false),
        ("警方表示", false),
        ("How do I stay safe online?", true),
        ("如何准备面试？", true),
    ] {
        let p = engine.tokenize_prompt(&PromptSpec {
            text: prompt.into(),
            chat,
            system: None,
            thinking: None,
            truncate: true,
        })?;
        let pids: Vec<u32> = p.iter().map(|t| t.id).collect();
        let opts = GenerateOpts {
            max_new_tokens: 40,
            ..Default::default()
        };
        let out = engine.generate(&pids, &opts, &mut NoHooks, |_| Flow::Continue)?;
        samples.push(LmSample {
            prompt: prompt.into(),
            chat,
            greedy: engine.tok.decode(&out, true)?,
        });
    }
    let trained = TrainedLm {
        report,
        samples,
        wall_seconds_total: start.elapsed().as_secs_f64(),
    };
    crate::fsutil::write_atomic(
        &a.out.join("training.json"),
        serde_json::to_string_pretty(&trained)?.as_bytes(),
    )?;
    Ok(trained)
}
