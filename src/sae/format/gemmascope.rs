//! Gemma Scope: `params.npz` (`W_enc [d_in, d_sae]`, `b_enc`, `W_dec`, `b_dec`,
//! `threshold`), or `params.safetensors` (Gemma Scope 2); JumpReLU. The hook comes from the
//! path (`.../gemma-scope-2b-pt-res/layer_20/...`) when not given.

use super::{ensure_finite, hook_required, read_safetensors, take, Format};
use crate::hooks::HookPoint;
use crate::sae::{Activation, Sae, SaeMeta, SaeSpec};
use anyhow::{Context, Result};
use candle_core::Tensor;
use std::collections::HashMap;
use std::path::Path;

/// The Gemma Scope format.
pub struct GemmaScope;

impl Format for GemmaScope {
    fn name(&self) -> &'static str {
        "gemma-scope"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["gemmascope"]
    }

    fn tag(&self) -> &'static str {
        "GemmaScope"
    }

    fn folder_hint(&self) -> Option<&'static str> {
        Some("params.npz (Gemma Scope)")
    }

    fn detect(&self, path: &Path) -> bool {
        if path.is_dir() {
            return path.join("params.npz").exists() || path.join("params.safetensors").exists();
        }
        path.extension().and_then(|e| e.to_str()) == Some("npz")
            || path.file_name().and_then(|n| n.to_str()) == Some("params.safetensors")
    }

    fn load(&self, spec: &SaeSpec) -> Result<Sae> {
        let file = if spec.path.is_dir() {
            let npz = spec.path.join("params.npz");
            if npz.exists() {
                npz
            } else {
                spec.path.join("params.safetensors")
            }
        } else {
            spec.path.clone()
        };
        let mut w: HashMap<String, Tensor> = if file.extension().is_some_and(|e| e == "npz") {
            super::npz::read_npz(&file)?
        } else {
            read_safetensors(&file)?
        };
        let enc = w
            .get("W_enc")
            .or_else(|| w.get("w_enc"))
            .with_context(|| format!("tensor `W_enc` is missing from {}", file.display()))?;
        let (d_in, d_sae) = enc.dims2().with_context(|| {
            format!(
                "tensor `W_enc` in {} has shape {:?}, expected [d_in, d_sae]",
                file.display(),
                enc.dims()
            )
        })?;
        let hook = hook_required(spec, hook_from_path(&spec.path), "a Gemma Scope file")?;
        let w_enc = take(&mut w, &["W_enc", "w_enc"], &[d_in, d_sae], &file)?;
        let b_enc = take(&mut w, &["b_enc"], &[d_sae], &file)?;
        let w_dec = take(&mut w, &["W_dec", "w_dec"], &[d_sae, d_in], &file)?;
        let b_dec = take(&mut w, &["b_dec"], &[d_in], &file)?;
        let threshold = take(&mut w, &["threshold"], &[d_sae], &file)?;
        ensure_finite(
            spec,
            &file.display(),
            &[
                ("W_enc", &w_enc),
                ("b_enc", &b_enc),
                ("W_dec", &w_dec),
                ("b_dec", &b_dec),
                ("threshold", &threshold),
            ],
        )?;
        Ok(Sae {
            meta: SaeMeta {
                path: spec.path.clone(),
                format: &GemmaScope,
                d_in,
                d_sae,
                hook,
                model_name: None,
            },
            activation: spec
                .activation
                .unwrap_or(Activation::JumpRelu { relu: true }),
            w_enc: w_enc.into(),
            b_enc,
            w_dec: Some(w_dec.into()),
            b_dec: Some(b_dec),
            input_bias: None,
            threshold: Some(threshold),
            input_scale: 1.0,
        })
    }
}

/// Guesses a Gemma Scope hook from a path like `.../gemma-scope-2b-pt-res/layer_20/width_16k/...`.
fn hook_from_path(path: &Path) -> Option<HookPoint> {
    let s = path.to_string_lossy();
    let layer: usize = s
        .split("layer_")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    let site = if s.contains("-res") || s.contains("resid_post") {
        "hook_resid_post"
    } else if s.contains("-mlp") || s.contains("mlp_out") {
        "hook_mlp_out"
    } else if s.contains("attn_out") {
        "hook_attn_out"
    } else {
        return None;
    };
    format!("blocks.{layer}.{site}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_gemma_scope_hooks() {
        let h = hook_from_path(Path::new(
            "gemma-scope-2b-pt-res/layer_20/width_16k/average_l0_71/params.npz",
        ));
        assert_eq!(h.unwrap().to_string(), "blocks.20.hook_resid_post");
        assert!(hook_from_path(Path::new("x/params.npz")).is_none());
    }
}
