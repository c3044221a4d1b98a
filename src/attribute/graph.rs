//! The top neurons of an attribution as the attribution-graph JSON that Neuronpedia's graph
//! viewer reads (`metadata`, `qParams`, `nodes`, `links`; the fields are those of the
//! "Anthropic Attribution Graph" schema, checked by `assets/schemas/attribution-graph.schema.json`).
//!
//! Nodes: the top neurons (`feature_type` `"sae latent"`) and one node for the metric
//! (`"logit"`). Links: each neuron to the metric with its attribution, and, for the top few
//! downstream neurons, each upstream top neuron to it with `f_up · ∂pre_down/∂f_up` (one
//! backward pass per downstream neuron, from its pre-activation, through every layer between,
//! error terms kept).

use super::{Attribution, NeuronNode, Splice};
use crate::db::NeuronDb;
use crate::hooks::HookPoint;
use crate::model::{ForwardOpts, Hooks, Model};
use crate::steer::SaeSlot;
use anyhow::{Context, Result};
use candle_core::{IndexOp, Tensor};
use serde_json::{json, Value};

/// How big a graph to export.
#[derive(Debug, Clone, Copy)]
pub struct GraphOpts {
    /// Neurons (the top by |attribution|).
    pub nodes: usize,
    /// Downstream neurons whose links from upstream neurons are computed (the top ones that
    /// have an upstream neuron among the nodes).
    pub edge_targets: usize,
}

impl Default for GraphOpts {
    fn default() -> Self {
        Self {
            nodes: 20,
            edge_targets: 5,
        }
    }
}

/// A link between two nodes of [`Attribution::neurons`] (indices): `weight` is the source's
/// contribution to the target's pre-activation.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub source: usize,
    pub target: usize,
    pub weight: f32,
}

/// Splice that also keeps the (tracked) input of one hook.
struct Capturing<'a> {
    splice: Splice<'a>,
    hook: HookPoint,
    captured: Option<Tensor>,
}

impl Hooks for Capturing<'_> {
    fn at(&mut self, hook: HookPoint, x: &Tensor) -> Result<Option<Tensor>> {
        if hook == self.hook && self.captured.is_none() {
            self.captured = Some(x.clone());
        }
        self.splice.at(hook, x)
    }
}

/// The links into `targets` from every node of `sources` that sits at an earlier hook and at
/// the same or an earlier position (indices into `a.neurons`).
pub fn edges(
    model: &Model,
    saes: &[SaeSlot],
    a: &Attribution,
    sources: &[usize],
    targets: &[usize],
) -> Result<Vec<Edge>> {
    let mut out = vec![];
    for &t in targets {
        let tn = &a.neurons[t];
        let slot = &saes[tn.sae_index];
        let hook = slot.sae.hook();
        let ups: Vec<usize> = sources
            .iter()
            .copied()
            .filter(|&s| {
                let sn = &a.neurons[s];
                saes[sn.sae_index].sae.hook() < hook && sn.position <= tn.position
            })
            .collect();
        if ups.is_empty() {
            continue;
        }
        let mut hooks = Capturing {
            splice: Splice {
                saes,
                leaves: vec![],
            },
            hook,
            captured: None,
        };
        let opts = ForwardOpts {
            stop_after_layer: Some(hook.layer),
            differentiable: true,
            ..Default::default()
        };
        model.run(&a.ids, &mut hooks, opts)?;
        let x = hooks
            .captured
            .take()
            .context("the forward pass did not reach the downstream neuron's hook")?;
        let pre = pre_activation(slot, &x.i((0, tn.position))?, tn.latent as usize)?;
        let grads = pre.backward()?;
        for s in ups {
            let sn = &a.neurons[s];
            let Some(leaf) = hooks.splice.leaves.iter().find(|l| l.sae == sn.sae_index) else {
                continue;
            };
            let Some(g) = grads.get(leaf.f.as_tensor()) else {
                continue;
            };
            let g = g.i((sn.position, sn.latent as usize))?.to_scalar::<f32>()?;
            out.push(Edge {
                source: s,
                target: t,
                weight: sn.activation * g,
            });
        }
    }
    Ok(out)
}

/// Latent `j`'s pre-activation for one position's activation `x` (`[d_in]`), keeping gradients.
fn pre_activation(slot: &SaeSlot, x: &Tensor, j: usize) -> Result<Tensor> {
    let sae = &slot.sae;
    let mut x = x.unsqueeze(0)?;
    if let Some(b) = &sae.input_bias {
        x = x.broadcast_sub(b)?;
    }
    if sae.input_scale != 1.0 {
        x = (x * sae.input_scale)?;
    }
    let w = sae.w_enc.to_tensor()?.narrow(1, j, 1)?;
    let b = sae.b_enc.narrow(0, j, 1)?;
    Ok(x.matmul(&w)?.squeeze(0)?.add(&b)?.squeeze(0)?)
}

fn node_id(n: &NeuronNode, dup_layer: bool) -> String {
    if dup_layer {
        format!("{}_{}_{}_s{}", n.layer, n.latent, n.position, n.sae_index)
    } else {
        format!("{}_{}_{}", n.layer, n.latent, n.position)
    }
}

/// The top neurons of an attribution and the links between them: everything of the graph
/// that needs the model, so its JSON ([`Graph::to_json`]) can be written later with the
/// explanations of the moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// The nodes: the first `nodes` of [`Attribution::neurons`].
    pub nodes: usize,
    /// Links between nodes (each neuron also links to the metric with its attribution).
    pub edges: Vec<Edge>,
    /// The model's folder name (the graph's `scan`).
    pub model_name: String,
    /// The metric node's layer: the model's number of layers.
    pub logit_layer: usize,
    /// Several SAEs share a layer: node ids name the SAE too.
    pub dup_layer: bool,
}

impl Graph {
    /// The top `opts.nodes` neurons of `a` and the links into the first `opts.edge_targets`
    /// of them that have an upstream neuron among the nodes ([`edges`]).
    pub fn build(
        model: &Model,
        saes: &[SaeSlot],
        a: &Attribution,
        opts: &GraphOpts,
    ) -> Result<Self> {
        let n = opts.nodes.min(a.neurons.len());
        let top: Vec<usize> = (0..n).collect();
        let mut layers: Vec<usize> = saes.iter().map(|s| s.sae.hook().layer).collect();
        layers.sort_unstable();
        let dup_layer = layers.windows(2).any(|w| w[0] == w[1]);
        // Downstream targets: the top neurons with an upstream neuron among the nodes.
        let targets: Vec<usize> = top
            .iter()
            .copied()
            .filter(|&t| {
                let tn = &a.neurons[t];
                let h = saes[tn.sae_index].sae.hook();
                top.iter().any(|&s| {
                    let sn = &a.neurons[s];
                    saes[sn.sae_index].sae.hook() < h && sn.position <= tn.position
                })
            })
            .take(opts.edge_targets)
            .collect();
        let edges = edges(model, saes, a, &top, &targets)?;
        let model_name = model
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        Ok(Self {
            nodes: n,
            edges,
            model_name,
            logit_layer: model.cfg.num_layers,
            dup_layer,
        })
    }

    /// The graph's id of node `i` of [`Attribution::neurons`].
    pub fn node_id(&self, a: &Attribution, i: usize) -> String {
        node_id(&a.neurons[i], self.dup_layer)
    }

    /// The attribution graph JSON; `prompt` is the input text, `slug` the graph's name and
    /// `clerp` a neuron's explanation (its SAE and id when `None`).
    pub fn to_json(
        &self,
        a: &Attribution,
        prompt: &str,
        slug: &str,
        clerp: &dyn Fn(&NeuronNode) -> Option<String>,
    ) -> Value {
        let top: Vec<usize> = (0..self.nodes.min(a.neurons.len())).collect();
        let dup_layer = self.dup_layer;
        let logit_layer = self.logit_layer;
        let last = a.ids.len() - 1;
        let logit_id = format!("{logit_layer}_metric_{last}");
        let mut nodes = vec![];
        for &i in &top {
            let nn = &a.neurons[i];
            let id = node_id(nn, dup_layer);
            let clerp = clerp(nn).unwrap_or_else(|| format!("{} {}", nn.sae, nn.neuron));
            nodes.push(json!({
                "node_id": id,
                "feature": nn.latent,
                "layer": nn.layer.to_string(),
                "ctx_idx": nn.position,
                "feature_type": "sae latent",
                "jsNodeId": id,
                "clerp": clerp,
                "activation": nn.activation,
                "influence": nn.attribution,
                "sae": nn.sae,
                "hook": nn.hook,
            }));
        }
        nodes.push(json!({
            "node_id": logit_id,
            "feature": Value::Null,
            "layer": logit_layer.to_string(),
            "ctx_idx": last,
            "feature_type": "logit",
            "jsNodeId": logit_id,
            "clerp": a.metric,
            "activation": a.value,
        }));
        let mut links = vec![];
        for &i in &top {
            links.push(json!({
                "source": node_id(&a.neurons[i], dup_layer),
                "target": logit_id,
                "weight": a.neurons[i].attribution,
            }));
        }
        for e in &self.edges {
            links.push(json!({
                "source": node_id(&a.neurons[e.source], dup_layer),
                "target": node_id(&a.neurons[e.target], dup_layer),
                "weight": e.weight,
            }));
        }
        let model_name = &self.model_name;
        json!({
            "metadata": {
                "slug": slug,
                "scan": model_name,
                "prompt_tokens": a.tokens,
                "prompt": prompt,
                "info": {
                    "generator": "safe-sail attribute",
                    "metric": a.metric,
                    "metric_value": a.value,
                },
            },
            "qParams": {
                "pinnedIds": [],
                "supernodes": [],
                "linkType": "both",
                "clickedId": "",
                "sg_pos": "",
            },
            "nodes": nodes,
            "links": links,
        })
    }
}

/// The attribution graph JSON of the top `opts.nodes` neurons of `a`, with links computed as
/// [`edges`] describes; `prompt` is the input text and `slug` the graph's name. Explanations
/// from `db` become the nodes' `clerp`.
#[allow(clippy::too_many_arguments)]
pub fn graph_json(
    model: &Model,
    saes: &[SaeSlot],
    a: &Attribution,
    prompt: &str,
    slug: &str,
    db: Option<&NeuronDb>,
    opts: &GraphOpts,
) -> Result<Value> {
    let g = Graph::build(model, saes, a, opts)?;
    Ok(g.to_json(a, prompt, slug, &|n| {
        db.and_then(|d| d.get(n.layer, n.latent))
            .and_then(|r| r.explanation.clone())
    }))
}
