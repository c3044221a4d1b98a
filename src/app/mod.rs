//! The explorer window (egui/eframe). The UI thread only draws and reacts; the model runs
//! on the engine thread ([`worker`]).

pub mod analysis;
pub mod browser;
pub mod compare;
pub mod fonts;
pub mod inspector;
pub mod neuron_page;
pub mod style;
pub mod worker;

use analysis::SaeContext;
use anyhow::Result;
use eframe::egui::{self, RichText};
use inspector::{Action, Inspector};
use neuron_page::{NeuronPage, PageAction};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use worker::{Event, Job, SaeInfo, Worker};

/// The views of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tab {
    Inspector,
    Neuron,
    Neurons,
    Compare,
}

/// What persists between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prefs {
    pub dark: bool,
    pub recent: Vec<PathBuf>,
    pub tab: Tab,
    pub left_panel: bool,
}

impl Default for Prefs {
    fn default() -> Self {
        Self {
            dark: true,
            recent: vec![],
            tab: Tab::Inspector,
            left_panel: true,
        }
    }
}

const PREFS_KEY: &str = "safe-sail-prefs";

/// The engine's state as the UI sees it.
pub enum Engine {
    Loading(String),
    Ready {
        model: String,
        saes: Vec<Option<SaeInfo>>,
        has_chat_template: bool,
    },
    Failed(String),
}

/// The explorer application.
pub struct ExplorerApp {
    pub prefs: Prefs,
    pub workspace_path: Option<PathBuf>,
    pub workspace: Option<crate::workspace::Workspace>,
    pub contexts: Vec<SaeContext>,
    pub engine: Engine,
    worker: Option<Worker>,
    /// A job is running on the engine thread.
    pub busy: bool,
    pub streamed: String,
    pub status: String,
    pub notes: Vec<String>,
    pub tab: Tab,
    pub inspector: Inspector,
    pub neuron: NeuronPage,
    pub browser: browser::Browser,
    /// Editing sessions of the workspace's neuron databases.
    pub sessions: Vec<(PathBuf, crate::db::autosave::EditSession)>,
    /// Feature stores, per SAE (when the workspace names one).
    pub stores: Vec<Option<std::sync::Arc<crate::store::Store>>>,
    pub compare: compare::Compare,
    /// Each SAE's evaluation row (from `safe-sail evaluate`), when present.
    pub evals: Vec<Option<serde_json::Value>>,
    /// The running analysis is for the compare view.
    route_to_compare: bool,
    db_tool: DbTool,
    open_path: String,
    show_open: bool,
    dialog: Option<Receiver<DialogResult>>,
}

enum DialogResult {
    Open(Option<PathBuf>),
    SaveAs(Option<PathBuf>),
}

/// The bundled sample workspace: `sample_data/sample.sail.json` in the current folder or
/// in the source checkout the binary was built from.
pub fn default_workspace() -> Option<PathBuf> {
    let rel = Path::new("sample_data/sample.sail.json");
    [
        PathBuf::from("."),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    ]
    .into_iter()
    .map(|d| d.join(rel))
    .find(|p| p.exists())
}

/// Opens the window.
pub fn run(workspace: Option<PathBuf>) -> Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1280.0, 820.0])
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
        let mut notes = vec![];
        if let Some(msg) = fonts::install_cjk_font(ctx) {
            notes.push(msg);
        }
        let mut app = Self {
            tab: prefs.tab,
            prefs,
            workspace_path: None,
            workspace: None,
            contexts: vec![],
            engine: Engine::Loading("no workspace".into()),
            worker: None,
            busy: false,
            streamed: String::new(),
            status: String::new(),
            notes,
            inspector: Inspector::default(),
            neuron: NeuronPage::default(),
            browser: browser::Browser::default(),
            sessions: vec![],
            stores: vec![],
            compare: compare::Compare::default(),
            evals: vec![],
            route_to_compare: false,
            db_tool: DbTool::default(),
            open_path: String::new(),
            show_open: false,
            dialog: None,
        };
        match workspace.or_else(default_workspace) {
            Some(p) => app.open_workspace(ctx, p),
            None => {
                app.engine = Engine::Failed(
                    "No workspace: open one with File → Open (the bundled sample is sample_data/sample.sail.json in the source checkout)".into(),
                )
            }
        }
        app
    }

    /// Opens a workspace: its files are read and its model loaded on the engine thread.
    pub fn open_workspace(&mut self, ctx: &egui::Context, path: PathBuf) {
        self.flush_edits();
        let wake_ctx = ctx.clone();
        self.worker = Some(Worker::start(path.clone(), move || {
            wake_ctx.request_repaint()
        }));
        self.engine = Engine::Loading(format!("opening {}", path.display()));
        self.workspace = None;
        self.contexts.clear();
        self.inspector.analysis = None;
        self.neuron = NeuronPage::default();
        self.busy = false;
        self.prefs.recent.retain(|p| p != &path);
        self.prefs.recent.insert(0, path.clone());
        self.prefs.recent.truncate(8);
        self.workspace_path = Some(path);
    }

    /// Whether the engine has loaded and nothing is running.
    pub fn idle(&self) -> bool {
        !self.busy && !matches!(self.engine, Engine::Loading(_))
    }

    fn submit(&mut self, job: Job) {
        if let Some(w) = &self.worker {
            w.submit(job);
            self.busy = true;
            self.streamed.clear();
        }
    }

    /// Handles what the engine thread reported.
    fn poll(&mut self) {
        let Some(w) = &self.worker else { return };
        let events: Vec<Event> = w.events.try_iter().collect();
        for e in events {
            match e {
                Event::Workspace {
                    ws,
                    contexts,
                    notes,
                    sessions,
                    stores,
                    evals,
                } => {
                    self.sessions = sessions;
                    self.stores = stores;
                    self.evals = evals;
                    if let Some(s) = &ws.system_prompt {
                        self.inspector.system = s.clone();
                    }
                    self.workspace = Some(*ws);
                    self.contexts = contexts;
                    self.notes.extend(notes);
                }
                Event::Status(s) => {
                    if let Engine::Loading(_) = self.engine {
                        self.engine = Engine::Loading(s.clone());
                    }
                    self.status = s;
                }
                Event::Ready {
                    model,
                    saes,
                    has_chat_template,
                } => {
                    let mut slots: Vec<Option<SaeInfo>> = vec![None; self.contexts.len()];
                    for info in saes {
                        if let Some(i) = self.contexts.iter().position(|c| c.name == info.name) {
                            self.contexts[i].layer = info.layer;
                            slots[i] = Some(info);
                        }
                    }
                    if !has_chat_template {
                        self.inspector.chat = false;
                    }
                    self.status = "ready".into();
                    self.browser.set_saes(&slots);
                    self.engine = Engine::Ready {
                        model,
                        saes: slots,
                        has_chat_template,
                    };
                }
                Event::LoadFailed(e) => {
                    self.status = "the workspace could not be loaded".into();
                    self.engine = Engine::Failed(e);
                }
                Event::Streamed(s) => self.streamed = s,
                Event::Analysis(a) => {
                    self.busy = false;
                    self.status = format!("{} tokens analysed", a.tokens.len());
                    if std::mem::take(&mut self.route_to_compare) {
                        self.compare.set_analysis(*a, &self.contexts);
                    } else {
                        self.inspector.set_analysis(*a, &self.contexts);
                    }
                }
                Event::NeuronLogits {
                    sae,
                    latent,
                    top,
                    bottom,
                } => {
                    self.busy = false;
                    self.neuron.logits = Some(neuron_page::Logits {
                        sae,
                        latent,
                        top,
                        bottom,
                    });
                }
                Event::TryText {
                    sae,
                    latent,
                    tokens,
                } => {
                    self.busy = false;
                    self.neuron.tried = Some((sae, latent, tokens));
                }
                Event::Failed(e) => {
                    self.busy = false;
                    self.status = format!("error: {e}");
                }
                Event::Cancelled => {
                    self.busy = false;
                    self.status = "cancelled".into();
                }
            }
        }
    }

    fn run_prompt(&mut self) {
        let i = &self.inspector;
        let prompt = crate::model::PromptSpec {
            text: i.prompt.clone(),
            chat: i.chat,
            system: (i.chat && !i.system.trim().is_empty()).then(|| i.system.clone()),
            truncate: true,
        };
        let answer = i.answer.then(|| crate::model::generate::GenerateOpts {
            max_new_tokens: i.max_new_tokens,
            ..Default::default()
        });
        self.status = "running …".into();
        self.submit(Job::Analyze { prompt, answer });
    }

    fn open_neuron(&mut self, sae: usize, latent: u32) {
        self.neuron.current = Some((sae, latent));
        self.neuron.jump = self
            .contexts
            .get(sae)
            .map(|c| format!("{}_{latent}", c.layer))
            .unwrap_or_default();
        self.tab = Tab::Neuron;
        if matches!(self.engine, Engine::Ready { .. }) {
            self.submit(Job::NeuronLogits { sae, latent, n: 10 });
        }
    }

    fn menu(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
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
                    for p in self.prefs.recent.clone() {
                        if ui.button(p.display().to_string()).clicked() {
                            self.open_workspace(ui.ctx(), p);
                            ui.close();
                        }
                    }
                });
                if ui.button("Import / export neuron database…").clicked() {
                    self.db_tool.open = true;
                    ui.close();
                }
                let can_save = self.workspace.is_some();
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
        });
    }

    fn workspace_panel(&mut self, ui: &mut egui::Ui) {
        ui.heading("Workspace");
        match &self.workspace {
            Some(ws) => {
                ui.label(RichText::new(&ws.name).strong());
                if let Some(p) = &self.workspace_path {
                    let name = p.file_name().map_or_else(
                        || p.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    );
                    ui.label(RichText::new(name).small().weak())
                        .on_hover_text(p.display().to_string());
                }
                ui.add_space(6.0);
                ui.label(RichText::new("Model").strong());
                match &self.engine {
                    Engine::Ready { model, .. } => ui.label(model),
                    Engine::Loading(s) => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label(s);
                        })
                        .response
                    }
                    Engine::Failed(_) => ui.label(RichText::new("not loaded").weak()),
                };
                ui.label(RichText::new(&ws.model).small().weak());
                ui.add_space(6.0);
                ui.label(RichText::new("SAEs").strong());
                let infos: Vec<Option<SaeInfo>> = match &self.engine {
                    Engine::Ready { saes, .. } => saes.clone(),
                    _ => vec![None; self.contexts.len()],
                };
                for (i, c) in self.contexts.iter().enumerate() {
                    ui.group(|ui| {
                        ui.label(RichText::new(&c.name).strong());
                        match infos.get(i).and_then(Option::as_ref) {
                            Some(info) => {
                                ui.label(
                                    RichText::new(format!(
                                        "{} · {} latents · {}",
                                        info.hook, info.d_sae, info.activation
                                    ))
                                    .small(),
                                );
                            }
                            None => {
                                ui.label(RichText::new("not loaded").small().weak());
                            }
                        }
                        let (explained, tagged) = c.db_counts();
                        ui.label(
                            RichText::new(format!(
                                "{explained} explained neurons · {tagged} safety-tagged"
                            ))
                            .small()
                            .weak(),
                        );
                        let ws_sae = &ws.saes[i];
                        if ws_sae.store.is_none() {
                            ui.label(
                                RichText::new("no feature store yet (safe-sail collect)")
                                    .small()
                                    .weak(),
                            );
                        }
                        if ws_sae.eval.is_none() {
                            ui.label(
                                RichText::new("no scores yet (safe-sail evaluate)")
                                    .small()
                                    .weak(),
                            );
                        }
                    });
                }
            }
            None => {
                ui.label(RichText::new("No workspace open.").weak());
            }
        }
    }

    /// Writes every pending edit and waits for it (before closing or switching workspaces).
    pub fn flush_edits(&mut self) {
        for (_, s) in &mut self.sessions {
            s.flush();
        }
    }

    /// Hands due edits to the savers and takes their reports.
    fn tick_sessions(&mut self, ctx: &egui::Context) {
        let mut dirty = false;
        for (_, s) in &mut self.sessions {
            s.tick();
            dirty |= s.dirty();
            if let Some(e) = &s.last_error {
                self.status = format!("cannot save {}: {e}", s.path.display());
            }
        }
        if dirty {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    fn conflict_banner(&mut self, ui: &mut egui::Ui) {
        let mut choice: Option<(usize, u8)> = None;
        for (i, (p, s)) in self.sessions.iter().enumerate() {
            if !s.conflict {
                continue;
            }
            egui::Frame::group(ui.style()).fill(ui.visuals().warn_fg_color.gamma_multiply(0.15)).show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.label(format!("{} changed on disk while you were editing. Your unsaved edits are kept.", p.display()));
                    if ui.button("Merge (keep both, mine on top)").clicked() {
                        choice = Some((i, 0));
                    }
                    if ui.button("Reload (drop my unsaved edits)").clicked() {
                        choice = Some((i, 1));
                    }
                    if ui.button("Overwrite").clicked() {
                        choice = Some((i, 2));
                    }
                });
            });
        }
        if let Some((i, c)) = choice {
            let s = &mut self.sessions[i].1;
            let r = match c {
                0 => s.merge(),
                1 => s.reload(),
                _ => {
                    s.overwrite();
                    Ok(())
                }
            };
            if let Err(e) = r {
                self.status = format!("error: {e:#}");
            }
            self.refresh_views(i);
        }
    }

    fn open_by_path_window(&mut self, ctx: &egui::Context) {
        if !self.show_open {
            return;
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
        if let Some(p) = chosen {
            self.show_open = false;
            self.open_workspace(ctx, p);
        } else if !open {
            self.show_open = false;
        }
    }

    fn poll_dialog(&mut self, ctx: &egui::Context) {
        let Some(rx) = &self.dialog else { return };
        let Ok(result) = rx.try_recv() else { return };
        self.dialog = None;
        match result {
            DialogResult::Open(Some(p)) => self.open_workspace(ctx, p),
            DialogResult::SaveAs(Some(p)) => {
                if let Some(ws) = &self.workspace {
                    let ws = ws.clone();
                    // Small file, but still off the UI thread.
                    let (tx, rx) = std::sync::mpsc::channel();
                    std::thread::spawn(move || {
                        let _ = tx.send(ws.save_as(&p).map(|_| p));
                    });
                    match rx.recv_timeout(std::time::Duration::from_millis(200)) {
                        Ok(Ok(p)) => self.status = format!("saved {}", p.display()),
                        Ok(Err(e)) => self.status = format!("error: {e:#}"),
                        Err(_) => self.status = "saving …".into(),
                    }
                }
            }
            DialogResult::Open(None) | DialogResult::SaveAs(None) => {
                self.status =
                    "no file chosen (if no dialog appeared, use File → Open by path…)".into();
            }
        }
    }
}

/// The import / export window's state.
#[derive(Default)]
struct DbTool {
    open: bool,
    path: String,
    message: String,
    rx: Option<Receiver<DbToolResult>>,
}

enum DbToolResult {
    Picked(Option<PathBuf>),
    Imported(PathBuf, Result<crate::db::editable::EditableDb, String>),
    Exported(Result<String, String>),
}

impl ExplorerApp {
    /// Refreshes the read-only views (neuron records of every SAE using that database, the
    /// browser's rows) from editing session `i`'s database in memory.
    fn refresh_views(&mut self, i: usize) {
        let (path, session) = &self.sessions[i];
        let view = session.db.view();
        for c in self
            .contexts
            .iter_mut()
            .filter(|c| c.db_path.as_deref() == Some(path.as_path()))
        {
            c.db.records = view.records.clone();
        }
        self.browser.refilter(&self.contexts, &self.sessions, true);
    }

    /// The editable database of the workspace, created beside the workspace file if needed.
    fn workspace_session(&mut self) -> Result<usize, String> {
        if !self.sessions.is_empty() {
            return Ok(0);
        }
        let ws = self.workspace.as_mut().ok_or("no workspace open")?;
        let file = ws.file.clone().ok_or("the workspace has no file")?;
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut name = "neurons.json".to_string();
        let mut k = 1;
        while dir.join(&name).exists() {
            name = format!("neurons-{k}.json");
            k += 1;
        }
        let path = dir.join(&name);
        let session =
            crate::db::autosave::EditSession::open(&path, || {}).map_err(|e| format!("{e:#}"))?;
        session.db.save(&path).map_err(|e| format!("{e:#}"))?;
        ws.neuron_db = Some(name);
        ws.save_as(&file).map_err(|e| format!("{e:#}"))?;
        for c in &mut self.contexts {
            if c.db_path.is_none()
                || !c
                    .db_path
                    .as_ref()
                    .is_some_and(|p| crate::db::editable::EditableDb::is_our_format(p))
            {
                c.db_path = Some(path.clone());
            }
        }
        self.sessions.push((path, session));
        Ok(0)
    }

    fn db_tool_window(&mut self, ctx: &egui::Context) {
        if let Some(rx) = &self.db_tool.rx {
            if let Ok(r) = rx.try_recv() {
                self.db_tool.rx = None;
                match r {
                    DbToolResult::Picked(Some(p)) => self.db_tool.path = p.display().to_string(),
                    DbToolResult::Picked(None) => {
                        self.db_tool.message = "no file chosen: type the path".into()
                    }
                    DbToolResult::Imported(p, Ok(incoming)) => match self.workspace_session() {
                        Ok(i) => {
                            let n = self.sessions[i].1.merge_in(&incoming);
                            self.refresh_views(i);
                            self.db_tool.message = format!(
                                "imported {} neurons from {} ({n} changes) into {}",
                                incoming.entries.len(),
                                p.display(),
                                self.sessions[i].0.display()
                            );
                        }
                        Err(e) => self.db_tool.message = format!("error: {e}"),
                    },
                    DbToolResult::Imported(_, Err(e)) | DbToolResult::Exported(Err(e)) => {
                        self.db_tool.message = format!("error: {e}")
                    }
                    DbToolResult::Exported(Ok(m)) => self.db_tool.message = m,
                }
            }
        }
        if !self.db_tool.open {
            return;
        }
        let mut open = true;
        let mut action: Option<&'static str> = None;
        egui::Window::new("Import / export neuron database")
            .open(&mut open)
            .collapsible(false)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    let l = ui.label("Database file");
                    ui.add(egui::TextEdit::singleline(&mut self.db_tool.path).desired_width(360.0))
                        .labelled_by(l.id);
                    if ui.button("Browse…").clicked() {
                        action = Some("browse");
                    }
                });
                ui.horizontal_wrapped(|ui| {
                    if ui.button("Import Safe-SAIL JSON").clicked() {
                        action = Some("import");
                    }
                    ui.separator();
                    ui.label("Export as");
                    for f in ["safe-sail", "csv", "parquet"] {
                        if ui.button(f).clicked() {
                            action = Some(f);
                        }
                    }
                });
                if !self.db_tool.message.is_empty() {
                    ui.label(&self.db_tool.message);
                }
            });
        self.db_tool.open = open;
        let path = PathBuf::from(self.db_tool.path.trim());
        let (tx, rx) = std::sync::mpsc::channel();
        match action {
            None => return,
            Some("browse") => {
                std::thread::spawn(move || {
                    let _ = tx.send(DbToolResult::Picked(rfd::FileDialog::new().pick_file()));
                });
            }
            Some(_) if self.db_tool.path.trim().is_empty() => {
                self.db_tool.message = "type or choose a file first".into();
                return;
            }
            Some("import") => {
                std::thread::spawn(move || {
                    let r =
                        crate::db::editable::EditableDb::load(&path).map_err(|e| format!("{e:#}"));
                    let _ = tx.send(DbToolResult::Imported(path, r));
                });
            }
            Some(format) => {
                let Some((_, s)) = self.sessions.first() else {
                    self.db_tool.message =
                        "this workspace has no editable neuron database to export".into();
                    return;
                };
                let db = s.db.clone();
                let format = format.to_string();
                std::thread::spawn(move || {
                    let r = match format.as_str() {
                        "parquet" => db.write_parquet(&path),
                        "csv" => crate::fsutil::write_atomic(&path, db.to_csv().as_bytes()),
                        _ => crate::fsutil::write_atomic(&path, db.to_safe_sail().as_bytes()),
                    };
                    let _ = tx.send(DbToolResult::Exported(
                        r.map(|_| {
                            format!(
                                "exported {} neurons to {}",
                                db.entries.len(),
                                path.display()
                            )
                        })
                        .map_err(|e| format!("{e:#}")),
                    ));
                });
            }
        }
        self.db_tool.rx = Some(rx);
    }
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
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.poll();
        let ctx = ui.ctx().clone();
        self.tick_sessions(&ctx);
        self.poll_dialog(&ctx);
        egui::Panel::top("menu").show(ui, |ui| self.menu(ui));
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                match &self.engine {
                    Engine::Loading(s) => {
                        ui.spinner();
                        ui.label(s);
                    }
                    Engine::Ready { .. } if self.busy => {
                        ui.spinner();
                        ui.label(&self.status);
                    }
                    Engine::Ready { .. } => {
                        ui.label(&self.status);
                    }
                    Engine::Failed(e) => {
                        ui.colored_label(ui.visuals().error_fg_color, e);
                    }
                }
                for n in &self.notes {
                    ui.separator();
                    ui.label(RichText::new(n).small().weak());
                }
            });
        });
        if self.prefs.left_panel {
            // A fixed width: the panel never jumps while the model loads.
            egui::Panel::left("workspace")
                .resizable(false)
                .exact_size(270.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| self.workspace_panel(ui));
                });
        }
        let (ready, chat_ok, infos) = match &self.engine {
            Engine::Ready {
                has_chat_template,
                saes,
                ..
            } => (true, *has_chat_template, saes.clone()),
            _ => (false, false, vec![]),
        };
        egui::CentralPanel::default().show(ui, |ui| {
            self.conflict_banner(ui);
            if self.tab == Tab::Neurons {
                let (action, error) = self.browser.ui(ui, &mut self.contexts, &mut self.sessions);
                if let Some(browser::BrowserAction::OpenNeuron(s, l)) = action {
                    self.open_neuron(s, l);
                }
                if let Some(e) = error {
                    self.status = format!("error: {e}");
                }
                return;
            }
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| match self.tab {
                    Tab::Neurons => {}
                    Tab::Compare => {
                        let evals: Vec<String> = self
                            .workspace
                            .iter()
                            .flat_map(|w| w.saes.iter())
                            .filter_map(|s| s.eval.clone())
                            .collect();
                        let evals: Vec<&str> = evals.iter().map(String::as_str).collect();
                        if self.compare.ui(
                            ui,
                            &self.contexts,
                            &infos,
                            &self.stores,
                            &self.evals,
                            &evals,
                            ready,
                            self.busy,
                        ) {
                            let prompt = crate::model::PromptSpec {
                                text: self.compare.prompt.clone(),
                                chat: self.inspector.chat,
                                system: Some(self.inspector.system.clone())
                                    .filter(|s| self.inspector.chat && !s.trim().is_empty()),
                                truncate: true,
                            };
                            self.route_to_compare = true;
                            self.submit(Job::Analyze {
                                prompt,
                                answer: None,
                            });
                        }
                    }
                    Tab::Inspector => {
                        match self.inspector.ui(
                            ui,
                            &self.contexts,
                            ready,
                            self.busy,
                            chat_ok,
                            &self.streamed,
                        ) {
                            Some(Action::Run) => self.run_prompt(),
                            Some(Action::Cancel) => {
                                if let Some(w) = &self.worker {
                                    w.cancel();
                                }
                            }
                            Some(Action::OpenNeuron(s, l)) => self.open_neuron(s, l),
                            None => {}
                        }
                    }
                    Tab::Neuron => {
                        match self.neuron.ui(
                            ui,
                            &self.contexts,
                            &infos,
                            &self.stores,
                            &self.sessions,
                            self.busy,
                        ) {
                            Some(PageAction::Open(s, l)) => self.open_neuron(s, l),
                            Some(PageAction::TryText(s, l, text)) => self.submit(Job::TryText {
                                sae: s,
                                latent: l,
                                text,
                            }),
                            None => {}
                        }
                    }
                });
        });
        self.open_by_path_window(&ctx);
        self.db_tool_window(&ctx);
        if self.busy {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.flush_edits();
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.prefs.tab = self.tab;
        eframe::set_value(storage, PREFS_KEY, &self.prefs);
    }
}
