//! Results other tools open: SAELens's `sparsity.safetensors` beside our SAEs
//! ([`sparsity`]), Neuronpedia's export layout out of a feature store and neuron database and
//! its explanations back in ([`neuronpedia`]), and SAEDashboard-style feature JSON plus a
//! self-contained HTML dashboard for a handful of latents ([`dashboard`]).

pub mod dashboard;
pub mod neuronpedia;
pub mod sparsity;

use crate::store::{ExampleRow, FeatureRow, Store};
use anyhow::{Context, Result};

/// The layer of a store's hook (`blocks.1.hook_mlp_out` → 1), the layer of its neuron ids.
pub fn store_layer(store: &Store) -> Result<usize> {
    let hook: crate::hooks::HookPoint = store.meta.hook.parse().with_context(|| {
        format!(
            "{}: store.json's hook `{}`",
            store.dir().display(),
            store.meta.hook
        )
    })?;
    Ok(hook.layer)
}

/// The activation histogram of a latent as bars: for every non-empty bin of the store's
/// log-spaced histogram, the bin's geometric centre (`values`) and its count (`heights`).
pub fn histogram_bars(f: &FeatureRow) -> (Vec<f64>, Vec<f64>) {
    let mut values = vec![];
    let mut heights = vec![];
    for (i, &c) in f.hist_counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let (a, b) = (
            f.hist_edges.get(i).copied().unwrap_or(0.0) as f64,
            f.hist_edges.get(i + 1).copied().unwrap_or(0.0) as f64,
        );
        values.push(if a > 0.0 && b > 0.0 {
            (a * b).sqrt()
        } else {
            a.max(b)
        });
        heights.push(c as f64);
    }
    (values, heights)
}

/// The activation range of an example's kind and bin: top examples `(-1, max_act)` (the
/// top group, as Neuronpedia marks it with `binMin = -1`); quantile bin `b` of `bins`
/// covers `(b·max/bins, (b+1)·max/bins]` of the latent's `max_act`.
pub fn bin_range(e: &ExampleRow, max_act: f32, bins: usize) -> (f64, f64) {
    if e.kind == "top" {
        return (-1.0, max_act as f64);
    }
    let n = bins.max(1) as f64;
    let step = max_act as f64 / n;
    (e.bin as f64 * step, (e.bin as f64 + 1.0) * step)
}

/// The index of the largest activation (the first one on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}
