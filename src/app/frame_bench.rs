//! `bench-map`: what the Neurons view's map costs per frame. One egui context draws, frame
//! after frame, the browser over a synthetic SAE of `points` latents (a tenth of them tagged,
//! clustered points) with the pointer moving over the map, and the same frames with an empty
//! central panel and with the table instead of the map. A frame's time is egui's pass (the UI
//! code and layout) plus tessellation, on the CPU, as eframe does them before painting.

use super::panels::browser::Browser;
use super::{AppState, EngineStatus, SaeSlot};
use crate::db::{neuron_id, NeuronDb, NeuronRecord};
use crate::domains::SAFETY_DOMAINS;
use crate::families::map::{MapOpts, NeuronMap};
use crate::inspect::SaeInfo;
use anyhow::Result;
use eframe::egui;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::sync::Arc;
use std::time::Instant;

/// Per-frame times (milliseconds, median and 95th percentile over the measured frames).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FrameTimes {
    pub median_ms: f64,
    pub p95_ms: f64,
}

/// The benchmark's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MapFrameReport {
    pub points: usize,
    pub frames: usize,
    /// An empty central panel (the window's chrome only).
    pub empty: FrameTimes,
    /// The browser's table of the same neurons.
    pub table: FrameTimes,
    /// The browser's map, the pointer moving over it (hover search and tooltip each frame).
    pub map: FrameTimes,
    /// The map with a search narrowing it (matching points lit, the rest dimmed).
    pub map_filtered: FrameTimes,
    /// `map.median_ms / empty.median_ms`.
    pub ratio_map_to_empty: f64,
}

/// A workspace state with one loaded SAE of `n` latents, every tenth tagged with a safety
/// domain and explained.
fn state(n: usize) -> AppState {
    let mut db = NeuronDb::default();
    for l in (0..n as u32).step_by(10) {
        let d = SAFETY_DOMAINS[(l as usize / 10) % SAFETY_DOMAINS.len()];
        db.records.insert(
            neuron_id(0, l),
            NeuronRecord {
                explanation: Some(format!("bench neuron {l} about {d}")),
                tag_list: vec![d.to_string()],
                ..Default::default()
            },
        );
    }
    let slot = SaeSlot {
        name: "bench".into(),
        layer: 0,
        db,
        info: Some(SaeInfo {
            name: "bench".into(),
            hook: "blocks.0.hook_resid_post".into(),
            layer: 0,
            d_sae: n,
            d_in: 2048,
            activation: "topk".into(),
            format: "saelens".into(),
        }),
        ..Default::default()
    };
    let mut s = AppState {
        slots: vec![slot],
        ..Default::default()
    };
    s.engine = EngineStatus::Ready {
        model: "bench".into(),
        has_chat_template: false,
    };
    s
}

/// `n` points in 40 Gaussian clusters (what a real map looks like, roughly).
fn clustered(n: usize, seed: u64) -> NeuronMap {
    let mut r = StdRng::seed_from_u64(seed);
    let centres: Vec<[f32; 2]> = (0..40)
        .map(|_| [r.random_range(0.0..30.0), r.random_range(0.0..30.0)])
        .collect();
    let points = (0..n)
        .map(|i| {
            let c = centres[i % centres.len()];
            // A sum of uniforms: near enough to a Gaussian for a picture.
            let g = |r: &mut StdRng| (0..4).map(|_| r.random_range(-1.0f32..1.0)).sum::<f32>();
            [c[0] + g(&mut r), c[1] + g(&mut r)]
        })
        .collect();
    NeuronMap {
        points,
        decoder_hash: "bench".into(),
        opts: MapOpts::default(),
    }
}

/// Runs the benchmark: `frames` measured frames of each kind (after 5 unmeasured), in a
/// 1280 × 820 window.
pub fn map_frame_bench(points: usize, frames: usize) -> Result<MapFrameReport> {
    let state = state(points);
    let mut browser = Browser::default();
    browser.set_saes(&state.slots);
    browser.map.set_map(0, Arc::new(clustered(points, 1)));
    let ctx = egui::Context::default();
    let size = egui::vec2(1280.0, 820.0);
    let mut frame = 0usize;
    let mut measure = |browser: &mut Browser, mode: &str| -> FrameTimes {
        let mut times = vec![];
        for k in 0..frames + 5 {
            frame += 1;
            // The pointer sweeps across the central area, a new position each frame.
            let x = 100.0 + (frame * 37 % 700) as f32;
            let y = 200.0 + (frame * 53 % 500) as f32;
            let input = egui::RawInput {
                screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, size)),
                time: Some(frame as f64 / 60.0),
                events: vec![egui::Event::PointerMoved(egui::pos2(x, y))],
                ..Default::default()
            };
            let start = Instant::now();
            let mut out = ctx.run_ui(input, |ui| {
                let view = state.view();
                if mode == "empty" {
                    egui::CentralPanel::default().show(ui, |ui| {
                        ui.label("");
                    });
                } else {
                    browser.ui(ui, &view);
                }
            });
            let shapes = std::mem::take(&mut out.shapes);
            let prims = ctx.tessellate(shapes, out.pixels_per_point);
            // (No painter here: the font texture's updates are dropped.)
            out.textures_delta.clear();
            std::hint::black_box(prims);
            if k >= 5 {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        FrameTimes {
            median_ms: times[times.len() / 2],
            p95_ms: times[(times.len() * 95 / 100).min(times.len() - 1)],
        }
    };
    let empty = measure(&mut browser, "empty");
    browser.show_map = false;
    let table = measure(&mut browser, "browser");
    browser.show_map = true;
    let map = measure(&mut browser, "browser");
    browser.filters.search = "about violence".into();
    let map_filtered = measure(&mut browser, "browser");
    Ok(MapFrameReport {
        points,
        frames,
        ratio_map_to_empty: map.median_ms / empty.median_ms,
        empty,
        table,
        map,
        map_filtered,
    })
}
