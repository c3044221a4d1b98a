//! The panels' test fixture: the stand-in workspace (`tests/fixtures/workspace`) read by the
//! library, its SAEs described as loaded, the engine ready — with no model and no thread.

use eframe::egui;
use egui_kittest::Harness;
use safe_sail::app::{AppState, Command, EngineStatus, ViewCtx};
use safe_sail::db::autosave::EditSession;
use safe_sail::inspect::SaeInfo;
use safe_sail::workspace::{OpenedWorkspace, Sessions};
use std::path::{Path, PathBuf};

pub fn stand_in_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workspace/stand-in.sail.json")
}

/// The stand-in workspace as the app holds it once loaded: three SAEs (layers 0, 1, 2; 256
/// latents each) with stores, evaluation rows and one shared editable database. Only the
/// SAE files are read, for their descriptions; no model is loaded.
pub fn stand_in() -> AppState {
    let path = stand_in_path();
    let opened = OpenedWorkspace::open(&path, || {}).expect("the stand-in workspace opens");
    assert!(opened.notes.is_empty(), "{:?}", opened.notes);
    let infos: Vec<Option<SaeInfo>> = opened
        .saes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let spec = opened.workspace.sae_spec(i).unwrap();
            let sae = safe_sail::sae::load_sae(&spec, &candle_core::Device::Cpu).unwrap();
            Some(SaeInfo::new(&s.name, &sae))
        })
        .collect();
    let mut state = AppState {
        workspace_path: Some(path),
        ..Default::default()
    };
    state.set_workspace(opened);
    state.set_loaded(infos);
    state.engine = EngineStatus::Ready {
        model: "qwen2 · 3 layers · d_model 64".into(),
        has_chat_template: true,
    };
    state
}

/// The stand-in workspace with its database copied into `dir`, so tests may edit it.
pub fn editable(dir: &Path) -> AppState {
    let mut state = stand_in();
    let copy = dir.join("neurons.json");
    std::fs::copy(state.slots[0].db_path.as_ref().unwrap(), &copy).unwrap();
    for s in &mut state.slots {
        s.db_path = Some(copy.clone());
    }
    let paths: Vec<Option<PathBuf>> = state.slots.iter().map(|s| s.db_path.clone()).collect();
    state.sessions = Sessions::new(vec![EditSession::open(&copy, || {}).unwrap()], &paths);
    state
}

/// A panel under test with what it reads, and every command it returned so far.
pub struct Panel<P> {
    pub panel: P,
    pub state: AppState,
    pub commands: Vec<Command>,
}

impl<P> Panel<P> {
    /// Takes the commands returned so far.
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }
}

/// Whether snapshots can be compared here: they were made with a CJK font installed.
pub fn can_snapshot() -> bool {
    let ok = safe_sail::app::fonts::find_cjk_font().is_some();
    if !ok {
        eprintln!("SKIPPED snapshot: no CJK font here, so the pictures would differ");
    }
    ok
}

/// A harness of `size` drawing `panel` over `state` with `draw` each frame (dark theme and
/// the CJK font, as in the app).
pub fn harness<P: 'static>(
    panel: P,
    state: AppState,
    size: [f32; 2],
    draw: impl Fn(&mut P, &mut egui::Ui, &ViewCtx) -> Vec<Command> + 'static,
) -> Harness<'static, Panel<P>> {
    let mut b = Harness::builder()
        .with_size(size)
        .with_theme(egui::Theme::Dark)
        .with_context_setup(|ctx| {
            safe_sail::app::fonts::install_cjk_font(ctx);
        });
    if safe_sail::app::fonts::find_cjk_font().is_none() {
        b = b.allow_missing_glyphs();
    }
    b.build_ui_state(
        move |ui, p: &mut Panel<P>| {
            let view = p.state.view();
            let commands = draw(&mut p.panel, ui, &view);
            p.commands.extend(commands);
        },
        Panel {
            panel,
            state,
            commands: vec![],
        },
    )
}

/// A harness of `size` drawing a panel whose `ui` returns at most one command inside a
/// vertical scroll area (as the window's central panel does), after two frames.
pub fn scrolled_harness<P: 'static>(
    panel: P,
    state: AppState,
    size: [f32; 2],
    draw: impl Fn(&mut P, &mut egui::Ui, &ViewCtx) -> Option<Command> + 'static,
) -> Harness<'static, Panel<P>> {
    let mut h = harness(panel, state, size, move |p, ui, ctx| {
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| draw(p, ui, ctx))
            .inner
            .into_iter()
            .collect()
    });
    h.run_steps(2);
    h
}
