//! The compare view: the candidates table (from stores, evaluations and the database) and
//! one prompt through two candidates.

use crate::fixture::{can_snapshot, harness, stand_in, Panel};
use eframe::egui;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use safe_sail::app::panels::compare::{candidate_rows, sort_candidates, Compare};
use safe_sail::app::{AppState, Command, EngineStatus};

fn compare_harness(state: AppState, panel: Compare) -> Harness<'static, Panel<Compare>> {
    let mut h = harness(panel, state, [1300.0, 1000.0], |p, ui, ctx| {
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| p.ui(ui, ctx))
            .inner
            .into_iter()
            .collect()
    });
    h.run_steps(2);
    h
}

/// The candidates' names from top to bottom as shown.
fn shown_order(h: &Harness<'static, Panel<Compare>>) -> Vec<String> {
    let mut names: Vec<(f32, String)> = h
        .state()
        .state
        .slots
        .iter()
        .map(|s| (h.get_by_label(&s.name).rect().top(), s.name.clone()))
        .collect();
    names.sort_by(|a, b| a.0.total_cmp(&b.0));
    names.into_iter().map(|n| n.1).collect()
}

#[test]
fn candidates_come_from_stores_evaluations_and_the_database() {
    let state = stand_in();
    let rows = candidate_rows(&state.slots);
    assert_eq!(rows.len(), 3);
    let topk = rows.iter().find(|r| r.activation == "topk:8").unwrap();
    assert!((topk.l0.unwrap() - 8.0).abs() < 0.5, "{:?}", topk.l0);
    assert_eq!(topk.width, 256);
    assert_eq!(topk.domains.iter().sum::<usize>(), 7);
    assert!(rows
        .iter()
        .all(|r| r.explained_variance.is_some() && r.l0t.iter().all(Option::is_some)));
    let h = compare_harness(state, Compare::default());
    h.get_by_label_contains("Evaluation folders: eval");
    h.get_by_label("L0,t per domain");
    h.get_by_label("L0 vs explained variance (up and left is better)");
}

#[test]
fn sorted_by_l0() {
    let state = stand_in();
    let mut rows = candidate_rows(&state.slots);
    let mut h = compare_harness(state, Compare::default());
    h.get_by_label("L0").click();
    h.run_steps(3);
    assert_eq!(h.state().panel.sort, (2, true));
    h.get_by_label("L0 ↓");
    sort_candidates(&mut rows, 2, true);
    let want: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    assert!(rows.windows(2).all(|w| w[0].l0 >= w[1].l0), "descending L0");
    assert_eq!(shown_order(&h), want);
    if can_snapshot() {
        h.snapshot("compare/sorted_by_l0");
    }
    // Again: ascending.
    h.get_by_label("L0 ↓").click();
    h.run_steps(3);
    h.get_by_label("L0 ↑");
    let mut asc = want.clone();
    asc.reverse();
    assert_eq!(shown_order(&h), asc);
}

#[test]
fn one_prompt_through_two_candidates() {
    let state = stand_in();
    let mut panel = Compare::default();
    panel.prompt = "The violence of the attack shocked the election.".into();
    panel.set_analysis(crate::inspector::analysis(&state), &state.slots);
    let mut h = compare_harness(state, panel);
    assert_eq!(
        h.query_all_by_label_contains("mean active latents per token")
            .count(),
        2
    );
    // Left: the first candidate, right: the second.
    h.get_by_label_contains("tokens with a safety neuron 4/9");
    if can_snapshot() {
        h.snapshot("compare/one_prompt_two_candidates");
    }
    h.get_by_label("Run both").click();
    h.run_steps(2);
    let commands = h.state_mut().take_commands();
    assert!(
        matches!(commands.as_slice(), [Command::Compare { text }] if text == "The violence of the attack shocked the election."),
        "{commands:?}"
    );
}

#[test]
fn nothing_runs_while_the_engine_loads() {
    let mut state = stand_in();
    state.engine = EngineStatus::Loading("loading model …".into());
    let mut panel = Compare::default();
    panel.prompt = "Violence is never the answer.".into();
    let mut h = compare_harness(state, panel);
    h.get_by_label("Run both").click();
    h.run_steps(2);
    assert!(h.state().commands.is_empty());
}
