//! Neuron families: the same direction in other latents, SAEs and layers, from decoder
//! cosines. Nearest neurons within an SAE ([`neighbours`]) and a one-to-one matching of two
//! SAEs writing into the same space ([`match_decoders`]): optimal (Hungarian, maximum total
//! cosine) up to [`EXACT_LIMIT`] latent pairs, greedy on each latent's best candidates beyond.
//! Also ([`across`]): matching by encoder directions or both ([`By`]), which narrow latent
//! each wide latent splits from ([`split_parents`]), the closest latent in other SAEs
//! ([`best_match`]), chains across layers ([`chain`]); and co-activation from feature stores
//! ([`coact`]).

pub mod across;
pub mod coact;

pub use across::*;
pub use coact::{jaccard, CoActivation, TokenKey};

pub mod map;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Tensor};

/// The largest `rows² × columns` for which [`match_decoders`] solves the assignment exactly
/// (about 4,096 × 4,096: tens of seconds); beyond it the matching is greedy.
pub const EXACT_LIMIT: f64 = 7.0e10;

/// Candidates per latent kept for the greedy matching.
const GREEDY_CANDIDATES: usize = 32;

/// Rows scored at once (bounds the `[rows, columns]` similarity block in memory).
const CHUNK: usize = 1024;

/// An SAE's decoder directions as unit rows `[d_sae, d_in]` (f32; an all-zero row stays zero).
pub fn unit_decoder(sae: &crate::sae::Sae) -> Result<Tensor> {
    let w = sae
        .w_dec
        .as_ref()
        .with_context(|| format!("SAE {} has no decoder weights", sae.meta.path.display()))?
        .to_tensor()?
        .to_dtype(DType::F32)?;
    unit_rows(&w)
}

/// Each row divided by its norm (zero rows left zero).
pub fn unit_rows(w: &Tensor) -> Result<Tensor> {
    let norms = w.sqr()?.sum_keepdim(1)?.sqrt()?;
    let safe = norms.maximum(1e-12)?;
    Ok(w.broadcast_div(&safe)?)
}

/// The `k` latents of `dec` (unit rows) whose directions are closest to latent `i`'s, by
/// cosine, best first, `i` itself left out.
pub fn neighbours(dec: &Tensor, i: usize, k: usize) -> Result<Vec<(u32, f32)>> {
    let n = dec.dim(0)?;
    if i >= n {
        bail!("latent {i} is out of range (the SAE has {n} latents)");
    }
    let row = dec.narrow(0, i, 1)?;
    let sims: Vec<f32> = row.matmul(&dec.t()?)?.flatten_all()?.to_vec1()?;
    let mut best = top_k(&sims, k + 1);
    best.retain(|&(j, _)| j as usize != i);
    best.truncate(k);
    Ok(best)
}

/// [`neighbours`] of every latent of `dec` (unit rows), in latent order, scored in blocks of
/// rows (one `[block, d_sae]` similarity block in memory at a time).
pub fn all_neighbours(dec: &Tensor, k: usize) -> Result<Vec<Vec<(u32, f32)>>> {
    let n = dec.dim(0)?;
    let t = dec.t()?.contiguous()?;
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(CHUNK) {
        let len = CHUNK.min(n - start);
        let block: Vec<Vec<f32>> = dec.narrow(0, start, len)?.matmul(&t)?.to_vec2()?;
        for (r, row) in block.iter().enumerate() {
            let mut best = top_k(row, k + 1);
            best.retain(|&(j, _)| j as usize != start + r);
            best.truncate(k);
            out.push(best);
        }
    }
    Ok(out)
}

/// The `k` largest values of `v` with their indices, largest first (ties: lower index first).
fn top_k(v: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut idx: Vec<u32> = (0..v.len() as u32).collect();
    let k = k.min(v.len());
    let by = |a: &u32, b: &u32| v[*b as usize].total_cmp(&v[*a as usize]).then(a.cmp(b));
    if k < idx.len() {
        idx.select_nth_unstable_by(k, by);
        idx.truncate(k);
    }
    idx.sort_by(by);
    idx.into_iter().map(|j| (j, v[j as usize])).collect()
}

/// One matched pair: latent `a` of the first SAE, latent `b` of the second, their decoder
/// cosine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    pub a: u32,
    pub b: u32,
    pub cosine: f32,
}

/// A one-to-one matching of two SAEs' latents.
#[derive(Debug, Clone)]
pub struct Matching {
    /// Every matched pair, by latent of the first SAE (each latent of the smaller SAE has one).
    pub pairs: Vec<Pair>,
    /// Whether the matching is the optimal assignment (else greedy on the best candidates).
    pub exact: bool,
    /// The two SAEs' widths.
    pub widths: (usize, usize),
}

impl Matching {
    /// How many pairs have a cosine of at least `t`.
    pub fn partners_above(&self, t: f32) -> usize {
        self.pairs.iter().filter(|p| p.cosine >= t).count()
    }

    /// The mean cosine of the pairs (0 for none).
    pub fn mean_cosine(&self) -> f32 {
        if self.pairs.is_empty() {
            return 0.0;
        }
        self.pairs.iter().map(|p| p.cosine).sum::<f32>() / self.pairs.len() as f32
    }
}

/// Matches the latents of two SAEs with the same `d_in` one to one by decoder cosine: the
/// assignment with the largest total cosine when it is small enough ([`EXACT_LIMIT`]), else a
/// greedy assignment (pairs taken in order of cosine from each latent's best candidates).
pub fn match_decoders(a: &Tensor, b: &Tensor) -> Result<Matching> {
    let (na, da) = a.dims2()?;
    let (nb, db) = b.dims2()?;
    if da != db {
        bail!("the SAEs read spaces of different size (d_in {da} and {db}): nothing to match");
    }
    if na == 0 || nb == 0 {
        bail!("an SAE without latents has nothing to match");
    }
    let (rows, cols) = (na.min(nb), na.max(nb));
    let exact = (rows as f64) * (rows as f64) * (cols as f64) <= EXACT_LIMIT;
    let mut pairs = if exact {
        let sim = similarity(a, b)?;
        let (small, large, flip) = if na <= nb {
            (na, nb, false)
        } else {
            (nb, na, true)
        };
        let cost = |i: usize, j: usize| {
            let (r, c) = if flip { (j, i) } else { (i, j) };
            -(sim[r * nb + c] as f64)
        };
        assign_min(small, large, cost)
            .into_iter()
            .enumerate()
            .map(|(i, j)| {
                let (r, c) = if flip { (j, i) } else { (i, j) };
                Pair {
                    a: r as u32,
                    b: c as u32,
                    cosine: sim[r * nb + c],
                }
            })
            .collect::<Vec<_>>()
    } else {
        greedy(a, b)?
    };
    pairs.sort_by_key(|p| p.a);
    Ok(Matching {
        pairs,
        exact,
        widths: (na, nb),
    })
}

/// The full `[na, nb]` cosine matrix, row-major.
fn similarity(a: &Tensor, b: &Tensor) -> Result<Vec<f32>> {
    let bt = b.t()?.contiguous()?;
    let mut out = Vec::with_capacity(a.dim(0)? * b.dim(0)?);
    for start in (0..a.dim(0)?).step_by(CHUNK) {
        let len = CHUNK.min(a.dim(0)? - start);
        let block = a.narrow(0, start, len)?.matmul(&bt)?;
        out.extend(block.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(out)
}

/// Greedy matching: each latent of `a` keeps its best candidates in `b` (and each of `b` its
/// best in `a`); candidate pairs are taken by descending cosine while both ends are free.
fn greedy(a: &Tensor, b: &Tensor) -> Result<Vec<Pair>> {
    let mut cand: Vec<Pair> = vec![];
    for (x, y, flip) in [(a, b, false), (b, a, true)] {
        let yt = y.t()?.contiguous()?;
        for start in (0..x.dim(0)?).step_by(CHUNK) {
            let len = CHUNK.min(x.dim(0)? - start);
            let block: Vec<Vec<f32>> = x.narrow(0, start, len)?.matmul(&yt)?.to_vec2()?;
            for (r, row) in block.iter().enumerate() {
                for (c, s) in top_k(row, GREEDY_CANDIDATES) {
                    let (i, j) = ((start + r) as u32, c);
                    let (pa, pb) = if flip { (j, i) } else { (i, j) };
                    cand.push(Pair {
                        a: pa,
                        b: pb,
                        cosine: s,
                    });
                }
            }
        }
    }
    cand.sort_by(|p, q| {
        q.cosine
            .total_cmp(&p.cosine)
            .then(p.a.cmp(&q.a))
            .then(p.b.cmp(&q.b))
    });
    let (mut used_a, mut used_b) = (vec![false; a.dim(0)?], vec![false; b.dim(0)?]);
    let mut pairs = vec![];
    for p in cand {
        if !used_a[p.a as usize] && !used_b[p.b as usize] {
            used_a[p.a as usize] = true;
            used_b[p.b as usize] = true;
            pairs.push(p);
        }
    }
    Ok(pairs)
}

/// The minimum-cost assignment of `n` rows to distinct columns among `m ≥ n` (the Hungarian
/// method with potentials, O(n²·m)): for each row, its column.
pub fn assign_min(n: usize, m: usize, cost: impl Fn(usize, usize) -> f64) -> Vec<usize> {
    assert!(n <= m, "assign_min needs rows ≤ columns");
    // 1-based: p[j] is the row given column j (0 = none); u, v the potentials.
    let (mut u, mut v) = (vec![0.0f64; n + 1], vec![0.0f64; m + 1]);
    let (mut p, mut way) = (vec![0usize; m + 1], vec![0usize; m + 1]);
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let (mut delta, mut j1) = (f64::INFINITY, 0);
            for j in 1..=m {
                if !used[j] {
                    let cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut row_to_col = vec![0; n];
    for j in 1..=m {
        if p[j] > 0 {
            row_to_col[p[j] - 1] = j - 1;
        }
    }
    row_to_col
}

/// Writes a matching as Parquet (columns `a`, `b`, `cosine`: one row per pair), atomically.
/// With `parents` (from [`split_parents`], one per latent of the wider SAE) there is one row
/// per latent of the wider SAE instead: its one-to-one partner (`a` or `b` and `cosine` null
/// when it has none) and `splits_from`, `splits_from_cosine`.
pub fn write_parquet(
    m: &Matching,
    parents: Option<&[(u32, f32)]>,
    path: &std::path::Path,
) -> Result<()> {
    use polars::prelude::*;
    let mut df = match parents {
        None => DataFrame::new_infer_height(vec![
            Series::new("a".into(), m.pairs.iter().map(|p| p.a).collect::<Vec<_>>()).into_column(),
            Series::new("b".into(), m.pairs.iter().map(|p| p.b).collect::<Vec<_>>()).into_column(),
            Series::new(
                "cosine".into(),
                m.pairs.iter().map(|p| p.cosine).collect::<Vec<_>>(),
            )
            .into_column(),
        ])?,
        Some(parents) => {
            let a_wide = m.widths.0 > m.widths.1;
            let wide = m.widths.0.max(m.widths.1);
            if parents.len() != wide {
                bail!("{} parents for {wide} latents", parents.len());
            }
            let mut partner: Vec<Option<(u32, f32)>> = vec![None; wide];
            for p in &m.pairs {
                let (w, n) = if a_wide { (p.a, p.b) } else { (p.b, p.a) };
                partner[w as usize] = Some((n, p.cosine));
            }
            let wide_ids: Vec<Option<u32>> = (0..wide as u32).map(Some).collect();
            let narrow_ids: Vec<Option<u32>> = partner.iter().map(|p| p.map(|x| x.0)).collect();
            let (a, b) = if a_wide {
                (wide_ids, narrow_ids)
            } else {
                (narrow_ids, wide_ids)
            };
            DataFrame::new_infer_height(vec![
                Series::new("a".into(), a).into_column(),
                Series::new("b".into(), b).into_column(),
                Series::new(
                    "cosine".into(),
                    partner.iter().map(|p| p.map(|x| x.1)).collect::<Vec<_>>(),
                )
                .into_column(),
                Series::new(
                    "splits_from".into(),
                    parents.iter().map(|p| p.0).collect::<Vec<_>>(),
                )
                .into_column(),
                Series::new(
                    "splits_from_cosine".into(),
                    parents.iter().map(|p| p.1).collect::<Vec<_>>(),
                )
                .into_column(),
            ])?
        }
    };
    crate::fsutil::write_atomic_with(path, |f| {
        ParquetWriter::new(f).finish(&mut df)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

    fn random(n: usize, d: usize, seed: u64) -> Tensor {
        let mut r = StdRng::seed_from_u64(seed);
        let v: Vec<f32> = (0..n * d).map(|_| r.random_range(-1.0..1.0)).collect();
        Tensor::from_vec(v, (n, d), &Device::Cpu).unwrap()
    }

    /// Brute force over every injection of rows into columns (small cases).
    fn brute(n: usize, m: usize, cost: &dyn Fn(usize, usize) -> f64) -> f64 {
        fn go(
            i: usize,
            n: usize,
            m: usize,
            used: &mut Vec<bool>,
            cost: &dyn Fn(usize, usize) -> f64,
        ) -> f64 {
            if i == n {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            for j in 0..m {
                if !used[j] {
                    used[j] = true;
                    best = best.min(cost(i, j) + go(i + 1, n, m, used, cost));
                    used[j] = false;
                }
            }
            best
        }
        go(0, n, m, &mut vec![false; m], cost)
    }

    #[test]
    fn the_assignment_is_optimal_where_greedy_is_not() {
        // Greedy takes (0,0) = 0.9 and is left with (1,1) = 0; the optimum is 0.8 + 0.85.
        let sim = [[0.9, 0.8, 0.0], [0.85, 0.0, 0.0], [0.0, 0.0, 0.1]];
        let a = assign_min(3, 3, |i, j| -sim[i][j]);
        assert_eq!(a, [1, 0, 2]);
        let mut r = StdRng::seed_from_u64(3);
        for (n, m) in [(1, 1), (3, 5), (5, 5), (6, 7), (4, 8)] {
            let c: Vec<f64> = (0..n * m).map(|_| r.random_range(-1.0..1.0)).collect();
            let cost = |i: usize, j: usize| c[i * m + j];
            let got = assign_min(n, m, cost);
            let mut cols = got.clone();
            cols.sort();
            cols.dedup();
            assert_eq!(cols.len(), n, "distinct columns");
            let total: f64 = got.iter().enumerate().map(|(i, &j)| cost(i, j)).sum();
            assert!((total - brute(n, m, &cost)).abs() < 1e-9, "{n}x{m}");
        }
    }

    #[test]
    fn a_permuted_copy_is_matched_back_exactly() {
        let a = unit_rows(&random(300, 16, 1)).unwrap();
        let mut perm: Vec<u32> = (0..300).collect();
        perm.shuffle(&mut StdRng::seed_from_u64(2));
        let idx = Tensor::new(perm.as_slice(), &Device::Cpu).unwrap();
        // b's row r is a's row perm[r], scaled (the cosine ignores scale).
        let b = (a.index_select(&idx, 0).unwrap() * 3.0).unwrap();
        let m = match_decoders(&a, &unit_rows(&b).unwrap()).unwrap();
        assert!(m.exact);
        assert_eq!(m.pairs.len(), 300);
        for p in &m.pairs {
            assert_eq!(perm[p.b as usize], p.a, "{p:?}");
            assert!((p.cosine - 1.0).abs() < 1e-5);
        }
        assert_eq!(m.partners_above(0.7), 300);
        // The greedy matching recovers it too (each true partner is its latent's best).
        let g = greedy(&a, &unit_rows(&b).unwrap()).unwrap();
        assert!(g.iter().all(|p| perm[p.b as usize] == p.a));
    }

    #[test]
    fn widths_and_shapes() {
        // A narrow SAE against a wider one that holds its directions among random ones: every
        // narrow latent finds its copy; the other way round gives the same pairs.
        let small = unit_rows(&random(20, 12, 4)).unwrap();
        let extra = unit_rows(&random(30, 12, 5)).unwrap();
        let wide = Tensor::cat(&[&extra, &small], 0).unwrap();
        let m = match_decoders(&small, &wide).unwrap();
        assert_eq!(m.widths, (20, 50));
        assert!(m.pairs.iter().all(|p| p.b == p.a + 30), "{:?}", m.pairs);
        let back = match_decoders(&wide, &small).unwrap();
        assert_eq!(back.pairs.len(), 20);
        assert!(back.pairs.iter().all(|p| p.a == p.b + 30));
        let other = random(5, 7, 6);
        let e = match_decoders(&small, &other).unwrap_err().to_string();
        assert!(e.contains("d_in 12 and 7"), "{e}");
    }

    #[test]
    fn neighbours_are_the_closest_directions() {
        let v = [
            [1.0f32, 0.0, 0.0],
            [0.9, 0.1, 0.0],
            [0.0, 1.0, 0.0],
            [-1.0, 0.0, 0.0],
            [0.7, 0.7, 0.0],
        ];
        let t = Tensor::new(&v, &Device::Cpu).unwrap();
        let n = neighbours(&unit_rows(&t).unwrap(), 0, 3).unwrap();
        let ids: Vec<u32> = n.iter().map(|x| x.0).collect();
        assert_eq!(ids, [1, 4, 2]);
        assert!((n[1].1 - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-5);
        assert!(neighbours(&t, 9, 3).is_err());
        // Every latent's list at once equals one at a time.
        let u = unit_rows(&random(2100, 8, 9)).unwrap();
        let all = all_neighbours(&u, 4).unwrap();
        assert_eq!(all.len(), 2100);
        for i in [0, 1023, 1024, 2099] {
            let one = neighbours(&u, i, 4).unwrap();
            let ids = |v: &[(u32, f32)]| v.iter().map(|p| p.0).collect::<Vec<_>>();
            assert_eq!(ids(&all[i]), ids(&one), "{i}");
            // Same cosines up to the summation order of a block product against a row product.
            assert!(
                all[i]
                    .iter()
                    .zip(&one)
                    .all(|(a, b)| (a.1 - b.1).abs() < 1e-5),
                "{i}"
            );
        }
    }
}
