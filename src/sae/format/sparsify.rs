//! EleutherAI sparsify: a folder (named after its hook) with `cfg.json` + `sae.safetensors`
//! (`encoder.weight [d_sae, d_in]`, `encoder.bias`, `W_dec`, `b_dec`); TopK only.

use super::{
    ensure_finite, folder_of, hook_required, is_or_holds, read_json, read_safetensors, take, Format,
};
use crate::hooks::HookPoint;
use crate::sae::{Activation, Sae, SaeMeta, SaeSpec};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::Path;

/// The sparsify format.
pub struct Sparsify;

impl Format for Sparsify {
    fn name(&self) -> &'static str {
        "sparsify"
    }

    fn tag(&self) -> &'static str {
        "Sparsify"
    }

    fn folder_hint(&self) -> Option<&'static str> {
        Some("cfg.json + sae.safetensors (sparsify)")
    }

    fn detect(&self, path: &Path) -> bool {
        is_or_holds(path, "sae.safetensors")
    }

    fn load(&self, spec: &SaeSpec) -> Result<Sae> {
        let dir = folder_of(&spec.path);
        let cfg = read_json(&dir.join("cfg.json"))?;
        let act = cfg
            .get("activation")
            .and_then(Value::as_str)
            .unwrap_or("topk");
        if act != "topk" {
            bail!("sparsify activation `{act}` is not supported (only topk)");
        }
        for flag in ["skip_connection", "transcode"] {
            if cfg.get(flag).and_then(Value::as_bool) == Some(true) {
                bail!("sparsify `{flag}` SAEs are not supported");
            }
        }
        let k = cfg
            .get("k")
            .and_then(Value::as_u64)
            .context("cfg.json: `k` is missing")? as usize;
        let file = dir.join("sae.safetensors");
        let mut w = read_safetensors(&file)?;
        let enc = w.get("encoder.weight").with_context(|| {
            format!("tensor `encoder.weight` is missing from {}", file.display())
        })?;
        let (d_sae, d_in) = enc.dims2().with_context(|| {
            format!(
                "tensor `encoder.weight` in {} has shape {:?}, expected [latents, d_in]",
                file.display(),
                enc.dims()
            )
        })?;
        let found = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<HookPoint>().ok());
        let hook = hook_required(spec, found, "this sparsify folder name")?;
        let w_enc = take(&mut w, &["encoder.weight"], &[d_sae, d_in], &file)?
            .t()?
            .contiguous()?;
        let b_enc = take(&mut w, &["encoder.bias"], &[d_sae], &file)?;
        let w_dec = take(&mut w, &["W_dec"], &[d_sae, d_in], &file)?;
        let b_dec = take(&mut w, &["b_dec"], &[d_in], &file)?;
        ensure_finite(
            spec,
            &file.display(),
            &[
                ("encoder.weight", &w_enc),
                ("encoder.bias", &b_enc),
                ("W_dec", &w_dec),
                ("b_dec", &b_dec),
            ],
        )?;
        Ok(Sae {
            meta: SaeMeta {
                path: spec.path.clone(),
                format: &Sparsify,
                d_in,
                d_sae,
                hook,
                model_name: None,
            },
            activation: spec.activation.unwrap_or(Activation::TopK(k)),
            w_enc: w_enc.into(),
            b_enc,
            w_dec: Some(w_dec.into()),
            input_bias: Some(b_dec.clone()),
            b_dec: Some(b_dec),
            threshold: None,
            input_scale: 1.0,
        })
    }
}
