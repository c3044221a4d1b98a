//! `steer`, `steer-eval` and the tripwires of `generate`: parse, call [`safe_sail::steer`], print.

use super::args::{ModelArgs, PromptArgs};
use anyhow::{bail, Result};
use clap::Args;
use safe_sail::fsutil::same_place;
use safe_sail::load::load_saes;
use safe_sail::model::generate::GenerateOpts;
use safe_sail::model::tokenizer::TokenInfo;
use safe_sail::model::{Model, PromptSpec};
use safe_sail::steer::{
    self, DirectionSet, Intervention, InterventionSpec, NeuronSet, Positions, Resolver, SaeSlot,
    Side, SteerOpts, TripEvent, Tripwire, TripwireSpec,
};
use safe_sail::workspace::release::{
    layer_quantiles, release_sae_specs, resolve_release, RELEASE_TOKENS,
};
use std::io::Write;
use std::path::PathBuf;

/// SAEs, their feature stores and the neuron database.
#[derive(Args, Clone)]
pub struct SaeArgs {
    /// An SAE: `PATH[,key=value...]`. Repeatable. Neurons are `LAYER_INDEX`, or `NAME:LAYER_INDEX`
    /// when two SAEs read one layer (NAME: the SAE's folder or file name).
    #[arg(long)]
    pub sae: Vec<String>,
    /// A feature store folder (from `collect`) of one of the SAEs: max activations for `3x`
    /// strengths and 0.999 quantiles for tripwire thresholds. Repeatable.
    #[arg(long)]
    pub store: Vec<PathBuf>,
    /// The neuron database, for domain tripwires (verified neurons with that tag).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Watch neurons while the model answers: `DOMAIN_OR_ID>THRESHOLD[:stop|:steer=L_I=VALUE[:mode][;...]]`,
    /// the threshold in normalized units (activation ÷ the neuron's 0.999 quantile). Repeatable.
    #[arg(long)]
    pub tripwire: Vec<String>,
    /// The Safe-SAIL release (a folder holding data/, or its hub id in the local Hugging Face
    /// cache): its SAEs when no --sae is given, its quantile files' 0.999 quantiles for the
    /// tripwire thresholds of its SAEs that have no --store, and its English database when no
    /// --db is given.
    #[arg(long)]
    pub release: Option<String>,
    /// With --release: how many activations its quantile files were taken over.
    #[arg(long, default_value_t = RELEASE_TOKENS, requires = "release")]
    pub quantile_tokens: u64,
}

impl SaeArgs {
    /// The release's `data/` folder, when one is given.
    fn release_data(&self) -> Result<Option<PathBuf>> {
        self.release.as_deref().map(resolve_release).transpose()
    }

    fn slots(&self, model: &Model) -> Result<Vec<SaeSlot>> {
        let data = self.release_data()?;
        let specs = match &data {
            Some(d) if self.sae.is_empty() => release_sae_specs(d)?,
            _ => self.sae.clone(),
        };
        let saes = load_saes(&specs, model.net.device())?;
        let mut slots =
            steer::attach_stores(saes.into_iter().map(SaeSlot::new).collect(), &self.store)?;
        if let Some(d) = &data {
            for s in slots.iter_mut().filter(|s| s.q999.is_none()) {
                let layer = s.sae.hook().layer;
                // Only the release's own checkpoint of that layer: its quantile columns
                // belong to that SAE's latents.
                let ckpt = d.join(format!("sae_checkpoints/ckpt_layer{layer}.pt"));
                if same_place(
                    &s.sae.meta.path.display().to_string(),
                    &ckpt.display().to_string(),
                ) {
                    s.q999 = layer_quantiles(d, layer, self.quantile_tokens)?;
                }
            }
        }
        Ok(slots)
    }

    /// `--db`, else the release's English database when it has one.
    fn db(&self) -> Result<Option<PathBuf>> {
        if self.db.is_some() {
            return Ok(self.db.clone());
        }
        Ok(self
            .release_data()?
            .map(|d| d.join("neuron_db/en_db.json"))
            .filter(|p| p.exists()))
    }

    fn tripwires(&self, r: &Resolver) -> Result<Vec<Tripwire>> {
        let db = self.db()?;
        self.tripwire
            .iter()
            .map(|s| r.tripwire(&s.parse::<TripwireSpec>()?, s, db.as_deref()))
            .collect()
    }
}

/// Interventions and where they apply.
#[derive(Args, Clone)]
pub struct SetArgs {
    /// A neuron intervention: `L_I=VALUE[:add|clamp|ablate]` (VALUE absolute, or `3x` = 3 × the
    /// neuron's max activation from its --store; `L_I=ablate`). Repeatable.
    #[arg(long = "set")]
    pub set: Vec<String>,
    /// A raw direction: `FILE.npy|FILE.safetensors|L_I[,hook=HOOK][,op=add|project|cap][,c=C][,key=NAME]`.
    /// Repeatable.
    #[arg(long)]
    pub direction: Vec<String>,
    /// Where interventions apply: prompt, generated or all.
    #[arg(long, default_value = "all")]
    pub positions: String,
    /// Steer special tokens (chat-template markers, BOS/EOS) too.
    #[arg(long)]
    pub steer_special: bool,
}

impl SetArgs {
    fn resolve(&self, r: &Resolver) -> Result<Vec<Intervention>> {
        let mut out = vec![];
        for s in &self.set {
            out.push(r.resolve(&InterventionSpec::Neuron(s.parse::<NeuronSet>()?), s)?);
        }
        for s in &self.direction {
            out.push(r.resolve(&InterventionSpec::Direction(s.parse::<DirectionSet>()?), s)?);
        }
        Ok(out)
    }
}

/// Sampling settings, as `generate` takes them.
#[derive(Args, Clone)]
pub struct SamplingArgs {
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl SamplingArgs {
    pub fn opts(&self) -> GenerateOpts {
        GenerateOpts {
            max_new_tokens: self.max_new_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            seed: self.seed,
            stop_ids: vec![],
        }
    }
}

#[derive(Args)]
pub struct SteerArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub saes: SaeArgs,
    #[command(flatten)]
    pub sets: SetArgs,
    #[command(flatten)]
    pub prompt: PromptArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Print `{"default", "steered", "per_token", "first_divergence", "interventions", "tripwires"}` as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the neuron interventions as lm-evaluation-harness's steered-model CSV.
    #[arg(long)]
    pub export_csv: Option<PathBuf>,
}

fn log_trip(e: &TripEvent) {
    eprintln!(
        "tripwire `{}` fired at answer token {} ({:?}): neuron {} of {} = {:.4} ({:.3} normalized) → {}",
        e.tripwire, e.index, e.token, e.neuron, e.sae, e.value, e.normalized, e.action
    );
}

pub fn steer_cmd(a: SteerArgs) -> Result<()> {
    let prompt = a.prompt.spec()?;
    let positions: Positions = a.sets.positions.parse()?;
    let model = a.model.spec().load()?;
    let slots = a.saes.slots(&model)?;
    let r = Resolver {
        model: &model,
        saes: &slots,
    };
    let ivs = a.sets.resolve(&r)?;
    let tws = a.saes.tripwires(&r)?;
    if ivs.is_empty() && tws.is_empty() {
        bail!(
            "nothing to steer: give --set L_I=VALUE[:add|clamp|ablate], --direction or --tripwire"
        );
    }
    let tokens = model.tokenize_prompt(&prompt)?;
    let opts = SteerOpts {
        gen: a.sampling.opts(),
        positions,
        include_special: a.sets.steer_special,
        top_n: 5,
    };
    if let Some(csv) = &a.export_csv {
        steer::eval::write_lm_eval_csv(&ivs, csv)?;
    }
    let mut stdout = std::io::stdout();
    let mut side = None;
    let c = steer::compare(&model, &slots, &tokens, &ivs, &tws, &opts, &mut |s, id| {
        if a.json {
            return;
        }
        if side != Some(s) {
            let _ = write!(
                stdout,
                "{}",
                match s {
                    Side::Default => "=== default ===\n",
                    Side::Steered => "\n=== steered ===\n",
                }
            );
            side = Some(s);
        }
        if !model.tok.is_special(id) {
            let _ = write!(stdout, "{}", model.tok.token_display(id));
            let _ = stdout.flush();
        }
    })?;
    for e in &c.tripwires {
        log_trip(e);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        println!();
        match c.first_divergence {
            Some(i) => {
                let kl: f64 =
                    c.per_token.iter().map(|t| t.kl).sum::<f64>() / c.per_token.len().max(1) as f64;
                println!("first divergence at answer token {i}; mean KL per token {kl:.4} nats");
            }
            None => println!("the answers are identical"),
        }
    }
    Ok(())
}

/// `generate` with tripwires: streams the answer and logs each tripwire that fires.
pub fn generate_with_tripwires(
    model: &Model,
    tokens: &[TokenInfo],
    saes: &SaeArgs,
    opts: GenerateOpts,
    on_token: &mut dyn FnMut(u32),
) -> Result<()> {
    let slots = saes.slots(model)?;
    let r = Resolver {
        model,
        saes: &slots,
    };
    let tws = saes.tripwires(&r)?;
    let run = steer::run(
        model,
        &slots,
        tokens,
        &[],
        &tws,
        &SteerOpts {
            gen: opts,
            ..Default::default()
        },
        None,
        on_token,
    )?;
    for e in &run.events {
        log_trip(e);
    }
    Ok(())
}

#[derive(Args)]
pub struct SteerEvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub saes: SaeArgs,
    #[command(flatten)]
    pub sets: SetArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Prompts, one per line (empty lines skipped).
    #[arg(long)]
    pub prompts: PathBuf,
    /// Render each prompt through the chat template as a user message.
    #[arg(long)]
    pub chat: bool,
    /// A neutral UTF-8 text: the next-token cross-entropy on it, with and without each
    /// intervention, is the capability cost. Default: 60 generated documents on everyday
    /// topics (English and Chinese; `steer::eval::default_neutral_text`).
    #[arg(long)]
    pub neutral: Option<PathBuf>,
    /// Tokens per forward pass over the neutral text.
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    /// Seed of the random control directions.
    #[arg(long, default_value_t = 0)]
    pub control_seed: u64,
    /// Output Parquet file (one row per intervention and one per its control).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn steer_eval_cmd(a: SteerEvalArgs) -> Result<()> {
    let prompt_text = steer::eval::read_text(&a.prompts)?;
    let neutral_text = match &a.neutral {
        Some(p) => steer::eval::read_text(p)?,
        None => steer::eval::default_neutral_text(),
    };
    let positions: Positions = a.sets.positions.parse()?;
    let model = a.model.spec().load()?;
    let slots = a.saes.slots(&model)?;
    let r = Resolver {
        model: &model,
        saes: &slots,
    };
    let ivs = a.sets.resolve(&r)?;
    if ivs.is_empty() {
        bail!("nothing to evaluate: give --set or --direction");
    }
    let lines: Vec<String> = prompt_text.lines().map(str::to_string).collect();
    let prompts = steer::eval::tokenize_prompts(
        &model,
        &lines,
        &PromptSpec {
            chat: a.chat,
            truncate: true,
            ..Default::default()
        },
        &a.prompts.display().to_string(),
    )?;
    let neutral = model.tok.encode_ids(&neutral_text, true)?;
    let opts = steer::eval::EvalOpts {
        steer: SteerOpts {
            gen: a.sampling.opts(),
            positions,
            include_special: a.sets.steer_special,
            top_n: 5,
        },
        window: a.window,
        control_seed: a.control_seed,
    };
    let progress = super::progress::Bar::new("{msg} [{bar:30}] {pos}/{len} {eta}");
    let rows = steer::eval::steer_eval(&model, &slots, &prompts, &neutral, &ivs, &opts, &progress)?;
    steer::eval::write_parquet(&rows, &a.out)?;
    for r in &rows {
        println!(
            "{:<40} differ {:>5.1}%  KL/token {:.4}  ΔCE {:+.4} (norm {:.3})",
            r.intervention,
            100.0 * r.frac_differ,
            r.mean_kl,
            r.delta_ce,
            r.applied_norm
        );
    }
    println!("wrote {}", a.out.display());
    Ok(())
}
