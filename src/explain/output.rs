//! Output-side explanation: what a neuron does to the model's output, beside what it reads.
//!
//! Two views of one neuron `i` of an SAE at hook `h`:
//! * the **decoder logit lens** ([`crate::sae::lens`], the same numbers the feature stores hold):
//!   the tokens `W_dec[i] · W_Uᵀ` ranks highest (promoted) and lowest (suppressed), read straight
//!   through the unembedding (the final norm and later layers ignored);
//! * the **measured effect of amplifying it**: on each neutral prompt the model runs twice,
//!   untouched and with `c · W_dec[i]` added at `h` on every non-special position
//!   ([`crate::steer`]'s neuron *add*), and the next-token log-probabilities after the prompt
//!   are compared: `Δ(v) = mean over prompts of (ln p_steered(v) − ln p_default(v))`. The tokens
//!   with the largest and smallest `Δ` rise and fall most; `KL(P_default ‖ P_steered)` is
//!   averaged the same way. The first prompt is also continued greedily both ways.
//!
//! `c` is a multiple of the neuron's largest activation in its feature store (`4x`), or an
//! absolute value when there is no store.

use crate::model::generate::GenerateOpts;
use crate::model::{Model, PromptSpec};
use crate::steer::{self, Amount, NeuronMode, NeuronRef, NeuronSet, Resolver, SaeSlot, SteerOpts};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};

/// Neutral prompts used when none are given: everyday English and Chinese text with no safety
/// topic in it.
pub const NEUTRAL_PROMPTS: [&str; 6] = [
    "The weather today is",
    "Here is a short note about my morning walk:",
    "The recipe needs two cups of flour and",
    "In the library, the students",
    "今天的天气",
    "我们明天去公园",
];

/// The default strength: 4 × the neuron's largest activation in its feature store.
pub const DEFAULT_STRENGTH: Amount = Amount::TimesMax(4.0);

/// How the output-side explanation is computed.
#[derive(Debug, Clone)]
pub struct OutputOpts {
    /// How much of the decoder direction is added (`c`).
    pub strength: Amount,
    /// Neutral prompts (plain text, or user messages with `chat`).
    pub prompts: Vec<String>,
    /// Render each prompt through the chat template as a user message.
    pub chat: bool,
    /// Tokens listed per list (promoted, suppressed, rising, falling).
    pub tokens: usize,
    /// Length of the greedy continuation of the first prompt.
    pub max_new_tokens: usize,
}

impl Default for OutputOpts {
    fn default() -> Self {
        Self {
            strength: DEFAULT_STRENGTH,
            prompts: NEUTRAL_PROMPTS.iter().map(|s| s.to_string()).collect(),
            chat: false,
            tokens: 10,
            max_new_tokens: 24,
        }
    }
}

/// A token with one number (a mean change of log-probability in nats).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenShift {
    pub id: u32,
    pub token: String,
    pub delta_logprob: f64,
}

/// A token of the decoder logit lens, with the change amplifying the neuron made to its
/// next-token log-probability (mean over the prompts).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LensToken {
    pub id: u32,
    pub token: String,
    /// `W_dec[i] · W_U[token]`.
    pub logit: f32,
    pub delta_logprob: f64,
}

/// The untouched and the steered greedy continuation of one prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Continuation {
    pub prompt: String,
    pub default: String,
    pub steered: String,
}

/// What a neuron does to the output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputEffect {
    /// `LAYER_INDEX`.
    pub neuron: String,
    /// The SAE's name.
    pub sae: String,
    pub hook: String,
    /// The strength as given (`4x` or an absolute value).
    pub strength: String,
    /// `c` in activation units, as applied.
    pub value: f64,
    /// Decoder logit lens, highest first.
    pub promoted: Vec<LensToken>,
    /// Decoder logit lens, lowest first.
    pub suppressed: Vec<LensToken>,
    /// Tokens whose next-token log-probability rose most when the neuron was amplified.
    pub rises: Vec<TokenShift>,
    /// Tokens whose next-token log-probability fell most.
    pub falls: Vec<TokenShift>,
    /// Mean `KL(P_default ‖ P_steered)` of the next-token distributions, in nats.
    pub mean_kl: f64,
    /// The prompts the effect was measured on.
    pub prompts: Vec<String>,
    /// The first prompt continued with and without the neuron amplified.
    pub example: Continuation,
}

/// Measures what `neuron` does to the output (see the module docs). `saes` are the SAEs the
/// neuron may belong to (with their stores' max activations for `Nx` strengths); `cancel`
/// stops the work between prompts. Errors name the problem: an unknown neuron, an SAE without
/// a decoder, a multiple of the max activation without a store, no prompts.
pub fn output_effect(
    model: &Model,
    saes: &[SaeSlot],
    neuron: &NeuronRef,
    opts: &OutputOpts,
    cancel: &AtomicBool,
) -> Result<OutputEffect> {
    let prompts = nonempty(&opts.prompts)?;
    if opts.tokens == 0 {
        bail!("list at least one token per list");
    }
    let (iv, sae) = resolve(model, saes, neuron, opts)?;
    let latent = neuron.latent as usize;
    let lens = crate::sae::lens::decoder_logit_lens(
        &saes[sae].sae,
        model.net.unembedding_matrix(),
        latent..latent + 1,
        opts.tokens,
    )?
    .into_iter()
    .next()
    .unwrap_or_default();

    let m = measure(model, saes, &iv, &prompts, opts, cancel)?;
    let mean = &m.mean;
    let shift = |id: usize| TokenShift {
        id: id as u32,
        token: model.tok.token_display(id as u32),
        delta_logprob: mean[id],
    };
    let mut order: Vec<usize> = (0..mean.len()).collect();
    order.sort_by(|a, b| mean[*b].total_cmp(&mean[*a]));
    let rises = order.iter().take(opts.tokens).map(|&i| shift(i)).collect();
    let falls = order
        .iter()
        .rev()
        .take(opts.tokens)
        .map(|&i| shift(i))
        .collect();
    let lens_tokens = |v: Vec<(u32, f32)>| -> Vec<LensToken> {
        v.into_iter()
            .map(|(id, logit)| LensToken {
                id,
                token: model.tok.token_display(id),
                logit,
                delta_logprob: mean.get(id as usize).copied().unwrap_or(f64::NAN),
            })
            .collect()
    };
    Ok(OutputEffect {
        neuron: crate::db::neuron_id(neuron.layer, neuron.latent),
        sae: saes[sae].name.clone(),
        hook: iv.desc.hook.clone(),
        strength: opts.strength.to_string(),
        value: iv.desc.value,
        promoted: lens_tokens(lens.top),
        suppressed: lens_tokens(lens.bottom),
        rises,
        falls,
        mean_kl: m.mean_kl,
        prompts: prompts.iter().map(|s| s.to_string()).collect(),
        example: m.example,
    })
}

/// The per-token mean change of next-token log-probability (nats, one entry per vocabulary
/// id) that adding `strength` × the neuron's decoder direction makes after each of `prompts`
/// (plain text): the `Δ` of the module docs, for every token.
pub fn mean_logprob_shift(
    model: &Model,
    saes: &[SaeSlot],
    neuron: &NeuronRef,
    strength: Amount,
    prompts: &[String],
) -> Result<Vec<f64>> {
    let opts = OutputOpts {
        strength,
        prompts: prompts.to_vec(),
        max_new_tokens: 1,
        ..Default::default()
    };
    let (iv, _) = resolve(model, saes, neuron, &opts)?;
    let prompts = nonempty(&opts.prompts)?;
    Ok(measure(model, saes, &iv, &prompts, &opts, &AtomicBool::new(false))?.mean)
}

/// What [`measure`] found.
struct Measured {
    mean: Vec<f64>,
    mean_kl: f64,
    example: Continuation,
}

/// The prompts that are not blank; an error when none is.
fn nonempty(prompts: &[String]) -> Result<Vec<&String>> {
    let out: Vec<&String> = prompts.iter().filter(|p| !p.trim().is_empty()).collect();
    if out.is_empty() {
        bail!("no neutral prompts to measure the neuron's effect on");
    }
    Ok(out)
}

/// The neuron's SAE (position in `saes`) and its *add* intervention at `opts.strength`.
fn resolve(
    model: &Model,
    saes: &[SaeSlot],
    neuron: &NeuronRef,
    opts: &OutputOpts,
) -> Result<(steer::Intervention, usize)> {
    let r = Resolver { model, saes };
    let sae = r.sae_of(neuron)?;
    let set = NeuronSet {
        neuron: neuron.clone(),
        amount: opts.strength,
        mode: NeuronMode::Add,
    };
    Ok((r.neuron(&set, &set.to_string())?, sae))
}

/// Runs every prompt untouched and with `iv`, averaging the change of the next-token
/// log-probabilities and the KL; continues the first prompt greedily both ways.
fn measure(
    model: &Model,
    saes: &[SaeSlot],
    iv: &steer::Intervention,
    prompts: &[&String],
    opts: &OutputOpts,
    cancel: &AtomicBool,
) -> Result<Measured> {
    let mut sum: Vec<f64> = vec![];
    let mut kl = 0.0;
    let mut example = None;
    for (k, text) in prompts.iter().enumerate() {
        if cancel.load(Ordering::SeqCst) {
            bail!("cancelled");
        }
        let toks = model
            .tokenize_prompt(&PromptSpec {
                text: text.to_string(),
                chat: opts.chat,
                truncate: true,
                ..Default::default()
            })
            .with_context(|| format!("prompt `{text}`"))?;
        let steer_opts = SteerOpts {
            gen: GenerateOpts {
                max_new_tokens: if k == 0 {
                    opts.max_new_tokens.max(1)
                } else {
                    1
                },
                ..Default::default()
            },
            ..Default::default()
        };
        let run = |ivs: &[steer::Intervention]| {
            steer::run(model, saes, &toks, ivs, &[], &steer_opts, None, &mut |_| {})
        };
        let plain = run(&[])?;
        let steered = run(std::slice::from_ref(iv))?;
        let (Some(p), Some(q)) = (plain.logprobs.first(), steered.logprobs.first()) else {
            bail!("prompt `{text}`: the model gave no next-token distribution");
        };
        if sum.is_empty() {
            sum = vec![0.0; p.len()];
        }
        for ((s, a), b) in sum.iter_mut().zip(p).zip(q) {
            *s += (*b - *a) as f64;
        }
        kl += steer::kl(p, q);
        if k == 0 {
            example = Some(Continuation {
                prompt: text.to_string(),
                default: steer::answer_text(model, &plain.ids, false),
                steered: steer::answer_text(model, &steered.ids, false),
            });
        }
    }
    let n = prompts.len() as f64;
    Ok(Measured {
        mean: sum.iter().map(|s| s / n).collect(),
        mean_kl: kl / n,
        example: example.context("no prompt was run")?,
    })
}
