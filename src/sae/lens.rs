//! The decoder logit lens: the tokens a latent's decoder direction promotes and suppresses
//! when read straight through the model's unembedding (`W_dec · W_Uᵀ`; the final norm is
//! ignored). The explorer's neuron page and the feature store's per-latent token lists both
//! come from here.

use super::Sae;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use std::ops::Range;

/// One latent through the lens: token ids with their logit, `top` highest first and
/// `bottom` lowest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LensTokens {
    pub top: Vec<(u32, f32)>,
    pub bottom: Vec<(u32, f32)>,
}

/// Latents per matmul: bounds the `[chunk, vocab]` block held at once.
const CHUNK: usize = 256;

/// The decoder logit lens of `latents` (one entry per latent, in order): the `n` tokens each
/// latent's decoder direction promotes most and suppresses most through `unembedding`
/// (`[vocab, d_model]`, e.g. `Transformer::unembedding`).
///
/// Computed as `W_dec[latents] · W_Uᵀ` in f32 on the decoder's device, [`CHUNK`] latents per
/// matmul counted from `latents.start`, so `0..d_sae` gives every latent of an SAE the same
/// numbers whichever caller asks. `n == 0` gives empty lists. Errors when the SAE has no
/// decoder or a latent is out of range.
pub fn decoder_logit_lens(
    sae: &Sae,
    unembedding: &Tensor,
    latents: Range<usize>,
    n: usize,
) -> Result<Vec<LensTokens>> {
    let w_dec = sae.w_dec.as_ref().context("this SAE has no decoder")?;
    if latents.end > sae.d_sae() {
        bail!(
            "latent {} is out of range (the SAE has {})",
            latents.end - 1,
            sae.d_sae()
        );
    }
    if n == 0 {
        return Ok(vec![LensTokens::default(); latents.len()]);
    }
    let unemb_t = unembedding
        .to_dtype(DType::F32)?
        .to_device(w_dec.device())?
        .t()?;
    let mut out = Vec::with_capacity(latents.len());
    let mut start = latents.start;
    while start < latents.end {
        let len = CHUNK.min(latents.end - start);
        let logits = w_dec
            .narrow(0, start, len)?
            .to_dtype(DType::F32)?
            .matmul(&unemb_t)?
            .to_device(&Device::Cpu)?
            .to_vec2::<f32>()?;
        out.extend(logits.iter().map(|row| strongest(row, n)));
        start += len;
    }
    Ok(out)
}

/// The `n` highest and `n` lowest entries of one row of logits (top-k selection, then sorted).
fn strongest(row: &[f32], n: usize) -> LensTokens {
    let k = n.min(row.len());
    if k == 0 {
        return LensTokens::default();
    }
    let mut idx: Vec<usize> = (0..row.len()).collect();
    idx.select_nth_unstable_by(k - 1, |a, b| row[*b].total_cmp(&row[*a]));
    let mut top: Vec<usize> = idx[..k].to_vec();
    top.sort_by(|a, b| row[*b].total_cmp(&row[*a]));
    idx.select_nth_unstable_by(k - 1, |a, b| row[*a].total_cmp(&row[*b]));
    let mut bottom: Vec<usize> = idx[..k].to_vec();
    bottom.sort_by(|a, b| row[*a].total_cmp(&row[*b]));
    let pair = |i: &usize| (*i as u32, row[*i]);
    LensTokens {
        top: top.iter().map(pair).collect(),
        bottom: bottom.iter().map(pair).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strongest_picks_the_extremes_in_order() {
        let row = [0.5, -2.0, 3.0, 0.0, -1.0, 2.5];
        let s = strongest(&row, 2);
        assert_eq!(s.top, vec![(2, 3.0), (5, 2.5)]);
        assert_eq!(s.bottom, vec![(1, -2.0), (4, -1.0)]);
        let all = strongest(&row, 10);
        assert_eq!(all.top.len(), 6);
        assert_eq!(all.top[0], (2, 3.0));
        assert_eq!(all.bottom[0], (1, -2.0));
    }

    /// The fixture model, its layer-1 TopK SAE and that SAE's feature store.
    fn fixture() -> (crate::model::Model, Sae, crate::store::Store) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let model =
            crate::model::Model::load_dir(&root.join("models/qwen2"), &Device::Cpu, DType::F32)
                .unwrap();
        let spec = format!("{}", root.join("saes/saelens_topk").display())
            .parse()
            .unwrap();
        let sae = crate::sae::load_sae(&spec, &Device::Cpu).unwrap();
        let store = crate::store::Store::open(&root.join("workspace/stores/L1")).unwrap();
        (model, sae, store)
    }

    #[test]
    fn reproduces_the_token_lists_of_a_collected_store() {
        let (model, sae, store) = fixture();
        let n = store.features[0].top_logit_tokens.len();
        assert!(n > 0);
        let lens =
            decoder_logit_lens(&sae, &model.net.unembedding().unwrap(), 0..sae.d_sae(), n).unwrap();
        assert_eq!(lens.len(), sae.d_sae());
        let name = |v: &[(u32, f32)]| -> Vec<String> {
            v.iter()
                .map(|(id, _)| model.tok.token_display(*id))
                .collect()
        };
        let value = |v: &[(u32, f32)]| -> Vec<f32> { v.iter().map(|p| p.1).collect() };
        for f in &store.features {
            let l = &lens[f.latent as usize];
            assert_eq!(name(&l.top), f.top_logit_tokens, "latent {}", f.latent);
            assert_eq!(value(&l.top), f.top_logit_values, "latent {}", f.latent);
            assert_eq!(
                name(&l.bottom),
                f.bottom_logit_tokens,
                "latent {}",
                f.latent
            );
            assert_eq!(
                value(&l.bottom),
                f.bottom_logit_values,
                "latent {}",
                f.latent
            );
        }
        // One latent alone: the same tokens; a one-row matmul takes another kernel, so the
        // logits may differ in the last bits.
        let one = decoder_logit_lens(&sae, &model.net.unembedding().unwrap(), 145..146, n).unwrap();
        let ids = |v: &[(u32, f32)]| -> Vec<u32> { v.iter().map(|p| p.0).collect() };
        assert_eq!(ids(&one[0].top), ids(&lens[145].top));
        assert_eq!(ids(&one[0].bottom), ids(&lens[145].bottom));
        for (a, b) in one[0].top.iter().zip(&lens[145].top) {
            assert!((a.1 - b.1).abs() < 1e-5, "{a:?} {b:?}");
        }
    }

    #[test]
    fn one_latent_matches_the_unembedding_times_its_direction() {
        // The explorer's neuron page used to compute W_U · d for one decoder row d.
        let (model, sae, _) = fixture();
        let unemb = &model.net.unembedding().unwrap();
        let dir = sae.w_dec.as_ref().unwrap().get(145).unwrap();
        let logits: Vec<f32> = unemb
            .matmul(&dir.unsqueeze(1).unwrap())
            .unwrap()
            .squeeze(1)
            .unwrap()
            .to_vec1()
            .unwrap();
        let mut idx: Vec<usize> = (0..logits.len()).collect();
        idx.sort_by(|a, b| logits[*b].total_cmp(&logits[*a]));
        let lens = decoder_logit_lens(&sae, unemb, 145..146, 10).unwrap();
        let top: Vec<(u32, f32)> = idx
            .iter()
            .take(10)
            .map(|&i| (i as u32, logits[i]))
            .collect();
        let bottom: Vec<(u32, f32)> = idx
            .iter()
            .rev()
            .take(10)
            .map(|&i| (i as u32, logits[i]))
            .collect();
        // Same tokens, same logits (bit for bit on the machine this was written on; the
        // kernels may round differently elsewhere).
        for (got, want) in [(&lens[0].top, &top), (&lens[0].bottom, &bottom)] {
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(want) {
                assert_eq!(a.0, b.0);
                assert!((a.1 - b.1).abs() < 1e-5, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let (model, sae, _) = fixture();
        let err =
            decoder_logit_lens(&sae, &model.net.unembedding().unwrap(), 256..257, 5).unwrap_err();
        assert_eq!(
            err.to_string(),
            "latent 256 is out of range (the SAE has 256)"
        );
        let empty = decoder_logit_lens(&sae, &model.net.unembedding().unwrap(), 0..3, 0).unwrap();
        assert_eq!(empty, vec![LensTokens::default(); 3]);
    }
}
