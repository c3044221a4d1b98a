//! SAELens: a folder with `cfg.json` + `sae_weights.safetensors` (`W_enc [d_in, d_sae]`,
//! `b_enc`, `W_dec [d_sae, d_in]`, `b_dec`, JumpReLU's `threshold`). Read and written.

use super::{
    ensure_finite, ensure_finite_matrices, folder_of, hook_required, is_or_holds, read_json,
    read_safetensors_in_place, take, take_matrix, Format,
};
use crate::hooks::HookPoint;
use crate::sae::{Activation, Sae, SaeMeta, SaeSpec};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde_json::Value;
use std::path::Path;

/// The SAELens format.
pub struct SaeLens;

impl Format for SaeLens {
    fn name(&self) -> &'static str {
        "saelens"
    }

    fn tag(&self) -> &'static str {
        "SaeLens"
    }

    fn folder_hint(&self) -> Option<&'static str> {
        Some("cfg.json + sae_weights.safetensors (SAELens)")
    }

    fn detect(&self, path: &Path) -> bool {
        is_or_holds(path, "sae_weights.safetensors")
    }

    fn load(&self, spec: &SaeSpec) -> Result<Sae> {
        load(spec)
    }

    fn save(
        &self,
        sae: &Sae,
        dir: &Path,
        model_name: &str,
        prepend_bos: bool,
        dtype: DType,
    ) -> Result<()> {
        save_saelens(sae, dir, model_name, prepend_bos, dtype)
    }
}

fn load(spec: &SaeSpec) -> Result<Sae> {
    let dir = folder_of(&spec.path);
    let cfg = read_json(&dir.join("cfg.json"))?;
    let meta = cfg.get("metadata").cloned().unwrap_or(Value::Null);
    let get = |k: &str| cfg.get(k).or_else(|| meta.get(k)).filter(|v| !v.is_null());
    let d_in = get("d_in")
        .and_then(Value::as_u64)
        .context("cfg.json: `d_in` is missing")? as usize;
    let d_sae = get("d_sae")
        .and_then(Value::as_u64)
        .context("cfg.json: `d_sae` is missing")? as usize;
    let hook_name = get("hook_name")
        .or_else(|| get("hook_point"))
        .and_then(Value::as_str);
    let found_hook = hook_name
        .map(str::parse::<HookPoint>)
        .transpose()
        .context("cfg.json: hook")?;
    let hook = hook_required(spec, found_hook, "this SAELens config")?;
    let arch = get("architecture")
        .and_then(Value::as_str)
        .unwrap_or("standard")
        .to_string();
    let act_str = get("activation_fn_str")
        .or_else(|| get("activation_fn"))
        .and_then(Value::as_str)
        .unwrap_or("relu")
        .to_string();
    let kwargs = get("activation_fn_kwargs").cloned().unwrap_or(Value::Null);
    let k = get("k")
        .or_else(|| kwargs.get("k"))
        .and_then(Value::as_u64)
        .map(|k| k as usize);
    let file = dir.join("sae_weights.safetensors");
    // The two big matrices are used in place from the file's map (copied when the scaling
    // factor must be folded in).
    let (mut w, mut mapped) = read_safetensors_in_place(&file, &["W_enc", "W_dec"])?;
    let mut threshold = None;
    let activation = match (arch.as_str(), act_str.as_str()) {
        ("jumprelu" | "batchtopk" | "jumprelu_skip_transcoder", _) => {
            threshold = Some(
                if w.contains_key("threshold") || !w.contains_key("log_threshold") {
                    ("threshold", take(&mut w, &["threshold"], &[d_sae], &file)?)
                } else {
                    (
                        "log_threshold (after exp)",
                        take(&mut w, &["log_threshold"], &[d_sae], &file)?.exp()?,
                    )
                },
            );
            Activation::JumpRelu { relu: true }
        }
        ("topk", _) | (_, "topk") => {
            Activation::TopK(k.context("cfg.json: a topk SAE without `k`")?)
        }
        ("standard", "relu") => Activation::Relu,
        ("gated", _) => bail!("gated SAELens SAEs are not supported yet"),
        (a, f) => bail!("unsupported SAELens architecture `{a}` with activation `{f}`"),
    };
    let activation = spec.activation.unwrap_or(activation);
    if matches!(activation, Activation::JumpRelu { .. }) && threshold.is_none() {
        bail!(
            "activation jumprelu needs a `threshold` tensor, which {} lacks",
            file.display()
        );
    }
    let norm = get("normalize_activations")
        .and_then(Value::as_str)
        .unwrap_or("none");
    if !matches!(norm, "none" | "") && spec.scale.is_none() {
        bail!(
            "cfg.json asks for normalize_activations=`{norm}`, which needs a dataset-specific scale: pass scale=FACTOR"
        );
    }
    let w_enc = take_matrix(&mut w, &mut mapped, &["W_enc"], [d_in, d_sae], &file)?;
    let b_enc = take(&mut w, &["b_enc"], &[d_sae], &file)?;
    let mut w_dec = take_matrix(&mut w, &mut mapped, &["W_dec"], [d_sae, d_in], &file)?;
    let b_dec = take(&mut w, &["b_dec"], &[d_in], &file)?;
    let scaling = if w.contains_key("scaling_factor") {
        Some(take(&mut w, &["scaling_factor"], &[d_sae], &file)?)
    } else {
        None
    };
    ensure_finite_matrices(
        spec,
        &file.display(),
        &[("W_enc", &w_enc), ("W_dec", &w_dec)],
    )?;
    let mut weights = vec![("b_enc", &b_enc), ("b_dec", &b_dec)];
    if let Some((name, t)) = &threshold {
        weights.push((name, t));
    }
    if let Some(s) = &scaling {
        weights.push(("scaling_factor", s));
    }
    ensure_finite(spec, &file.display(), &weights)?;
    if let Some(s) = scaling {
        // SAELens multiplies latents by it before decoding: fold it into the decoder rows.
        let scaled = w_dec.to_tensor()?.broadcast_mul(&s.reshape((d_sae, 1))?)?;
        ensure_finite(
            spec,
            &file.display(),
            &[("W_dec (times scaling_factor)", &scaled)],
        )?;
        w_dec = scaled.into();
    }
    let threshold = threshold.map(|(_, t)| t);
    let apply_b_dec = get("apply_b_dec_to_input")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Sae {
        meta: SaeMeta {
            path: spec.path.clone(),
            format: &SaeLens,
            d_in,
            d_sae,
            hook,
            model_name: get("model_name")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
        activation,
        w_enc,
        b_enc,
        w_dec: Some(w_dec),
        input_bias: apply_b_dec.then(|| b_dec.clone()),
        b_dec: Some(b_dec),
        threshold,
        input_scale: 1.0,
    })
}

/// The SAELens release whose `cfg.json` layout [`save_saelens`] writes. SAELens treats a
/// config without `metadata.sae_lens_version` as a legacy one and rebuilds its metadata,
/// dropping `hook_name` and `model_name`; with it they are kept.
pub const SAELENS_LAYOUT_VERSION: &str = "6.54.12";

/// Writes a trained SAE in SAELens format (`cfg.json` + `sae_weights.safetensors`), so
/// SAELens and every loader here read it: TopK as `topk` (with `k`), ReLU as `standard`,
/// JumpReLU as `jumprelu` with a `threshold` tensor (SAELens ≥ 6). `prepend_bos` records
/// whether the training contexts began with the tokenizer's BOS token.
pub fn save_saelens(
    sae: &Sae,
    dir: &Path,
    model_name: &str,
    prepend_bos: bool,
    dtype: DType,
) -> Result<()> {
    let dtype_name = match dtype {
        DType::F32 => "float32",
        DType::F16 => "float16",
        DType::BF16 => "bfloat16",
        other => bail!("SAE weights are saved as f32, f16 or bf16, not {other:?}"),
    };
    std::fs::create_dir_all(dir)?;
    let architecture = match sae.activation {
        Activation::TopK(_) => "topk",
        Activation::Relu => "standard",
        Activation::JumpRelu { relu: true } => "jumprelu",
        Activation::JumpRelu { relu: false } => bail!("SAELens has no JumpReLU without the ReLU"),
    };
    let mut cfg = serde_json::json!({
        "architecture": architecture, "d_in": sae.d_in(), "d_sae": sae.d_sae(),
        "dtype": dtype_name, "device": "cpu", "apply_b_dec_to_input": true, "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {"sae_lens_version": SAELENS_LAYOUT_VERSION, "sae_lens_training_version": null,
                     "model_name": model_name, "hook_name": sae.hook().to_string(), "hook_head_index": null,
                     "prepend_bos": prepend_bos, "trained_by": "safe-sail train-sae"},
    });
    if let Activation::TopK(k) = sae.activation {
        cfg["k"] = k.into();
        cfg["rescale_acts_by_decoder_norm"] = false.into();
    }
    crate::fsutil::write_atomic(
        &dir.join("cfg.json"),
        serde_json::to_string_pretty(&cfg)?.as_bytes(),
    )?;
    let cpu = |t: &Tensor| -> Result<Tensor> {
        Ok(t.to_dtype(dtype)?.to_device(&Device::Cpu)?.contiguous()?)
    };
    let mut m = std::collections::HashMap::new();
    m.insert("W_enc".to_string(), cpu(&sae.w_enc.to_tensor()?)?);
    m.insert("b_enc".to_string(), cpu(&sae.b_enc)?);
    m.insert(
        "W_dec".to_string(),
        cpu(&sae
            .w_dec
            .as_ref()
            .context("an SAE without a decoder")?
            .to_tensor()?)?,
    );
    m.insert(
        "b_dec".to_string(),
        cpu(sae.b_dec.as_ref().context("an SAE without b_dec")?)?,
    );
    if let Activation::JumpRelu { .. } = sae.activation {
        m.insert(
            "threshold".to_string(),
            cpu(sae
                .threshold
                .as_ref()
                .context("a JumpReLU SAE without thresholds")?)?,
        );
    }
    crate::tensor_util::save_safetensors_atomic(&m, &dir.join("sae_weights.safetensors"))
}

/// The file SAELens writes beside `sae_weights.safetensors` and SAELens / SAEBench read
/// (`sae_lens.constants.SPARSITY_FILENAME`): one tensor, `sparsity`, `[d_sae]` float32.
pub const SPARSITY_FILE: &str = "sparsity.safetensors";

/// The tensor's name in [`SPARSITY_FILE`].
pub const SPARSITY_TENSOR: &str = "sparsity";

/// Added to the density before the logarithm, as SAELens's trainer does, so dead latents
/// get `log10(1e-10) = -10` rather than minus infinity.
pub const SPARSITY_EPS: f64 = 1e-10;

/// Writes `sparsity.safetensors` into an SAE folder: `log10(density + 1e-10)` per latent
/// (density = fraction of tokens on which the latent is > 0), atomically.
pub fn save_sparsity(dir: &Path, density: &[f64]) -> Result<()> {
    if let Some((i, d)) = density
        .iter()
        .enumerate()
        .find(|(_, d)| !(0.0..=1.0).contains(*d))
    {
        bail!("latent {i}: density {d} is not within [0, 1]");
    }
    let log: Vec<f32> = density
        .iter()
        .map(|d| (d + SPARSITY_EPS).log10() as f32)
        .collect();
    let n = log.len();
    let mut m = std::collections::HashMap::new();
    m.insert(
        SPARSITY_TENSOR.to_string(),
        Tensor::from_vec(log, n, &Device::Cpu)?,
    );
    crate::tensor_util::save_safetensors_atomic(&m, &dir.join(SPARSITY_FILE))
}

/// Reads an SAE folder's `sparsity.safetensors` (log10 densities, as f32), or `None` when the
/// folder has none. With `d_sae`, a tensor of another length is an error naming the file.
pub fn load_sparsity(dir: &Path, d_sae: Option<usize>) -> Result<Option<Vec<f32>>> {
    let file = dir.join(SPARSITY_FILE);
    if !file.exists() {
        return Ok(None);
    }
    let tensors = candle_core::safetensors::load(&file, &Device::Cpu)
        .with_context(|| format!("{} is not a readable safetensors file", file.display()))?;
    let t = tensors.get(SPARSITY_TENSOR).with_context(|| {
        format!(
            "{} has no `{SPARSITY_TENSOR}` tensor (found: {:?})",
            file.display(),
            tensors.keys().collect::<Vec<_>>()
        )
    })?;
    let v = t
        .flatten_all()?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()
        .with_context(|| format!("{}: `{SPARSITY_TENSOR}`", file.display()))?;
    if t.rank() != 1 {
        bail!(
            "{}: `{SPARSITY_TENSOR}` has shape {:?}, expected [d_sae]",
            file.display(),
            t.dims()
        );
    }
    if let Some(d) = d_sae.filter(|&d| d != v.len()) {
        bail!(
            "{}: `{SPARSITY_TENSOR}` has {} values but the SAE has {d} latents",
            file.display(),
            v.len()
        );
    }
    Ok(Some(v))
}

#[cfg(test)]
mod sparsity_tests {
    use super::*;

    #[test]
    fn sparsity_round_trips_as_log10_density() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_sparsity(dir.path(), None).unwrap(), None);
        save_sparsity(dir.path(), &[0.0, 0.001, 1.0, 0.25]).unwrap();
        let v = load_sparsity(dir.path(), Some(4)).unwrap().unwrap();
        let want = [-10.0f32, -3.0, 0.0, 0.25f64.log10() as f32];
        for (a, b) in v.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{v:?}");
        }
        let err = load_sparsity(dir.path(), Some(5)).unwrap_err().to_string();
        assert!(
            err.contains("sparsity.safetensors") && err.contains("5 latents"),
            "{err}"
        );
        assert!(save_sparsity(dir.path(), &[1.5]).is_err());
        std::fs::write(dir.path().join(SPARSITY_FILE), b"junk").unwrap();
        let err = format!("{:#}", load_sparsity(dir.path(), None).unwrap_err());
        assert!(err.contains("sparsity.safetensors"), "{err}");
    }
}
