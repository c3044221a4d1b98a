//! The neuron browser and its editor over the stand-in workspace's 768 neurons.

use crate::fixture::{can_snapshot, editable, harness, stand_in, Panel};
use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use safe_sail::app::panels::browser::Browser;
use safe_sail::app::panels::editor::EditKind;
use safe_sail::app::{AppState, Command};
use safe_sail::db::editable::ReviewStatus;

fn browser_harness(state: AppState) -> Harness<'static, Panel<Browser>> {
    let mut b = Browser::default();
    b.set_saes(&state.slots);
    let mut h = harness(b, state, [1500.0, 900.0], |p, ui, ctx| p.ui(ui, ctx));
    h.run_steps(2);
    h
}

/// Applies the edits the panel asked for, as the app does.
fn apply_edits(h: &mut Harness<'static, Panel<Browser>>) -> usize {
    let p = h.state_mut();
    let mut n = 0;
    for c in p.take_commands() {
        let Command::EditNeuron(e) = c else {
            panic!("not an edit: {c:?}")
        };
        let e = *e;
        let restore = e.kind == EditKind::Restore;
        let changed = p.state.edit_neuron(e.sae, &e.id, &e.edit, restore).unwrap();
        p.panel.edited(e.kind, changed, &p.state.view());
        n += 1;
    }
    h.run_steps(3);
    n
}

fn search(h: &mut Harness<'static, Panel<Browser>>, text: &str) {
    h.get_by_label("Search").click();
    h.run_steps(1);
    h.get_by_label("Search").type_text(text);
    h.run_steps(3);
}

fn top(h: &Harness<'static, Panel<Browser>>, label: &str) -> f32 {
    h.get_by_label(label).rect().top()
}

#[test]
fn filtered_by_chinese_search() {
    let mut h = browser_harness(stand_in());
    h.get_by_label("768 of 768 neurons");
    search(&mut h, "天");
    h.get_by_label("19 of 768 neurons");
    // The explanations shown mention it.
    assert!(h.query_all_by_label_contains("\"天\"").count() > 0);
    if can_snapshot() {
        h.snapshot("browser/filtered_by_chinese_search");
    }
}

#[test]
fn violence_sorted_by_score() {
    let mut h = browser_harness(stand_in());
    h.get_by_role_and_label(Role::ComboBox, "tag").click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::Button, "violence").click();
    h.run_steps(3);
    h.get_by_label("9 of 768 neurons");
    // In id order first …
    assert!(top(&h, "0_48") < top(&h, "1_159"));
    h.get_by_role_and_label(Role::ComboBox, "sort").click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::Button, "score").click();
    h.run_steps(2);
    h.get_by_label("descending").click();
    h.run_steps(3);
    // … then strongest score first: 1_159 (0.64), 0_89 (0.63), …, 2_40 (0.22); the tie at
    // 0.35 keeps the id order, reversed with the rest.
    let order = [
        "1_159", "0_89", "1_110", "2_234", "2_15", "0_48", "1_92", "0_145", "2_40",
    ];
    let tops: Vec<f32> = order.iter().map(|id| top(&h, id)).collect();
    assert!(tops.windows(2).all(|w| w[0] < w[1]), "{order:?}: {tops:?}");
    if can_snapshot() {
        h.snapshot("browser/violence_sorted_by_score");
    }
}

#[test]
fn a_read_only_database_cannot_be_edited() {
    let mut state = stand_in();
    state.sessions = Default::default();
    let mut h = browser_harness(state);
    search(&mut h, "0_145");
    h.get_by_label("0_145").click();
    h.run_steps(3);
    h.get_by_label("Read-only: this SAE has no editable neuron database.");
}

#[test]
fn review_with_the_keyboard_moves_to_the_next_unreviewed() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = browser_harness(editable(dir.path()));
    search(&mut h, "placeholder");
    h.get_by_label("27 of 768 neurons");
    h.get_by_label("0_145").click();
    h.run_steps(3);
    h.get_by_label("Neuron 0_145").click();
    h.run_steps(1);
    if can_snapshot() {
        h.snapshot("browser/neuron_selected_for_editing");
    }
    h.key_press_modifiers(egui::Modifiers::ALT, egui::Key::A);
    h.run_steps(2);
    {
        let commands = &h.state().commands;
        let [Command::EditNeuron(e)] = commands.as_slice() else {
            panic!("{commands:?}")
        };
        assert_eq!((e.sae, e.id.as_str()), (0, "0_145"));
        assert_eq!(e.edit.status, Some(ReviewStatus::Verified));
        assert!(matches!(e.kind, EditKind::Review { .. }));
    }
    assert_eq!(apply_edits(&mut h), 1);
    let p = h.state();
    assert_eq!(p.state.sessions.status(0, "0_145"), ReviewStatus::Verified);
    let next = p.panel.selected_row().unwrap();
    assert_ne!(next.id, "0_145", "on to the next one");
    assert_eq!(
        p.state.sessions.status(next.sae, &next.id),
        ReviewStatus::Unreviewed
    );
    h.get_by_role_and_label(Role::Label, "verified");
}

#[test]
fn edit_then_undo_puts_the_explanation_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = browser_harness(editable(dir.path()));
    search(&mut h, "0_145");
    h.get_by_label("0_145").click();
    h.run_steps(3);
    let before = h.state().state.slots[0]
        .record(145)
        .unwrap()
        .explanation
        .clone();
    let expl = h.get_by_label("Edit explanation");
    expl.focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_label("Edit explanation")
        .type_text("Physical attacks and fights 暴力");
    h.run_steps(2);
    assert_eq!(apply_edits(&mut h), 1);
    // The slots (what the other panels read) see the edit at once.
    assert_eq!(
        h.state().state.slots[0]
            .record(145)
            .unwrap()
            .explanation
            .as_deref(),
        Some("Physical attacks and fights 暴力")
    );
    h.get_by_label("Undo").click();
    h.run_steps(2);
    {
        let commands = &h.state().commands;
        let [Command::EditNeuron(e)] = commands.as_slice() else {
            panic!("{commands:?}")
        };
        assert_eq!(e.kind, EditKind::Restore);
        assert_eq!(e.edit.explanation, Some(before.clone()));
    }
    apply_edits(&mut h);
    assert_eq!(
        h.state().state.slots[0].record(145).unwrap().explanation,
        before
    );
    // And redo brings the edit back.
    h.get_by_label("Redo").click();
    h.run_steps(2);
    apply_edits(&mut h);
    assert_eq!(
        h.state().state.slots[0]
            .record(145)
            .unwrap()
            .explanation
            .as_deref(),
        Some("Physical attacks and fights 暴力")
    );
}

#[test]
fn open_page_asks_for_the_neuron() {
    let mut h = browser_harness(stand_in());
    search(&mut h, "1_28");
    h.get_by_label("1_28").click();
    h.run_steps(3);
    h.get_by_label("open page").click();
    h.run_steps(2);
    assert!(matches!(
        h.state_mut().take_commands().as_slice(),
        [Command::OpenNeuron { sae: 1, latent: 28 }]
    ));
}

/// The editor's sub-category picker under a tagged domain writes `domain/sub-category`; the
/// tag filter then finds the neuron under its sub-category and under its domain.
#[test]
fn editor_picks_a_subcategory_and_the_filter_finds_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = browser_harness(editable(dir.path()));
    search(&mut h, "0_145");
    h.get_by_label("0_145").click();
    h.run_steps(3);
    // 0_145 is tagged violence: one picker, for violence, at "—" (the domain alone).
    h.get_by_label("Sub-category");
    assert!(h
        .query_by_role_and_label(Role::ComboBox, "politics")
        .is_none());
    h.get_by_role_and_label(Role::ComboBox, "violence").click();
    h.run_steps(2);
    // The taxonomy's five violence sub-categories are offered, and nothing of terror's.
    for s in [
        "insult",
        "physical violence",
        "criminal offense",
        "cybersecurity",
        "conflict incident",
    ] {
        h.get_by_role_and_label(Role::Button, s);
    }
    assert!(h.query_by_label("weapons").is_none());
    h.get_by_role_and_label(Role::Button, "insult").click();
    h.run_steps(2);
    {
        let commands = &h.state().commands;
        let [Command::EditNeuron(e)] = commands.as_slice() else {
            panic!("{commands:?}")
        };
        assert_eq!(e.id, "0_145");
        assert_eq!(
            e.edit.tags.as_deref(),
            Some(&["violence/insult".to_string()][..])
        );
    }
    assert_eq!(apply_edits(&mut h), 1);
    let rec = h.state().state.slots[0].record(145).unwrap().clone();
    assert_eq!(
        rec.tag_list,
        ["violence"],
        "Safe-SAIL's tag_list keeps the domain"
    );
    assert_eq!(rec.subcategory_list, ["violence/insult"]);
    // The row's chip and the picker show it.
    h.get_by_label("violence/insult");
    h.get_by_role_and_label(Role::ComboBox, "violence");
    if can_snapshot() {
        h.snapshot("browser/editor_subcategory_insult_chosen");
    }
    // A second sub-category of the same domain joins the first; choosing a chosen one again
    // takes it away; `—` goes back to the domain alone.
    let pick = |h: &mut Harness<'static, Panel<Browser>>, s: &str, want: &[&str]| {
        h.get_by_role_and_label(Role::ComboBox, "violence").click();
        h.run_steps(2);
        h.get_by_role_and_label(Role::Button, s).click();
        h.run_steps(2);
        assert_eq!(apply_edits(h), 1, "{s}");
        let rec = h.state().state.slots[0].record(145).unwrap().clone();
        assert_eq!(rec.subcategory_list, want, "after {s}");
        assert_eq!(rec.tag_list, ["violence"]);
    };
    pick(
        &mut h,
        "cybersecurity",
        &["violence/insult", "violence/cybersecurity"],
    );
    h.get_by_label("violence/insult");
    h.get_by_label("violence/cybersecurity");
    pick(&mut h, "insult", &["violence/cybersecurity"]);
    pick(&mut h, "—", &[]);
    pick(&mut h, "insult", &["violence/insult"]);
    // Filter by the sub-category (the search cleared first): only 0_145.
    h.state_mut().panel.filters.search.clear();
    h.run_steps(3);
    h.get_by_label("768 of 768 neurons");
    h.get_by_role_and_label(Role::ComboBox, "tag").click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::Button, "insult").click();
    h.run_steps(3);
    assert_eq!(
        h.state().panel.filters.tag.as_deref(),
        Some("violence/insult")
    );
    h.get_by_label("1 of 768 neurons");
    h.get_by_label("0_145");
    if can_snapshot() {
        h.snapshot("browser/filtered_by_subcategory_insult");
    }
    // Another sub-category of the same domain: none; the domain: all nine, 0_145 among them.
    h.get_by_role_and_label(Role::ComboBox, "tag").click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::Button, "cybersecurity")
        .click();
    h.run_steps(3);
    h.get_by_label("0 of 768 neurons");
    h.get_by_role_and_label(Role::ComboBox, "tag").click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::Button, "violence").click();
    h.run_steps(3);
    h.get_by_label("9 of 768 neurons");
    h.get_by_label("0_145");
}

/// Typing a new explanation for a scored, verified neuron: the score stays, struck through
/// and marked stale, the review goes back to "needs_work", and the editor's name is recorded
/// as the author.
#[test]
fn editing_an_explanation_marks_its_score_stale() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = editable(dir.path());
    state.sessions.iter_mut().for_each(|s| s.who = "ana".into());
    let mut h = browser_harness(state);
    search(&mut h, "0_145");
    h.get_by_label("0_145").click();
    h.run_steps(3);
    h.get_by_label("Accept (Alt+A)").click();
    h.run_steps(2);
    apply_edits(&mut h);
    // Accepting moved on; come back.
    h.get_by_label("0_145").click();
    h.run_steps(3);
    h.get_by_role_and_label(Role::Label, "0.35");
    h.get_by_label("Edit explanation").focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_label("Edit explanation").type_text("Fights 打架");
    h.run_steps(2);
    assert_eq!(apply_edits(&mut h), 1);
    let p = h.state();
    let rec = p.state.slots[0].record(145).unwrap();
    assert_eq!((rec.correlation_score, rec.score_stale), (Some(0.35), true));
    assert_eq!(p.state.sessions.status(0, "0_145"), ReviewStatus::NeedsWork);
    let author =
        p.state.sessions.entry(0, "0_145").unwrap()["explanation_source"]["author"].clone();
    assert_eq!(author, "ana");
    h.get_by_label("stale: made for the earlier explanation; score again");
    // Shown in the row and in the editor, struck through.
    assert_eq!(h.query_all_by_label("0.35").count(), 1);
    assert_eq!(h.query_all_by_label("0.350").count(), 1);
    if can_snapshot() {
        h.snapshot("browser/explanation_edited_score_stale");
    }
}

/// A click anywhere on a row selects its neuron: here on its explanation's text.
#[test]
fn a_click_on_the_explanation_selects_the_row() {
    let mut h = browser_harness(stand_in());
    search(&mut h, "1_28");
    let expl = h.state().state.slots[1]
        .record(28)
        .unwrap()
        .explanation
        .clone()
        .unwrap();
    let first = expl.lines().next().unwrap().to_string();
    assert!(h.state().panel.selected_row().is_none());
    h.get_by_label(&first).click();
    h.run_steps(3);
    assert_eq!(h.state().panel.selected_row().unwrap().id, "1_28");
    h.get_by_label("Neuron 1_28");
}

/// Each filter's label comes before its control, on the same line.
#[test]
fn filter_labels_sit_before_their_controls() {
    let h = browser_harness(stand_in());
    let before = |label: egui::Rect, control: egui::Rect, name: &str| {
        assert!(
            label.right() <= control.left() && (label.center().y - control.center().y).abs() < 6.0,
            "{name}: label {label:?}, control {control:?}"
        );
    };
    for name in ["tag", "layer", "SAE", "review", "explained", "sort"] {
        let label = h.get_by_role_and_label(Role::Label, name).rect();
        let combo = h.get_by_role_and_label(Role::ComboBox, name).rect();
        before(label, combo, name);
    }
    for name in ["min score", "max score"] {
        let label = h.get_by_role_and_label(Role::Label, name).rect();
        let slider = h.get_by_role_and_label(Role::Slider, name).rect();
        before(label, slider, name);
    }
}

/// The selected neuron's top-activating examples sit under the editor, beside the table.
#[test]
fn top_examples_beside_the_editor() {
    let mut h = browser_harness(stand_in());
    search(&mut h, "0_145");
    h.get_by_label("0_145").click();
    h.run_steps(3);
    let store = h.state().state.slots[0].store.clone().unwrap();
    let top = store
        .examples(145)
        .iter()
        .filter(|e| e.kind == "top")
        .count();
    assert!(top > 0);
    let shown = top.min(safe_sail::app::panels::editor::EXAMPLES);
    let title = if shown < top {
        format!("Top activating examples ({shown} of {top})")
    } else {
        format!("Top activating examples ({top})")
    };
    let examples = h.get_by_label(&title).rect();
    let editor = h.get_by_label("Edit explanation").rect();
    assert!((examples.left() - editor.left()).abs() < 2.0 && examples.top() > editor.top());
    assert!(examples.left() > h.get_by_label("0_145").rect().right());
    if can_snapshot() {
        h.snapshot("browser/top_examples_beside_the_editor");
    }
}

/// Undo after a new explanation puts back the earlier author (and the score's freshness and
/// the review), not the one who undid it.
#[test]
fn undo_puts_back_the_earlier_author() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = editable(dir.path());
    let who = |s: &AppState| {
        s.sessions.entry(0, "0_145").unwrap()["explanation_source"]["author"].clone()
    };
    state.sessions.iter_mut().for_each(|s| s.who = "bo".into());
    state
        .edit_neuron(
            0,
            "0_145",
            &safe_sail::db::editable::Edit {
                explanation: Some(Some("Fights, by bo".into())),
                score: Some(0.5),
                status: Some(ReviewStatus::Verified),
                ..Default::default()
            },
            false,
        )
        .unwrap();
    assert_eq!(who(&state), "bo");
    state.sessions.iter_mut().for_each(|s| s.who = "ana".into());
    let mut h = browser_harness(state);
    search(&mut h, "0_145");
    h.get_by_label("0_145").click();
    h.run_steps(3);
    h.get_by_label("Edit explanation").focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_label("Edit explanation")
        .type_text("Fights, by ana");
    h.run_steps(2);
    apply_edits(&mut h);
    assert_eq!(who(&h.state().state), "ana");
    assert!(h.state().state.slots[0].record(145).unwrap().score_stale);
    h.get_by_label("Undo").click();
    h.run_steps(2);
    apply_edits(&mut h);
    let p = h.state();
    let rec = p.state.slots[0].record(145).unwrap();
    assert_eq!(rec.explanation.as_deref(), Some("Fights, by bo"));
    assert!(!rec.score_stale);
    assert_eq!(p.state.sessions.status(0, "0_145"), ReviewStatus::Verified);
    assert_eq!(who(&p.state), "bo");
}

/// Undo of the first explanation a neuron ever got leaves it with no author again.
#[test]
fn undo_of_a_first_explanation_removes_its_author() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = browser_harness(editable(dir.path()));
    assert!(h
        .state()
        .state
        .sessions
        .entry(0, "0_145")
        .unwrap()
        .get("explanation_source")
        .is_none());
    search(&mut h, "0_145");
    h.get_by_label("0_145").click();
    h.run_steps(3);
    h.get_by_label("Edit explanation").focus();
    h.run_steps(1);
    h.get_by_label("Edit explanation").type_text(" (checked)");
    h.run_steps(2);
    apply_edits(&mut h);
    assert!(h
        .state()
        .state
        .sessions
        .entry(0, "0_145")
        .unwrap()
        .get("explanation_source")
        .is_some());
    h.get_by_label("Undo").click();
    h.run_steps(2);
    apply_edits(&mut h);
    assert!(h
        .state()
        .state
        .sessions
        .entry(0, "0_145")
        .unwrap()
        .get("explanation_source")
        .is_none());
}

/// An SAE with no database file: the editor offers to make one in place; once made (an empty
/// file beside the workspace, named in the workspace file for that SAE) its neurons edit.
#[test]
fn a_database_created_for_an_sae_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = stand_in();
    state.sessions = Default::default();
    state.slots.iter_mut().for_each(|s| {
        s.db_path = None;
        s.db = Default::default();
    });
    let ws_file = dir.path().join("ws.sail.json");
    state.workspace.as_mut().unwrap().file = Some(ws_file.clone());
    let mut h = browser_harness(state);
    search(&mut h, "1_28");
    h.get_by_label("1_28").click();
    h.run_steps(3);
    h.get_by_label("Read-only: this SAE has no editable neuron database.");
    h.get_by_label("Create a database for this SAE").click();
    h.run_steps(2);
    let commands = h.state_mut().take_commands();
    let [Command::CreateSaeDb(sae)] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!(*sae, 1);
    h.state_mut().state.create_sae_db(*sae).unwrap();
    h.run_steps(3);
    let ws: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ws_file).unwrap()).unwrap();
    let name = ws["saes"][1]["neuron_db"].as_str().unwrap().to_string();
    assert!(
        name.starts_with("neurons-") && name.ends_with(".json"),
        "{name}"
    );
    assert!(dir.path().join(&name).exists());
    assert!(ws["saes"][0].get("neuron_db").is_none());
    assert!(h
        .query_by_label("Read-only: this SAE has no editable neuron database.")
        .is_none());
    // And the neuron now takes an explanation.
    h.get_by_label("Edit explanation").focus();
    h.run_steps(1);
    h.get_by_label("Edit explanation").type_text("Bombs");
    h.run_steps(2);
    assert_eq!(apply_edits(&mut h), 1);
    let rec = h.state().state.slots[1].record(28).cloned();
    assert_eq!(rec.and_then(|r| r.explanation).as_deref(), Some("Bombs"));
    // A second time: refused.
    assert!(h.state_mut().state.create_sae_db(1).is_err());
}
