//! A neuron's page: its record, review status and provenance, its store's statistics and
//! examples, promoted tokens, and navigation.

use crate::fixture::{can_snapshot, harness, stand_in, Panel};
use eframe::egui;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use safe_sail::app::panels::neuron_page::{Logits, NeuronPage};
use safe_sail::app::{AppState, Command};
use safe_sail::db::editable::{Edit, ReviewStatus};
use safe_sail::db::provenance::{ExplanationSource, HeldOutMix, MethodScore, ScoreSource};

fn page_harness(state: AppState, page: NeuronPage) -> Harness<'static, Panel<NeuronPage>> {
    let mut h = harness(page, state, [1100.0, 1200.0], |p, ui, ctx| {
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

/// The page of 0_145 with its promoted tokens as the feature store lists them.
fn page_of_0_145(state: &AppState) -> NeuronPage {
    let f = state.slots[0].store.as_ref().unwrap().feature(145).unwrap();
    let pairs = |t: &[String], v: &[f32]| t.iter().cloned().zip(v.iter().copied()).collect();
    NeuronPage {
        current: Some((0, 145)),
        jump: "0_145".into(),
        logits: Some(Logits {
            sae: 0,
            latent: 145,
            top: pairs(&f.top_logit_tokens, &f.top_logit_values),
            bottom: pairs(&f.bottom_logit_tokens, &f.bottom_logit_values),
            neighbours: vec![],
            family: Default::default(),
        }),
        ..Default::default()
    }
}

#[test]
fn verified_neuron() {
    let mut state = stand_in();
    // An annotator verified it and a score was made (in memory only: nothing is saved).
    let edit = Edit {
        status: Some(ReviewStatus::Verified),
        explanation_source: Some(Some(ExplanationSource::human("annotator"))),
        score_source: Some(ScoreSource {
            method: "segment-simulation".into(),
            simulator: "baseline (keyword simulator, no LLM)".into(),
            explanation: "x".into(),
            prompt_version: "v".into(),
            units: 40,
            held_out: HeldOutMix::default(),
            date: "unix:0".into(),
            segmentation: None,
            token_simulation_score: None,
            token_simulation_units: None,
        }),
        ..Default::default()
    };
    let session = state.sessions.for_sae_mut(0).unwrap();
    session.db.apply("0_145", &edit, "annotator").unwrap();
    let page = page_of_0_145(&state);
    let mut h = page_harness(state, page);
    h.get_by_label("Neuron 0_145");
    h.get_by_label("verified");
    h.get_by_label("human");
    h.get_by_label("segment simulation · by baseline (keyword simulator, no LLM) · 40 units");
    h.get_by_label_contains("Top activating examples (10)");
    h.get_by_label("Promoted");
    h.get_by_label("Suppressed");
    if can_snapshot() {
        h.snapshot("neuron_page/verified_neuron");
    }
}

/// Every score with its method: detection of the current explanation (balanced accuracy, F1,
/// AUC), embedding of an earlier one (struck through, said so).
#[test]
fn scored_by_every_method() {
    let mut state = stand_in();
    let session = state.sessions.for_sae_mut(0).unwrap();
    let now = session.db.record("0_145").unwrap().explanation.unwrap();
    let ms = |method: &str, expl: &str, ba: Option<f64>, auc: f64| MethodScore {
        method: method.into(),
        scorer: "judge".into(),
        explanation: expl.into(),
        prompt_version: "v".into(),
        positives: 10,
        negatives: 3,
        date: "unix:0".into(),
        balanced_accuracy: ba,
        f1: ba.map(|_| 0.8),
        precision: None,
        recall: None,
        auc: Some(auc),
    };
    for m in [
        ms("detection", &now, Some(0.75), 0.9),
        ms("embedding", "an older text", None, 0.625),
    ] {
        let e = Edit {
            method_score: Some(m),
            ..Default::default()
        };
        session.db.apply("0_145", &e, "scorer:judge").unwrap();
    }
    let page = page_of_0_145(&state);
    let mut h = page_harness(state, page);
    h.get_by_label("Score (detection)");
    h.get_by_label("0.750");
    h.get_by_label("balanced accuracy · F1 0.800 · AUC 0.900 · by judge · 10 matching / 3 not");
    h.get_by_label("Score (embedding)");
    h.get_by_label("0.625");
    h.get_by_label("AUC · by judge · 10 matching / 3 not · of an earlier explanation");
    if can_snapshot() {
        h.snapshot("neuron_page/scored_by_every_method");
    }
}

#[test]
fn previous_next_and_jump_ask_for_neurons() {
    let state = stand_in();
    let page = page_of_0_145(&state);
    let mut h = page_harness(state, page);
    h.get_by_label("unreviewed");
    h.get_by_label("Next ▶").click();
    h.run_steps(2);
    h.get_by_label("◀ Previous").click();
    h.run_steps(2);
    let commands = h.state_mut().take_commands();
    assert!(
        matches!(
            commands.as_slice(),
            [
                Command::OpenNeuron {
                    sae: 0,
                    latent: 146
                },
                Command::OpenNeuron {
                    sae: 0,
                    latent: 144
                }
            ]
        ),
        "{commands:?}"
    );
    // Jump by Safe-SAIL id: the layer picks the SAE.
    let jump = h.get_by_label("Jump to");
    jump.focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Jump to").type_text("2_42");
    h.run_steps(1);
    h.get_by_label("Go").click();
    h.run_steps(2);
    assert!(matches!(
        h.state_mut().take_commands().as_slice(),
        [Command::OpenNeuron { sae: 2, latent: 42 }]
    ));
    h.get_by_label("Jump to").focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Jump to").type_text("9_1");
    h.run_steps(1);
    h.get_by_label("Go").click();
    h.run_steps(2);
    h.get_by_label("no SAE at layer 9 in this workspace");
    assert!(h.state().commands.is_empty());
}

#[test]
fn tried_text() {
    let state = stand_in();
    let mut page = page_of_0_145(&state);
    page.try_text = "the attack".into();
    let mut h = page_harness(state, page);
    h.get_by_label("Try").click();
    h.run_steps(2);
    let commands = h.state_mut().take_commands();
    assert!(
        matches!(commands.as_slice(), [Command::TryText { sae: 0, latent: 145, text }] if text == "the attack"),
        "{commands:?}"
    );
    // What the engine sends back is shown token by token.
    h.state_mut().panel.tried = Some((
        0,
        145,
        vec![
            ("<|endoftext|>".into(), 0.0, true),
            ("the".into(), 0.1, false),
            (" Zanzibar".into(), 2.5, false),
        ],
    ));
    h.run_steps(2);
    h.get_by_label("max activation 2.500");
    h.get_by_label(" Zanzibar");
    if can_snapshot() {
        h.snapshot("neuron_page/tried_text");
    }
}

#[test]
fn no_neuron_yet() {
    let mut h = page_harness(stand_in(), NeuronPage::default());
    h.get_by_label("Open a neuron from a token's table in the inspector, or jump to one by id:");
    h.get_by_label("Jump to").focus();
    h.get_by_label("Jump to").type_text("1_7");
    h.run_steps(1);
    h.get_by_label("Go").click();
    h.run_steps(2);
    assert!(matches!(
        h.state_mut().take_commands().as_slice(),
        [Command::OpenNeuron { sae: 1, latent: 7 }]
    ));
}

/// `score --min-score` marks the record; the page says whether the score passes the rule.
#[test]
fn the_release_rule_mark_shows_on_the_page() {
    for (score, want) in [
        (0.35, "r >= 0.2: included"),
        (0.15, "r < 0.2: left out of a --min-score 0.2 export"),
    ] {
        let mut state = stand_in();
        let edit = Edit {
            score: Some(score),
            min_score: Some(0.2),
            ..Default::default()
        };
        let session = state.sessions.for_sae_mut(0).unwrap();
        session.db.apply("0_145", &edit, "score").unwrap();
        let page = page_of_0_145(&state);
        let h = page_harness(state, page);
        h.get_by_label("Release rule");
        h.get_by_label(want);
    }
    // Without a mark, no row.
    let state = stand_in();
    let page = page_of_0_145(&state);
    let h = page_harness(state, page);
    assert!(h.query_by_label("Release rule").is_none());
}

/// Its family: nearest neurons by decoder cosine beside those by co-activation, the same
/// concept in the other candidates, and the chain across layers; each entry opens its neuron.
#[test]
fn family_lists_and_chain() {
    use safe_sail::families::{ChainLink, Counterpart, NeuronFamily};
    let state = stand_in();
    let mut page = page_of_0_145(&state);
    let lg = page.logits.as_mut().unwrap();
    lg.neighbours = vec![(12, 0.61), (200, 0.42)];
    lg.family = NeuronFamily {
        coactivation: Some(vec![(33, 0.25), (12, 0.125)]),
        same_concept: vec![
            Counterpart {
                sae: 1,
                latent: 77,
                cosine: 0.83,
            },
            Counterpart {
                sae: 2,
                latent: 5,
                cosine: 0.4,
            },
        ],
        chain: vec![
            ChainLink {
                sae: 0,
                layer: 0,
                latent: 145,
                cosine: 1.0,
                coactivation: None,
            },
            ChainLink {
                sae: 1,
                layer: 1,
                latent: 77,
                cosine: 0.83,
                coactivation: Some(0.2),
            },
            ChainLink {
                sae: 2,
                layer: 2,
                latent: 9,
                cosine: 0.71,
                coactivation: Some(0.05),
            },
        ],
    };
    let mut h = page_harness(state, page);
    for section in [
        "Statistics and top-activating examples",
        "Promoted and suppressed tokens",
    ] {
        h.get_by_label(section).click();
        h.run_steps(3);
    }
    h.get_by_label("By decoder cosine");
    h.get_by_label("J 0.250");
    h.get_by_label("+0.830");
    h.get_by_label("→ +0.83 · J 0.20");
    h.get_by_label("→ +0.71 · J 0.05");
    if can_snapshot() {
        h.snapshot("neuron_page/family_lists_and_chain");
    }
    // Co-activation entry, other candidate, chain end.
    h.get_by_label("0_33").click();
    h.run_steps(2);
    h.get_by_label("2_5").click();
    h.run_steps(2);
    h.get_by_label("2_9").click();
    h.run_steps(2);
    let opened: Vec<(usize, u32)> = h
        .state_mut()
        .take_commands()
        .into_iter()
        .filter_map(|c| match c {
            Command::OpenNeuron { sae, latent } => Some((sae, latent)),
            _ => None,
        })
        .collect();
    assert_eq!(opened, [(0, 33), (2, 5), (2, 9)]);
}

/// Without a feature store the co-activation column says so.
#[test]
fn no_store_no_coactivation() {
    let mut state = stand_in();
    state.slots[0].store = None;
    let mut page = NeuronPage {
        current: Some((0, 145)),
        ..Default::default()
    };
    page.logits = Some(Logits {
        sae: 0,
        latent: 145,
        top: vec![],
        bottom: vec![],
        neighbours: vec![(12, 0.61)],
        family: Default::default(),
    });
    let h = page_harness(state, page);
    h.get_by_label("No feature store for this SAE: nothing to compare.");
}
