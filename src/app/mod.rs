//! The explorer window (egui/eframe). The UI thread only draws and reacts; the model runs
//! on the engine thread ([`engine`]).
//!
//! The app keeps the shared [`AppState`] (one [`SaeSlot`] per SAE, the editing sessions, the
//! engine's status) and one state per panel. Each frame every visible panel draws from one
//! borrowed [`ViewCtx`] and returns [`Command`]s; [`ExplorerApp::handle`] applies them.

pub mod command;
pub mod ctx;
pub mod engine;
pub mod fonts;
pub mod frame_bench;
pub mod panels;
pub mod state;
pub mod style;
pub mod widgets;

pub use command::{Command, Resolution};
pub use ctx::{SaeSlot, ViewCtx};
pub use state::{AppState, EngineStatus};

use crate::families::map::MapSource;
use anyhow::Result;
use eframe::egui::{self, RichText};
use engine::{EngineThread, Event, Job};
use panels::attribution::AttributionPanel;
use panels::browser::Browser;
use panels::compare::Compare;
use panels::db_tool::DbTool;
use panels::inspector::Inspector;
use panels::neuron_page::{Logits, NeuronPage};
use panels::steer::SteerPanel;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;

/// The views of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tab {
    Inspector,
    Neuron,
    Neurons,
    Compare,
    Steer,
    Attribution,
}

/// What persists between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prefs {
    pub dark: bool,
    pub recent: Vec<PathBuf>,
    pub tab: Tab,
    pub left_panel: bool,
    /// The name edits are recorded under ("" = `SAFE_SAIL_USER`, `USER` or `USERNAME`).
    #[serde(default)]
    pub user: String,
    /// The safety overview's threshold (tokens below it are not shaded).
    #[serde(default = "default_threshold")]
    pub overview_threshold: f32,
}

fn default_threshold() -> f32 {
    panels::inspector::DEFAULT_THRESHOLD
}

impl Default for Prefs {
    fn default() -> Self {
        Self {
            dark: true,
            recent: vec![],
            tab: Tab::Inspector,
            left_panel: true,
            user: String::new(),
            overview_threshold: default_threshold(),
        }
    }
}

const PREFS_KEY: &str = "safe-sail-prefs";

/// The explorer application.
pub struct ExplorerApp {
    pub prefs: Prefs,
    /// What the panels share.
    pub state: AppState,
    pub tab: Tab,
    pub inspector: Inspector,
    pub neuron: NeuronPage,
    pub browser: Browser,
    pub compare: Compare,
    pub steer: SteerPanel,
    pub attribution: AttributionPanel,
    db_tool: DbTool,
    engine: Option<EngineThread>,
    /// A workspace loading beside the open one, which stays usable until this one is ready.
    pending: Option<PendingOpen>,
    /// The running analysis is for the compare view.
    route_to_compare: bool,
    open_path: String,
    show_open: bool,
    /// File → New workspace.
    pub new_workspace: panels::new_workspace::NewWorkspaceForm,
    dialog: Option<Receiver<DialogResult>>,
    /// A test hook: the engine pauses this long after each step of loading it reports.
    pub load_delay: std::time::Duration,
    /// A test hook: the engine pauses this long after each token a steering run streams.
    pub token_delay: std::time::Duration,
    /// `SAFE_SAIL_FRAME_LOG`: where each frame's timing is written.
    frame_log: Option<FrameLog>,
}

/// A workspace being loaded while another is open: swapped in once its model and SAEs are
/// loaded, dropped (the open one untouched) when loading fails.
struct PendingOpen {
    path: PathBuf,
    engine: EngineThread,
    /// Its files, read before the model.
    opened: Option<Box<crate::workspace::OpenedWorkspace>>,
}

enum DialogResult {
    Open(Option<PathBuf>),
    SaveAs(Option<PathBuf>),
}

/// The workspace the window opens when none is given: the user's copy of the bundled sample
/// (see [`crate::workspace::sample`]), so edits never change the bundled files; the bundled
/// sample itself when no copy can be made (no home folder, a read-only disk).
pub fn default_workspace() -> Option<PathBuf> {
    use crate::workspace::sample::{bundled_sample, user_copy, user_data_dir};
    let bundled = bundled_sample()?;
    let Some(dir) = user_data_dir() else {
        tracing::warn!("no home folder: the bundled sample opens in place (edits change it)");
        return Some(bundled);
    };
    match user_copy(&bundled, &dir.join("sample")) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!("cannot copy the sample for this user ({e:#}): it opens in place");
            Some(bundled)
        }
    }
}

/// Opens the window on `workspace` (the user's sample when `None`), `size` logical points
/// wide and high (1280 × 820 when `None`).
pub fn run(workspace: Option<PathBuf>, size: Option<[f32; 2]>) -> Result<()> {
    // The model's work runs on lower-priority threads, so the window gets a core first even
    // when loading and analysing keep every core busy.
    let _ = rayon::ThreadPoolBuilder::new()
        .start_handler(|_| engine::lower_thread_priority())
        .build_global();
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size(size.unwrap_or([1280.0, 820.0]))
            .with_title("Safe-SAIL Explorer"),
        ..Default::default()
    };
    eframe::run_native(
        "Safe-SAIL Explorer",
        options,
        Box::new(move |cc| Ok(Box::new(ExplorerApp::new(cc, workspace)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}

impl ExplorerApp {
    /// Creates the app (from eframe), restoring preferences and opening `workspace`.
    pub fn new(cc: &eframe::CreationContext<'_>, workspace: Option<PathBuf>) -> Self {
        let prefs: Prefs = cc
            .storage
            .and_then(|s| eframe::get_value(s, PREFS_KEY))
            .unwrap_or_default();
        Self::with_prefs(&cc.egui_ctx, prefs, workspace)
    }

    /// Creates the app with given preferences (tests use this).
    pub fn with_prefs(ctx: &egui::Context, prefs: Prefs, workspace: Option<PathBuf>) -> Self {
        ctx.set_theme(if prefs.dark {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        });
        // A steady text cursor: a blinking one redraws the whole window twice a second for as
        // long as a field has focus (13% of a core under software rendering with a result on
        // screen), and a calm window does not move when nothing happens.
        ctx.all_styles_mut(|s| s.visuals.text_cursor.blink = false);
        let mut state = AppState {
            user: prefs.user.clone(),
            ..Default::default()
        };
        if let Some(msg) = fonts::install_cjk_font(ctx) {
            state.notes.push(msg);
        }
        let mut inspector = Inspector::default();
        inspector.threshold = prefs.overview_threshold;
        let mut app = Self {
            tab: prefs.tab,
            prefs,
            state,
            inspector,
            neuron: NeuronPage::default(),
            browser: Browser::default(),
            compare: Compare::default(),
            steer: SteerPanel::default(),
            attribution: AttributionPanel::default(),
            db_tool: DbTool::default(),
            engine: None,
            pending: None,
            route_to_compare: false,
            open_path: String::new(),
            show_open: false,
            new_workspace: Default::default(),
            dialog: None,
            load_delay: std::time::Duration::ZERO,
            token_delay: std::time::Duration::ZERO,
            frame_log: FrameLog::from_env(),
        };
        match workspace.or_else(default_workspace) {
            Some(p) => app.open_workspace(ctx, p),
            None => {
                app.state.engine = EngineStatus::Failed(
                    "No workspace: open one with File → Open (the bundled sample, sample_data/sample.sail.json, was not found: set SAFE_SAIL_SAMPLE to its folder)".into(),
                )
            }
        }
        app
    }

    /// Opens a workspace: its files are read and its model loaded on the engine thread. With a
    /// workspace already open, a path that is no readable workspace file, or one whose model
    /// is missing or incomplete ([`crate::workspace::Workspace::check_model`]), leaves
    /// everything as it was (the open workspace, its views, the recent list) and says why.
    /// When the open workspace is loaded, the new one loads beside it (the open one stays
    /// usable) and replaces it only once its model and SAEs are loaded; a load that fails
    /// leaves the open workspace as it was.
    pub fn open_workspace(&mut self, ctx: &egui::Context, path: PathBuf) {
        if self.engine.is_some() {
            if let Err(e) = crate::workspace::Workspace::load(&path).and_then(|w| w.check_model()) {
                self.refuse_open(path, &format!("{e:#}"));
                return;
            }
        }
        let wake_ctx = ctx.clone();
        let engine = EngineThread::start_with_delays(
            path.clone(),
            self.load_delay,
            self.token_delay,
            move || wake_ctx.request_repaint(),
        );
        if self.engine.is_some() && matches!(self.state.engine, EngineStatus::Ready { .. }) {
            // An earlier pending open is dropped: its thread ends when it finds no listener.
            self.state.status = format!(
                "opening {} … (this workspace stays open until it is loaded)",
                path.display()
            );
            self.state.load_progress = None;
            self.pending = Some(PendingOpen {
                path,
                engine,
                opened: None,
            });
            return;
        }
        self.pending = None;
        self.switch_to(path, engine);
        self.state.engine = EngineStatus::Loading(format!(
            "opening {}",
            self.state
                .workspace_path
                .as_deref()
                .unwrap_or(Path::new(""))
                .display()
        ));
    }

    /// Whether a workspace is loading beside the open one.
    pub fn is_switching(&self) -> bool {
        self.pending.is_some()
    }

    /// Says why `path` was not opened and offers it in File → Open for correction.
    fn refuse_open(&mut self, path: PathBuf, why: &str) {
        self.state.status = format!("error: {why} (the open workspace is unchanged)");
        self.open_path = path.display().to_string();
        self.show_open = true;
    }

    /// Closes the open workspace's views (its edits written first) and makes `engine`, loading
    /// `path`, the window's engine.
    fn switch_to(&mut self, path: PathBuf, engine: EngineThread) {
        self.flush_edits();
        self.engine = Some(engine);
        let s = &mut self.state;
        s.load_progress = None;
        s.workspace = None;
        s.slots.clear();
        s.busy = false;
        self.inspector.analysis = None;
        // The comparison was of the old workspace's SAEs.
        self.compare.workspace_changed();
        self.route_to_compare = false;
        self.steer.running = false;
        self.steer.result = None;
        self.steer.streamed = Default::default();
        self.steer.eval_running = false;
        self.steer.eval_rows.clear();
        self.attribution.workspace_changed();
        self.neuron = NeuronPage::default();
        self.prefs.recent.retain(|p| p != &path);
        self.prefs.recent.insert(0, path.clone());
        self.prefs.recent.truncate(8);
        s.workspace_path = Some(path);
    }

    /// Follows the workspace loading beside the open one: its progress in the status bar, the
    /// swap once it is ready, the refusal when it fails.
    fn poll_pending(&mut self) {
        let Some(p) = &mut self.pending else { return };
        let mut done = None;
        for e in p.engine.events.try_iter() {
            match e {
                Event::Workspace(opened) => p.opened = Some(opened),
                Event::LoadProgress { step, fraction } => {
                    self.state.load_progress = Some((step, fraction))
                }
                Event::Status(msg) => {
                    self.state.status = format!("opening {}: {msg}", p.path.display())
                }
                e @ (Event::Ready { .. } | Event::LoadFailed(_)) => {
                    done = Some(e);
                    break;
                }
                // No job runs on an engine that is still loading.
                _ => {}
            }
        }
        let Some(done) = done else { return };
        let Some(p) = self.pending.take() else { return };
        self.state.load_progress = None;
        match (done, p.opened) {
            (ready @ Event::Ready { .. }, Some(opened)) => {
                let old: Vec<PathBuf> =
                    self.state.sessions.iter().map(|s| s.path.clone()).collect();
                self.switch_to(p.path, p.engine);
                let mut opened = *opened;
                // A database the closed workspace shared was read before its last edits were
                // written: read it again.
                for s in opened.sessions.iter_mut().filter(|s| old.contains(&s.path)) {
                    if let Err(e) = s.reload() {
                        self.state
                            .notes
                            .push(format!("cannot read {} again: {e:#}", s.path.display()));
                    }
                }
                self.on_event(Event::Workspace(Box::new(opened)));
                self.on_event(ready);
            }
            (Event::LoadFailed(e), _) => self.refuse_open(p.path, &e),
            _ => self.refuse_open(p.path, "the engine reported no workspace"),
        }
    }

    /// Whether the engine has loaded and nothing is running.
    pub fn idle(&self) -> bool {
        self.state.idle()
    }

    fn submit(&mut self, job: Job) {
        if let Some(w) = &self.engine {
            w.submit(job);
            self.state.busy = true;
            self.state.streamed.clear();
        }
    }

    /// Applies a panel's request.
    pub fn handle(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::Analyze { prompt, answer } => {
                self.state.status = "running …".into();
                let saes = Some(self.state.inspected());
                self.submit(Job::Analyze {
                    prompt,
                    answer,
                    saes,
                });
            }
            Command::Compare { text } => {
                let prompt = self.inspector.prompt_spec(&text);
                self.route_to_compare = true;
                self.submit(Job::Analyze {
                    prompt,
                    answer: None,
                    saes: None,
                });
            }
            Command::ComputePartners { pairs, threshold } => {
                self.state.status = format!("matching {} pairs of SAEs …", pairs.len());
                self.compare.partners_running = true;
                self.submit(Job::Partners { pairs, threshold });
            }
            Command::Cancel => {
                if let Some(w) = &self.engine {
                    w.cancel();
                }
            }
            Command::OpenNeuron { sae, latent } => self.open_neuron(sae, latent),
            Command::TryText { sae, latent, text } => {
                self.submit(Job::TryText { sae, latent, text })
            }
            Command::ExplainOutput {
                sae,
                latent,
                strength,
            } => match self.state.slots.get(sae) {
                Some(slot) => {
                    let neuron = crate::steer::NeuronRef {
                        sae: Some(slot.name.clone()),
                        layer: slot.layer,
                        latent,
                    };
                    let opts = crate::explain::output::OutputOpts {
                        strength,
                        ..Default::default()
                    };
                    self.state.status = "measuring the neuron's effect on the output …".into();
                    self.neuron.output_pending = Some((sae, latent));
                    self.submit(Job::OutputEffect {
                        sae,
                        latent,
                        neuron,
                        opts: Box::new(opts),
                    });
                }
                None => self.state.status = format!("error: no SAE #{sae}"),
            },
            Command::MapNeurons { sae } => {
                let store = self.state.workspace.as_ref().and_then(|w| {
                    let s = w.saes.get(sae)?.store.as_ref()?;
                    Some(w.resolve(s))
                });
                self.state.status = "mapping the neurons …".into();
                self.submit(Job::Map { sae, store });
            }
            Command::EditNeuron(e) => {
                let e = *e;
                let restore = e.kind == panels::editor::EditKind::Restore;
                match self.state.edit_neuron(e.sae, &e.id, &e.edit, restore) {
                    Ok(changed) => self.browser.edited(e.kind, changed, &self.state.view()),
                    // Undo / redo put back what was there: nothing to report.
                    Err(_) if restore => {}
                    Err(err) => self.state.status = format!("error: {err}"),
                }
            }
            Command::ResolveConflict { session, how } => {
                let Some(s) = self.state.sessions.get_mut(session) else {
                    return;
                };
                let r = match how {
                    Resolution::Merge => s.merge(),
                    Resolution::Reload => s.reload(),
                    Resolution::Overwrite => {
                        s.overwrite();
                        Ok(())
                    }
                };
                if let Err(e) = r {
                    self.state.status = format!("error: {e:#}");
                }
                self.refresh_views(session);
            }
            Command::Import { from, db } => match self.state.workspace_session() {
                Ok(i) => {
                    let Some(s) = self.state.sessions.get_mut(i) else {
                        return;
                    };
                    let n = s.merge_in(&db);
                    let into = s.path.display().to_string();
                    self.refresh_views(i);
                    self.db_tool.message = format!(
                        "imported {} neurons from {} ({n} changes) into {into}",
                        db.entries.len(),
                        from.display(),
                    );
                }
                Err(e) => self.db_tool.message = format!("error: {e}"),
            },
            Command::OpenWorkspace(path) => self.open_workspace(ctx, path),
            Command::CreateSaeDb(sae) => match self.state.create_sae_db(sae) {
                Ok(i) => {
                    self.refresh_views(i);
                    let path = self
                        .state
                        .sessions
                        .get_mut(i)
                        .map(|s| s.path.display().to_string())
                        .unwrap_or_default();
                    self.state.status = format!("created {path}: this SAE's neurons are editable");
                }
                Err(e) => self.state.status = format!("error: {e}"),
            },
            Command::ToggleInspected(sae) => {
                if let Err(e) = self.state.toggle_inspected(sae) {
                    self.state.status = format!("error: {e}");
                }
            }
            Command::SetUser(name) => {
                self.prefs.user = name.clone();
                self.state.set_user(&name);
            }
            Command::Steer(job) => {
                self.state.status = "steering …".into();
                self.steer.running = true;
                self.submit(Job::Steer(job));
            }
            Command::SteerEval(job) => {
                self.state.status = "steer-eval …".into();
                self.steer.eval_running = true;
                self.submit(Job::SteerEval(job));
            }
            Command::ExportLmEval { sets, path } => {
                self.state.status = "exporting the interventions …".into();
                self.submit(Job::ExportLmEval { sets, path });
            }
            Command::SteerNeuron { sae, latent } => {
                let prompt = self.inspector.prompt.clone();
                self.steer.prefill(&self.state.slots, sae, latent, &prompt);
                self.tab = Tab::Steer;
            }
            Command::SaveSteerSet(set) => {
                let name = set.name.clone();
                self.state.status = match self.state.save_steer_set(set) {
                    Ok(()) => format!("saved the intervention set `{name}` in the workspace"),
                    Err(e) => format!("error: {e}"),
                };
            }
            Command::SetTripwires(v) => {
                if let Err(e) = self.state.set_tripwires(v) {
                    self.state.status = format!("error: {e}");
                }
            }
            Command::Attribute(job) => {
                self.state.status = "attributing …".into();
                self.attribution.running = true;
                self.submit(Job::Attribute(job));
            }
            Command::AttributePrompt {
                prompt,
                chat,
                system,
            } => {
                self.attribution.take_prompt(&prompt, chat, &system);
                self.tab = Tab::Attribution;
            }
        }
    }

    /// Handles what the engine thread reported.
    fn poll(&mut self) {
        self.poll_pending();
        let Some(w) = &self.engine else { return };
        let events: Vec<Event> = w.events.try_iter().collect();
        for e in events {
            self.on_event(e);
        }
    }

    fn on_event(&mut self, e: Event) {
        let s = &mut self.state;
        match e {
            Event::Workspace(opened) => {
                if let Some(p) = &opened.workspace.system_prompt {
                    self.inspector.system = p.clone();
                }
                s.set_workspace(*opened);
            }
            Event::LoadProgress { step, fraction } => {
                s.load_progress = Some((step, fraction));
            }
            Event::Status(msg) => {
                if let EngineStatus::Loading(_) = s.engine {
                    s.engine = EngineStatus::Loading(msg.clone());
                }
                s.status = msg;
            }
            Event::Ready {
                model,
                saes,
                has_chat_template,
                thinking_switch,
            } => {
                s.set_loaded(saes);
                if !has_chat_template {
                    self.inspector.chat = false;
                }
                self.inspector.thinking_switch = thinking_switch;
                s.status = "ready".into();
                s.load_progress = None;
                self.browser.map.clear();
                self.browser.set_saes(&s.slots);
                s.engine = EngineStatus::Ready {
                    model,
                    has_chat_template,
                };
            }
            Event::LoadFailed(e) => {
                s.load_progress = None;
                s.status = "the workspace could not be loaded".into();
                s.engine = EngineStatus::Failed(e);
            }
            Event::Streamed(text) => s.streamed = text,
            Event::Analysis(a) => {
                s.busy = false;
                s.status = format!("{} tokens analysed", a.tokens.len());
                if std::mem::take(&mut self.route_to_compare) {
                    self.compare.set_analysis(*a, &s.slots);
                } else {
                    self.inspector.set_analysis(*a, &s.slots);
                }
            }
            Event::NeuronLogits {
                sae,
                latent,
                top,
                bottom,
                neighbours,
                family,
            } => {
                s.busy = false;
                self.neuron.logits = Some(Logits {
                    sae,
                    latent,
                    top,
                    bottom,
                    neighbours,
                    family,
                });
            }
            Event::Partners {
                a,
                b,
                threshold,
                share,
            } => {
                let ws = s.workspace_path.clone().unwrap_or_default();
                self.compare.set_partners(&ws, (a, b), threshold, share);
            }
            Event::PartnersDone => {
                s.busy = false;
                s.status = "partners computed".into();
                self.compare.partners_running = false;
            }
            Event::TryText {
                sae,
                latent,
                tokens,
            } => {
                s.busy = false;
                self.neuron.tried = Some((sae, latent, tokens));
            }
            Event::OutputEffect {
                sae,
                latent,
                effect,
            } => {
                s.busy = false;
                s.status = format!("measured what neuron {} does to the output", effect.neuron);
                self.neuron.output_pending = None;
                self.neuron.output = Some((sae, latent, *effect));
            }
            Event::SteerToken {
                side,
                token,
                special,
            } => self.steer.push_token(side, token, special),
            Event::Steered(c) => {
                s.busy = false;
                s.status = match c.first_divergence {
                    Some(i) => format!("steered: the answers diverge at token {i}"),
                    None => "steered: the answers are identical".into(),
                };
                self.steer.set_result(*c);
            }
            Event::SteerEvalProgress { done, total } => {
                s.status = format!("steer-eval: {done} / {total} answers");
                self.steer.set_eval_progress(done, total);
            }
            Event::SteerEvaluated(rows) => {
                s.busy = false;
                s.status = format!("steer-eval: {} rows", rows.len());
                self.steer.set_eval_rows(rows);
            }
            Event::LmEvalExported(r) => {
                s.busy = false;
                let msg = r.unwrap_or_else(|e| format!("error: {e}"));
                s.status = msg.clone();
                self.steer.set_eval_message(msg);
            }
            Event::Attributed(r) => {
                s.busy = false;
                s.status = format!(
                    "attributed {} = {:.4}",
                    r.report.attribution.metric, r.report.attribution.value
                );
                self.attribution.set_result(*r, s.workspace_path.as_deref());
            }
            Event::MapProgress {
                sae,
                step,
                fraction,
            } => {
                s.status = format!("mapping the neurons: {step} ({:.0}%)", fraction * 100.0);
                self.browser.map.set_progress(sae, step, fraction);
            }
            Event::Map { sae, map, source } => {
                s.busy = false;
                let name = s.slots.get(sae).map_or("", |c| c.name.as_str());
                s.status = match source {
                    MapSource::Cached(p) => format!("map of {name} read from {}", p.display()),
                    MapSource::Computed(Some(p)) => {
                        format!("map of {name} computed and cached at {}", p.display())
                    }
                    MapSource::Computed(None) => format!("map of {name} computed (not cached)"),
                };
                self.browser.map.set_map(sae, map);
            }
            Event::MapFailed { sae, error } => {
                s.busy = false;
                s.status = format!("no map: {error}");
                self.browser.map.set_failed(sae, error);
            }
            Event::Failed(e) => {
                s.busy = false;
                self.neuron.output_pending = None;
                self.compare.partners_running = false;
                s.status = format!("error: {e}");
                if self.steer.running {
                    self.steer.set_failed(format!("error: {e}"));
                }
                if self.steer.eval_running {
                    self.steer.set_eval_message(format!("error: {e}"));
                }
                if self.attribution.running {
                    self.attribution.set_failed(format!("error: {e}"));
                }
            }
            Event::Cancelled => {
                s.busy = false;
                self.neuron.output_pending = None;
                self.compare.partners_running = false;
                s.status = "cancelled".into();
                if self.steer.running {
                    self.steer
                        .set_failed("stopped: the answers so far are shown unscored".into());
                }
                if self.steer.eval_running {
                    self.steer
                        .set_eval_message("stopped: the steer-eval was cancelled".into());
                }
                if self.attribution.running {
                    self.attribution
                        .set_failed("stopped: nothing was attributed".into());
                }
            }
        }
    }

    fn open_neuron(&mut self, sae: usize, latent: u32) {
        self.neuron.current = Some((sae, latent));
        self.neuron.jump = self
            .state
            .slots
            .get(sae)
            .map(|c| format!("{}_{latent}", c.layer))
            .unwrap_or_default();
        self.tab = Tab::Neuron;
        if matches!(self.state.engine, EngineStatus::Ready { .. }) {
            self.submit(Job::NeuronLogits { sae, latent, n: 10 });
        }
    }

    /// Refreshes the read-only views (neuron records of every SAE using that database, the
    /// browser's rows) from editing session `i`'s database in memory.
    fn refresh_views(&mut self, i: usize) {
        self.state.refresh_records(i);
        self.browser.refilter(&self.state.view(), true);
    }

    fn menu(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("New workspace…").clicked() {
                    self.new_workspace.open = true;
                    ui.close();
                }
                if ui.button("Open workspace…").clicked() {
                    self.dialog = Some(spawn_dialog(false));
                    ui.close();
                }
                if ui.button("Open by path…").clicked() {
                    self.show_open = true;
                    ui.close();
                }
                ui.menu_button("Recent", |ui| {
                    if self.prefs.recent.is_empty() {
                        ui.label(RichText::new("nothing yet").weak());
                    }
                    for p in &self.prefs.recent {
                        if ui.button(p.display().to_string()).clicked() {
                            commands.push(Command::OpenWorkspace(p.clone()));
                            ui.close();
                        }
                    }
                });
                if ui.button("Import / export neuron database…").clicked() {
                    self.db_tool.open = true;
                    ui.close();
                }
                let can_save = self.state.workspace.is_some();
                if ui
                    .add_enabled(can_save, egui::Button::new("Save workspace as…"))
                    .clicked()
                {
                    self.dialog = Some(spawn_dialog(true));
                    ui.close();
                }
            });
            ui.menu_button("View", |ui| {
                if ui.checkbox(&mut self.prefs.dark, "Dark theme").changed() {
                    ui.ctx().set_theme(if self.prefs.dark {
                        egui::Theme::Dark
                    } else {
                        egui::Theme::Light
                    });
                }
                ui.checkbox(&mut self.prefs.left_panel, "Workspace panel");
            });
            ui.separator();
            ui.selectable_value(&mut self.tab, Tab::Inspector, "Inspector");
            ui.selectable_value(&mut self.tab, Tab::Neuron, "Neuron");
            ui.selectable_value(&mut self.tab, Tab::Neurons, "Neurons");
            ui.selectable_value(&mut self.tab, Tab::Compare, "Compare");
            ui.selectable_value(&mut self.tab, Tab::Steer, "Steer");
            ui.selectable_value(&mut self.tab, Tab::Attribution, "Attribution");
        });
    }

    /// The status bar: the engine's state or the last message, then the notes.
    fn status_bar(&self, ui: &mut egui::Ui) {
        let s = &self.state;
        ui.horizontal_wrapped(|ui| {
            match &s.engine {
                EngineStatus::Loading(msg) => {
                    crate::app::widgets::spinner(ui);
                    ui.label(msg);
                    if let Some((step, fraction)) = &s.load_progress {
                        ui.add(
                            egui::ProgressBar::new(*fraction)
                                .desired_width(220.0)
                                .show_percentage(),
                        );
                        ui.label(format!("Loading {step}"));
                    }
                }
                EngineStatus::Ready { .. } if s.busy || self.pending.is_some() => {
                    crate::app::widgets::spinner(ui);
                    ui.label(&s.status);
                    if let Some((step, fraction)) =
                        s.load_progress.as_ref().filter(|_| self.pending.is_some())
                    {
                        ui.add(
                            egui::ProgressBar::new(*fraction)
                                .desired_width(220.0)
                                .show_percentage(),
                        );
                        ui.label(format!("Loading {step}"));
                    }
                }
                EngineStatus::Ready { .. } => {
                    ui.label(&s.status);
                }
                EngineStatus::Failed(e) => {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                }
            }
            for n in &s.notes {
                ui.separator();
                ui.label(RichText::new(n).small().weak());
            }
        });
    }

    /// Writes every pending edit and waits for it (before closing or switching workspaces).
    pub fn flush_edits(&mut self) {
        self.state.sessions.flush();
    }

    /// Hands due edits to the savers and takes their reports.
    fn tick_sessions(&mut self, ctx: &egui::Context) {
        let mut dirty = false;
        let mut merged = vec![];
        for (i, s) in self.state.sessions.iter_mut().enumerate() {
            s.tick();
            dirty |= s.dirty();
            if let Some(e) = &s.last_error {
                self.state.status = format!("cannot save {}: {e}", s.path.display());
            }
            // Others' edits merged into this database while saving: show them.
            if !s.take_changed_on_disk().is_empty() {
                merged.push(i);
            }
        }
        for i in merged {
            self.refresh_views(i);
        }
        if dirty {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    fn open_by_path_window(&mut self, ctx: &egui::Context) -> Option<Command> {
        if !self.show_open {
            return None;
        }
        let mut open = true;
        let mut chosen = None;
        egui::Window::new("Open workspace by path")
            .open(&mut open)
            .collapsible(false)
            .show(ctx, |ui| {
                let l = ui.label("Path of a *.sail.json workspace file:");
                let te = ui
                    .add(egui::TextEdit::singleline(&mut self.open_path).desired_width(420.0))
                    .labelled_by(l.id);
                if ui.button("Open").clicked()
                    || (te.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)))
                {
                    chosen = Some(PathBuf::from(self.open_path.trim()));
                }
            });
        if chosen.is_some() || !open {
            self.show_open = false;
        }
        chosen.map(Command::OpenWorkspace)
    }

    fn poll_dialog(&mut self, ctx: &egui::Context) {
        let Some(rx) = &self.dialog else { return };
        let Ok(result) = rx.try_recv() else { return };
        self.dialog = None;
        match result {
            DialogResult::Open(Some(p)) => self.open_workspace(ctx, p),
            DialogResult::SaveAs(Some(p)) => {
                if let Some(ws) = &self.state.workspace {
                    let ws = ws.clone();
                    // Small file, but still off the UI thread.
                    let (tx, rx) = std::sync::mpsc::channel();
                    std::thread::spawn(move || {
                        let _ = tx.send(ws.save_as(&p).map(|_| p));
                    });
                    self.state.status = match rx.recv_timeout(std::time::Duration::from_millis(200))
                    {
                        Ok(Ok(p)) => format!("saved {}", p.display()),
                        Ok(Err(e)) => format!("error: {e:#}"),
                        Err(_) => "saving …".into(),
                    };
                }
            }
            DialogResult::Open(None) | DialogResult::SaveAs(None) => {
                self.state.status =
                    "no file chosen (if no dialog appeared, use File → Open by path…)".into();
            }
        }
    }
}

/// A banner per database changed on disk during editing, offering the three ways out.
fn conflict_banner(ui: &mut egui::Ui, ctx: &ViewCtx) -> Option<Command> {
    let mut choice = None;
    for (i, s) in ctx.sessions.iter().enumerate() {
        if !s.conflict {
            continue;
        }
        egui::Frame::group(ui.style())
            .fill(ui.visuals().warn_fg_color.gamma_multiply(0.15))
            .show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.label(format!(
                        "{} changed on disk while you were editing. Your unsaved edits are kept.",
                        s.path.display()
                    ));
                    for (label, how) in [
                        ("Merge (keep both, mine on top)", Resolution::Merge),
                        ("Reload (drop my unsaved edits)", Resolution::Reload),
                        ("Overwrite", Resolution::Overwrite),
                    ] {
                        if ui.button(label).clicked() {
                            choice = Some(Command::ResolveConflict { session: i, how });
                        }
                    }
                });
            });
    }
    choice
}

/// Runs a native file dialog on its own thread (it blocks while open).
fn spawn_dialog(save: bool) -> Receiver<DialogResult> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let d = rfd::FileDialog::new().add_filter("Safe-SAIL workspace", &["json"]);
        let r = if save {
            DialogResult::SaveAs(d.set_file_name("workspace.sail.json").save_file())
        } else {
            DialogResult::Open(d.pick_file())
        };
        let _ = tx.send(r);
    });
    rx
}

impl eframe::App for ExplorerApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let frame_start = std::time::Instant::now();
        self.ui_frame(ui);
        if let Some(log) = &mut self.frame_log {
            let busy = match &self.state.engine {
                EngineStatus::Loading(_) => "loading",
                _ if self.state.busy => "busy",
                _ => "idle",
            };
            log.record(frame_start, frame.info().cpu_usage, busy);
        }
    }
    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.flush_edits();
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.prefs.tab = self.tab;
        self.prefs.overview_threshold = self.inspector.threshold;
        eframe::set_value(storage, PREFS_KEY, &self.prefs);
    }
}

/// `SAFE_SAIL_FRAME_LOG=PATH`: one line per frame, tab-separated: seconds since the window
/// opened, milliseconds between this frame's start and the previous one's, milliseconds this
/// frame's UI code took, milliseconds of CPU the previous frame took in all (eframe's measure:
/// UI, layout and painting), and the engine's state (`loading`, `busy`, `idle`).
struct FrameLog {
    out: std::io::BufWriter<std::fs::File>,
    opened: std::time::Instant,
    last: Option<std::time::Instant>,
}

impl FrameLog {
    fn from_env() -> Option<Self> {
        let path = std::env::var_os("SAFE_SAIL_FRAME_LOG")?;
        match std::fs::File::create(&path) {
            Ok(f) => Some(Self {
                out: std::io::BufWriter::new(f),
                opened: std::time::Instant::now(),
                last: None,
            }),
            Err(e) => {
                tracing::warn!("SAFE_SAIL_FRAME_LOG: cannot create {path:?}: {e}");
                None
            }
        }
    }

    fn record(&mut self, start: std::time::Instant, cpu: Option<f32>, state: &str) {
        use std::io::Write;
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        let interval = self.last.map_or(0.0, |l| ms(start - l));
        self.last = Some(start);
        let _ = writeln!(
            self.out,
            "{:.4}\t{interval:.2}\t{:.2}\t{:.2}\t{state}",
            (start - self.opened).as_secs_f64(),
            ms(start.elapsed()),
            cpu.map_or(f64::NAN, |c| c as f64 * 1e3),
        );
        let _ = self.out.flush();
    }
}

impl ExplorerApp {
    fn ui_frame(&mut self, ui: &mut egui::Ui) {
        self.poll();
        let ctx = ui.ctx().clone();
        self.tick_sessions(&ctx);
        self.poll_dialog(&ctx);
        let mut commands = vec![];
        egui::Panel::top("menu").show(ui, |ui| self.menu(ui, &mut commands));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        let view = self.state.view();
        if self.prefs.left_panel {
            // A fixed width: the panel never jumps while the model loads.
            egui::Panel::left("workspace")
                .resizable(false)
                .exact_size(270.0)
                .show(ui, |ui| {
                    let clicked = egui::ScrollArea::vertical()
                        .show(ui, |ui| panels::workspace::ui(ui, &view))
                        .inner;
                    commands.extend(clicked);
                });
        }
        egui::CentralPanel::default().show(ui, |ui| {
            commands.extend(conflict_banner(ui, &view));
            if self.tab == Tab::Neurons {
                commands.extend(self.browser.ui(ui, &view));
                return;
            }
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    let command = match self.tab {
                        Tab::Neurons => None,
                        Tab::Compare => self.compare.ui(ui, &view),
                        Tab::Inspector => self.inspector.ui(ui, &view),
                        Tab::Neuron => self.neuron.ui(ui, &view),
                        Tab::Steer => self.steer.ui(ui, &view),
                        Tab::Attribution => self.attribution.ui(ui, &view),
                    };
                    commands.extend(command);
                });
        });
        commands.extend(self.open_by_path_window(&ctx));
        commands.extend(self.new_workspace.show(&ctx).map(Command::OpenWorkspace));
        commands.extend(self.db_tool.show(&ctx, &self.state.view()));
        for c in commands {
            self.handle(&ctx, c);
        }
        if self.state.busy {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }
}
