//! Fidelity and sparsity of SAE candidates: L0, dead and dense fractions, explained variance,
//! normalized MSE, and the model's next-token loss clean, with the SAE's reconstruction
//! spliced in at its hook, and with that activation zeroed.
//!
//! Definitions (also written into the JSON output):
//! * `l0` = mean over tokens of #{latents > 0}
//! * `dead_fraction` = share of latents never > 0 over the run; `dense_fraction` = share of
//!   latents > 0 on more than 10% of tokens
//! * `explained_variance` = 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖² (x̄ the mean activation over the run)
//! * `nmse` = Σ‖x − x̂‖² / Σ‖x‖²
//! * `ce_*` = mean next-token cross-entropy (nats) over the real tokens of each context
//! * `ce_loss_recovered` = (ce_zero − ce_sae) / (ce_zero − ce_clean); `delta_loss` = ce_sae − ce_clean

use super::concepts::Calibration;
use crate::capture::{check_sae_fits, Capture};
use crate::corpus::{counts_in_statistics, Budget, ContextSplitter, CorpusSpec};
use crate::hooks::HookPoint;
use crate::model::{ForwardOpts, Hooks, Model};
use crate::sae::Sae;
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor, D};
use serde::{Deserialize, Deserializer, Serialize};

/// One candidate's row of `evaluation.parquet`. Undefined values (NaN) are written to JSON as
/// `null` and read back as NaN.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FidelityRow {
    pub sae: String,
    pub hook: String,
    pub d_sae: usize,
    pub architecture: String,
    pub k: Option<usize>,
    pub tokens: u64,
    #[serde(deserialize_with = "nan_if_null")]
    pub l0: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub dead_fraction: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub dense_fraction: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub explained_variance: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub nmse: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub ce_clean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub ce_sae: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub ce_zero: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub ce_loss_recovered: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub delta_loss: f64,
}

/// Warnings about an evaluation's fidelity rows: a corpus that ran out before half of the
/// `budget` tokens (`--tokens`), and metrics outside their sane range (CE loss recovered
/// beyond [-0.5, 1.5], explained variance above 1), which mean too few tokens or a broken SAE.
pub fn fidelity_warnings(rows: &[FidelityRow], budget: u64) -> Vec<String> {
    let mut out = vec![];
    if let Some(n) = rows.iter().map(|r| r.tokens).max() {
        if n * 2 < budget {
            out.push(format!(
                "warning: the corpus ran out after {n} of the {budget} tokens asked for \
                 (--tokens): the metrics rest on few tokens"
            ));
        }
    }
    for r in rows {
        let ce = r.ce_loss_recovered;
        if ce.is_finite() && !(-0.5..=1.5).contains(&ce) {
            out.push(format!(
                "warning: CE loss recovered of {} is {ce:.2}, outside its sane range (about 0 \
                 to 1): the clean and zero-ablated losses are too close to compare ({:.3} vs \
                 {:.3} nats) or the SAE is broken",
                r.sae, r.ce_clean, r.ce_zero
            ));
        }
        if r.explained_variance > 1.0 + 1e-6 {
            out.push(format!(
                "warning: explained variance of {} is {:.3}, above 1",
                r.sae, r.explained_variance
            ));
        }
    }
    out
}

/// A latent is dense when it fires on more than this share of tokens.
pub const DENSE_SHARE: f64 = 0.1;

/// The dead fraction (latents that never fired) and the dense fraction (latents that fired on
/// more than [`DENSE_SHARE`] of `tokens`) from per-latent firing counts.
pub fn dead_dense_fractions(counts: impl ExactSizeIterator<Item = u64>, tokens: u64) -> (f64, f64) {
    let latents = counts.len();
    let n = tokens.max(1) as f64;
    let (mut dead, mut dense) = (0usize, 0usize);
    for c in counts {
        dead += usize::from(c == 0);
        dense += usize::from(c as f64 > DENSE_SHARE * n);
    }
    let latents = latents.max(1) as f64;
    (dead as f64 / latents, dense as f64 / latents)
}

/// Reads a JSON number, or `null` as NaN (how serde_json writes a NaN).
fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Which direction is better, per metric (for the JSON output and the explorer).
pub fn directions() -> serde_json::Value {
    serde_json::json!({
        "l0": "lower (sparser) at equal fidelity", "dead_fraction": "lower", "dense_fraction": "lower",
        "explained_variance": "higher", "nmse": "lower", "ce_clean": "reference", "ce_sae": "lower",
        "ce_zero": "reference", "ce_loss_recovered": "higher", "delta_loss": "lower",
    })
}

/// Replaces the activation at one hook with the SAE's reconstruction (or zeros).
struct Splice<'a> {
    hook: HookPoint,
    sae: Option<&'a Sae>,
}

impl Hooks for Splice<'_> {
    fn at(&mut self, hook: HookPoint, x: &Tensor) -> Result<Option<Tensor>> {
        if hook != self.hook {
            return Ok(None);
        }
        let (b, t, d) = x.dims3()?;
        Ok(Some(match self.sae {
            Some(sae) => {
                let flat = x.reshape((b * t, d))?;
                let r = sae.decode(&sae.encode(&flat)?)?;
                r.to_dtype(x.dtype())?
                    .to_device(x.device())?
                    .reshape((b, t, d))?
            }
            None => x.zeros_like()?,
        }))
    }
}

/// Mean next-token cross-entropy over real tokens: (sum, count).
fn ce_sum(logits: &[Tensor], seqs: &[Vec<u32>]) -> Result<(f64, u64)> {
    let mut sum = 0f64;
    let mut n = 0u64;
    for (l, s) in logits.iter().zip(seqs) {
        if s.len() < 2 {
            continue;
        }
        let lp = candle_nn::ops::log_softmax(
            &l.narrow(0, 0, s.len() - 1)?.to_dtype(DType::F32)?,
            D::Minus1,
        )?;
        let targets = Tensor::new(&s[1..], lp.device())?.unsqueeze(1)?;
        let picked = lp.gather(&targets, 1)?.squeeze(1)?;
        sum -= picked.sum_all()?.to_scalar::<f32>()? as f64;
        n += (s.len() - 1) as u64;
    }
    Ok((sum, n))
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Acc {
    tokens: u64,
    active: u64,
    fired: Vec<u64>,
    sse: f64,
    sum_sq: f64,
    sum: Vec<f64>,
    ce: [(f64, u64); 3],
}

/// Where the fidelity pass keeps its state between batches, so that a killed run goes on where
/// it stopped (`evaluate --resume`).
pub struct Checkpoint<'a> {
    pub path: &'a std::path::Path,
    /// Batches between checkpoints.
    pub every_batches: usize,
    /// Continue from the checkpoint at `path` (an error when it is missing or was made with
    /// other settings).
    pub resume: bool,
    /// What the run's results depend on (its settings); a resume with another is refused.
    pub fingerprint: String,
}

/// The fidelity pass's state after `batches` batches.
#[derive(serde::Serialize, serde::Deserialize)]
struct PassState {
    fingerprint: String,
    batches: usize,
    done: u64,
    accs: Vec<Acc>,
    cals: Vec<Calibration>,
}

/// [`PassState`] borrowed, for saving (the same bytes as the owned form).
#[derive(serde::Serialize)]
struct PassStateRef<'a> {
    fingerprint: &'a str,
    batches: usize,
    done: u64,
    accs: &'a [Acc],
    cals: &'a [Calibration],
}

impl PassStateRef<'_> {
    fn save(&self, path: &std::path::Path) -> Result<()> {
        crate::fsutil::write_atomic_with(path, |f| {
            bincode::serialize_into(std::io::BufWriter::new(f), self)?;
            Ok(())
        })
    }
}

impl PassState {
    fn load(path: &std::path::Path) -> Result<Self> {
        use anyhow::Context;
        let f = std::fs::File::open(path)
            .with_context(|| format!("--resume: no checkpoint at {}", path.display()))?;
        bincode::deserialize_from(std::io::BufReader::new(f))
            .with_context(|| format!("{} is not an evaluate checkpoint", path.display()))
    }
}

/// Evaluates every SAE over the corpus (contexts of `context` tokens, up to `max_tokens`).
/// Also returns, per SAE, a calibration pass over the same tokens less the special ones (as
/// `collect` counts them, [`counts_in_statistics`]): each latent's 0.999 quantile and largest
/// activation, for the concept metrics' Δ. With a checkpoint, the state is saved every few
/// batches and a resumed run gives exactly the results of an uninterrupted one.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    model: &Model,
    saes: &[Sae],
    corpus: &CorpusSpec,
    context: usize,
    batch: usize,
    max_tokens: u64,
    checkpoint: Option<&Checkpoint>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Vec<FidelityRow>, Vec<Calibration>)> {
    if saes.is_empty() {
        bail!("give at least one SAE");
    }
    if context < 2 || context > model.cfg.max_position_embeddings {
        bail!(
            "context of {context} tokens: it must be between 2 and the model's maximum of {}",
            model.cfg.max_position_embeddings
        );
    }
    for s in saes {
        check_sae_fits(model, s)?;
    }
    let (contexts, _) = ContextSplitter::new(&model.tok, context)
        .contexts(corpus, Budget::BeforeContext(max_tokens))?;
    if contexts.is_empty() {
        bail!("the corpus holds no usable document");
    }
    let mut accs: Vec<Acc> = saes
        .iter()
        .map(|s| Acc {
            fired: vec![0; s.d_sae()],
            sum: vec![0.0; s.d_in()],
            ..Default::default()
        })
        .collect();
    let total_tokens: u64 = contexts.iter().map(|c| c.len() as u64).sum();
    // The calibration pass counts the tokens collect counts: no special tokens.
    let counted = |id: u32| counts_in_statistics(&model.tok, id, false);
    let calibrated_tokens: u64 = contexts
        .iter()
        .map(|c| c.iter().filter(|&&id| counted(id)).count() as u64)
        .sum();
    let mut cals: Vec<Calibration> = saes
        .iter()
        .map(|s| Calibration::new(s.d_sae(), calibrated_tokens))
        .collect();
    let mut done = 0u64;
    let mut skip = 0usize;
    if let Some(c) = checkpoint.filter(|c| c.resume) {
        let st = PassState::load(c.path)?;
        if st.fingerprint != c.fingerprint
            || st.accs.len() != saes.len()
            || st.cals.len() != saes.len()
        {
            bail!(
                "{} was made by an evaluate run with other arguments: run without --resume to start again",
                c.path.display()
            );
        }
        (skip, done, accs, cals) = (st.batches, st.done, st.accs, st.cals);
    }
    for (bi, b) in contexts.chunks(batch.max(1)).enumerate() {
        if bi < skip {
            continue;
        }
        if let Some(c) =
            checkpoint.filter(|c| c.every_batches > 0 && bi > skip && bi % c.every_batches == 0)
        {
            PassStateRef {
                fingerprint: &c.fingerprint,
                batches: bi,
                done,
                accs: &accs,
                cals: &cals,
            }
            .save(c.path)?;
        }
        done += b.iter().map(|c| c.len() as u64).sum::<u64>();
        let mut cap = Capture::new(saes.iter().map(Sae::hook));
        let clean = model
            .run_batch(b, 0, &mut cap, ForwardOpts::default())?
            .expect("logits");
        let ce_clean = ce_sum(&clean, b)?;
        for (si, sae) in saes.iter().enumerate() {
            let acc = &mut accs[si];
            let x = &cap.acts[&sae.hook()];
            let (bb, t, d) = x.dims3()?;
            let x2 = x
                .reshape((bb * t, d))?
                .to_dtype(DType::F32)?
                .to_device(&Device::Cpu)?;
            let f = sae.encode(&x2)?.to_device(&Device::Cpu)?;
            let r = sae.decode(&f)?.to_device(&Device::Cpu)?;
            let xs = x2.to_vec2::<f32>()?;
            let rs = r.to_vec2::<f32>()?;
            let fs = f.to_vec2::<f32>()?;
            for (ci, s) in b.iter().enumerate() {
                for (pos, &id) in s.iter().enumerate() {
                    let row = ci * t + pos;
                    acc.tokens += 1;
                    if counted(id) {
                        cals[si].push(&fs[row]);
                    }
                    for (l, &v) in fs[row].iter().enumerate() {
                        if v > 0.0 {
                            acc.active += 1;
                            acc.fired[l] += 1;
                        }
                    }
                    for j in 0..d {
                        let (xv, rv) = (xs[row][j] as f64, rs[row][j] as f64);
                        acc.sse += (xv - rv) * (xv - rv);
                        acc.sum_sq += xv * xv;
                        acc.sum[j] += xv;
                    }
                }
            }
            let spliced = model
                .run_batch(
                    b,
                    0,
                    &mut Splice {
                        hook: sae.hook(),
                        sae: Some(sae),
                    },
                    ForwardOpts::default(),
                )?
                .expect("logits");
            let zeroed = model
                .run_batch(
                    b,
                    0,
                    &mut Splice {
                        hook: sae.hook(),
                        sae: None,
                    },
                    ForwardOpts::default(),
                )?
                .expect("logits");
            for (k, ce) in [ce_clean, ce_sum(&spliced, b)?, ce_sum(&zeroed, b)?]
                .into_iter()
                .enumerate()
            {
                acc.ce[k].0 += ce.0;
                acc.ce[k].1 += ce.1;
            }
        }
        progress(done, total_tokens);
    }
    // The whole pass: a resume after a failure in the later passes starts after it.
    if let Some(c) = checkpoint.filter(|c| c.every_batches > 0) {
        PassStateRef {
            fingerprint: &c.fingerprint,
            batches: usize::MAX,
            done,
            accs: &accs,
            cals: &cals,
        }
        .save(c.path)?;
    }
    let rows = saes
        .iter()
        .zip(accs)
        .map(|(s, a)| {
            let n = a.tokens.max(1) as f64;
            let mean_sq_norm: f64 = a.sum.iter().map(|v| (v / n) * (v / n)).sum::<f64>() * n;
            let var_total = a.sum_sq - mean_sq_norm;
            let ce = |k: usize| a.ce[k].0 / a.ce[k].1.max(1) as f64;
            let (c, sa, z) = (ce(0), ce(1), ce(2));
            let (dead_fraction, dense_fraction) =
                dead_dense_fractions(a.fired.iter().copied(), a.tokens);
            FidelityRow {
                sae: s.meta.path.display().to_string(),
                hook: s.hook().to_string(),
                d_sae: s.d_sae(),
                architecture: s.activation.describe(),
                k: match s.activation {
                    crate::sae::Activation::TopK(k) => Some(k),
                    _ => None,
                },
                tokens: a.tokens,
                l0: a.active as f64 / n,
                dead_fraction,
                dense_fraction,
                explained_variance: 1.0 - a.sse / var_total.max(1e-30),
                nmse: a.sse / a.sum_sq.max(1e-30),
                ce_clean: c,
                ce_sae: sa,
                ce_zero: z,
                ce_loss_recovered: if (z - c).abs() > 1e-12 {
                    (z - sa) / (z - c)
                } else {
                    f64::NAN
                },
                delta_loss: sa - c,
            }
        })
        .collect();
    Ok((rows, cals))
}

#[cfg(test)]
mod warning_tests {
    use super::*;

    fn row(tokens: u64, ce_loss_recovered: f64, explained_variance: f64) -> FidelityRow {
        FidelityRow {
            sae: "s".into(),
            hook: "blocks.1.hook_mlp_out".into(),
            d_sae: 8,
            architecture: "topk".into(),
            k: Some(2),
            tokens,
            l0: 2.0,
            dead_fraction: 0.0,
            dense_fraction: 0.0,
            explained_variance,
            nmse: 0.1,
            ce_clean: 3.0,
            ce_sae: 3.1,
            ce_zero: 3.05,
            ce_loss_recovered,
            delta_loss: 0.1,
        }
    }

    #[test]
    fn a_short_corpus_and_insane_metrics_are_warned_about() {
        assert!(fidelity_warnings(&[row(100_000, 0.9, 0.8)], 100_000).is_empty());
        // 185 of 100,000 tokens, CE recovered 3.19: as the issue saw.
        let w = fidelity_warnings(&[row(185, 3.19, 0.8)], 100_000);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("ran out after 185 of the 100000 tokens"),
            "{w:?}"
        );
        assert!(
            w[1].contains("3.19") && w[1].contains("sane range"),
            "{w:?}"
        );
        let w = fidelity_warnings(&[row(60_000, -0.2, 1.2)], 100_000);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("explained variance"), "{w:?}");
    }
}
