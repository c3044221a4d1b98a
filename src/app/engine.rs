//! The engine thread: opens the workspace and loads its model and SAEs, then runs every
//! request off the UI thread, reporting back through a channel (and waking the UI). The work
//! itself is the library's ([`OpenedWorkspace`], [`LoadedModel`]).

use crate::families::map::{MapOpts, MapSource, NeuronMap};
use crate::inspect::{Analysis, LoadedModel, SaeInfo, TokenScores, TokenTrace};
use crate::model::generate::Flow;
use crate::model::generate::GenerateOpts;
use crate::model::PromptSpec;
use crate::progress::Progress;
use crate::steer::{self, Comparison, NeuronSet, Resolver, Side, SteerOpts, TripwireSpec};
use crate::workspace::OpenedWorkspace;
use anyhow::{bail, Result};
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
    /// The tokens a latent's decoder direction promotes and suppresses most.
    NeuronLogits { sae: usize, latent: u32, n: usize },
    /// One latent's activation on each token of a text.
    TryText {
        sae: usize,
        latent: u32,
        text: String,
    },
    /// The default and the steered answer to a prompt, compared ([`steer::compare_flow`]),
    /// streamed token by token.
    Steer(Box<SteerJob>),
    /// The 2-D map of an SAE's neurons, from the cache beside `store` (or the user's data
    /// folder) or computed ([`crate::families::map::sae_map`]).
    Map { sae: usize, store: Option<PathBuf> },
}

/// A steering comparison for the engine: the neurons are named by the workspace's SAE names.
#[derive(Debug, Clone)]
pub struct SteerJob {
    pub prompt: PromptSpec,
    pub sets: Vec<NeuronSet>,
    /// As `safe-sail steer --tripwire` takes them.
    pub tripwires: Vec<String>,
    /// The neuron database domain tripwires read (verified neurons with the tag).
    pub db: Option<PathBuf>,
    pub opts: SteerOpts,
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
    },
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
                let (loaded, slots) = match load(&workspace, &send, wake.clone(), delay) {
                    Ok(m) => m,
                    Err(e) => {
                        send(Event::LoadFailed(format!("{e:#}")));
                        return;
                    }
                };
                for job in jobs_rx {
                    flag.store(false, Ordering::SeqCst);
                    match run(&loaded, &slots, job, &flag, &send) {
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
) -> Result<(LoadedModel, Vec<steer::SaeSlot>)> {
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
    Ok((loaded, slots))
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
    job: Job,
    cancel: &AtomicBool,
    send: &dyn Fn(Event),
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
            send(Event::NeuronLogits {
                sae,
                latent,
                top,
                bottom,
                neighbours,
            });
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
            let c = steer_compare(m, slots, &j, cancel, send)?;
            send(Event::Steered(Box::new(c)));
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

/// Resolves the interventions and tripwires against the loaded SAEs and runs the library's
/// comparison, sending each token as it comes; a cancel stops it after the next token.
fn steer_compare(
    m: &LoadedModel,
    slots: &[steer::SaeSlot],
    j: &SteerJob,
    cancel: &AtomicBool,
    send: &dyn Fn(Event),
) -> Result<Comparison> {
    let r = Resolver {
        model: &m.model,
        saes: slots,
    };
    let ivs = j
        .sets
        .iter()
        .map(|s| r.neuron(s, &s.to_string()))
        .collect::<Result<Vec<_>>>()?;
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
            Flow::Continue
        },
    )?;
    if cancel.load(Ordering::SeqCst) {
        bail!("cancelled");
    }
    c.use_display_strings(tok);
    Ok(c)
}
