//! A prompt's analysis: its tokens (and the model's answer) with every SAE's active latents
//! per token ([`LoadedModel::analyze`]), and what is read from it: normalized activations,
//! the per-token safety overview, one neuron's trace, a token's neuron table and the
//! layers × tokens heat map. Pure data, no UI: tested directly.

mod run;

pub use run::{LoadedModel, SaeInfo, TokenScores, TokenTrace};

use crate::db::NeuronRecord;
use crate::model::tokenizer::TokenInfo;
use std::collections::HashMap;

/// One SAE's latents over the tokens: per token the active latents, strongest first.
#[derive(Debug, Clone)]
pub struct SaeActs {
    /// Index of the SAE in the workspace.
    pub sae: usize,
    pub layer: usize,
    pub acts: Vec<Vec<(u32, f32)>>,
}

/// The result of running a prompt (and the model's answer) through the model and SAEs.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub tokens: Vec<TokenInfo>,
    /// How many of `tokens` are the prompt (the rest is the model's answer).
    pub n_prompt: usize,
    pub saes: Vec<SaeActs>,
}

/// What the readings of an analysis need to know about one SAE of the workspace (indexed
/// like [`SaeActs::sae`]): its neurons' records and their normalisation scales.
pub trait SaeNeurons {
    /// The record (explanation, tags, score) of a latent, if its database has one.
    fn record(&self, latent: u32) -> Option<&NeuronRecord>;
    /// The activation that counts as 1.0 for a latent (its 0.999 quantile from the feature
    /// store or the Safe-SAIL quantile file), if known.
    fn q999(&self, latent: u32) -> Option<f32>;
    /// Whether the safety overview considers the latent: listed in the SAE's Safe-SAIL indices
    /// file, when it has one (every latent otherwise).
    fn selected(&self, _latent: u32) -> bool {
        true
    }
}

/// How normalized activations are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormSource {
    /// Divided by the neuron's 0.999 quantile from its feature store or the Safe-SAIL quantile
    /// file (Safe-SAIL's way).
    Quantile,
    /// No store: divided by the neuron's largest activation in this run.
    RunMax,
}

/// Normalisation scales for one analysis.
pub struct Normalizer {
    /// Per SAE position in `Analysis::saes`: latent → scale.
    scales: Vec<HashMap<u32, (f32, NormSource)>>,
}

impl Normalizer {
    pub fn new(a: &Analysis, ctx: &[impl SaeNeurons]) -> Self {
        let scales = a
            .saes
            .iter()
            .map(|s| {
                let mut run_max: HashMap<u32, f32> = HashMap::new();
                for tok in &s.acts {
                    for &(l, v) in tok {
                        let e = run_max.entry(l).or_insert(0.0);
                        *e = e.max(v);
                    }
                }
                let c = ctx.get(s.sae);
                run_max
                    .into_iter()
                    .map(
                        |(l, m)| match c.and_then(|c| c.q999(l)).filter(|v| *v > 0.0) {
                            Some(q) => (l, (q, NormSource::Quantile)),
                            None => (l, (m.max(1e-12), NormSource::RunMax)),
                        },
                    )
                    .collect()
            })
            .collect();
        Self { scales }
    }

    /// Normalized activation of `latent` of the `i`-th SAE of the analysis.
    pub fn norm(&self, i: usize, latent: u32, act: f32) -> f32 {
        self.scales[i].get(&latent).map_or(0.0, |(s, _)| act / s)
    }

    /// Whether `latent` of the `i`-th SAE is normalized by its 0.999 quantile (rather than by
    /// its maximum in this run).
    pub fn from_quantile(&self, i: usize, latent: u32) -> bool {
        self.scales[i]
            .get(&latent)
            .is_some_and(|(_, src)| *src == NormSource::Quantile)
    }

    /// Whether every scale came from a feature store.
    pub fn all_from_stores(&self) -> bool {
        self.scales
            .iter()
            .flat_map(|m| m.values())
            .all(|(_, src)| *src == NormSource::Quantile)
    }
}

/// The strongest safety neuron at a token.
#[derive(Debug, Clone, PartialEq)]
pub struct SafetyHit {
    pub norm: f32,
    pub domain: String,
    /// The neuron's sub-category of `domain`, when its record names one.
    pub subcategory: Option<String>,
    pub layer: usize,
    pub latent: u32,
}

/// Per token, the strongest normalized activation among safety-tagged neurons of the
/// chosen layers (`None` for special tokens and tokens with no safety neuron active). Where an
/// SAE has a Safe-SAIL indices file, only the neurons it lists count.
pub fn safety_overview(
    a: &Analysis,
    ctx: &[impl SaeNeurons],
    norm: &Normalizer,
    layers: &dyn Fn(usize) -> bool,
) -> Vec<Option<SafetyHit>> {
    (0..a.tokens.len())
        .map(|t| {
            if a.tokens[t].special {
                return None;
            }
            let mut best: Option<SafetyHit> = None;
            for (i, s) in a.saes.iter().enumerate() {
                if !layers(s.layer) {
                    continue;
                }
                let Some(c) = ctx.get(s.sae) else { continue };
                for &(latent, act) in &s.acts[t] {
                    if !c.selected(latent) {
                        continue;
                    }
                    let Some(rec) = c.record(latent) else {
                        continue;
                    };
                    let Some(domain) = rec.domain() else {
                        continue;
                    };
                    let n = norm.norm(i, latent, act);
                    if best.as_ref().is_none_or(|b| n > b.norm) {
                        best = Some(SafetyHit {
                            norm: n,
                            domain: domain.to_string(),
                            subcategory: rec.subcategory().map(str::to_string),
                            layer: s.layer,
                            latent,
                        });
                    }
                }
            }
            best
        })
        .collect()
}

/// One neuron's normalized activation on every token (0 where inactive or special).
pub fn neuron_trace(a: &Analysis, norm: &Normalizer, sae: usize, latent: u32) -> Vec<f32> {
    let Some(i) = a.saes.iter().position(|s| s.sae == sae) else {
        return vec![0.0; a.tokens.len()];
    };
    a.saes[i]
        .acts
        .iter()
        .zip(&a.tokens)
        .map(|(tok, info)| {
            if info.special {
                return 0.0;
            }
            tok.iter()
                .find(|(l, _)| *l == latent)
                .map_or(0.0, |&(_, v)| norm.norm(i, latent, v))
        })
        .collect()
}

/// One row of a token's neuron table.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronRow {
    pub sae: usize,
    pub layer: usize,
    pub latent: u32,
    /// `layer_index`, as in Safe-SAIL.
    pub id: String,
    pub norm: f32,
    pub raw: f32,
    pub explanation: Option<String>,
    /// The record's tags, sub-categories as `domain/sub-category`.
    pub tags: Vec<String>,
    pub score: Option<f64>,
    /// Normalized by the neuron's 0.999 quantile (feature store or Safe-SAIL quantile file);
    /// `false`: by its largest activation in this run, so not comparable with the others.
    pub from_store: bool,
}

/// Every neuron active at token `t` across the chosen layers.
pub fn token_rows(
    a: &Analysis,
    ctx: &[impl SaeNeurons],
    norm: &Normalizer,
    t: usize,
    layers: &dyn Fn(usize) -> bool,
) -> Vec<NeuronRow> {
    let mut rows = vec![];
    for (i, s) in a.saes.iter().enumerate() {
        if !layers(s.layer) {
            continue;
        }
        let rec = |l: u32| {
            ctx.get(s.sae)
                .and_then(|c| c.record(l))
                .cloned()
                .unwrap_or_default()
        };
        for &(latent, raw) in &s.acts[t] {
            let r = rec(latent);
            let score = r.live_score();
            let from_store = norm.from_quantile(i, latent);
            rows.push(NeuronRow {
                sae: s.sae,
                layer: s.layer,
                latent,
                id: crate::db::neuron_id(s.layer, latent),
                norm: norm.norm(i, latent, raw),
                raw,
                tags: r.tags(),
                explanation: r.explanation,
                score,
                from_store,
            });
        }
    }
    sort_rows(&mut rows, SortBy::Norm, true);
    rows
}

/// Filters for the neuron table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowFilter {
    /// Only rows carrying this tag (`"none"` = rows without tags; a domain matches its
    /// sub-categories too).
    pub tag: Option<String>,
    pub layer: Option<usize>,
    pub min_score: f64,
}

impl RowFilter {
    pub fn keep(&self, r: &NeuronRow) -> bool {
        let tag_ok = match self.tag.as_deref() {
            None => true,
            Some("none") => r.tags.is_empty(),
            Some(t) => crate::domains::tag_matches(&r.tags, t),
        };
        let score_ok = self.min_score <= 0.0 || r.score.is_some_and(|s| s >= self.min_score);
        tag_ok && self.layer.is_none_or(|l| l == r.layer) && score_ok
    }
}

/// Sort keys of the neuron table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Id,
    Norm,
    Raw,
    Score,
}

/// Sorts rows in place; ties broken by neuron id so the order is stable.
pub fn sort_rows(rows: &mut [NeuronRow], by: SortBy, descending: bool) {
    rows.sort_by(|a, b| {
        let o = match by {
            SortBy::Id => (a.layer, a.latent).cmp(&(b.layer, b.latent)),
            SortBy::Norm => a.norm.total_cmp(&b.norm),
            SortBy::Raw => a.raw.total_cmp(&b.raw),
            SortBy::Score => a
                .score
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&b.score.unwrap_or(f64::NEG_INFINITY)),
        };
        let o = if descending { o.reverse() } else { o };
        // Rows normalized by a store come first: the others' 1.00 means "this prompt's max".
        b.from_store
            .cmp(&a.from_store)
            .then(o)
            .then((a.layer, a.latent, a.sae).cmp(&(b.layer, b.latent, b.sae)))
    });
}

/// Whether two of these layers are the same (several SAE candidates at one layer, so a layer
/// number no longer names an SAE).
pub fn has_shared_layer(layers: impl IntoIterator<Item = usize>) -> bool {
    let mut seen = std::collections::HashSet::new();
    layers.into_iter().any(|l| !seen.insert(l))
}

/// Layers × tokens: per SAE (row) and token (column) the strongest normalized activation
/// among safety neurons, or among all neurons when `safety_only` is false.
pub fn layer_heatmap(
    a: &Analysis,
    ctx: &[impl SaeNeurons],
    norm: &Normalizer,
    safety_only: bool,
) -> Vec<Vec<f32>> {
    a.saes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.acts
                .iter()
                .zip(&a.tokens)
                .map(|(tok, info)| {
                    if info.special {
                        return 0.0;
                    }
                    tok.iter()
                        .filter(|(l, _)| {
                            !safety_only
                                || ctx.get(s.sae).is_some_and(|c| {
                                    c.selected(*l)
                                        && c.record(*l).is_some_and(NeuronRecord::is_safety)
                                })
                        })
                        .map(|&(l, v)| norm.norm(i, l, v))
                        .fold(0.0, f32::max)
                })
                .collect()
        })
        .collect()
}

/// A neuron a tripwire watches, resolved to one SAE of the workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct TripwireWatch {
    /// The tripwire as written (`violence>0.8:stop`).
    pub spec: String,
    pub sae: usize,
    pub latent: u32,
    /// `LAYER_INDEX`.
    pub id: String,
    /// In normalized units.
    pub threshold: f32,
}

/// A token where a tripwire's neuron reached its threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct TripHit {
    pub token: usize,
    /// Index into the watches given to [`tripwire_hits`].
    pub watch: usize,
    pub normalized: f32,
}

/// Where each watched neuron reaches its tripwire's threshold in an analysis, prompt and answer
/// tokens alike (special tokens excluded, as in the overview), in token order. A neuron counts
/// only where it is among the token's recorded active latents ([`SaeActs::acts`]).
pub fn tripwire_hits(a: &Analysis, norm: &Normalizer, watches: &[TripwireWatch]) -> Vec<TripHit> {
    let mut hits = vec![];
    for (w, watch) in watches.iter().enumerate() {
        for (token, v) in neuron_trace(a, norm, watch.sae, watch.latent)
            .into_iter()
            .enumerate()
        {
            if v > 0.0 && v >= watch.threshold {
                hits.push(TripHit {
                    token,
                    watch: w,
                    normalized: v,
                });
            }
        }
    }
    hits.sort_by_key(|h| (h.token, h.watch));
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::NeuronDb;

    #[test]
    fn tripwires_fire_where_the_normalized_value_reaches_the_threshold() {
        let (a, ctx) = fixture();
        let n = Normalizer::new(&a, &ctx);
        let watch = |latent, threshold| TripwireWatch {
            spec: format!("8_{latent}>{threshold}"),
            sae: 0,
            latent,
            id: format!("8_{latent}"),
            threshold,
        };
        // 8_1: 9.0 on the special token (excluded), 4.0 / 8.0 = 0.5 on "bomb".
        let hits = tripwire_hits(&a, &n, &[watch(1, 0.5), watch(1, 0.6)]);
        assert_eq!(
            hits,
            vec![TripHit {
                token: 1,
                watch: 0,
                normalized: 0.5
            }]
        );
        // 8_3 has no quantile: its run max (5.0) is 1.0, on " cake".
        let hits = tripwire_hits(&a, &n, &[watch(3, 1.0), watch(1, 0.1)]);
        assert_eq!(
            hits.iter().map(|h| (h.token, h.watch)).collect::<Vec<_>>(),
            vec![(1, 1), (2, 0)]
        );
    }

    /// One SAE's database and quantiles, as the workspace would give them.
    struct Neurons {
        layer: usize,
        db: NeuronDb,
        q999: HashMap<u32, f32>,
        /// As from an indices file.
        selected: Option<Vec<u32>>,
    }

    impl SaeNeurons for Neurons {
        fn record(&self, latent: u32) -> Option<&NeuronRecord> {
            self.db.get(self.layer, latent)
        }
        fn q999(&self, latent: u32) -> Option<f32> {
            self.q999.get(&latent).copied()
        }
        fn selected(&self, latent: u32) -> bool {
            self.selected.as_ref().is_none_or(|s| s.contains(&latent))
        }
    }

    fn tok(text: &str, special: bool) -> TokenInfo {
        TokenInfo {
            id: 0,
            text: text.into(),
            start: 0,
            end: 0,
            special,
        }
    }

    fn fixture() -> (Analysis, Vec<Neurons>) {
        let a = Analysis {
            tokens: vec![
                tok("<|im_start|>", true),
                tok("bomb", false),
                tok(" cake", false),
            ],
            n_prompt: 3,
            saes: vec![SaeActs {
                sae: 0,
                layer: 8,
                acts: vec![
                    vec![(1, 9.0)],
                    vec![(1, 4.0), (2, 2.0)],
                    vec![(2, 1.0), (3, 5.0)],
                ],
            }],
        };
        let mut db = NeuronDb::default();
        db.records.insert(
            "8_1".into(),
            NeuronRecord {
                explanation: Some("explosives".into()),
                correlation_score: Some(0.5),
                tag_list: vec!["terror".into()],
                subcategory_list: vec!["terror/extremist activities".into()],
                ..Default::default()
            },
        );
        db.records.insert(
            "8_2".into(),
            NeuronRecord {
                explanation: Some("food".into()),
                correlation_score: Some(0.3),
                tag_list: vec![],
                ..Default::default()
            },
        );
        let ctx = vec![Neurons {
            layer: 8,
            db,
            q999: HashMap::from([(1, 8.0)]),
            selected: None,
        }];
        (a, ctx)
    }

    #[test]
    fn overview_skips_special_tokens_and_uses_quantiles() {
        let (a, ctx) = fixture();
        let n = Normalizer::new(&a, &ctx);
        let o = safety_overview(&a, &ctx, &n, &|_| true);
        assert_eq!(o[0], None, "special tokens are excluded");
        let hit = o[1].as_ref().unwrap();
        assert_eq!((hit.domain.as_str(), hit.latent), ("terror", 1));
        assert_eq!(hit.subcategory.as_deref(), Some("extremist activities"));
        let rows = token_rows(&a, &ctx, &n, 1, &|_| true);
        let row = rows.iter().find(|r| r.latent == 1).unwrap();
        assert_eq!(row.tags, ["terror/extremist activities"]);
        let f = |t: &str| RowFilter {
            tag: Some(t.into()),
            ..Default::default()
        };
        assert!(f("terror").keep(row) && f("terror/extremist activities").keep(row));
        assert!(!f("terror/weapons").keep(row));
        assert!((hit.norm - 0.5).abs() < 1e-6, "4 / q999 8 = 0.5");
        assert_eq!(o[2], None, "no safety neuron active");
        assert!(!n.all_from_stores(), "latents 2 and 3 have no quantile");
        assert!(safety_overview(&a, &ctx, &n, &|l| l != 8)
            .iter()
            .all(Option::is_none));
    }

    #[test]
    fn the_overview_follows_the_indices_file() {
        let (a, mut ctx) = fixture();
        // Latent 4 is a second terror neuron, stronger at "bomb": 6 / 4 = 1.5 beats latent 1's
        // 4 / 8 = 0.5.
        let mut a = a;
        a.saes[0].acts[1].push((4, 6.0));
        ctx[0].db.records.insert(
            "8_4".into(),
            NeuronRecord {
                explanation: Some("weapons".into()),
                correlation_score: Some(0.4),
                tag_list: vec!["terror".into()],
                ..Default::default()
            },
        );
        ctx[0].q999.insert(4, 4.0);
        let n = Normalizer::new(&a, &ctx);
        assert_eq!(
            safety_overview(&a, &ctx, &n, &|_| true)[1]
                .as_ref()
                .unwrap()
                .latent,
            4
        );
        // The indices file lists latents 1 and 2 only: latent 4 no longer counts.
        ctx[0].selected = Some(vec![1, 2]);
        let hit = safety_overview(&a, &ctx, &n, &|_| true)[1].clone().unwrap();
        assert_eq!((hit.latent, hit.norm), (1, 0.5));
        // Listing nothing tagged leaves the token unshaded.
        ctx[0].selected = Some(vec![2]);
        assert_eq!(safety_overview(&a, &ctx, &n, &|_| true)[1], None);
    }

    #[test]
    fn rows_filter_and_sort() {
        let (a, ctx) = fixture();
        let n = Normalizer::new(&a, &ctx);
        let mut rows = token_rows(&a, &ctx, &n, 2, &|_| true);
        assert_eq!(rows.len(), 2);
        // Latent 3 has no store: normalized by its run max (5) → 1.0; latent 2 by 2.0 → 0.5.
        assert_eq!(rows[0].id, "8_3");
        assert_eq!(rows[0].norm, 1.0);
        sort_rows(&mut rows, SortBy::Score, true);
        assert_eq!(rows[0].id, "8_2");
        let f = RowFilter {
            tag: Some("none".into()),
            layer: Some(8),
            min_score: 0.25,
        };
        assert_eq!(rows.iter().filter(|r| f.keep(r)).count(), 1);
        let f = RowFilter {
            tag: Some("terror".into()),
            ..Default::default()
        };
        assert_eq!(rows.iter().filter(|r| f.keep(r)).count(), 0);
    }

    #[test]
    fn trace_and_heatmap() {
        let (a, ctx) = fixture();
        let n = Normalizer::new(&a, &ctx);
        assert_eq!(neuron_trace(&a, &n, 0, 1), vec![0.0, 0.5, 0.0]);
        let h = layer_heatmap(&a, &ctx, &n, true);
        assert_eq!(h, vec![vec![0.0, 0.5, 0.0]]);
        let h = layer_heatmap(&a, &ctx, &n, false);
        assert_eq!(h[0][2], 1.0);
    }
}
