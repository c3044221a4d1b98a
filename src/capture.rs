//! Capturing activations at hook points and encoding them with SAEs: what `safe-sail
//! capture` does, as a library call.

use crate::hooks::HookPoint;
use crate::model::tokenizer::TokenInfo;
use crate::model::{ForwardOpts, Hooks, Model, PromptSpec};
use crate::sae::Sae;
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Hooks that keep a copy of the activation at each requested hook point.
pub struct Capture {
    wanted: BTreeSet<HookPoint>,
    /// Captured activations, as the model computed them (`[batch, seq, d]`).
    pub acts: BTreeMap<HookPoint, Tensor>,
}

impl Capture {
    pub fn new(hooks: impl IntoIterator<Item = HookPoint>) -> Self {
        Self {
            wanted: hooks.into_iter().collect(),
            acts: BTreeMap::new(),
        }
    }

    /// The deepest layer any requested hook needs.
    pub fn deepest_layer(&self) -> Option<usize> {
        self.wanted.iter().map(|h| h.layer).max()
    }

    /// Runs `seqs` (right-padded) through the model up to the deepest of `hooks` and returns
    /// the activations captured there (`[batch, seq, d]` each).
    pub fn batch(
        model: &Model,
        seqs: &[Vec<u32>],
        hooks: impl IntoIterator<Item = HookPoint>,
    ) -> Result<Self> {
        let mut cap = Self::new(hooks);
        let last = cap.deepest_layer().unwrap_or(0);
        model.run_batch(
            seqs,
            0,
            &mut cap,
            ForwardOpts {
                stop_after_layer: Some(last),
                ..Default::default()
            },
        )?;
        Ok(cap)
    }

    /// As [`Capture::batch`] for one sequence (`[1, seq, d]` each).
    pub fn one(
        model: &Model,
        ids: &[u32],
        hooks: impl IntoIterator<Item = HookPoint>,
    ) -> Result<Self> {
        let mut cap = Self::new(hooks);
        let last = cap.deepest_layer().unwrap_or(0);
        model.run(
            ids,
            &mut cap,
            ForwardOpts {
                stop_after_layer: Some(last),
                ..Default::default()
            },
        )?;
        Ok(cap)
    }
}

impl Hooks for Capture {
    fn at(&mut self, hook: HookPoint, x: &Tensor) -> Result<Option<Tensor>> {
        if self.wanted.contains(&hook) {
            // Generation calls again for each new position: append along the sequence.
            let t = match self.acts.remove(&hook) {
                Some(prev) => Tensor::cat(&[&prev, x], 1)?,
                None => x.clone(),
            };
            self.acts.insert(hook, t);
        }
        Ok(None)
    }
}

/// The result of running one prompt: tokens, activations per hook, SAE latents, logits.
pub struct CaptureResult {
    pub tokens: Vec<TokenInfo>,
    /// `[seq, d]` f32 on the CPU, per requested hook (including the SAEs' hooks).
    pub hooks: BTreeMap<HookPoint, Tensor>,
    /// `[seq, d_sae]` f32 on the CPU, one per SAE in the order given.
    pub sae_acts: Vec<Tensor>,
    /// `[seq, vocab]` f32, when asked for.
    pub logits: Option<Tensor>,
}

/// Checks that an SAE fits the model: its layer exists and its width matches the hook's.
pub fn check_sae_fits(model: &Model, sae: &Sae) -> Result<()> {
    let width = model.hook_width(sae.hook())?;
    if width != sae.d_in() {
        bail!(
            "SAE {} reads {} with d_in = {}, but the model's activation there has width {width}",
            sae.meta.path.display(),
            sae.hook(),
            sae.d_in()
        );
    }
    Ok(())
}

/// Runs a prompt, capturing `hooks` plus every SAE's hook, stopping after the deepest
/// layer needed unless logits are asked for.
pub fn capture_prompt(
    model: &Model,
    prompt: &PromptSpec,
    hooks: &[HookPoint],
    saes: &[Sae],
    want_logits: bool,
) -> Result<CaptureResult> {
    for h in hooks {
        model.hook_width(*h)?;
    }
    for s in saes {
        check_sae_fits(model, s)?;
    }
    let tokens = model.tokenize_prompt(prompt)?;
    let ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
    let mut cap = Capture::new(hooks.iter().copied().chain(saes.iter().map(Sae::hook)));
    let opts = ForwardOpts {
        stop_after_layer: if want_logits {
            None
        } else {
            cap.deepest_layer()
        },
        ..Default::default()
    };
    let logits = match (cap.deepest_layer(), want_logits) {
        (None, false) => None,
        _ => model.run(&ids, &mut cap, opts)?,
    };
    let mut out = BTreeMap::new();
    for (h, t) in std::mem::take(&mut cap.acts) {
        out.insert(
            h,
            t.squeeze(0)?
                .to_dtype(DType::F32)?
                .to_device(&Device::Cpu)?,
        );
    }
    // In forward order, so the error names the first hook where the values go wrong.
    let token_text = |pos: usize| {
        tokens
            .get(pos)
            .map(|t| format!(" (token {:?})", t.text))
            .unwrap_or_default()
    };
    for (h, t) in &out {
        if let Some((_, pos)) = first_nonfinite_token(t, None)? {
            bail!(
                "{}{} of the prompt",
                nonfinite_activations(&model.dir, *h, pos),
                token_text(pos)
            );
        }
    }
    if let Some(l) = &logits {
        if let Some((_, pos)) = first_nonfinite_token(l, None)? {
            bail!(
                "the model {} produces non-finite logits (NaN or ±Inf), first at token position \
                 {pos}{} of the prompt",
                model.dir.display(),
                token_text(pos)
            );
        }
    }
    let mut sae_acts = vec![];
    for s in saes {
        let x = &out[&s.hook()];
        sae_acts.push(s.encode(x)?.to_device(&Device::Cpu)?);
    }
    Ok(CaptureResult {
        tokens,
        hooks: out,
        sae_acts,
        logits,
    })
}

/// Where activations `[seq, d]` or `[batch, seq, d]` first hold NaN or ±Inf, as (sequence,
/// token position); only the first `lens[i]` positions of sequence `i` count (padding is
/// ignored), all of them when `lens` is `None`. One pass over the values; on a GPU one
/// reduction unless something is found.
pub fn first_nonfinite_token(
    acts: &Tensor,
    lens: Option<&[usize]>,
) -> Result<Option<(usize, usize)>> {
    let (b, t, d) = match acts.dims() {
        &[t, d] => (1, t, d),
        &[b, t, d] => (b, t, d),
        other => bail!("activations of shape {other:?}: expected [seq, d] or [batch, seq, d]"),
    };
    if crate::checks::first_nonfinite(acts)?.is_none() || d == 0 {
        return Ok(None);
    }
    let v = acts
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_device(&Device::Cpu)?
        .to_vec1::<f32>()?;
    for i in 0..b {
        let n = lens.and_then(|l| l.get(i).copied()).unwrap_or(t).min(t);
        for pos in 0..n {
            let row = &v[(i * t + pos) * d..(i * t + pos + 1) * d];
            if row.iter().any(|x| !x.is_finite()) {
                return Ok(Some((i, pos)));
            }
        }
    }
    Ok(None)
}

/// What went wrong when the activations of the model in `model_dir` at `hook` hold NaN or
/// ±Inf from token `pos` on.
pub fn nonfinite_activations(model_dir: &Path, hook: HookPoint, pos: usize) -> String {
    format!(
        "the model {} produces non-finite activations (NaN or ±Inf) at {hook} (layer {}), first \
         at token position {pos}",
        model_dir.display(),
        hook.layer
    )
}

/// An error when activations of the model in `model_dir` captured at `hook` (`[seq, d]` or
/// `[batch, seq, d]`, padding beyond `lens[i]` ignored) hold NaN or ±Inf, naming the model,
/// the hook, its layer and the first token position. `capture` and `collect` make the same
/// check on what they capture; so should any other caller of the forward pass that shows or
/// stores activations (the window).
pub fn check_finite_activations(
    model_dir: &Path,
    hook: HookPoint,
    acts: &Tensor,
    lens: Option<&[usize]>,
) -> Result<()> {
    match first_nonfinite_token(acts, lens)? {
        None => Ok(()),
        Some((i, pos)) if acts.rank() == 3 && acts.dim(0)? > 1 => bail!(
            "{} of sequence {i} in the batch",
            nonfinite_activations(model_dir, hook, pos)
        ),
        Some((_, pos)) => bail!("{}", nonfinite_activations(model_dir, hook, pos)),
    }
}

/// Writes a capture as safetensors (atomically): `input_ids` (i64 `[seq]`), one tensor per
/// requested hook named as the hook, `sae.{i}.acts` and, when computed, `logits`.
pub fn save_capture(out: &std::path::Path, res: &CaptureResult, hooks: &[HookPoint]) -> Result<()> {
    let ids: Vec<i64> = res.tokens.iter().map(|t| t.id as i64).collect();
    let n = ids.len();
    let mut map: std::collections::HashMap<String, Tensor> = std::collections::HashMap::new();
    map.insert("input_ids".into(), Tensor::from_vec(ids, n, &Device::Cpu)?);
    for h in hooks {
        map.insert(h.to_string(), res.hooks[h].clone());
    }
    for (i, a) in res.sae_acts.iter().enumerate() {
        map.insert(format!("sae.{i}.acts"), a.clone());
    }
    if let Some(l) = &res.logits {
        map.insert("logits".into(), l.clone());
    }
    crate::tensor_util::save_safetensors_atomic(&map, out)
}

/// What `capture --json` prints: the tokens and, per SAE, its top latents on each token.
#[derive(Debug, serde::Serialize)]
pub struct CaptureReport<'a> {
    pub tokens: &'a [TokenInfo],
    pub saes: Vec<SaeTopLatents>,
}

/// One SAE's strongest latents per token.
#[derive(Debug, serde::Serialize)]
pub struct SaeTopLatents {
    pub path: std::path::PathBuf,
    pub format: &'static str,
    pub hook: String,
    pub d_sae: usize,
    pub activation: String,
    /// Per token, up to `n` active latents, strongest first (ties by index).
    pub top: Vec<Vec<LatentAct>>,
}

/// A latent's activation.
#[derive(Debug, serde::Serialize)]
pub struct LatentAct {
    pub latent: usize,
    pub act: f64,
}

/// The report of a capture: each SAE's `n` strongest active latents per token.
pub fn capture_report<'a>(
    res: &'a CaptureResult,
    saes: &[Sae],
    n: usize,
) -> Result<CaptureReport<'a>> {
    let mut out = vec![];
    for (s, acts) in saes.iter().zip(&res.sae_acts) {
        let top = acts
            .to_vec2::<f32>()?
            .iter()
            .map(|r| {
                let mut nz: Vec<(usize, f32)> = r
                    .iter()
                    .copied()
                    .enumerate()
                    .filter(|(_, v)| *v > 0.0)
                    .collect();
                nz.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                nz.into_iter()
                    .take(n)
                    .map(|(latent, v)| LatentAct {
                        latent,
                        act: f64::from(v),
                    })
                    .collect()
            })
            .collect();
        out.push(SaeTopLatents {
            path: s.meta.path.clone(),
            format: s.meta.format.name(),
            hook: s.hook().to_string(),
            d_sae: s.d_sae(),
            activation: s.activation.describe(),
            top,
        });
    }
    Ok(CaptureReport {
        tokens: &res.tokens,
        saes: out,
    })
}
