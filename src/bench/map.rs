//! What computing a neuron map costs: [`crate::families::map::embed`] on a random decoder of
//! `n` unit rows in `d` dimensions (the neighbour search's cost does not depend on the
//! values; the layout's barely does).

use crate::families::map::{embed, MapOpts};
use crate::families::unit_rows;
use anyhow::Result;
use candle_core::{Device, Tensor};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Seconds for the map of a random `[n, d]` decoder, and for the same map again (the same
/// seed must give the same points: `deterministic`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct MapLayoutReport {
    pub latents: usize,
    pub d_in: usize,
    pub threads: usize,
    pub seconds: f64,
    pub deterministic: bool,
}

/// Times [`embed`] with the default options on a seeded random decoder, twice.
pub fn map_layout_bench(n: usize, d: usize, threads: usize) -> Result<MapLayoutReport> {
    let dec = unit_rows(&Tensor::randn(0f32, 1.0, (n, d), &Device::Cpu)?)?;
    let opts = MapOpts::default();
    let cancel = AtomicBool::new(false);
    let start = Instant::now();
    let a = embed(&dec, &opts, &|_, _| {}, &cancel)?;
    let seconds = start.elapsed().as_secs_f64();
    let b = embed(&dec, &opts, &|_, _| {}, &cancel)?;
    Ok(MapLayoutReport {
        latents: n,
        d_in: d,
        threads,
        seconds,
        deterministic: a == b,
    })
}
