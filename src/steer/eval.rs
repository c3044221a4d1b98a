//! What steering costs: `steer-eval` runs each intervention over a set of prompts and a neutral
//! text, beside a control that adds a random direction of the same norm; and the export of an
//! intervention list as the CSV lm-evaluation-harness's steered models read.

use super::{
    compare_with_flow, cross_entropy, run_flow, Intervention, InterventionDesc, SaeSlot, SteerOpts,
};
use crate::model::generate::Flow;
use crate::model::tokenizer::TokenInfo;
use crate::model::{Model, PromptSpec};
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// One row of a `steer-eval` report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalRow {
    /// The intervention as written (for a control: `control of ...`).
    pub intervention: String,
    /// A random-direction control of the intervention above it.
    pub control: bool,
    pub action: String,
    pub hook: String,
    pub prompts: usize,
    /// Fraction of prompts whose steered answer differs from the default one.
    pub frac_differ: f64,
    /// Mean `KL(P_default ‖ P_steered)` per steered token (nats).
    pub mean_kl: f64,
    /// Mean next-token cross-entropy on the neutral text, without and with the intervention.
    pub ce_default: f64,
    pub ce_steered: f64,
    pub delta_ce: f64,
    /// Mean `‖x' − x‖` the intervention made on the neutral text (the control's norm).
    pub applied_norm: f64,
}

/// Settings of [`steer_eval`].
#[derive(Debug, Clone)]
pub struct EvalOpts {
    pub steer: SteerOpts,
    /// Tokens per forward pass over the neutral text.
    pub window: usize,
    /// Seed of the random control directions.
    pub control_seed: u64,
}

/// Runs each intervention (alone) over the prompts and the neutral text, each followed by its
/// random-direction control (same hook, a random direction scaled to the mean change the
/// intervention made on the neutral text).
pub fn steer_eval(
    model: &Model,
    saes: &[SaeSlot],
    prompts: &[Vec<TokenInfo>],
    neutral: &[u32],
    ivs: &[Intervention],
    opts: &EvalOpts,
    progress: &dyn Progress,
) -> Result<Vec<EvalRow>> {
    let never = AtomicBool::new(false);
    steer_eval_cancellable(model, saes, prompts, neutral, ivs, opts, progress, &never)
}

/// [`steer_eval`] that stops (with an error saying so) soon after `cancel` is set: after the
/// token being generated, or the neutral-text pass under way.
#[allow(clippy::too_many_arguments)]
pub fn steer_eval_cancellable(
    model: &Model,
    saes: &[SaeSlot],
    prompts: &[Vec<TokenInfo>],
    neutral: &[u32],
    ivs: &[Intervention],
    opts: &EvalOpts,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<Vec<EvalRow>> {
    let stopped = || cancel.load(Ordering::SeqCst);
    let check = || -> Result<()> {
        if stopped() {
            bail!("steer-eval cancelled");
        }
        Ok(())
    };
    let mut flow = |_: u32| {
        if stopped() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    };
    if prompts.is_empty() {
        bail!("no prompts to evaluate on");
    }
    if ivs.is_empty() {
        bail!("no interventions to evaluate");
    }
    let steps = (prompts.len() * (1 + 2 * ivs.len())) as u64;
    progress.set_len(steps);
    progress.message("steer-eval");
    let mut defaults = vec![];
    for p in prompts {
        defaults.push(run_flow(
            model,
            saes,
            p,
            &[],
            &[],
            &opts.steer,
            None,
            &mut flow,
        )?);
        check()?;
        progress.inc();
    }
    let (ce_default, _) = cross_entropy(model, saes, neutral, &[], opts.window)?;
    check()?;
    let mut rows = vec![];
    for (k, iv) in ivs.iter().enumerate() {
        let (ce, norm) =
            cross_entropy(model, saes, neutral, std::slice::from_ref(iv), opts.window)?;
        check()?;
        let control = iv.random_control(norm, opts.control_seed.wrapping_add(k as u64))?;
        for (one, is_control, ce) in [(iv.clone(), false, Some(ce)), (control, true, None)] {
            let ce = match ce {
                Some(c) => c,
                None => {
                    cross_entropy(
                        model,
                        saes,
                        neutral,
                        std::slice::from_ref(&one),
                        opts.window,
                    )?
                    .0
                }
            };
            check()?;
            let (mut differ, mut kl_sum, mut kl_n) = (0usize, 0.0f64, 0usize);
            for (p, d) in prompts.iter().zip(&defaults) {
                let (c, _) = compare_with_flow(
                    model,
                    saes,
                    p,
                    d,
                    std::slice::from_ref(&one),
                    &[],
                    &opts.steer,
                    &mut flow,
                )?;
                check()?;
                differ += usize::from(c.first_divergence.is_some());
                kl_sum += c.per_token.iter().map(|t| t.kl).sum::<f64>();
                kl_n += c.per_token.len();
                progress.inc();
            }
            rows.push(EvalRow {
                intervention: one.desc.spec.clone(),
                control: is_control,
                action: one.desc.action.clone(),
                hook: one.desc.hook.clone(),
                prompts: prompts.len(),
                frac_differ: differ as f64 / prompts.len() as f64,
                mean_kl: kl_sum / kl_n.max(1) as f64,
                ce_default,
                ce_steered: ce,
                delta_ce: ce - ce_default,
                applied_norm: norm,
            });
        }
    }
    Ok(rows)
}

/// The neutral text `steer-eval` measures the capability cost on when none is given: 60
/// documents on everyday topics (cooking, weather, sport, …; 60% English, 40% Chinese, no chat)
/// from the sample corpus generator ([`crate::sample::corpus`]) with a seed of their own, so
/// the same text every time.
pub fn default_neutral_text() -> String {
    let docs = crate::sample::corpus::generate(&crate::sample::corpus::CorpusConfig {
        seed: 0x4E55_7241,
        docs: 60,
        safety_share: 0.0,
        zh_share: 0.4,
        chat_share: 0.0,
    });
    docs.iter()
        .map(|d| d.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Reads a UTF-8 text file (prompts, a neutral text); errors name the file.
pub fn read_text(path: &Path) -> Result<String> {
    let b = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    String::from_utf8(b).map_err(|e| {
        anyhow::anyhow!(
            "{} is not valid UTF-8 (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// Tokenizes one prompt per non-empty line of `text`, each like `like` (chat template, system
/// prompt) with its text replaced; `from` names the source in the error when there is none.
pub fn tokenize_prompts(
    model: &Model,
    lines: &[String],
    like: &PromptSpec,
    from: &str,
) -> Result<Vec<Vec<TokenInfo>>> {
    let mut out = vec![];
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        out.push(model.tokenize_prompt(&PromptSpec {
            text: line.clone(),
            ..like.clone()
        })?);
    }
    if out.is_empty() {
        bail!("{from} holds no prompts");
    }
    Ok(out)
}

/// Writes a `steer-eval` report as Parquet (atomically).
pub fn write_parquet(rows: &[EvalRow], path: &Path) -> Result<()> {
    use polars::prelude::*;
    let col_s = |name: &str, f: &dyn Fn(&EvalRow) -> String| {
        Series::new(name.into(), rows.iter().map(f).collect::<Vec<_>>()).into_column()
    };
    let col_f = |name: &str, f: &dyn Fn(&EvalRow) -> f64| {
        Series::new(name.into(), rows.iter().map(f).collect::<Vec<_>>()).into_column()
    };
    let mut df = DataFrame::new_infer_height(vec![
        col_s("intervention", &|r| r.intervention.clone()),
        Series::new(
            "control".into(),
            rows.iter().map(|r| r.control).collect::<Vec<_>>(),
        )
        .into_column(),
        col_s("action", &|r| r.action.clone()),
        col_s("hook", &|r| r.hook.clone()),
        Series::new(
            "prompts".into(),
            rows.iter().map(|r| r.prompts as u32).collect::<Vec<_>>(),
        )
        .into_column(),
        col_f("frac_differ", &|r| r.frac_differ),
        col_f("mean_kl", &|r| r.mean_kl),
        col_f("ce_default", &|r| r.ce_default),
        col_f("ce_steered", &|r| r.ce_steered),
        col_f("delta_ce", &|r| r.delta_ce),
        col_f("applied_norm", &|r| r.applied_norm),
    ])?;
    crate::fsutil::write_atomic_with(path, |f| {
        ParquetWriter::new(f).finish(&mut df)?;
        Ok(())
    })
}

/// The columns of lm-evaluation-harness's steered-model CSV.
pub const LM_EVAL_COLUMNS: [&str; 8] = [
    "loader",
    "action",
    "sparse_model",
    "hookpoint",
    "feature_index",
    "steering_coefficient",
    "sae_id",
    "description",
];

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The intervention list as lm-evaluation-harness's steered-model CSV
/// (`loader,action,sparse_model,hookpoint,feature_index,steering_coefficient,sae_id,description`):
/// neuron add → `add`, clamp → `clamp`, ablate → `clamp` with coefficient 0. `loader` is
/// `sae_lens` for SAELens checkpoints and `sparsify` for sparsify ones (lm-eval's two loaders;
/// other formats keep their format name). Raw directions have no row there: an error names them.
pub fn lm_eval_csv(ivs: &[InterventionDesc]) -> Result<String> {
    let mut out = LM_EVAL_COLUMNS.join(",") + "\n";
    for d in ivs {
        if d.kind != "neuron" {
            bail!(
                "intervention `{}` is a raw direction ({}): lm-evaluation-harness's CSV holds SAE features only",
                d.spec,
                d.action
            );
        }
        let loader = match d.sae_format.as_deref() {
            Some("SaeLens") => "sae_lens".to_string(),
            Some("Sparsify") => "sparsify".to_string(),
            Some(o) => o.to_lowercase(),
            None => String::new(),
        };
        let action = if d.action == "add" { "add" } else { "clamp" };
        let fields = [
            loader,
            action.to_string(),
            d.sae_path.clone().unwrap_or_default(),
            d.hook.clone(),
            d.latent.map(|l| l.to_string()).unwrap_or_default(),
            format!("{}", d.value),
            d.sae.clone().unwrap_or_default(),
            d.spec.clone(),
        ];
        out += &fields
            .iter()
            .map(|f| csv_field(f))
            .collect::<Vec<_>>()
            .join(",");
        out += "\n";
    }
    Ok(out)
}

/// Writes the interventions as lm-evaluation-harness's CSV ([`lm_eval_csv`]), atomically;
/// returns how many rows it wrote.
pub fn write_lm_eval_csv(ivs: &[Intervention], path: &Path) -> Result<usize> {
    let descs: Vec<InterventionDesc> = ivs.iter().map(|i| i.desc.clone()).collect();
    let csv = lm_eval_csv(&descs)?;
    crate::fsutil::write_atomic(path, csv.as_bytes())?;
    Ok(descs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_neutral_text_is_fixed_and_neutral() {
        let a = default_neutral_text();
        assert_eq!(a, default_neutral_text());
        assert!(a.len() > 2000, "{} bytes", a.len());
        assert!(
            a.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "has Chinese"
        );
        for m in crate::sample::corpus::REFUSAL_MARKERS {
            assert!(!a.contains(m), "no chat refusals");
        }
    }
}
