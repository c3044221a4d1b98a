//! Running prompts through a model and its SAEs: a prompt's [`Analysis`], one latent's
//! activation over a text, and the tokens a latent's decoder direction promotes.

use super::{Analysis, SaeActs};
use crate::capture::Capture;
use crate::model::generate::{Flow, GenerateOpts};
use crate::model::{ForwardOpts, Model, PromptSpec};
use crate::sae::Sae;
use anyhow::{Context, Result};
use std::sync::atomic::{AtomicBool, Ordering};

/// Tokens with a score each (promoted / suppressed tokens).
pub type TokenScores = Vec<(String, f32)>;

/// Tokens of a text with one neuron's activation each, and whether the token is special.
pub type TokenTrace = Vec<(String, f32, bool)>;

/// The most latents kept per token and SAE in an analysis (strongest first).
const LATENTS_PER_TOKEN: usize = 64;

/// A description of a loaded SAE.
#[derive(Debug, Clone, PartialEq)]
pub struct SaeInfo {
    /// Its name in the workspace.
    pub name: String,
    pub hook: String,
    pub layer: usize,
    /// The width of the space it reads.
    pub d_in: usize,
    pub d_sae: usize,
    pub activation: String,
    pub format: String,
}

impl SaeInfo {
    /// Describes `sae`, named `name`.
    pub fn new(name: &str, sae: &Sae) -> Self {
        Self {
            name: name.to_string(),
            hook: sae.hook().to_string(),
            layer: sae.hook().layer,
            d_in: sae.d_in(),
            d_sae: sae.d_sae(),
            activation: sae.activation.describe(),
            format: sae.meta.format.name().into(),
        }
    }
}

/// A model with the SAEs of a workspace, ready to analyse prompts.
pub struct LoadedModel {
    pub model: Model,
    /// Per SAE of the workspace, in order: `None` where it could not be loaded.
    pub saes: Vec<Option<Sae>>,
}

impl LoadedModel {
    /// The model in a few words: family, layers and width.
    pub fn summary(&self) -> String {
        let c = &self.model.cfg;
        format!(
            "{} · {} layers · d_model {}",
            c.family.name(),
            c.num_layers,
            c.hidden_size
        )
    }

    /// Whether the model's tokenizer has a chat template.
    pub fn has_chat_template(&self) -> bool {
        self.model.tok.has_chat_template()
    }

    /// Runs `prompt` through the model and encodes every loaded SAE on each token.
    ///
    /// With `answer`, the model first answers and the answer's tokens are analysed too;
    /// `streamed` gets the answer so far after each new token, and setting `cancel` stops
    /// the answer (the analysis then fails with "cancelled"). The forward pass stops after
    /// the deepest SAE's layer, over at most the model's context.
    pub fn analyze(
        &self,
        prompt: &PromptSpec,
        answer: Option<&GenerateOpts>,
        cancel: &AtomicBool,
        streamed: &dyn Fn(String),
    ) -> Result<Analysis> {
        self.analyze_saes(prompt, answer, None, cancel, streamed)
    }

    /// As [`Self::analyze`], encoding only the SAEs (workspace positions) in `only` when
    /// given: the forward pass then stops after the deepest of those.
    pub fn analyze_saes(
        &self,
        prompt: &PromptSpec,
        answer: Option<&GenerateOpts>,
        only: Option<&[usize]>,
        cancel: &AtomicBool,
        streamed: &dyn Fn(String),
    ) -> Result<Analysis> {
        let m = &self.model;
        let mut tokens = m.tokenize_prompt(prompt)?;
        let n_prompt = tokens.len();
        if let Some(opts) = answer {
            let ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
            let mut new: Vec<u32> = vec![];
            m.generate(&ids, opts, &mut crate::model::NoHooks, |id| {
                new.push(id);
                streamed(m.tok.display_strings(&new).concat());
                if cancel.load(Ordering::SeqCst) {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            })?;
            if cancel.load(Ordering::SeqCst) {
                anyhow::bail!("cancelled");
            }
            let texts = m.tok.display_strings(&new);
            for (id, text) in new.into_iter().zip(texts) {
                tokens.push(crate::model::tokenizer::TokenInfo {
                    id,
                    text,
                    start: 0,
                    end: 0,
                    special: m.tok.is_special(id),
                });
            }
        }
        // One pass over prompt + answer, stopping after the deepest SAE.
        let loaded: Vec<(usize, &Sae)> = self
            .saes
            .iter()
            .enumerate()
            .filter(|(i, _)| only.is_none_or(|o| o.contains(i)))
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
            .collect();
        let mut cap = Capture::new(loaded.iter().map(|(_, s)| s.hook()));
        let ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
        let ids = if ids.len() > m.cfg.max_position_embeddings {
            ids[..m.cfg.max_position_embeddings].to_vec()
        } else {
            ids
        };
        tokens.truncate(ids.len());
        if let Some(last) = cap.deepest_layer() {
            m.run(
                &ids,
                &mut cap,
                ForwardOpts {
                    stop_after_layer: Some(last),
                    ..Default::default()
                },
            )?;
        }
        // As `capture` and `collect`: non-finite activations are an error naming the hook
        // (in forward order: the first where values go wrong) and the token, never shown.
        for (hook, acts) in &cap.acts {
            if let Some((_, pos)) = crate::capture::first_nonfinite_token(acts, None)? {
                let token = tokens
                    .get(pos)
                    .map(|t| format!(" (token {:?})", t.text))
                    .unwrap_or_default();
                anyhow::bail!(
                    "{}{token}",
                    crate::capture::nonfinite_activations(&m.dir, *hook, pos)
                );
            }
        }
        let mut saes = vec![];
        for (i, sae) in loaded {
            let x = cap.acts[&sae.hook()].squeeze(0)?;
            saes.push(SaeActs {
                sae: i,
                layer: sae.hook().layer,
                acts: sae.encode_sparse(&x, LATENTS_PER_TOKEN)?,
            });
        }
        Ok(Analysis {
            tokens,
            n_prompt,
            saes,
        })
    }

    /// One latent's activation on each token of a plain text (no chat template).
    pub fn trace(
        &self,
        sae: usize,
        latent: u32,
        text: String,
        cancel: &AtomicBool,
    ) -> Result<TokenTrace> {
        let prompt = PromptSpec {
            text,
            chat: false,
            system: None,
            thinking: None,
            truncate: true,
        };
        let a = self.analyze(&prompt, None, cancel, &|_| {})?;
        let acts = a
            .saes
            .iter()
            .find(|s| s.sae == sae)
            .context("that SAE is not loaded")?;
        Ok(a.tokens
            .iter()
            .zip(&acts.acts)
            .map(|(t, row)| {
                let v = row.iter().find(|(l, _)| *l == latent).map_or(0.0, |p| p.1);
                (t.text.clone(), v, t.special)
            })
            .collect())
    }

    /// The `k` latents of the same SAE whose decoder directions are closest to `latent`'s, by
    /// cosine, best first ([`crate::families::neighbours`]).
    pub fn neuron_neighbours(&self, sae: usize, latent: u32, k: usize) -> Result<Vec<(u32, f32)>> {
        let s = self
            .saes
            .get(sae)
            .and_then(Option::as_ref)
            .context("that SAE is not loaded")?;
        let dec = crate::families::unit_decoder(s)?;
        crate::families::neighbours(&dec, latent as usize, k)
    }

    /// A loaded SAE and a latent of it, or why not.
    fn latent_of(&self, sae: usize, latent: u32) -> Result<&Sae> {
        let s = self
            .saes
            .get(sae)
            .and_then(Option::as_ref)
            .context("that SAE is not loaded")?;
        if latent as usize >= s.d_sae() {
            anyhow::bail!(
                "latent {latent} is out of range (the SAE has {} latents)",
                s.d_sae()
            );
        }
        Ok(s)
    }

    /// Per other loaded SAE reading a space of the same size, its latent with the closest
    /// decoder direction to `latent`'s, best first ([`crate::families::best_match`]).
    pub fn same_concept(
        &self,
        sae: usize,
        latent: u32,
    ) -> Result<Vec<crate::families::Counterpart>> {
        use crate::families::{best_match, unit_decoder, Counterpart};
        let s = self.latent_of(sae, latent)?;
        let dir = unit_decoder(s)?.narrow(0, latent as usize, 1)?;
        let mut out = vec![];
        for (i, o) in self.saes.iter().enumerate() {
            let Some(o) = o.as_ref().filter(|o| i != sae && o.d_in() == s.d_in()) else {
                continue;
            };
            let Ok(dec) = unit_decoder(o) else { continue };
            let (j, cosine) = best_match(&dir, &dec)?;
            out.push(Counterpart {
                sae: i,
                latent: j,
                cosine,
            });
        }
        out.sort_by(|a, b| b.cosine.total_cmp(&a.cosine).then(a.sae.cmp(&b.sae)));
        Ok(out)
    }

    /// `latent`'s chain across the layers above ([`crate::families::chain`]), confirmed by
    /// co-activation where `stores` (per SAE of the workspace) hold both ends.
    pub fn neuron_chain(
        &self,
        sae: usize,
        latent: u32,
        stores: &[Option<std::sync::Arc<crate::store::Store>>],
    ) -> Result<Vec<crate::families::ChainLink>> {
        use crate::families::{chain, unit_decoder, ChainSae};
        self.latent_of(sae, latent)?;
        let saes: Vec<Option<ChainSae>> = self
            .saes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.as_ref().filter(|s| s.w_dec.is_some()).map(|s| ChainSae {
                    layer: s.hook().layer,
                    d_in: s.d_in(),
                    store: stores.get(i).and_then(|x| x.as_deref()),
                })
            })
            .collect();
        let dec = |i: usize| -> Result<candle_core::Tensor> {
            unit_decoder(self.saes[i].as_ref().context("that SAE is not loaded")?)
        };
        chain(&saes, sae, latent, &dec)
    }

    /// The `n` tokens a latent's decoder direction promotes and suppresses most
    /// ([`crate::sae::lens`]), shown as the tokenizer displays them.
    pub fn neuron_logits(
        &self,
        sae: usize,
        latent: u32,
        n: usize,
    ) -> Result<(TokenScores, TokenScores)> {
        let s = self
            .saes
            .get(sae)
            .and_then(Option::as_ref)
            .context("that SAE is not loaded")?;
        let latent = latent as usize;
        let lens = crate::sae::lens::decoder_logit_lens(
            s,
            self.model.net.unembedding_matrix(),
            latent..latent + 1,
            n,
        )?;
        let lens = lens.into_iter().next().unwrap_or_default();
        let shown = |tokens: Vec<(u32, f32)>| -> TokenScores {
            tokens
                .into_iter()
                .map(|(id, v)| (self.model.tok.token_display(id), v))
                .collect()
        };
        Ok((shown(lens.top), shown(lens.bottom)))
    }
}
