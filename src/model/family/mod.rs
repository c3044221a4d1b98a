//! Model families: what differs between Qwen2, Qwen3, Llama, Gemma2 and GPT-2.
//!
//! A family names the `model_type`s it reads, turns their `config.json` into the shared
//! [`ModelConfig`] and maps its tensor names onto the shared [`Transformer`]. Everything
//! else — the forward pass and its hooks — is one code path for all of them.
//!
//! A family is a trait object rather than an enum so that adding one is one new file here
//! plus one line in [`FAMILIES`], with nothing else to match on.

mod gemma2;
mod gpt2;
mod llama;
mod qwen2;
mod qwen3;

use super::config::ModelConfig;
use super::files::WeightSource;
use super::transformer::Transformer;
use anyhow::Result;
use serde_json::Value;

pub use gemma2::Gemma2;
pub use gpt2::Gpt2;
pub use llama::Llama;
pub use qwen2::Qwen2;
pub use qwen3::Qwen3;

/// One model family.
pub trait Family: Sync {
    /// The `model_type` values of `config.json` this family reads; the first is its name.
    fn model_types(&self) -> &'static [&'static str];

    /// The family's name in messages and logs (`qwen2`).
    fn name(&self) -> &'static str {
        self.model_types()[0]
    }

    /// Normalises a parsed `config.json` of this family (usually [`ModelConfig::read`]
    /// with the family's defaults, then its own settings).
    fn config(&self, v: &Value) -> Result<ModelConfig>;

    /// Builds the network from weights, checking every tensor's shape against the config.
    fn load(&self, cfg: ModelConfig, w: &dyn WeightSource) -> Result<Transformer>;
}

impl std::fmt::Debug for dyn Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every supported family, in the order messages list them.
pub static FAMILIES: &[&dyn Family] = &[&Qwen2, &Qwen3, &Llama, &Gemma2, &Gpt2];

/// The family that reads this `model_type`.
pub fn by_model_type(model_type: &str) -> Option<&'static dyn Family> {
    FAMILIES
        .iter()
        .copied()
        .find(|f| f.model_types().contains(&model_type))
}

/// The families' names as a sentence lists them: `qwen2, qwen3, llama, gemma2 and gpt2`.
pub fn names() -> String {
    let names: Vec<&str> = FAMILIES.iter().map(|f| f.name()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}
