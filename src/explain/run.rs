//! The `explain` and `score` verbs: plan which latents of a feature store to work on, run
//! `concurrency` workers against the explainer / simulator (or the offline baselines), and
//! write every result into the neuron database from one thread, with history and provenance.
//!
//! Results are written every 20 latents and at the end through [`crate::db::commit::update`]:
//! under the database's lock, over the file as it is then, field by field, so edits others make
//! during a run (an annotator's window, `db set`) are kept. A result that would replace one of
//! them is not written and is reported (counted in [`RunSummary::failed`] and
//! [`RunSummary::conflicts`]): a score whose explanation changed meanwhile, an explanation of a
//! neuron a person wrote or verified meanwhile.

use super::classify::{self, Method};
use super::{
    baseline_explanation, explain_messages, explainer_examples, held_out_examples,
    keyword_simulate, parse_explanation, pearson, simulate, LlmClient, NonActivatingPool,
    Segmenter, Unit, Units, Usage, EXPLAINER_PROMPT_VERSION, PROMPT_VERSION,
};
use crate::db::editable::{Change, Edit, EditableDb, ReviewStatus};
use crate::db::provenance::{ExplanationSource, MethodScore, ScoreSource};
use crate::hooks::HookPoint;
use crate::load::ModelSpec;
use crate::progress::Progress;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Write explanations and tags.
    Explain,
    /// Score the current explanations by simulation.
    Score,
}

/// The offline explainer / simulator's name (`--llm baseline`).
pub const BASELINE: &str = "baseline";

/// An explain or score run.
#[derive(Debug, Clone)]
pub struct LlmRun {
    /// The SAE's feature store.
    pub store: PathBuf,
    /// The neuron database (created when missing).
    pub db: PathBuf,
    /// Latents, e.g. `0-99` or `3,17,42` (default: every latent with examples).
    pub latents: Option<String>,
    /// Instead of `latents`: the concept-distinguishing latents `evaluate` listed for the
    /// store's SAE in this evaluation folder.
    pub latents_from: Option<PathBuf>,
    pub limit: Option<usize>,
    /// Work on the share `i` of `n` of the chosen latents (every n-th, from the i-th): shards
    /// that run side by side (Slurm array tasks) into the same database make what one run makes.
    pub shard: Option<(u64, u64)>,
    /// API base of an OpenAI-compatible server.
    pub endpoint: String,
    /// The model name on that server, or [`BASELINE`].
    pub llm: String,
    pub api_key: Option<String>,
    /// Examples shown to the explainer / simulated per latent.
    pub examples: usize,
    /// explain: replace existing explanations (never a person's verified one).
    pub overwrite: bool,
    pub concurrency: usize,
    /// score: `simulation-segment` (the default), `simulation-token`, `detection`, `fuzzing`
    /// or `embedding` (see [`ScoreMethod`]).
    pub method: Option<String>,
    /// score, simulation: `segment`, `token` or `both` (default: the method's unit).
    pub unit: Option<String>,
    /// score, detection / fuzzing: ask the server for log-probabilities, for an AUC.
    pub logprobs: bool,
    /// score, embedding: the embedding model on the endpoint's `/embeddings`.
    pub embedding_model: Option<String>,
    /// score: skip latents already scored the same way.
    pub resume: bool,
    /// score: non-activating held-out contexts per latent.
    pub non_activating: usize,
    /// score: a segment is active when its largest activation ÷ the latent's 0.999 quantile
    /// reaches this.
    pub segment_threshold: f32,
    /// score: the longest segment in tokens (default: `assets/segmentation.toml`'s).
    pub segment_max_tokens: Option<usize>,
    /// score: the model and SAE for the non-activating contexts (default: the store's).
    pub model: Option<String>,
    pub sae: Option<String>,
    /// score: replace scores of the current explanations made by another method (simulation
    /// unit, simulator, or with/without non-activating examples); refused otherwise.
    pub force: bool,
    /// score: mark in each scored record whether its score passes `r >= R` (the `inclusion`
    /// field; the released database's R is 0.2).
    pub min_score: Option<f64>,
}

/// How `score` scores an explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreMethod {
    /// Safe-SAIL's simulation (Pearson r of predicted against true activations), into
    /// `correlation_score`; the unit (segment, token) comes from `--unit` / the method name.
    Simulation,
    /// Delphi's detection or fuzzing judgements (balanced accuracy, F1, AUC), into
    /// `method_scores`.
    Classify(Method),
    /// Cosine similarity of example embeddings to the explanation's (AUC), into
    /// `method_scores`.
    Embedding,
}

impl ScoreMethod {
    /// Every `--method` name.
    pub const NAMES: [&'static str; 5] = [
        "simulation-segment",
        "simulation-token",
        "detection",
        "fuzzing",
        "embedding",
    ];

    /// The method and simulation units of `--method` / `--unit` (`--unit` alone keeps its
    /// meaning from before `--method`: segment, token or both).
    pub fn parse(method: Option<&str>, unit: Option<&str>) -> Result<(Self, Vec<Unit>)> {
        let units = |u: &str| -> Result<Vec<Unit>> {
            Ok(match u {
                "segment" => vec![Unit::Segment],
                "token" => vec![Unit::Token],
                "both" => vec![Unit::Segment, Unit::Token],
                other => bail!("--unit `{other}`: segment, token or both"),
            })
        };
        let sim = |default: &str| -> Result<(Self, Vec<Unit>)> {
            let u = unit.unwrap_or(default);
            let got = units(u)?;
            if got[0] != units(default)?[0] {
                bail!("--unit {u} contradicts --method simulation-{default}");
            }
            Ok((Self::Simulation, got))
        };
        let other = |m: Self| -> Result<(Self, Vec<Unit>)> {
            if let Some(u) = unit {
                bail!(
                    "--unit {u} is for the simulation methods, not --method {}",
                    method.unwrap_or_default()
                );
            }
            Ok((m, vec![Unit::Segment]))
        };
        match method {
            None => Ok((Self::Simulation, units(unit.unwrap_or("segment"))?)),
            Some("simulation-segment") => sim("segment"),
            Some("simulation-token") => sim("token"),
            Some("detection") => other(Self::Classify(Method::Detection)),
            Some("fuzzing") => other(Self::Classify(Method::Fuzzing)),
            Some("embedding") => other(Self::Embedding),
            Some(m) => bail!("--method `{m}`: one of {}", Self::NAMES.join(", ")),
        }
    }

    /// The name stored with the score (`method_scores` key; simulation's is in `score_source`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Simulation => "simulation",
            Self::Classify(m) => m.name(),
            Self::Embedding => "embedding",
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
    /// The latents that failed and why, in the order they finished.
    pub failures: Vec<(String, String)>,
    /// Results not written because someone else changed the neuron during the run (also
    /// counted in `failed`).
    pub conflicts: usize,
    /// score: what each method cost the simulator: (method, amount, unit of the amount).
    pub costs: Vec<(&'static str, u64, &'static str)>,
    /// score with both units: the segment level's saving over the token level in percent
    /// (negative when it cost more), the amounts compared and their unit.
    pub saving: Option<(f64, u64, u64, &'static str)>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Replies answered from the cache.
    pub cached: u64,
    pub cache_dir: PathBuf,
    /// score by detection / fuzzing / embedding: (metric, mean over the latents scored, how
    /// many had it), e.g. `("balanced accuracy", 0.81, 12)`.
    pub means: Vec<(&'static str, f64, usize)>,
}

impl RunSummary {
    /// The failures grouped by reason (in order of first appearance), with the neurons of each.
    pub fn failure_groups(&self) -> Vec<(&str, Vec<&str>)> {
        let mut groups: Vec<(&str, Vec<&str>)> = vec![];
        for (id, why) in &self.failures {
            match groups.iter_mut().find(|g| g.0 == why) {
                Some(g) => g.1.push(id),
                None => groups.push((why, vec![id])),
            }
        }
        groups
    }
}

/// How a score was made, in words: what makes two scores comparable.
fn score_kind(method: &str, simulator: &str, non_activating: bool) -> String {
    format!(
        "{method} by {simulator}, {} non-activating examples",
        if non_activating { "with" } else { "without" }
    )
}

/// The prompt version recorded with a detection / fuzzing / embedding score.
fn method_prompt_version(m: ScoreMethod) -> &'static str {
    match m {
        ScoreMethod::Embedding => classify::EMBEDDING_PROMPT_VERSION,
        _ => classify::CLASSIFY_PROMPT_VERSION,
    }
}

/// A simulation method's name in `score_source.method`.
pub fn method(u: Unit) -> &'static str {
    match u {
        Unit::Segment => "segment-simulation",
        Unit::Token => "token-simulation",
    }
}

/// Parses `--latents` (`0-99`, `3,17,42`); without it, every latent that fired in the store.
pub fn parse_latents(spec: Option<&str>, store: &Store) -> Result<Vec<u32>> {
    let Some(spec) = spec else {
        return Ok(store
            .features
            .iter()
            .filter(|f| f.count > 0)
            .map(|f| f.latent)
            .collect());
    };
    let mut out = vec![];
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (
                    a.parse().context("--latents")?,
                    b.parse().context("--latents")?,
                );
                out.extend(a..=b);
            }
            None => out.push(
                part.parse()
                    .with_context(|| format!("--latents: `{part}` is not a number"))?,
            ),
        }
    }
    Ok(out)
}

/// The latents that distinguish at least one concept for the store's SAE, from the row of
/// `dir/evaluation.json` made for it (matched by the SAE's path and hook).
pub fn latents_from_evaluation(dir: &std::path::Path, store: &Store) -> Result<Vec<u32>> {
    let path = dir.join("evaluation.json");
    let report = crate::eval::report::EvaluationReport::load(&path)?;
    let canon = |p: &str| {
        let p = p.split(',').next().unwrap_or(p).trim();
        std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p))
    };
    let want = canon(&store.meta.sae);
    let row = report
        .rows
        .iter()
        .find(|r| canon(&r.fidelity.sae) == want && r.fidelity.hook == store.meta.hook)
        .with_context(|| {
            format!(
                "{} has no row for the store's SAE {} at {}",
                path.display(),
                store.meta.sae,
                store.meta.hook
            )
        })?;
    if row.concepts.is_none() {
        bail!(
            "{} lists no concept latents (evaluate ran without --concept-pairs)",
            path.display()
        );
    }
    Ok(row.concept_latents())
}

/// The non-activating pool for `score`: the store's model and SAE (or the run's) over up to
/// 256 example contexts of the store's latents.
fn non_activating_pool(run: &LlmRun, store: &Store) -> Result<NonActivatingPool> {
    let model = ModelSpec {
        model: run.model.clone().unwrap_or_else(|| store.model_path()),
        dtype: "f32".into(),
        device: "cpu".into(),
        // As the store was collected.
        mask_special_attention: store
            .meta
            .settings
            .get("mask_special_attention")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
    }
    .load()?;
    let sae = crate::sae::load_sae(
        &run.sae
            .clone()
            .unwrap_or_else(|| store.sae_path())
            .parse()?,
        &candle_core::Device::Cpu,
    )?;
    // Every few latents' strongest example, spread over the SAE.
    let mut rows = vec![];
    let step = (store.features.len() / 256).max(1);
    for f in store.features.iter().step_by(step) {
        rows.extend(store.examples(f.latent).iter().take(1).cloned());
    }
    NonActivatingPool::build(&model, &sae, &rows, 256)
}

/// Seconds since the epoch as `unix:SECONDS`, the date recorded in provenance
/// (`SOURCE_DATE_EPOCH` when set, as for history records).
fn today() -> String {
    format!("unix:{}", crate::db::editable::now_ms() / 1000)
}

/// One latent's result, waiting to be written.
struct LatentResult {
    id: String,
    /// The changes against the run's copy of the database.
    changes: Vec<Change>,
    /// score: the explanation that was scored.
    scored: Option<String>,
}

/// Writes a batch of results (see the module doc); reports and counts the ones refused.
fn write_results(
    path: &std::path::Path,
    batch: Vec<LatentResult>,
    summary: &mut RunSummary,
    progress: &dyn Progress,
) -> Result<()> {
    let refused = crate::db::commit::update(path, |disk| {
        let mut written = vec![];
        let mut refused = vec![];
        for r in &batch {
            let now = disk.record(&r.id);
            let why = match &r.scored {
                Some(e) if now.and_then(|n| n.explanation).as_deref() != Some(e) => {
                    Some("its explanation changed during the run".to_string())
                }
                None if disk.status(&r.id) == ReviewStatus::Verified => {
                    Some("a person verified it during the run".to_string())
                }
                _ => {
                    // All of a result or nothing: try it on the neuron alone first.
                    let mut one = EditableDb::default();
                    if let Some(rec) = disk.entries.get(&r.id) {
                        one.entries.insert(r.id.clone(), rec.clone());
                    }
                    let conflicts = one.merge_changes(&r.changes, false).conflicts;
                    (!conflicts.is_empty()).then(|| {
                        conflicts
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                }
            };
            match why {
                Some(why) => refused.push(format!("{}: not written: {why}", r.id)),
                None => written.extend(disk.merge_changes(&r.changes, false).applied),
            }
        }
        Ok((written, refused))
    })?;
    for r in &refused {
        progress.note(r);
    }
    summary.done -= refused.len();
    summary.failed += refused.len();
    summary.conflicts += refused.len();
    Ok(())
}

/// Runs explain or score (see the module doc). Failures of single latents are reported through
/// `progress.note` and counted; they write nothing.
pub fn run(run: &LlmRun, task: Task, progress: &dyn Progress) -> Result<RunSummary> {
    let score = task == Task::Score;
    let store = Store::open(&run.store)?;
    let layer: HookPoint = store.meta.hook.parse()?;
    // The first unit's score goes into the database.
    let (scoring, units) = ScoreMethod::parse(run.method.as_deref(), run.unit.as_deref())?;
    if !score && (run.method.is_some() || run.unit.is_some()) {
        bail!("--method and --unit are for score");
    }
    match (scoring, &run.embedding_model) {
        (ScoreMethod::Embedding, None) => {
            bail!("--method embedding needs --embedding-model NAME (a model on the endpoint's /embeddings)")
        }
        (ScoreMethod::Embedding, Some(_)) => {}
        (_, Some(_)) => bail!("--embedding-model is for --method embedding"),
        (_, None) => {}
    }
    if matches!(
        scoring,
        ScoreMethod::Classify(Method::Detection) | ScoreMethod::Embedding
    ) && run.non_activating == 0
    {
        bail!(
            "--method {} compares examples where the latent fires with ones where it does not: \
             it needs --non-activating N > 0",
            scoring.name()
        );
    }
    let spent = Mutex::new(vec![Usage::default(); units.len()]);
    let segmenter = match run.segment_max_tokens {
        Some(n) => Segmenter::default().with_max_tokens(n),
        None => Segmenter::default(),
    };
    let units_of = |unit: Unit, f: &crate::store::FeatureRow| Units {
        threshold: run.segment_threshold,
        segmenter: segmenter.clone(),
        ..Units::new(unit, f.max_act, f.q999)
    };
    let segmentation = units_of(units[0], &Default::default()).describe();
    let baseline = run.llm == BASELINE && scoring != ScoreMethod::Embedding;
    let simulator_name = match (&run.embedding_model, scoring) {
        (Some(m), ScoreMethod::Embedding) => m.as_str(),
        (_, ScoreMethod::Classify(_)) if baseline => "baseline (keyword judge, no LLM)",
        _ if baseline => "baseline (keyword simulator, no LLM)",
        _ => run.llm.as_str(),
    };
    let cache_dir = run.db.with_extension("llm-cache");
    let scorer_model = match scoring {
        ScoreMethod::Embedding => run.embedding_model.as_deref().unwrap_or_default(),
        _ => run.llm.as_str(),
    };
    let client =
        LlmClient::new(&run.endpoint, scorer_model, run.api_key.clone()).with_cache(&cache_dir);
    let today = today();
    let mut db = if run.db.exists() {
        EditableDb::load(&run.db)?
    } else {
        EditableDb::default()
    };
    let who = format!(
        "{}:{}",
        match (task, scoring) {
            (Task::Explain, _) => "explainer",
            (_, ScoreMethod::Simulation) => "simulator",
            _ => "scorer",
        },
        scorer_model
    );
    let mut latents = match &run.latents_from {
        Some(dir) => latents_from_evaluation(dir, &store)?,
        None => parse_latents(run.latents.as_deref(), &store)?,
    };
    if let Some(n) = run.limit {
        latents.truncate(n);
    }
    if let Some((i, n)) = run.shard {
        latents = latents
            .into_iter()
            .enumerate()
            .filter(|(j, _)| *j as u64 % n == i)
            .map(|(_, l)| l)
            .collect();
    }
    let mut summary = RunSummary {
        cache_dir: cache_dir.clone(),
        ..Default::default()
    };
    // Plan: which latents to work on (and, to score, with which explanation).
    let mut tasks: Vec<(u32, String, Option<String>)> = vec![];
    let new_kind = score_kind(method(units[0]), simulator_name, run.non_activating > 0);
    // Neurons whose current explanation has a score made another way.
    let mut other_method: Vec<(String, String)> = vec![];
    for l in &latents {
        let id = crate::db::neuron_id(layer.layer, *l);
        if store.feature(*l).is_none() || store.examples(*l).is_empty() {
            summary.skipped += 1;
            continue;
        }
        if score {
            match db
                .record(&id)
                .and_then(|r| r.explanation)
                .filter(|e| !e.trim().is_empty() && e != "***")
            {
                Some(e) if scoring != ScoreMethod::Simulation => {
                    let done = db
                        .entries
                        .get(&id)
                        .and_then(|r| MethodScore::of(r, scoring.name()))
                        .is_some_and(|s| {
                            s.explanation == e
                                && s.scorer == simulator_name
                                && s.prompt_version == method_prompt_version(scoring)
                        });
                    if run.resume && done {
                        summary.skipped += 1;
                    } else {
                        tasks.push((*l, id, Some(e)));
                    }
                }
                Some(e) => {
                    let old = db.entries.get(&id).and_then(ScoreSource::of);
                    let done = old.as_ref().is_some_and(|s| {
                        s.explanation == e
                            && s.method == method(units[0])
                            && s.segmentation == segmentation
                            && s.simulator == simulator_name
                            && s.prompt_version == PROMPT_VERSION
                    });
                    if let Some(s) = old.filter(|s| s.explanation == e) {
                        let was =
                            score_kind(&s.method, &s.simulator, s.held_out.non_activating > 0);
                        if was != new_kind {
                            other_method.push((id.clone(), was));
                        }
                    }
                    if run.resume && done {
                        summary.skipped += 1;
                    } else {
                        tasks.push((*l, id, Some(e)));
                    }
                }
                None => summary.skipped += 1,
            }
        } else {
            // A person's verified explanation is never replaced, even with --overwrite.
            let verified = db.status(&id) == ReviewStatus::Verified;
            let has = db
                .record(&id)
                .and_then(|r| r.explanation)
                .is_some_and(|e| !e.trim().is_empty());
            if verified || (!run.overwrite && has) {
                summary.skipped += 1;
            } else {
                tasks.push((*l, id, None));
            }
        }
    }
    if let Some((id, was)) = other_method.first().filter(|_| !run.force && score) {
        bail!(
            "{} neuron(s) already have a score of their current explanation made another way \
             ({id}: {was}; this run: {new_kind}), and scores made differently do not compare. \
             Pass --force to replace them, or leave them out with --latents",
            other_method.len()
        );
    }
    // Contexts where a latent does not fire, for the held-out mix: a score without them is
    // weaker, so not finding them is an error unless they were turned off.
    let fuzzing = scoring == ScoreMethod::Classify(Method::Fuzzing);
    let pool = if score && run.non_activating > 0 && !tasks.is_empty() && !fuzzing {
        Some(non_activating_pool(run, &store).map_err(|e| {
            anyhow::anyhow!(
                "cannot make the non-activating held-out examples from the store's model and SAE: \
                 {e:#}\nGive them with --model / --sae, or score without them with \
                 --non-activating 0"
            )
        })?)
    } else {
        None
    };
    let work = |l: u32, _id: &str, expl: Option<&str>| -> Result<Edit> {
        let f = store.feature(l).context("no statistics")?;
        let ex = store.examples(l);
        let Some(expl) = expl else {
            let shown = explainer_examples(&ex, run.examples);
            let reply = if baseline {
                baseline_explanation(&shown)
                    .map(|e| serde_json::json!({"explanation": e, "tags": []}).to_string())
                    .ok_or_else(|| anyhow::anyhow!("no active tokens in the top examples"))
            } else {
                client.chat(&explain_messages(&shown, f.max_act, shown.len()))
            };
            return reply
                .and_then(|reply| parse_explanation(&reply))
                .map(|(e, tags)| Edit {
                    explanation: Some(Some(e)),
                    tags: Some(tags),
                    explanation_source: Some(Some(ExplanationSource {
                        explainer: run.llm.clone(),
                        author: None,
                        prompt_version: Some(
                            if baseline {
                                PROMPT_VERSION
                            } else {
                                EXPLAINER_PROMPT_VERSION
                            }
                            .into(),
                        ),
                        examples: Some(run.examples),
                        date: Some(today.clone()),
                        imported_from: None,
                        explanation_type: None,
                    })),
                    ..Default::default()
                });
        };
        let zeros = pool
            .as_ref()
            .map(|p| p.pick(l, run.non_activating))
            .unwrap_or_default();
        let (held, mix) = held_out_examples(&ex, run.examples, zeros);
        if scoring != ScoreMethod::Simulation {
            let (shown, truth) = match scoring {
                ScoreMethod::Classify(Method::Fuzzing) => classify::fuzzing_set(&held, l),
                _ => classify::detection_set(&held),
            };
            let (bal, f1, precision, recall, auc, used) = match scoring {
                ScoreMethod::Classify(m) => {
                    let c = if baseline {
                        let pred = classify::keyword_judge(m, expl, &shown)?;
                        classify::from_judgements(m, &truth, &pred, None, Usage::default())?
                    } else {
                        classify::score_with(&client, m, expl, &shown, &truth, run.logprobs)?
                    };
                    (
                        Some(c.balanced_accuracy),
                        c.f1,
                        c.precision,
                        c.recall,
                        c.auc,
                        c.usage,
                    )
                }
                _ => {
                    let (auc, _, u) = classify::embedding_score(&client, expl, &shown, &truth)?;
                    (None, None, None, None, Some(auc), u)
                }
            };
            spent.lock().expect("no panics while held")[0] += used;
            let positives = truth.iter().filter(|t| **t).count();
            return Ok(Edit {
                method_score: Some(MethodScore {
                    method: scoring.name().into(),
                    scorer: simulator_name.into(),
                    explanation: expl.into(),
                    prompt_version: method_prompt_version(scoring).into(),
                    positives,
                    negatives: truth.len() - positives,
                    date: today.clone(),
                    balanced_accuracy: bal,
                    f1,
                    precision,
                    recall,
                    auc,
                }),
                ..Default::default()
            });
        }
        // Every method simulates the same examples; the costs count only latents that every
        // method simulated completely, so they compare.
        let mut runs = vec![];
        for &unit in &units {
            let (mut truth, mut pred) = (vec![], vec![]);
            let mut used = Usage::default();
            let mut errors = vec![];
            let spec = units_of(unit, f);
            for e in &held {
                let sim = if baseline {
                    keyword_simulate(expl, e, &spec)
                } else {
                    simulate(&client, expl, e, &spec)
                };
                match sim {
                    Ok((t, p, u)) => {
                        truth.extend(t);
                        pred.extend(p);
                        used += u;
                    }
                    Err(err) => errors.push(format!("{err:#}")),
                }
            }
            // An example whose simulation failed leaves the score undefined, not partial.
            if let Some(err) = errors.first() {
                bail!("no score: {err}");
            }
            runs.push((unit, truth, pred, used));
        }
        {
            let mut spent = spent.lock().expect("no panics while held");
            for (i, run) in runs.iter().enumerate() {
                spent[i] += run.3;
            }
        }
        let mut scores = vec![];
        for (unit, truth, pred, _) in &runs {
            match pearson(truth, pred) {
                Some(r) => scores.push((*unit, r, truth.len())),
                None => bail!("no score: constant truth or prediction"),
            }
        }
        let (unit, r, units) = scores[0];
        let token = scores[1..].iter().find(|s| s.0 == Unit::Token);
        Ok(Edit {
            score: Some(r),
            min_score: run.min_score,
            score_source: Some(ScoreSource {
                method: method(unit).into(),
                simulator: simulator_name.into(),
                explanation: expl.into(),
                prompt_version: PROMPT_VERSION.into(),
                units,
                held_out: mix,
                date: today.clone(),
                segmentation: segmentation.clone(),
                token_simulation_score: token.map(|t| t.1),
                token_simulation_units: token.map(|t| t.2),
            }),
            ..Default::default()
        })
    };
    progress.set_len(tasks.len() as u64);
    // Sums and counts of balanced accuracy, F1 and AUC over the latents scored.
    let mut sums = [(0.0f64, 0usize); 3];
    // `concurrency` workers call the server; this thread writes the database.
    let next = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<(String, Option<String>, Result<Edit>)>();
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..run.concurrency.max(1) {
            let tx = tx.clone();
            let (next, tasks, work) = (&next, &tasks, &work);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((l, id, expl)) = tasks.get(i) else {
                    break;
                };
                if tx
                    .send((id.clone(), expl.clone(), work(*l, id, expl.as_deref())))
                    .is_err()
                {
                    break;
                }
            });
        }
        drop(tx);
        let mut batch = vec![];
        for (id, scored, result) in rx {
            progress.inc();
            match result {
                Ok(edit) => {
                    if let Some(m) = &edit.method_score {
                        for (i, v) in [m.balanced_accuracy, m.f1, m.auc].into_iter().enumerate() {
                            if let Some(v) = v {
                                sums[i].0 += v;
                                sums[i].1 += 1;
                            }
                        }
                    }
                    // Applied to the run's copy to know what changes, against what.
                    let changes = db.apply(&id, &edit, &who)?;
                    batch.push(LatentResult {
                        id,
                        changes,
                        scored,
                    });
                    summary.done += 1;
                    if batch.len() == 20 {
                        write_results(&run.db, std::mem::take(&mut batch), &mut summary, progress)?;
                    }
                }
                Err(e) => {
                    summary.failed += 1;
                    summary.failures.push((id, format!("{e:#}")));
                }
            }
        }
        write_results(&run.db, batch, &mut summary, progress)
    })?;
    summary.prompt_tokens = client.prompt_tokens.load(Ordering::Relaxed);
    summary.completion_tokens = client.completion_tokens.load(Ordering::Relaxed);
    summary.cached = client.cached.load(Ordering::Relaxed);
    for (name, (sum, n)) in ["balanced accuracy", "F1", "AUC"].into_iter().zip(sums) {
        if n > 0 {
            summary.means.push((name, sum / n as f64, n));
        }
    }
    if score && scoring != ScoreMethod::Simulation {
        let spent = spent.into_inner().expect("no panics while held");
        let (n, what) = spent[0].cost();
        summary.costs.push((scoring.name(), n, what));
    } else if score {
        let spent = spent.into_inner().expect("no panics while held");
        for (u, used) in units.iter().zip(&spent) {
            let (n, what) = used.cost();
            summary.costs.push((method(*u), n, what));
        }
        if let [seg, tok] = spent.as_slice() {
            let (s, what) = seg.cost();
            let (t, _) = if what == "tokens" {
                tok.cost()
            } else {
                (tok.chars, "characters")
            };
            if t > 0 {
                summary.saving = Some((100.0 * (1.0 - s as f64 / t as f64), s, t, what));
            }
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::editable::read_history;

    /// What others did during a run is kept; the results that would replace it are refused
    /// and counted, the rest written.
    #[test]
    fn results_never_replace_what_others_wrote_during_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.json");
        let expl = |e: &str| Edit {
            explanation: Some(Some(e.into())),
            ..Default::default()
        };
        let mut db = EditableDb::default();
        for id in ["1_1", "1_2", "1_3", "1_4"] {
            db.apply(id, &expl("old"), "x").unwrap();
        }
        db.save(&path).unwrap();
        // The run's copy is read now; then an annotator changes things on disk.
        let mut run_copy = EditableDb::load(&path).unwrap();
        crate::db::ops::set(&path, "1_2", &expl("rewritten by a person")).unwrap();
        let score = |r: f64| Edit {
            score: Some(r),
            ..Default::default()
        };
        crate::db::ops::set(&path, "1_3", &score(0.9)).unwrap();
        crate::db::ops::set(
            &path,
            "1_4",
            &Edit {
                status: Some(ReviewStatus::Verified),
                ..Default::default()
            },
        )
        .unwrap();
        let before = read_history(&path).unwrap().len();
        let mut batch = vec![];
        for (id, edit, scored) in [
            ("1_1", score(0.1), Some("old")),
            ("1_2", score(0.2), Some("old")),
            ("1_3", score(0.3), Some("old")),
            ("1_4", expl("from the explainer"), None),
        ] {
            batch.push(LatentResult {
                id: id.into(),
                changes: run_copy.apply(id, &edit, "simulator:x").unwrap(),
                scored: scored.map(String::from),
            });
        }
        let mut summary = RunSummary {
            done: 4,
            ..Default::default()
        };
        write_results(&path, batch, &mut summary, &crate::progress::Silent).unwrap();
        assert_eq!((summary.done, summary.failed, summary.conflicts), (1, 3, 3));
        let disk = EditableDb::load(&path).unwrap();
        assert_eq!(disk.record("1_1").unwrap().correlation_score, Some(0.1));
        assert_eq!(disk.record("1_2").unwrap().correlation_score, None);
        assert_eq!(
            disk.record("1_2").unwrap().explanation.as_deref(),
            Some("rewritten by a person")
        );
        assert_eq!(disk.record("1_3").unwrap().correlation_score, Some(0.9));
        assert_eq!(
            disk.record("1_4").unwrap().explanation.as_deref(),
            Some("old")
        );
        assert_eq!(read_history(&path).unwrap().len(), before + 1);
    }

    /// `--latents-from`: the union of the concept lists of the row made for the store's SAE.
    #[test]
    fn latents_from_an_evaluation() {
        let dir = tempfile::tempdir().unwrap();
        let sae = dir.path().join("sae");
        std::fs::create_dir_all(&sae).unwrap();
        let meta = crate::store::StoreMeta {
            program: "safe-sail".into(),
            version: "0".into(),
            model: "m".into(),
            sae: sae.display().to_string(),
            hook: "blocks.1.hook_mlp_out".into(),
            d_sae: 8,
            corpus: vec![],
            shard: None,
            documents: 0,
            bad_rows: 0,
            contexts: 0,
            tokens: 0,
            settings: serde_json::json!({}),
            definitions: serde_json::json!({}),
        };
        let sdir = dir.path().join("store");
        let f = crate::store::FeatureRow::default();
        Store::write(&sdir, &meta, &[f], &[]).unwrap();
        let store = Store::open(&sdir).unwrap();
        let fid = |sae: &str, hook: &str| {
            serde_json::json!({"sae": sae, "hook": hook, "d_sae": 8, "architecture": "topk:2",
                "k": 2, "tokens": 1, "l0": 1.0, "dead_fraction": 0.0, "dense_fraction": 0.0,
                "explained_variance": 0.5, "nmse": 0.5, "ce_clean": 1.0, "ce_sae": 1.0,
                "ce_zero": 1.0, "ce_loss_recovered": 0.5, "delta_loss": 0.0})
        };
        let concept = |l: &[u32]| {
            serde_json::json!({"domain": "terror", "concept": "weapons", "pairs": 1,
                "l0t": l.len(), "icdf": 0.0, "icdf_t": 0.0, "latents": l})
        };
        let mut other_hook = fid(&sae.display().to_string(), "blocks.2.hook_mlp_out");
        other_hook["concepts"] = serde_json::json!([concept(&[1])]);
        let mut mine = fid(&sae.display().to_string(), "blocks.1.hook_mlp_out");
        mine["concepts"] = serde_json::json!([concept(&[5, 2]), concept(&[2, 7])]);
        let write = |rows: serde_json::Value| {
            let e = dir.path().join("eval");
            std::fs::create_dir_all(&e).unwrap();
            let v = serde_json::json!({"model": "m", "corpus": [], "context": 8, "rows": rows});
            std::fs::write(e.join("evaluation.json"), v.to_string()).unwrap();
            e
        };
        let e = write(serde_json::json!([other_hook, mine]));
        assert_eq!(latents_from_evaluation(&e, &store).unwrap(), vec![2, 5, 7]);
        let e = write(serde_json::json!([other_hook]));
        let err = format!("{:#}", latents_from_evaluation(&e, &store).unwrap_err());
        assert!(err.contains("no row for the store's SAE"), "{err}");
        let e = write(serde_json::json!([fid(
            &sae.display().to_string(),
            "blocks.1.hook_mlp_out"
        )]));
        let err = format!("{:#}", latents_from_evaluation(&e, &store).unwrap_err());
        assert!(err.contains("without --concept-pairs"), "{err}");
    }
}
