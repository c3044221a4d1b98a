//! `attribute`: parse, call [`safe_sail::attribute`], print a ranked table or JSON.

use super::args::{ModelArgs, PromptArgs};
use anyhow::Result;
use clap::Args;
use safe_sail::attribute::{self, graph, AttributeOpts, MetricSpec};
use safe_sail::db::NeuronDb;
use safe_sail::load::load_saes;
use safe_sail::steer::SaeSlot;
use std::path::PathBuf;

#[derive(Args)]
pub struct AttributeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// An SAE: `PATH[,key=value...]`, spliced in at its hook with its error kept. Repeatable.
    #[arg(long, required = true)]
    pub sae: Vec<String>,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// The start of the model's answer, appended after the (chat-rendered) prompt: the metric
    /// is read after it.
    #[arg(long)]
    pub answer: Option<String>,
    /// What to attribute: `logprob:TOKEN` (log-probability of the next token), `logit-diff:A,B`
    /// (log P(A) − log P(B)) or `continuation:TEXT` (sum of the log-probabilities of TEXT's
    /// tokens, teacher-forced). A TOKEN must be exactly one token (mind the leading space).
    #[arg(long, allow_hyphen_values = true)]
    pub metric: String,
    /// How many neurons to list (by |attribution|).
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Also really ablate each listed neuron (one forward pass each) and report the true
    /// change of the metric, m(clean) − m(ablated).
    #[arg(long)]
    pub exact: bool,
    /// Print `{metric, value, tokens, neurons, errors}` as JSON.
    #[arg(long)]
    pub json: bool,
    /// A neuron database: the listed neurons' explanations and tags.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// The longest input (prompt, answer and continuation) accepted.
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// Also write the listed neurons as an attribution graph (the JSON Neuronpedia's graph
    /// viewer reads), with links between layers for the top few.
    #[arg(long)]
    pub graph_out: Option<PathBuf>,
    /// With --graph-out: how many downstream neurons get links from upstream ones (one backward
    /// pass each).
    #[arg(long, default_value_t = 5)]
    pub graph_edges: usize,
}

pub fn attribute_cmd(a: AttributeArgs) -> Result<()> {
    let spec: MetricSpec = a.metric.parse()?;
    let prompt = a.prompt.spec()?;
    let db = a.db.as_deref().map(NeuronDb::load).transpose()?;
    let model = a.model.spec().load()?;
    let metric = spec.resolve(&model.tok)?;
    let saes: Vec<SaeSlot> = load_saes(&a.sae, model.net.device())?
        .into_iter()
        .map(SaeSlot::new)
        .collect();
    let context = attribute::context_ids(&model, &prompt, a.answer.as_deref())?;
    let opts = AttributeOpts {
        max_tokens: a.max_tokens,
    };
    let mut r = attribute::attribute(&model, &saes, &context, &metric, &opts)?;
    if a.exact {
        attribute::add_exact_effects(&model, &saes, &context, &metric, &mut r, a.top)?;
    }
    r.neurons.truncate(a.top);
    if let Some(path) = &a.graph_out {
        let slug = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "attribution".into());
        let g = graph::graph_json(
            &model,
            &saes,
            &r,
            &prompt.text,
            &slug,
            db.as_ref(),
            &graph::GraphOpts {
                nodes: a.top,
                edge_targets: a.graph_edges,
            },
        )?;
        safe_sail::fsutil::write_atomic(path, serde_json::to_string_pretty(&g)?.as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "metric {} = {:.4} over {} tokens; {} SAE(s)",
        r.metric,
        r.value,
        r.ids.len(),
        saes.len()
    );
    println!(
        "{:>4}  {:<10} {:<24} {:>4} {:<12} {:>9} {:>11}{}  explanation",
        "rank",
        "neuron",
        "sae",
        "pos",
        "token",
        "act",
        "attribution",
        if a.exact { "       exact" } else { "" }
    );
    for (i, n) in r.neurons.iter().enumerate() {
        let rec = db.as_ref().and_then(|d| d.get(n.layer, n.latent));
        let note = match rec {
            Some(rec) => {
                let tags = rec.tags();
                let text = rec.explanation.as_deref().unwrap_or("(no explanation)");
                if tags.is_empty() {
                    text.to_string()
                } else {
                    format!("{text} [{}]", tags.join(", "))
                }
            }
            None => String::new(),
        };
        let exact = match n.exact_effect {
            Some(e) => format!(" {e:>+11.4}"),
            None => String::new(),
        };
        println!(
            "{:>4}  {:<10} {:<24} {:>4} {:<12} {:>9.3} {:>+11.4}{exact}  {note}",
            i + 1,
            n.neuron,
            truncate(&n.sae, 24),
            n.position,
            truncate(&format!("{:?}", n.token), 12),
            n.activation,
            n.attribution,
        );
    }
    let mut errs: Vec<_> = r.errors.iter().collect();
    errs.sort_by(|a, b| b.attribution.abs().total_cmp(&a.attribution.abs()));
    let total: f32 = r.errors.iter().map(|e| e.attribution).sum();
    println!("error nodes: total attribution {total:+.4}; largest:");
    for e in errs.iter().take(5) {
        println!(
            "      {:<35} pos {:>4} {:<12} |e| {:>8.3} {:>+11.4}",
            e.sae,
            e.position,
            truncate(&format!("{:?}", e.token), 12),
            e.norm,
            e.attribution
        );
    }
    if a.exact {
        let x: Vec<f64> = r.neurons.iter().map(|n| n.attribution as f64).collect();
        let y: Vec<f64> = r.neurons.iter().filter_map(|n| n.exact_effect).collect();
        if let Some(p) = attribute::pearson(&x, &y) {
            println!(
                "attribution vs exact effect over the {} listed: Pearson {p:.3}",
                x.len()
            );
        }
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
