//! The `train-lm` verb: the sample's byte-level BPE tokenizer and small Qwen2, trained on a
//! corpus from `make-corpus` and saved as a Hugging Face folder with a `training.json`.

use super::corpus::SampleDoc;
use super::lm::{
    eval_loss, token_streams, train_lm, train_tokenizer, training_text, unigram_loss, LmConfig,
    LmReport, LmTrainOpts, TinyLm,
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
    /// Documents of a style never trained on (`heldout_style.jsonl` of `make-corpus`).
    pub heldout_style: Option<PathBuf>,
}

/// The trained model's loss on one group of held-out documents, beside a unigram model's.
#[derive(Debug, Clone, Serialize)]
pub struct GroupLoss {
    /// "mix:generated", "mix:debian", or a source ("generated:comments", "debian:…").
    pub name: String,
    pub docs: usize,
    pub tokens: usize,
    /// Next-token cross-entropy, nats per token.
    pub loss: f64,
    /// An add-one unigram model fitted on the training tokens, over the same tokens.
    pub unigram_loss: f64,
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
    /// The held-out documents of the training mix by kind (generated / real text).
    pub heldout_by_source: Vec<GroupLoss>,
    /// The held-out style file by source (empty without one).
    pub heldout_style: Vec<GroupLoss>,
    pub samples: Vec<LmSample>,
    pub wall_seconds_total: f64,
}

/// Reads a corpus file written by `make-corpus`.
fn read_docs(path: &std::path::Path) -> Result<Vec<SampleDoc>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| {
                format!("{} line {}: not a corpus document", path.display(), i + 1)
            })
        })
        .collect()
}

/// Losses of `model` on `docs` grouped by `key` (groups shorter than one window are skipped).
fn group_losses(
    model: &TinyLm,
    tok: &tokenizers::Tokenizer,
    docs: &[&SampleDoc],
    key: impl Fn(&SampleDoc) -> String,
    train: &[u32],
    seq_len: usize,
) -> Result<Vec<GroupLoss>> {
    let mut groups: std::collections::BTreeMap<String, Vec<&SampleDoc>> = Default::default();
    for d in docs {
        groups.entry(key(d)).or_default().push(d);
    }
    let mut out = vec![];
    for (name, ds) in groups {
        let owned: Vec<SampleDoc> = ds.iter().map(|d| (*d).clone()).collect();
        // Every document into the one stream (heldout_every = u64::MAX holds none out).
        let (stream, _) = token_streams(tok, &owned, u64::MAX)?;
        if stream.len() < seq_len {
            continue;
        }
        let loss = eval_loss(model, &stream, seq_len, &Device::Cpu)?;
        out.push(GroupLoss {
            name,
            docs: ds.len(),
            tokens: stream.len() / seq_len * seq_len,
            loss,
            unigram_loss: unigram_loss(train, &stream, seq_len, model.cfg.vocab_size),
        });
    }
    Ok(out)
}

/// Trains the tokenizer and the model and saves them in `a.out` with a `training.json` report
/// (held-out loss, unigram baseline, greedy samples from the saved folder).
pub fn train(a: &TrainLmRequest, progress: &dyn Progress) -> Result<TrainedLm> {
    let docs = read_docs(&a.corpus)?;
    let style_docs = match &a.heldout_style {
        Some(p) => read_docs(p)?,
        None => vec![],
    };
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
    let held_docs: Vec<&SampleDoc> = docs
        .iter()
        .filter(|d| d.id % heldout_every == heldout_every - 1)
        .collect();
    let kind = |d: &SampleDoc| {
        let src = d.source.as_deref().unwrap_or("generated");
        format!("mix:{}", src.split(':').next().unwrap_or(src))
    };
    let heldout_by_source = group_losses(&model, &tok, &held_docs, kind, &train, a.seq_len)?;
    let style_refs: Vec<&SampleDoc> = style_docs.iter().collect();
    let source = |d: &SampleDoc| d.source.clone().unwrap_or_else(|| "unknown".into());
    let heldout_style = group_losses(&model, &tok, &style_refs, source, &train, a.seq_len)?;
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
        heldout_by_source,
        heldout_style,
        samples,
        wall_seconds_total: start.elapsed().as_secs_f64(),
    };
    crate::fsutil::write_atomic(
        &a.out.join("training.json"),
        serde_json::to_string_pretty(&trained)?.as_bytes(),
    )?;
    Ok(trained)
}
