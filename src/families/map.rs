//! A 2-D map of an SAE's latents from their decoder directions, computed once and cached.
//!
//! The method is UMAP's (McInnes, Healy & Melville 2018), written here for decoder rows:
//! 1. the exact `k` nearest latents of every latent by decoder cosine (one matrix product per
//!    block of rows, distance `1 − cos`);
//! 2. UMAP's fuzzy neighbour graph: each latent's distances rescaled by its nearest one
//!    (`ρ`) and a bandwidth (`σ`) chosen so its weights sum to `log2 k`, then symmetrised
//!    (`w = a + b − a·b`);
//! 3. a layout started from the two principal components of the decoder rows and optimised
//!    by UMAP's stochastic gradient descent: each edge pulls its two ends together as often
//!    as its weight says, with a few repulsive samples per pull, the step shrinking linearly
//!    over the epochs.
//!
//! Every random draw comes from one seeded generator and the descent runs on one thread, so
//! a seed gives the same map. We wrote it rather than take a crate: the t-SNE crates seed
//! from the thread's generator and search neighbours with trees that are slow on 2,048
//! dimensions, and the UMAP crates bring large numeric stacks; the exact neighbour search is
//! one matrix product per block on the gemm kernels the project already has.
//!
//! The map is cached as `map2d.safetensors` beside the SAE's feature store, or under the
//! user's data folder when it has none ([`cache_path`]), keyed by a hash of the decoder and
//! the options, so a changed SAE is mapped again.

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The cache file's name beside a feature store.
pub const MAP_FILE: &str = "map2d.safetensors";

/// Bumped when the method changes, so older caches are recomputed.
const METHOD_VERSION: &str = "umap-1";

/// UMAP's curve `1 / (1 + a·d^(2b))` for `min_dist` 0.1 and `spread` 1.
const CURVE_A: f32 = 1.577;
const CURVE_B: f32 = 0.8951;

/// Repulsive samples per attractive step.
const NEGATIVES: usize = 5;

/// Rows of the similarity matrix computed at once.
const BLOCK: usize = 1024;

/// How the map is made.
#[derive(Debug, Clone, PartialEq)]
pub struct MapOpts {
    /// Seeds every random draw: the same seed gives the same map.
    pub seed: u64,
    /// Neighbours per latent in the graph (UMAP's `n_neighbors`).
    pub neighbours: usize,
    /// Epochs of the layout (`None`: 200 above 10,000 latents, else 500, as UMAP).
    pub epochs: Option<usize>,
}

impl Default for MapOpts {
    fn default() -> Self {
        Self {
            seed: 42,
            neighbours: 15,
            epochs: None,
        }
    }
}

/// A 2-D position per latent, and what it was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronMap {
    /// One point per latent, by latent index.
    pub points: Vec<[f32; 2]>,
    /// [`decoder_hash`] of the decoder the map was made from.
    pub decoder_hash: String,
    pub opts: MapOpts,
}

impl NeuronMap {
    /// The bounding box of the points, `([min x, min y], [max x, max y])` (zeros when empty).
    pub fn bounds(&self) -> ([f32; 2], [f32; 2]) {
        if self.points.is_empty() {
            return ([0.0; 2], [0.0; 2]);
        }
        let mut lo = [f32::INFINITY; 2];
        let mut hi = [f32::NEG_INFINITY; 2];
        for p in &self.points {
            for a in 0..2 {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
        (lo, hi)
    }

    /// Writes the map (`points` `[n, 2]` f32, the hash and options as metadata), atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let n = self.points.len();
        let flat: Vec<f32> = self.points.iter().flatten().copied().collect();
        let t = Tensor::from_vec(flat, (n, 2), &Device::Cpu)?;
        let meta = HashMap::from([
            ("decoder_hash".to_string(), self.decoder_hash.clone()),
            ("method".to_string(), METHOD_VERSION.to_string()),
            ("seed".to_string(), self.opts.seed.to_string()),
            ("neighbours".to_string(), self.opts.neighbours.to_string()),
            (
                "epochs".to_string(),
                self.opts.epochs.map_or("auto".into(), |e| e.to_string()),
            ),
        ]);
        let bytes = safetensors::serialize([("points".to_string(), &t)], Some(meta))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        crate::fsutil::write_atomic(path, &bytes)
    }

    /// Reads a map written by [`NeuronMap::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let what = || format!("{} is not a neuron map", path.display());
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).with_context(what)?;
        let meta = meta.metadata().clone().unwrap_or_default();
        let get = |k: &str| {
            meta.get(k)
                .cloned()
                .with_context(|| format!("{}: no {k}", what()))
        };
        if get("method")? != METHOD_VERSION {
            bail!("{} was made by another version of the map", path.display());
        }
        let epochs = match get("epochs")?.as_str() {
            "auto" => None,
            e => Some(e.parse().with_context(what)?),
        };
        let opts = MapOpts {
            seed: get("seed")?.parse().with_context(what)?,
            neighbours: get("neighbours")?.parse().with_context(what)?,
            epochs,
        };
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)?;
        let t = tensors.get("points").with_context(what)?;
        let (_, two) = t.dims2().with_context(what)?;
        if two != 2 {
            bail!("{}: points are not 2-D", what());
        }
        let points = t
            .to_dtype(DType::F32)?
            .to_vec2::<f32>()?
            .into_iter()
            .map(|r| [r[0], r[1]])
            .collect();
        Ok(Self {
            points,
            decoder_hash: get("decoder_hash")?,
            opts,
        })
    }
}

/// A 64-bit hash (hex) of a decoder's values and shape: a changed SAE gets another.
pub fn decoder_hash(dec: &Tensor) -> Result<String> {
    let (n, d) = dec.dims2()?;
    let v = dec.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (((n as u64) << 32) | d as u64);
    for x in v {
        h = (h.rotate_left(5) ^ x.to_bits() as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 32;
    Ok(format!("{h:016x}"))
}

/// Where the map of a decoder with hash `hash` is cached: `STORE/map2d.safetensors` when the
/// SAE has a feature store, else `maps/HASH.safetensors` in the user's data folder
/// ([`crate::workspace::sample::user_data_dir`]); `None` when neither exists.
pub fn cache_path(store: Option<&Path>, hash: &str) -> Option<PathBuf> {
    match store {
        Some(s) => Some(s.join(MAP_FILE)),
        None => user_cache_path(hash),
    }
}

fn user_cache_path(hash: &str) -> Option<PathBuf> {
    crate::workspace::sample::user_data_dir()
        .map(|d| d.join("maps").join(format!("{hash}.safetensors")))
}

/// Where a map came from.
#[derive(Debug, Clone, PartialEq)]
pub enum MapSource {
    /// Read from this cache file.
    Cached(PathBuf),
    /// Computed, then written to this cache file (`None`: no place could take it).
    Computed(Option<PathBuf>),
}

/// The map of `dec` (unit decoder rows, [`super::unit_decoder`]): read from the cache when
/// one matches the decoder and `opts`, else computed ([`embed`]) and cached beside `store`
/// (falling back to the user's data folder when the store's folder cannot be written).
pub fn load_or_compute(
    dec: &Tensor,
    store: Option<&Path>,
    opts: &MapOpts,
    progress: &dyn Fn(&str, f32),
    cancel: &AtomicBool,
) -> Result<(NeuronMap, MapSource)> {
    progress("hashing the decoder", 0.0);
    let hash = decoder_hash(dec)?;
    let n = dec.dim(0)?;
    let candidates: Vec<PathBuf> = cache_path(store, &hash)
        .into_iter()
        .chain(store.and_then(|_| user_cache_path(&hash)))
        .collect();
    for c in &candidates {
        if let Ok(m) = NeuronMap::load(c) {
            if m.decoder_hash == hash && &m.opts == opts && m.points.len() == n {
                return Ok((m, MapSource::Cached(c.clone())));
            }
        }
    }
    let points = embed(dec, opts, progress, cancel)?;
    let map = NeuronMap {
        points,
        decoder_hash: hash,
        opts: opts.clone(),
    };
    let mut saved = None;
    for c in &candidates {
        match map.save(c) {
            Ok(()) => {
                saved = Some(c.clone());
                break;
            }
            Err(e) => tracing::warn!("the map cannot be cached at {}: {e:#}", c.display()),
        }
    }
    Ok((map, MapSource::Computed(saved)))
}

/// The map of `sae`'s decoder ([`super::unit_decoder`]), through [`load_or_compute`].
pub fn sae_map(
    sae: &crate::sae::Sae,
    store: Option<&Path>,
    opts: &MapOpts,
    progress: &dyn Fn(&str, f32),
    cancel: &AtomicBool,
) -> Result<(NeuronMap, MapSource)> {
    progress("reading the decoder", 0.0);
    let dec = super::unit_decoder(sae)?;
    load_or_compute(&dec, store, opts, progress, cancel)
}

/// The 2-D layout of `dec`'s rows (unit decoder rows `[n, d]`), one point per row; see the
/// module's notes for the method. `progress` gets a step name and the fraction done;
/// `cancel` stops it between blocks and epochs.
pub fn embed(
    dec: &Tensor,
    opts: &MapOpts,
    progress: &dyn Fn(&str, f32),
    cancel: &AtomicBool,
) -> Result<Vec<[f32; 2]>> {
    let (n, _) = dec.dims2()?;
    if n == 0 {
        return Ok(vec![]);
    }
    if opts.neighbours == 0 {
        bail!("the map needs at least one neighbour per latent");
    }
    if n == 1 {
        return Ok(vec![[0.0, 0.0]]);
    }
    let dec = dec.to_dtype(DType::F32)?.contiguous()?;
    let k = opts.neighbours.min(n - 1);
    let knn = nearest(
        &dec,
        k,
        &|f: f32| progress("nearest neighbours", 0.6 * f),
        cancel,
    )?;
    let edges = fuzzy_graph(&knn, k);
    progress("principal components", 0.6);
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut y = initial_layout(&dec, &mut rng)?;
    let epochs = opts.epochs.unwrap_or(if n > 10_000 { 200 } else { 500 });
    optimise(
        &mut y,
        &edges,
        epochs,
        &mut rng,
        &|f: f32| progress("layout", 0.62 + 0.38 * f),
        cancel,
    )?;
    Ok(y)
}

/// For each row, its `k` nearest other rows by cosine distance `1 − cos`, nearest first
/// (ties by index).
fn nearest(
    dec: &Tensor,
    k: usize,
    progress: &dyn Fn(f32),
    cancel: &AtomicBool,
) -> Result<Vec<Vec<(u32, f32)>>> {
    use rayon::prelude::*;
    let n = dec.dim(0)?;
    let dt = dec.t()?.contiguous()?;
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(BLOCK) {
        if cancel.load(Ordering::Relaxed) {
            bail!("cancelled");
        }
        let len = BLOCK.min(n - start);
        let sims: Vec<f32> = dec
            .narrow(0, start, len)?
            .matmul(&dt)?
            .flatten_all()?
            .to_vec1()?;
        let rows: Vec<Vec<(u32, f32)>> = sims
            .par_chunks(n)
            .enumerate()
            .map(|(r, row)| {
                let me = (start + r) as u32;
                let mut idx: Vec<u32> = (0..n as u32).filter(|&j| j != me).collect();
                let by =
                    |a: &u32, b: &u32| row[*b as usize].total_cmp(&row[*a as usize]).then(a.cmp(b));
                if k < idx.len() {
                    idx.select_nth_unstable_by(k, by);
                    idx.truncate(k);
                }
                idx.sort_by(by);
                idx.into_iter()
                    .map(|j| (j, (1.0 - row[j as usize]).max(0.0)))
                    .collect()
            })
            .collect();
        out.extend(rows);
        progress((start + len) as f32 / n as f32);
    }
    Ok(out)
}

/// An undirected edge of the neighbour graph with its membership strength.
#[derive(Debug, Clone, Copy)]
struct Edge {
    a: u32,
    b: u32,
    w: f32,
}

/// UMAP's fuzzy simplicial set of the kNN lists, symmetrised by fuzzy union.
fn fuzzy_graph(knn: &[Vec<(u32, f32)>], k: usize) -> Vec<Edge> {
    let target = (k as f32).log2().max(1e-3);
    let mut directed: Vec<(u32, u32, f32)> = vec![];
    for (i, row) in knn.iter().enumerate() {
        let Some(&(_, rho)) = row.first() else {
            continue;
        };
        // Binary search for σ: Σ exp(−(d − ρ)/σ) = log2 k.
        let sum = |s: f32| -> f32 {
            row.iter()
                .map(|&(_, d)| (-(d - rho).max(0.0) / s).exp())
                .sum()
        };
        let (mut lo, mut hi, mut sigma) = (0.0f32, f32::INFINITY, 1.0f32);
        for _ in 0..64 {
            let s = sum(sigma);
            if (s - target).abs() < 1e-5 {
                break;
            }
            if s > target {
                hi = sigma;
                sigma = (lo + hi) / 2.0;
            } else {
                lo = sigma;
                sigma = if hi.is_finite() {
                    (lo + hi) / 2.0
                } else {
                    sigma * 2.0
                };
            }
        }
        let sigma = sigma.max(1e-6);
        for &(j, d) in row {
            let w = (-(d - rho).max(0.0) / sigma).exp();
            directed.push((i as u32, j, w));
        }
    }
    // Fuzzy union: w(a, b) = p + q − p·q for the two directions.
    let mut keyed: Vec<(u32, u32, f32)> = directed
        .into_iter()
        .map(|(i, j, w)| (i.min(j), i.max(j), w))
        .collect();
    keyed.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)).then(x.2.total_cmp(&y.2)));
    let mut edges: Vec<Edge> = vec![];
    for (a, b, w) in keyed {
        match edges.last_mut() {
            Some(e) if (e.a, e.b) == (a, b) => e.w = e.w + w - e.w * w,
            _ => edges.push(Edge { a, b, w }),
        }
    }
    edges.retain(|e| e.w > 0.0 && e.a != e.b);
    edges
}

/// The rows projected on their two principal components (power iteration from a seeded
/// start), scaled to span 0–10, with a little seeded jitter so equal rows start apart.
fn initial_layout(dec: &Tensor, rng: &mut StdRng) -> Result<Vec<[f32; 2]>> {
    let (n, d) = dec.dims2()?;
    let mean = dec.mean_keepdim(0)?; // [1, d]
    let start: Vec<f32> = (0..d * 2).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let mut v = Tensor::from_vec(start, (d, 2), &Device::Cpu)?;
    // Centred product Xc·v = X·v − mean·v, and Xcᵀ·u = Xᵀ·u − meanᵀ·Σu.
    let xv = |v: &Tensor| -> Result<Tensor> { Ok(dec.matmul(v)?.broadcast_sub(&mean.matmul(v)?)?) };
    for _ in 0..30 {
        let u = xv(&v)?; // [n, 2]
        let s = u.sum_keepdim(0)?; // [1, 2]
        let w = dec.t()?.matmul(&u)?.broadcast_sub(&mean.t()?.matmul(&s)?)?; // [d, 2]
        v = orthonormal_columns(&w)?;
    }
    let p: Vec<Vec<f32>> = xv(&v)?.to_vec2()?;
    let mut lo = [f32::INFINITY; 2];
    let mut hi = [f32::NEG_INFINITY; 2];
    for r in &p {
        for a in 0..2 {
            lo[a] = lo[a].min(r[a]);
            hi[a] = hi[a].max(r[a]);
        }
    }
    let mut out = Vec::with_capacity(n);
    for r in &p {
        let mut q = [0.0f32; 2];
        for a in 0..2 {
            let span = hi[a] - lo[a];
            let x = if span > 1e-12 {
                (r[a] - lo[a]) / span * 10.0
            } else {
                5.0
            };
            q[a] = x + rng.random_range(-1e-3f32..1e-3);
        }
        out.push(q);
    }
    Ok(out)
}

/// Gram–Schmidt on the two columns of `w` `[d, 2]` (a zero column becomes a unit vector).
fn orthonormal_columns(w: &Tensor) -> Result<Tensor> {
    let d = w.dim(0)?;
    let cols: Vec<Vec<f32>> = w.t()?.to_vec2()?;
    let norm = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>().sqrt();
    let mut a = cols[0].clone();
    let na = norm(&a);
    if na < 1e-20 {
        a = (0..d).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect();
    } else {
        a.iter_mut().for_each(|x| *x /= na);
    }
    let dot: f32 = a.iter().zip(&cols[1]).map(|(x, y)| x * y).sum();
    let mut b: Vec<f32> = cols[1].iter().zip(&a).map(|(y, x)| y - dot * x).collect();
    let nb = norm(&b);
    if nb < 1e-20 {
        b = (0..d).map(|i| if i == 1 % d { 1.0 } else { 0.0 }).collect();
    } else {
        b.iter_mut().for_each(|x| *x /= nb);
    }
    let mut flat = Vec::with_capacity(d * 2);
    for i in 0..d {
        flat.push(a[i]);
        flat.push(b[i]);
    }
    Ok(Tensor::from_vec(flat, (d, 2), &Device::Cpu)?)
}

/// UMAP's layout optimisation: epochs of attractive steps along edges (each edge sampled in
/// proportion to its weight) with [`NEGATIVES`] repulsive steps per pull, step size falling
/// linearly from 1 to 0.
fn optimise(
    y: &mut [[f32; 2]],
    edges: &[Edge],
    epochs: usize,
    rng: &mut StdRng,
    progress: &dyn Fn(f32),
    cancel: &AtomicBool,
) -> Result<()> {
    let n = y.len();
    let max_w = edges.iter().map(|e| e.w).fold(0.0f32, f32::max);
    if edges.is_empty() || max_w <= 0.0 {
        return Ok(());
    }
    let every: Vec<f32> = edges.iter().map(|e| max_w / e.w).collect();
    let mut next = every.clone();
    let every_neg: Vec<f32> = every.iter().map(|e| e / NEGATIVES as f32).collect();
    let mut next_neg = every_neg.clone();
    let (a, b) = (CURVE_A, CURVE_B);
    let clip = |g: f32| g.clamp(-4.0, 4.0);
    for epoch in 0..epochs {
        if cancel.load(Ordering::Relaxed) {
            bail!("cancelled");
        }
        let alpha = 1.0 - epoch as f32 / epochs as f32;
        let now = epoch as f32;
        for (e, edge) in edges.iter().enumerate() {
            if next[e] > now {
                continue;
            }
            let (i, j) = (edge.a as usize, edge.b as usize);
            let (yi, yj) = (y[i], y[j]);
            let diff = [yi[0] - yj[0], yi[1] - yj[1]];
            let d2 = diff[0] * diff[0] + diff[1] * diff[1];
            let coeff = if d2 > 0.0 {
                -2.0 * a * b * d2.powf(b - 1.0) / (1.0 + a * d2.powf(b))
            } else {
                0.0
            };
            for c in 0..2 {
                let g = clip(coeff * diff[c]) * alpha;
                y[i][c] += g;
                y[j][c] -= g;
            }
            next[e] += every[e];
            let negs = ((now - next_neg[e]) / every_neg[e]).max(0.0) as usize;
            for _ in 0..negs {
                let k = rng.random_range(0..n);
                if k == i {
                    continue;
                }
                let yi = y[i];
                let diff = [yi[0] - y[k][0], yi[1] - y[k][1]];
                let d2 = diff[0] * diff[0] + diff[1] * diff[1];
                let coeff = if d2 > 0.0 {
                    2.0 * b / ((0.001 + d2) * (1.0 + a * d2.powf(b)))
                } else {
                    0.0
                };
                for c in 0..2 {
                    let g = if coeff > 0.0 {
                        clip(coeff * diff[c])
                    } else {
                        4.0
                    };
                    y[i][c] += g * alpha;
                }
            }
            next_neg[e] += negs as f32 * every_neg[e];
        }
        if epoch % 10 == 9 || epoch + 1 == epochs {
            progress((epoch + 1) as f32 / epochs as f32);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::unit_rows;

    fn random(n: usize, d: usize, seed: u64) -> Tensor {
        let mut r = StdRng::seed_from_u64(seed);
        let v: Vec<f32> = (0..n * d).map(|_| r.random_range(-1.0..1.0)).collect();
        Tensor::from_vec(v, (n, d), &Device::Cpu).unwrap()
    }

    fn quiet() -> (impl Fn(&str, f32), AtomicBool) {
        (|_: &str, _: f32| {}, AtomicBool::new(false))
    }

    fn dist(p: [f32; 2], q: [f32; 2]) -> f32 {
        ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt()
    }

    #[test]
    fn a_seed_gives_the_same_map_and_another_seed_another() {
        let dec = unit_rows(&random(300, 24, 1)).unwrap();
        let (p, c) = quiet();
        let opts = MapOpts::default();
        let a = embed(&dec, &opts, &p, &c).unwrap();
        let b = embed(&dec, &opts, &p, &c).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 300);
        assert!(a.iter().flatten().all(|x| x.is_finite()));
        let other = MapOpts {
            seed: 7,
            ..opts.clone()
        };
        assert_ne!(embed(&dec, &other, &p, &c).unwrap(), a);
    }

    #[test]
    fn near_duplicate_directions_land_closer_than_random_pairs() {
        // 100 random directions, each with a near copy (cosine ≈ 0.99) at index 100 + i.
        let base = random(100, 32, 2);
        let noise = (random(100, 32, 3) * 0.08).unwrap();
        let copies = (&base + &noise).unwrap();
        let dec = unit_rows(&Tensor::cat(&[&base, &copies], 0).unwrap()).unwrap();
        let (p, c) = quiet();
        let y = embed(&dec, &MapOpts::default(), &p, &c).unwrap();
        let mut pair: Vec<f32> = (0..100).map(|i| dist(y[i], y[100 + i])).collect();
        let mut r = StdRng::seed_from_u64(9);
        let mut other: Vec<f32> = (0..1000)
            .map(|_| {
                let (i, j) = (r.random_range(0..200), r.random_range(0..200));
                (i, j)
            })
            .filter(|&(i, j)| i != j && i % 100 != j % 100)
            .map(|(i, j)| dist(y[i], y[j]))
            .collect();
        pair.sort_by(f32::total_cmp);
        other.sort_by(f32::total_cmp);
        let median = |v: &[f32]| v[v.len() / 2];
        // Every copy is nearer its original than the median random pair, and typically far
        // nearer.
        assert!(
            pair[95] < median(&other),
            "{} vs {}",
            pair[95],
            median(&other)
        );
        assert!(
            median(&pair) * 5.0 < median(&other),
            "{} vs {}",
            median(&pair),
            median(&other)
        );
    }

    #[test]
    fn cached_beside_the_store_and_recomputed_for_another_decoder() {
        let dir = tempfile::tempdir().unwrap();
        let dec = unit_rows(&random(60, 8, 4)).unwrap();
        let (p, c) = quiet();
        let opts = MapOpts {
            epochs: Some(50),
            ..MapOpts::default()
        };
        let (m, src) = load_or_compute(&dec, Some(dir.path()), &opts, &p, &c).unwrap();
        let file = dir.path().join(MAP_FILE);
        assert_eq!(src, MapSource::Computed(Some(file.clone())));
        let (again, src) = load_or_compute(&dec, Some(dir.path()), &opts, &p, &c).unwrap();
        assert_eq!(src, MapSource::Cached(file.clone()));
        assert_eq!(again, m);
        // Another decoder (one row changed) or other options: computed again.
        let changed = Tensor::cat(
            &[
                &dec.narrow(0, 0, 59).unwrap(),
                &unit_rows(&random(1, 8, 5)).unwrap(),
            ],
            0,
        )
        .unwrap();
        let (m2, src) = load_or_compute(&changed, Some(dir.path()), &opts, &p, &c).unwrap();
        assert!(matches!(src, MapSource::Computed(_)));
        assert_ne!(m2.decoder_hash, m.decoder_hash);
        let seeded = MapOpts { seed: 1, ..opts };
        let (_, src) = load_or_compute(&changed, Some(dir.path()), &seeded, &p, &c).unwrap();
        assert!(matches!(src, MapSource::Computed(_)));
        // Not a map: a clear error.
        std::fs::write(dir.path().join("x"), b"nonsense").unwrap();
        let e = NeuronMap::load(&dir.path().join("x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a neuron map"), "{e}");
    }

    #[test]
    fn cancel_stops_it() {
        let dec = unit_rows(&random(50, 8, 6)).unwrap();
        let cancel = AtomicBool::new(true);
        assert!(embed(&dec, &MapOpts::default(), &|_, _| {}, &cancel).is_err());
    }
}
