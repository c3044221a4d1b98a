//! `explain` and `score`: explanations and simulation scores into the neuron database.

use super::progress::Bar;
use anyhow::{Context, Result};
use clap::Args;
use safe_sail::explain::run::{run, LlmRun, Task};
use std::path::PathBuf;

#[derive(Args)]
pub struct LlmArgs {
    /// The SAE's feature store (made by `collect`).
    #[arg(long)]
    pub store: PathBuf,
    /// The neuron database to write (created when missing).
    #[arg(long)]
    pub db: PathBuf,
    /// Latents, e.g. `0-99` or `3,17,42` (default: every latent with examples).
    #[arg(long, conflicts_with = "latents_from")]
    pub latents: Option<String>,
    /// The latents `evaluate` found distinguishing at least one concept for this store's SAE
    /// (EVAL_DIR/evaluation.json, its `concepts` lists): the candidates for explanation.
    #[arg(long, value_name = "EVAL_DIR")]
    pub latents_from: Option<PathBuf>,
    /// At most this many latents.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Work on the share i of n of the latents (every n-th, from the i-th), e.g. one Slurm
    /// array task's `$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`. Shards may write the same
    /// database at once (it is locked per write) and share the response cache.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// API base of an OpenAI-compatible server, e.g. http://localhost:8000/v1.
    #[arg(long, default_value = "http://localhost:8000/v1")]
    pub endpoint: String,
    /// Model name on that server. `baseline` needs no LLM or network: explain summarises the
    /// tokens a latent fires on; score predicts that units containing the explanation's quoted
    /// trigger words fire (a keyword simulator).
    #[arg(long, required_unless_present = "embedding_model")]
    pub llm: Option<String>,
    /// Environment variable holding the API key (none sent when unset).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub api_key_env: String,
    /// Examples shown to the explainer / simulated per latent.
    #[arg(long, default_value_t = 10)]
    pub examples: usize,
    /// explain: replace existing explanations.
    #[arg(long)]
    pub overwrite: bool,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// score: how the explanation is scored [default: simulation-segment].
    /// `simulation-segment` (Safe-SAIL) / `simulation-token`: the simulator predicts
    /// activations, the score is Pearson's r (`correlation_score`). `detection` / `fuzzing`
    /// (EleutherAI Delphi): the LLM judges whether whole examples / highlighted tokens match
    /// the explanation; balanced accuracy, F1 and (with --logprobs) AUC. `embedding`: examples
    /// ranked by embedding similarity to the explanation (--embedding-model), AUC. The last
    /// three are stored per method in the record's `method_scores`.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(safe_sail::explain::run::ScoreMethod::NAMES))]
    pub method: Option<String>,
    /// score, simulation: `segment` (Safe-SAIL), `token`, or `both` (segment score into the
    /// database, the token-level score beside it, and the simulator cost of each method
    /// compared) [default: the method's unit].
    #[arg(long)]
    pub unit: Option<String>,
    /// score --method detection|fuzzing: ask the server for log-probabilities (OpenAI's
    /// `logprobs`/`top_logprobs`) and report the AUC of the probability of "1".
    #[arg(long)]
    pub logprobs: bool,
    /// score --method embedding: the embedding model on the endpoint's `/embeddings`
    /// (OpenAI-compatible); no chat model is needed.
    #[arg(long, value_name = "NAME")]
    pub embedding_model: Option<String>,
    /// score: skip latents whose current explanation already has a score from the same method,
    /// simulator and prompt version (an interrupted run goes on where it stopped). explain
    /// always skips explained latents unless --overwrite.
    #[arg(long)]
    pub resume: bool,
    /// score: held-out contexts where the latent does not fire, added per latent (found by
    /// running the store's model and SAE over other latents' examples; 0 = none).
    #[arg(long, default_value_t = 3)]
    pub non_activating: usize,
    /// score: the model for the non-activating contexts (default: the one the store names).
    #[arg(long)]
    pub model: Option<String>,
    /// score: the SAE for the non-activating contexts (default: the one the store names).
    #[arg(long)]
    pub sae: Option<String>,
    /// score: replace scores of the current explanations that were made another way (another
    /// unit or simulator, or with/without non-activating examples); refused without it.
    #[arg(long)]
    pub force: bool,
    /// score: a segment is active when its largest activation ÷ the latent's 0.999 quantile
    /// (its max when the quantile is 0) reaches this.
    #[arg(long, default_value_t = safe_sail::explain::SEGMENT_THRESHOLD)]
    pub segment_threshold: f32,
    /// score: the longest segment in tokens [default: 4, from assets/segmentation.toml].
    #[arg(long)]
    pub segment_max_tokens: Option<usize>,
    /// score: mark in the database whether each score passes r >= R (pass 0.2, the released
    /// database's rule): the record's `inclusion` field, shown by `db show` and the neuron page.
    #[arg(long)]
    pub min_score: Option<f64>,
}

pub fn explain_or_score(a: LlmArgs, task: Task) -> Result<()> {
    let run_args = LlmRun {
        store: a.store,
        db: a.db.clone(),
        latents: a.latents,
        latents_from: a.latents_from,
        limit: a.limit,
        shard: a
            .shard
            .as_deref()
            .map(safe_sail::store::run::parse_shard)
            .transpose()?,
        endpoint: a.endpoint,
        llm: a.llm.unwrap_or_default(),
        api_key: std::env::var(&a.api_key_env).ok().filter(|k| !k.is_empty()),
        examples: a.examples,
        overwrite: a.overwrite,
        concurrency: a.concurrency,
        method: a.method,
        unit: a.unit,
        logprobs: a.logprobs,
        embedding_model: a.embedding_model,
        resume: a.resume,
        non_activating: a.non_activating,
        model: a.model,
        sae: a.sae,
        force: a.force,
        segment_threshold: a.segment_threshold,
        segment_max_tokens: a.segment_max_tokens,
        min_score: a.min_score,
    };
    let bar = Bar::new("{wide_bar} {pos}/{len}");
    let s = run(&run_args, task, &bar)?;
    drop(bar);
    for (method, n, what) in &s.costs {
        let who = if method.ends_with("simulation") {
            "simulator"
        } else {
            "scorer"
        };
        println!("{who} cost, {method}: {n} {what}");
    }
    for (metric, mean, n) in &s.means {
        println!("mean {metric}: {mean:.3} over {n} latents");
    }
    if let Some((saving, seg, tok, what)) = s.saving {
        println!(
            "segment-level simulation used {:.0}% {} {what} than token-level ({seg} vs {tok}; the Safe-SAIL paper reports 55% fewer)",
            saving.abs(),
            if saving >= 0.0 { "fewer" } else { "more" }
        );
    }
    // One line per reason, not one per latent.
    for (why, ids) in s.failure_groups() {
        const SHOWN: usize = 8;
        let more = ids.len().saturating_sub(SHOWN);
        println!(
            "failed {}: {why}: {}{}",
            ids.len(),
            ids[..ids.len().min(SHOWN)].join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    println!(
        "{} {} latents, skipped {}, failed {} (no score / explanation written for failures) → {}\n\
         tokens: {} prompt + {} completion ({} replies from the cache in {})",
        if task == Task::Score {
            "scored"
        } else {
            "explained"
        },
        s.done,
        s.skipped,
        s.failed,
        a.db.display(),
        s.prompt_tokens,
        s.completion_tokens,
        s.cached,
        s.cache_dir.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct DeconceptArgs {
    /// Concept queries (JSONL with domain, concept, prompt).
    #[arg(long)]
    pub queries: PathBuf,
    /// The pairs file to write (JSONL; replies cached in OUT.llm-cache/).
    #[arg(long)]
    pub out: PathBuf,
    /// API base of an OpenAI-compatible server.
    #[arg(long, default_value = "http://localhost:8000/v1")]
    pub endpoint: String,
    /// Model name on that server.
    #[arg(long)]
    pub llm: String,
    /// Environment variable holding the API key (none sent when unset).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub api_key_env: String,
}

pub fn deconcept(a: DeconceptArgs) -> Result<()> {
    let key = std::env::var(&a.api_key_env).ok().filter(|k| !k.is_empty());
    let client = safe_sail::explain::LlmClient::new(&a.endpoint, &a.llm, key)
        .with_cache(&a.out.with_extension("llm-cache"));
    let s = safe_sail::explain::deconcept::generate(&client, &a.llm, &a.queries, &a.out)?;
    for f in &s.failed {
        eprintln!("left out: {f}");
    }
    println!(
        "wrote {} pairs to {} ({} queries left out); review them (\"reviewed\": false) before evaluating",
        s.written,
        a.out.display(),
        s.failed.len()
    );
    Ok(())
}

#[derive(Args)]
pub struct OutputArgs {
    #[command(flatten)]
    pub model: super::args::ModelArgs,
    /// An SAE: `PATH[,key=value...]`. Repeatable (the neuron names which by layer, or as
    /// `NAME:LAYER_INDEX`).
    #[arg(long, required = true)]
    pub sae: Vec<String>,
    /// The feature store folder (from `collect`) of the neuron's SAE: its max activation makes
    /// `4x` strengths. Repeatable.
    #[arg(long)]
    pub store: Vec<PathBuf>,
    /// The neuron: `LAYER_INDEX` or `NAME:LAYER_INDEX`.
    #[arg(long)]
    pub neuron: String,
    /// How much of the decoder direction is added: `4x` (× the neuron's max activation in its
    /// --store) or an absolute value when there is no store.
    #[arg(long, default_value = "4x")]
    pub strength: String,
    /// Neutral prompts, one per line (default: six built-in English and Chinese ones).
    #[arg(long)]
    pub prompts: Option<PathBuf>,
    /// Render each prompt through the chat template as a user message.
    #[arg(long)]
    pub chat: bool,
    /// Tokens per list.
    #[arg(long, default_value_t = 10)]
    pub tokens: usize,
    /// Length of the greedy continuation of the first prompt.
    #[arg(long, default_value_t = 24)]
    pub max_new_tokens: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `explain-output`: what a neuron does to the output ([`safe_sail::explain::output`]).
pub fn explain_output(a: OutputArgs) -> Result<()> {
    use safe_sail::explain::output::{output_effect, OutputOpts};
    use safe_sail::steer::{self, Amount, NeuronRef, SaeSlot};
    let neuron: NeuronRef = a.neuron.parse()?;
    let strength = Amount::parse(&a.strength, "--strength")?;
    let mut opts = OutputOpts {
        strength,
        chat: a.chat,
        tokens: a.tokens,
        max_new_tokens: a.max_new_tokens,
        ..Default::default()
    };
    if let Some(p) = &a.prompts {
        let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            anyhow::anyhow!(
                "{} is not valid UTF-8 (byte {})",
                p.display(),
                e.utf8_error().valid_up_to()
            )
        })?;
        opts.prompts = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        if opts.prompts.is_empty() {
            anyhow::bail!("{} holds no prompts", p.display());
        }
    }
    let model = a.model.spec().load()?;
    let saes = safe_sail::load::load_saes(&a.sae, model.net.device())?;
    let slots = steer::attach_stores(saes.into_iter().map(SaeSlot::new).collect(), &a.store)?;
    let e = output_effect(
        &model,
        &slots,
        &neuron,
        &opts,
        &std::sync::atomic::AtomicBool::new(false),
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&e)?);
        return Ok(());
    }
    println!(
        "neuron {} of {} ({}), amplified by {} = {:.4}",
        e.neuron, e.sae, e.hook, e.strength, e.value
    );
    let list = |title: &str, rows: Vec<String>| {
        println!("{title}");
        for r in rows {
            println!("  {r}");
        }
    };
    let lens = |v: &[safe_sail::explain::output::LensToken]| -> Vec<String> {
        v.iter()
            .map(|t| {
                format!(
                    "{:<20} logit {:+.3}  Δlog-prob {:+.3}",
                    format!("{:?}", t.token),
                    t.logit,
                    t.delta_logprob
                )
            })
            .collect()
    };
    let shifts = |v: &[safe_sail::explain::output::TokenShift]| -> Vec<String> {
        v.iter()
            .map(|t| format!("{:<20} {:+.3}", format!("{:?}", t.token), t.delta_logprob))
            .collect()
    };
    list("promoted (decoder · unembedding):", lens(&e.promoted));
    list("suppressed:", lens(&e.suppressed));
    list(
        &format!(
            "next-token log-probability rises most (mean over {} prompts, nats):",
            e.prompts.len()
        ),
        shifts(&e.rises),
    );
    list("falls most:", shifts(&e.falls));
    println!("mean KL(default ‖ amplified) {:.4} nats", e.mean_kl);
    println!("prompt:    {:?}", e.example.prompt);
    println!("default:   {:?}", e.example.default);
    println!("amplified: {:?}", e.example.steered);
    Ok(())
}
