//! The Neurons view's map over the stand-in workspace: asked of the engine when shown, drawn
//! from the map of SAE 0's decoder (computed here by the library), hovered, searched, clicked.

use crate::fixture::{can_snapshot, harness, stand_in, Panel};
use eframe::egui;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use safe_sail::app::panels::browser::Browser;
use safe_sail::app::{AppState, Command};
use safe_sail::families::map::{embed, MapOpts, NeuronMap};
use safe_sail::families::unit_decoder;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The map of the stand-in's first SAE (256 latents), made as the engine makes it, without
/// writing a cache.
fn map_of_sae0(state: &AppState) -> NeuronMap {
    let spec = state.workspace.as_ref().unwrap().sae_spec(0).unwrap();
    let sae = safe_sail::sae::load_sae(&spec, &candle_core::Device::Cpu).unwrap();
    let dec = unit_decoder(&sae).unwrap();
    let opts = MapOpts::default();
    let points = embed(&dec, &opts, &|_, _| {}, &AtomicBool::new(false)).unwrap();
    NeuronMap {
        points,
        decoder_hash: safe_sail::families::map::decoder_hash(&dec).unwrap(),
        opts,
    }
}

fn map_harness() -> Harness<'static, Panel<Browser>> {
    let state = stand_in();
    let mut b = Browser::default();
    b.set_saes(&state.slots);
    let mut h = harness(b, state, [1500.0, 900.0], |p, ui, ctx| p.ui(ui, ctx));
    h.run_steps(2);
    h
}

/// A tagged latent of SAE 0 drawn at least 4 points away from every other point (so the
/// pointer there hovers it alone), and where.
fn lone_tagged_point(h: &Harness<'static, Panel<Browser>>) -> (u32, egui::Pos2) {
    let p = h.state();
    let pos: Vec<egui::Pos2> = (0..256)
        .map(|l| p.panel.map.screen_pos(l).expect("drawn"))
        .collect();
    (0..256u32)
        .filter(|&l| {
            p.state.slots[0]
                .record(l)
                .is_some_and(|r| r.domain().is_some())
        })
        .find(|&l| {
            (0..256)
                .filter(|&o| o != l as usize)
                .all(|o| pos[o].distance(pos[l as usize]) >= 4.0)
        })
        .map(|l| (l, pos[l as usize]))
        .expect("a tagged point standing alone")
}

#[test]
fn the_map_opens_a_neuron_on_click() {
    let mut h = map_harness();
    h.get_by_label("Map").click();
    h.run_steps(2);
    // No map yet: the panel asks the engine for SAE 0's and shows its progress.
    let asked: Vec<Command> = h.state_mut().take_commands();
    assert!(
        matches!(asked.as_slice(), [Command::MapNeurons { sae: 0 }]),
        "{asked:?}"
    );
    h.get_by_label_contains("Computing the map of 256 neurons");
    let map = map_of_sae0(&h.state().state);
    h.state_mut().panel.map.set_map(0, Arc::new(map));
    h.run_steps(3);
    assert!(h.state_mut().take_commands().is_empty(), "asked once");
    let (latent, pos) = lone_tagged_point(&h);
    let id = format!("0_{latent}");
    // Hovering shows its id and explanation.
    h.hover_at(pos);
    // (A tooltip waits until the pointer has rested half a second: 0.25 s a step.)
    h.run_steps(6);
    h.get_by_label(&id);
    let expl = h.state().state.slots[0]
        .record(latent)
        .and_then(|r| r.explanation.clone())
        .unwrap();
    h.get_by_label(&expl);
    if can_snapshot() {
        h.snapshot("browser_map");
    }
    // A click opens its page (and selects it in the browser).
    h.drag_at(pos);
    h.run_steps(1);
    h.drop_at(pos);
    h.run_steps(2);
    let commands = h.state_mut().take_commands();
    assert!(
        matches!(commands.as_slice(), [Command::OpenNeuron { sae: 0, latent: l }] if *l == latent),
        "{commands:?}"
    );
    assert_eq!(h.state().panel.selected_row().unwrap().id, id);
}

#[test]
fn a_search_lights_up_the_matching_points() {
    let mut h = map_harness();
    h.state_mut().panel.show_map = true;
    let map = map_of_sae0(&h.state().state);
    h.state_mut().panel.map.set_map(0, Arc::new(map));
    h.run_steps(2);
    h.get_by_label_contains("click a point to open its page");
    h.get_by_label("Search").click();
    h.run_steps(1);
    h.get_by_label("Search").type_text("0_1");
    h.run_steps(3);
    // 0_1, 0_10–0_19, 0_100–0_199: 111 of SAE 0's 256 neurons.
    h.get_by_label("111 of 256 neurons match the filters (lit)");
}
