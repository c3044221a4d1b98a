//! Safe-SAIL: a PyTorch `.pt` state dict of the `sparse_autoencoder` library
//! (`encoder.weight [components, d_sae, d_in]`, `encoder.bias`, optional `encoder.theta`,
//! `decoder.weight`, `pre_encoder_bias._bias_reference`,
//! `post_decoder_bias._bias_reference`), and its neuron-index files.

use super::{ensure_finite, hook_required, Format};
use crate::pt::read_pt;
use crate::sae::{Activation, Sae, SaeMeta, SaeSpec};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Tensor};
use std::collections::HashMap;
use std::path::Path;

/// The Safe-SAIL checkpoint format.
pub struct SafeSail;

impl Format for SafeSail {
    fn name(&self) -> &'static str {
        "safe-sail"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["safesail"]
    }

    fn tag(&self) -> &'static str {
        "SafeSail"
    }

    fn detect(&self, path: &Path) -> bool {
        !path.is_dir()
            && matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("pt" | "pth" | "bin" | "ckpt")
            )
    }

    fn load(&self, spec: &SaeSpec) -> Result<Sae> {
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
        let (n_comp, d_sae, d_in) = enc.dims3().with_context(|| {
            format!(
                "`encoder.weight` must be [components, latents, d_in], but in {} it is {:?}",
                file.display(),
                enc.dims()
            )
        })?;
        let c = spec.component;
        if c >= n_comp {
            bail!("component {c} does not exist: the checkpoint has {n_comp} component(s)");
        }
        let mut pick = |name: &str, inner: &[usize]| -> Result<Option<Tensor>> {
            let Some(t) = w.remove(name) else {
                return Ok(None);
            };
            crate::checks::ensure_float(&t, name, &file.display(), "SAE")?;
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
        let mut weights = vec![("encoder.weight", &w_enc), ("encoder.bias", &b_enc)];
        for (name, t) in [
            ("encoder.theta", &theta),
            ("pre_encoder_bias._bias_reference", &pre_bias),
            ("post_decoder_bias._bias_reference", &post_bias),
            ("decoder.weight", &w_dec),
        ] {
            if let Some(t) = t {
                weights.push((name, t));
            }
        }
        let place = if n_comp > 1 {
            format!("{} (component {c})", file.display())
        } else {
            file.display().to_string()
        };
        ensure_finite(spec, &place, &weights)?;
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
                format: &SafeSail,
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
