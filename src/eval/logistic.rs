//! Binary logistic regression by Newton's method (iteratively reweighted least squares) with a
//! small L2 penalty, for the probes of `evaluate` (a handful to ~80 features, up to some
//! thousands of rows). Features are standardized on the training rows; the fit is
//! deterministic.

use anyhow::{bail, Result};

/// A fitted probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    /// Weights of the standardized features.
    pub weights: Vec<f64>,
    pub bias: f64,
    mean: Vec<f64>,
    scale: Vec<f64>,
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Solves `a x = b` for a symmetric positive definite `a` (Cholesky); `None` when `a` is not.
fn solve_spd(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = a[i][i] - s;
                if d <= 0.0 || !d.is_finite() {
                    return None;
                }
                l[i][i] = d.sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    Some(x)
}

impl Logistic {
    /// Fits `y ~ σ(w·standardize(x) + b)` minimizing the mean log-loss plus `l2 / 2 · |w|²`
    /// (the bias is not penalized). Rows must have the same length; both classes must occur.
    pub fn fit(x: &[Vec<f64>], y: &[bool], l2: f64) -> Result<Self> {
        let n = x.len();
        if n == 0 || n != y.len() {
            bail!("{n} rows but {} labels", y.len());
        }
        if !y.contains(&true) || !y.contains(&false) {
            bail!("a probe needs both classes");
        }
        let p = x[0].len();
        if x.iter().any(|r| r.len() != p) {
            bail!("rows of different lengths");
        }
        let mean: Vec<f64> = (0..p)
            .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n as f64)
            .collect();
        let scale: Vec<f64> = (0..p)
            .map(|j| {
                let v = x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n as f64;
                if v > 1e-24 {
                    v.sqrt()
                } else {
                    1.0
                }
            })
            .collect();
        // Standardized rows with a trailing 1 for the bias.
        let z: Vec<Vec<f64>> = x
            .iter()
            .map(|r| {
                let mut v: Vec<f64> = (0..p).map(|j| (r[j] - mean[j]) / scale[j]).collect();
                v.push(1.0);
                v
            })
            .collect();
        let mut beta = vec![0.0; p + 1];
        for _ in 0..100 {
            let mut g = vec![0.0; p + 1];
            let mut h = vec![vec![0.0; p + 1]; p + 1];
            for (row, &t) in z.iter().zip(y) {
                let q = sigmoid(row.iter().zip(&beta).map(|(a, b)| a * b).sum());
                let r = q - f64::from(u8::from(t));
                let w = (q * (1.0 - q)).max(1e-12);
                for i in 0..=p {
                    g[i] += r * row[i] / n as f64;
                    for j in 0..=i {
                        h[i][j] += w * row[i] * row[j] / n as f64;
                    }
                }
            }
            // The upper triangle from the lower; the penalty.
            let lower = h.clone();
            for (i, row) in h.iter_mut().enumerate() {
                for (j, x) in row.iter_mut().enumerate().skip(i + 1) {
                    *x = lower[j][i];
                }
                if i < p {
                    g[i] += l2 * beta[i];
                    row[i] += l2;
                }
            }
            // The bias's own curvature can vanish when every row is predicted with certainty.
            h[p][p] += 1e-12;
            let Some(step) = solve_spd(&h, &g) else {
                bail!("the probe's Newton step is singular");
            };
            for (b, s) in beta.iter_mut().zip(&step) {
                *b -= s;
            }
            if step.iter().all(|s| s.abs() < 1e-10) {
                break;
            }
        }
        Ok(Self {
            bias: beta[p],
            weights: beta[..p].to_vec(),
            mean,
            scale,
        })
    }

    /// P(y = 1 | row).
    pub fn prob(&self, row: &[f64]) -> f64 {
        let z: f64 = row
            .iter()
            .zip(&self.weights)
            .enumerate()
            .map(|(j, (x, w))| w * (x - self.mean[j]) / self.scale[j])
            .sum();
        sigmoid(z + self.bias)
    }

    /// The share of rows classified right at P = 0.5.
    pub fn accuracy(&self, x: &[Vec<f64>], y: &[bool]) -> f64 {
        if x.is_empty() {
            return 0.0;
        }
        let right = x
            .iter()
            .zip(y)
            .filter(|(r, &t)| (self.prob(r) > 0.5) == t)
            .count();
        right as f64 / x.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_a_known_logistic_model() {
        // Rows on a grid with P(y=1) = σ(2x − 1), y drawn deterministically by frequency:
        // at each x, round(1000·p) ones among 1000 rows. The fit recovers 2 and −1 (in raw
        // units: weight·(x − mean)/scale).
        let mut x = vec![];
        let mut y = vec![];
        for i in 0..=10 {
            let xv = -2.0 + 0.4 * i as f64;
            let ones = (1000.0 * sigmoid(2.0 * xv - 1.0)).round() as usize;
            for k in 0..1000 {
                x.push(vec![xv]);
                y.push(k < ones);
            }
        }
        let m = Logistic::fit(&x, &y, 0.0).unwrap();
        let w_raw = m.weights[0] / m.scale[0];
        let b_raw = m.bias - m.weights[0] * m.mean[0] / m.scale[0];
        assert!((w_raw - 2.0).abs() < 0.01, "{w_raw}");
        assert!((b_raw + 1.0).abs() < 0.01, "{b_raw}");
        assert!((m.prob(&[0.5]) - 0.5).abs() < 0.01);
    }

    #[test]
    fn separable_data_stays_finite_with_a_penalty() {
        let x: Vec<Vec<f64>> = (0..20).map(|i| vec![i as f64, 1.0]).collect();
        let y: Vec<bool> = (0..20).map(|i| i >= 10).collect();
        let m = Logistic::fit(&x, &y, 1e-2).unwrap();
        assert!(m.weights.iter().all(|w| w.is_finite()));
        assert_eq!(m.accuracy(&x, &y), 1.0);
        assert!(Logistic::fit(&x, &[true; 20], 1e-2).is_err());
        assert!(Logistic::fit(&x[..3], &y, 1e-2).is_err());
    }

    #[test]
    fn cholesky_solves() {
        let a = vec![vec![4.0, 2.0], vec![2.0, 3.0]];
        let x = solve_spd(&a, &[2.0, 1.0]).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-12 && x[1].abs() < 1e-12, "{x:?}");
        assert_eq!(solve_spd(&[vec![-1.0]], &[1.0]), None);
    }
}
