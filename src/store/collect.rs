//! `safe-sail collect`: one pass over a corpus with the model and every SAE, keeping per
//! latent its statistics, top-k examples and a deterministic reservoir from which
//! quantile-binned examples are drawn. Memory is O(latents × examples × context), never
//! O(corpus).

use super::{hist_bin, hist_edges, ExampleRow, FeatureRow, StoreMeta, HIST_BINS};
use crate::capture::{check_sae_fits, Capture};
use crate::corpus::{counts_in_statistics, ContextSplitter, CorpusReport, CorpusSpec, Doc};
use crate::model::Model;
use crate::sae::lens::decoder_logit_lens;
use crate::sae::Sae;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::path::Path;

/// Settings of a collection run.
#[derive(Debug, Clone)]
pub struct CollectConfig {
    /// Tokens per context.
    pub context: usize,
    pub top_k: usize,
    pub quantile_bins: usize,
    pub per_bin: usize,
    /// Stop after this many counted tokens.
    pub max_tokens: Option<u64>,
    /// Contexts per forward pass.
    pub batch: usize,
    /// Render chat documents (and plain ones as a user message) through the chat template.
    pub chat: bool,
    /// Count special tokens too (excluded by default, as Safe-SAIL does).
    pub include_special: bool,
    /// The fewest largest activations kept per latent for exact high quantiles; more are kept
    /// as the corpus grows ([`top_values_for`]), up to `max_top_values`.
    pub top_values: usize,
    /// The most largest activations kept per latent: the 0.999 quantile stays exact up to
    /// about `max_top_values / 0.002` tokens (8.2M with the default), then comes from the
    /// histogram (an upper bound within one bin, a factor 10^(1/8) ≈ 1.33).
    pub max_top_values: usize,
    /// Promoted / suppressed tokens kept per latent.
    pub logit_tokens: usize,
    /// `(i, n)`: process only documents with `id % n == i`.
    pub shard: Option<(u64, u64)>,
    /// The model hid the chat markers from attention (recorded in the settings when set).
    pub mask_special_attention: bool,
}

impl Default for CollectConfig {
    fn default() -> Self {
        Self {
            context: 64,
            top_k: 20,
            quantile_bins: 10,
            per_bin: 5,
            max_tokens: None,
            batch: 8,
            chat: false,
            include_special: false,
            top_values: 1024,
            max_top_values: 16_384,
            logit_tokens: 10,
            shard: None,
            mask_special_attention: false,
        }
    }
}

/// A candidate example: one context, one latent.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cand {
    max_act: f32,
    doc: u64,
    offset: u32,
    priority: u64,
    ids: Vec<u32>,
    acts: Vec<f32>,
}

/// Orders top-k candidates so the heap's top is the weakest (ties: the later context).
#[derive(Serialize, Deserialize)]
struct ByAct(Cand);
impl PartialEq for ByAct {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for ByAct {}
impl PartialOrd for ByAct {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for ByAct {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reverse: BinaryHeap is a max-heap; we want the weakest on top.
        o.0.max_act
            .total_cmp(&self.0.max_act)
            .then((self.0.doc, self.0.offset).cmp(&(o.0.doc, o.0.offset)))
    }
}

/// Orders reservoir candidates by priority (largest on top, evicted first).
#[derive(Serialize, Deserialize)]
struct ByPrio(Cand);
impl PartialEq for ByPrio {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for ByPrio {}
impl PartialOrd for ByPrio {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for ByPrio {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.0.priority, self.0.doc, self.0.offset).cmp(&(o.0.priority, o.0.doc, o.0.offset))
    }
}

/// Orders values so that a `BinaryHeap` keeps the smallest on top (a min-heap).
#[derive(Serialize, Deserialize)]
struct MinF(f32);
impl PartialEq for MinF {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for MinF {}
impl PartialOrd for MinF {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for MinF {
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.total_cmp(&self.0)
    }
}

#[derive(Default, Serialize, Deserialize)]
struct LatentAcc {
    count: u64,
    sum: f64,
    max: f32,
    hist: Vec<u64>,
    top_values: BinaryHeap<MinF>,
    /// The largest activation not kept in `top_values` (0 while every one is kept): every
    /// larger value is kept, so the kept values from this one up are the true largest.
    evicted: f32,
    top: BinaryHeap<ByAct>,
    reservoir: BinaryHeap<ByPrio>,
}

/// How many of the largest activations a latent keeps after `tokens` tokens: twice what the
/// 0.999 quantile needs (so values dropped early, while the corpus was small, are almost never
/// needed at its end; [`LatentAcc::high_quantile`] checks), at least `top_values`, at most
/// `max_top_values`.
pub fn top_values_for(tokens: u64, cfg: &CollectConfig) -> usize {
    let need = 2 * crate::quantile::top_needed(tokens, crate::quantile::Q999) as usize + 2;
    need.max(cfg.top_values)
        .min(cfg.max_top_values.max(cfg.top_values))
}

impl LatentAcc {
    fn push_value(&mut self, a: f32, keep: usize) {
        if self.top_values.len() < keep {
            self.top_values.push(MinF(a));
        } else if self.top_values.peek().is_some_and(|m| a > m.0) {
            if let Some(out) = self.top_values.pop() {
                self.evicted = self.evicted.max(out.0);
            }
            self.top_values.push(MinF(a));
        } else {
            self.evicted = self.evicted.max(a);
        }
    }

    /// The `q`-quantile of this latent's activations over `n` tokens (zeros included), from
    /// the kept largest values ([`crate::quantile::quantile_from_top`]) when they are known to
    /// be the true largest as far as the quantile needs, else the upper edge of the histogram
    /// bin reaching its rank. `sorted_desc` is `top_values`, largest first. The flag says
    /// whether the value is exact.
    fn high_quantile(&self, sorted_desc: &[f32], edges: &[f32], n: u64, q: f64) -> (f32, bool) {
        let need = crate::quantile::top_needed(n, q) as usize;
        if need == 0 {
            return (0.0, true);
        }
        // The prefix of the kept values that is surely the true top: values ≥ `evicted`.
        let known = if self.evicted > 0.0 {
            sorted_desc.partition_point(|&v| v >= self.evicted)
        } else {
            usize::MAX
        };
        if need <= known.min(sorted_desc.len()) || self.evicted <= 0.0 {
            // Ascending; when fewer values are positive than needed, zeros come first.
            let m = need.min(sorted_desc.len());
            let mut asc = vec![0f32; need - m];
            asc.extend(sorted_desc[..m].iter().rev());
            let v = crate::quantile::quantile_from_top(&asc, n, q).unwrap_or(0.0);
            return (v, true);
        }
        (histogram_quantile(&self.hist, edges, n, q), false)
    }

    fn push_top(&mut self, c: Cand, k: usize) {
        if k == 0 {
            return;
        }
        self.top.push(ByAct(c));
        if self.top.len() > k {
            self.top.pop();
        }
    }

    fn push_reservoir(&mut self, c: Cand, r: usize) {
        self.reservoir.push(ByPrio(c));
        if self.reservoir.len() > r {
            self.reservoir.pop();
        }
    }

    /// Adds another accumulator of the same latent (another shard); the merged run has seen
    /// `tokens` tokens.
    fn merge(&mut self, o: LatentAcc, tokens: u64, cfg: &CollectConfig) {
        self.count += o.count;
        self.sum += o.sum;
        self.max = self.max.max(o.max);
        for (a, b) in self.hist.iter_mut().zip(o.hist) {
            *a += b;
        }
        self.evicted = self.evicted.max(o.evicted);
        let keep = top_values_for(tokens, cfg);
        for v in o.top_values {
            self.push_value(v.0, keep);
        }
        for c in o.top {
            self.push_top(c.0, cfg.top_k);
        }
        for c in o.reservoir {
            self.push_reservoir(c.0, reservoir_size(cfg));
        }
    }
}

fn reservoir_size(cfg: &CollectConfig) -> usize {
    (cfg.quantile_bins * cfg.per_bin * 2).max(1)
}

fn mix(mut x: u64) -> u64 {
    // splitmix64
    x = x.wrapping_add(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d049bb133111eb);
    x ^ (x >> 31)
}

/// A context: a slice of one document's tokens.
struct Ctx {
    doc: u64,
    offset: u32,
    ids: Vec<u32>,
    /// Per position: whether the token enters the statistics
    /// ([`crate::corpus::counts_in_statistics`]).
    counted: Vec<bool>,
}

/// Everything collected for one SAE.
#[derive(Serialize, Deserialize)]
struct SaeAcc {
    latents: Vec<LatentAcc>,
    tokens: u64,
}

/// The whole state of a run: what a checkpoint holds and what `merge-stores` adds up.
#[derive(Serialize, Deserialize)]
pub struct CollectState {
    accs: Vec<SaeAcc>,
    /// Documents with an id below this are done.
    pub next_doc: u64,
    pub contexts: u64,
    pub docs: u64,
    pub bad_rows: u64,
    /// What the run was started with (a resume must match).
    pub fingerprint: String,
}

/// The result of a run, per SAE.
pub struct Collected {
    pub features: Vec<FeatureRow>,
    pub examples: Vec<ExampleRow>,
    pub tokens: u64,
}

/// Progress callback: (tokens counted so far).
pub type Progress<'a> = &'a mut dyn FnMut(u64);

/// What identifies a run's inputs and settings (a checkpoint only resumes the same run).
pub fn fingerprint(model: &str, saes: &[Sae], corpus: &CorpusSpec, cfg: &CollectConfig) -> String {
    let saes: Vec<String> = saes
        .iter()
        .map(|s| {
            format!(
                "{}@{}:{}",
                s.meta.path.display(),
                s.hook(),
                s.activation.describe()
            )
        })
        .collect();
    format!(
        "{model}|{saes:?}|{:?}|{}|{:?}|{}|{}|{}|{}|{}|{}|{}|{:?}",
        corpus.files,
        corpus.text_field,
        corpus.messages_field,
        cfg.context,
        cfg.top_k,
        cfg.quantile_bins,
        cfg.per_bin,
        cfg.batch,
        cfg.chat,
        cfg.include_special,
        cfg.shard
    )
}

impl CollectState {
    /// What the corpus reading counted so far (documents and bad rows; no example messages).
    pub fn corpus_report(&self) -> CorpusReport {
        CorpusReport {
            docs: self.docs,
            bad_rows: self.bad_rows,
            examples: vec![],
        }
    }

    fn new(saes: &[Sae], fingerprint: String) -> Self {
        Self {
            accs: saes
                .iter()
                .map(|s| SaeAcc {
                    latents: (0..s.d_sae())
                        .map(|_| LatentAcc {
                            hist: vec![0; HIST_BINS],
                            ..Default::default()
                        })
                        .collect(),
                    tokens: 0,
                })
                .collect(),
            next_doc: 0,
            contexts: 0,
            docs: 0,
            bad_rows: 0,
            fingerprint,
        }
    }

    /// Tokens counted so far (by the first SAE; all see the same tokens).
    pub fn tokens(&self) -> u64 {
        self.accs.first().map_or(0, |a| a.tokens)
    }

    /// Writes the state atomically.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        crate::fsutil::write_atomic_with(path, |f| {
            bincode::serialize_into(std::io::BufWriter::new(f), self)?;
            Ok(())
        })
    }

    pub fn load(path: &std::path::Path) -> Result<Self> {
        let f =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        bincode::deserialize_from(std::io::BufReader::new(f))
            .with_context(|| format!("{} is not a collect state", path.display()))
    }

    /// Adds the state of another shard of the same run.
    pub fn merge(&mut self, o: CollectState, cfg: &CollectConfig) -> Result<()> {
        if self.accs.len() != o.accs.len()
            || self
                .accs
                .iter()
                .zip(&o.accs)
                .any(|(a, b)| a.latents.len() != b.latents.len())
        {
            bail!("the stores come from different SAEs");
        }
        for (a, b) in self.accs.iter_mut().zip(o.accs) {
            a.tokens += b.tokens;
            for (x, y) in a.latents.iter_mut().zip(b.latents) {
                x.merge(y, a.tokens, cfg);
            }
        }
        self.contexts += o.contexts;
        self.docs += o.docs;
        self.bad_rows += o.bad_rows;
        self.next_doc = self.next_doc.max(o.next_doc);
        Ok(())
    }
}

/// Nanoseconds spent in collect's bookkeeping (after the forward pass, everything but the SAE
/// encodes and reading their latents back: the non-finite check, the statistics and example
/// updates) since the process started; `bench-collect` reads it around a run.
pub static BOOKKEEPING_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs contexts through the model and SAEs and updates the accumulators.
fn flush(
    model: &Model,
    saes: &[Sae],
    cfg: &CollectConfig,
    state: &mut CollectState,
    pending: &mut Vec<Ctx>,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let batch = std::mem::take(pending);
    let seqs: Vec<Vec<u32>> = batch.iter().map(|c| c.ids.clone()).collect();
    let cap = Capture::batch(model, &seqs, saes.iter().map(Sae::hook))?;
    let started = std::time::Instant::now();
    let mut encode_time = std::time::Duration::ZERO;
    // NaN or ±Inf from the model must not reach the statistics as numbers.
    let lens: Vec<usize> = batch.iter().map(|c| c.ids.len()).collect();
    for (hook, x) in &cap.acts {
        if let Some((ci, pos)) = crate::capture::first_nonfinite_token(x, Some(&lens))? {
            bail!(
                "{} of the context from token {} of document {}",
                crate::capture::nonfinite_activations(&model.dir, *hook, pos),
                batch[ci].offset,
                batch[ci].doc
            );
        }
    }
    let res = reservoir_size(cfg);
    for (si, sae) in saes.iter().enumerate() {
        let x = &cap.acts[&sae.hook()];
        let (b, t, d) = x.dims3()?;
        let t_enc = std::time::Instant::now();
        let dense = sae
            .encode(&x.reshape((b * t, d))?)?
            .to_dtype(DType::F32)?
            .to_device(&Device::Cpu)?;
        let n_lat = sae.d_sae();
        let v = dense.flatten_all()?.to_vec1::<f32>()?;
        encode_time += t_enc.elapsed();
        let acc = &mut state.accs[si];
        let counted = |c: &Ctx, pos: usize| c.counted[pos];
        // How many of the largest values each context's updates keep (growing with the tokens
        // seen before it: the 0.999 quantile's need), then the tokens counted.
        let mut keeps = Vec::with_capacity(batch.len());
        for c in &batch {
            keeps.push(top_values_for(acc.tokens + c.ids.len() as u64, cfg));
            acc.tokens += (0..c.ids.len()).filter(|&p| counted(c, p)).count() as u64;
        }
        // Latents are independent: each task updates its own range of latents, visiting the
        // contexts and positions in order, so the result is the same whatever the threads.
        let chunk = n_lat
            .div_ceil(rayon::current_num_threads().max(1) * 4)
            .max(64);
        acc.latents
            .par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(ck, lats)| {
                let l0 = ck * chunk;
                let w = lats.len();
                let mut ctx_max = vec![0f32; w];
                for (ci, c) in batch.iter().enumerate() {
                    ctx_max.fill(0.0);
                    for pos in 0..c.ids.len() {
                        if !counted(c, pos) {
                            continue;
                        }
                        let at = (ci * t + pos) * n_lat + l0;
                        for (j, &a) in v[at..at + w].iter().enumerate() {
                            if a > 0.0 {
                                let la = &mut lats[j];
                                la.count += 1;
                                la.sum += a as f64;
                                la.max = la.max.max(a);
                                la.hist[hist_bin(a)] += 1;
                                la.push_value(a, keeps[ci]);
                                ctx_max[j] = ctx_max[j].max(a);
                            }
                        }
                    }
                    for (j, &m) in ctx_max.iter().enumerate() {
                        if m <= 0.0 {
                            continue;
                        }
                        let l = l0 + j;
                        let la = &mut lats[j];
                        let priority = mix(c.doc.wrapping_mul(0x100000001b3)
                            ^ ((c.offset as u64) << 32)
                            ^ l as u64);
                        let key = (m, std::cmp::Reverse((c.doc, c.offset)));
                        let want_top = la.top.len() < cfg.top_k
                            || la.top.peek().is_some_and(|w| {
                                key > (w.0.max_act, std::cmp::Reverse((w.0.doc, w.0.offset)))
                            });
                        let want_res = la.reservoir.len() < res
                            || la.reservoir.peek().is_some_and(|w| priority < w.0.priority);
                        if !want_top && !want_res {
                            continue;
                        }
                        let acts: Vec<f32> = (0..c.ids.len())
                            .map(|pos| {
                                if counted(c, pos) {
                                    v[(ci * t + pos) * n_lat + l]
                                } else {
                                    0.0
                                }
                            })
                            .collect();
                        let cand = Cand {
                            max_act: m,
                            doc: c.doc,
                            offset: c.offset,
                            priority,
                            ids: c.ids.clone(),
                            acts,
                        };
                        if want_top {
                            la.push_top(cand.clone(), cfg.top_k);
                        }
                        if want_res {
                            la.push_reservoir(cand, res);
                        }
                    }
                }
            });
    }
    let spent = started.elapsed().saturating_sub(encode_time);
    BOOKKEEPING_NS.fetch_add(
        spent.as_nanos() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    Ok(())
}

/// Where and how often a run checkpoints.
pub struct Checkpointing<'a> {
    pub path: &'a std::path::Path,
    /// Documents between checkpoints (contexts are flushed there, so runs with and without an
    /// interruption see exactly the same batches).
    pub every_docs: u64,
}

/// Runs a collection over `corpus`, from `resume` when given. Returns the final state.
#[allow(clippy::too_many_arguments)]
pub fn collect_state(
    model: &Model,
    saes: &[Sae],
    corpus: &CorpusSpec,
    cfg: &CollectConfig,
    fingerprint: String,
    resume: Option<CollectState>,
    checkpoint: Option<Checkpointing<'_>>,
    progress: Progress<'_>,
) -> Result<CollectState> {
    if saes.is_empty() {
        bail!("give at least one SAE");
    }
    if cfg.context == 0 || cfg.context > model.cfg.max_position_embeddings {
        bail!(
            "context of {} tokens: it must be between 1 and the model's maximum of {}",
            cfg.context,
            model.cfg.max_position_embeddings
        );
    }
    for s in saes {
        check_sae_fits(model, s)?;
    }
    let mut state = match resume {
        Some(s) if s.fingerprint != fingerprint => bail!(
            "the checkpoint belongs to a different run (model, SAEs, corpus or settings changed)"
        ),
        Some(s) => s,
        None => CollectState::new(saes, fingerprint),
    };
    let start_doc = state.next_doc;
    let splitter = ContextSplitter {
        text_as_chat: cfg.chat,
        skip_blank: true,
        ..ContextSplitter::new(&model.tok, cfg.context)
    };
    let mut pending: Vec<Ctx> = vec![];
    let mut stop = false;
    let mut since_ckpt = 0u64;
    let report = corpus.for_each(|doc: Doc| {
        if stop || doc.id < start_doc {
            return Ok(());
        }
        if let Some((i, n)) = cfg.shard {
            if doc.id % n != i {
                state.next_doc = doc.id + 1;
                return Ok(());
            }
        }
        let tokens = splitter.doc_tokens(doc.body)?;
        for (k, chunk) in splitter.split(&tokens).enumerate() {
            pending.push(Ctx {
                doc: doc.id,
                offset: (k * cfg.context) as u32,
                ids: chunk.to_vec(),
                counted: chunk
                    .iter()
                    .map(|&id| counts_in_statistics(&model.tok, id, cfg.include_special))
                    .collect(),
            });
            state.contexts += 1;
            if pending.len() >= cfg.batch {
                flush(model, saes, cfg, &mut state, &mut pending)?;
                progress(state.tokens());
                if cfg.max_tokens.is_some_and(|m| state.tokens() >= m) {
                    stop = true;
                    break;
                }
            }
        }
        state.next_doc = doc.id + 1;
        state.docs += 1;
        since_ckpt += 1;
        if let Some(c) = &checkpoint {
            if since_ckpt >= c.every_docs && !stop {
                flush(model, saes, cfg, &mut state, &mut pending)?;
                state.save(c.path)?;
                since_ckpt = 0;
            }
        }
        Ok(())
    })?;
    if !stop {
        flush(model, saes, cfg, &mut state, &mut pending)?;
        progress(state.tokens());
    }
    // Every pass reads the whole corpus, so its report counts all bad rows (resumed or not).
    state.bad_rows = report.bad_rows;
    if state.docs == 0 {
        bail!(
            "the corpus holds no usable document ({} bad rows{})",
            report.bad_rows,
            first_problem(&report)
        );
    }
    Ok(state)
}

/// Turns a state into the store's rows, per SAE.
pub fn finish_state(
    model: &Model,
    saes: &[Sae],
    cfg: &CollectConfig,
    state: CollectState,
) -> Result<Vec<Collected>> {
    saes.iter()
        .zip(state.accs)
        .map(|(sae, acc)| finish(model, sae, acc, cfg))
        .collect()
}

/// Runs a collection over `corpus` in one go.
pub fn collect(
    model: &Model,
    saes: &[Sae],
    corpus: &CorpusSpec,
    cfg: &CollectConfig,
    progress: Progress<'_>,
) -> Result<(Vec<Collected>, CorpusReport, u64)> {
    let state = collect_state(
        model,
        saes,
        corpus,
        cfg,
        String::new(),
        None,
        None,
        progress,
    )?;
    let report = state.corpus_report();
    let contexts = state.contexts;
    Ok((finish_state(model, saes, cfg, state)?, report, contexts))
}

fn first_problem(r: &CorpusReport) -> String {
    r.examples
        .first()
        .map(|e| format!(", e.g. {e}"))
        .unwrap_or_default()
}

/// An upper bound of the `q`-quantile from the histogram: the upper edge of the bin holding the
/// value at rank `ceil((1 - q) · n)` from the top (0 when fewer values are positive).
fn histogram_quantile(hist: &[u64], edges: &[f32], n: u64, q: f64) -> f32 {
    // (1 - 0.999) is not exact in binary: nudge down so 0.001 · 10 000 gives rank 10, not 11.
    let k = ((1.0 - q) * n as f64 - 1e-9).ceil().max(1.0) as u64;
    let total: u64 = hist.iter().sum();
    if total < k {
        return 0.0;
    }
    let mut seen = 0;
    for b in (0..hist.len()).rev() {
        seen += hist[b];
        if seen >= k {
            return edges[b + 1];
        }
    }
    0.0
}

fn finish(model: &Model, sae: &Sae, acc: SaeAcc, cfg: &CollectConfig) -> Result<Collected> {
    let edges = hist_edges();
    let n = acc.tokens;
    let logits = top_logits(model, sae, cfg.logit_tokens)?;
    // Many latents keep the same contexts as examples: each context's display strings are
    // made once (in parallel), then every latent is finished in parallel, in latent order.
    let mut contexts: std::collections::HashMap<(u64, u32), &[u32]> = Default::default();
    for la in &acc.latents {
        for c in la
            .top
            .iter()
            .map(|b| &b.0)
            .chain(la.reservoir.iter().map(|b| &b.0))
        {
            contexts.entry((c.doc, c.offset)).or_insert(&c.ids);
        }
    }
    let contexts: Vec<((u64, u32), &[u32])> = contexts.into_iter().collect();
    let shown: std::collections::HashMap<(u64, u32), Vec<String>> = contexts
        .par_iter()
        .map(|(k, ids)| (*k, model.tok.display_strings(ids)))
        .collect();
    let display = |c: &Cand| -> Vec<String> {
        shown
            .get(&(c.doc, c.offset))
            .cloned()
            .unwrap_or_else(|| model.tok.display_strings(&c.ids))
    };
    let per_latent: Vec<(FeatureRow, Vec<ExampleRow>, bool)> = acc
        .latents
        .into_par_iter()
        .enumerate()
        .map(|(l, mut la)| {
            let mut examples = vec![];
            let mut values: Vec<f32> = std::mem::take(&mut la.top_values)
                .into_iter()
                .map(|m| m.0)
                .collect();
            values.sort_by(|a, b| b.total_cmp(a));
            let (q999, exact) = la.high_quantile(&values, &edges, n, crate::quantile::Q999);
            let (q9999, _) = la.high_quantile(&values, &edges, n, 0.9999);
            let (tt, tv, bt, bv) = logits.get(l).cloned().unwrap_or_default();
            let feature = FeatureRow {
                latent: l as u32,
                count: la.count,
                density: if n > 0 {
                    la.count as f64 / n as f64
                } else {
                    0.0
                },
                mean_act: if la.count > 0 {
                    la.sum / la.count as f64
                } else {
                    0.0
                },
                max_act: la.max,
                q999,
                q9999,
                hist_edges: edges.clone(),
                hist_counts: la.hist,
                top_logit_tokens: tt,
                top_logit_values: tv,
                bottom_logit_tokens: bt,
                bottom_logit_values: bv,
            };
            let row = |c: &Cand, kind: &str, bin: u32, rank: u32| -> ExampleRow {
                let ids = c.ids.clone();
                ExampleRow {
                    latent: l as u32,
                    kind: kind.into(),
                    bin,
                    rank,
                    doc: c.doc,
                    offset: c.offset,
                    tokens: display(c),
                    token_ids: ids,
                    acts: c.acts.clone(),
                    max_act: c.max_act,
                }
            };
            let mut top: Vec<Cand> = la.top.into_iter().map(|b| b.0).collect();
            top.sort_by(|a, b| {
                b.max_act
                    .total_cmp(&a.max_act)
                    .then((a.doc, a.offset).cmp(&(b.doc, b.offset)))
            });
            for (r, c) in top.iter().enumerate() {
                examples.push(row(c, "top", 0, r as u32));
            }
            // Quantile bins: equal slices of (0, max], filled from the reservoir in priority order.
            let mut res: Vec<Cand> = la.reservoir.into_iter().map(|b| b.0).collect();
            res.sort_by_key(|c| c.priority);
            let bins = cfg.quantile_bins.max(1);
            let mut filled = vec![0u32; bins];
            for c in &res {
                let b = (((c.max_act / la.max.max(1e-12)) * bins as f32).ceil() as usize)
                    .clamp(1, bins)
                    - 1;
                if (filled[b] as usize) < cfg.per_bin {
                    examples.push(row(c, "quantile", b as u32, filled[b]));
                    filled[b] += 1;
                }
            }
            (feature, examples, exact)
        })
        .collect();
    let mut features = Vec::with_capacity(per_latent.len());
    let mut examples = vec![];
    let mut inexact = 0usize;
    for (f, e, exact) in per_latent {
        features.push(f);
        examples.extend(e);
        inexact += usize::from(!exact);
    }
    if inexact > 0 {
        tracing::warn!(
            "{}: the 0.999 quantile of {inexact} latent(s) comes from the histogram (an upper \
             bound within a factor 1.33): more of the largest activations must be kept for a \
             corpus of {n} tokens (raise --max-top-values)",
            sae.meta.path.display()
        );
    }
    Ok(Collected {
        features,
        examples,
        tokens: n,
    })
}

type LogitRow = (Vec<String>, Vec<f32>, Vec<String>, Vec<f32>);

/// Per latent: the tokens its decoder direction promotes and suppresses most through the
/// unembedding ([`decoder_logit_lens`]); none for an SAE without a decoder.
fn top_logits(model: &Model, sae: &Sae, n: usize) -> Result<Vec<LogitRow>> {
    if sae.w_dec.is_none() || n == 0 {
        return Ok(vec![]);
    }
    let names = |v: &[(u32, f32)]| -> (Vec<String>, Vec<f32>) {
        v.iter()
            .map(|&(id, x)| (model.tok.token_display(id), x))
            .unzip()
    };
    Ok(
        decoder_logit_lens(sae, model.net.unembedding_matrix(), 0..sae.d_sae(), n)?
            .into_iter()
            .map(|l| {
                let (tt, tv) = names(&l.top);
                let (bt, bv) = names(&l.bottom);
                (tt, tv, bt, bv)
            })
            .collect(),
    )
}

/// The `store.json` of a finished run written into `dir` (model, SAE and corpus paths given
/// relative to the working directory are recorded relative to `dir`).
#[allow(clippy::too_many_arguments)]
pub fn meta(
    dir: &Path,
    model: &str,
    sae: &Sae,
    corpus: &CorpusSpec,
    cfg: &CollectConfig,
    report: &CorpusReport,
    contexts: u64,
    tokens: u64,
) -> StoreMeta {
    StoreMeta {
        program: "safe-sail".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        model: crate::fsutil::record_path(dir, model),
        sae: crate::fsutil::record_path(dir, &sae.meta.path.display().to_string()),
        hook: sae.hook().to_string(),
        d_sae: sae.d_sae(),
        corpus: corpus
            .files
            .iter()
            .map(|f| crate::fsutil::record_path(dir, &f.display().to_string()))
            .collect(),
        shard: cfg.shard.map(|(i, n)| format!("{i}/{n}")),
        documents: report.docs,
        bad_rows: report.bad_rows,
        contexts,
        tokens,
        settings: serde_json::json!({
            "context": cfg.context, "top_k": cfg.top_k, "quantile_bins": cfg.quantile_bins,
            "per_bin": cfg.per_bin, "max_tokens": cfg.max_tokens, "chat": cfg.chat,
            "include_special": cfg.include_special, "top_values": cfg.top_values,
            "max_top_values": cfg.max_top_values,
            "text_field": corpus.text_field, "messages_field": corpus.messages_field,
            "activation": sae.activation.describe(),
        })
        .as_object()
        .cloned()
        .map(|mut m| {
            if cfg.mask_special_attention {
                m.insert("mask_special_attention".into(), true.into());
            }
            m.into()
        })
        .unwrap_or_default(),
        definitions: serde_json::json!({
            "count": "tokens where the latent is > 0",
            "density": "count / tokens",
            "mean_act": "mean activation over the tokens where the latent is > 0",
            "q999": "the 0.999 quantile of the activation over all tokens (zeros included): of N tokens, the j-th smallest of the k largest values sits at cumulative probability (N - k + j) / N, linearly interpolated (the ceil(0.001 * N) + 1-th largest when 0.001 * N is whole); exact while the kept largest values reach that rank (up to about max_top_values / 0.002 tokens), else the upper edge of the histogram bin holding the ceil(0.001 * N)-th largest",
            "q9999": "as q999 with 0.9999",
            "hist": "counts of activations > 0 in fixed log-spaced bins from 1e-4 to 1e4 (smaller values in the first bin, larger in the last)",
            "top": "the top_k contexts by max activation (ties: earlier document first)",
            "quantile": "contexts drawn by a deterministic hash-priority reservoir over all active contexts, split into quantile_bins equal slices of (0, max_act] (bin 0 weakest), per_bin each",
            "logits": "decoder direction times the unembedding (W_dec · W_U^T); the final norm and later layers are ignored",
            "special_tokens": "special tokens (chat-template markers) are excluded from statistics and shown with activation 0 unless include_special",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heaps_keep_the_right_end() {
        // The top-values heap keeps the largest values, with the smallest of them on top.
        let mut h = BinaryHeap::new();
        for v in [5.0f32, 1.0, 9.0, 3.0, 7.0] {
            if h.len() < 3 {
                h.push(MinF(v));
            } else if h.peek().is_some_and(|m: &MinF| v > m.0) {
                h.pop();
                h.push(MinF(v));
            }
        }
        let mut kept: Vec<f32> = h.into_iter().map(|m| m.0).collect();
        kept.sort_by(|a, b| a.total_cmp(b));
        assert_eq!(kept, [5.0, 7.0, 9.0]);
        // The top-k heap pops its weakest candidate first.
        let c = |a: f32, doc: u64| {
            ByAct(Cand {
                max_act: a,
                doc,
                offset: 0,
                priority: 0,
                ids: vec![],
                acts: vec![],
            })
        };
        let mut t = BinaryHeap::new();
        t.push(c(2.0, 1));
        t.push(c(1.0, 2));
        t.push(c(3.0, 3));
        assert_eq!(t.pop().unwrap().0.max_act, 1.0);
    }

    /// A latent that saw `values` (one per token, zeros included), kept the way `flush` keeps
    /// them as the token count grows.
    fn stream(values: impl IntoIterator<Item = f32>, cfg: &CollectConfig) -> (LatentAcc, u64) {
        let mut la = LatentAcc {
            hist: vec![0; HIST_BINS],
            ..Default::default()
        };
        let mut n = 0u64;
        for a in values {
            n += 1;
            if a > 0.0 {
                la.count += 1;
                la.hist[hist_bin(a)] += 1;
                la.push_value(a, top_values_for(n, cfg));
            }
        }
        (la, n)
    }

    fn quantiles(la: &LatentAcc, n: u64, q: f64) -> (f32, bool) {
        let mut v: Vec<f32> = la.top_values.iter().map(|m| m.0).collect();
        v.sort_by(|a, b| b.total_cmp(a));
        la.high_quantile(&v, &hist_edges(), n, q)
    }

    #[test]
    fn quantiles_from_kept_values_and_histogram() {
        let cfg = CollectConfig::default();
        // 10 000 tokens, 20 active (1..=20): the 0.999 quantile is at position 9 990 of
        // 10 000 in ascending order, the 11th largest (10); the 0.9999 one the 2nd largest.
        let (la, n) = stream(
            (0..10_000).map(|i| if i < 20 { (i + 1) as f32 } else { 0.0 }),
            &cfg,
        );
        assert_eq!(quantiles(&la, n, 0.999), (10.0, true));
        assert_eq!(quantiles(&la, n, 0.9999), (19.0, true));
        // Fewer active tokens than the quantile's rank: between the zeros and the values.
        let (la, n) = stream(
            (0..1_000_000).map(|i| if i < 20 { (i + 1) as f32 } else { 0.0 }),
            &cfg,
        );
        assert_eq!(quantiles(&la, n, 0.999), (0.0, true));
        // Values dropped while the corpus was small and needed at its end: the kept ones are
        // not the true top, so the histogram answers (an upper bound within one bin).
        let small = CollectConfig {
            top_values: 5,
            max_top_values: 5,
            ..CollectConfig::default()
        };
        let (la, n) = stream(
            (1..=20).rev().map(|v| v as f32).chain(vec![0.0; 9_980]),
            &small,
        );
        let (q, exact) = quantiles(&la, n, 0.999);
        assert!(!exact);
        assert!(
            (10.0..=11.0 * 1.34).contains(&q),
            "{q}: within one log bin (factor 10^(8/64)) above"
        );
    }

    #[test]
    fn the_0999_quantile_is_exact_at_two_and_a_half_million_tokens() {
        // A heavy-tailed latent active on 40% of 2.5M tokens, in an order with no trend; the
        // store's streaming keep against an exact computation over every value (sorted).
        let n = 2_500_000u64;
        let value = |i: u64| -> f32 {
            let h = mix(i);
            if h % 5 >= 2 {
                return 0.0;
            }
            let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            (-(u.ln())).exp2() as f32
        };
        let cfg = CollectConfig::default();
        let (la, seen) = stream((0..n).map(value), &cfg);
        assert_eq!(seen, n);
        let mut all: Vec<f32> = (0..n).map(value).collect();
        all.sort_by(|a, b| a.total_cmp(b));
        // Exact: at cumulative probability j / n the j-th smallest; 0.999 · 2.5M = 2 497 500.
        let exact = all[2_497_500 - 1];
        assert_eq!(quantiles(&la, n, 0.999), (exact, true));
        let exact4 = all[2_499_750 - 1];
        assert_eq!(quantiles(&la, n, 0.9999), (exact4, true));
        // The old store (1,024 values kept) could not reach rank 2 501 and fell back to the
        // histogram's bin edge.
        let old = CollectConfig {
            top_values: 1024,
            max_top_values: 1024,
            ..CollectConfig::default()
        };
        let (la_old, _) = stream((0..n).map(value), &old);
        let (q_old, ok) = quantiles(&la_old, n, 0.999);
        assert!(!ok && q_old >= exact, "{q_old} vs {exact}");
        // Keeping grows with the corpus, twice what the quantile needs.
        assert_eq!(top_values_for(n, &cfg), 2 * 2_501 + 2);
        assert_eq!(top_values_for(1_000, &cfg), 1_024);
        assert_eq!(top_values_for(u64::MAX / 4, &cfg), 16_384);
    }
}
