//! The prompt inspector over an analysis made in memory (tokens and active latents written
//! out, activations given as fractions of each neuron's 0.999 quantile from its store).

use crate::fixture::{can_snapshot, harness, scrolled_harness, stand_in, Panel};
use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use safe_sail::app::panels::inspector::{Inspector, Shading};
use safe_sail::app::{AppState, Command, EngineStatus};
use safe_sail::inspect::{Analysis, SaeActs};
use safe_sail::model::tokenizer::TokenInfo;

/// Tokens of "The violence of the attack shocked the election." after the chat template's
/// first token, and per SAE (layer 0, 1, 2) the latents active on each, as (latent, share of
/// its q999).
const TOKENS: [&str; 10] = [
    "<|im_start|>",
    "The",
    " violence",
    " of",
    " the",
    " attack",
    " shocked",
    " the",
    " election",
    ".",
];

type Acts = &'static [&'static [(u32, f32)]];

const L0: Acts = &[
    &[(1, 3.0)],
    &[(168, 0.3)],
    &[(145, 0.7), (168, 0.4)],
    &[],
    &[],
    &[(145, 0.9), (89, 0.5), (168, 0.2)],
    &[(27, 0.6)],
    &[],
    &[(10, 0.8)],
    &[],
];
const L1: Acts = &[
    &[],
    &[],
    &[(159, 0.5)],
    &[],
    &[],
    &[(110, 0.6), (220, 0.3)],
    &[],
    &[],
    &[(245, 0.5)],
    &[],
];
const L2: Acts = &[
    &[],
    &[],
    &[(15, 0.4)],
    &[],
    &[],
    &[(234, 0.8)],
    &[],
    &[],
    &[(170, 0.3)],
    &[],
];

/// The analysis, with raw activations made from the stores' quantiles.
pub fn analysis(f: &AppState) -> Analysis {
    let tokens = TOKENS
        .iter()
        .enumerate()
        .map(|(i, t)| TokenInfo {
            id: i as u32,
            text: t.to_string(),
            start: 0,
            end: 0,
            special: i == 0,
        })
        .collect();
    let saes = [L0, L1, L2]
        .iter()
        .enumerate()
        .map(|(s, acts)| SaeActs {
            sae: s,
            layer: s,
            acts: acts
                .iter()
                .map(|tok| {
                    tok.iter()
                        .map(|&(l, share)| {
                            (l, share * f.slots[s].q999.get(&l).copied().unwrap_or(1.0))
                        })
                        .collect()
                })
                .collect(),
        })
        .collect();
    Analysis {
        tokens,
        n_prompt: TOKENS.len(),
        saes,
    }
}

fn inspector_harness(f: AppState, with_analysis: bool) -> Harness<'static, Panel<Inspector>> {
    let mut inspector = Inspector::default();
    inspector.prompt = "The violence of the attack shocked the election.".into();
    if with_analysis {
        inspector.set_analysis(analysis(&f), &f.slots);
    }
    scrolled_harness(inspector, f, [1100.0, 900.0], Inspector::ui)
}

#[test]
fn safety_overview_shades_tokens_by_domain() {
    let mut h = inspector_harness(stand_in(), true);
    h.get_by_label("Safety overview");
    h.get_by_label("Activation pathway (layers × tokens)");
    // One layer switch per SAE of the analysis.
    for l in ["L0", "L1", "L2"] {
        h.get_by_role_and_label(Role::CheckBox, l);
    }
    h.get_by_label(" attack");
    assert!(h.state().commands.is_empty());
    if can_snapshot() {
        h.snapshot("inspector/safety_overview");
    }
}

#[test]
fn token_table_filtered_by_tag() {
    let mut h = inspector_harness(stand_in(), true);
    h.get_by_label(" attack").click();
    h.run_steps(3);
    assert_eq!(h.state().panel.selected_token, Some(5));
    h.get_by_label_contains("Token 5: \" attack\"");
    h.get_by_label_contains("6 active neurons");
    for id in ["0_145", "0_89", "0_168", "1_110", "1_220", "2_234"] {
        h.get_by_label(id);
    }
    // Filter by the violence tag: untagged and politics neurons go.
    h.get_by_role_and_label(Role::ComboBox, "tag").click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::Button, "violence").click();
    h.run_steps(3);
    assert_eq!(
        h.state().panel.filter.tag.as_deref(),
        Some("violence"),
        "the combo box sets the filter"
    );
    for id in ["0_145", "0_89", "1_110", "2_234"] {
        h.get_by_label(id);
    }
    assert!(h.query_by_label("0_168").is_none(), "untagged");
    assert!(h.query_by_label("1_220").is_none(), "politics");
    if can_snapshot() {
        h.snapshot("inspector/token_table_filtered_by_tag");
    }
}

#[test]
fn clicking_a_neuron_asks_for_its_page_and_follows_it() {
    let mut h = inspector_harness(stand_in(), true);
    h.get_by_label(" attack").click();
    h.run_steps(3);
    h.get_by_label("0_145").click();
    h.run_steps(3);
    let commands = h.state_mut().take_commands();
    assert!(
        matches!(
            commands.as_slice(),
            [Command::OpenNeuron {
                sae: 0,
                latent: 145
            }]
        ),
        "{commands:?}"
    );
    // The tokens are now shaded by that neuron alone.
    assert_eq!(h.state().panel.shading, Shading::Neuron(0, 145));
    h.get_by_label("Neuron 0_145");
    if can_snapshot() {
        h.snapshot("inspector/shaded_by_one_neuron");
    }
}

#[test]
fn run_sends_the_prompt_with_the_chat_settings() {
    let mut h = inspector_harness(stand_in(), false);
    h.get_by_label("Run a prompt to see its tokens shaded by the activation of safety neurons.");
    h.get_by_label("▶ Run").click();
    h.run_steps(2);
    let commands = h.state_mut().take_commands();
    let [Command::Analyze { prompt, answer }] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!(
        prompt.text,
        "The violence of the attack shocked the election."
    );
    assert!(prompt.chat);
    assert_eq!(
        prompt.system.as_deref(),
        Some("You are a helpful assistant.")
    );
    assert!(answer.is_none());
    // Letting the model answer adds generation options.
    h.get_by_label("Let the model answer").click();
    h.run_steps(2);
    h.get_by_label("▶ Run").click();
    h.run_steps(2);
    let commands = h.state_mut().take_commands();
    let [Command::Analyze {
        answer: Some(opts), ..
    }] = commands.as_slice()
    else {
        panic!("{commands:?}")
    };
    assert_eq!(opts.max_new_tokens, 32);
}

#[test]
fn nothing_runs_until_the_engine_is_ready() {
    let mut f = stand_in();
    f.engine = EngineStatus::Loading("loading model …".into());
    let mut h = inspector_harness(f, false);
    h.get_by_label("▶ Run").click();
    h.run_steps(2);
    assert!(h.state().commands.is_empty());
    // While a job runs, the answer so far shows and Cancel stops it.
    h.state_mut().state.engine = EngineStatus::Ready {
        model: String::new(),
        has_chat_template: true,
    };
    h.state_mut().state.busy = true;
    h.state_mut().state.streamed = "Elections are".into();
    h.run_steps(2);
    h.get_by_label("Elections are");
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    assert!(matches!(
        h.state_mut().take_commands().as_slice(),
        [Command::Cancel]
    ));
}

#[test]
fn the_answer_is_marked_after_the_prompt() {
    let f = stand_in();
    let mut a = analysis(&f);
    a.n_prompt = 6;
    let mut inspector = Inspector::default();
    inspector.set_analysis(a, &f.slots);
    let mut h = harness(inspector, f, [1100.0, 700.0], |p, ui, ctx| {
        p.ui(ui, ctx).into_iter().collect()
    });
    h.run_steps(2);
    h.get_by_label("answer → ");
}

/// Neurons with a sub-category shade the overview in their shade of the domain colour, and the
/// legend names the sub-categories shown.
#[test]
fn safety_overview_shades_subcategories() {
    let mut state = stand_in();
    let set = |state: &mut AppState, sae: usize, id: &str, sub: &str| {
        let r = state.slots[sae].db.records.get_mut(id).unwrap();
        r.subcategory_list = vec![sub.to_string()];
    };
    set(&mut state, 0, "0_145", "violence/insult");
    set(&mut state, 0, "0_10", "politics/political event");
    let mut h = inspector_harness(state, true);
    h.get_by_label("Sub-categories:");
    h.get_by_label(" politics/political event ");
    h.get_by_label(" violence/insult ");
    // Only the sub-categories of the strongest neurons shown are named.
    assert!(h.query_by_label(" violence/cybersecurity ").is_none());
    if can_snapshot() {
        h.snapshot("inspector/safety_overview_with_subcategories");
    }
}

/// Two SAEs at layer 1, one without a store: every row names its SAE (ids collide), and the
/// store-less SAE's rows (normalized by this prompt's max, so reading 1.00) form their own
/// group below the store-normalized ones; the tooltip names SAEs too.
#[test]
fn store_less_rows_are_ranked_apart_and_named() {
    let mut f = stand_in();
    let mut copy = f.slots[1].clone();
    copy.name = "L1 copy without store".into();
    copy.store = None;
    copy.q999.clear();
    f.slots.push(copy);
    let mut a = analysis(&f);
    a.saes.push(SaeActs {
        sae: 3,
        layer: 1,
        acts: L1
            .iter()
            .map(|tok| tok.iter().map(|&(l, share)| (l, share * 5.0)).collect())
            .collect(),
    });
    let mut inspector = Inspector::default();
    inspector.set_analysis(a, &f.slots);
    let mut h = harness(inspector, f, [1100.0, 900.0], |p, ui, ctx| {
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| p.ui(ui, ctx))
            .inner
            .into_iter()
            .collect()
    });
    h.run_steps(2);
    h.get_by_label(" attack").click();
    h.run_steps(3);
    h.get_by_label_contains("8 active neurons");
    // 1_110 of both SAEs, each named.
    assert_eq!(h.query_all_by_label("1_110").count(), 2);
    assert_eq!(h.query_all_by_label("L1 copy without store").count(), 2);
    let group = h.get_by_label_contains("No store: normalized by this prompt's max (2 neurons");
    let group_top = group.rect().top();
    // The store-less rows read 1.00 and sit below the group label; every store row above it.
    let ones: Vec<f32> = h
        .query_all_by_label("1.00")
        .map(|n| n.rect().top())
        .collect();
    assert!(
        !ones.is_empty() && ones.iter().all(|&t| t > group_top),
        "{ones:?} vs {group_top}"
    );
    for id in ["0_145", "0_89", "0_168", "2_234"] {
        assert!(h.get_by_label(id).rect().top() < group_top, "{id}");
    }
    for id in ["1_110", "1_220"] {
        let tops: Vec<f32> = h.query_all_by_label(id).map(|n| n.rect().top()).collect();
        assert_eq!(tops.len(), 2, "{id}");
        assert_eq!(tops.iter().filter(|&&t| t < group_top).count(), 1, "{id}");
    }
    if can_snapshot() {
        h.snapshot("inspector/store_less_rows_apart");
    }
}

/// The safety overview has a strength scale and a threshold: raising it leaves weak tokens
/// unshaded (the picture), and the view names the SAEs without a store.
#[test]
fn the_overview_threshold_and_legend() {
    let mut f = stand_in();
    f.slots[2].store = None;
    f.slots[2].q999.clear();
    let mut h = inspector_harness(f, true);
    h.get_by_label("Strength:");
    h.get_by_label(" ≥ 1 ");
    h.get_by_label_contains("No feature store for L2 jumprelu 256");
    assert_eq!(h.state().panel.threshold, 0.2);
    for _ in 0..10 {
        h.get_by_role_and_label(Role::Slider, "Shade from").focus();
        h.run_steps(1);
        h.key_press(egui::Key::ArrowRight);
        h.run_steps(1);
    }
    h.run_steps(2);
    let t = h.state().panel.threshold;
    assert!((t - 0.7).abs() < 1e-4, "{t}");
    if can_snapshot() {
        h.snapshot("inspector/overview_threshold_0.7");
    }
}
