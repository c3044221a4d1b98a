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
        egui::ScrollArea::vertical()
            .show(ui, |ui| workspace::ui(ui, ctx))
            .inner
            .into_iter()
            .collect()
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
        workspace::ui(ui, ctx).into_iter().collect()
    });
    h.run_steps(2);
    // The model and the third SAE.
    assert_eq!(h.query_all_by_label("not loaded").count(), 2);
    h.get_by_label("no feature store yet (safe-sail collect)");
    h.get_by_label("no scores yet (safe-sail evaluate)");
}

/// Clicking an SAE's card takes it out of the inspector's SAEs (and back); the choice is
/// written into the workspace file. By default the inspector runs the SAEs with a store or
/// explained neurons.
#[test]
fn clicking_an_sae_card_chooses_it_for_the_inspector() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = stand_in();
    let file = dir.path().join("ws.sail.json");
    let ws = state.workspace.as_mut().unwrap();
    std::fs::copy(ws.file.as_ref().unwrap(), &file).unwrap();
    ws.file = Some(file.clone());
    assert_eq!(state.inspected(), [0, 1, 2], "all have stores");
    state.slots[2].store = None;
    state.slots[2].db = Default::default();
    state.slots[2].q999.clear();
    assert_eq!(state.inspected(), [0, 1], "no store, no explained neuron");
    let mut h = harness((), state, [300.0, 900.0], |_, ui, ctx| {
        workspace::ui(ui, ctx).into_iter().collect()
    });
    h.run_steps(2);
    h.get_by_label("The inspector runs 2 of 3: click a name to add or remove it.");
    assert_eq!(h.query_all_by_label("left out of the inspector").count(), 1);
    h.get_by_label("L1 topk8 256 (SAELens)").click();
    h.run_steps(2);
    for c in h.state_mut().take_commands() {
        let safe_sail::app::Command::ToggleInspected(i) = c else {
            panic!("{c:?}")
        };
        assert_eq!(i, 1);
        h.state_mut().state.toggle_inspected(i).unwrap();
    }
    h.run_steps(2);
    assert_eq!(h.state().state.inspected(), [0]);
    h.get_by_label("The inspector runs 1 of 3: click a name to add or remove it.");
    if can_snapshot() {
        h.snapshot("workspace/one_sae_chosen_for_the_inspector");
    }
    let saved = safe_sail::workspace::Workspace::load(&file).unwrap();
    assert_eq!(saved.saes[1].inspect, Some(false));
    assert_eq!(saved.saes[0].inspect, None);
}
