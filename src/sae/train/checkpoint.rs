//! A trainer's state as tensors, and a trainer restored from them, so that a resumed run
//! continues bit for bit like an uninterrupted one.

use super::params::Params;
use super::{SaeTrainer, TrainConfig};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, Var};
use std::collections::HashMap;

impl SaeTrainer {
    /// Everything a checkpoint needs besides the config, step and dead counters: the
    /// parameters and Adam's moments, named `{prefix}{name}`, `{prefix}adam_m.{name}`, ….
    pub fn state_tensors(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = vec![];
        for (which, p) in self.params.iter() {
            let name = which.name();
            let (m, v) = (self.m.get(which), self.v.get(which));
            out.push((format!("{prefix}{name}"), p.as_tensor().detach()));
            out.push((
                format!("{prefix}adam_m.{name}"),
                m.expect("a moment").clone(),
            ));
            out.push((
                format!("{prefix}adam_v.{name}"),
                v.expect("a moment").clone(),
            ));
        }
        out
    }

    /// A trainer restored from a checkpoint: `cfg` as it was (with its resolved bandwidth),
    /// the tensors of [`Self::state_tensors`], the step and the dead counters.
    pub fn restore(
        cfg: TrainConfig,
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        step: usize,
        since_fired: Vec<u64>,
        device: &Device,
    ) -> Result<Self> {
        let get = |name: String| -> Result<Tensor> {
            Ok(tensors
                .get(&name)
                .with_context(|| format!("the checkpoint lacks `{name}`"))?
                .to_dtype(DType::F32)?
                .to_device(device)?)
        };
        let with_theta = cfg.arch.objective().learns_threshold();
        let state = Params::try_build(with_theta, |which| {
            let name = which.name();
            Ok((
                Var::from_tensor(&get(format!("{prefix}{name}"))?)?,
                get(format!("{prefix}adam_m.{name}"))?,
                get(format!("{prefix}adam_v.{name}"))?,
            ))
        })?;
        let params = state.try_map(|(p, _, _)| Ok(p.clone()))?;
        let m = state.try_map(|(_, m, _)| Ok(m.clone()))?;
        let v = state.try_map(|(_, _, v)| Ok(v.clone()))?;
        if params.w_enc.as_tensor().dims() != [cfg.d_in, cfg.d_sae]
            || since_fired.len() != cfg.d_sae
        {
            bail!("the checkpoint's shapes do not match the configuration");
        }
        Ok(Self {
            cfg,
            params,
            m,
            v,
            step,
            since_fired,
        })
    }
}
