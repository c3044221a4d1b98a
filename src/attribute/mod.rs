//! Attribution: which SAE neurons drove an output.
//!
//! Method (Sparse Feature Circuits, Marks et al. 2024; attribution patching): one forward pass
//! with every given SAE spliced in at its hook **with its error term kept**, so the model's
//! output is unchanged, and one backward pass from a [`Metric`]. At a hook with activation `x`
//! an SAE gives latents `f = encode(x)`, reconstruction `x̂ = decode(f)` and error
//! `e = x − x̂`; the pass continues with `x̂ + e` (= `x`). Then
//! * the attribution of latent `i` at position `p` is `f_{i,p} · ∂m/∂f_{i,p}`: the linear
//!   estimate of how much the metric drops when the latent is zero-ablated;
//! * the error node of each SAE and position gets `Σ_d e_{p,d} · ∂m/∂e_{p,d}`.
//!
//! Gradients are total: they flow through every later layer and every downstream hook as in
//! the plain model (each splice passes the gradient straight through to its input). The
//! exact check ([`exact_effects`]) really ablates one latent at one position (`x_p − f_{i,p} ·
//! W_dec[i] / s`, error kept) and reports `m(clean) − m(ablated)`, the same sign convention
//! as the attribution (positive: the neuron raises the metric).
//!
//! The backward pass runs in f32 through candle's autograd with composed ops
//! ([`ForwardOpts::differentiable`]): candle's fused RMS/layer norm, rotary embedding and
//! softmax kernels drop gradients.

pub mod graph;

use crate::hooks::HookPoint;
use crate::model::tokenizer::Tok;
use crate::model::{ForwardOpts, Hooks, Model, PromptSpec};
use crate::sae::Sae;
use crate::steer::SaeSlot;
use anyhow::{bail, Context, Result};
use candle_core::{DType, IndexOp, Tensor, Var, D};
use serde::Serialize;

/// What to attribute: a function of the model's next-token log-probabilities.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// `log P(token)` after the last input position.
    LogProb(u32),
    /// `log P(a) − log P(b)` after the last input position (= the logit difference).
    LogitDiff(u32, u32),
    /// `Σ_j log P(c_j | input, c_<j)`: the continuation's tokens, teacher-forced (they are
    /// appended to the input).
    Continuation(Vec<u32>),
}

/// A metric as the user writes it, before its text becomes tokens: `logprob:TOKEN`,
/// `logit-diff:A,B` or `continuation:TEXT`.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricSpec {
    LogProb(String),
    LogitDiff(String, String),
    Continuation(String),
}

impl std::str::FromStr for MetricSpec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let hint = "expected logprob:TOKEN, logit-diff:A,B or continuation:TEXT";
        let Some((kind, arg)) = s.split_once(':') else {
            bail!("metric `{s}`: {hint}");
        };
        if arg.is_empty() {
            bail!("metric `{s}`: nothing after `{kind}:` ({hint})");
        }
        Ok(match kind.trim() {
            "logprob" => MetricSpec::LogProb(arg.to_string()),
            "logit-diff" => {
                let Some((a, b)) = arg.split_once(',') else {
                    bail!("metric `{s}`: logit-diff needs two tokens, `logit-diff:A,B`");
                };
                if a.is_empty() || b.is_empty() {
                    bail!("metric `{s}`: logit-diff needs two tokens, `logit-diff:A,B`");
                }
                MetricSpec::LogitDiff(a.to_string(), b.to_string())
            }
            "continuation" => MetricSpec::Continuation(arg.to_string()),
            _ => bail!("metric `{s}`: unknown kind `{kind}` ({hint})"),
        })
    }
}

/// The one token `text` is in `tok`: its encoding when that is one token, else the vocabulary
/// entry spelled `text` (e.g. `ĠSure`); an error naming the pieces otherwise.
pub fn single_token(tok: &Tok, text: &str) -> Result<u32> {
    let ids = tok.encode_ids(text, false)?;
    if ids.len() == 1 {
        return Ok(ids[0]);
    }
    if let Some(id) = tok.token_to_id(text) {
        return Ok(id);
    }
    let pieces: Vec<String> = tok
        .display_strings(&ids)
        .iter()
        .map(|s| format!("{s:?}"))
        .collect();
    bail!(
        "metric token {text:?} is not one token of this model's tokenizer: it is {} tokens [{}]; \
         give a text that is exactly one token (mind the leading space)",
        ids.len(),
        pieces.join(", ")
    )
}

impl MetricSpec {
    /// The metric in `tok`'s tokens.
    pub fn resolve(&self, tok: &Tok) -> Result<Metric> {
        Ok(match self {
            MetricSpec::LogProb(t) => Metric::LogProb(single_token(tok, t)?),
            MetricSpec::LogitDiff(a, b) => {
                Metric::LogitDiff(single_token(tok, a)?, single_token(tok, b)?)
            }
            MetricSpec::Continuation(t) => {
                let ids = tok.encode_ids(t, false)?;
                if ids.is_empty() {
                    bail!("continuation {t:?} has no tokens");
                }
                Metric::Continuation(ids)
            }
        })
    }
}

impl Metric {
    /// The model's input: `context` with a continuation's tokens appended.
    pub fn input_ids(&self, context: &[u32]) -> Vec<u32> {
        let mut ids = context.to_vec();
        if let Metric::Continuation(c) = self {
            ids.extend_from_slice(c);
        }
        ids
    }

    /// The first position whose logits the metric reads, for an input of `t` tokens.
    fn logits_from(&self, t: usize) -> usize {
        match self {
            Metric::Continuation(c) => t - c.len() - 1,
            _ => t - 1,
        }
    }

    /// The metric (a scalar) from the logits of positions `logits_from..t` (`[rows, vocab]`),
    /// with ops that keep gradients.
    fn of_logits(&self, logits: &Tensor) -> Result<Tensor> {
        let lp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
        let last = lp.dim(0)? - 1;
        Ok(match self {
            Metric::LogProb(t) => lp.i((last, *t as usize))?,
            Metric::LogitDiff(a, b) => (lp.i((last, *a as usize))? - lp.i((last, *b as usize))?)?,
            Metric::Continuation(c) => {
                let terms = c
                    .iter()
                    .enumerate()
                    .map(|(j, &t)| lp.i((j, t as usize)))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                Tensor::stack(&terms, 0)?.sum_all()?
            }
        })
    }

    /// A readable description (`log P(" Sure")`).
    pub fn describe(&self, tok: &Tok) -> String {
        let show = |ids: &[u32]| format!("{:?}", tok.decode(ids, false).unwrap_or_default());
        match self {
            Metric::LogProb(t) => format!("log P({})", show(&[*t])),
            Metric::LogitDiff(a, b) => format!("log P({}) − log P({})", show(&[*a]), show(&[*b])),
            Metric::Continuation(c) => format!("Σ log P(continuation {})", show(c)),
        }
    }

    /// Checks the metric's tokens against the vocabulary and the context's length.
    fn check(&self, vocab: usize, context: &[u32]) -> Result<()> {
        if context.is_empty() {
            bail!("the context is empty: the metric is read after at least one token");
        }
        self.check_vocab(vocab)
    }

    fn check_vocab(&self, vocab: usize) -> Result<()> {
        let ids: Vec<u32> = match self {
            Metric::LogProb(t) => vec![*t],
            Metric::LogitDiff(a, b) => vec![*a, *b],
            Metric::Continuation(c) => c.clone(),
        };
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= vocab) {
            bail!("metric token id {bad} is out of range: the model has {vocab} tokens");
        }
        Ok(())
    }
}

/// The tokens of a prompt (as [`Model::tokenize_prompt`] renders it) followed by the start of
/// the model's answer, when given: the context the metric is read after.
pub fn context_ids(model: &Model, prompt: &PromptSpec, answer: Option<&str>) -> Result<Vec<u32>> {
    let mut ids: Vec<u32> = model
        .tokenize_prompt(prompt)?
        .iter()
        .map(|t| t.id)
        .collect();
    if let Some(a) = answer.filter(|a| !a.is_empty()) {
        ids.extend(model.tok.encode_ids(a, false)?);
    }
    Ok(ids)
}

/// Limits of an attribution run.
#[derive(Debug, Clone, Copy)]
pub struct AttributeOpts {
    /// The longest input (context plus continuation) accepted: the backward pass keeps every
    /// layer's activations of every position.
    pub max_tokens: usize,
}

impl Default for AttributeOpts {
    fn default() -> Self {
        Self { max_tokens: 512 }
    }
}

/// One active SAE latent at one position.
#[derive(Debug, Clone, Serialize)]
pub struct NeuronNode {
    /// `LAYER_LATENT`, as neurons are named elsewhere (`steer --set`, the database).
    pub neuron: String,
    /// The SAE's name.
    pub sae: String,
    /// Index of the SAE in the list given.
    pub sae_index: usize,
    pub hook: String,
    pub layer: usize,
    pub latent: u32,
    pub position: usize,
    pub token: String,
    pub activation: f32,
    /// `∂m/∂f`.
    pub gradient: f32,
    /// `f · ∂m/∂f`.
    pub attribution: f32,
    /// `m(clean) − m(latent ablated at this position)`, when measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact_effect: Option<f64>,
}

/// The error term of one SAE at one position.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorNode {
    pub sae: String,
    pub sae_index: usize,
    pub hook: String,
    pub layer: usize,
    pub position: usize,
    pub token: String,
    /// `‖e‖₂`.
    pub norm: f32,
    /// `Σ_d e_d · ∂m/∂e_d`.
    pub attribution: f32,
}

/// An attribution run's result.
#[derive(Debug, Clone, Serialize)]
pub struct Attribution {
    /// What the metric is, in words.
    pub metric: String,
    /// The metric's value on the model's input.
    pub value: f64,
    /// The input ids (context and continuation) and their display strings.
    pub ids: Vec<u32>,
    pub tokens: Vec<String>,
    /// Every active latent at every position of every SAE, by |attribution|, largest first.
    pub neurons: Vec<NeuronNode>,
    /// Every SAE's error node at every position, in SAE then position order.
    pub errors: Vec<ErrorNode>,
    /// Per SAE, `∂m/∂f` of every latent at every position (`[seq, d_sae]`, f32).
    #[serde(skip)]
    pub latent_grads: Vec<Tensor>,
}

impl Attribution {
    /// The `n` neurons with the largest |attribution|.
    pub fn top(&self, n: usize) -> &[NeuronNode] {
        &self.neurons[..n.min(self.neurons.len())]
    }
}

/// The SAE splice of one hook call: leaves whose gradients the backward pass fills.
struct Leaf {
    sae: usize,
    f: Var,
    err: Var,
}

struct Splice<'a> {
    saes: &'a [SaeSlot],
    leaves: Vec<Leaf>,
}

/// `x̂ = f · W_dec / s + b_dec` with ops that keep the gradient to `f`.
fn decode_differentiable(sae: &Sae, f: &Tensor) -> Result<Tensor> {
    let w = sae
        .w_dec
        .as_ref()
        .with_context(|| format!("SAE {} has no decoder weights", sae.meta.path.display()))?
        .to_tensor()?;
    let mut y = f.matmul(&w)?;
    if sae.input_scale != 1.0 {
        y = (y / sae.input_scale)?;
    }
    if let Some(b) = &sae.b_dec {
        y = y.broadcast_add(b)?;
    }
    Ok(y)
}

impl Hooks for Splice<'_> {
    fn at(&mut self, hook: HookPoint, x: &Tensor) -> Result<Option<Tensor>> {
        let mut out: Option<Tensor> = None;
        for (i, slot) in self.saes.iter().enumerate() {
            if slot.sae.hook() != hook {
                continue;
            }
            let (b, t, d) = x.dims3()?;
            if b != 1 {
                bail!("attribution runs one sequence at a time");
            }
            let xs = x.detach().reshape((t, d))?;
            let f = Var::from_tensor(&slot.sae.encode(&xs)?)?;
            let recon = decode_differentiable(&slot.sae, f.as_tensor())?;
            let err = Var::from_tensor(&(&xs - recon.detach())?)?;
            // Zero in value (the output stays `x` bit for bit), identity in gradient: the
            // backward pass reaches `f` through the decoder, the error leaf directly, and the
            // hook's input through `x` itself.
            let delta = ((&recon - recon.detach())? + (err.as_tensor() - err.detach())?)?;
            let base = out.take().unwrap_or_else(|| x.clone());
            out = Some(base.broadcast_add(&delta.reshape((1, t, d))?)?);
            self.leaves.push(Leaf { sae: i, f, err });
        }
        Ok(out)
    }
}

fn check_inputs(model: &Model, saes: &[SaeSlot], ids: &[u32], opts: &AttributeOpts) -> Result<()> {
    if saes.is_empty() {
        bail!("no SAE given: attribution ranks the latents of at least one SAE");
    }
    if model.net.dtype() != DType::F32 {
        bail!(
            "attribution needs the model in f32 (loaded as {:?}): the backward pass runs in f32",
            model.net.dtype()
        );
    }
    if ids.len() > opts.max_tokens {
        bail!(
            "the input has {} tokens (prompt, answer and continuation) but attribution is limited to \
             {} tokens (raise --max-tokens if memory allows: the backward pass keeps every layer's \
             activations)",
            ids.len(),
            opts.max_tokens
        );
    }
    if ids.len() < 2 {
        bail!("attribution needs at least two tokens of input");
    }
    for s in saes {
        model
            .hook_width(s.sae.hook())
            .with_context(|| format!("SAE {}", s.name))?;
        if s.sae.d_in() != model.cfg.hidden_size {
            bail!(
                "SAE {} reads width {} but the model's {} is {} wide",
                s.name,
                s.sae.d_in(),
                s.sae.hook(),
                model.cfg.hidden_size
            );
        }
        if s.sae.w_dec.is_none() {
            bail!(
                "SAE {} has no decoder weights: attribution needs them",
                s.name
            );
        }
    }
    Ok(())
}

/// The logits of positions `metric.logits_from(..)..` of one sequence, with `hooks`.
fn logits(
    model: &Model,
    ids: &[u32],
    metric: &Metric,
    hooks: &mut dyn Hooks,
    differentiable: bool,
) -> Result<Tensor> {
    let opts = ForwardOpts {
        logits_from: Some(metric.logits_from(ids.len())),
        differentiable,
        ..Default::default()
    };
    model
        .run(ids, hooks, opts)?
        .context("the forward pass returned no logits")
}

/// The metric on the plain model (fused kernels, no SAE), for `context` (the continuation is
/// appended).
pub fn metric_value(model: &Model, context: &[u32], metric: &Metric) -> Result<f64> {
    metric.check(model.cfg.vocab_size, context)?;
    let ids = metric.input_ids(context);
    let l = logits(model, &ids, metric, &mut crate::model::NoHooks, false)?;
    Ok(metric.of_logits(&l)?.to_scalar::<f32>()? as f64)
}

/// The logits of every position of `ids` (`[seq, vocab]`) with the SAEs spliced in (error
/// kept), and of the plain model, both through the composed ops of the gradient path: the two
/// are equal bit for bit.
pub fn spliced_logits(model: &Model, saes: &[SaeSlot], ids: &[u32]) -> Result<(Tensor, Tensor)> {
    check_inputs(model, saes, ids, &AttributeOpts::default())?;
    let opts = ForwardOpts {
        differentiable: true,
        ..Default::default()
    };
    let mut splice = Splice {
        saes,
        leaves: vec![],
    };
    let none = || anyhow::anyhow!("the forward pass returned no logits");
    let spliced = model.run(ids, &mut splice, opts)?.ok_or_else(none)?;
    let plain = model
        .run(ids, &mut crate::model::NoHooks, opts)?
        .ok_or_else(none)?;
    Ok((spliced.detach(), plain))
}

/// Attributes `metric` on `context` (prompt and any answer start; a continuation is appended)
/// to every active latent of every SAE and to each SAE's error at each position.
pub fn attribute(
    model: &Model,
    saes: &[SaeSlot],
    context: &[u32],
    metric: &Metric,
    opts: &AttributeOpts,
) -> Result<Attribution> {
    metric.check(model.cfg.vocab_size, context)?;
    let ids = metric.input_ids(context);
    check_inputs(model, saes, &ids, opts)?;
    let mut splice = Splice {
        saes,
        leaves: vec![],
    };
    let l = logits(model, &ids, metric, &mut splice, true)?;
    let m = metric.of_logits(&l)?;
    let value = m.to_scalar::<f32>()? as f64;
    let grads = m.backward()?;
    let tokens = model.tok.display_strings(&ids);
    let mut neurons = vec![];
    let mut errors = vec![];
    let mut latent_grads = vec![Tensor::zeros(1, DType::F32, model.net.device())?; saes.len()];
    for leaf in &splice.leaves {
        let slot = &saes[leaf.sae];
        let hook = slot.sae.hook();
        let zeros_like = |v: &Var| v.as_tensor().zeros_like();
        let gf = match grads.get(leaf.f.as_tensor()) {
            Some(g) => g.clone(),
            None => zeros_like(&leaf.f)?,
        };
        let ge = match grads.get(leaf.err.as_tensor()) {
            Some(g) => g.clone(),
            None => zeros_like(&leaf.err)?,
        };
        let f = leaf.f.as_tensor().to_vec2::<f32>()?;
        let gfv = gf.to_vec2::<f32>()?;
        for (p, (frow, grow)) in f.iter().zip(&gfv).enumerate() {
            for (i, (&a, &g)) in frow.iter().zip(grow).enumerate() {
                if a != 0.0 {
                    neurons.push(NeuronNode {
                        neuron: crate::db::neuron_id(hook.layer, i as u32),
                        sae: slot.name.clone(),
                        sae_index: leaf.sae,
                        hook: hook.to_string(),
                        layer: hook.layer,
                        latent: i as u32,
                        position: p,
                        token: tokens[p].clone(),
                        activation: a,
                        gradient: g,
                        attribution: a * g,
                        exact_effect: None,
                    });
                }
            }
        }
        let e = leaf.err.as_tensor();
        let attr = (e * &ge)?.sum(1)?.to_vec1::<f32>()?;
        let norm = e.sqr()?.sum(1)?.sqrt()?.to_vec1::<f32>()?;
        for (p, (a, n)) in attr.into_iter().zip(norm).enumerate() {
            errors.push(ErrorNode {
                sae: slot.name.clone(),
                sae_index: leaf.sae,
                hook: hook.to_string(),
                layer: hook.layer,
                position: p,
                token: tokens[p].clone(),
                norm: n,
                attribution: a,
            });
        }
        latent_grads[leaf.sae] = gf;
    }
    neurons.sort_by(|a, b| {
        b.attribution
            .abs()
            .total_cmp(&a.attribution.abs())
            .then(a.sae_index.cmp(&b.sae_index))
            .then(a.position.cmp(&b.position))
            .then(a.latent.cmp(&b.latent))
    });
    Ok(Attribution {
        metric: metric.describe(&model.tok),
        value,
        ids,
        tokens,
        neurons,
        errors,
        latent_grads,
    })
}

/// Subtracts `vector` from one position at one hook.
struct AblateOne {
    hook: HookPoint,
    position: usize,
    vector: Vec<f32>,
}

impl Hooks for AblateOne {
    fn at(&mut self, hook: HookPoint, x: &Tensor) -> Result<Option<Tensor>> {
        if hook != self.hook {
            return Ok(None);
        }
        let (b, t, d) = x.dims3()?;
        let mut delta = vec![0f32; b * t * d];
        for r in 0..b {
            let start = (r * t + self.position) * d;
            delta[start..start + d].copy_from_slice(&self.vector);
        }
        let delta = Tensor::from_vec(delta, (b, t, d), x.device())?.to_dtype(x.dtype())?;
        Ok(Some((x - delta)?))
    }
}

/// The true effect of each neuron node: `m(clean) − m(ablated)`, where the ablated run sets
/// the latent to 0 at its position and keeps the SAE's error (`x_p − f · W_dec[i] / s`), on
/// the plain model. One forward pass per node.
pub fn exact_effects(
    model: &Model,
    saes: &[SaeSlot],
    context: &[u32],
    metric: &Metric,
    nodes: &[NeuronNode],
) -> Result<Vec<f64>> {
    exact_effects_until(model, saes, context, metric, nodes, &mut |_| false)
}

/// [`exact_effects`], asking `stop(i)` before node `i`'s forward pass: when it answers true
/// the run ends with an error saying it was stopped (the window's Cancel, its progress).
pub fn exact_effects_until(
    model: &Model,
    saes: &[SaeSlot],
    context: &[u32],
    metric: &Metric,
    nodes: &[NeuronNode],
    stop: &mut dyn FnMut(usize) -> bool,
) -> Result<Vec<f64>> {
    let ids = metric.input_ids(context);
    let clean = metric_value(model, context, metric)?;
    let mut out = Vec::with_capacity(nodes.len());
    for (k, n) in nodes.iter().enumerate() {
        if stop(k) {
            bail!("stopped after {k} of {} exact ablations", nodes.len());
        }
        let slot = saes.get(n.sae_index).with_context(|| {
            format!("node of SAE #{} but {} SAEs given", n.sae_index, saes.len())
        })?;
        if n.position >= ids.len() {
            bail!(
                "node at position {} of an input of {} tokens",
                n.position,
                ids.len()
            );
        }
        let w = slot
            .sae
            .w_dec
            .as_ref()
            .with_context(|| format!("SAE {} has no decoder weights", slot.name))?;
        let row = w
            .narrow_rows(n.latent as usize, 1)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let scale = (n.activation as f64 / slot.sae.input_scale) as f32;
        let mut hooks = AblateOne {
            hook: slot.sae.hook(),
            position: n.position,
            vector: row.iter().map(|v| v * scale).collect(),
        };
        let l = logits(model, &ids, metric, &mut hooks, false)?;
        let ablated = metric.of_logits(&l)?.to_scalar::<f32>()? as f64;
        out.push(clean - ablated);
    }
    Ok(out)
}

/// Fills `exact_effect` of the top `n` neurons of `a`.
pub fn add_exact_effects(
    model: &Model,
    saes: &[SaeSlot],
    context: &[u32],
    metric: &Metric,
    a: &mut Attribution,
    n: usize,
) -> Result<()> {
    let n = n.min(a.neurons.len());
    let effects = exact_effects(model, saes, context, metric, &a.neurons[..n])?;
    for (node, e) in a.neurons.iter_mut().zip(effects) {
        node.exact_effect = Some(e);
    }
    Ok(())
}

/// Attribution summed per SAE and position: the grid the window shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PositionMass {
    /// `[sae][position]`: `Σ |attribution|` over the SAE's active latents at the position.
    pub mass: Vec<Vec<f32>>,
    /// `[sae][position]`: `Σ attribution` (signed) over the same latents.
    pub net: Vec<Vec<f32>>,
    /// `[sae][position]`: the SAE's error node's attribution at the position.
    pub error: Vec<Vec<f32>>,
}

impl Attribution {
    /// The attribution of every neuron node summed per SAE and position (`n_saes` SAEs, as
    /// given to [`attribute`]), with the error nodes beside; computed before the neuron list
    /// is cut to its top.
    pub fn position_mass(&self, n_saes: usize) -> PositionMass {
        let t = self.ids.len();
        let mut m = PositionMass {
            mass: vec![vec![0.0; t]; n_saes],
            net: vec![vec![0.0; t]; n_saes],
            error: vec![vec![0.0; t]; n_saes],
        };
        for n in &self.neurons {
            if n.sae_index < n_saes && n.position < t {
                m.mass[n.sae_index][n.position] += n.attribution.abs();
                m.net[n.sae_index][n.position] += n.attribution;
            }
        }
        for e in &self.errors {
            if e.sae_index < n_saes && e.position < t {
                m.error[e.sae_index][e.position] += e.attribution;
            }
        }
        m
    }
}

/// What one attribution run of the window computes ([`report`]).
#[derive(Debug, Clone, Copy)]
pub struct ReportOpts {
    pub attribute: AttributeOpts,
    /// Neurons kept in the ranked list (by |attribution|).
    pub top: usize,
    /// Also ablate each of the top neurons for real ([`exact_effects`]).
    pub exact: bool,
    /// The attribution graph's size (its nodes are the first `graph.nodes` of the top).
    pub graph: graph::GraphOpts,
}

/// An attribution with what is shown beside it: the grid of [`PositionMass`] and the graph of
/// the top neurons. `attribution.neurons` holds only the top (and no latent gradients).
#[derive(Debug, Clone)]
pub struct Report {
    pub attribution: Attribution,
    pub mass: PositionMass,
    pub graph: graph::Graph,
}

/// Which step of [`report`] runs (for a progress line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStep {
    /// The forward and backward pass.
    Attributing,
    /// Exact ablation `i` of `n`.
    Exact(usize, usize),
    /// The links between the top neurons.
    Graph,
}

/// The window's attribution run: [`attribute`], the mass per SAE and position, the top
/// `opts.top` neurons (with their exact effects when asked) and their [`graph::Graph`].
/// `step` hears each step and answers whether to stop (then the run ends with an error).
pub fn report(
    model: &Model,
    saes: &[SaeSlot],
    context: &[u32],
    metric: &Metric,
    opts: &ReportOpts,
    step: &mut dyn FnMut(ReportStep) -> bool,
) -> Result<Report> {
    if step(ReportStep::Attributing) {
        bail!("stopped before attributing");
    }
    let mut a = attribute(model, saes, context, metric, &opts.attribute)?;
    let mass = a.position_mass(saes.len());
    a.neurons.truncate(opts.top);
    a.latent_grads.clear();
    if opts.exact {
        let n = a.neurons.len();
        let effects = exact_effects_until(model, saes, context, metric, &a.neurons, &mut |i| {
            step(ReportStep::Exact(i, n))
        })?;
        for (node, e) in a.neurons.iter_mut().zip(effects) {
            node.exact_effect = Some(e);
        }
    }
    if step(ReportStep::Graph) {
        bail!("stopped before linking the top neurons");
    }
    let graph = graph::Graph::build(model, saes, &a, &opts.graph)?;
    Ok(Report {
        attribution: a,
        mass,
        graph,
    })
}

/// Pearson correlation of two equally long series (`None` when either is constant).
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x[..n].iter().zip(&y[..n]) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    Some(sxy / (sxx * syy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metrics() {
        assert_eq!(
            "logprob: I".parse::<MetricSpec>().unwrap(),
            MetricSpec::LogProb(" I".into())
        );
        assert_eq!(
            "logit-diff: I, Sure".parse::<MetricSpec>().unwrap(),
            MetricSpec::LogitDiff(" I".into(), " Sure".into())
        );
        assert_eq!(
            "continuation:I cannot".parse::<MetricSpec>().unwrap(),
            MetricSpec::Continuation("I cannot".into())
        );
        for bad in [
            "logprob",
            "logprob:",
            "logit-diff:A",
            "logit-diff:,B",
            "kl:x",
        ] {
            assert!(bad.parse::<MetricSpec>().is_err(), "{bad}");
        }
    }

    fn node(sae_index: usize, position: usize, attribution: f32) -> NeuronNode {
        NeuronNode {
            neuron: "1_2".into(),
            sae: "s".into(),
            sae_index,
            hook: "blocks.1.hook_resid_post".into(),
            layer: 1,
            latent: 2,
            position,
            token: "x".into(),
            activation: 1.0,
            gradient: attribution,
            attribution,
            exact_effect: None,
        }
    }

    #[test]
    fn mass_sums_absolute_and_signed_attribution_per_sae_and_position() {
        let a = Attribution {
            metric: "m".into(),
            value: 0.0,
            ids: vec![1, 2, 3],
            tokens: vec!["a".into(), "b".into(), "c".into()],
            neurons: vec![
                node(0, 1, 0.5),
                node(0, 1, -0.2),
                node(1, 2, -1.0),
                node(0, 0, 0.1),
            ],
            errors: vec![ErrorNode {
                sae: "s".into(),
                sae_index: 1,
                hook: "h".into(),
                layer: 1,
                position: 0,
                token: "a".into(),
                norm: 1.0,
                attribution: -0.3,
            }],
            latent_grads: vec![],
        };
        let m = a.position_mass(2);
        let close = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(a, b)| (a - b).abs() < 1e-6);
        assert!(close(&m.mass[0], &[0.1, 0.7, 0.0]), "{:?}", m.mass);
        assert!(close(&m.net[0], &[0.1, 0.3, 0.0]), "{:?}", m.net);
        assert!(close(&m.mass[1], &[0.0, 0.0, 1.0]));
        assert!(close(&m.net[1], &[0.0, 0.0, -1.0]));
        assert!(close(&m.error[1], &[-0.3, 0.0, 0.0]));
        assert!(close(&m.error[0], &[0.0; 3]));
    }

    #[test]
    fn pearson_of_lines() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((pearson(&x, &[2.0, 4.0, 6.0, 8.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((pearson(&x, &[8.0, 6.0, 4.0, 2.0]).unwrap() + 1.0).abs() < 1e-12);
        assert!(pearson(&x, &[1.0; 4]).is_none());
    }
}
