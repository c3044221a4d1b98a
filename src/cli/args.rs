//! Arguments several commands share: the model and the prompt.

use anyhow::{bail, Context, Result};
use clap::Args;
use safe_sail::load::ModelSpec;
use safe_sail::model::PromptSpec;
use std::path::PathBuf;

#[derive(Args)]
pub struct ModelArgs {
    /// Model folder, or a hub id found in the local Hugging Face cache.
    #[arg(long)]
    pub model: String,
    /// Compute dtype: f32, bf16 or f16.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// cpu, cuda:N or metal (cuda/metal need the matching cargo feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Set the attention mask to 0 on <|im_start|> / <|im_end|> before reading activations
    /// (as the Safe-SAIL authors' demo does): no token attends to them.
    #[arg(long)]
    pub mask_special_attention: bool,
}

impl ModelArgs {
    pub fn spec(&self) -> ModelSpec {
        ModelSpec {
            model: self.model.clone(),
            dtype: self.dtype.clone(),
            device: self.device.clone(),
            mask_special_attention: self.mask_special_attention,
        }
    }
}

#[derive(Args)]
pub struct PromptArgs {
    /// The prompt (the user message with --chat).
    #[arg(long, conflicts_with = "prompt_file")]
    pub prompt: Option<String>,
    /// Read the prompt from a UTF-8 file.
    #[arg(long)]
    pub prompt_file: Option<PathBuf>,
    /// Render the prompt through the model's chat template as a user message.
    #[arg(long)]
    pub chat: bool,
    /// System message for --chat.
    #[arg(long, requires = "chat")]
    pub system: Option<String>,
    /// For --chat with a template that has a thinking switch (Qwen3): pass `enable_thinking`
    /// as transformers does; false closes an empty <think> block so the model answers directly.
    #[arg(long, requires = "chat", value_name = "BOOL")]
    pub enable_thinking: Option<bool>,
    /// Keep the last tokens that fit the model's context instead of failing.
    #[arg(long)]
    pub truncate: bool,
}

impl PromptArgs {
    /// The prompt text (from --prompt or --prompt-file) and how to render it.
    pub fn spec(&self) -> Result<PromptSpec> {
        let text = match (&self.prompt, &self.prompt_file) {
            (Some(t), None) => t.clone(),
            (None, Some(f)) => {
                let bytes = std::fs::read(f)
                    .with_context(|| format!("cannot read prompt file {}", f.display()))?;
                String::from_utf8(bytes).map_err(|e| {
                    anyhow::anyhow!(
                        "prompt file {} is not valid UTF-8 (byte {})",
                        f.display(),
                        e.utf8_error().valid_up_to()
                    )
                })?
            }
            _ => bail!("give the prompt with --prompt TEXT or --prompt-file FILE"),
        };
        Ok(PromptSpec {
            text,
            chat: self.chat,
            system: self.system.clone(),
            thinking: self.enable_thinking,
            truncate: self.truncate,
        })
    }
}
