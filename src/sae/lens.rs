//! The decoder logit lens: the tokens a latent's decoder direction promotes and suppresses
//! when read straight through the model's unembedding (`W_dec · W_Uᵀ`; the final norm is
//! ignored). The explorer's neuron page and the feature store's per-latent token lists both
//! come from here.

use super::Sae;
use crate::model::matmul::Matrix;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
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
/// Unembedding rows widened to f32 at a time: at Qwen2.5-3B's 151,936 × 2,048 the whole
/// matrix in f32 would be 1.2 GB; a tile is 64 MB. Vocabularies up to this size are one tile.
const VOCAB_TILE: usize = 8192;

/// The decoder logit lens of `latents` (one entry per latent, in order): the `n` tokens each
/// latent's decoder direction promotes most and suppresses most through `unembedding`
/// (`[vocab, d_model]`, e.g. `Transformer::unembedding_matrix`).
///
/// Computed as `W_dec[latents] · W_Uᵀ` in f32 on the decoder's device, [`CHUNK`] latents per
/// matmul counted from `latents.start`, so `0..d_sae` gives every latent of an SAE the same
/// numbers whichever caller asks; the unembedding is widened to f32 [`VOCAB_TILE`] rows at a
/// time (never as a whole). `n == 0` gives empty lists. Errors when the SAE has no decoder or
/// a latent is out of range.
pub fn decoder_logit_lens(
    sae: &Sae,
    unembedding: &Matrix,
    latents: Range<usize>,
    n: usize,
) -> Result<Vec<LensTokens>> {
    lens_tiled(sae, unembedding, latents, n, VOCAB_TILE)
}

fn lens_tiled(
    sae: &Sae,
    unembedding: &Matrix,
    latents: Range<usize>,
    n: usize,
    tile: usize,
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
    let device = w_dec.device();
    let (vocab, _) = unembedding.dims();
    let mut out = Vec::with_capacity(latents.len());
    let mut start = latents.start;
    while start < latents.end {
        let len = CHUNK.min(latents.end - start);
        let dirs = w_dec
            .narrow_rows(start, len)?
            .to_dtype(DType::F32)?
            .to_device(&device)?;
        let mut rows = vec![Vec::with_capacity(vocab); len];
        let mut v0 = 0;
        while v0 < vocab {
            let vl = tile.min(vocab - v0);
            let u = unembedding.rows_f32(v0, vl)?.to_device(&device)?;
            let part = dirs
                .matmul(&u.t()?)?
                .to_device(&Device::Cpu)?
                .to_vec2::<f32>()?;
            for (row, p) in rows.iter_mut().zip(part) {
                row.extend(p);
            }
            v0 += vl;
        }
        out.extend(rows.iter().map(|row| strongest(row, n)));
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
            decoder_logit_lens(&sae, model.net.unembedding_matrix(), 0..sae.d_sae(), n).unwrap();
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
        let one = decoder_logit_lens(&sae, model.net.unembedding_matrix(), 145..146, n).unwrap();
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
        let dir = sae
            .w_dec
            .as_ref()
            .unwrap()
            .narrow_rows(145, 1)
            .unwrap()
            .squeeze(0)
            .unwrap();
        let logits: Vec<f32> = unemb
            .matmul(&dir.unsqueeze(1).unwrap())
            .unwrap()
            .squeeze(1)
            .unwrap()
            .to_vec1()
            .unwrap();
        let mut idx: Vec<usize> = (0..logits.len()).collect();
        idx.sort_by(|a, b| logits[*b].total_cmp(&logits[*a]));
        let lens = decoder_logit_lens(&sae, model.net.unembedding_matrix(), 145..146, 10).unwrap();
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

    /// The unembedding widened tile by tile gives what widening it whole gave (the fixture's
    /// vocabulary is one tile by default; here it is cut into tiles of 100 rows, and the bf16
    /// copy of the model, read in place, goes through the same tiles).
    #[test]
    fn tiled_unembedding_equals_the_whole() {
        let (model, sae, _) = fixture();
        let whole = decoder_logit_lens(&sae, model.net.unembedding_matrix(), 0..40, 12).unwrap();
        let tiled = lens_tiled(&sae, model.net.unembedding_matrix(), 0..40, 12, 100).unwrap();
        assert_eq!(whole.len(), tiled.len());
        for (a, b) in whole.iter().zip(&tiled) {
            for (x, y) in a
                .top
                .iter()
                .zip(&b.top)
                .chain(a.bottom.iter().zip(&b.bottom))
            {
                assert_eq!(x.0, y.0);
                assert!((x.1 - y.1).abs() < 1e-5, "{x:?} {y:?}");
            }
        }
        // The same through a bf16 matrix read in place: equal to widening the bf16 whole.
        let dir = tempfile::tempdir().unwrap();
        let emb = model
            .net
            .unembedding()
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap();
        let file = dir.path().join("u.safetensors");
        candle_core::safetensors::save(
            &std::collections::HashMap::from([("u".to_string(), emb.clone())]),
            &file,
        )
        .unwrap();
        let w = crate::model::files::Weights::open(&[file], DType::BF16, &Device::Cpu).unwrap();
        use crate::model::files::WeightSource;
        let mapped = w.get_matrix("u", emb.dims()).unwrap();
        assert!(matches!(mapped, Matrix::Mapped(_)));
        let want = decoder_logit_lens(&sae, &Matrix::Tensor(emb), 0..40, 12).unwrap();
        let got = lens_tiled(&sae, &mapped, 0..40, 12, 100).unwrap();
        for (a, b) in want.iter().zip(&got) {
            for (x, y) in a
                .top
                .iter()
                .zip(&b.top)
                .chain(a.bottom.iter().zip(&b.bottom))
            {
                assert_eq!(x.0, y.0);
                assert!((x.1 - y.1).abs() < 1e-5, "{x:?} {y:?}");
            }
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let (model, sae, _) = fixture();
        let err =
            decoder_logit_lens(&sae, model.net.unembedding_matrix(), 256..257, 5).unwrap_err();
        assert_eq!(
            err.to_string(),
            "latent 256 is out of range (the SAE has 256)"
        );
        let empty = decoder_logit_lens(&sae, model.net.unembedding_matrix(), 0..3, 0).unwrap();
        assert_eq!(empty, vec![LensTokens::default(); 3]);
    }
}
