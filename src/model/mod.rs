//! Language models: Hugging Face folders, tokenizers, chat templates, the forward pass
//! with hooks, and generation.

pub mod config;
pub mod family;
pub mod files;
pub mod generate;
pub mod matmul;
pub mod ops;
pub mod tokenizer;
pub mod transformer;

use crate::hooks::{HookPoint, HookSite};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use config::ModelConfig;
use std::path::{Path, PathBuf};
use tokenizer::{ChatMessage, TemplateVars, Tok, TokenInfo};
pub use transformer::{ForwardOpts, Hooks, KvCache, NoHooks, Transformer};

/// A model folder loaded for use: config, network and tokenizer.
pub struct Model {
    pub dir: PathBuf,
    pub cfg: ModelConfig,
    pub net: Transformer,
    pub tok: Tok,
    /// Set the attention mask to 0 on the chat markers ([`CHAT_MARKERS`]) in [`Model::run`] and
    /// [`Model::run_batch`], as the Safe-SAIL authors' demo does before reading activations: no
    /// token attends to them (their own positions still compute). Off by default; generation
    /// never masks.
    pub mask_special_attention: bool,
}

/// The tokens `mask_special_attention` hides from attention: ChatML's turn markers.
pub const CHAT_MARKERS: [&str; 2] = ["<|im_start|>", "<|im_end|>"];

/// How a prompt becomes tokens.
#[derive(Debug, Clone, Default)]
pub struct PromptSpec {
    /// The prompt text (the user message when `chat` is set).
    pub text: String,
    /// Render through the model's chat template as a user message, with the generation prompt.
    pub chat: bool,
    /// System message for chat prompts.
    pub system: Option<String>,
    /// For chat prompts, the template's thinking switch (`enable_thinking`, Qwen3); `None`
    /// leaves it unset, as transformers does when it is not passed.
    pub thinking: Option<bool>,
    /// Keep only the last tokens that fit the context instead of failing.
    pub truncate: bool,
}

impl PromptSpec {
    /// `text` as the user message of a chat prompt when `chat` is set (with `system` as the
    /// system message unless it is blank), as plain text otherwise; cut to fit the context,
    /// the thinking switch left unset.
    pub fn new(text: impl Into<String>, chat: bool, system: &str) -> Self {
        PromptSpec {
            text: text.into(),
            chat,
            system: (chat && !system.trim().is_empty()).then(|| system.to_string()),
            thinking: None,
            truncate: true,
        }
    }
}

impl Model {
    /// Loads a model folder (or a hub id from the local Hugging Face cache).
    pub fn load(spec: &str, device: &Device, dtype: DType) -> Result<Self> {
        let dir = files::resolve_model_dir(spec)?;
        Self::load_dir(&dir, device, dtype)
    }

    /// Loads a model folder.
    pub fn load_dir(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        Self::load_dir_reporting(dir, device, dtype, &crate::progress::Silent)
    }

    /// [`Model::load`], reporting to `progress` the bytes of weights loaded so far (out of
    /// the files' total) and the file being read.
    pub fn load_reporting(
        spec: &str,
        device: &Device,
        dtype: DType,
        progress: &dyn crate::progress::Progress,
    ) -> Result<Self> {
        let dir = files::resolve_model_dir(spec)?;
        Self::load_dir_reporting(&dir, device, dtype, progress)
    }

    /// [`Model::load_dir`], reporting as [`Model::load_reporting`].
    pub fn load_dir_reporting(
        dir: &Path,
        device: &Device,
        dtype: DType,
        progress: &dyn crate::progress::Progress,
    ) -> Result<Self> {
        let cfg_path = dir.join("config.json");
        if !cfg_path.exists() {
            bail!(
                "{} is missing: not a Hugging Face model folder",
                cfg_path.display()
            );
        }
        let cfg = ModelConfig::from_file(&cfg_path)?;
        let files = files::weight_files(dir)?;
        let weights = files::Weights::open(&files, dtype, device)?;
        let net = Transformer::load(cfg.clone(), &files::Reporting::new(&weights, progress))
            .with_context(|| {
                format!(
                    "cannot build the {} model in {}",
                    cfg.family.name(),
                    dir.display()
                )
            })?;
        let tok = Tok::from_dir(dir)?;
        if tok.vocab_size() > cfg.vocab_size {
            bail!(
                "the tokenizer in {} has {} tokens but the model's vocab_size is {}",
                dir.display(),
                tok.vocab_size(),
                cfg.vocab_size
            );
        }
        tracing::info!(
            arch = cfg.family.name(),
            layers = cfg.num_layers,
            d_model = cfg.hidden_size,
            ?dtype,
            "model loaded from {}",
            dir.display()
        );
        Ok(Self {
            dir: dir.to_path_buf(),
            cfg,
            net,
            tok,
            mask_special_attention: false,
        })
    }

    /// Per position, 1 when the token may be attended to: 0 on the chat markers when
    /// `mask_special_attention` is set (else all 1).
    pub fn attention_row(&self, ids: &[u32]) -> Vec<u8> {
        let hidden: Vec<u32> = if self.mask_special_attention {
            CHAT_MARKERS
                .iter()
                .filter_map(|t| self.tok.token_to_id(t))
                .collect()
        } else {
            vec![]
        };
        ids.iter().map(|i| u8::from(!hidden.contains(i))).collect()
    }

    /// The width of the activation at a hook point, after checking the layer exists.
    pub fn hook_width(&self, hook: HookPoint) -> Result<usize> {
        if hook.layer >= self.cfg.num_layers {
            bail!(
                "hook {hook}: layer {} is out of range, the model has layers 0..{}",
                hook.layer,
                self.cfg.num_layers - 1
            );
        }
        Ok(match hook.site {
            HookSite::ResidPre | HookSite::ResidPost | HookSite::AttnOut | HookSite::MlpOut => {
                self.cfg.hidden_size
            }
        })
    }

    /// Tokenizes a prompt: as is (with whatever the tokenizer adds, e.g. a BOS), or
    /// through the chat template as a user message with the generation prompt added.
    pub fn tokenize_prompt(&self, p: &PromptSpec) -> Result<Vec<TokenInfo>> {
        if p.text.trim().is_empty() {
            bail!("the prompt is empty");
        }
        let mut tokens = if p.chat {
            let mut msgs = vec![];
            if let Some(s) = &p.system {
                msgs.push(ChatMessage::new("system", s));
            }
            msgs.push(ChatMessage::new("user", &p.text));
            if p.thinking.is_some() && !self.tok.has_thinking_switch() {
                bail!(
                    "the chat template of {} has no thinking switch (`enable_thinking`)",
                    self.dir.display()
                );
            }
            let vars = TemplateVars {
                enable_thinking: p.thinking,
            };
            let rendered = self.tok.apply_chat_template_with(&msgs, true, vars)?;
            self.tok.encode(&rendered, false)?
        } else {
            self.tok.encode(&p.text, true)?
        };
        let max = self.cfg.max_position_embeddings;
        if tokens.len() > max {
            if !p.truncate {
                bail!(
                    "the prompt has {} tokens but the model's context is {max} tokens (use --truncate to keep the last {max})",
                    tokens.len()
                );
            }
            tokens.drain(..tokens.len() - max);
        }
        Ok(tokens)
    }

    /// Runs the model on one sequence of ids; returns logits `[seq, vocab]` unless the
    /// pass stops early.
    pub fn run(
        &self,
        ids: &[u32],
        hooks: &mut dyn Hooks,
        opts: ForwardOpts,
    ) -> Result<Option<Tensor>> {
        let input = Tensor::new(ids, self.net.device())?.unsqueeze(0)?;
        let row = self.attention_row(ids);
        let mask = row.contains(&0).then(|| vec![row]);
        let out = self
            .net
            .forward(&input, mask.as_deref(), None, hooks, opts)?;
        Ok(match out {
            Some(l) => Some(l.squeeze(0)?),
            None => None,
        })
    }

    /// Runs a batch of sequences of different lengths, right-padded, with an attention mask.
    /// Returns per-sequence logits `[len_i, vocab]` unless the pass stops early.
    pub fn run_batch(
        &self,
        seqs: &[Vec<u32>],
        pad_id: u32,
        hooks: &mut dyn Hooks,
        opts: ForwardOpts,
    ) -> Result<Option<Vec<Tensor>>> {
        if seqs.is_empty() {
            bail!("empty batch");
        }
        let t = seqs.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(seqs.len() * t);
        let mut mask = Vec::with_capacity(seqs.len());
        for s in seqs {
            ids.extend_from_slice(s);
            ids.extend(std::iter::repeat_n(pad_id, t - s.len()));
            let mut m = self.attention_row(s);
            m.resize(t, 0);
            mask.push(m);
        }
        let input = Tensor::from_vec(ids, (seqs.len(), t), self.net.device())?;
        let out = self.net.forward(&input, Some(&mask), None, hooks, opts)?;
        match out {
            None => Ok(None),
            Some(l) => Ok(Some(
                seqs.iter()
                    .enumerate()
                    .map(|(i, s)| l.get(i)?.narrow(0, 0, s.len()))
                    .collect::<candle_core::Result<Vec<_>>>()?,
            )),
        }
    }
}
