//! Families across SAEs and layers: directions to match by ([`By`]), which narrow latent each
//! wide latent splits from, the closest latent in another SAE, chains across layers, and the
//! Compare view's partner figure.

use super::{coact, jaccard, match_decoders, top_k, unit_decoder, unit_rows, CHUNK};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Tensor};

/// An SAE's encoder directions as unit rows `[d_sae, d_in]` (the columns of `W_enc`, f32).
pub fn unit_encoder(sae: &crate::sae::Sae) -> Result<Tensor> {
    let w = sae
        .w_enc
        .to_tensor()?
        .to_dtype(DType::F32)?
        .t()?
        .contiguous()?;
    unit_rows(&w)
}

/// Which directions of two SAEs [`match_decoders`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum By {
    /// Decoder rows (what a latent writes).
    #[default]
    Decoder,
    /// Encoder columns (what a latent reads).
    Encoder,
    /// The mean of the decoder and the encoder cosine.
    Both,
}

impl std::str::FromStr for By {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "decoder" => By::Decoder,
            "encoder" => By::Encoder,
            "both" => By::Both,
            _ => bail!("unknown direction {s:?}: decoder, encoder or both"),
        })
    }
}

impl By {
    /// Its name as `--by` takes it.
    pub fn name(self) -> &'static str {
        match self {
            By::Decoder => "decoder",
            By::Encoder => "encoder",
            By::Both => "both",
        }
    }
}

/// An SAE's directions to match by, as rows whose dot products are the chosen cosine: unit
/// decoder rows, unit encoder columns, or both side by side scaled by 1/√2 (so a dot product
/// is the mean of the decoder and the encoder cosine).
pub fn directions(sae: &crate::sae::Sae, by: By) -> Result<Tensor> {
    Ok(match by {
        By::Decoder => unit_decoder(sae)?,
        By::Encoder => unit_encoder(sae)?,
        By::Both => {
            let cat = Tensor::cat(&[&unit_decoder(sae)?, &unit_encoder(sae)?], 1)?;
            (cat * std::f64::consts::FRAC_1_SQRT_2)?
        }
    })
}

/// For each latent of `wide` (unit rows), the latent of `narrow` with the highest cosine and
/// that cosine: the narrow latent it splits from (many wide latents may share one; not one to
/// one).
pub fn split_parents(wide: &Tensor, narrow: &Tensor) -> Result<Vec<(u32, f32)>> {
    let (_, dw) = wide.dims2()?;
    let (nn, dn) = narrow.dims2()?;
    if dw != dn {
        bail!("the SAEs read spaces of different size (d_in {dw} and {dn})");
    }
    if nn == 0 {
        bail!("an SAE without latents has nothing to split from");
    }
    let nt = narrow.t()?.contiguous()?;
    let mut out = Vec::with_capacity(wide.dim(0)?);
    for start in (0..wide.dim(0)?).step_by(CHUNK) {
        let len = CHUNK.min(wide.dim(0)? - start);
        let block: Vec<Vec<f32>> = wide.narrow(0, start, len)?.matmul(&nt)?.to_vec2()?;
        out.extend(block.iter().map(|row| top_k(row, 1)[0]));
    }
    Ok(out)
}

/// The latent of `dec` (unit rows) whose direction is closest to `dir` (`[d_in]` or
/// `[1, d_in]`, unit length), with its cosine.
pub fn best_match(dir: &Tensor, dec: &Tensor) -> Result<(u32, f32)> {
    let d = dir.flatten_all()?;
    let (n, din) = dec.dims2()?;
    if d.dim(0)? != din {
        bail!(
            "directions of size {} and {din} cannot be compared",
            d.dim(0)?
        );
    }
    if n == 0 {
        bail!("an SAE without latents has no match");
    }
    let sims: Vec<f32> = dec.matmul(&d.unsqueeze(1)?)?.flatten_all()?.to_vec1()?;
    Ok(top_k(&sims, 1)[0])
}

/// The closest latent of another SAE: the same concept in another candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counterpart {
    /// The other SAE (its index in the workspace).
    pub sae: usize,
    pub latent: u32,
    /// Decoder cosine.
    pub cosine: f32,
}

/// What the neuron page shows of a neuron's family besides its nearest directions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NeuronFamily {
    /// The latents of the same SAE it co-activates with most ([`CoActivation::neighbours`]);
    /// `None` when the SAE has no feature store.
    pub coactivation: Option<Vec<(u32, f32)>>,
    /// Per other SAE of the same `d_in`: its closest latent by decoder cosine, best first.
    pub same_concept: Vec<Counterpart>,
    /// Its chain across the layers above ([`chain`]); the neuron itself first.
    pub chain: Vec<ChainLink>,
}

/// An SAE of a workspace as [`chain`] sees it.
pub struct ChainSae<'a> {
    pub layer: usize,
    pub d_in: usize,
    /// Its feature store, when it has one.
    pub store: Option<&'a crate::store::Store>,
}

/// One step of a chain: a latent of one SAE and how it was reached.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainLink {
    /// The SAE's index in the slice given to [`chain`].
    pub sae: usize,
    pub layer: usize,
    pub latent: u32,
    /// Decoder cosine with the previous link's latent (1 for the first).
    pub cosine: f32,
    /// Jaccard index of the two latents' active tokens in their top examples
    /// ([`coact`]), when both SAEs have stores over the same tokens.
    pub coactivation: Option<f32>,
}

/// A latent's chain across layers: from `latent` of SAE `start`, the latent with the highest
/// decoder cosine among the SAEs of the next layer above that read a space of the same size,
/// repeated up to the last such layer. Where the current SAE has a store and some SAEs of the
/// next layer have a store over the same tokens, only those are searched (so each step can be
/// confirmed by co-activation on the same tokens); else all of that layer's. `saes[i]` is
/// `None` for an SAE that is not loaded; `dec(i)` gives SAE `i`'s unit decoder rows.
pub fn chain(
    saes: &[Option<ChainSae>],
    start: usize,
    latent: u32,
    dec: &dyn Fn(usize) -> Result<Tensor>,
) -> Result<Vec<ChainLink>> {
    let first = saes
        .get(start)
        .and_then(Option::as_ref)
        .context("that SAE is not loaded")?;
    let mut links = vec![ChainLink {
        sae: start,
        layer: first.layer,
        latent,
        cosine: 1.0,
        coactivation: None,
    }];
    let mut cur_dir = dec(start)?.narrow(0, latent as usize, 1)?;
    loop {
        let cur = links.last().expect("one link at least").clone();
        let here = saes[cur.sae].as_ref().expect("a loaded SAE");
        let Some(next_layer) = saes
            .iter()
            .flatten()
            .filter(|s| s.d_in == here.d_in && s.layer > cur.layer)
            .map(|s| s.layer)
            .min()
        else {
            break;
        };
        let at_next: Vec<usize> = (0..saes.len())
            .filter(|&i| {
                saes[i]
                    .as_ref()
                    .is_some_and(|s| s.layer == next_layer && s.d_in == here.d_in)
            })
            .collect();
        let comparable = |i: usize| match (here.store, saes[i].as_ref().and_then(|s| s.store)) {
            (Some(a), Some(b)) => a.same_tokens_as(b),
            _ => false,
        };
        let with_store: Vec<usize> = at_next.iter().copied().filter(|&i| comparable(i)).collect();
        let search = if with_store.is_empty() {
            at_next
        } else {
            with_store
        };
        let mut best: Option<(usize, u32, f32, Tensor)> = None;
        for i in search {
            let d = dec(i)?;
            let (j, c) = best_match(&cur_dir, &d)?;
            if best.as_ref().is_none_or(|b| c > b.2) {
                best = Some((i, j, c, d));
            }
        }
        let Some((i, j, c, d)) = best else { break };
        let coactivation = if comparable(i) {
            let (a, b) = (
                here.store.expect("a store"),
                saes[i].as_ref().and_then(|s| s.store),
            );
            b.map(|b| {
                jaccard(
                    &coact::active_tokens(&a.examples(cur.latent)),
                    &coact::active_tokens(&b.examples(j)),
                )
            })
        } else {
            None
        };
        links.push(ChainLink {
            sae: i,
            layer: next_layer,
            latent: j,
            cosine: c,
            coactivation,
        });
        cur_dir = d.narrow(0, j as usize, 1)?;
    }
    Ok(links)
}

/// How many latents of two SAEs have a one-to-one partner at or above a cosine: the Compare
/// view's figure, from [`match_decoders`] on decoder directions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartnerShare {
    /// Latents with a partner at or above the threshold.
    pub partners: usize,
    /// Matched pairs (the smaller width).
    pub pairs: usize,
    pub exact: bool,
}

impl PartnerShare {
    /// `partners / pairs` (0 for none).
    pub fn share(&self) -> f64 {
        if self.pairs == 0 {
            0.0
        } else {
            self.partners as f64 / self.pairs as f64
        }
    }
}

/// Matches two SAEs by decoder cosine and counts the partners at or above `threshold`.
pub fn partner_share(
    a: &crate::sae::Sae,
    b: &crate::sae::Sae,
    threshold: f32,
) -> Result<PartnerShare> {
    let m = match_decoders(&unit_decoder(a)?, &unit_decoder(b)?)?;
    Ok(PartnerShare {
        partners: m.partners_above(threshold),
        pairs: m.pairs.len(),
        exact: m.exact,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::CoActivation;
    use candle_core::Device;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn random(n: usize, d: usize, seed: u64) -> Tensor {
        let mut r = StdRng::seed_from_u64(seed);
        let v: Vec<f32> = (0..n * d).map(|_| r.random_range(-1.0..1.0)).collect();
        Tensor::from_vec(v, (n, d), &Device::Cpu).unwrap()
    }

    #[test]
    fn a_wide_latent_splits_from_the_narrow_latent_it_copies() {
        // Each narrow direction split in three: itself plus two noisy copies.
        let narrow = unit_rows(&random(10, 16, 7)).unwrap();
        let noise = (random(20, 16, 8) * 0.2).unwrap();
        let idx: Vec<u32> = (0..20).map(|i| i % 10).collect();
        let copies = (narrow
            .index_select(&Tensor::new(idx.as_slice(), &Device::Cpu).unwrap(), 0)
            .unwrap()
            + noise)
            .unwrap();
        let wide = unit_rows(&Tensor::cat(&[&narrow, &copies], 0).unwrap()).unwrap();
        let p = split_parents(&wide, &narrow).unwrap();
        assert_eq!(p.len(), 30);
        for (w, (n, c)) in p.iter().enumerate() {
            assert_eq!(*n as usize, w % 10, "wide latent {w}");
            assert!(*c > 0.8 && *c <= 1.0 + 1e-5, "{c}");
        }
        assert!((p[3].1 - 1.0).abs() < 1e-5);
        assert!(split_parents(&wide, &random(3, 5, 1)).is_err());
    }

    fn fixture_sae(name: &str) -> crate::sae::Sae {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
        crate::sae::load_sae(&p.display().to_string().parse().unwrap(), &Device::Cpu).unwrap()
    }

    #[test]
    fn both_directions_average_the_decoder_and_encoder_cosines() {
        let sae = fixture_sae("tests/fixtures/saes/saelens_topk");
        let (dec, enc) = (unit_decoder(&sae).unwrap(), unit_encoder(&sae).unwrap());
        let both = directions(&sae, By::Both).unwrap();
        let d: Vec<Vec<f32>> = dec.matmul(&dec.t().unwrap()).unwrap().to_vec2().unwrap();
        let e: Vec<Vec<f32>> = enc.matmul(&enc.t().unwrap()).unwrap().to_vec2().unwrap();
        let b: Vec<Vec<f32>> = both.matmul(&both.t().unwrap()).unwrap().to_vec2().unwrap();
        for (i, j) in [(0, 1), (5, 200), (17, 17)] {
            assert!((b[i][j] - (d[i][j] + e[i][j]) / 2.0).abs() < 1e-5);
        }
        // Encoder directions are the columns of W_enc.
        let w: Vec<Vec<f32>> = sae.w_enc.to_tensor().unwrap().to_vec2().unwrap();
        let col: Vec<f32> = w.iter().map(|r| r[3]).collect();
        let n = col.iter().map(|x| x * x).sum::<f32>().sqrt();
        let row: Vec<f32> = enc.get(3).unwrap().to_vec1().unwrap();
        assert!(col.iter().zip(&row).all(|(c, r)| (c / n - r).abs() < 1e-5));
        assert_eq!("encoder".parse::<By>().unwrap(), By::Encoder);
        assert!("sideways".parse::<By>().is_err());
        // Matched by encoder against itself: every latent is its own partner.
        let m = match_decoders(&enc, &directions(&sae, By::Encoder).unwrap()).unwrap();
        assert!(m.pairs.iter().all(|p| p.a == p.b));
    }

    #[test]
    fn a_chain_follows_the_closest_direction_layer_by_layer() {
        // Layer 0: e0; layer 1: two SAEs, the second holding a closer copy; layer 2: one SAE;
        // another d_in at layer 3 is never reached.
        let t = |v: &[[f32; 3]]| {
            let flat: Vec<f32> = v.iter().flatten().copied().collect();
            unit_rows(&Tensor::from_vec(flat, (v.len(), 3), &Device::Cpu).unwrap()).unwrap()
        };
        let decs = [
            t(&[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
            t(&[[0.6, 0.8, 0.0], [0.0, 0.0, 1.0]]),
            t(&[[0.0, 1.0, 0.0], [0.9, 0.1, 0.0], [0.0, 0.0, 1.0]]),
            t(&[[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]]),
        ];
        let sae = |layer, d_in| {
            Some(ChainSae {
                layer,
                d_in,
                store: None,
            })
        };
        let saes = vec![sae(0, 3), sae(1, 3), sae(1, 3), sae(2, 3), None, sae(3, 4)];
        let dec = |i: usize| Ok(decs[i].clone());
        let c = chain(&saes, 0, 0, &dec).unwrap();
        let steps: Vec<(usize, usize, u32)> =
            c.iter().map(|l| (l.sae, l.layer, l.latent)).collect();
        assert_eq!(steps, [(0, 0, 0), (2, 1, 1), (3, 2, 1)]);
        let b = 0.9f32 / (0.82f32).sqrt();
        assert!((c[1].cosine - b).abs() < 1e-5, "{c:?}");
        // From (0.9, 0.1, 0)/|·| to (0.5, 0.5, 0)/|·|.
        let e = (0.45f32 + 0.05) / ((0.82f32).sqrt() * (0.5f32).sqrt());
        assert!((c[2].cosine - e).abs() < 1e-5, "{c:?}");
        assert!(c.iter().all(|l| l.coactivation.is_none()));
        // From the last layer: only the neuron itself.
        assert_eq!(chain(&saes, 3, 0, &dec).unwrap().len(), 1);
        assert!(chain(&saes, 4, 0, &dec).is_err());
    }

    fn stand_in_store(layer: usize) -> crate::store::Store {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/fixtures/workspace/stores/L{layer}"));
        crate::store::Store::open(&p).unwrap()
    }

    /// By hand from the store's per-latent examples: the set of (document, position) where
    /// the latent is > 0 in a top example.
    fn hand_set(st: &crate::store::Store, l: u32) -> std::collections::BTreeSet<(u64, u32)> {
        let mut s = std::collections::BTreeSet::new();
        for e in st.examples(l).iter().filter(|e| e.kind == "top") {
            for (p, a) in e.acts.iter().enumerate() {
                if *a > 0.0 {
                    s.insert((e.doc, e.offset + p as u32));
                }
            }
        }
        s
    }

    fn hand_jaccard(
        a: &std::collections::BTreeSet<(u64, u32)>,
        b: &std::collections::BTreeSet<(u64, u32)>,
    ) -> f32 {
        let both = a.intersection(b).count();
        both as f32 / (a.len() + b.len() - both) as f32
    }

    #[test]
    fn coactivation_neighbours_match_a_hand_count_from_the_store() {
        let st = stand_in_store(1);
        let co = CoActivation::build(&st).unwrap();
        let sets: Vec<_> = (0..256u32).map(|l| hand_set(&st, l)).collect();
        let mut checked = 0;
        for l in [0u32, 17, 100, 255] {
            let got = co.neighbours(l, 5);
            let mut want: Vec<(u32, f32)> = (0..256u32)
                .filter(|&j| j != l)
                .map(|j| (j, hand_jaccard(&sets[l as usize], &sets[j as usize])))
                .filter(|x| x.1 > 0.0)
                .collect();
            want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            want.truncate(5);
            assert_eq!(got.len(), want.len(), "latent {l}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.0, w.0, "latent {l}: {got:?} vs {want:?}");
                assert!((g.1 - w.1).abs() < 1e-6);
            }
            checked += got.len();
        }
        assert!(checked > 0, "the stand-in store's latents share tokens");
    }

    #[test]
    fn a_chain_is_confirmed_by_coactivation_where_both_have_stores() {
        let stores: Vec<_> = (0..3).map(stand_in_store).collect();
        let saes_files = [
            "tests/fixtures/saes/saelens_standard_legacy",
            "tests/fixtures/saes/saelens_topk",
        ];
        let decs: Vec<Tensor> = saes_files
            .iter()
            .map(|f| unit_decoder(&fixture_sae(f)).unwrap())
            .collect();
        let saes: Vec<Option<ChainSae>> = (0..2)
            .map(|i| {
                Some(ChainSae {
                    layer: i,
                    d_in: 64,
                    store: Some(&stores[i]),
                })
            })
            .collect();
        let dec = |i: usize| Ok(decs[i].clone());
        let c = chain(&saes, 0, 145, &dec).unwrap();
        assert_eq!(c.len(), 2);
        let (j, cos) = best_match(&decs[0].get(145).unwrap(), &decs[1]).unwrap();
        assert_eq!((c[1].latent, c[1].cosine), (j, cos));
        let want = hand_jaccard(&hand_set(&stores[0], 145), &hand_set(&stores[1], j));
        assert_eq!(c[1].coactivation, Some(want));
        assert!(stores[0].same_tokens_as(&stores[2]));
    }

    #[test]
    fn the_partner_figure_is_matchs_count_on_the_sample() {
        // Two sample candidates of layer 1 (widths 512 and 1024): the figure the Compare view
        // shows is `match`'s count of pairs with cosine ≥ 0.7 (476 of 512, in the user guide).
        let (a, b) = (
            fixture_sae("sample_data/saes/L1-mlp_out-w512-topk16"),
            fixture_sae("sample_data/saes/L1-mlp_out-w1024-topk16"),
        );
        let p = partner_share(&a, &b, 0.7).unwrap();
        let m = match_decoders(&unit_decoder(&a).unwrap(), &unit_decoder(&b).unwrap()).unwrap();
        assert_eq!(p.partners, m.partners_above(0.7));
        assert_eq!((p.partners, p.pairs, p.exact), (476, 512, true));
        assert!((p.share() - 476.0 / 512.0).abs() < 1e-12);
    }
}
