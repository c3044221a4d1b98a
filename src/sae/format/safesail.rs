//! Safe-SAIL: a PyTorch `.pt` state dict of the `sparse_autoencoder` library
//! (`encoder.weight [components, d_sae, d_in]`, `encoder.bias`, optional `encoder.theta`,
//! `decoder.weight`, `pre_encoder_bias._bias_reference`,
//! `post_decoder_bias._bias_reference`), and its neuron-index files.

use super::{ensure_finite, ensure_finite_matrices, hook_required, Format};
use crate::pt::{read_pt, read_pt_in_place};
use crate::sae::{Activation, Sae, SaeMatrix, SaeMeta, SaeSpec};
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
        // The encoder and decoder are used in place from the file's map where they are f32
        // and stored uncompressed (as torch.save writes them).
        let (read, mut mapped) = read_pt_in_place(file, &["encoder.weight", "decoder.weight"])?;
        let mut w: HashMap<String, Tensor> = read.into_iter().collect();
        if w.contains_key(crate::pt::BARE_TENSOR) {
            bail!(
                "{} holds a single tensor, not an SAE state dict (is it a neuron-index file?)",
                file.display()
            );
        }
        let enc_dims: Vec<usize> = match (w.get("encoder.weight"), mapped.get("encoder.weight")) {
            (Some(t), _) => t.dims().to_vec(),
            (None, Some((_, dims))) => dims.clone(),
            (None, None) => {
                let mut have: Vec<&String> = w.keys().chain(mapped.keys()).collect();
                have.sort();
                bail!(
                    "tensor `encoder.weight` is missing from {} (it has {have:?})",
                    file.display()
                )
            }
        };
        // [components, d_sae, d_in], or [d_sae, d_in] for a single component.
        let (n_comp, d_sae, d_in) = match enc_dims.as_slice() {
            &[a, b] => (1, a, b),
            &[c, a, b] => (c, a, b),
            other => bail!(
                "`encoder.weight` must be [components, latents, d_in], but in {} it is {other:?}",
                file.display(),
            ),
        };
        let c = spec.component;
        if c >= n_comp {
            bail!("component {c} does not exist: the checkpoint has {n_comp} component(s)");
        }
        // A mapped `[components, a, b]` (or `[a, b]`) tensor's component c, used as its
        // transpose `[b, a]` in place.
        let mut pick_mapped = |name: &str, inner: [usize; 2]| -> Result<Option<SaeMatrix>> {
            let Some((v, dims)) = mapped.remove(name) else {
                return Ok(None);
            };
            let mut want = vec![n_comp];
            want.extend_from_slice(&inner);
            if dims != want && !(n_comp == 1 && dims == inner) {
                bail!(
                    "tensor `{name}` in {} has shape {dims:?}, expected {want:?}",
                    file.display()
                );
            }
            let n = inner[0] * inner[1];
            let m = v
                .sub(c * n, n)
                .and_then(|v| SaeMatrix::mapped(v, inner[1], inner[0], true))
                .with_context(|| format!("tensor `{name}` in {} is malformed", file.display()))?;
            Ok(Some(m))
        };
        let w_enc_mapped = pick_mapped("encoder.weight", [d_sae, d_in])?;
        let w_dec_mapped = pick_mapped("decoder.weight", [d_in, d_sae])?;
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
        let w_enc: SaeMatrix = match w_enc_mapped {
            Some(m) => m,
            None => pick("encoder.weight", &[d_sae, d_in])?
                .unwrap()
                .t()?
                .contiguous()?
                .into(),
        };
        let b_enc = pick("encoder.bias", &[d_sae])?.context("tensor `encoder.bias` is missing")?;
        let theta = pick("encoder.theta", &[d_sae])?;
        let pre_bias = pick("pre_encoder_bias._bias_reference", &[d_in])?;
        let post_bias = match pick("post_decoder_bias._bias_reference", &[d_in])? {
            Some(b) => Some(b),
            None => pre_bias.clone(),
        };
        let w_dec: Option<SaeMatrix> = match w_dec_mapped {
            Some(m) => Some(m),
            None => pick("decoder.weight", &[d_in, d_sae])?
                .map(|t| t.t()?.contiguous())
                .transpose()?
                .map(Into::into),
        };
        let mut weights = vec![("encoder.bias", &b_enc)];
        for (name, t) in [
            ("encoder.theta", &theta),
            ("pre_encoder_bias._bias_reference", &pre_bias),
            ("post_decoder_bias._bias_reference", &post_bias),
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
        let mut matrices = vec![("encoder.weight", &w_enc)];
        if let Some(d) = &w_dec {
            matrices.push(("decoder.weight", d));
        }
        ensure_finite_matrices(spec, &place, &matrices)?;
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

/// [`read_index_file`] as latent indices: a negative id or one beyond `u32` is an error naming
/// the file (dropping it would pair the quantile file's columns with the wrong ids).
pub fn read_index_ids(path: &Path) -> Result<Vec<u32>> {
    read_index_file(path)?
        .into_iter()
        .map(|i| {
            u32::try_from(i)
                .map_err(|_| anyhow::anyhow!("{}: id {i} is not a latent index", path.display()))
        })
        .collect()
}

/// How the values of a quantile file's columns are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnOrder {
    /// Smallest first (what the authors' `approximate_quantile` assumes).
    Ascending,
    /// Largest first (what `torch.topk` returns).
    Descending,
    /// Neither (or columns differ).
    Mixed,
}

/// A Safe-SAIL quantile file (`quantile_layer{L}.pt`) read and reduced to one 0.999 quantile
/// per column.
#[derive(Debug, Clone)]
pub struct QuantileFile {
    /// Top (and bottom) values kept per column.
    pub k: usize,
    /// The 0.999 quantile of each column, in file order (one per id of the indices file).
    pub q999: Vec<f32>,
    /// How the top values were stored (they are sorted before use either way).
    pub order: ColumnOrder,
}

impl QuantileFile {
    /// The quantiles by latent, the columns named by `ids` (the indices file, same order); a
    /// repeated id keeps its first column.
    pub fn by_id(&self, ids: &[u32]) -> std::collections::HashMap<u32, f32> {
        let mut out = std::collections::HashMap::with_capacity(ids.len());
        for (&id, &v) in ids.iter().zip(&self.q999) {
            out.entry(id).or_insert(v);
        }
        out
    }
}

/// Reads a Safe-SAIL quantile file: a `torch.save` of
/// `{"bottom_neuron_activations": [k, n], "top_neuron_activations": [k, n]}` (one column per
/// id of the layer's indices file, in its order), taken over `tokens` activations. Returns the
/// 0.999 quantile of every column, interpolated between the known order statistics
/// ([`crate::quantile::quantile_from_top`]; each column is sorted ascending first, so files
/// stored largest-first give the same result). `columns`, when given, is the length of the
/// indices file the columns must match.
pub fn read_quantile_file(
    path: &Path,
    tokens: u64,
    columns: Option<usize>,
) -> Result<QuantileFile> {
    const TOP: &str = "top_neuron_activations";
    const BOTTOM: &str = "bottom_neuron_activations";
    let tensors: HashMap<String, Tensor> = read_pt(path)?.into_iter().collect();
    let get = |name: &str| {
        tensors.get(name).with_context(|| {
            let mut have: Vec<&String> = tensors.keys().collect();
            have.sort();
            format!(
                "{} is not a Safe-SAIL quantile file: tensor `{name}` is missing (it has {have:?})",
                path.display()
            )
        })
    };
    let (top, bottom) = (get(TOP)?, get(BOTTOM)?);
    for (name, t) in [(TOP, top), (BOTTOM, bottom)] {
        crate::checks::ensure_float(t, name, &path.display(), "quantile")?;
        if t.rank() != 2 {
            bail!(
                "tensor `{name}` in {} has shape {:?}; expected [k, selected neurons]",
                path.display(),
                t.dims()
            );
        }
        crate::checks::ensure_finite(t, name, &path.display(), "")?;
    }
    if top.dims() != bottom.dims() {
        bail!(
            "in {}, `{TOP}` has shape {:?} but `{BOTTOM}` {:?}; they must match",
            path.display(),
            top.dims(),
            bottom.dims()
        );
    }
    let (k, n) = top.dims2()?;
    if let Some(want) = columns {
        if n != want {
            bail!(
                "{} has {n} columns but the indices file lists {want} neurons; each column \
                 belongs to one id of the indices file, in order",
                path.display()
            );
        }
    }
    if k == 0 || k as u64 > tokens {
        bail!(
            "{} keeps {k} values per neuron, which does not fit {tokens} activations",
            path.display()
        );
    }
    let need = crate::quantile::top_needed(tokens, crate::quantile::Q999);
    if (k as u64) < need {
        bail!(
            "{} keeps the top {k} of {tokens} activations per neuron; the 0.999 quantile needs \
             the top {need} (is the number of activations right?)",
            path.display()
        );
    }
    // Column-major copy: one column's k values together.
    let cols = top
        .to_dtype(DType::F32)?
        .t()?
        .contiguous()?
        .to_vec2::<f32>()?;
    let mut ascending = true;
    let mut descending = true;
    let mut q999 = Vec::with_capacity(n);
    for mut col in cols {
        ascending &= col.windows(2).all(|w| w[0] <= w[1]);
        descending &= col.windows(2).all(|w| w[0] >= w[1]);
        col.sort_by(f32::total_cmp);
        let q = crate::quantile::quantile_from_top(&col, tokens, crate::quantile::Q999)
            .context("the 0.999 quantile is outside the kept values")?;
        q999.push(q);
    }
    let order = match (ascending, descending) {
        (true, _) => ColumnOrder::Ascending,
        (false, true) => ColumnOrder::Descending,
        _ => ColumnOrder::Mixed,
    };
    Ok(QuantileFile { k, q999, order })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Index ids are latent indices: a negative one is an error naming the file, not dropped
    /// (which would pair the quantile columns after it with the wrong ids).
    #[test]
    fn index_ids_must_be_latent_indices() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("indices_layer8.pt");
        crate::pt::write_pt_f32(&p, &[("ids", vec![3], &[4.0, -1.0, 7.0])]).unwrap();
        assert_eq!(read_index_file(&p).unwrap(), [4, -1, 7]);
        let e = format!("{:#}", read_index_ids(&p).unwrap_err());
        assert!(
            e.contains("id -1 is not a latent index") && e.contains("indices_layer8.pt"),
            "{e}"
        );
        crate::pt::write_pt_f32(&p, &[("ids", vec![2], &[4.0, 7.0])]).unwrap();
        assert_eq!(read_index_ids(&p).unwrap(), [4, 7]);
    }
}
