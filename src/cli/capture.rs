//! `capture`, `generate`, `sae-info` and `indices`: one prompt through a model and SAEs, and
//! what is in an SAE or index file.

use super::args::{ModelArgs, PromptArgs};
use anyhow::Result;
use candle_core::Device;
use clap::Args;
use safe_sail::capture::{capture_prompt, capture_report, save_capture};
use safe_sail::hooks::HookPoint;
use safe_sail::load::{index_summary, load_saes, SaeSummary};
use safe_sail::model::generate::Flow;
use safe_sail::model::tokenizer::{hex_bytes, split_utf8};
use safe_sail::model::NoHooks;
use safe_sail::sae::load_sae;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct CaptureArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// An SAE: `PATH[,key=value...]`; its hook is captured automatically. Repeatable.
    #[arg(long)]
    pub sae: Vec<String>,
    /// A hook point to save, e.g. blocks.2.hook_mlp_out. Repeatable.
    #[arg(long)]
    pub hook: Vec<String>,
    /// Also compute and save the logits (runs every layer).
    #[arg(long)]
    pub logits: bool,
    /// Print tokens and each SAE's top 5 latents per token as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Load SAEs whose weights hold NaN or ±Inf instead of refusing them (the same as
    /// `,allow_nonfinite=true` on each --sae).
    #[arg(long)]
    pub allow_nonfinite: bool,
    /// Output safetensors file.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn capture(a: CaptureArgs) -> Result<()> {
    let prompt = a.prompt.spec()?;
    let hooks: Vec<HookPoint> = a.hook.iter().map(|h| h.parse()).collect::<Result<_>>()?;
    let model = a.model.spec().load()?;
    let saes = load_saes(
        &super::sae_specs(&a.sae, a.allow_nonfinite),
        model.net.device(),
    )?;
    let res = capture_prompt(&model, &prompt, &hooks, &saes, a.logits)?;
    // After the model and prompt checks (capture_prompt tokenizes), so their errors come first.
    if hooks.is_empty() && saes.is_empty() && !a.logits {
        anyhow::bail!(
            "nothing to capture: give --hook (e.g. blocks.2.hook_mlp_out), --sae or --logits \
             (without them only the token ids would be written)"
        );
    }
    save_capture(&a.out, &res, &hooks)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&capture_report(&res, &saes, 5)?)?
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub prompt: PromptArgs,
    #[command(flatten)]
    pub sampling: super::steer::SamplingArgs,
    /// Print special tokens (e.g. `<|im_end|>`) too; by default they are left out.
    #[arg(long)]
    pub show_special: bool,
    /// SAEs, stores, database and tripwires (`--tripwire DOMAIN_OR_ID>THRESHOLD[:stop|:steer=...]`).
    #[command(flatten)]
    pub watch: super::steer::SaeArgs,
}

pub fn generate(a: GenerateArgs) -> Result<()> {
    let prompt = a.prompt.spec()?;
    let model = a.model.spec().load()?;
    let tokens = model.tokenize_prompt(&prompt)?;
    let ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
    let opts = a.sampling.opts();
    // Bytes of a character split across tokens wait for the token that completes it.
    let mut pending: Vec<u8> = vec![];
    let mut stdout = std::io::stdout();
    let mut print = |id: u32| {
        let text = if model.tok.is_special(id) {
            let dangling = hex_bytes(&pending);
            pending.clear();
            dangling
                + &if a.show_special {
                    model.tok.token_display(id)
                } else {
                    String::new()
                }
        } else {
            pending.extend(model.tok.token_bytes(id));
            let (text, rest) = split_utf8(&pending);
            pending = rest;
            text
        };
        let _ = write!(stdout, "{text}");
        let _ = stdout.flush();
    };
    if a.watch.tripwire.is_empty() {
        let w = &a.watch;
        if !w.sae.is_empty() || !w.store.is_empty() || w.db.is_some() || w.release.is_some() {
            anyhow::bail!(
                "--sae, --store, --db and --release are for --tripwire: give one or leave them out"
            );
        }
        model.generate(&ids, &opts, &mut NoHooks, |id| {
            print(id);
            Flow::Continue
        })?;
    } else {
        super::steer::generate_with_tripwires(&model, &tokens, &a.watch, opts, &mut print)?;
    }
    println!("{}", hex_bytes(&pending));
    Ok(())
}

pub fn sae_info(spec: &str) -> Result<()> {
    let sae = load_sae(&spec.parse()?, &Device::Cpu)?;
    sae.ensure_finite()?;
    println!("{}", serde_json::to_string_pretty(&SaeSummary::of(&sae))?);
    Ok(())
}

pub fn indices(file: &Path) -> Result<()> {
    println!("{}", serde_json::to_string(&index_summary(file)?)?);
    Ok(())
}
