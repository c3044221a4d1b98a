//! The engine thread: loads the workspace's model and SAEs and runs every request off the
//! UI thread, reporting back through a channel (and waking the UI).

use super::analysis::{Analysis, SaeActs, SaeContext};
use crate::capture::{check_sae_fits, Capture};
use crate::db::autosave::EditSession;
use crate::db::NeuronDb;
use crate::device::{parse_device, parse_dtype};
use crate::model::generate::{Flow, GenerateOpts};
use crate::model::{ForwardOpts, Model, PromptSpec};
use crate::sae::{load_sae, Sae};
use crate::workspace::Workspace;
use anyhow::{Context, Result};
use candle_core::{DType, Device};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

/// Work for the engine thread.
pub enum Job {
    /// Run a prompt, optionally let the model answer, and encode every SAE.
    Analyze {
        prompt: PromptSpec,
        answer: Option<GenerateOpts>,
    },
    /// The tokens a latent's decoder direction promotes and suppresses most.
    NeuronLogits { sae: usize, latent: u32, n: usize },
    /// One latent's activation on each token of a text.
    TryText {
        sae: usize,
        latent: u32,
        text: String,
    },
}

/// Tokens with a score each (promoted / suppressed tokens).
pub type TokenScores = Vec<(String, f32)>;

/// Tokens of a text with one neuron's activation each, and whether the token is special.
pub type TokenTrace = Vec<(String, f32, bool)>;

/// A description of a loaded SAE.
#[derive(Debug, Clone)]
pub struct SaeInfo {
    pub name: String,
    pub hook: String,
    pub layer: usize,
    pub d_sae: usize,
    pub activation: String,
    pub format: String,
}

/// What the engine thread reports.
pub enum Event {
    /// The workspace file and its neuron databases were read.
    Workspace {
        ws: Box<Workspace>,
        contexts: Vec<SaeContext>,
        notes: Vec<String>,
        /// Editing sessions of the databases, by file.
        sessions: Vec<(PathBuf, EditSession)>,
        /// Feature stores, per SAE.
        stores: Vec<Option<Arc<crate::store::Store>>>,
        /// Each SAE's row of its `evaluation.json`, when the workspace names one.
        evals: Vec<Option<serde_json::Value>>,
    },
    Status(String),
    /// Model and SAEs are loaded.
    Ready {
        model: String,
        saes: Vec<SaeInfo>,
        has_chat_template: bool,
    },
    LoadFailed(String),
    /// The answer so far, while the model generates.
    Streamed(String),
    Analysis(Box<Analysis>),
    NeuronLogits {
        sae: usize,
        latent: u32,
        top: Vec<(String, f32)>,
        bottom: Vec<(String, f32)>,
    },
    TryText {
        sae: usize,
        latent: u32,
        tokens: Vec<(String, f32, bool)>,
    },
    Failed(String),
    Cancelled,
}

/// The UI's handle on the engine thread.
pub struct Worker {
    jobs: Sender<Job>,
    pub events: Receiver<Event>,
    cancel: Arc<AtomicBool>,
}

impl Worker {
    /// Starts the thread; `wake` is called after each event (the UI repaints).
    pub fn start(workspace: PathBuf, wake: impl Fn() + Send + Sync + 'static) -> Self {
        let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(wake);
        let (jobs_tx, jobs_rx) = channel::<Job>();
        let (ev_tx, ev_rx) = channel::<Event>();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || {
                let send = |e: Event| {
                    let _ = ev_tx.send(e);
                    wake();
                };
                let engine = match Engine::load(&workspace, &send, wake.clone()) {
                    Ok(e) => e,
                    Err(e) => {
                        send(Event::LoadFailed(format!("{e:#}")));
                        return;
                    }
                };
                for job in jobs_rx {
                    flag.store(false, Ordering::SeqCst);
                    match engine.run(job, &flag, &send) {
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

struct Engine {
    model: Model,
    saes: Vec<Option<Sae>>,
}

/// Reads the workspace and its neuron databases (cheap) and reports them, then loads the
/// model and SAEs (slow).
impl Engine {
    fn load(
        path: &std::path::Path,
        send: &dyn Fn(Event),
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> Result<Self> {
        let ws = Workspace::load(path)?;
        let mut notes = vec![];
        let shared_db = match &ws.neuron_db {
            Some(p) => match NeuronDb::load(&ws.resolve(p)) {
                Ok(db) => db,
                Err(e) => {
                    notes.push(format!("neuron database not loaded: {e:#}"));
                    NeuronDb::default()
                }
            },
            None => NeuronDb::default(),
        };
        let mut contexts = vec![];
        for (i, s) in ws.saes.iter().enumerate() {
            let layer = ws
                .sae_spec(i)
                .ok()
                .and_then(|spec| spec.hook)
                .map(|h| h.layer);
            let db = match &s.neuron_db {
                // A candidate's own database that nobody has written yet: empty, created by the
                // first edit.
                Some(p) if !ws.resolve(p).exists() => NeuronDb::default(),
                Some(p) => NeuronDb::load(&ws.resolve(p)).unwrap_or_else(|e| {
                    notes.push(format!("{}: neuron database not loaded: {e:#}", s.name));
                    NeuronDb::default()
                }),
                None => shared_db.clone(),
            };
            let db_path = s
                .neuron_db
                .as_ref()
                .or(ws.neuron_db.as_ref())
                .map(|p| ws.resolve(p));
            contexts.push(SaeContext {
                name: s.name.clone(),
                layer: layer.unwrap_or(0),
                db,
                db_path,
                q999: Default::default(),
            });
        }
        let mut sessions: Vec<(PathBuf, EditSession)> = vec![];
        for c in &contexts {
            let Some(p) = &c.db_path else { continue };
            if sessions.iter().any(|(q, _)| q == p) {
                continue;
            }
            if p.exists() && !crate::db::editable::EditableDb::is_our_format(p) {
                notes.push(format!(
                    "{} is a Safe-SAIL file (read-only here): to edit, run `safe-sail db import {} --db NEURONS.json` and point the workspace at NEURONS.json",
                    p.display(),
                    p.display()
                ));
                continue;
            }
            let w = wake.clone();
            match EditSession::open(p, move || w()) {
                Ok(s) => sessions.push((p.clone(), s)),
                Err(e) => notes.push(format!("{}: not editable: {e:#}", p.display())),
            }
        }
        let mut stores = vec![];
        for (i, s) in ws.saes.iter().enumerate() {
            let store = match &s.store {
                Some(p) => match crate::store::Store::open(&ws.resolve(p)) {
                    Ok(st) => {
                        contexts[i].q999 = st.q999_map();
                        Some(Arc::new(st))
                    }
                    Err(e) => {
                        notes.push(format!("{}: {e:#}", s.name));
                        None
                    }
                },
                None => None,
            };
            stores.push(store);
        }
        let evals = ws
            .saes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let dir = ws.resolve(s.eval.as_deref()?);
                let text = std::fs::read_to_string(dir.join("evaluation.json"))
                    .map_err(|e| notes.push(format!("{}: no evaluation ({e})", s.name)))
                    .ok()?;
                let v: serde_json::Value = serde_json::from_str(&text).ok()?;
                let spec = ws.sae_spec(i).ok();
                let file = spec.as_ref().and_then(|sp| {
                    sp.path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                });
                let rows = v.get("rows")?.as_array()?;
                // The row of this SAE: same file name (and hook, when the spec names it).
                rows.iter()
                    .find(|r| {
                        let same_file = file
                            .as_deref()
                            .is_some_and(|f| r["sae"].as_str().is_some_and(|p| p.ends_with(f)));
                        let same_hook = spec
                            .as_ref()
                            .and_then(|sp| sp.hook)
                            .is_none_or(|h| r["hook"] == h.to_string());
                        same_file && same_hook
                    })
                    .cloned()
            })
            .collect::<Vec<_>>();
        send(Event::Workspace {
            ws: Box::new(ws.clone()),
            contexts,
            notes,
            sessions,
            stores,
            evals,
        });
        send(Event::Status(format!("loading model {} …", ws.model)));
        let device = parse_device(&ws.device)?;
        let dtype = parse_dtype(&ws.dtype)?;
        let model = Model::load(&ws.model_spec(), &device, dtype)?;
        let mut saes = vec![];
        let mut infos = vec![];
        for (i, s) in ws.saes.iter().enumerate() {
            send(Event::Status(format!("loading SAE {} …", s.name)));
            let loaded = ws
                .sae_spec(i)
                .and_then(|spec| load_sae(&spec, &device))
                .and_then(|sae| check_sae_fits(&model, &sae).map(|_| sae));
            match loaded {
                Ok(sae) => {
                    infos.push(SaeInfo {
                        name: s.name.clone(),
                        hook: sae.hook().to_string(),
                        layer: sae.hook().layer,
                        d_sae: sae.d_sae(),
                        activation: sae.activation.describe(),
                        format: sae.meta.format.name().into(),
                    });
                    saes.push(Some(sae));
                }
                Err(e) => {
                    send(Event::Status(format!("SAE {} not loaded: {e:#}", s.name)));
                    saes.push(None);
                }
            }
        }
        send(Event::Ready {
            model: format!(
                "{} · {} layers · d_model {}",
                model.cfg.family.name(),
                model.cfg.num_layers,
                model.cfg.hidden_size
            ),
            saes: infos,
            has_chat_template: model.tok.has_chat_template(),
        });
        Ok(Self { model, saes })
    }

    fn run(&self, job: Job, cancel: &AtomicBool, send: &dyn Fn(Event)) -> Result<()> {
        match job {
            Job::Analyze { prompt, answer } => {
                let a = self.analyze(&prompt, answer.as_ref(), cancel, send)?;
                send(Event::Analysis(Box::new(a)));
            }
            Job::NeuronLogits { sae, latent, n } => {
                let (top, bottom) = self.neuron_logits(sae, latent, n)?;
                send(Event::NeuronLogits {
                    sae,
                    latent,
                    top,
                    bottom,
                });
            }
            Job::TryText { sae, latent, text } => {
                let prompt = PromptSpec {
                    text,
                    chat: false,
                    system: None,
                    truncate: true,
                };
                let a = self.analyze(&prompt, None, cancel, send)?;
                let acts = a
                    .saes
                    .iter()
                    .find(|s| s.sae == sae)
                    .context("that SAE is not loaded")?;
                let tokens = a
                    .tokens
                    .iter()
                    .zip(&acts.acts)
                    .map(|(t, row)| {
                        let v = row.iter().find(|(l, _)| *l == latent).map_or(0.0, |p| p.1);
                        (t.text.clone(), v, t.special)
                    })
                    .collect();
                send(Event::TryText {
                    sae,
                    latent,
                    tokens,
                });
            }
        }
        Ok(())
    }

    fn analyze(
        &self,
        prompt: &PromptSpec,
        answer: Option<&GenerateOpts>,
        cancel: &AtomicBool,
        send: &dyn Fn(Event),
    ) -> Result<Analysis> {
        let m = &self.model;
        let mut tokens = m.tokenize_prompt(prompt)?;
        let n_prompt = tokens.len();
        if let Some(opts) = answer {
            let ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
            let mut new: Vec<u32> = vec![];
            m.generate(&ids, opts, &mut crate::model::NoHooks, |id| {
                new.push(id);
                send(Event::Streamed(m.tok.display_strings(&new).concat()));
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
                },
            )?;
        }
        let mut saes = vec![];
        for (i, sae) in loaded {
            let x = cap.acts[&sae.hook()].squeeze(0)?;
            saes.push(SaeActs {
                sae: i,
                layer: sae.hook().layer,
                acts: sae.encode_sparse(&x, 64)?,
            });
        }
        Ok(Analysis {
            tokens,
            n_prompt,
            saes,
        })
    }

    fn neuron_logits(
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
        let w = s.w_dec.as_ref().context("this SAE has no decoder")?;
        if latent as usize >= s.d_sae() {
            anyhow::bail!(
                "latent {latent} is out of range (the SAE has {})",
                s.d_sae()
            );
        }
        let dir = w.get(latent as usize)?.to_dtype(DType::F32)?;
        let unemb = self
            .model
            .net
            .unembedding()
            .to_dtype(DType::F32)?
            .to_device(dir.device())?;
        let logits: Vec<f32> = unemb
            .matmul(&dir.unsqueeze(1)?)?
            .squeeze(1)?
            .to_device(&Device::Cpu)?
            .to_vec1()?;
        let mut idx: Vec<usize> = (0..logits.len()).collect();
        idx.sort_by(|a, b| logits[*b].total_cmp(&logits[*a]));
        let name = |i: usize| self.model.tok.token_display(i as u32);
        let top = idx.iter().take(n).map(|&i| (name(i), logits[i])).collect();
        let bottom = idx
            .iter()
            .rev()
            .take(n)
            .map(|&i| (name(i), logits[i]))
            .collect();
        Ok((top, bottom))
    }
}
