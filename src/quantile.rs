//! High quantiles from the largest values of a sample: the one interpolation that both the
//! feature store (`store::collect`) and the Safe-SAIL release's quantile files use.
//!
//! Of `n` values, the top `k` are known. Sorted ascending, the `j`-th of them (1-based) is
//! the order statistic of rank `n - k + j`, and sits at cumulative probability
//! `p_j = (n - k + j) / n` (the largest at 1). A quantile `q` between two of them is
//! interpolated linearly in `p`; a `q` below `p_1` cannot be answered from these values.
//! This is the reading the Safe-SAIL authors' `approximate_quantile` (from Transluce's
//! observatory code) gives its arguments: for `q = 0.999`, `n = 200,000` and `k = 10,000` it
//! returns the value at `j = 9,800` — the 201st largest of the 200,000.

/// The Safe-SAIL normalisation quantile.
pub const Q999: f64 = 0.999;

/// How many of the largest values (`k`) the `q`-quantile of `n` values needs: the smallest `k`
/// with `(n - k + 1) / n ≤ q` (at least 1, at most `n`).
pub fn top_needed(n: u64, q: f64) -> u64 {
    if n == 0 {
        return 0;
    }
    // k ≥ n + 1 - q·n.
    let k = (n as f64 + 1.0 - position(n, q)).ceil().max(1.0) as u64;
    k.min(n)
}

/// `q · n`, snapped to the nearest integer when it is one up to rounding (0.999 · 10,000 is
/// not exact in binary).
fn position(n: u64, q: f64) -> f64 {
    let x = q * n as f64;
    if (x - x.round()).abs() < 1e-6 {
        x.round()
    } else {
        x
    }
}

/// The `q`-quantile of `n` values from their `k = top_ascending.len()` largest, sorted
/// ascending (see the module doc). `None` when `q` lies below the known range, when nothing is
/// known, or when `k > n`.
pub fn quantile_from_top(top_ascending: &[f32], n: u64, q: f64) -> Option<f32> {
    let k = top_ascending.len() as u64;
    if k == 0 || k > n || !(0.0..=1.0).contains(&q) {
        return None;
    }
    // x is the (real) 1-based position j with p_j = q.
    let x = position(n, q) - (n - k) as f64;
    if x < 1.0 {
        return None;
    }
    let j = (x.floor() as u64).min(k);
    let lo = top_ascending[j as usize - 1];
    if j == k {
        return Some(lo);
    }
    let hi = top_ascending[j as usize];
    let frac = (x - j as f64) as f32;
    Some(lo + frac * (hi - lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_papers_setting_reads_the_201st_largest() {
        // 10,000 top values of 200,000: value j is j itself.
        let top: Vec<f32> = (1..=10_000).map(|j| j as f32).collect();
        assert_eq!(quantile_from_top(&top, 200_000, Q999), Some(9_800.0));
        assert_eq!(10_000 - 9_800 + 1, 201);
        // Below the known range: (200,000 - 10,000 + 1) / 200,000 = 0.950005.
        assert_eq!(quantile_from_top(&top, 200_000, 0.95), None);
        assert_eq!(quantile_from_top(&top, 200_000, 1.0), Some(10_000.0));
        assert_eq!(top_needed(200_000, Q999), 201);
    }

    #[test]
    fn interpolates_between_order_statistics() {
        // n = 1,250, k = 4: p_j = (1246 + j) / 1250; q = 0.999 → x = 1248.75 - 1246 = 2.75.
        let top = [1.0f32, 2.0, 4.0, 8.0];
        let v = quantile_from_top(&top, 1_250, Q999).unwrap();
        assert!((v - 3.5).abs() < 1e-6, "{v}");
        // Every order statistic is met exactly at its own probability.
        for j in 1..=4u64 {
            let q = (1_246 + j) as f64 / 1_250.0;
            assert_eq!(quantile_from_top(&top, 1_250, q), Some(top[j as usize - 1]));
        }
        // The needed count: x ≥ 1 ⇔ k ≥ n (1 - q) + 1.
        assert_eq!(top_needed(1_250, Q999), 3);
        assert!(quantile_from_top(&top[1..], 1_250, Q999).is_some());
        assert!(quantile_from_top(&top[2..], 1_250, Q999).is_none());
        assert_eq!(top_needed(10_000, Q999), 11);
        // Of 5 values the largest sits at 1 and the next at 0.8: both are needed for 0.999.
        assert_eq!(top_needed(5, Q999), 2);
        assert_eq!(top_needed(0, Q999), 0);
        // Nonsense in, nothing out.
        assert_eq!(quantile_from_top(&[], 10, Q999), None);
        assert_eq!(quantile_from_top(&top, 3, Q999), None);
    }

    #[test]
    fn a_whole_sample_is_read_at_position_q_times_n() {
        // With every value known (k = n), p_j = j / n: the q-quantile is the value at the
        // (1-based) position q·n, interpolated; worked by hand for n = 10.
        let all: Vec<f32> = (0..10).map(|i| (i * i) as f32).collect();
        // q = 0.95 → x = 9.5: between the 9th (64) and 10th (81) values.
        assert_eq!(quantile_from_top(&all, 10, 0.95), Some(72.5));
        assert_eq!(quantile_from_top(&all, 10, 0.1), Some(0.0));
        assert_eq!(quantile_from_top(&all, 10, 0.05), None);
    }
}
