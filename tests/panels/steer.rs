//! The Steer panel on its own: typing a prompt and an intervention gives the engine the
//! library's job; a comparison made by the library on the tiny fixture model shows as two
//! answers with the KL legend; a saved set survives saving and reopening the workspace file;
//! a bad neuron id is a message, not a panic.

use crate::fixture::{can_snapshot, harness, stand_in, stand_in_path, Panel};
use candle_core::{DType, Device};
use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use safe_sail::app::panels::steer::SteerPanel;
use safe_sail::app::{AppState, Command};
use safe_sail::model::Model;
use safe_sail::steer::{self, NeuronMode, Positions, Resolver, SteerOpts};
use safe_sail::workspace::{OpenedWorkspace, Workspace};

fn steer_harness(state: AppState, panel: SteerPanel) -> Harness<'static, Panel<SteerPanel>> {
    let mut h = harness(panel, state, [1200.0, 900.0], |p, ui, ctx| {
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

/// Types a prompt and one intervention (neuron `id`, the SAE picked from its layer).
fn type_prompt_and_neuron(h: &mut Harness<'static, Panel<SteerPanel>>, id: &str) {
    h.get_by_label("Steer prompt").click();
    h.run_steps(1);
    h.get_by_label("Steer prompt")
        .type_text("The violence of the attack");
    h.run_steps(1);
    h.get_by_label("+ Add intervention").click();
    h.run_steps(2);
    h.query_all_by_role_and_label(Role::TextInput, "neuron")
        .last()
        .unwrap()
        .focus();
    h.run_steps(2);
    h.query_all_by_role_and_label(Role::TextInput, "neuron")
        .last()
        .unwrap()
        .type_text(id);
    h.run_steps(2);
}

fn steer_jobs(p: &mut Panel<SteerPanel>) -> Vec<safe_sail::app::engine::SteerJob> {
    p.take_commands()
        .into_iter()
        .filter_map(|c| match c {
            Command::Steer(j) => Some(*j),
            _ => None,
        })
        .collect()
}

#[test]
fn typed_intervention_becomes_the_library_s_job() {
    let mut h = steer_harness(stand_in(), SteerPanel::default());
    type_prompt_and_neuron(&mut h, "1_7");
    assert_eq!(
        h.state().panel.rows[0].sae,
        1,
        "the SAE at layer 1 is chosen: {:?} / prompt {:?}",
        h.state().panel.rows,
        h.state().panel.prompt
    );
    h.get_by_label("▶ Run steering").click();
    h.run_steps(2);
    let jobs = steer_jobs(h.state_mut());
    assert_eq!(jobs.len(), 1);
    let j = &jobs[0];
    assert_eq!(j.prompt.text, "The violence of the attack");
    assert!(j.prompt.chat);
    assert_eq!(j.sets.len(), 1);
    // The store knows 1_7's max activation: add is in multiples of it.
    assert_eq!(
        j.sets[0].to_string(),
        "L1 topk8 256 (SAELens):1_7=1x:add",
        "{:?}",
        j.sets[0]
    );
    assert_eq!(j.opts.gen.max_new_tokens, 32);
    assert_eq!(j.opts.positions, Positions::All);
    assert!(h.state().panel.running);
}

#[test]
fn invalid_neuron_id_is_a_message() {
    let mut h = steer_harness(stand_in(), SteerPanel::default());
    type_prompt_and_neuron(&mut h, "1-7");
    h.get_by_label("▶ Run steering").click();
    h.run_steps(2);
    assert!(steer_jobs(h.state_mut()).is_empty(), "nothing runs");
    h.get_by_label_contains("`1-7` is not a neuron id (write LAYER_INDEX");
    // Out of range for a 256-latent SAE.
    h.state_mut().panel.rows[0].id = "1_999".into();
    h.state_mut().panel.rows[0].sae = 1;
    h.run_steps(1);
    h.get_by_label("▶ Run steering").click();
    h.run_steps(2);
    assert!(steer_jobs(h.state_mut()).is_empty());
    h.get_by_label_contains("index 999 is out of range");
    if can_snapshot() {
        h.snapshot("steer/invalid_neuron_id");
    }
}

/// The library's comparison on the stand-in workspace's model and L1 SAE, steering 1_7 hard.
fn fixture_comparison() -> steer::Comparison {
    let ws = Workspace::load(&stand_in_path()).unwrap();
    let model = Model::load_dir(&ws.resolve(&ws.model), &Device::Cpu, DType::F32).unwrap();
    let spec = ws.sae_spec(1).unwrap();
    let mut slot = steer::SaeSlot::new(safe_sail::sae::load_sae(&spec, &Device::Cpu).unwrap());
    slot.name = ws.saes[1].name.clone();
    let slot = slot
        .with_store(&ws.resolve(ws.saes[1].store.as_ref().unwrap()))
        .unwrap();
    let slots = vec![slot];
    let r = Resolver {
        model: &model,
        saes: &slots,
    };
    let set: steer::NeuronSet = "1_7=40x:add".parse().unwrap();
    let iv = r.neuron(&set, "1_7=40x:add").unwrap();
    let prompt = model
        .tokenize_prompt(&safe_sail::model::PromptSpec {
            text: "The violence of the attack".into(),
            chat: false,
            system: None,
            thinking: None,
            truncate: true,
        })
        .unwrap();
    let opts = SteerOpts {
        gen: safe_sail::model::generate::GenerateOpts {
            max_new_tokens: 12,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut c = steer::compare(&model, &slots, &prompt, &[iv], &[], &opts, &mut |_, _| {}).unwrap();
    c.use_display_strings(&model.tok);
    c
}

#[test]
fn answers_side_by_side_with_kl_legend() {
    let c = fixture_comparison();
    assert!(
        c.first_divergence.is_some(),
        "a strong add changes the answer"
    );
    let mut panel = SteerPanel {
        prompt: "The violence of the attack".into(),
        ..Default::default()
    };
    panel.prefill(&stand_in().slots, 1, 7, "");
    panel.rows[0].value = 40.0;
    panel.set_result(c.clone());
    let mut h = steer_harness(stand_in(), panel);
    h.get_by_label("Default");
    h.get_by_label("Steered");
    h.get_by_label("KL divergence per token (nats):");
    h.get_by_label(" ≥ 2 ");
    h.get_by_label_contains("First divergence at answer token");
    // Every token of both answers is on screen.
    for a in [&c.default, &c.steered] {
        for t in a
            .tokens
            .iter()
            .filter(|t| !t.special && !t.token.trim().is_empty())
        {
            assert!(!t.token.contains("\\x"), "no raw bytes: {:?}", t.token);
            assert!(
                h.query_all_by_label_contains(t.token.trim()).count() > 0,
                "token {:?} shown",
                t.token
            );
        }
    }
    if can_snapshot() {
        h.snapshot("steer/answers_compared");
    }
}

#[test]
fn saved_set_survives_saving_and_reopening_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ws.sail.json");
    // The stand-in workspace (written before intervention sets existed) saved elsewhere.
    let ws = Workspace::load(&stand_in_path()).unwrap();
    assert!(ws.steer_sets.is_empty() && ws.tripwires.is_empty());
    ws.save_as(&file).unwrap();
    let mut state = stand_in();
    state.workspace.as_mut().unwrap().file = Some(file.clone());
    let mut h = steer_harness(state, SteerPanel::default());
    type_prompt_and_neuron(&mut h, "0_145");
    h.state_mut().panel.rows[0].mode = NeuronMode::Ablate;
    h.run_steps(1);
    h.get_by_label("Save as").click();
    h.run_steps(1);
    h.get_by_label("Save as").type_text("no violence");
    h.run_steps(1);
    h.get_by_label("Save set").click();
    h.run_steps(2);
    for c in h.state_mut().take_commands() {
        if let Command::SaveSteerSet(s) = c {
            h.state_mut().state.save_steer_set(s).unwrap();
        }
    }
    // Reopened from the file: the set is there, and picking it restores the row.
    let opened = OpenedWorkspace::open(&file, || {}).unwrap();
    assert_eq!(opened.workspace.steer_sets.len(), 1);
    assert_eq!(
        opened.workspace.steer_sets[0].interventions,
        vec!["L0 relu 256 (SAELens, legacy cfg):0_145=ablate".to_string()]
    );
    let mut state = stand_in();
    state.workspace = Some(opened.workspace);
    let mut h = steer_harness(state, SteerPanel::default());
    h.get_by_role_and_label(Role::ComboBox, "Saved sets")
        .click();
    h.run_steps(2);
    h.get_by_label("no violence").click();
    h.run_steps(2);
    let rows = &h.state().panel.rows;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].sae, rows[0].id.as_str(), rows[0].mode),
        (0, "0_145", NeuronMode::Ablate)
    );
    if can_snapshot() {
        h.snapshot("steer/saved_set_loaded");
    }
}
