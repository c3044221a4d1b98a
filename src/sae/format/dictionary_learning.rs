//! dictionary_learning (the `dictionary-learning` package of saprmarks/dictionary_learning): a
//! folder with `ae.pt`, the dictionary's PyTorch state dict, and `config.json`, whose `trainer`
//! holds the trainer's settings (`dict_class`, `activation_dim`, `dict_size`, `k`, `layer`,
//! `submodule_name`, `lm_name`) and `buffer` the activation buffer's (`io`).
//!
//! The classes read, with their encoders as the package's `encode` runs them:
//!
//! * `AutoEncoder`: `relu(encoder(x − bias))`, decoded `decoder(f) + bias`. As the package's
//!   `from_pretrained` does, decoder columns not of unit norm are normalised and their norms
//!   folded into the encoder.
//! * `AutoEncoderTopK`: the k largest of `relu(encoder(x − b_dec))` per token.
//! * `BatchTopKSAE`, `MatryoshkaBatchTopKSAE`: `relu(pre) · [relu(pre) > threshold]` with the
//!   one threshold the trainer calibrated, the package's default at inference: a token's
//!   latents do not depend on the rest of its batch (a JumpReLU with that threshold on every
//!   latent). `k=K` gives per-token TopK instead.
//! * `JumpReluAutoEncoder`: `relu(pre) · [pre > θ]` with per-latent θ, no input bias.
//!
//! The hook point comes from `submodule_name` ([`hook_from_submodule`]) unless `hook=` names it.

use super::{ensure_finite, folder_of, is_or_holds, read_json, take, Format};
use crate::hooks::{HookPoint, HookSite};
use crate::pt::read_pt;
use crate::sae::{Activation, Sae, SaeMeta, SaeSpec};
use anyhow::{anyhow, bail, Context, Result};
use candle_core::Tensor;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// The dictionary_learning format.
pub struct DictionaryLearning;

/// The dictionary classes read, as `dict_class` names them.
const CLASSES: &str =
    "AutoEncoder, AutoEncoderTopK, BatchTopKSAE, MatryoshkaBatchTopKSAE and JumpReluAutoEncoder";

impl Format for DictionaryLearning {
    fn name(&self) -> &'static str {
        "dictionary-learning"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["dictionary_learning"]
    }

    fn tag(&self) -> &'static str {
        "DictionaryLearning"
    }

    fn folder_hint(&self) -> Option<&'static str> {
        Some("ae.pt + config.json (dictionary_learning)")
    }

    fn detect(&self, path: &Path) -> bool {
        is_or_holds(path, "ae.pt")
    }

    fn load(&self, spec: &SaeSpec) -> Result<Sae> {
        let dir = folder_of(&spec.path);
        let cfg_path = dir.join("config.json");
        if !cfg_path.exists() {
            bail!(
                "{} is missing: a dictionary_learning SAE is a folder with ae.pt and config.json",
                cfg_path.display()
            );
        }
        let cfg = read_json(&cfg_path)?;
        let trainer = cfg
            .get("trainer")
            .filter(|t| t.is_object())
            .with_context(|| format!("{}: `trainer` is missing", cfg_path.display()))?;
        let class = trainer
            .get("dict_class")
            .and_then(Value::as_str)
            .with_context(|| format!("{}: `trainer.dict_class` is missing", cfg_path.display()))?;
        let usize_of = |key: &str| trainer.get(key).and_then(Value::as_u64).map(|x| x as usize);
        let file = dir.join("ae.pt");
        let mut w: HashMap<String, Tensor> = read_pt(&file)?.into_iter().collect();
        // The sizes config.json states; without them, the encoder's.
        let (enc_name, enc_transposed) = match class {
            "MatryoshkaBatchTopKSAE" | "JumpReluAutoEncoder" => ("W_enc", true),
            _ => ("encoder.weight", false),
        };
        let (d_in, d_sae) = match (usize_of("activation_dim"), usize_of("dict_size")) {
            (Some(d_in), Some(d_sae)) => (d_in, d_sae),
            _ => {
                let enc = w.get(enc_name).with_context(|| {
                    format!("tensor `{enc_name}` is missing from {}", file.display())
                })?;
                let (a, b) = enc.dims2()?;
                if enc_transposed {
                    (a, b)
                } else {
                    (b, a)
                }
            }
        };
        // (Whether k fits d_sae is checked with every format's, after loading.)
        let k = || -> Result<usize> {
            usize_of("k").filter(|k| *k > 0).with_context(|| {
                format!(
                    "{}: `trainer.k` is missing or not a positive integer",
                    cfg_path.display()
                )
            })
        };
        let parts = match class {
            "AutoEncoder" => linear(&mut w, &file, d_in, d_sae, "bias", Activation::Relu),
            "AutoEncoderTopK" => {
                linear(&mut w, &file, d_in, d_sae, "b_dec", Activation::TopK(k()?))
            }
            "BatchTopKSAE" => linear(&mut w, &file, d_in, d_sae, "b_dec", jump())
                .and_then(|p| with_batch_threshold(p, &mut w, &file, d_sae)),
            "MatryoshkaBatchTopKSAE" => params(&mut w, &file, d_in, d_sae, true, jump())
                .and_then(|p| with_batch_threshold(p, &mut w, &file, d_sae)),
            "JumpReluAutoEncoder" => {
                params(&mut w, &file, d_in, d_sae, false, jump()).and_then(|mut p| {
                    p.threshold = Some(take(&mut w, &["threshold"], &[d_sae], &file)?);
                    p.names[4] = "threshold";
                    Ok(p)
                })
            }
            other => bail!(
                "{}: dictionary class `{other}` is not supported (supported: {CLASSES})",
                cfg_path.display()
            ),
        };
        let mut parts = parts.with_context(|| {
            format!(
                "{} does not hold the {class} that {} describes (activation_dim {d_in}, dict_size {d_sae})",
                file.display(),
                cfg_path.display()
            )
        })?;
        // NaN or ±Inf weights are refused (unless allow_nonfinite), named as in ae.pt.
        ensure_finite(spec, &file.display(), &parts.named())?;
        if class == "AutoEncoder" {
            parts = normalize_decoder(parts)?;
            ensure_finite(
                spec,
                &file.display(),
                &[
                    ("encoder.weight (times the decoder norms)", &parts.w_enc),
                    ("encoder.bias (times the decoder norms)", &parts.b_enc),
                    ("decoder.weight (normalised)", &parts.w_dec),
                ],
            )?;
        }
        if let Some(a) = spec.activation {
            parts.activation = a;
        }
        // (`threshold=` supplies one after loading.)
        if matches!(parts.activation, Activation::JumpRelu { .. })
            && parts.threshold.is_none()
            && spec.threshold.is_none()
        {
            if class.contains("BatchTopK") {
                bail!(
                    "the threshold in {} was never calibrated (it is below 0: the SAE was trained \
                     for fewer steps than threshold_start_step): use per-token TopK with k=K, or \
                     give threshold=T",
                    file.display()
                );
            }
            bail!(
                "activation jumprelu needs thresholds, which a {class} in {} does not have",
                file.display()
            );
        }
        let hook = match spec.hook {
            Some(h) => h,
            None => recorded_hook(&cfg, &cfg_path, spec)?,
        };
        Ok(Sae {
            meta: SaeMeta {
                path: spec.path.clone(),
                format: &DictionaryLearning,
                d_in,
                d_sae,
                hook,
                model_name: trainer
                    .get("lm_name")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            },
            activation: parts.activation,
            w_enc: parts.w_enc.into(),
            b_enc: parts.b_enc,
            w_dec: Some(parts.w_dec.into()),
            input_bias: parts.input_bias,
            b_dec: Some(parts.b_dec),
            threshold: parts.threshold,
            input_scale: 1.0,
        })
    }
}

/// BatchTopK's encoder at inference: a JumpReLU on `relu(pre)` (the package compares the
/// ReLU's output with the threshold; for a threshold ≥ 0 that is the same as comparing `pre`).
fn jump() -> Activation {
    Activation::JumpRelu { relu: true }
}

/// An SAE's tensors in our layout.
struct Parts {
    activation: Activation,
    /// `[d_in, d_sae]`.
    w_enc: Tensor,
    b_enc: Tensor,
    /// `[d_sae, d_in]`.
    w_dec: Tensor,
    b_dec: Tensor,
    input_bias: Option<Tensor>,
    threshold: Option<Tensor>,
    /// The names in `ae.pt` of `w_enc`, `b_enc`, `w_dec`, `b_dec` and `threshold`.
    names: [&'static str; 5],
}

impl Parts {
    /// The tensors with their names in `ae.pt` (the input bias is `b_dec`).
    fn named(&self) -> Vec<(&'static str, &Tensor)> {
        let mut v = vec![
            (self.names[0], &self.w_enc),
            (self.names[1], &self.b_enc),
            (self.names[2], &self.w_dec),
            (self.names[3], &self.b_dec),
        ];
        if let Some(t) = &self.threshold {
            v.push((self.names[4], t));
        }
        v
    }
}

/// The `nn.Linear` layout (`encoder.weight [d_sae, d_in]`, `encoder.bias`,
/// `decoder.weight [d_in, d_sae]`) with the bias `bias_name` subtracted from the input and
/// added after decoding.
fn linear(
    w: &mut HashMap<String, Tensor>,
    file: &Path,
    d_in: usize,
    d_sae: usize,
    bias_name: &'static str,
    activation: Activation,
) -> Result<Parts> {
    let w_enc = take(w, &["encoder.weight"], &[d_sae, d_in], file)?
        .t()?
        .contiguous()?;
    let b_enc = take(w, &["encoder.bias"], &[d_sae], file)?;
    let w_dec = take(w, &["decoder.weight"], &[d_in, d_sae], file)?
        .t()?
        .contiguous()?;
    let bias = take(w, &[bias_name], &[d_in], file)?;
    Ok(Parts {
        activation,
        w_enc,
        b_enc,
        w_dec,
        input_bias: Some(bias.clone()),
        b_dec: bias,
        threshold: None,
        names: [
            "encoder.weight",
            "encoder.bias",
            "decoder.weight",
            bias_name,
            "threshold",
        ],
    })
}

/// The parameter layout (`W_enc [d_in, d_sae]`, `b_enc`, `W_dec [d_sae, d_in]`, `b_dec`), with
/// `b_dec` subtracted from the input when `subtract_b_dec`.
fn params(
    w: &mut HashMap<String, Tensor>,
    file: &Path,
    d_in: usize,
    d_sae: usize,
    subtract_b_dec: bool,
    activation: Activation,
) -> Result<Parts> {
    let b_dec = take(w, &["b_dec"], &[d_in], file)?;
    Ok(Parts {
        activation,
        w_enc: take(w, &["W_enc"], &[d_in, d_sae], file)?,
        b_enc: take(w, &["b_enc"], &[d_sae], file)?,
        w_dec: take(w, &["W_dec"], &[d_sae, d_in], file)?,
        input_bias: subtract_b_dec.then(|| b_dec.clone()),
        b_dec,
        threshold: None,
        names: ["W_enc", "b_enc", "W_dec", "b_dec", "threshold"],
    })
}

/// Adds the single threshold of a BatchTopK dictionary, as a per-latent threshold `[d_sae]`.
/// The trainer leaves it at −1 until it calibrates it: such a checkpoint gets none. (A NaN or
/// infinite one is kept, for the finite-weights check to name.)
fn with_batch_threshold(
    mut p: Parts,
    w: &mut HashMap<String, Tensor>,
    file: &Path,
    d_sae: usize,
) -> Result<Parts> {
    let t = take(w, &["threshold"], &[], file)?;
    let value = t.to_scalar::<f32>()?;
    if value >= 0.0 || !value.is_finite() {
        p.threshold = Some(Tensor::full(value, d_sae, t.device())?);
    }
    Ok(p)
}

/// `AutoEncoder.from_pretrained`'s `normalize_decoder`: decoder columns scaled to unit norm,
/// their norms multiplied into the encoder's rows and bias (the reconstruction is unchanged;
/// the latents are measured along unit decoder directions). A no-op when every norm is 1
/// within the package's tolerance. An all-zero column, which cannot be normalised (the package
/// fails on it), is left as it is: its latent adds nothing to the reconstruction either way.
fn normalize_decoder(mut p: Parts) -> Result<Parts> {
    let norms = p.w_dec.sqr()?.sum(1)?.sqrt()?.to_vec1::<f32>()?;
    if norms.iter().all(|n| (n - 1.0).abs() <= 1e-8 + 1e-5) {
        return Ok(p);
    }
    let norms: Vec<f32> = norms
        .into_iter()
        .map(|n| if n == 0.0 { 1.0 } else { n })
        .collect();
    let norms = Tensor::new(norms, p.w_dec.device())?;
    p.w_enc = p.w_enc.broadcast_mul(&norms.unsqueeze(0)?)?;
    p.b_enc = (&p.b_enc * &norms)?;
    p.w_dec = p.w_dec.broadcast_div(&norms.unsqueeze(1)?)?;
    Ok(p)
}

/// The hook point config.json records, or an error saying to give it.
fn recorded_hook(cfg: &Value, cfg_path: &Path, spec: &SaeSpec) -> Result<HookPoint> {
    let trainer = &cfg["trainer"];
    let layer = trainer.get("layer").and_then(Value::as_u64);
    let io = cfg
        .get("buffer")
        .and_then(|b| b.get("io"))
        .and_then(Value::as_str)
        .unwrap_or("out");
    let name = trainer.get("submodule_name").and_then(Value::as_str);
    if let Some(hook) = name.and_then(|n| hook_from_submodule(n, io)) {
        return Ok(hook);
    }
    let example = format!(
        "`{},hook=blocks.{}.hook_resid_post`",
        spec.path.display(),
        layer.unwrap_or(0)
    );
    Err(match (name, layer) {
        (Some(n), _) => anyhow!(
            "{}: submodule_name `{n}` (io `{io}`) names no hook point I know: give it, e.g. {example}",
            cfg_path.display()
        ),
        (None, Some(l)) => anyhow!(
            "{} records layer {l} but not which activation of it (no submodule_name): give the \
             hook, e.g. {example}",
            cfg_path.display()
        ),
        (None, None) => anyhow!(
            "{} does not record its hook point: give it, e.g. {example}",
            cfg_path.display()
        ),
    })
}

/// The hook point a dictionary_learning `submodule_name` stands for (`io`: the buffer's `out`
/// or `in`). Users name submodules freely; these are the names in use:
///
/// * a hook point itself: `blocks.3.hook_mlp_out`;
/// * `{site}_layer_{L}` or `{site}_layer{L}` (the package's tests and pretrained dictionaries):
///   `resid_post` / `resid_out` / `resid` → `hook_resid_post`, `resid_pre` → `hook_resid_pre`,
///   `mlp_out` / `mlp` → `hook_mlp_out`, `attn_out` / `attn` → `hook_attn_out`; `embed` →
///   `blocks.0.hook_resid_pre`;
/// * a module path ending in a layer (`model.layers.3`, `gpt_neox.layers.3`, `transformer.h.3`)
///   → `hook_resid_post` (`hook_resid_pre` with io `in`), or in its `mlp` (`mlp.down_proj`,
///   `mlp.c_proj`) / `self_attn` (`self_attn.o_proj`), `attn` (`attn.c_proj`), `attention` with
///   io `out` → `hook_mlp_out` / `hook_attn_out` (the sub-block's output; for Gemma2, whose
///   hooks sit after the post-norms, give `hook=` instead).
fn hook_from_submodule(name: &str, io: &str) -> Option<HookPoint> {
    let name = name.trim();
    if name.starts_with("blocks.") {
        return name.parse().ok();
    }
    if name == "embed" {
        return Some(HookPoint::new(0, HookSite::ResidPre));
    }
    if let Some((site, layer)) = name.split_once("_layer") {
        let layer: usize = layer.trim_start_matches('_').parse().ok()?;
        let site = match site {
            "resid_post" | "resid_out" | "resid" => HookSite::ResidPost,
            "resid_pre" => HookSite::ResidPre,
            "mlp_out" | "mlp" => HookSite::MlpOut,
            "attn_out" | "attn" => HookSite::AttnOut,
            _ => return None,
        };
        return Some(HookPoint::new(layer, site));
    }
    let parts: Vec<&str> = name.split('.').collect();
    let at = parts
        .iter()
        .position(|p| matches!(*p, "layers" | "h"))
        .filter(|i| i + 1 < parts.len())?;
    let layer: usize = parts[at + 1].parse().ok()?;
    let site = match (&parts[at + 2..], io) {
        ([], "out") => HookSite::ResidPost,
        ([], "in") => HookSite::ResidPre,
        (["mlp"] | ["mlp", "down_proj" | "c_proj"], "out") => HookSite::MlpOut,
        (["self_attn" | "attn" | "attention"], "out")
        | (["self_attn", "o_proj"] | ["attn", "c_proj"], "out") => HookSite::AttnOut,
        _ => return None,
    };
    Some(HookPoint::new(layer, site))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn decoder_norms_fold_into_the_encoder_and_zero_columns_stay() {
        // d_in 2, d_sae 3: decoder rows (our [d_sae, d_in] layout) of norm 2, 0 and 1.
        let t = |v: &[f32], shape: (usize, usize)| Tensor::from_slice(v, shape, &Device::Cpu);
        let p = Parts {
            activation: Activation::Relu,
            w_enc: t(&[1., 1., 1., 1., 1., 1.], (2, 3)).unwrap(),
            b_enc: Tensor::new(&[1f32, 1., 1.], &Device::Cpu).unwrap(),
            w_dec: t(&[2., 0., 0., 0., 0., 1.], (3, 2)).unwrap(),
            b_dec: Tensor::zeros(2, candle_core::DType::F32, &Device::Cpu).unwrap(),
            input_bias: None,
            threshold: None,
            names: ["a", "b", "c", "d", "e"],
        };
        let p = normalize_decoder(p).unwrap();
        let v2 = |t: &Tensor| t.to_vec2::<f32>().unwrap();
        assert_eq!(v2(&p.w_dec), vec![vec![1., 0.], vec![0., 0.], vec![0., 1.]]);
        assert_eq!(v2(&p.w_enc), vec![vec![2., 1., 1.], vec![2., 1., 1.]]);
        assert_eq!(p.b_enc.to_vec1::<f32>().unwrap(), vec![2., 1., 1.]);
    }

    #[test]
    fn submodule_names_map_to_hook_points() {
        let h = |n: &str, io: &str| hook_from_submodule(n, io).map(|h| h.to_string());
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            h("resid_post_layer_3", "out"),
            some("blocks.3.hook_resid_post")
        );
        assert_eq!(
            h("resid_out_layer3", "out"),
            some("blocks.3.hook_resid_post")
        );
        assert_eq!(h("mlp_out_layer1", "out"), some("blocks.1.hook_mlp_out"));
        assert_eq!(h("attn_out_layer_0", "out"), some("blocks.0.hook_attn_out"));
        assert_eq!(
            h("resid_pre_layer_2", "out"),
            some("blocks.2.hook_resid_pre")
        );
        assert_eq!(h("embed", "out"), some("blocks.0.hook_resid_pre"));
        assert_eq!(
            h("blocks.5.hook_mlp_out", "out"),
            some("blocks.5.hook_mlp_out")
        );
        assert_eq!(h("model.layers.7", "out"), some("blocks.7.hook_resid_post"));
        assert_eq!(h("model.layers.7", "in"), some("blocks.7.hook_resid_pre"));
        assert_eq!(
            h("gpt_neox.layers.2.mlp", "out"),
            some("blocks.2.hook_mlp_out")
        );
        assert_eq!(
            h("transformer.h.4.attn", "out"),
            some("blocks.4.hook_attn_out")
        );
        assert_eq!(
            h("model.layers.4.self_attn", "out"),
            some("blocks.4.hook_attn_out")
        );
        assert_eq!(
            h("model.layers.2.mlp", "in"),
            None,
            "the MLP's input is no hook"
        );
        assert_eq!(
            h("model.layers.2.mlp.down_proj", "out"),
            some("blocks.2.hook_mlp_out")
        );
        assert_eq!(
            h("transformer.h.1.attn.c_proj", "out"),
            some("blocks.1.hook_attn_out")
        );
        assert_eq!(h("model.layers.2.mlp.down_proj", "in"), None);
        assert_eq!(h("model.layers.2.mlp.gate_proj", "out"), None);
        assert_eq!(h("heads_layer_x", "out"), None);
        assert_eq!(h("my_favourite_module", "out"), None);
    }
}
