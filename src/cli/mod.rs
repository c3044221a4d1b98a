//! The `safe-sail` command line (clap): one small file per command family that parses
//! arguments, calls the library and prints. Every capability of the library is reachable here.

mod args;
mod attribute;
mod bench;
mod capture;
mod collect;
mod db;
mod evaluate;
mod explain;
mod families;
mod interop;
mod progress;
mod sample;
mod steer;
mod train;
mod workspace;

use clap::{Parser, Subcommand};
use safe_sail::explain::run::Task;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "safe-sail",
    version,
    about = "Safe-SAIL Explorer: look inside language models through sparse autoencoders"
)]
struct Cli {
    /// Log what is happening (repeat for more detail).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Open the explorer window on a workspace (default: the bundled sample; what `safe-sail`
    /// with no arguments does).
    Gui {
        /// A `*.sail.json` workspace file.
        workspace: Option<PathBuf>,
        /// The window's size in logical points, WIDTHxHEIGHT (default 1280x820).
        #[arg(long, value_name = "WxH")]
        size: Option<String>,
    },
    /// Run the engine on the bundled sample model in the terminal and show each token's
    /// strongest SAE latents.
    Demo,
    /// Run a prompt through a model, save activations at hook points and SAE latents.
    Capture(capture::CaptureArgs),
    /// Let a model answer a prompt, streaming its tokens.
    Generate(capture::GenerateArgs),
    /// Steer: let the model answer with interventions on SAE neurons or raw directions, beside
    /// the untouched answer (same seed and sampling), with per-token top-5 log-probabilities,
    /// KL divergence and the first divergence.
    Steer(steer::SteerArgs),
    /// Attribution: which SAE neurons drove an output. One forward pass with the SAEs spliced in
    /// (error kept) and one backward pass from a metric (a token's log-probability, a difference
    /// of two, a continuation's); neurons ranked by activation × gradient, with error nodes and,
    /// with --exact, the true effect of ablating each.
    Attribute(attribute::AttributeArgs),
    /// Pair the latents of two SAEs that read the same space (another width, seed or layer)
    /// one to one by decoder cosine, and say how many have a partner above a threshold.
    Match(families::MatchArgs),
    /// A 2-D map of an SAE's latents from their decoder directions (UMAP-style: exact cosine
    /// neighbours, then a seeded layout), cached beside its feature store (`--store`) or in the
    /// user's data folder; the window's Neurons view shows it.
    Map(families::MapArgs),
    /// What steering costs: each intervention over a prompt file (how often the answer changes,
    /// KL per token) and on a neutral text (change of next-token cross-entropy), beside a
    /// random-direction control of the same norm; Parquet output.
    SteerEval(steer::SteerEvalArgs),
    /// Describe an SAE checkpoint (format, sizes, hook, activation).
    SaeInfo {
        /// `PATH[,key=value...]` (keys: hook, activation, k, threshold, component, format, scale,
        /// allow_nonfinite).
        sae: String,
        /// Load weights holding NaN or ±Inf instead of refusing them (`,allow_nonfinite=true`).
        #[arg(long)]
        allow_nonfinite: bool,
    },
    /// Read a Safe-SAIL neuron-index file (`indices_layer{L}.pt`) and summarise it.
    Indices { file: PathBuf },
    /// Generate the sample corpus (English/Chinese documents across the four safety domains
    /// and neutral topics, chat conversations, concept / de-concept pairs) as JSON Lines.
    MakeCorpus {
        /// Output folder: corpus.jsonl and concept_pairs.jsonl are written there.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 20000)]
        docs: usize,
        #[arg(long, default_value_t = 0x5AFE_5A11)]
        seed: u64,
        /// Concept pairs per safety domain.
        #[arg(long, default_value_t = 60)]
        pairs: usize,
        /// Mix in real English and Chinese text from Debian packages installed under this root
        /// ("/" normally; sources and licences: assets/corpus/real_sources.toml). The files
        /// read are recorded in sources.json.
        #[arg(long)]
        real_text: Option<PathBuf>,
        /// Documents of the held-out generated style(s) written to heldout_style.jsonl (with
        /// the held-out real sources), never part of corpus.jsonl.
        #[arg(long, default_value_t = 600)]
        heldout_style_docs: usize,
    },
    /// Train the sample workspace's language model on a corpus from make-corpus: a byte-level BPE
    /// tokenizer and a small Qwen2, saved as a Hugging Face folder with a training.json report.
    TrainLm(train::TrainLmArgs),
    /// Collect feature stores: statistics, top and quantile examples, promoted tokens for every
    /// latent of each SAE over a corpus.
    Collect(collect::CollectArgs),
    /// Combine the stores of `collect --shard i/n` runs into the store one run would give.
    MergeStores {
        /// The output folders of the shard runs.
        inputs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Evaluate SAE candidates: L0, dead / dense fractions, explained variance, NMSE and the
    /// model's loss with each reconstruction spliced in (CE loss recovered, delta loss).
    Evaluate(evaluate::EvaluateArgs),
    /// Combine the outputs of `evaluate` runs over different candidates (same settings) into
    /// the evaluation one run over all of them gives.
    MergeEvaluations {
        /// The output folders of the runs, in the candidates' order.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Explain latents with an LLM behind an OpenAI-compatible endpoint, from their feature store;
    /// explanations and tags go into the neuron database (with history).
    Explain(explain::LlmArgs),
    /// Score explanations by simulation (token or Safe-SAIL segment level) against held-out
    /// examples; the Pearson correlation becomes the neuron's correlation_score.
    Score(explain::LlmArgs),
    /// What a neuron does to the output: the tokens its decoder direction promotes and
    /// suppresses, and which next-token log-probabilities rise and fall when it is amplified on
    /// neutral prompts (with one prompt's continuation, default vs amplified).
    ExplainOutput(explain::OutputArgs),
    /// Write concept / de-concept pairs: an LLM rewrites each concept query without its concept,
    /// keeping structure, length and question type (cached; pairs marked for review).
    Deconcept(explain::DeconceptArgs),
    /// Train SAE candidates (TopK, ReLU + L1, JumpReLU; every hook × width × setting) on a
    /// model's activations, sharing one forward pass; each is written in SAELens format with a
    /// training.json. Checkpoints (--checkpoint-every) let an interrupted run go on (--resume).
    TrainSae(train::TrainSaeArgs),
    /// The neuron database: import / export Safe-SAIL JSON, show and set records.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Write results other tools open: a Neuronpedia export, a feature dashboard (HTML or
    /// JSON), SAELens's sparsity.safetensors.
    #[command(subcommand)]
    Export(interop::ExportCommand),
    /// Read results other tools wrote: a Neuronpedia export's explanations.
    #[command(subcommand)]
    Import(interop::ImportCommand),
    /// Workspace files: make one for the Safe-SAIL paper's release.
    #[command(subcommand)]
    Workspace(workspace::WorkspaceCommand),
    /// Benchmark the feature store: write and open a synthetic store (16,384 latents × 70
    /// examples by default) and fetch latents from it.
    BenchStore {
        #[arg(long, default_value_t = 16384)]
        latents: usize,
        #[arg(long, default_value_t = 20)]
        top: usize,
        #[arg(long, default_value_t = 50)]
        quantile: usize,
        #[arg(long, default_value_t = 64)]
        context: usize,
    },
    /// Benchmark collect's bookkeeping: the same corpus through forward + encode alone and
    /// through the whole collection, in one run; prints the overhead ratio.
    BenchCollect(bench::BenchCollectArgs),
    /// What one attribution (forward with SAEs spliced in + backward) costs beside a plain
    /// forward pass of the same input, on the bundled sample by default; prints the ratio.
    BenchAttribute(bench::BenchAttributeArgs),
    /// The Neurons view's map: frame time of 20,480 points against an empty frame's (egui pass +
    /// tessellation on the CPU); with --layout-d-in, the time to compute a map.
    BenchMap(bench::BenchMapArgs),
    /// Measure tokens/s of "forward to layer L + SAE encode" on a Qwen2.5-0.5B-sized random model.
    Bench(bench::BenchArgs),
    /// Measure tokens/s of TopK SAE training steps (SaeTrainer) on random activations; with
    /// --torch, the same step in PyTorch in the same run, and the ratio.
    BenchTrain(bench::BenchTrainArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, None | Some(Command::Gui { .. })) {
        quiet_on_closed_pipe();
    }
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("safe_sail={level},safe_sail_explorer={level}"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command.unwrap_or(Command::Gui {
        workspace: None,
        size: None,
    }) {
        Command::Gui { workspace, size } => sample::gui(workspace, size),
        Command::Demo => sample::demo(),
        Command::Capture(a) => capture::capture(a),
        Command::Generate(a) => capture::generate(a),
        Command::Steer(a) => steer::steer_cmd(a),
        Command::SteerEval(a) => steer::steer_eval_cmd(a),
        Command::Attribute(a) => attribute::attribute_cmd(a),
        Command::Match(a) => families::match_cmd(a),
        Command::Map(a) => families::map_cmd(a),
        Command::SaeInfo {
            sae,
            allow_nonfinite,
        } => capture::sae_info(&sae_specs(&[sae], allow_nonfinite)[0]),
        Command::Indices { file } => capture::indices(&file),
        Command::Bench(a) => bench::bench(a),
        Command::BenchTrain(a) => bench::bench_train(a),
        Command::Db(c) => db::db_command(c),
        Command::Export(c) => interop::export(c),
        Command::Import(c) => interop::import(c),
        Command::Workspace(c) => workspace::workspace_command(c),
        Command::Collect(a) => collect::collect(a),
        Command::TrainSae(a) => train::train_sae(a),
        Command::Explain(a) => explain::explain_or_score(a, Task::Explain),
        Command::Score(a) => explain::explain_or_score(a, Task::Score),
        Command::Deconcept(a) => explain::deconcept(a),
        Command::ExplainOutput(a) => explain::explain_output(a),
        Command::Evaluate(a) => evaluate::evaluate(a),
        Command::MergeEvaluations { inputs, out } => evaluate::merge(&inputs, &out),
        Command::BenchStore {
            latents,
            top,
            quantile,
            context,
        } => bench::bench_store(latents, top, quantile, context),
        Command::BenchCollect(a) => bench::bench_collect(a),
        Command::BenchAttribute(a) => bench::bench_attribute(a),
        Command::BenchMap(a) => bench::bench_map(a),
        Command::MergeStores { inputs, out } => collect::merge_stores(&inputs, &out),
        Command::MakeCorpus {
            out,
            docs,
            seed,
            pairs,
            real_text,
            heldout_style_docs,
        } => sample::make_corpus(
            &out,
            docs,
            seed,
            pairs,
            real_text.as_deref(),
            heldout_style_docs,
        ),
        Command::TrainLm(a) => train::train_lm(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `--sae` specs with `allow_nonfinite=true` added to each when `--allow-nonfinite` is given.
pub fn sae_specs(specs: &[String], allow_nonfinite: bool) -> Vec<String> {
    specs
        .iter()
        .map(|s| {
            if allow_nonfinite {
                safe_sail::sae::spec::allowing_nonfinite(s)
            } else {
                s.clone()
            }
        })
        .collect()
}

/// Lets a closed stdout (`safe-sail db show | head`) end a command quietly, as it ends `cat`
/// or `grep`: the default action of SIGPIPE stops the process without a message (exit status
/// 141 in a shell). Rust ignores SIGPIPE, so `println!` would instead panic with a backtrace
/// in whichever command happened to print. Sockets are not affected (the standard library
/// sends with `MSG_NOSIGNAL`: a closed connection stays an error), and the window keeps
/// ignoring the signal.
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    {
        extern "C" {
            fn signal(signum: i32, handler: usize) -> usize;
        }
        const SIGPIPE: i32 = 13;
        const SIG_DFL: usize = 0;
        // SAFETY: restores the default action of one signal before any thread is started.
        unsafe {
            signal(SIGPIPE, SIG_DFL);
        }
    }
}
