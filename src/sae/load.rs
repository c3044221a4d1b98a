//! SAE loaders for every format we read, chosen from what is at the path:
//!
//! * SAELens: a folder with `cfg.json` + `sae_weights.safetensors`
//! * EleutherAI sparsify: a folder with `cfg.json` + `sae.safetensors`
//! * Gemma Scope: `params.npz` (or `params.safetensors`, Gemma Scope 2)
//! * Safe-SAIL: a PyTorch `.pt` state dict of the `sparse_autoencoder` library
//!
//! On the command line an SAE is `PATH[,key=value...]`; keys: `hook`, `activation`
//! (`relu`, `topk:K`, `jumprelu`), `component`, `format`, `scale`.

use super::{Activation, Sae, SaeFormat, SaeMeta};
use crate::hooks::HookPoint;
use crate::pt::read_pt;
use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// An SAE as named on the command line or in a workspace: a path plus options.
#[derive(Debug, Clone, PartialEq)]
pub struct SaeSpec {
    pub path: PathBuf,
    pub hook: Option<HookPoint>,
    pub activation: Option<Activation>,
    pub component: usize,
    pub format: Option<SaeFormat>,
    pub scale: Option<f64>,
}

impl std::str::FromStr for SaeSpec {
    type Err = anyhow::Error;

    /// Parses `PATH[,key=value...]`.
    fn from_str(s: &str) -> Result<Self> {
        let mut parts = s.split(',');
        let path = parts.next().unwrap_or("").trim();
        if path.is_empty() {
            bail!("SAE `{s}`: the path is empty");
        }
        let mut spec = SaeSpec {
            path: PathBuf::from(path),
            hook: None,
            activation: None,
            component: 0,
            format: None,
            scale: None,
        };
        for kv in parts {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| anyhow!("SAE `{s}`: option `{kv}` is not key=value"))?;
            let (k, v) = (k.trim(), v.trim());
            match k {
                "hook" => spec.hook = Some(v.parse()?),
                "activation" => spec.activation = Some(Activation::parse(v)?),
                "component" => {
                    spec.component = v.parse().with_context(|| format!("SAE `{s}`: component `{v}` is not a number"))?
                }
                "format" => {
                    spec.format = Some(match v {
                        "saelens" => SaeFormat::SaeLens,
                        "safe-sail" | "safesail" => SaeFormat::SafeSail,
                        "gemma-scope" | "gemmascope" => SaeFormat::GemmaScope,
                        "sparsify" => SaeFormat::Sparsify,
                        _ => bail!("SAE `{s}`: unknown format `{v}` (saelens, safe-sail, gemma-scope, sparsify)"),
                    })
                }
                "scale" => spec.scale = Some(v.parse().with_context(|| format!("SAE `{s}`: scale `{v}` is not a number"))?),
                _ => bail!("SAE `{s}`: unknown option `{k}` (known: hook, activation, component, format, scale)"),
            }
        }
        Ok(spec)
    }
}

/// Detects the format at a path.
fn detect(path: &Path) -> Result<SaeFormat> {
    if !path.exists() {
        bail!("SAE path {} does not exist", path.display());
    }
    if path.is_dir() {
        if path.join("sae_weights.safetensors").exists() {
            return Ok(SaeFormat::SaeLens);
        }
        if path.join("sae.safetensors").exists() {
            return Ok(SaeFormat::Sparsify);
        }
        if path.join("params.npz").exists() || path.join("params.safetensors").exists() {
            return Ok(SaeFormat::GemmaScope);
        }
        bail!(
            "{} holds no SAE I know: expected cfg.json + sae_weights.safetensors (SAELens), \
             cfg.json + sae.safetensors (sparsify) or params.npz (Gemma Scope)",
            path.display()
        );
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match path.extension().and_then(|e| e.to_str()) {
        Some("pt" | "pth" | "bin" | "ckpt") => Ok(SaeFormat::SafeSail),
        Some("npz") => Ok(SaeFormat::GemmaScope),
        Some("safetensors") if name == "sae_weights.safetensors" => Ok(SaeFormat::SaeLens),
        Some("safetensors") if name == "sae.safetensors" => Ok(SaeFormat::Sparsify),
        Some("safetensors") if name == "params.safetensors" => Ok(SaeFormat::GemmaScope),
        _ => bail!(
            "cannot tell the SAE format of {} (pass format=...)",
            path.display()
        ),
    }
}

/// Loads an SAE onto `device` (weights in f32).
pub fn load_sae(spec: &SaeSpec, device: &Device) -> Result<Sae> {
    let format = match spec.format {
        Some(f) => f,
        None => detect(&spec.path)?,
    };
    let sae = match format {
        SaeFormat::SaeLens => load_saelens(spec),
        SaeFormat::Sparsify => load_sparsify(spec),
        SaeFormat::GemmaScope => load_gemmascope(spec),
        SaeFormat::SafeSail => load_safesail(spec),
    }
    .with_context(|| format!("cannot load {} SAE {}", format.name(), spec.path.display()))?;
    let mut sae = sae;
    if let Some(s) = spec.scale {
        sae.input_scale = s;
    }
    to_device(sae, device)
}

fn to_device(mut s: Sae, d: &Device) -> Result<Sae> {
    let mv = |t: Tensor| -> Result<Tensor> { Ok(t.to_dtype(DType::F32)?.to_device(d)?) };
    s.w_enc = mv(s.w_enc)?;
    s.b_enc = mv(s.b_enc)?;
    s.w_dec = s.w_dec.map(mv).transpose()?;
    s.b_dec = s.b_dec.map(mv).transpose()?;
    s.input_bias = s.input_bias.map(mv).transpose()?;
    s.threshold = s.threshold.map(mv).transpose()?;
    Ok(s)
}

fn folder_of(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

fn read_safetensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    if !path.exists() {
        bail!("{} is missing", path.display());
    }
    candle_core::safetensors::load(path, &Device::Cpu)
        .map_err(|e| anyhow!("{} is not a valid safetensors file: {e}", path.display()))
}

/// Takes a tensor out of a map, checking its shape.
fn take(
    map: &mut HashMap<String, Tensor>,
    names: &[&str],
    shape: &[usize],
    file: &Path,
) -> Result<Tensor> {
    let (name, t) = names
        .iter()
        .find_map(|n| map.remove(*n).map(|t| (*n, t)))
        .ok_or_else(|| {
            let mut have: Vec<&String> = map.keys().collect();
            have.sort();
            anyhow!(
                "tensor `{}` is missing from {} (it has {:?})",
                names[0],
                file.display(),
                have
            )
        })?;
    if t.dims() != shape {
        bail!(
            "tensor `{name}` in {} has shape {:?}, expected {:?}",
            file.display(),
            t.dims(),
            shape
        );
    }
    Ok(t.to_dtype(DType::F32)?)
}

fn hook_required(spec: &SaeSpec, found: Option<HookPoint>, what: &str) -> Result<HookPoint> {
    spec.hook.or(found).ok_or_else(|| {
        anyhow!(
            "{what} does not record its hook point: give it, e.g. `{},hook=blocks.8.hook_mlp_out`",
            spec.path.display()
        )
    })
}

fn load_saelens(spec: &SaeSpec) -> Result<Sae> {
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
    let mut w = read_safetensors(&file)?;
    let mut threshold = None;
    let activation = match (arch.as_str(), act_str.as_str()) {
        ("jumprelu" | "batchtopk" | "jumprelu_skip_transcoder", _) => {
            threshold = Some(match take(&mut w, &["threshold"], &[d_sae], &file) {
                Ok(t) => t,
                Err(_) => take(&mut w, &["log_threshold"], &[d_sae], &file)?.exp()?,
            });
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
    let w_enc = take(&mut w, &["W_enc"], &[d_in, d_sae], &file)?;
    let b_enc = take(&mut w, &["b_enc"], &[d_sae], &file)?;
    let mut w_dec = take(&mut w, &["W_dec"], &[d_sae, d_in], &file)?;
    let b_dec = take(&mut w, &["b_dec"], &[d_in], &file)?;
    if let Some(s) = w.remove("scaling_factor") {
        // SAELens multiplies latents by it before decoding: fold it into the decoder rows.
        w_dec = w_dec.broadcast_mul(&s.to_dtype(DType::F32)?.reshape((d_sae, 1))?)?;
    }
    let apply_b_dec = get("apply_b_dec_to_input")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Sae {
        meta: SaeMeta {
            path: spec.path.clone(),
            format: SaeFormat::SaeLens,
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

fn load_sparsify(spec: &SaeSpec) -> Result<Sae> {
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
    let enc = w
        .get("encoder.weight")
        .context("tensor `encoder.weight` is missing")?;
    let (d_sae, d_in) = enc.dims2()?;
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
    Ok(Sae {
        meta: SaeMeta {
            path: spec.path.clone(),
            format: SaeFormat::Sparsify,
            d_in,
            d_sae,
            hook,
            model_name: None,
        },
        activation: spec.activation.unwrap_or(Activation::TopK(k)),
        w_enc,
        b_enc,
        w_dec: Some(w_dec),
        input_bias: Some(b_dec.clone()),
        b_dec: Some(b_dec),
        threshold: None,
        input_scale: 1.0,
    })
}

/// Guesses a Gemma Scope hook from a path like `.../gemma-scope-2b-pt-res/layer_20/width_16k/...`.
fn gemmascope_hook_from_path(path: &Path) -> Option<HookPoint> {
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

fn load_gemmascope(spec: &SaeSpec) -> Result<Sae> {
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
        Tensor::read_npz(&file)
            .map_err(|e| anyhow!("{} is not a readable .npz file: {e}", file.display()))?
            .into_iter()
            .collect()
    } else {
        read_safetensors(&file)?
    };
    let enc = w
        .get("W_enc")
        .or_else(|| w.get("w_enc"))
        .with_context(|| format!("tensor `W_enc` is missing from {}", file.display()))?;
    let (d_in, d_sae) = enc.dims2()?;
    let hook = hook_required(
        spec,
        gemmascope_hook_from_path(&spec.path),
        "a Gemma Scope file",
    )?;
    Ok(Sae {
        meta: SaeMeta {
            path: spec.path.clone(),
            format: SaeFormat::GemmaScope,
            d_in,
            d_sae,
            hook,
            model_name: None,
        },
        activation: spec
            .activation
            .unwrap_or(Activation::JumpRelu { relu: true }),
        w_enc: take(&mut w, &["W_enc", "w_enc"], &[d_in, d_sae], &file)?,
        b_enc: take(&mut w, &["b_enc"], &[d_sae], &file)?,
        w_dec: Some(take(&mut w, &["W_dec", "w_dec"], &[d_sae, d_in], &file)?),
        b_dec: Some(take(&mut w, &["b_dec"], &[d_in], &file)?),
        input_bias: None,
        threshold: Some(take(&mut w, &["threshold"], &[d_sae], &file)?),
        input_scale: 1.0,
    })
}

fn load_safesail(spec: &SaeSpec) -> Result<Sae> {
    let file = &spec.path;
    let mut w: HashMap<String, Tensor> = read_pt(file)?.into_iter().collect();
    if w.contains_key(crate::pt::BARE_TENSOR) {
        bail!(
            "{} holds a single tensor, not an SAE state dict (is it a neuron-index file?)",
            file.display()
        );
    }
    let enc = w.get("encoder.weight").with_context(|| {
        let mut have: Vec<&String> = w.keys().collect();
        have.sort();
        format!(
            "tensor `encoder.weight` is missing from {} (it has {have:?})",
            file.display()
        )
    })?;
    // [components, d_sae, d_in], or [d_sae, d_in] for a single component.
    let enc = if enc.rank() == 2 {
        enc.unsqueeze(0)?
    } else {
        enc.clone()
    };
    let (n_comp, d_sae, d_in) = enc
        .dims3()
        .context("`encoder.weight` must be [components, latents, d_in]")?;
    let c = spec.component;
    if c >= n_comp {
        bail!("component {c} does not exist: the checkpoint has {n_comp} component(s)");
    }
    let mut pick = |name: &str, inner: &[usize]| -> Result<Option<Tensor>> {
        let Some(t) = w.remove(name) else {
            return Ok(None);
        };
        let t = t.to_dtype(DType::F32)?;
        let t = if t.rank() == inner.len() {
            t.unsqueeze(0)?
        } else {
            t
        };
        let mut want = vec![n_comp];
        want.extend_from_slice(inner);
        if t.dims() != want.as_slice() {
            bail!(
                "tensor `{name}` in {} has shape {:?}, expected {:?}",
                file.display(),
                t.dims(),
                want
            );
        }
        Ok(Some(t.get(c)?.contiguous()?))
    };
    let w_enc = pick("encoder.weight", &[d_sae, d_in])?
        .unwrap()
        .t()?
        .contiguous()?;
    let b_enc = pick("encoder.bias", &[d_sae])?.context("tensor `encoder.bias` is missing")?;
    let theta = pick("encoder.theta", &[d_sae])?;
    let pre_bias = pick("pre_encoder_bias._bias_reference", &[d_in])?;
    let post_bias = match pick("post_decoder_bias._bias_reference", &[d_in])? {
        Some(b) => Some(b),
        None => pre_bias.clone(),
    };
    let w_dec = pick("decoder.weight", &[d_in, d_sae])?
        .map(|t| t.t()?.contiguous())
        .transpose()?;
    let activation = match (&theta, spec.activation) {
        (Some(_), None) => Activation::JumpRelu { relu: false },
        (Some(_), Some(Activation::JumpRelu { .. })) => Activation::JumpRelu { relu: false },
        (_, Some(a)) => a,
        (None, None) => bail!(
            "Safe-SAIL checkpoints do not record their activation: add activation=topk:200 \
             (the paper's SAEs) or activation=relu"
        ),
    };
    if matches!(activation, Activation::JumpRelu { .. }) && theta.is_none() {
        bail!(
            "activation jumprelu needs `encoder.theta`, which {} lacks",
            file.display()
        );
    }
    let hook = hook_required(spec, None, "a Safe-SAIL checkpoint")?;
    Ok(Sae {
        meta: SaeMeta {
            path: spec.path.clone(),
            format: SaeFormat::SafeSail,
            d_in,
            d_sae,
            hook,
            model_name: None,
        },
        activation,
        w_enc,
        b_enc,
        w_dec,
        b_dec: post_bias,
        input_bias: pre_bias,
        threshold: theta,
        input_scale: 1.0,
    })
}

/// Reads a Safe-SAIL neuron-index file (`indices_layer{L}.pt`: a bare 1-D int64 tensor).
pub fn read_index_file(path: &Path) -> Result<Vec<i64>> {
    let tensors = read_pt(path)?;
    let (name, t) = match tensors.as_slice() {
        [one] => one,
        many => bail!(
            "{} holds {} tensors; a neuron-index file holds one",
            path.display(),
            many.len()
        ),
    };
    if t.rank() != 1 {
        bail!(
            "tensor `{name}` in {} has shape {:?}; a neuron-index file holds a 1-D tensor",
            path.display(),
            t.dims()
        );
    }
    Ok(t.to_dtype(DType::I64)?.to_vec1::<i64>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spec_options() {
        let s: SaeSpec =
            "ckpt_layer17.pt,hook=blocks.17.hook_mlp_out,activation=topk:200,component=1"
                .parse()
                .unwrap();
        assert_eq!(s.path, PathBuf::from("ckpt_layer17.pt"));
        assert_eq!(s.hook.unwrap().to_string(), "blocks.17.hook_mlp_out");
        assert_eq!(s.activation, Some(Activation::TopK(200)));
        assert_eq!(s.component, 1);
        assert!("x.pt,colour=red".parse::<SaeSpec>().is_err());
        assert!("x.pt,hook".parse::<SaeSpec>().is_err());
        assert!(",hook=blocks.1.hook_mlp_out".parse::<SaeSpec>().is_err());
    }

    #[test]
    fn guesses_gemma_scope_hooks() {
        let h = gemmascope_hook_from_path(Path::new(
            "gemma-scope-2b-pt-res/layer_20/width_16k/average_l0_71/params.npz",
        ));
        assert_eq!(h.unwrap().to_string(), "blocks.20.hook_resid_post");
        assert!(gemmascope_hook_from_path(Path::new("x/params.npz")).is_none());
    }
}
