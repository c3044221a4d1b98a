//! The compare view: the candidates table (from stores, evaluations and the database) and
//! one prompt through two candidates.

use crate::fixture::{can_snapshot, harness, stand_in, Panel};
use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use safe_sail::app::panels::compare::{
    candidate_rows, metric_by_width, sort_candidates, Col, Compare,
};
use safe_sail::app::{AppState, Command, EngineStatus};

fn compare_harness(state: AppState, panel: Compare) -> Harness<'static, Panel<Compare>> {
    sized_harness(state, panel, [1300.0, 1000.0])
}

fn sized_harness(
    state: AppState,
    panel: Compare,
    size: [f32; 2],
) -> Harness<'static, Panel<Compare>> {
    let mut h = harness(panel, state, size, |p, ui, ctx| {
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
    let mut h = compare_harness(state, Compare::default());
    h.get_by_label_contains("Evaluation folders: eval");
    for d in ["pornography", "politics", "violence", "terror"] {
        h.get_by_label(&format!("L0,t {d}"));
        h.get_by_label(&format!("Specific {d}"));
        h.get_by_label(&format!("Neurons {d}"));
    }
    h.get_by_label("Plots").click();
    h.run_steps(3);
    h.get_by_label("L0 vs explained variance (up and left is better)");
}

#[test]
fn sorted_by_l0() {
    let state = stand_in();
    let mut rows = candidate_rows(&state.slots);
    let mut h = compare_harness(state, Compare::default());
    h.get_by_label("L0").click();
    h.run_steps(3);
    assert_eq!(h.state().panel.sort, (Col::L0, true));
    h.get_by_label("L0 ↓");
    sort_candidates(&mut rows, Col::L0, true);
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

/// Every column sorts, the text ones too: the order shown is the one of its values.
#[test]
fn every_column_sorts() {
    let mut state = stand_in();
    // Probe and TPP values, as `evaluate` with a labeled corpus writes them (their columns
    // show only then): a different order per column.
    with_probes(&mut state);
    let rows = candidate_rows(&state.slots);
    // Wide enough that every header is on screen.
    let mut h = sized_harness(state, Compare::default(), [5200.0, 800.0]);
    for c in [Col::Name].into_iter().chain(Col::all()) {
        if h.state().panel.sort == (c, true) {
            continue;
        }
        h.get_by_role_and_label(Role::Button, &c.title()).click();
        h.run_steps(3);
        assert_eq!(h.state().panel.sort, (c, true), "{c:?}");
        h.get_by_label(&format!("{} ↓", c.title()));
        let mut want = rows.clone();
        sort_candidates(&mut want, c, true);
        let want: Vec<String> = want.iter().map(|r| r.name.clone()).collect();
        assert_eq!(shown_order(&h), want, "{c:?}");
    }
    // By safety neurons of one domain: the counts of violence, largest first.
    let mut by = rows.clone();
    sort_candidates(&mut by, Col::SafetyIn(2), true);
    assert!(by.windows(2).all(|w| w[0].domains[2] >= w[1].domains[2]));
}

/// Gives every candidate's evaluation probe accuracies and TPP values, different per
/// candidate, column and domain.
fn with_probes(state: &mut AppState) {
    for (i, slot) in state.slots.iter_mut().enumerate() {
        let e = slot
            .eval
            .as_mut()
            .expect("the stand-in's candidates are evaluated");
        let v = |j: usize| Some(((i * 7 + j * 3) % 10) as f64 / 10.0);
        e.domains.probe_k1 = std::array::from_fn(v);
        e.domains.probe_k2 = std::array::from_fn(|d| v(d + 4));
        e.domains.probe_k5 = std::array::from_fn(|d| v(d + 8));
        e.domains.tpp = std::array::from_fn(|d| v(d + 12).map(|x| x - 0.5));
    }
}

/// The probe and TPP columns appear once an evaluation has them; candidates sort by them.
#[test]
fn sorted_by_probe_k1_violence() {
    let state = stand_in();
    let h = compare_harness(state, Compare::default());
    assert!(
        h.query_by_label("Probe k=1 violence").is_none(),
        "no column without values"
    );
    drop(h);
    let mut state = stand_in();
    with_probes(&mut state);
    let mut rows = candidate_rows(&state.slots);
    // Only the new columns, so that all are on screen.
    let mut panel = Compare::default();
    panel.hidden = Col::all().into_iter().filter(|c| !c.optional()).collect();
    let mut h = compare_harness(state, panel);
    h.get_by_label("TPP terror");
    h.get_by_role_and_label(Role::Button, "Probe k=1 violence")
        .click();
    h.run_steps(3);
    h.get_by_label("Probe k=1 violence ↓");
    sort_candidates(&mut rows, Col::Probe(0, 2), true);
    assert!(rows
        .windows(2)
        .all(|w| w[0].probe[0][2] >= w[1].probe[0][2]));
    let want: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    assert_eq!(shown_order(&h), want);
    if can_snapshot() {
        h.snapshot("compare/sorted_by_probe_k1_violence");
    }
}

/// The per-domain counts are numbers in columns of their own (no `[7, 18, 16, 9]` lists),
/// right-aligned.
#[test]
fn per_domain_counts_are_aligned_numbers() {
    let state = stand_in();
    let rows = candidate_rows(&state.slots);
    let h = sized_harness(state, Compare::default(), [3200.0, 800.0]);
    assert_eq!(h.query_all_by_label_contains("[").count(), 0);
    let header = h.get_by_label("Neurons violence").rect();
    let cells: Vec<_> = rows
        .iter()
        .map(|r| {
            let w = rows
                .iter()
                .map(|r| r.domains[2].to_string().len())
                .max()
                .unwrap();
            let text = format!("{:>w$}", r.domains[2]);
            let found = h
                .query_all_by_label(&text)
                .map(|n| n.rect())
                .find(|r| r.left() >= header.left() - 1.0 && r.left() < header.right());
            found.unwrap_or_else(|| panic!("no cell {text:?} under the header"))
        })
        .collect();
    // One right edge for the column's numbers.
    assert!(
        cells
            .windows(2)
            .all(|w| (w[0].right() - w[1].right()).abs() < 1.0),
        "{cells:?}"
    );
}

/// The column chooser hides a column and shows it again.
#[test]
fn a_column_hidden_with_the_chooser() {
    let mut h = compare_harness(stand_in(), Compare::default());
    h.get_by_role_and_label(Role::Button, "Dead");
    h.get_by_label("Columns…").click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::CheckBox, "Dead").click();
    h.run_steps(3);
    assert_eq!(h.state().panel.hidden, vec![Col::Dead]);
    assert!(h.query_by_role_and_label(Role::Button, "Dead").is_none());
    h.get_by_role_and_label(Role::CheckBox, "Dead").click();
    h.run_steps(3);
    assert!(h.state().panel.hidden.is_empty());
    h.get_by_role_and_label(Role::Button, "Dead");
}

/// At 1000 px the table scrolls sideways while the candidates' names stay put.
#[test]
fn the_name_column_stays_while_the_rest_scrolls() {
    let state = stand_in();
    let name = state.slots[0].name.clone();
    let mut h = sized_harness(state, Compare::default(), [1000.0, 800.0]);
    let name_at = h.get_by_label(&name).rect();
    let layer_at = h.get_by_role_and_label(Role::Button, "Width").rect();
    h.hover_at(layer_at.center() + egui::vec2(0.0, 40.0));
    h.run_steps(1);
    h.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(-300.0, 0.0),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Unknown,
        modifiers: egui::Modifiers::NONE,
    });
    h.run_steps(10);
    let layer_now = h.get_by_role_and_label(Role::Button, "Width").rect();
    assert!(
        layer_now.left() < layer_at.left() - 100.0,
        "{layer_at:?} → {layer_now:?}"
    );
    assert_eq!(h.get_by_label(&name).rect(), name_at);
    if can_snapshot() {
        h.snapshot("compare/scrolled_sideways_at_1000px");
    }
}

/// The mouse wheel over a plot scrolls the page; with Ctrl held it zooms the plot instead.
#[test]
fn the_wheel_over_a_plot_scrolls_the_page() {
    let mut panel = Compare::default();
    panel.plots = true;
    let mut h = sized_harness(stand_in(), panel, [1300.0, 500.0]);
    let wheel = |h: &mut Harness<'static, Panel<Compare>>, modifiers| {
        let title = h
            .get_by_label("L0 vs explained variance (up and left is better)")
            .rect();
        h.hover_at(title.center_bottom() + egui::vec2(0.0, 60.0));
        h.run_steps(1);
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, -120.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Unknown,
            modifiers,
        });
        h.run_steps(10);
        let now = h
            .get_by_label("L0 vs explained variance (up and left is better)")
            .rect();
        now.top() - title.top()
    };
    assert!(
        wheel(&mut h, egui::Modifiers::COMMAND).abs() < 0.5,
        "Ctrl: the page stays"
    );
    let moved = wheel(&mut h, egui::Modifiers::NONE);
    assert!(moved < -50.0, "the page scrolled by {moved}");
}

/// Each metric against width: a line per layer and architecture, the chosen candidates marked.
#[test]
fn metric_against_width() {
    let state = stand_in();
    let rows = candidate_rows(&state.slots);
    let (lines, chosen) = metric_by_width(&rows, Col::Ev, |sae| sae == 1);
    let mut names: Vec<&str> = lines.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    let mut want: Vec<String> = rows
        .iter()
        .map(|r| format!("layer {} · {}", r.layer, r.activation))
        .collect();
    want.sort();
    assert_eq!(names, want);
    let r1 = rows.iter().find(|r| r.sae == 1).unwrap();
    assert_eq!(
        chosen,
        vec![[(r1.width as f64).log2(), r1.explained_variance.unwrap()]]
    );
    // A wider SAE of the same layer and architecture joins its line, in width order; another
    // setting of the activation makes a line of its own.
    let mut more = rows.clone();
    let mut wide = r1.clone();
    (wide.sae, wide.width, wide.explained_variance) = (3, 1024, Some(0.5));
    let mut other_k = r1.clone();
    (other_k.sae, other_k.activation) = (4, "topk:16".into());
    more.insert(0, wide);
    more.push(other_k);
    let (lines, _) = metric_by_width(&more, Col::Ev, |_| false);
    let line = |name: &str| lines.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert_eq!(
        line(&format!("layer {} · topk:8", r1.layer)),
        vec![[8.0, r1.explained_variance.unwrap()], [10.0, 0.5]]
    );
    assert_eq!(line(&format!("layer {} · topk:16", r1.layer)).len(), 1);
    // A metric nobody has: no lines.
    let mut none = rows.clone();
    none.iter_mut().for_each(|r| r.mean_score = None);
    assert!(metric_by_width(&none, Col::MeanScore, |_| true)
        .0
        .is_empty());
    // In the window: the plot and its metric chooser.
    let mut panel = Compare::default();
    panel.plots = true;
    panel.metric = Some(Col::Ev);
    let mut h = sized_harness(state, panel, [1300.0, 1100.0]);
    h.get_by_role_and_label(Role::ComboBox, "Metric against width");
    assert!(h
        .query_by_label_contains("No candidate has a value")
        .is_none());
    if can_snapshot() {
        h.snapshot("compare/plots_explained_variance_by_width");
    }
}

/// The partner figures: one matrix per group of candidates reading the same space (the three
/// stand-in SAEs read d_in 64), the computed pairs as shares, the others to compute; the
/// button asks for the missing pairs only; figures are kept per workspace.
#[test]
fn partner_matrix_with_one_pair_computed() {
    use safe_sail::app::panels::compare::{same_space_groups, PARTNER_THRESHOLD};
    use safe_sail::families::PartnerShare;
    let state = stand_in();
    assert_eq!(same_space_groups(&state.slots), vec![(64, vec![0, 1, 2])]);
    let ws = state.workspace_path.clone().unwrap();
    let mut panel = Compare::default();
    let share = PartnerShare {
        partners: 64,
        pairs: 256,
        exact: true,
    };
    // Stored under (lower, higher) whichever way round it came.
    panel.set_partners(&ws, (2, 0), PARTNER_THRESHOLD, Ok(share));
    // Another threshold is not this figure.
    panel.set_partners(&ws, (0, 1), 0.5, Ok(share));
    assert!(panel.partners[&ws].contains_key(&(0, 2)));
    assert_eq!(panel.partners[&ws].len(), 1);
    let mut h = compare_harness(state, panel);
    // Both cells of the symmetric pair show 25%.
    assert_eq!(h.query_all_by_label("25%").count(), 2);
    h.get_by_label("2 pairs not computed");
    if can_snapshot() {
        h.snapshot("compare/partner_matrix_one_pair_computed");
    }
    h.get_by_label("Compute partners ≥ 0.7").click();
    h.run_steps(2);
    let commands = h.state_mut().take_commands();
    assert!(
        matches!(commands.as_slice(), [Command::ComputePartners { pairs, threshold }]
            if pairs == &[(0, 1), (1, 2)] && *threshold == PARTNER_THRESHOLD),
        "{commands:?}"
    );
    // The figures stay when another workspace opens.
    h.state_mut().panel.workspace_changed();
    assert_eq!(h.state().panel.partners[&ws].len(), 1);
}
