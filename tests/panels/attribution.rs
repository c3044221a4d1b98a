//! The Attribution view on its own: the prompt and metric typed in the panel become the
//! engine's job; that job, run by the engine's function on the stand-in workspace's model and
//! SAEs, shows the library's metric value, the ranked neurons (a click opens a neuron page) and
//! exports the same graph JSON as `safe-sail attribute --graph-out`; a bad metric is a
//! message, not a panic; the inspector's "Attribute…" hands its prompt over.

use crate::fixture::{can_snapshot, harness, scrolled_harness, stand_in, stand_in_path, Panel};
use candle_core::{DType, Device};
use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use safe_sail::app::engine::{attribute_job, AttributeJob, Attributed};
use safe_sail::app::panels::attribution::{AttributionPanel, MetricKind};
use safe_sail::app::panels::inspector::Inspector;
use safe_sail::app::{AppState, Command};
use safe_sail::attribute::{self, graph, AttributeOpts};
use safe_sail::model::Model;
use safe_sail::steer::SaeSlot;
use safe_sail::workspace::Workspace;
use std::sync::atomic::AtomicBool;

const PROMPT: &str = "The quick brown fox jumps over the lazy";

fn attribution_harness(
    state: AppState,
    panel: AttributionPanel,
) -> Harness<'static, Panel<AttributionPanel>> {
    scrolled_harness(panel, state, [1200.0, 1400.0], AttributionPanel::ui)
}

/// The stand-in workspace's model and SAEs as the engine holds them.
fn engine_side() -> (Model, Vec<SaeSlot>) {
    let ws = Workspace::load(&stand_in_path()).unwrap();
    let model = Model::load_dir(&ws.resolve(&ws.model), &Device::Cpu, DType::F32).unwrap();
    let slots = (0..ws.saes.len())
        .map(|i| {
            let spec = ws.sae_spec(i).unwrap();
            let mut s = SaeSlot::new(safe_sail::sae::load_sae(&spec, &Device::Cpu).unwrap());
            s.name = ws.saes[i].name.clone();
            s
        })
        .collect();
    (model, slots)
}

/// Runs a job as the engine thread does.
fn run_job(model: &Model, slots: &[SaeSlot], job: &AttributeJob) -> anyhow::Result<Attributed> {
    let by_position: Vec<Option<&SaeSlot>> = slots.iter().map(Some).collect();
    attribute_job(model, &by_position, job, &AtomicBool::new(false), &|_| {})
}

fn jobs(p: &mut Panel<AttributionPanel>) -> Vec<AttributeJob> {
    p.take_commands()
        .into_iter()
        .filter_map(|c| match c {
            Command::Attribute(j) => Some(*j),
            _ => None,
        })
        .collect()
}

/// Types the prompt, picks logit-diff and types its two tokens, sets Top N to 12.
fn type_inputs(h: &mut Harness<'static, Panel<AttributionPanel>>) {
    h.get_by_label("Attribution prompt").click();
    h.run_steps(1);
    h.get_by_label("Attribution prompt").type_text(PROMPT);
    h.run_steps(1);
    h.get_by_role_and_label(Role::ComboBox, "Metric").click();
    h.run_steps(2);
    h.get_by_label("logit-diff:A,B").click();
    h.run_steps(2);
    for (field, text) in [("token A", " dog"), ("token B", " the")] {
        h.get_by_role_and_label(Role::TextInput, field).click();
        h.run_steps(1);
        h.get_by_role_and_label(Role::TextInput, field)
            .type_text(text);
        h.run_steps(1);
    }
    h.state_mut().panel.top = 12;
    h.state_mut().panel.chat = false;
    h.run_steps(1);
}

#[test]
fn a_run_shows_the_library_s_metric_value_and_neurons() {
    let mut h = attribution_harness(stand_in(), AttributionPanel::default());
    type_inputs(&mut h);
    h.get_by_label("exact check").click();
    h.run_steps(1);
    h.get_by_label("▶ Run attribution").click();
    h.run_steps(2);
    let mut js = jobs(h.state_mut());
    assert_eq!(js.len(), 1, "message: {:?}", h.state().panel.message);
    let job = js.remove(0);
    assert_eq!(job.prompt.text, PROMPT);
    assert!(!job.prompt.chat);
    assert_eq!(
        job.metric,
        attribute::MetricSpec::LogitDiff(" dog".into(), " the".into())
    );
    assert_eq!(job.saes, vec![0, 1, 2], "every SAE the inspector runs");
    assert_eq!(job.top, 12);
    assert!(job.exact);
    assert!(h.state().panel.running);

    // The engine's run, and the library called as the CLI calls it.
    let (model, slots) = engine_side();
    let result = run_job(&model, &slots, &job).unwrap();
    let metric = job.metric.resolve(&model.tok).unwrap();
    let context = attribute::context_ids(&model, &job.prompt, None).unwrap();
    let mut lib =
        attribute::attribute(&model, &slots, &context, &metric, &AttributeOpts::default()).unwrap();
    let plain = attribute::metric_value(&model, &context, &metric).unwrap();
    assert!((lib.value - plain).abs() < 1e-4, "{} vs {plain}", lib.value);
    lib.neurons.truncate(12);
    let top = &result.report.attribution.neurons;
    assert_eq!(top.len(), 12);
    for (a, b) in top.iter().zip(&lib.neurons) {
        assert_eq!((&a.neuron, a.position), (&b.neuron, b.position));
    }
    // The exact check is the library's ablation of each listed neuron.
    let exact = attribute::exact_effects(&model, &slots, &context, &metric, &lib.neurons).unwrap();
    for (n, e) in top.iter().zip(&exact) {
        assert_eq!(n.exact_effect, Some(*e), "{}", n.neuron);
    }

    // A path that is the same on every machine, for the snapshot.
    h.state_mut().panel.export_path = "attribution-graph.json".into();
    h.state_mut()
        .panel
        .set_result(result.clone(), Some(&stand_in_path()));
    h.run_steps(3);
    assert!(!h.state().panel.running);
    // The value shown is the library's.
    h.get_by_label(&format!("Metric value: {:.4}", lib.value));
    h.get_by_label_contains("log P(\" dog\") − log P(\" the\")");
    h.get_by_label("Exact effect");
    let shown = format!("{:+.4}", top[0].exact_effect.unwrap());
    assert!(h.query_all_by_label(&shown).count() > 0, "{shown} shown");
    h.get_by_label_contains("attribution vs exact effect");
    // The top neuron is listed, and a click opens its page.
    let first = &top[0];
    let link = h.query_all_by_label(&first.neuron).next().unwrap();
    link.click();
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
    assert_eq!(opened, vec![(job.saes[first.sae_index], first.latent)]);
    if can_snapshot() {
        h.snapshot("attribution/attribution_results");
    }

    // Export: the JSON `safe-sail attribute --top 12 --graph-out` writes, with the workspace's
    // database as --db.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("graph.json");
    h.state_mut().panel.export_path = path.display().to_string();
    h.run_steps(1);
    h.get_by_label("Export graph JSON…").click();
    for _ in 0..200 {
        h.run_steps(1);
        if !h.state().panel.exporting() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        h.state().panel.export_message.as_deref(),
        Some(format!("wrote {}", path.display()).as_str())
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let db =
        safe_sail::db::NeuronDb::load(h.state().state.slots[0].db_path.as_ref().unwrap()).unwrap();
    let cli = graph::graph_json(
        &model,
        &slots,
        &lib,
        PROMPT,
        "graph",
        Some(&db),
        &graph::GraphOpts {
            nodes: 12,
            edge_targets: 5,
        },
    )
    .unwrap();
    assert_eq!(written, cli);
    assert_eq!(written["nodes"].as_array().unwrap().len(), 13);
}

#[test]
fn a_bad_metric_shows_an_error_and_no_panic() {
    let mut h = attribution_harness(stand_in(), AttributionPanel::default());
    type_inputs(&mut h);
    // Token B left out: the panel refuses before anything runs.
    h.state_mut().panel.token_b.clear();
    h.run_steps(1);
    h.get_by_label("▶ Run attribution").click();
    h.run_steps(2);
    assert!(jobs(h.state_mut()).is_empty(), "nothing runs");
    h.get_by_label_contains("Bad metric: metric `logit-diff: dog,`: logit-diff needs two tokens");

    // A token that is several tokens of the model: the engine's error is shown in the panel.
    let mut panel = AttributionPanel::default();
    panel.prompt = PROMPT.into();
    panel.kind = MetricKind::LogProb;
    panel.token = " lazy dog".into();
    let mut h2 = attribution_harness(stand_in(), AttributionPanel::default());
    let job = panel.job(&h2.state().state.view()).unwrap();
    let (model, slots) = engine_side();
    let err = run_job(&model, &slots, &job).unwrap_err();
    panel.running = true;
    panel.set_failed(format!("error: {err:#}"));
    h2.state_mut().panel = panel;
    h2.run_steps(2);
    assert!(!h2.state().panel.running);
    h2.get_by_label_contains("is not one token of this model's tokenizer");
    h2.get_by_label("▶ Run attribution");
    drop(h);
    if can_snapshot() {
        h2.snapshot("attribution/attribution_bad_metric");
    }
}

#[test]
fn the_inspector_hands_its_prompt_over() {
    let mut h = harness(
        Inspector::default(),
        stand_in(),
        [1000.0, 500.0],
        |p, ui, ctx| p.ui(ui, ctx).into_iter().collect(),
    );
    h.run_steps(2);
    h.get_by_label("Prompt").click();
    h.run_steps(1);
    h.get_by_label("Prompt").type_text(PROMPT);
    h.run_steps(1);
    h.get_by_label("Attribute…").click();
    h.run_steps(2);
    let cmds = h.state_mut().take_commands();
    let handed: Vec<(String, bool)> = cmds
        .into_iter()
        .filter_map(|c| match c {
            Command::AttributePrompt { prompt, chat, .. } => Some((prompt, chat)),
            _ => None,
        })
        .collect();
    assert_eq!(handed, vec![(PROMPT.to_string(), true)]);
    let mut panel = AttributionPanel::default();
    panel.take_prompt(PROMPT, true, "You are a helpful assistant.");
    assert_eq!(panel.prompt, PROMPT);
}
