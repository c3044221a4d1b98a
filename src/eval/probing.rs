//! Per-domain k-sparse probing and targeted probe perturbation (TPP) over the labeled corpus,
//! in the manner of SAEBench, on SAE latents.
//!
//! Every context of the labeled corpus becomes a row: each latent's largest activation over the
//! context, and the context's label. For a safety domain D the rows labeled D are the positives
//! and all others the negatives; the larger class is thinned (the rows with the smallest fixed hash of
//! their position) to the size of the smaller, and every 5th row of each class goes to the test set, the rest to
//! training (deterministic; a domain with fewer than [`MIN_PER_CLASS`] rows in either class gets
//! no value).
//!
//! * **k-sparse probing**: the k latents with the largest mean difference (mean over the
//!   positives − mean over the negatives, on the training rows) are the features of an
//!   L2-penalized logistic regression ([`super::logistic`], penalty [`L2`] on standardized
//!   features); `probe_k{k}_D` is its accuracy on the test rows (chance: 0.5), for k = 1, 2, 5.
//! * **TPP**: every domain's probe is trained on the same features, the union U of each
//!   domain's top [`TPP_LATENTS`] latents by mean difference. Ablating domain i's top latents
//!   (setting them to 0) lowers probe j's test accuracy by `drop(i, j)`;
//!   `tpp_i = drop(i, i) − mean over the other domains j of drop(i, j)`: how much removing the
//!   latents tied to domain i hurts its probe only (higher is better; a latent-space reading of
//!   SAEBench's targeted probe perturbation, whose probes read the model's dense activations).

use super::logistic::Logistic;
use crate::domains::SAFETY_DOMAINS;

/// The k of the k-sparse probes.
pub const PROBE_KS: [usize; 3] = [1, 2, 5];
/// Latents per domain that TPP's probes read and that it ablates.
pub const TPP_LATENTS: usize = 20;
/// The L2 penalty of the probes (on standardized features, mean log-loss).
pub const L2: f64 = 1e-2;
/// Fewest rows of each class (after balancing) for a domain to be probed.
pub const MIN_PER_CLASS: usize = 5;

/// The rows: every context's label (an index into [`SAFETY_DOMAINS`], 4 for any other label)
/// and each latent's largest activation over it (only latents > 0, by latent).
#[derive(Debug, Clone, Default)]
pub struct LabeledContexts {
    pub labels: Vec<usize>,
    pub acts: Vec<Vec<(u32, f32)>>,
}

impl LabeledContexts {
    /// Adds a context from its per-latent maxima.
    pub fn push(&mut self, label: usize, max_per_latent: &[f32]) {
        self.labels.push(label);
        self.acts.push(
            max_per_latent
                .iter()
                .enumerate()
                .filter(|(_, a)| **a > 0.0)
                .map(|(l, a)| (l as u32, *a))
                .collect(),
        );
    }

    fn value(&self, row: usize, latent: u32) -> f64 {
        let r = &self.acts[row];
        r.binary_search_by_key(&latent, |x| x.0)
            .map_or(0.0, |i| r[i].1 as f64)
    }

    fn rows(&self, idx: &[usize], latents: &[u32], ablated: &[u32]) -> Vec<Vec<f64>> {
        idx.iter()
            .map(|&i| {
                latents
                    .iter()
                    .map(|l| {
                        if ablated.contains(l) {
                            0.0
                        } else {
                            self.value(i, *l)
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

/// SplitMix64's output function: a fixed, well-mixed hash.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A domain's balanced train / test split.
#[derive(Debug, Clone)]
struct Split {
    train: Vec<usize>,
    y_train: Vec<bool>,
    test: Vec<usize>,
    y_test: Vec<bool>,
}

fn split(data: &LabeledContexts, domain: usize) -> Option<Split> {
    let pos: Vec<usize> = (0..data.labels.len())
        .filter(|&i| data.labels[i] == domain)
        .collect();
    let neg: Vec<usize> = (0..data.labels.len())
        .filter(|&i| data.labels[i] != domain)
        .collect();
    let n = pos.len().min(neg.len());
    if n < MIN_PER_CLASS {
        return None;
    }
    // Thinned by a fixed hash of the row (a stride could alias with a periodic corpus order),
    // kept in corpus order.
    let thin = |v: &[usize]| -> Vec<usize> {
        let mut w = v.to_vec();
        w.sort_by_key(|&i| splitmix(i as u64));
        w.truncate(n);
        w.sort_unstable();
        w
    };
    let mut s = Split {
        train: vec![],
        y_train: vec![],
        test: vec![],
        y_test: vec![],
    };
    for (class, rows) in [(true, thin(&pos)), (false, thin(&neg))] {
        for (k, r) in rows.into_iter().enumerate() {
            if k % 5 == 4 {
                s.test.push(r);
                s.y_test.push(class);
            } else {
                s.train.push(r);
                s.y_train.push(class);
            }
        }
    }
    Some(s)
}

/// The `count` latents with the largest mean difference on the training rows (ties: the
/// lower latent).
fn top_by_mean_difference(data: &LabeledContexts, s: &Split, count: usize) -> Vec<u32> {
    let mut diff: std::collections::HashMap<u32, f64> = Default::default();
    let np = s.y_train.iter().filter(|y| **y).count().max(1) as f64;
    let nn = s.y_train.iter().filter(|y| !**y).count().max(1) as f64;
    for (&r, &y) in s.train.iter().zip(&s.y_train) {
        for &(l, a) in &data.acts[r] {
            *diff.entry(l).or_default() += if y { a as f64 / np } else { -(a as f64) / nn };
        }
    }
    let mut v: Vec<(u32, f64)> = diff.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().take(count).map(|x| x.0).collect()
}

/// A domain's k-sparse probes.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainProbe {
    /// Test accuracy per k of [`PROBE_KS`].
    pub accuracy: [f64; 3],
    /// The latents chosen, best first (the first k are the k-probe's features).
    pub latents: Vec<u32>,
}

/// The k-sparse probes of `domain` (an index into [`SAFETY_DOMAINS`]); `None` when the domain
/// has too few rows, or a class has no latent that fires.
pub fn k_sparse(data: &LabeledContexts, domain: usize) -> Option<DomainProbe> {
    let s = split(data, domain)?;
    let kmax = PROBE_KS[PROBE_KS.len() - 1];
    let latents = top_by_mean_difference(data, &s, kmax);
    if latents.is_empty() {
        return None;
    }
    let mut accuracy = [0.0; 3];
    for (slot, &k) in accuracy.iter_mut().zip(&PROBE_KS) {
        let feats = &latents[..k.min(latents.len())];
        let m = Logistic::fit(&data.rows(&s.train, feats, &[]), &s.y_train, L2).ok()?;
        *slot = m.accuracy(&data.rows(&s.test, feats, &[]), &s.y_test);
    }
    Some(DomainProbe { accuracy, latents })
}

/// The TPP value of every safety domain (see the module docs); `None` for a domain without
/// enough rows, or when no other domain has a probe to compare with.
pub fn tpp(data: &LabeledContexts) -> [Option<f64>; 4] {
    let splits: Vec<Option<Split>> = (0..SAFETY_DOMAINS.len()).map(|d| split(data, d)).collect();
    let tops: Vec<Vec<u32>> = splits
        .iter()
        .map(|s| {
            s.as_ref()
                .map(|s| top_by_mean_difference(data, s, TPP_LATENTS))
                .unwrap_or_default()
        })
        .collect();
    let mut union: Vec<u32> = tops.iter().flatten().copied().collect();
    union.sort_unstable();
    union.dedup();
    if union.is_empty() {
        return [None; 4];
    }
    let probes: Vec<Option<(Logistic, f64)>> = splits
        .iter()
        .map(|s| {
            let s = s.as_ref()?;
            let m = Logistic::fit(&data.rows(&s.train, &union, &[]), &s.y_train, L2).ok()?;
            let acc = m.accuracy(&data.rows(&s.test, &union, &[]), &s.y_test);
            Some((m, acc))
        })
        .collect();
    let drop = |i: usize, j: usize| -> Option<f64> {
        let (m, acc) = probes[j].as_ref()?;
        let s = splits[j].as_ref()?;
        Some(acc - m.accuracy(&data.rows(&s.test, &union, &tops[i]), &s.y_test))
    };
    std::array::from_fn(|i| {
        let own = drop(i, i)?;
        let others: Vec<f64> = (0..probes.len())
            .filter(|&j| j != i)
            .filter_map(|j| drop(i, j))
            .collect();
        if others.is_empty() {
            return None;
        }
        Some(own - others.iter().sum::<f64>() / others.len() as f64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random stream in [0, 1).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 40) as f32) / (1u64 << 24) as f32
        }
    }

    /// `n` contexts with labels cycling over the four domains and "other"; 60 latents, each
    /// firing at random on ~30% of the contexts; `planted[d]` (when given) fires on ~95% of the
    /// contexts of domain d and ~3% of the others.
    fn synthetic(n: usize, planted: [Option<u32>; 4]) -> LabeledContexts {
        let mut rng = Lcg(7);
        let mut data = LabeledContexts::default();
        for i in 0..n {
            let label = i % 5;
            let mut acts: Vec<f32> = (0..60)
                .map(|_| {
                    if rng.next() < 0.3 {
                        rng.next() * 2.0
                    } else {
                        0.0
                    }
                })
                .collect();
            for (d, p) in planted.iter().enumerate() {
                if let Some(p) = p {
                    let fires = if label == d {
                        rng.next() < 0.95
                    } else {
                        rng.next() < 0.03
                    };
                    acts[*p as usize] = if fires { 1.0 + rng.next() } else { 0.0 };
                }
            }
            data.push(label, &acts);
        }
        data
    }

    #[test]
    fn the_probe_finds_the_planted_latent_at_k_1() {
        let data = synthetic(2000, [Some(17), None, None, None]);
        let p = k_sparse(&data, 0).unwrap();
        assert_eq!(p.latents[0], 17);
        assert!(p.accuracy[0] > 0.9, "{p:?}");
        assert!(p.accuracy.iter().all(|a| *a > 0.9), "{p:?}");
        // The domains without a planted latent stay near chance.
        for d in 1..4 {
            let p = k_sparse(&data, d).unwrap();
            assert!(
                p.accuracy.iter().all(|a| (a - 0.5).abs() < 0.12),
                "{d}: {p:?}"
            );
        }
    }

    #[test]
    fn no_signal_gives_chance_and_too_few_rows_no_value() {
        let data = synthetic(2000, [None; 4]);
        for d in 0..4 {
            let p = k_sparse(&data, d).unwrap();
            assert!(
                p.accuracy.iter().all(|a| (a - 0.5).abs() < 0.12),
                "{d}: {p:?}"
            );
        }
        let few = synthetic(20, [None; 4]);
        assert_eq!(
            k_sparse(&few, 0),
            None,
            "4 positives per domain are too few"
        );
    }

    #[test]
    fn tpp_is_high_for_disentangled_domains_and_near_zero_without_signal() {
        let data = synthetic(2000, [Some(3), Some(11), Some(29), Some(41)]);
        let t = tpp(&data);
        for (d, v) in t.iter().enumerate() {
            let v = v.unwrap();
            assert!(v > 0.3, "domain {d}: {t:?}");
        }
        // One latent shared by two domains: ablating it hurts both probes alike.
        let mut shared = synthetic(2000, [Some(3), None, Some(29), Some(41)]);
        for (i, row) in shared.acts.iter_mut().enumerate() {
            if shared.labels[i] == 1 && !row.iter().any(|x| x.0 == 3) {
                row.push((3, 1.5));
                row.sort_by_key(|x| x.0);
            }
        }
        let ts = tpp(&shared);
        for d in [0, 1] {
            assert!(ts[d].unwrap() < t[d].unwrap() - 0.1, "{ts:?} vs {t:?}");
        }
        let none = tpp(&synthetic(2000, [None; 4]));
        assert!(none.iter().all(|v| v.unwrap().abs() < 0.12), "{none:?}");
        assert_eq!(tpp(&synthetic(20, [None; 4])), [None; 4]);
    }
}
