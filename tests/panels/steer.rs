//! The Steer panel on its own: typing a prompt and an intervention gives the engine the
//! library's job; a comparison made by the library on the tiny fixture model shows as two
//! answers with the KL legend; a saved set survives saving and reopening the workspace file;
//! a bad neuron id is a message, not a panic; raw directions and the special-token option go
//! into the job; steer-eval's job, progress and Stop, and its results (made by the library on
//! the fixture model) as a table, a plot and a Parquet file; the lm-eval export's command.

use crate::fixture::{can_snapshot, scrolled_harness, stand_in, stand_in_path, Panel};
use candle_core::{DType, Device};
use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use safe_sail::app::engine::EvalPrompts;
use safe_sail::app::panels::steer::SteerPanel;
use safe_sail::app::{AppState, Command};
use safe_sail::model::Model;
use safe_sail::steer::{self, NeuronMode, Positions, Resolver, SteerOpts};
use safe_sail::workspace::{OpenedWorkspace, Workspace};

fn steer_harness(state: AppState, panel: SteerPanel) -> Harness<'static, Panel<SteerPanel>> {
    scrolled_harness(panel, state, [1200.0, 900.0], SteerPanel::ui)
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

/// Types into the `k`-th text field labelled `label`.
fn type_into(h: &mut Harness<'static, Panel<SteerPanel>>, label: &str, k: usize, text: &str) {
    h.query_all_by_role_and_label(Role::TextInput, label)
        .nth(k)
        .unwrap()
        .focus();
    h.run_steps(1);
    h.query_all_by_role_and_label(Role::TextInput, label)
        .nth(k)
        .unwrap()
        .type_text(text);
    h.run_steps(1);
}

fn commands_of<T>(p: &mut Panel<SteerPanel>, f: impl Fn(Command) -> Option<T>) -> Vec<T> {
    p.take_commands().into_iter().filter_map(f).collect()
}

#[test]
fn raw_directions_and_special_tokens_go_into_the_job() {
    let mut h = steer_harness(stand_in(), SteerPanel::default());
    type_prompt_and_neuron(&mut h, "1_7");
    // A direction with nothing typed is a message.
    h.get_by_label("+ Add raw direction").click();
    h.run_steps(2);
    h.get_by_label("▶ Run steering").click();
    h.run_steps(2);
    assert!(steer_jobs(h.state_mut()).is_empty());
    h.get_by_label_contains("direction 1: type a neuron id");
    // Project out 0_145's decoder row (the default op of a new row).
    type_into(&mut h, "raw direction", 0, "0_145");
    // Cap a vector file's projection at a hook.
    h.get_by_label("+ Add raw direction").click();
    h.run_steps(2);
    type_into(&mut h, "raw direction", 1, "refusal.npy");
    type_into(&mut h, "hook", 1, "blocks.1.hook_mlp_out");
    h.query_all_by_role_and_label(Role::ComboBox, "op")
        .nth(1)
        .unwrap()
        .click();
    h.run_steps(2);
    h.get_by_label("cap").click();
    h.run_steps(2);
    h.state_mut().panel.dirs[1].c = 2.5;
    h.get_by_label("Steer special tokens too").click();
    h.run_steps(1);
    h.get_by_label("▶ Run steering").click();
    h.run_steps(2);
    let jobs = steer_jobs(h.state_mut());
    assert_eq!(jobs.len(), 1, "{:?}", h.state().panel.message);
    let sets: Vec<String> = jobs[0].sets.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        sets,
        vec![
            "L1 topk8 256 (SAELens):1_7=1x:add",
            "0_145,op=project",
            "refusal.npy,hook=blocks.1.hook_mlp_out,op=cap,c=2.5",
        ]
    );
    assert!(jobs[0].opts.include_special);
    // A bad hook is the library's parse error, under Run.
    h.state_mut().panel.running = false;
    h.state_mut().panel.dirs[1].hook = "blocks.1.hook_nowhere".into();
    h.run_steps(1);
    h.get_by_label("▶ Run steering").click();
    h.run_steps(2);
    assert!(steer_jobs(h.state_mut()).is_empty());
    h.get_by_label_contains("direction 2: direction `refusal.npy,hook=blocks.1.hook_nowhere");
    // A saved set keeps the directions.
    h.state_mut().panel.dirs[1].hook = "blocks.1.hook_mlp_out".into();
    let saved = safe_sail::workspace::SteerSet {
        name: "with directions".into(),
        interventions: h
            .state()
            .panel
            .specs(&h.state().state.slots)
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        positions: Positions::All,
    };
    let mut fresh = SteerPanel::default();
    fresh.load_set(&saved, &h.state().state.slots).unwrap();
    assert_eq!(fresh.rows, h.state().panel.rows);
    assert_eq!(fresh.dirs, h.state().panel.dirs);
    if can_snapshot() {
        h.snapshot("steer/raw_directions");
    }
}

#[test]
fn steer_eval_job_progress_and_stop() {
    let mut h = steer_harness(stand_in(), SteerPanel::default());
    type_prompt_and_neuron(&mut h, "1_7");
    let starters: Vec<String> = safe_sail::workspace::starters_of(&[])
        .iter()
        .map(|p| p.text.clone())
        .collect();
    h.get_by_label(&format!("starter prompts ({})", starters.len()));
    h.get_by_label("▶ Run steer-eval").click();
    h.run_steps(2);
    let jobs = commands_of(h.state_mut(), |c| match c {
        Command::SteerEval(j) => Some(*j),
        _ => None,
    });
    assert_eq!(jobs.len(), 1, "{:?}", h.state().panel.eval_message);
    let j = &jobs[0];
    assert_eq!(j.prompts, EvalPrompts::Texts(starters));
    assert_eq!(j.neutral, None, "the built-in neutral text");
    assert!(
        j.like.chat && j.like.system.is_some(),
        "the panel's chat settings"
    );
    assert_eq!(j.sets.len(), 1);
    assert_eq!(j.opts.steer.gen.max_new_tokens, 32);
    // While it runs: progress and Stop.
    assert!(h.state().panel.eval_running);
    h.state_mut().panel.set_eval_progress(12, 40);
    h.run_steps(2);
    h.get_by_label("12 / 40 answers");
    h.get_by_label("Stop steer-eval").click();
    h.run_steps(2);
    let cancels = commands_of(h.state_mut(), |c| {
        matches!(c, Command::Cancel).then_some(())
    });
    assert_eq!(cancels.len(), 1);
    h.state_mut()
        .panel
        .set_eval_message("stopped: the steer-eval was cancelled".into());
    h.run_steps(2);
    h.get_by_label("stopped: the steer-eval was cancelled");
    // A prompts file and a neutral text typed.
    h.get_by_label("prompts file").click();
    h.run_steps(2);
    h.get_by_label("▶ Run steer-eval").click();
    h.run_steps(2);
    h.get_by_label("Type the prompts file (one prompt per line).");
    for (label, text) in [
        ("Prompts file", "prompts.txt"),
        ("Neutral text", "wiki.txt"),
    ] {
        h.get_by_label(label).click();
        h.run_steps(1);
        h.get_by_label(label).type_text(text);
        h.run_steps(1);
    }
    h.get_by_label("▶ Run steer-eval").click();
    h.run_steps(2);
    let jobs = commands_of(h.state_mut(), |c| match c {
        Command::SteerEval(j) => Some(*j),
        _ => None,
    });
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].prompts, EvalPrompts::File("prompts.txt".into()));
    assert_eq!(jobs[0].neutral, Some("wiki.txt".into()));
}

/// steer-eval by the library on the stand-in's model and L1 SAE: 1_7 added hard, 1_9 ablated.
fn fixture_eval_rows() -> Vec<steer::eval::EvalRow> {
    let ws = Workspace::load(&stand_in_path()).unwrap();
    let model = Model::load_dir(&ws.resolve(&ws.model), &Device::Cpu, DType::F32).unwrap();
    let spec = ws.sae_spec(1).unwrap();
    let mut slot = steer::SaeSlot::new(safe_sail::sae::load_sae(&spec, &Device::Cpu).unwrap());
    slot.name = ws.saes[1].name.clone();
    let slots = vec![slot
        .with_store(&ws.resolve(ws.saes[1].store.as_ref().unwrap()))
        .unwrap()];
    let r = Resolver {
        model: &model,
        saes: &slots,
    };
    let ivs: Vec<_> = ["1_7=40x:add", "1_9=ablate"]
        .iter()
        .map(|t| r.neuron(&t.parse().unwrap(), t).unwrap())
        .collect();
    let like = safe_sail::model::PromptSpec {
        truncate: true,
        ..Default::default()
    };
    let prompts = steer::eval::tokenize_prompts(
        &model,
        &[
            "The violence of the attack".into(),
            "The weather today".into(),
        ],
        &like,
        "test",
    )
    .unwrap();
    let neutral = model
        .tok
        .encode_ids(&steer::eval::default_neutral_text(), true)
        .unwrap();
    let opts = steer::eval::EvalOpts {
        steer: SteerOpts {
            gen: safe_sail::model::generate::GenerateOpts {
                max_new_tokens: 6,
                ..Default::default()
            },
            ..Default::default()
        },
        window: 128,
        control_seed: 0,
    };
    steer::eval::steer_eval(
        &model,
        &slots,
        &prompts,
        &neutral,
        &ivs,
        &opts,
        &safe_sail::progress::Silent,
    )
    .unwrap()
}

#[test]
fn steer_eval_results_table_plot_and_parquet() {
    let rows = fixture_eval_rows();
    assert_eq!(rows.len(), 4);
    let dir = tempfile::tempdir().unwrap();
    let mut panel = SteerPanel::default();
    panel.set_eval_rows(rows.clone());
    let mut h = steer_harness(stand_in(), panel);
    h.get_by_label("control: Δ CE");
    h.get_by_label_contains("2 interventions over 2 prompts");
    // Each intervention's numbers and its control's, as the library computed them.
    for (i, r) in rows.iter().enumerate() {
        if !r.control {
            h.get_by_label(&r.intervention);
        }
        h.query_all_by_label(&format!("{:+.4}", r.delta_ce))
            .next()
            .unwrap_or_else(|| panic!("row {i}'s Δ CE {:+.4} is shown", r.delta_ce));
        h.query_all_by_label(&format!("{:.4}", r.mean_kl))
            .next()
            .unwrap_or_else(|| panic!("row {i}'s KL {:.4} is shown", r.mean_kl));
    }
    h.get_by_role_and_label(Role::ComboBox, "Plot");
    if can_snapshot() {
        h.snapshot("steer/steer_eval_results");
    }
    // Save as Parquet: the file `steer-eval --out` writes.
    let out = dir.path().join("eval.parquet");
    h.get_by_label("Parquet file").click();
    h.run_steps(1);
    h.get_by_label("Parquet file")
        .type_text(out.to_str().unwrap());
    h.run_steps(1);
    h.get_by_label("Save as Parquet…").click();
    h.run_steps(2);
    h.get_by_label(&format!("saved 4 rows to {}", out.display()));
    use polars::prelude::*;
    let df = ParquetReader::new(std::fs::File::open(&out).unwrap())
        .finish()
        .unwrap();
    assert_eq!(df.height(), 4);
    let d = df.column("delta_ce").unwrap().f64().unwrap();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(d.get(i), Some(r.delta_ce));
    }
    // A folder that cannot exist (a file is in the way): an error, no panic.
    let bad = out.join("x.parquet");
    h.state_mut().panel.parquet_path = bad.display().to_string();
    h.run_steps(1);
    h.get_by_label("Save as Parquet…").click();
    h.run_steps(2);
    assert!(h
        .state()
        .panel
        .eval_message
        .as_deref()
        .is_some_and(|m| m.starts_with("error: ")));
}

#[test]
fn export_for_lm_eval_sends_the_interventions_and_a_path() {
    let mut h = steer_harness(stand_in(), SteerPanel::default());
    type_prompt_and_neuron(&mut h, "1_7");
    h.get_by_label("Export for lm-eval…").click();
    h.run_steps(2);
    let exports = commands_of(h.state_mut(), |c| match c {
        Command::ExportLmEval { sets, path } => Some((sets, path)),
        _ => None,
    });
    assert_eq!(exports.len(), 1);
    let (sets, path) = &exports[0];
    assert_eq!(sets[0].to_string(), "L1 topk8 256 (SAELens):1_7=1x:add");
    assert_eq!(
        path,
        &stand_in_path()
            .parent()
            .unwrap()
            .join("steering-lm-eval.csv"),
        "by default beside the workspace file"
    );
    h.state_mut()
        .panel
        .set_eval_message("wrote 1 rows to x.csv".into());
    h.run_steps(1);
    h.get_by_label("wrote 1 rows to x.csv");
}
