//! The trained tensors of an SAE, by name instead of by position, and their initialisation.

use super::TrainConfig;
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor, Var};

/// JumpReLU: the learning rate of `log θ` relative to the other parameters'.
const THRESHOLD_LR_SCALE: f64 = 10.0;

/// One of the trained tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Param {
    WEnc,
    BEnc,
    WDec,
    BDec,
    LogTheta,
}

impl Param {
    /// Every parameter, in the order of Adam's updates and of a checkpoint's tensors.
    pub(super) const ALL: [Param; 5] = [
        Param::WEnc,
        Param::BEnc,
        Param::WDec,
        Param::BDec,
        Param::LogTheta,
    ];

    /// The tensor's name in checkpoints.
    pub(super) fn name(self) -> &'static str {
        match self {
            Param::WEnc => "W_enc",
            Param::BEnc => "b_enc",
            Param::WDec => "W_dec",
            Param::BDec => "b_dec",
            Param::LogTheta => "log_threshold",
        }
    }

    /// Its learning rate relative to the schedule's: `log θ` moves by about the learning
    /// rate per step under Adam; a larger rate lets the thresholds travel the orders of
    /// magnitude they need within a short run.
    pub(super) fn lr_scale(self) -> f64 {
        match self {
            Param::LogTheta => THRESHOLD_LR_SCALE,
            _ => 1.0,
        }
    }
}

/// One value per trained tensor: the parameters themselves (`Params<Var>`), Adam's moments
/// or the gradients of a step.
#[derive(Debug, Clone)]
pub(super) struct Params<T = Var> {
    /// `[d_in, d_sae]`.
    pub(super) w_enc: T,
    /// `[d_sae]`.
    pub(super) b_enc: T,
    /// `[d_sae, d_in]`, unit rows.
    pub(super) w_dec: T,
    /// `[d_in]`.
    pub(super) b_dec: T,
    /// `[d_sae]`, JumpReLU only.
    pub(super) log_theta: Option<T>,
}

impl<T> Params<T> {
    /// Builds each value in the order of [`Param::ALL`] (`log θ` only `with_theta`).
    pub(super) fn try_build(
        with_theta: bool,
        mut f: impl FnMut(Param) -> Result<T>,
    ) -> Result<Self> {
        Ok(Self {
            w_enc: f(Param::WEnc)?,
            b_enc: f(Param::BEnc)?,
            w_dec: f(Param::WDec)?,
            b_dec: f(Param::BDec)?,
            log_theta: if with_theta {
                Some(f(Param::LogTheta)?)
            } else {
                None
            },
        })
    }

    pub(super) fn get(&self, p: Param) -> Option<&T> {
        match p {
            Param::WEnc => Some(&self.w_enc),
            Param::BEnc => Some(&self.b_enc),
            Param::WDec => Some(&self.w_dec),
            Param::BDec => Some(&self.b_dec),
            Param::LogTheta => self.log_theta.as_ref(),
        }
    }

    pub(super) fn get_mut(&mut self, p: Param) -> Option<&mut T> {
        match p {
            Param::WEnc => Some(&mut self.w_enc),
            Param::BEnc => Some(&mut self.b_enc),
            Param::WDec => Some(&mut self.w_dec),
            Param::BDec => Some(&mut self.b_dec),
            Param::LogTheta => self.log_theta.as_mut(),
        }
    }

    /// The values present, in the order of [`Param::ALL`].
    pub(super) fn iter(&self) -> impl Iterator<Item = (Param, &T)> {
        Param::ALL
            .into_iter()
            .filter_map(|p| self.get(p).map(|t| (p, t)))
    }

    /// The same value function applied to each present value, in order.
    pub(super) fn try_map<U>(&self, mut f: impl FnMut(&T) -> Result<U>) -> Result<Params<U>> {
        Params::try_build(self.log_theta.is_some(), |p| {
            f(self.get(p).expect("a present parameter"))
        })
    }
}

impl Params {
    /// The parameters initialised from a first batch of activations `[n, d_in]` (f32):
    /// decoder rows seeded random unit vectors, encoder = decoder transposed, `b_enc` = 0,
    /// `b_dec` = the batch's geometric median; no thresholds yet. Also returns the typical
    /// size of a projection of the centred batch on a unit direction.
    pub(super) fn init(cfg: &TrainConfig, first: &Tensor) -> Result<(Self, f64)> {
        let dev = first.device().clone();
        let (n, d) = first.dims2()?;
        if d != cfg.d_in {
            bail!("the first batch has width {d}, not d_in = {}", cfg.d_in);
        }
        // A seeded normal init, independent of candle's global RNG.
        let mut state = cfg.seed ^ 0x9e3779b97f4a7c15;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64).clamp(1e-12, 1.0 - 1e-12)
        };
        let normals: Vec<f32> = (0..cfg.d_sae * cfg.d_in)
            .map(|_| {
                let (u1, u2) = (next(), next());
                ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
            })
            .collect();
        let w = Tensor::from_vec(normals, (cfg.d_sae, cfg.d_in), &dev)?;
        let w = w.broadcast_div(&w.sqr()?.sum_keepdim(1)?.sqrt()?)?;
        let data = first
            .to_device(&Device::Cpu)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let b_dec = match geometric_median(&data, d, 200, 1e-6) {
            Some(m) => Tensor::from_vec(m, d, &dev)?,
            None => {
                tracing::warn!("the geometric median did not converge: b_dec starts at the mean");
                first.mean(0)?
            }
        };
        // The typical size of a projection of the centred data on a unit direction.
        let centred = first.broadcast_sub(&first.mean_keepdim(0)?)?;
        let rms = (centred.sqr()?.sum_all()?.to_scalar::<f32>()? as f64 / n.max(1) as f64).sqrt();
        let typical = (rms / (d as f64).sqrt()).max(1e-6);
        let params = Params {
            w_enc: Var::from_tensor(&w.t()?.contiguous()?)?,
            b_enc: Var::from_tensor(&Tensor::zeros(cfg.d_sae, DType::F32, &dev)?)?,
            w_dec: Var::from_tensor(&w)?,
            b_dec: Var::from_tensor(&b_dec)?,
            log_theta: None,
        };
        Ok((params, typical))
    }
}

/// The geometric median of the rows of `x` (`n × d`, row-major) by Weiszfeld's iterations,
/// starting from the mean; `None` if it does not converge within `max_iter` iterations (or
/// turns non-finite).
pub fn geometric_median(x: &[f32], d: usize, max_iter: usize, tol: f64) -> Option<Vec<f32>> {
    if d == 0 || x.is_empty() || !x.len().is_multiple_of(d) {
        return None;
    }
    let n = x.len() / d;
    let mut y = vec![0f64; d];
    for row in x.chunks(d) {
        for (a, &v) in y.iter_mut().zip(row) {
            *a += v as f64 / n as f64;
        }
    }
    let scale = x
        .iter()
        .map(|v| (*v as f64).abs())
        .fold(0.0, f64::max)
        .max(1e-30);
    for _ in 0..max_iter {
        let (mut num, mut den) = (vec![0f64; d], 0f64);
        for row in x.chunks(d) {
            let dist = row
                .iter()
                .zip(&y)
                .map(|(&a, &b)| (a as f64 - b).powi(2))
                .sum::<f64>()
                .sqrt()
                .max(1e-12 * scale);
            let w = 1.0 / dist;
            den += w;
            for (s, &v) in num.iter_mut().zip(row) {
                *s += w * v as f64;
            }
        }
        let next: Vec<f64> = num.iter().map(|s| s / den).collect();
        let shift = next
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        y = next;
        if !y.iter().all(|v| v.is_finite()) {
            return None;
        }
        if shift <= tol * scale {
            return Some(y.iter().map(|&v| v as f32).collect());
        }
    }
    None
}
