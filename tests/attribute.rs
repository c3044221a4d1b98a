//! Attribution (issue #18) on the tiny fixture models: gradients to SAE latents and error
//! terms against PyTorch autograd (tools/make_fixtures.py `attribution_refs`) on every model
//! family, the splice keeping the logits, the linear estimate against real ablations, and the
//! `attribute` command.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{bin, fixtures, load_refs, read_json};
use safe_sail::attribute::{self, AttributeOpts, Metric};
use safe_sail::model::Model;
use safe_sail::sae::load_sae;
use safe_sail::steer::SaeSlot;

/// Gradients, attributions and the metric against PyTorch: `max|rust − ref| ≤ TOL · max(1,
/// max|ref|)` (f32 on both sides; the composed ops sum in other orders than PyTorch's).
const TOL: f32 = 1e-4;

fn model(name: &str) -> Model {
    Model::load_dir(
        &fixtures().join("models").join(name),
        &Device::Cpu,
        DType::F32,
    )
    .unwrap()
}

fn slots() -> Vec<SaeSlot> {
    let cases = read_json(&fixtures().join("refs/attribution/cases.json"));
    cases["saes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let spec = format!(
                "{},hook={}",
                fixtures().join(s["path"].as_str().unwrap()).display(),
                s["hook"].as_str().unwrap()
            );
            let mut slot = SaeSlot::new(load_sae(&spec.parse().unwrap(), &Device::Cpu).unwrap());
            slot.name = s["name"].as_str().unwrap().to_string();
            slot
        })
        .collect()
}

fn ids(t: &Tensor) -> Vec<u32> {
    t.to_vec1::<i64>()
        .unwrap()
        .into_iter()
        .map(|x| x as u32)
        .collect()
}

fn metric(kind: &str, cont: &[u32]) -> Metric {
    match kind {
        "logprob" => Metric::LogProb(101),
        "logit_diff" => Metric::LogitDiff(101, 202),
        "continuation" => Metric::Continuation(cont.to_vec()),
        _ => panic!("unknown metric {kind}"),
    }
}

fn rel_err(a: &Tensor, b: &Tensor) -> f32 {
    let d = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let scale = b
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    d / scale.max(1.0)
}

/// Dense `[seq, d_sae]` attributions of one SAE from the sparse nodes.
fn dense_attr(a: &attribute::Attribution, sae: usize, d_sae: usize) -> Tensor {
    let t = a.ids.len();
    let mut v = vec![0f32; t * d_sae];
    for n in a.neurons.iter().filter(|n| n.sae_index == sae) {
        v[n.position * d_sae + n.latent as usize] = n.attribution;
    }
    Tensor::from_vec(v, (t, d_sae), &Device::Cpu).unwrap()
}

#[test]
fn gradients_match_pytorch_on_every_family() {
    let cases = read_json(&fixtures().join("refs/attribution/cases.json"));
    let saes = slots();
    let mut checked = 0;
    let mut worst = 0f32;
    for (name, case) in cases["models"].as_object().unwrap() {
        let m = model(name);
        let refs = load_refs(&fixtures().join(format!("refs/attribution/{name}.safetensors")));
        let context = ids(&refs["input_ids"]);
        let cont = ids(&refs["continuation_ids"]);
        for kind in case["metrics"].as_array().unwrap() {
            let kind = kind.as_str().unwrap();
            let metric = metric(kind, &cont);
            let a = attribute::attribute(&m, &saes, &context, &metric, &AttributeOpts::default())
                .unwrap_or_else(|e| panic!("{name}/{kind}: {e:#}"));
            let value = refs[&format!("{kind}.value")].to_vec1::<f32>().unwrap()[0] as f64;
            assert!(
                (a.value - value).abs() <= TOL as f64 * value.abs().max(1.0),
                "{name}/{kind}: metric {} vs PyTorch {value}",
                a.value
            );
            for (i, s) in saes.iter().enumerate() {
                let what = format!("{name}/{kind}/{}", s.name);
                let grad = &refs[&format!("{kind}.grad.{}", s.name)];
                let e = rel_err(&a.latent_grads[i], grad);
                worst = worst.max(e);
                assert!(e <= TOL, "{what}: dm/df relative error {e:.2e}");
                let acts = &refs[&format!("{kind}.acts.{}", s.name)];
                let want = (acts * grad).unwrap();
                let e = rel_err(&dense_attr(&a, i, s.sae.d_sae()), &want);
                worst = worst.max(e);
                assert!(e <= TOL, "{what}: attribution relative error {e:.2e}");
                let err_attr: Vec<f32> = a
                    .errors
                    .iter()
                    .filter(|n| n.sae_index == i)
                    .map(|n| n.attribution)
                    .collect();
                let got = Tensor::new(err_attr.as_slice(), &Device::Cpu).unwrap();
                let e = rel_err(&got, &refs[&format!("{kind}.err_attr.{}", s.name)]);
                worst = worst.max(e);
                assert!(
                    e <= TOL,
                    "{what}: error-node attribution relative error {e:.2e}"
                );
                // The gradient path is live: a broken one gives zeros.
                let gmax = grad
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(gmax > 1e-3, "{what}: the reference gradient is {gmax}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 7, "every model and metric of cases.json");
    eprintln!("gradients vs PyTorch: worst relative error {worst:.2e} (tolerance {TOL:.0e})");
}

#[test]
fn splice_with_error_keeps_the_logits() {
    let saes = slots();
    for name in ["qwen2", "gemma2", "gpt2"] {
        let m = model(name);
        let refs = load_refs(&fixtures().join(format!("refs/attribution/{name}.safetensors")));
        let context = ids(&refs["input_ids"]);
        let (spliced, composed) = attribute::spliced_logits(&m, &saes, &context).unwrap();
        // Bit for bit: the splice adds exact zeros.
        let diff = (&spliced - &composed)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(
            diff, 0.0,
            "{name}: spliced logits differ from the plain model's"
        );
        // The composed ops agree with the fused kernels.
        let plain = m
            .run(&context, &mut safe_sail::model::NoHooks, Default::default())
            .unwrap()
            .unwrap();
        let e = rel_err(&composed, &plain);
        assert!(e <= TOL, "{name}: composed vs fused ops {e:.2e}");
    }
}

#[test]
fn linear_estimate_tracks_exact_ablation() {
    // On each fixture model with the logit-diff metric, the top 30 neurons' attribution
    // against their exact ablation effect m(clean) − m(ablated) (same sign convention).
    let saes = slots();
    let mut report = vec![];
    for name in ["qwen2", "llama", "gemma2", "gpt2", "qwen3"] {
        let m = model(name);
        let refs = load_refs(&fixtures().join(format!("refs/attribution/{name}.safetensors")));
        let context = ids(&refs["input_ids"]);
        let metric = Metric::LogitDiff(101, 202);
        let mut a =
            attribute::attribute(&m, &saes, &context, &metric, &AttributeOpts::default()).unwrap();
        attribute::add_exact_effects(&m, &saes, &context, &metric, &mut a, 30).unwrap();
        let top = a.top(30);
        assert_eq!(top.len(), 30);
        let x: Vec<f64> = top.iter().map(|n| n.attribution as f64).collect();
        let y: Vec<f64> = top.iter().map(|n| n.exact_effect.unwrap()).collect();
        let r = attribute::pearson(&x, &y).unwrap();
        report.push(format!("{name} r={r:.3}"));
        assert!(r >= 0.8, "{name}: Pearson {r:.3} < 0.8 ({report:?})");
        // The exact effect is measured on the plain model: the clean metric is the same value.
        let clean = attribute::metric_value(&m, &context, &metric).unwrap();
        assert!((clean - a.value).abs() < 1e-4 * a.value.abs().max(1.0));
    }
    eprintln!(
        "attribution vs exact ablation, top 30: {}",
        report.join(", ")
    );
}

#[test]
fn refuses_bad_input() {
    let saes = slots();
    let m = model("qwen2");
    let context: Vec<u32> = (1..20).collect();
    let err = |r: anyhow::Result<attribute::Attribution>| format!("{:#}", r.unwrap_err());
    let e = err(attribute::attribute(
        &m,
        &saes,
        &context,
        &Metric::LogProb(10),
        &AttributeOpts { max_tokens: 8 },
    ));
    assert!(e.contains("19 tokens") && e.contains("limited to 8"), "{e}");
    let e = err(attribute::attribute(
        &m,
        &saes,
        &context,
        &Metric::LogProb(100_000),
        &AttributeOpts::default(),
    ));
    assert!(e.contains("out of range"), "{e}");
    let e = err(attribute::attribute(
        &m,
        &[],
        &context,
        &Metric::LogProb(10),
        &AttributeOpts::default(),
    ));
    assert!(e.contains("no SAE"), "{e}");
    let e = err(attribute::attribute(
        &m,
        &saes,
        &[],
        &Metric::Continuation(vec![5, 6, 7]),
        &AttributeOpts::default(),
    ));
    assert!(e.contains("context is empty"), "{e}");
    let bf16 =
        Model::load_dir(&fixtures().join("models/qwen2"), &Device::Cpu, DType::BF16).unwrap();
    let e = err(attribute::attribute(
        &bf16,
        &saes,
        &context,
        &Metric::LogProb(10),
        &AttributeOpts::default(),
    ));
    assert!(e.contains("f32"), "{e}");
    let spec: attribute::MetricSpec = "logprob:The quick brown fox".parse().unwrap();
    let e = format!("{:#}", spec.resolve(&m.tok).unwrap_err());
    assert!(e.contains("not one token"), "{e}");
}

fn run(args: &[&str]) -> std::process::Output {
    let out = bin().args(args).output().unwrap();
    assert!(out.status.code().is_some(), "killed by a signal");
    out
}

#[test]
fn cli_ranks_neurons_with_exact_effects_and_db_notes() {
    let fx = fixtures();
    let model = fx.join("models/qwen2");
    let topk = fx.join("saes/saelens_topk");
    let jump = fx.join("saes/saelens_jumprelu");
    let (model, topk, jump) = (
        model.display().to_string(),
        topk.display().to_string(),
        jump.display().to_string(),
    );
    let base = [
        "attribute",
        "--model",
        &model,
        "--sae",
        &topk,
        "--sae",
        &jump,
        "--prompt",
        "The quick brown fox jumps over the lazy",
        "--metric",
        "logit-diff: dog, the",
        "--top",
        "6",
    ];
    let mut args = base.to_vec();
    args.extend(["--exact", "--json"]);
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["neurons"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    for key in [
        "neuron",
        "sae",
        "layer",
        "position",
        "token",
        "activation",
        "attribution",
        "exact_effect",
    ] {
        assert!(rows[0].get(key).is_some(), "row without {key}: {}", rows[0]);
    }
    let attr: Vec<f64> = rows
        .iter()
        .map(|r| r["attribution"].as_f64().unwrap().abs())
        .collect();
    assert!(attr.windows(2).all(|w| w[0] >= w[1]), "{attr:?}");
    assert!(v["value"].as_f64().unwrap().is_finite());
    let n_tokens = v["tokens"].as_array().unwrap().len();
    assert_eq!(v["errors"].as_array().unwrap().len(), 2 * n_tokens);

    // Text output with a database naming the top neuron.
    let top = rows[0]["neuron"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.json");
    std::fs::write(
        &db,
        serde_json::json!({top: {"explanation": "words before a dog", "correlation_score": 0.5,
                                 "tag_list": ["violence"]}})
        .to_string(),
    )
    .unwrap();
    let db = db.display().to_string();
    let mut args = base.to_vec();
    args.extend(["--db", &db]);
    let out = run(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("rank") && text.contains(top), "{text}");
    assert!(text.contains("words before a dog [violence]"), "{text}");
    assert!(text.contains("error nodes"), "{text}");
}

#[test]
fn cli_names_bad_metric_tokens_and_unknown_saes() {
    let fx = fixtures();
    let model = fx.join("models/qwen2").display().to_string();
    let topk = fx.join("saes/saelens_topk").display().to_string();
    let attr = |sae: &str, metric: &str| {
        let out = run(&[
            "attribute",
            "--model",
            &model,
            "--sae",
            sae,
            "--prompt",
            "The quick brown fox",
            "--metric",
            metric,
        ]);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let e = attr(&topk, "logprob: fox");
    assert!(
        e.contains("\" fox\" is not one token") && e.contains("3 tokens"),
        "{e}"
    );
    let e = attr(&topk, "entropy:x");
    assert!(e.contains("unknown kind `entropy`"), "{e}");
    let missing = fx.join("saes/no_such_sae").display().to_string();
    let e = attr(&missing, "logprob: the");
    assert!(e.contains("no_such_sae"), "{e}");
}

/// Checks `v` against the subset of JSON Schema that assets/schemas/attribution-graph.schema.json
/// uses (`type`, `required`, `properties`, `items`); returns the first violation.
fn schema_violation(schema: &serde_json::Value, v: &serde_json::Value, at: &str) -> Option<String> {
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            serde_json::Value::String(s) => vec![s.as_str()],
            serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "number" => v.is_number(),
            "integer" => v.is_i64() || v.is_u64(),
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            _ => false,
        });
        if !ok {
            return Some(format!("{at}: {v} is not of type {t}"));
        }
    }
    if let Some(req) = schema.get("required").and_then(|r| r.as_array()) {
        for k in req {
            let k = k.as_str().unwrap();
            if v.get(k).is_none() {
                return Some(format!("{at}: `{k}` is missing"));
            }
        }
    }
    if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
        for (k, s) in props {
            if let Some(x) = v.get(k) {
                if let Some(e) = schema_violation(s, x, &format!("{at}.{k}")) {
                    return Some(e);
                }
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            if let Some(e) = schema_violation(items, x, &format!("{at}[{i}]")) {
                return Some(e);
            }
        }
    }
    None
}

#[test]
fn graph_export_follows_the_schema_and_links_layers() {
    let schema = read_json(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/schemas/attribution-graph.schema.json"),
    );
    // The validator catches a broken export.
    let bad = serde_json::json!({"metadata": {}, "qParams": {}, "nodes": [], "links": []});
    assert!(schema_violation(&schema, &bad, "$").is_some());

    let fx = fixtures();
    let out_dir = tempfile::tempdir().unwrap();
    let graph = out_dir.path().join("graph.json");
    let out = run(&[
        "attribute",
        "--model",
        &fx.join("models/qwen2").display().to_string(),
        "--sae",
        &fx.join("saes/saelens_standard_legacy")
            .display()
            .to_string(),
        "--sae",
        &fx.join("saes/saelens_topk").display().to_string(),
        "--sae",
        &fx.join("saes/saelens_jumprelu").display().to_string(),
        "--prompt",
        "The quick brown fox jumps over the lazy",
        "--metric",
        "logit-diff: dog, the",
        "--top",
        "12",
        "--graph-out",
        &graph.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let g = read_json(&graph);
    if let Some(e) = schema_violation(&schema, &g, "$") {
        panic!("graph JSON breaks the schema: {e}");
    }
    let nodes = g["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 13, "12 neurons and the metric");
    let links = g["links"].as_array().unwrap();
    let to_metric = links
        .iter()
        .filter(|l| l["target"] == nodes[12]["node_id"])
        .count();
    assert_eq!(to_metric, 12);
    // Links between neurons go from an earlier layer to a later one.
    let layer_of = |id: &serde_json::Value| {
        nodes
            .iter()
            .find(|n| n["node_id"] == *id)
            .map(|n| n["layer"].as_str().unwrap().parse::<usize>().unwrap())
            .unwrap()
    };
    let between: Vec<_> = links
        .iter()
        .filter(|l| l["target"] != nodes[12]["node_id"])
        .collect();
    assert!(!between.is_empty(), "no links between neurons");
    for l in between {
        assert!(layer_of(&l["source"]) < layer_of(&l["target"]), "{l}");
        assert!(l["weight"].as_f64().unwrap().is_finite());
    }
}

/// Subtracts one latent's decoder row at one position (a real ablation) and keeps the input of
/// another hook.
struct AblateAndCapture {
    ablate: safe_sail::hooks::HookPoint,
    position: usize,
    vector: Tensor,
    capture: safe_sail::hooks::HookPoint,
    captured: Option<Tensor>,
}

impl safe_sail::model::Hooks for AblateAndCapture {
    fn at(
        &mut self,
        hook: safe_sail::hooks::HookPoint,
        x: &Tensor,
    ) -> anyhow::Result<Option<Tensor>> {
        if hook == self.capture && self.captured.is_none() {
            self.captured = Some(x.clone());
        }
        if hook != self.ablate {
            return Ok(None);
        }
        let (_, t, d) = x.dims3()?;
        let mut rows = vec![Tensor::zeros((1, d), DType::F32, &Device::Cpu)?; t];
        rows[self.position] = self.vector.reshape((1, d))?;
        let delta = Tensor::cat(&rows, 0)?.unsqueeze(0)?;
        Ok(Some((x - delta)?))
    }
}

#[test]
fn edge_weights_track_real_ablations_upstream() {
    // Each link's weight f_up · ∂pre_down/∂f_up against pre_down(clean) − pre_down(up ablated).
    let saes = slots();
    let m = model("qwen2");
    let refs = load_refs(&fixtures().join("refs/attribution/qwen2.safetensors"));
    let context = ids(&refs["input_ids"]);
    let a = attribute::attribute(
        &m,
        &saes,
        &context,
        &Metric::LogitDiff(101, 202),
        &AttributeOpts::default(),
    )
    .unwrap();
    let top: Vec<usize> = (0..30).collect();
    let targets: Vec<usize> = (0..30)
        .filter(|&i| a.neurons[i].layer > 0)
        .take(4)
        .collect();
    let edges = attribute::graph::edges(&m, &saes, &a, &top, &targets).unwrap();
    assert!(edges.len() >= 5, "{} links", edges.len());
    let pre = |x: &Tensor, n: &attribute::NeuronNode| -> f64 {
        let row = x
            .get(0)
            .unwrap()
            .get(n.position)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let p = saes[n.sae_index].sae.pre_activations(&row).unwrap();
        p.get(0)
            .unwrap()
            .get(n.latent as usize)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64
    };
    let (mut est, mut real) = (vec![], vec![]);
    for e in &edges {
        let (s, t) = (&a.neurons[e.source], &a.neurons[e.target]);
        let ssae = &saes[s.sae_index].sae;
        let row = ssae
            .w_dec
            .as_ref()
            .unwrap()
            .narrow_rows(s.latent as usize, 1)
            .unwrap();
        let run = |vector: Tensor| {
            let mut h = AblateAndCapture {
                ablate: ssae.hook(),
                position: s.position,
                vector,
                capture: saes[t.sae_index].sae.hook(),
                captured: None,
            };
            m.run(&a.ids, &mut h, Default::default()).unwrap();
            pre(&h.captured.unwrap(), t)
        };
        let clean = run(Tensor::zeros(row.dims(), DType::F32, &Device::Cpu).unwrap());
        let ablated = run((row * s.activation as f64).unwrap());
        est.push(e.weight as f64);
        real.push(clean - ablated);
    }
    let r = attribute::pearson(&est, &real).unwrap();
    eprintln!(
        "link weights vs real ablation over {} links: Pearson {r:.3}",
        edges.len()
    );
    assert!(r >= 0.8, "Pearson {r:.3}: {est:?} vs {real:?}");
}
