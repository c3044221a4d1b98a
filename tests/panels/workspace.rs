//! The workspace panel: the model and each SAE, and what is missing.

use crate::fixture::{can_snapshot, harness, stand_in};
use eframe::egui;
use egui_kittest::kittest::Queryable;
use safe_sail::app::panels::workspace;
use safe_sail::app::EngineStatus;

#[test]
fn three_saes_loaded() {
    // As in the window: a 270-point column that scrolls.
    let mut h = harness((), stand_in(), [300.0, 420.0], |_, ui, ctx| {
        ui.set_width(270.0);
        egui::ScrollArea::vertical().show(ui, |ui| workspace::ui(ui, ctx));
        vec![]
    });
    h.run_steps(2);
    h.get_by_label("Stand-in sample for the tests (tiny random-weight Qwen2)");
    h.get_by_label("stand-in.sail.json");
    h.get_by_label("qwen2 · 3 layers · d_model 64");
    h.get_by_label("L1 topk8 256 (SAELens)");
    h.get_by_label("blocks.1.hook_mlp_out · 256 latents · topk:8");
    // Every SAE has a store and an evaluation: nothing to ask for.
    assert_eq!(
        h.query_all_by_label("no feature store yet (safe-sail collect)")
            .count(),
        0
    );
    assert_eq!(
        h.query_all_by_label("no scores yet (safe-sail evaluate)")
            .count(),
        0
    );
    if can_snapshot() {
        h.snapshot("workspace/three_saes_loaded");
    }
}

#[test]
fn what_is_missing_is_said() {
    let mut state = stand_in();
    state.engine = EngineStatus::Failed("no model".into());
    state.slots[2].info = None;
    let ws = state.workspace.as_mut().unwrap();
    ws.saes[0].store = None;
    ws.saes[1].eval = None;
    let mut h = harness((), state, [270.0, 700.0], |_, ui, ctx| {
        workspace::ui(ui, ctx);
        vec![]
    });
    h.run_steps(2);
    // The model and the third SAE.
    assert_eq!(h.query_all_by_label("not loaded").count(), 2);
    h.get_by_label("no feature store yet (safe-sail collect)");
    h.get_by_label("no scores yet (safe-sail evaluate)");
}
