//! Text generation with a KV cache: greedy or temperature / top-p sampling, stopping at
//! EOS or after `max_new_tokens`, streaming each new token to a callback.

use super::transformer::{ForwardOpts, Hooks, KvCache};
use super::Model;
use anyhow::{bail, Result};
use candle_core::{DType, Tensor};
use rand::{Rng, SeedableRng};

/// How the next token is chosen.
#[derive(Debug, Clone)]
pub struct GenerateOpts {
    pub max_new_tokens: usize,
    /// 0 = greedy.
    pub temperature: f64,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `top_p`.
    pub top_p: f64,
    pub seed: u64,
    /// Stop tokens; empty = the model's EOS ids.
    pub stop_ids: Vec<u32>,
}

impl Default for GenerateOpts {
    fn default() -> Self {
        Self {
            max_new_tokens: 64,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            stop_ids: vec![],
        }
    }
}

/// What the callback decides after each token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

impl Model {
    /// The ids that end generation: config.json's `eos_token_id`s plus the tokenizer's EOS.
    pub fn eos_ids(&self) -> Vec<u32> {
        let mut ids = self.cfg.eos_token_ids.clone();
        if let Some(id) = self.tok.eos_token().and_then(|t| self.tok.token_to_id(t)) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// Generates after `prompt`. `hooks` see the prompt positions first, then each new
    /// position, so captures cover the whole conversation. `on_token` gets each new id and
    /// may stop early. Returns the new ids (including a final stop token, if one was produced).
    pub fn generate(
        &self,
        prompt: &[u32],
        opts: &GenerateOpts,
        hooks: &mut dyn Hooks,
        on_token: impl FnMut(u32) -> Flow,
    ) -> Result<Vec<u32>> {
        self.generate_steps(prompt, opts, hooks, None, |_| Flow::Continue, on_token)
    }

    /// [`Model::generate`] with two more controls, on the same code path (so the same seed gives
    /// the same tokens): `on_logits` sees each step's next-token logits (f32, before the pick)
    /// and may stop there, before a token is chosen; with `forced`, the new tokens are taken
    /// from it in turn instead of being picked (teacher forcing; the sampler is not used) and
    /// generation ends when it runs out.
    pub fn generate_steps(
        &self,
        prompt: &[u32],
        opts: &GenerateOpts,
        hooks: &mut dyn Hooks,
        forced: Option<&[u32]>,
        mut on_logits: impl FnMut(&[f32]) -> Flow,
        mut on_token: impl FnMut(u32) -> Flow,
    ) -> Result<Vec<u32>> {
        if prompt.is_empty() {
            bail!("cannot generate from an empty prompt");
        }
        let stop = if opts.stop_ids.is_empty() {
            self.eos_ids()
        } else {
            opts.stop_ids.clone()
        };
        let room = self
            .cfg
            .max_position_embeddings
            .saturating_sub(prompt.len());
        let mut max_new = opts.max_new_tokens.min(room);
        if let Some(f) = forced {
            max_new = max_new.min(f.len());
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
        let mut cache = KvCache::new();
        let mut out = vec![];
        let mut input = Tensor::new(prompt, self.net.device())?.unsqueeze(0)?;
        for step in 0..max_new {
            let logits = self
                .net
                .forward(
                    &input,
                    None,
                    Some(&mut cache),
                    hooks,
                    ForwardOpts {
                        last_logits_only: true,
                        ..Default::default()
                    },
                )?
                .expect("full forward returns logits");
            let (_, t, _) = logits.dims3()?;
            let last = logits
                .get(0)?
                .get(t - 1)?
                .to_dtype(DType::F32)?
                .to_vec1::<f32>()?;
            if on_logits(&last) == Flow::Stop {
                break;
            }
            let next = match forced {
                Some(f) => f[step],
                None => pick(&last, opts, &mut rng),
            };
            out.push(next);
            let flow = on_token(next);
            if stop.contains(&next) || flow == Flow::Stop {
                break;
            }
            input = Tensor::new(&[next], self.net.device())?.unsqueeze(0)?;
        }
        Ok(out)
    }
}

/// Chooses the next token from logits.
pub fn pick(logits: &[f32], opts: &GenerateOpts, rng: &mut impl Rng) -> u32 {
    let argmax = || {
        logits
            .iter()
            .enumerate()
            .fold((0usize, f32::NEG_INFINITY), |best, (i, &v)| {
                if v > best.1 {
                    (i, v)
                } else {
                    best
                }
            })
            .0 as u32
    };
    if opts.temperature <= 0.0 {
        return argmax();
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut probs: Vec<(usize, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i, (((l - max) as f64) / opts.temperature).exp()))
        .collect();
    let total: f64 = probs.iter().map(|p| p.1).sum();
    probs.iter_mut().for_each(|p| p.1 /= total);
    probs.sort_by(|a, b| b.1.total_cmp(&a.1));
    if opts.top_p < 1.0 {
        let mut acc = 0.0;
        let mut keep = probs.len();
        for (i, p) in probs.iter().enumerate() {
            acc += p.1;
            if acc >= opts.top_p {
                keep = i + 1;
                break;
            }
        }
        probs.truncate(keep.max(1));
    }
    let total: f64 = probs.iter().map(|p| p.1).sum();
    let mut r = rng.random::<f64>() * total;
    for (i, p) in &probs {
        r -= p;
        if r <= 0.0 {
            return *i as u32;
        }
    }
    probs.last().map(|p| p.0 as u32).unwrap_or_else(argmax)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_argmax() {
        let opts = GenerateOpts::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        assert_eq!(pick(&[0.1, 3.0, -1.0], &opts, &mut rng), 1);
    }

    #[test]
    fn tiny_top_p_is_greedy_and_sampling_is_seeded() {
        let opts = GenerateOpts {
            temperature: 1.0,
            top_p: 0.01,
            ..Default::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..20 {
            assert_eq!(pick(&[0.0, 2.0, 1.0], &opts, &mut rng), 1);
        }
        let opts = GenerateOpts {
            temperature: 1.0,
            top_p: 1.0,
            ..Default::default()
        };
        let logits = [0.0f32; 50];
        let a: Vec<u32> = {
            let mut r = rand::rngs::StdRng::seed_from_u64(7);
            (0..10).map(|_| pick(&logits, &opts, &mut r)).collect()
        };
        let b: Vec<u32> = {
            let mut r = rand::rngs::StdRng::seed_from_u64(7);
            (0..10).map(|_| pick(&logits, &opts, &mut r)).collect()
        };
        assert_eq!(a, b);
        assert!(
            a.iter().any(|&x| x != a[0]),
            "uniform sampling should vary: {a:?}"
        );
    }
}
