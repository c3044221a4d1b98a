//! The engine thread: opens the workspace and loads its model and SAEs, then runs every
//! request off the UI thread, reporting back through a channel (and waking the UI). The work
//! itself is the library's ([`OpenedWorkspace`], [`LoadedModel`]).

use crate::explain::output::{output_effect, OutputEffect, OutputOpts};
use crate::families::map::{MapOpts, MapSource, NeuronMap};
use crate::families::{CoActivation, NeuronFamily};
use crate::inspect::{Analysis, LoadedModel, SaeInfo, TokenScores, TokenTrace};
use crate::model::generate::Flow;
use crate::model::generate::GenerateOpts;
use crate::model::PromptSpec;
use crate::progress::Progress;
use crate::steer::{self, Comparison, InterventionSpec, Resolver, Side, SteerOpts, TripwireSpec};
use crate::store::Store;
use crate::workspace::OpenedWorkspace;
use anyhow::{bail, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Work for the engine thread.
pub enum Job {
    /// Run a prompt, optionally let the model answer, and encode every SAE.
    Analyze {
        prompt: PromptSpec,
        answer: Option<GenerateOpts>,
        /// Only these SAEs (workspace positions); all when `None`.
        saes: Option<Vec<usize>>,
    },
    /// The tokens a latent's decoder direction promotes and suppresses most, and its family
    /// (nearest neurons, co-activation, the same concept in other SAEs, its chain).
    NeuronLogits { sae: usize, latent: u32, n: usize },
    /// The Compare view's partner figure for each pair of SAEs (workspace positions), one
    /// [`Event::Partners`] per pair as it is done.
    Partners {
        pairs: Vec<(usize, usize)>,
        threshold: f32,
    },
    /// One latent's activation on each token of a text.
    TryText {
        sae: usize,
        latent: u32,
        text: String,
    },
    /// The default and the steered answer to a prompt, compared ([`steer::compare_flow`]),
    /// streamed token by token.
    Steer(Box<SteerJob>),
    /// What a neuron does to the output ([`crate::explain::output::output_effect`]); `sae` and
    /// `latent` say which page asked, `neuron` names it as the steering slots do.
    OutputEffect {
        sae: usize,
        latent: u32,
        neuron: steer::NeuronRef,
        opts: Box<OutputOpts>,
    },
    /// What each intervention costs ([`steer::eval::steer_eval_cancellable`]), with progress.
    SteerEval(Box<SteerEvalJob>),
    /// The interventions as lm-evaluation-harness's CSV ([`steer::eval::write_lm_eval_csv`]).
    ExportLmEval {
        sets: Vec<InterventionSpec>,
        path: PathBuf,
    },
    /// Which SAE neurons drove a metric of the model's output ([`attribute_job`]).
    Attribute(Box<AttributeJob>),
    /// The 2-D map of an SAE's neurons, from the cache beside `store` (or the user's data
    /// folder) or computed ([`crate::families::map::sae_map`]).
    Map { sae: usize, store: Option<PathBuf> },
}

/// An attribution run for the engine: the window's Attribution view.
#[derive(Debug, Clone)]
pub struct AttributeJob {
    pub prompt: PromptSpec,
    /// The start of the model's answer, appended after the prompt.
    pub answer: Option<String>,
    pub metric: crate::attribute::MetricSpec,
    /// The SAEs spliced in (workspace positions).
    pub saes: Vec<usize>,
    /// Neurons listed (and, with `exact`, ablated for real).
    pub top: usize,
    pub exact: bool,
}

/// A finished attribution: the library's [`crate::attribute::Report`], with the workspace
/// position of each SAE it names (`sae_index` → position) and the prompt's text.
#[derive(Debug, Clone)]
pub struct Attributed {
    pub report: crate::attribute::Report,
    pub saes: Vec<usize>,
    pub prompt: String,
}

/// A steering comparison for the engine: the neurons are named by the workspace's SAE names.
#[derive(Debug, Clone)]
pub struct SteerJob {
    pub prompt: PromptSpec,
    /// Neuron interventions and raw directions, in the `--set` / `--direction` syntax's terms.
    pub sets: Vec<InterventionSpec>,
    /// As `safe-sail steer --tripwire` takes them.
    pub tripwires: Vec<String>,
    /// The neuron database domain tripwires read (verified neurons with the tag).
    pub db: Option<PathBuf>,
    pub opts: SteerOpts,
}

/// Where a steer-eval's prompts come from.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalPrompts {
    /// These texts (the workspace's starter prompts).
    Texts(Vec<String>),
    /// One prompt per non-empty line of a UTF-8 file.
    File(PathBuf),
}

/// A steer-eval for the engine: each intervention alone over the prompts and a neutral text.
#[derive(Debug, Clone)]
pub struct SteerEvalJob {
    pub sets: Vec<InterventionSpec>,
    pub prompts: EvalPrompts,
    /// Chat template and system prompt of every prompt (its text is replaced).
    pub like: PromptSpec,
    /// The neutral text file; `None`: [`steer::eval::default_neutral_text`].
    pub neutral: Option<PathBuf>,
    pub opts: steer::eval::EvalOpts,
}

/// What the engine thread reports.
pub enum Event {
    /// The workspace file, its neuron databases, stores and evaluations were read.
    Workspace(Box<OpenedWorkspace>),
    Status(String),
    /// Model and SAEs are loaded.
    Ready {
        model: String,
        /// Per SAE of the workspace: its description, `None` where it failed to load.
        saes: Vec<Option<SaeInfo>>,
        has_chat_template: bool,
        /// The chat template has a thinking switch (Qwen3's `enable_thinking`).
        thinking_switch: bool,
    },
    LoadFailed(String),
    /// How far loading got: the step (`model · FILE`, `SAE i/n · NAME`) and its fraction done.
    LoadProgress {
        step: String,
        fraction: f32,
    },
    /// The answer so far, while the model generates.
    Streamed(String),
    Analysis(Box<Analysis>),
    NeuronLogits {
        sae: usize,
        latent: u32,
        top: TokenScores,
        bottom: TokenScores,
        /// The latents of the same SAE with the closest decoder directions (cosine); empty when
        /// the SAE has no decoder.
        neighbours: Vec<(u32, f32)>,
        /// Co-activation neighbours, the same concept in other SAEs, the chain across layers.
        family: crate::families::NeuronFamily,
    },
    /// One pair's partner figure ([`crate::families::partner_share`]), or why it failed.
    Partners {
        a: usize,
        b: usize,
        threshold: f32,
        share: std::result::Result<crate::families::PartnerShare, String>,
    },
    /// Every pair of a [`Job::Partners`] is done (or it was cancelled).
    PartnersDone,
    TryText {
        sae: usize,
        latent: u32,
        tokens: TokenTrace,
    },
    /// A new token of the default or the steered answer, as it is generated.
    SteerToken {
        side: Side,
        token: String,
        special: bool,
    },
    /// The finished steering comparison.
    Steered(Box<Comparison>),
    /// A neuron's output-side explanation.
    OutputEffect {
        sae: usize,
        latent: u32,
        effect: Box<OutputEffect>,
    },
    /// A steer-eval's progress: steps done of all.
    SteerEvalProgress {
        done: u64,
        total: u64,
    },
    /// A steer-eval's rows (each intervention followed by its control).
    SteerEvaluated(Vec<steer::eval::EvalRow>),
    /// The lm-eval CSV was written (what to say), or why not.
    LmEvalExported(Result<String, String>),
    /// The finished attribution.
    Attributed(Box<Attributed>),
    /// How far the map of SAE `sae` got.
    MapProgress {
        sae: usize,
        step: String,
        fraction: f32,
    },
    /// The map of SAE `sae`, and where it came from.
    Map {
        sae: usize,
        map: Arc<NeuronMap>,
        source: MapSource,
    },
    /// The map of SAE `sae` could not be made (or was stopped).
    MapFailed {
        sae: usize,
        error: String,
    },
    Failed(String),
    Cancelled,
}

/// The UI's handle on the engine thread.
pub struct EngineThread {
    jobs: Sender<Job>,
    pub events: Receiver<Event>,
    cancel: Arc<AtomicBool>,
}

impl EngineThread {
    /// Starts the thread; `wake` is called after each event (the UI repaints).
    pub fn start(workspace: PathBuf, wake: impl Fn() + Send + Sync + 'static) -> Self {
        Self::start_with_delay(workspace, Duration::ZERO, wake)
    }

    /// [`EngineThread::start`], pausing `delay` after each step of loading it reports (a test
    /// hook: a slow load on a small model).
    pub fn start_with_delay(
        workspace: PathBuf,
        delay: Duration,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        Self::start_with_delays(workspace, delay, Duration::ZERO, wake)
    }

    /// [`EngineThread::start_with_delay`] that also pauses `token_delay` after each token a
    /// steering run streams (a test hook: a slow generation on a small model, to stop it).
    pub fn start_with_delays(
        workspace: PathBuf,
        delay: Duration,
        token_delay: Duration,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(wake);
        let (jobs_tx, jobs_rx) = channel::<Job>();
        let (ev_tx, ev_rx) = channel::<Event>();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || {
                lower_thread_priority();
                let send = |e: Event| {
                    let _ = ev_tx.send(e);
                    wake();
                };
                let (loaded, slots, stores) = match load(&workspace, &send, wake.clone(), delay) {
                    Ok(m) => m,
                    Err(e) => {
                        send(Event::LoadFailed(format!("{e:#}")));
                        return;
                    }
                };
                let mut families = Families {
                    stores,
                    coactivation: Default::default(),
                };
                // The flag is cleared by `submit`, before the job is sent: a Stop pressed
                // before the job starts still stops it.
                for job in jobs_rx {
                    match run(
                        &loaded,
                        &slots,
                        &mut families,
                        job,
                        &flag,
                        token_delay,
                        &send,
                    ) {
                        Ok(()) => {}
                        Err(_) if flag.load(Ordering::SeqCst) => send(Event::Cancelled),
                        Err(e) => send(Event::Failed(format!("{e:#}"))),
                    }
                }
            })
            .expect("spawn the engine thread");
        Self {
            jobs: jobs_tx,
            events: ev_rx,
            cancel,
        }
    }

    pub fn submit(&self, job: Job) {
        self.cancel.store(false, Ordering::SeqCst);
        let _ = self.jobs.send(job);
    }

    /// Asks the running job to stop at its next step.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

/// Reads the workspace's files (cheap) and reports them, then loads the model and SAEs (slow).
/// Also returns the loaded SAEs as steering slots (named as the workspace names them, with
/// their stores' max activations and 0.999 quantiles, else the Safe-SAIL quantiles).
fn load(
    path: &Path,
    send: &(dyn Fn(Event) + Sync),
    wake: Arc<dyn Fn() + Send + Sync>,
    delay: Duration,
) -> Result<(LoadedModel, Vec<steer::SaeSlot>, Stores)> {
    let opened = OpenedWorkspace::open(path, move || wake())?;
    let ws = opened.workspace.clone();
    let known: Vec<_> = opened
        .saes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let dir = ws.saes[i].store.as_ref().map(|p| ws.resolve(p));
            (s.name.clone(), s.store.clone().zip(dir), s.q999.clone())
        })
        .collect();
    send(Event::Workspace(Box::new(opened)));
    let sink = LoadSink::new(send, delay);
    let (loaded, saes) = ws.load_model_reporting(&|s| send(Event::Status(s)), &sink)?;
    let stores: Stores = known
        .iter()
        .map(|k| k.1.as_ref().map(|s| s.0.clone()))
        .collect();
    let mut slots = vec![];
    for (sae, (name, store, q999)) in loaded.saes.iter().zip(known) {
        let Some(sae) = sae else { continue };
        let mut slot = steer::SaeSlot::new(sae.clone());
        slot.name = name;
        if let Some((st, dir)) = &store {
            // A store that is not this SAE's leaves it without (steering in absolute units).
            let bare = steer::SaeSlot {
                max_act: None,
                q999: None,
                name: slot.name.clone(),
                sae: slot.sae.clone(),
            };
            slot = slot.with_open_store(st, dir).unwrap_or_else(|e| {
                tracing::warn!("steering: {e:#}");
                bare
            });
        }
        if slot.q999.is_none() && !q999.is_empty() {
            slot.q999 = Some(q999);
        }
        slots.push(slot);
    }
    send(Event::Ready {
        model: loaded.summary(),
        saes,
        has_chat_template: loaded.has_chat_template(),
        thinking_switch: loaded.model.tok.has_thinking_switch(),
    });
    Ok((loaded, slots, stores))
}

/// Per SAE of the workspace, its feature store when it has one.
type Stores = Vec<Option<Arc<Store>>>;

/// What the engine keeps for neuron families: the workspace's feature stores and, once built,
/// each store's co-activation index (`None` where it could not be built).
struct Families {
    stores: Stores,
    coactivation: HashMap<usize, Option<Arc<CoActivation>>>,
}

impl Families {
    /// SAE `sae`'s co-activation index, built on first use.
    fn coactivation(&mut self, sae: usize) -> Option<Arc<CoActivation>> {
        let store = self.stores.get(sae)?.clone()?;
        self.coactivation
            .entry(sae)
            .or_insert_with(|| match CoActivation::build(&store) {
                Ok(c) => Some(Arc::new(c)),
                Err(e) => {
                    tracing::warn!("co-activation of SAE {sae}: {e:#}");
                    None
                }
            })
            .clone()
    }

    /// A neuron's family ([`NeuronFamily`]); parts that fail are left empty.
    fn of(&mut self, m: &LoadedModel, sae: usize, latent: u32, k: usize) -> NeuronFamily {
        NeuronFamily {
            coactivation: self.coactivation(sae).map(|c| c.neighbours(latent, k)),
            same_concept: m.same_concept(sae, latent).unwrap_or_else(|e| {
                tracing::warn!("same concept: {e:#}");
                vec![]
            }),
            chain: m
                .neuron_chain(sae, latent, &self.stores)
                .unwrap_or_else(|e| {
                    tracing::warn!("chain: {e:#}");
                    vec![]
                }),
        }
    }
}

/// Lowers the calling thread's scheduling priority (nice 10 on Linux, where it is per thread;
/// nothing elsewhere): the engine thread and the compute pool's workers give way to the UI
/// thread when every core is busy.
pub fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only changes the calling thread's nice value (who = 0).
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// Passes the load's progress to the window as [`Event::LoadProgress`]: at most one event per
/// 1/200 of a step or per new step, so a load of many small tensors does not flood the UI.
struct LoadSink<'a> {
    send: &'a (dyn Fn(Event) + Sync),
    len: AtomicU64,
    /// The last position sent, in 1/200 of the length.
    sent: AtomicU64,
    step: Mutex<String>,
    delay: Duration,
}

impl<'a> LoadSink<'a> {
    fn new(send: &'a (dyn Fn(Event) + Sync), delay: Duration) -> Self {
        Self {
            send,
            len: AtomicU64::new(0),
            sent: AtomicU64::new(u64::MAX),
            step: Mutex::new(String::new()),
            delay,
        }
    }

    fn emit(&self, pos: u64) {
        let len = self.len.load(Ordering::Relaxed);
        let fraction = if len == 0 {
            0.0
        } else {
            (pos as f64 / len as f64).min(1.0) as f32
        };
        let step = self.step.lock().map(|s| s.clone()).unwrap_or_default();
        (self.send)(Event::LoadProgress { step, fraction });
    }
}

impl Progress for LoadSink<'_> {
    fn set_len(&self, len: u64) {
        self.len.store(len, Ordering::Relaxed);
        self.sent.store(u64::MAX, Ordering::Relaxed);
    }

    fn set_pos(&self, pos: u64) {
        let len = self.len.load(Ordering::Relaxed).max(1);
        let bucket = pos.saturating_mul(200) / len;
        if self.sent.swap(bucket, Ordering::Relaxed) != bucket {
            self.emit(pos);
        }
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
    }

    fn message(&self, msg: &str) {
        if let Ok(mut s) = self.step.lock() {
            *s = msg.to_string();
        }
        let pos = self.sent.load(Ordering::Relaxed);
        let pos = if pos == u64::MAX {
            0
        } else {
            pos * self.len.load(Ordering::Relaxed) / 200
        };
        self.emit(pos);
    }
}

fn run(
    m: &LoadedModel,
    slots: &[steer::SaeSlot],
    families: &mut Families,
    job: Job,
    cancel: &AtomicBool,
    token_delay: Duration,
    send: &(dyn Fn(Event) + Sync),
) -> Result<()> {
    match job {
        Job::Analyze {
            prompt,
            answer,
            saes,
        } => {
            let a = m.analyze_saes(&prompt, answer.as_ref(), saes.as_deref(), cancel, &|s| {
                send(Event::Streamed(s))
            })?;
            send(Event::Analysis(Box::new(a)));
        }
        Job::NeuronLogits { sae, latent, n } => {
            let (top, bottom) = m.neuron_logits(sae, latent, n)?;
            let neighbours = m.neuron_neighbours(sae, latent, n).unwrap_or_default();
            let family = families.of(m, sae, latent, n);
            send(Event::NeuronLogits {
                sae,
                latent,
                top,
                bottom,
                neighbours,
                family,
            });
        }
        Job::Partners { pairs, threshold } => {
            for (a, b) in pairs {
                if cancel.load(Ordering::SeqCst) {
                    break;
                }
                let share = match (
                    m.saes.get(a).and_then(Option::as_ref),
                    m.saes.get(b).and_then(Option::as_ref),
                ) {
                    (Some(x), Some(y)) => crate::families::partner_share(x, y, threshold)
                        .map_err(|e| format!("{e:#}")),
                    _ => Err("not loaded".to_string()),
                };
                send(Event::Partners {
                    a,
                    b,
                    threshold,
                    share,
                });
            }
            send(Event::PartnersDone);
        }
        Job::TryText { sae, latent, text } => {
            let tokens = m.trace(sae, latent, text, cancel)?;
            send(Event::TryText {
                sae,
                latent,
                tokens,
            });
        }
        Job::Steer(j) => {
            let c = steer_compare(m, slots, &j, cancel, token_delay, send)?;
            send(Event::Steered(Box::new(c)));
        }
        Job::OutputEffect {
            sae,
            latent,
            neuron,
            opts,
        } => {
            let effect = output_effect(&m.model, slots, &neuron, &opts, cancel)?;
            send(Event::OutputEffect {
                sae,
                latent,
                effect: Box::new(effect),
            });
        }
        Job::SteerEval(j) => {
            let rows = steer_eval(m, slots, &j, cancel, send)?;
            send(Event::SteerEvaluated(rows));
        }
        Job::ExportLmEval { sets, path } => {
            let r = resolve(m, slots, &sets)
                .and_then(|ivs| steer::eval::write_lm_eval_csv(&ivs, &path))
                .map(|n| format!("wrote {n} rows to {}", path.display()))
                .map_err(|e| format!("{e:#}"));
            send(Event::LmEvalExported(r));
        }
        Job::Attribute(j) => {
            // The loaded SAEs are the workspace's, in order, less those that failed to load.
            let mut loaded = slots.iter();
            let by_position: Vec<Option<&steer::SaeSlot>> = m
                .saes
                .iter()
                .map(|s| s.as_ref().and_then(|_| loaded.next()))
                .collect();
            let a = attribute_job(&m.model, &by_position, &j, cancel, send)?;
            send(Event::Attributed(Box::new(a)));
        }
        Job::Map { sae, store } => {
            let made = m
                .saes
                .get(sae)
                .and_then(Option::as_ref)
                .ok_or_else(|| anyhow::anyhow!("that SAE is not loaded"))
                .and_then(|s| {
                    // At most one progress event per percent.
                    let last = AtomicU64::new(u64::MAX);
                    let progress = |step: &str, fraction: f32| {
                        let pct = (fraction * 100.0) as u64;
                        if last.swap(pct, Ordering::Relaxed) != pct {
                            send(Event::MapProgress {
                                sae,
                                step: step.to_string(),
                                fraction,
                            });
                        }
                    };
                    crate::families::map::sae_map(
                        s,
                        store.as_deref(),
                        &MapOpts::default(),
                        &progress,
                        cancel,
                    )
                });
            match made {
                Ok((map, source)) => send(Event::Map {
                    sae,
                    map: Arc::new(map),
                    source,
                }),
                Err(_) if cancel.load(Ordering::SeqCst) => send(Event::MapFailed {
                    sae,
                    error: "stopped".into(),
                }),
                Err(e) => send(Event::MapFailed {
                    sae,
                    error: format!("{e:#}"),
                }),
            }
        }
    }
    Ok(())
}

/// The interventions resolved against the loaded model and SAEs.
fn resolve(
    m: &LoadedModel,
    slots: &[steer::SaeSlot],
    sets: &[InterventionSpec],
) -> Result<Vec<steer::Intervention>> {
    let r = Resolver {
        model: &m.model,
        saes: slots,
    };
    sets.iter().map(|s| r.resolve(s, &s.to_string())).collect()
}

/// Passes a steer-eval's progress to the window (at most one event per 1/100 of the work).
struct EvalSink<'a> {
    send: &'a (dyn Fn(Event) + Sync),
    len: AtomicU64,
    pos: AtomicU64,
}

impl Progress for EvalSink<'_> {
    fn set_len(&self, len: u64) {
        self.len.store(len, Ordering::Relaxed);
        (self.send)(Event::SteerEvalProgress {
            done: 0,
            total: len,
        });
    }

    fn inc(&self) {
        let done = self.pos.fetch_add(1, Ordering::Relaxed) + 1;
        let total = self.len.load(Ordering::Relaxed);
        if total == 0 || done * 100 / total != (done - 1) * 100 / total || done == total {
            (self.send)(Event::SteerEvalProgress { done, total });
        }
    }
}

/// Reads the prompts and the neutral text, resolves the interventions and runs the library's
/// steer-eval, reporting progress; a cancel stops it after the next token.
fn steer_eval(
    m: &LoadedModel,
    slots: &[steer::SaeSlot],
    j: &SteerEvalJob,
    cancel: &AtomicBool,
    send: &(dyn Fn(Event) + Sync),
) -> Result<Vec<steer::eval::EvalRow>> {
    let ivs = resolve(m, slots, &j.sets)?;
    if ivs.is_empty() {
        bail!("nothing to evaluate: add an intervention");
    }
    let (lines, from) = match &j.prompts {
        EvalPrompts::Texts(t) => (t.clone(), "the starter prompt list".to_string()),
        EvalPrompts::File(p) => (
            steer::eval::read_text(p)?
                .lines()
                .map(str::to_string)
                .collect(),
            p.display().to_string(),
        ),
    };
    let prompts = steer::eval::tokenize_prompts(&m.model, &lines, &j.like, &from)?;
    let neutral_text = match &j.neutral {
        Some(p) => steer::eval::read_text(p)?,
        None => steer::eval::default_neutral_text(),
    };
    let neutral = m.model.tok.encode_ids(&neutral_text, true)?;
    let sink = EvalSink {
        send,
        len: AtomicU64::new(0),
        pos: AtomicU64::new(0),
    };
    steer::eval::steer_eval_cancellable(
        &m.model, slots, &prompts, &neutral, &ivs, &j.opts, &sink, cancel,
    )
}

/// Resolves the interventions and tripwires against the loaded SAEs and runs the library's
/// comparison, sending each token as it comes; a cancel stops it after the next token.
fn steer_compare(
    m: &LoadedModel,
    slots: &[steer::SaeSlot],
    j: &SteerJob,
    cancel: &AtomicBool,
    token_delay: Duration,
    send: &(dyn Fn(Event) + Sync),
) -> Result<Comparison> {
    let r = Resolver {
        model: &m.model,
        saes: slots,
    };
    let ivs = resolve(m, slots, &j.sets)?;
    let tws = j
        .tripwires
        .iter()
        .map(|t| r.tripwire(&t.parse::<TripwireSpec>()?, t, j.db.as_deref()))
        .collect::<Result<Vec<_>>>()?;
    if ivs.is_empty() && tws.is_empty() {
        bail!("nothing to steer: add an intervention (or a tripwire)");
    }
    let tokens = m.model.tokenize_prompt(&j.prompt)?;
    let tok = &m.model.tok;
    // Tokens are shown as the inspector shows them: a character on the token that completes
    // it, never raw bytes ([`crate::model::tokenizer::Tok::display_strings`]).
    let mut ids: [Vec<u32>; 2] = [vec![], vec![]];
    let mut c = steer::compare_flow(
        &m.model,
        slots,
        &tokens,
        &ivs,
        &tws,
        &j.opts,
        &mut |side, id| {
            if cancel.load(Ordering::SeqCst) {
                return Flow::Stop;
            }
            let ids = &mut ids[side as usize];
            ids.push(id);
            send(Event::SteerToken {
                side,
                token: tok.display_strings(ids).pop().unwrap_or_default(),
                special: tok.is_special(id),
            });
            if !token_delay.is_zero() {
                std::thread::sleep(token_delay);
            }
            Flow::Continue
        },
    )?;
    if cancel.load(Ordering::SeqCst) {
        bail!("cancelled");
    }
    c.use_display_strings(tok);
    Ok(c)
}

/// Runs an attribution job: the prompt's tokens and the metric resolved, the job's SAEs taken
/// from `by_position` (the loaded SAE of each workspace position), then the library's
/// [`crate::attribute::report`]; each step is reported as a status line and a cancel stops it
/// at the next step.
pub fn attribute_job(
    model: &crate::model::Model,
    by_position: &[Option<&steer::SaeSlot>],
    j: &AttributeJob,
    cancel: &AtomicBool,
    send: &dyn Fn(Event),
) -> Result<Attributed> {
    use crate::attribute::{self, graph::GraphOpts, ReportOpts, ReportStep};
    if j.saes.is_empty() {
        bail!("no SAE chosen: attribution ranks the neurons of at least one SAE");
    }
    let mut chosen = vec![];
    for &i in &j.saes {
        match by_position.get(i) {
            // Attribution needs the SAE and its name only (the weights are shared).
            Some(Some(slot)) => chosen.push(steer::SaeSlot {
                name: slot.name.clone(),
                sae: slot.sae.clone(),
                max_act: None,
                q999: None,
            }),
            Some(None) => bail!("SAE #{} of the workspace did not load", i + 1),
            None => bail!("the workspace has no SAE #{}", i + 1),
        }
    }
    let metric = j.metric.resolve(&model.tok)?;
    let context = attribute::context_ids(model, &j.prompt, j.answer.as_deref())?;
    let opts = ReportOpts {
        attribute: Default::default(),
        top: j.top.max(1),
        exact: j.exact,
        // As `safe-sail attribute --top N --graph-out` makes it.
        graph: GraphOpts {
            nodes: j.top.max(1),
            edge_targets: GraphOpts::default().edge_targets,
        },
    };
    let report = attribute::report(model, &chosen, &context, &metric, &opts, &mut |step| {
        if cancel.load(Ordering::SeqCst) {
            return true;
        }
        send(Event::Status(match step {
            ReportStep::Attributing => "attributing: one forward and one backward pass …".into(),
            ReportStep::Exact(i, n) => format!("exact check: ablating neuron {} of {n} …", i + 1),
            ReportStep::Graph => "linking the top neurons between layers …".into(),
        }));
        false
    })?;
    Ok(Attributed {
        report,
        saes: j.saes.clone(),
        prompt: j.prompt.text.clone(),
    })
}
