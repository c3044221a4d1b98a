//! Command-line interface (clap). Every capability of the library is reachable here.

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use clap::{Args, Parser, Subcommand};
use safe_sail::capture::{capture_prompt, CaptureResult};
use safe_sail::device::{parse_device, parse_dtype};
use safe_sail::hooks::HookPoint;
use safe_sail::model::generate::{Flow, GenerateOpts};
use safe_sail::model::{Model, NoHooks, PromptSpec};
use safe_sail::sae::{load_sae, Sae, SaeSpec};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
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
    },
    /// Run the engine on the bundled sample model in the terminal and show each token's
    /// strongest SAE latents.
    Demo,
    /// Run a prompt through a model, save activations at hook points and SAE latents.
    Capture(CaptureArgs),
    /// Let a model answer a prompt, streaming its tokens.
    Generate(GenerateArgs),
    /// Describe an SAE checkpoint (format, sizes, hook, activation).
    SaeInfo {
        /// `PATH[,key=value...]` (keys: hook, activation, component, format, scale).
        sae: String,
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
    },
    /// Train the sample workspace's language model on a corpus from make-corpus: a byte-level BPE
    /// tokenizer and a small Qwen2, saved as a Hugging Face folder with a training.json report.
    TrainLm(TrainLmArgs),
    /// Collect feature stores: statistics, top and quantile examples, promoted tokens for every
    /// latent of each SAE over a corpus.
    Collect(CollectArgs),
    /// Combine the stores of `collect --shard i/n` runs into the store one run would give.
    MergeStores {
        /// The output folders of the shard runs.
        inputs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Evaluate SAE candidates: L0, dead / dense fractions, explained variance, NMSE and the
    /// model's loss with each reconstruction spliced in (CE loss recovered, delta loss).
    Evaluate {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long, required = true)]
        sae: Vec<String>,
        /// A general corpus (.jsonl/.ndjson/.txt/.parquet/.csv).
        #[arg(long, required = true)]
        corpus: Vec<PathBuf>,
        #[arg(long, default_value = "text")]
        text_field: String,
        #[arg(long, default_value_t = 64)]
        context: usize,
        #[arg(long, default_value_t = 8)]
        batch: usize,
        /// Tokens to evaluate on.
        #[arg(long, default_value_t = 100_000)]
        tokens: u64,
        /// Concept / de-concept pairs (JSONL with domain, prompt, deconcept; `make-corpus` writes
        /// them) for the Safe-SAIL metrics L0,t and I_CDF per domain.
        #[arg(long)]
        concept_pairs: Option<PathBuf>,
        /// Threshold t of L0,t.
        #[arg(long, default_value_t = 0.5)]
        threshold: f64,
        /// Share of a domain's pairs a latent must distinguish to count in L0,t.
        #[arg(long, default_value_t = 0.5)]
        min_frequency: f64,
        /// A labeled corpus (JSONL) for domain specificity.
        #[arg(long)]
        labeled_corpus: Option<PathBuf>,
        #[arg(long, default_value = "domain")]
        label_field: String,
        /// Tokens of the labeled corpus for specificity [default: --tokens]. Specificity needs
        /// many contexts per domain; the fidelity pass (a forward per candidate) is the slow one.
        #[arg(long)]
        labeled_tokens: Option<u64>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Explain latents with an LLM behind an OpenAI-compatible endpoint, from their feature store;
    /// explanations and tags go into the neuron database (with history).
    Explain(LlmArgs),
    /// Score explanations by simulation (token or Safe-SAIL segment level) against held-out
    /// examples; the Pearson correlation becomes the neuron's correlation_score.
    Score(LlmArgs),
    /// Train SAE candidates (TopK, ReLU + L1, JumpReLU; every hook × width × setting) on a
    /// model's activations, sharing one forward pass; each is written in SAELens format with a
    /// training.json. Checkpoints (--checkpoint-every) let an interrupted run go on (--resume).
    TrainSae(TrainSaeArgs),
    /// The neuron database: import / export Safe-SAIL JSON, show and set records.
    #[command(subcommand)]
    Db(DbCommand),
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
    BenchCollect(BenchCollectArgs),
    /// Measure tokens/s of "forward to layer L + SAE encode" on a Qwen2.5-0.5B-sized random model.
    Bench(BenchArgs),
    /// Measure tokens/s of TopK SAE training steps (SaeTrainer) on random activations; with
    /// --torch, the same step in PyTorch in the same run, and the ratio.
    BenchTrain(BenchTrainArgs),
}

#[derive(Args)]
struct TrainLmArgs {
    /// corpus.jsonl written by `safe-sail make-corpus`.
    #[arg(long)]
    corpus: PathBuf,
    /// Output model folder.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 4096)]
    vocab: usize,
    #[arg(long, default_value_t = 128)]
    hidden: usize,
    #[arg(long, default_value_t = 4)]
    layers: usize,
    #[arg(long, default_value_t = 4)]
    heads: usize,
    #[arg(long, default_value_t = 2)]
    kv_heads: usize,
    #[arg(long, default_value_t = 384)]
    intermediate: usize,
    #[arg(long, default_value_t = 128)]
    seq_len: usize,
    #[arg(long, default_value_t = 16)]
    batch: usize,
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Import a Safe-SAIL neuron database (creates DB, or merges into it keeping review fields).
    Import {
        /// A Safe-SAIL neuron database JSON (en_db.json, cn_db.json, ...).
        file: PathBuf,
        #[arg(long)]
        db: PathBuf,
    },
    /// Export the database.
    Export {
        db: PathBuf,
        /// safe-sail (lossless, as their tools write it), csv or parquet.
        #[arg(long, default_value = "safe-sail")]
        format: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Print one neuron's record.
    Show { db: PathBuf, neuron: String },
    /// Change one neuron's record (recorded in the edit history).
    Set {
        db: PathBuf,
        neuron: String,
        #[arg(long)]
        explanation: Option<String>,
        /// Comma-separated tags (empty for none).
        #[arg(long)]
        tags: Option<String>,
        /// unreviewed, verified, needs_work or rejected.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Apply a file of edits (a JSON list of {neuron, explanation?, tags?, status?, note?}), as
    /// an annotator's batch: every change goes into the history; a new explanation is recorded
    /// as written by a person.
    Apply { db: PathBuf, edits: PathBuf },
    /// Print the edit history.
    History { db: PathBuf },
    /// Test aid: types into a neuron's explanation through the autosave used by the window,
    /// printing each keystroke's number and time, until killed or `--seconds` pass.
    #[command(hide = true)]
    TypeTest {
        db: PathBuf,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
}

#[derive(Args)]
struct TrainSaeArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long, required = true)]
    corpus: Vec<PathBuf>,
    /// Hook points, comma-separated (e.g. blocks.1.hook_mlp_out,blocks.2.hook_mlp_out).
    #[arg(long)]
    hook: String,
    /// Widths, comma-separated.
    #[arg(long, default_value = "1024")]
    widths: String,
    /// Architectures, comma-separated: topk (one candidate per --k), relu (one per --l1),
    /// jumprelu (one per --l0-coeff).
    #[arg(long, default_value = "topk")]
    activation: String,
    /// TopK k values, comma-separated.
    #[arg(long, default_value = "32")]
    k: String,
    /// How TopK steps are computed: sparse (hand-written gradients over the k active latents
    /// of each token; CPU) or dense (candle's autograd over all latents). The same step up to
    /// float rounding; ReLU and JumpReLU always use autograd.
    #[arg(long, default_value = "sparse")]
    topk_kernel: String,
    /// L1 coefficients of the ReLU candidates, comma-separated (relative to the normalised
    /// MSE; the L1 term is divided by the batch's RMS norm, so they are scale-free).
    #[arg(long, default_value = "0.1")]
    l1: String,
    /// L0 coefficients of the JumpReLU candidates, comma-separated.
    #[arg(long, default_value = "0.01")]
    l0_coeff: String,
    /// Tokens to train on.
    #[arg(long, default_value_t = 1_000_000)]
    tokens: u64,
    /// Tokens per optimisation step.
    #[arg(long, default_value_t = 1024)]
    batch_tokens: usize,
    /// Peak learning rate (linear warm-up, linear decay to 0 over the last 20% of the steps).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Warm-up steps [default: 5% of the steps].
    #[arg(long)]
    warmup_steps: Option<usize>,
    /// A latent that has not fired for this many tokens counts as dead (AuxK, dead fraction)
    /// [default: a tenth of the run, at most 10M].
    #[arg(long)]
    dead_tokens: Option<u64>,
    #[arg(long, default_value_t = 64)]
    context: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Record L0, dead fraction and explained variance every this many steps.
    #[arg(long, default_value_t = 10)]
    log_every: usize,
    /// Write a checkpoint (weights, Adam state, position in the data) to OUT/checkpoint every
    /// this many steps.
    #[arg(long)]
    checkpoint_every: Option<usize>,
    /// Go on from OUT/checkpoint (the same arguments as the interrupted run).
    #[arg(long)]
    resume: bool,
    /// Dtype of the saved weights: f32, f16 (half the size) or bf16.
    #[arg(long, default_value = "f32")]
    save_dtype: String,
    /// Testing: write a checkpoint after this many steps and stop, as if interrupted.
    #[arg(long, hide = true)]
    stop_after_steps: Option<usize>,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct ModelArgs {
    /// Model folder, or a hub id found in the local Hugging Face cache.
    #[arg(long)]
    model: String,
    /// Compute dtype: f32, bf16 or f16.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// cpu, cuda:N or metal (cuda/metal need the matching cargo feature).
    #[arg(long, default_value = "cpu")]
    device: String,
}

#[derive(Args)]
struct PromptArgs {
    /// The prompt (the user message with --chat).
    #[arg(long, conflicts_with = "prompt_file")]
    prompt: Option<String>,
    /// Read the prompt from a UTF-8 file.
    #[arg(long)]
    prompt_file: Option<PathBuf>,
    /// Render the prompt through the model's chat template as a user message.
    #[arg(long)]
    chat: bool,
    /// System message for --chat.
    #[arg(long, requires = "chat")]
    system: Option<String>,
    /// Keep the last tokens that fit the model's context instead of failing.
    #[arg(long)]
    truncate: bool,
}

#[derive(Args)]
struct CaptureArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    prompt: PromptArgs,
    /// An SAE: `PATH[,key=value...]`; its hook is captured automatically. Repeatable.
    #[arg(long)]
    sae: Vec<String>,
    /// A hook point to save, e.g. blocks.2.hook_mlp_out. Repeatable.
    #[arg(long)]
    hook: Vec<String>,
    /// Also compute and save the logits (runs every layer).
    #[arg(long)]
    logits: bool,
    /// Print tokens and each SAE's top 5 latents per token as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Output safetensors file.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct CollectArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// An SAE: `PATH[,key=value...]`. Repeatable; all share one forward pass.
    #[arg(long, required = true)]
    sae: Vec<String>,
    /// Corpus files: .jsonl/.ndjson, .parquet, .csv or .txt (one document per line).
    #[arg(long, required = true)]
    corpus: Vec<PathBuf>,
    #[arg(long, default_value = "text")]
    text_field: String,
    /// Documents are chat messages in this field (rendered through the chat template).
    #[arg(long)]
    messages_field: Option<String>,
    /// Render plain documents through the chat template as user messages.
    #[arg(long)]
    chat: bool,
    /// Tokens per context.
    #[arg(long, default_value_t = 64)]
    context: usize,
    #[arg(long, default_value_t = 20)]
    top_k: usize,
    #[arg(long, default_value_t = 10)]
    quantile_bins: usize,
    #[arg(long, default_value_t = 5)]
    per_bin: usize,
    /// Stop after this many tokens.
    #[arg(long)]
    max_tokens: Option<u64>,
    /// Contexts per forward pass.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Count special tokens too.
    #[arg(long)]
    include_special: bool,
    /// Process the slice i of n of the corpus (documents with id % n == i).
    #[arg(long)]
    shard: Option<String>,
    /// Replace a different store already in the output folder.
    #[arg(long)]
    force: bool,
    /// Continue an interrupted run from its last checkpoint in the output folder.
    #[arg(long)]
    resume: bool,
    /// Documents between checkpoints.
    #[arg(long, default_value_t = 500)]
    checkpoint_every: u64,
    /// The store folder (one sub-folder per SAE when several are given).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct BenchCollectArgs {
    /// Model folder (ignored with --qwen05b).
    #[arg(long, default_value = "")]
    model: String,
    /// SAEs (ignored with --qwen05b).
    #[arg(long)]
    sae: Vec<String>,
    /// Use a Qwen2.5-0.5B-shaped random model (tokenizer from the test fixtures) and a random
    /// TopK SAE (16,384 latents, k 64) on blocks.12.hook_mlp_out: a realistic cost ratio.
    #[arg(long)]
    qwen05b: bool,
    #[arg(long, required = true)]
    corpus: Vec<PathBuf>,
    #[arg(long, default_value_t = 64)]
    context: usize,
    #[arg(long, default_value_t = 8)]
    batch: usize,
    #[arg(long)]
    max_tokens: Option<u64>,
}

#[derive(Args)]
struct LlmArgs {
    /// The SAE's feature store (made by `collect`).
    #[arg(long)]
    store: PathBuf,
    /// The neuron database to write (created when missing).
    #[arg(long)]
    db: PathBuf,
    /// Latents, e.g. `0-99` or `3,17,42` (default: every latent with examples).
    #[arg(long)]
    latents: Option<String>,
    /// At most this many latents.
    #[arg(long)]
    limit: Option<usize>,
    /// API base of an OpenAI-compatible server, e.g. http://localhost:8000/v1.
    #[arg(long, default_value = "http://localhost:8000/v1")]
    endpoint: String,
    /// Model name on that server. `baseline` needs no LLM or network: explain summarises the
    /// tokens a latent fires on; score predicts that units containing the explanation's quoted
    /// trigger words fire (a keyword simulator).
    #[arg(long)]
    llm: String,
    /// Environment variable holding the API key (none sent when unset).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    api_key_env: String,
    /// Examples shown to the explainer / simulated per latent.
    #[arg(long, default_value_t = 10)]
    examples: usize,
    /// explain: replace existing explanations.
    #[arg(long)]
    overwrite: bool,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// score: `segment` (Safe-SAIL), `token`, or `both` (segment score into the database, the
    /// token-level score beside it, and the simulator cost of each method compared).
    #[arg(long, default_value = "segment")]
    unit: String,
    /// score: skip latents whose current explanation already has a score from the same method,
    /// simulator and prompt version (an interrupted run goes on where it stopped). explain
    /// always skips explained latents unless --overwrite.
    #[arg(long)]
    resume: bool,
    /// score: held-out contexts where the latent does not fire, added per latent (found by
    /// running the store's model and SAE over other latents' examples; 0 = none).
    #[arg(long, default_value_t = 3)]
    non_activating: usize,
    /// score: the model for the non-activating contexts (default: the one the store names).
    #[arg(long)]
    model: Option<String>,
    /// score: the SAE for the non-activating contexts (default: the one the store names).
    #[arg(long)]
    sae: Option<String>,
}

#[derive(Args)]
struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    prompt: PromptArgs,
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    #[arg(long, default_value_t = 1.0)]
    top_p: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct BenchArgs {
    #[arg(long, default_value_t = 12)]
    layer: usize,
    #[arg(long, default_value_t = 8)]
    batch: usize,
    #[arg(long, default_value_t = 128)]
    seq: usize,
    #[arg(long, default_value_t = 16384)]
    width: usize,
    #[arg(long, default_value_t = 64)]
    k: usize,
    #[arg(long, default_value_t = 3)]
    iters: usize,
    /// Threads for the CPU kernels (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, default_value = "f32")]
    dtype: String,
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Also run tools/bench_torch.py with this Python in the same run and print the ratio.
    #[arg(long)]
    torch: Option<PathBuf>,
}

#[derive(Args)]
struct BenchTrainArgs {
    #[arg(long, default_value_t = 896)]
    d_in: usize,
    #[arg(long, default_value_t = 16384)]
    width: usize,
    #[arg(long, default_value_t = 64)]
    k: usize,
    #[arg(long, default_value_t = 4096)]
    batch_tokens: usize,
    /// Timed steps (after --warmup untimed ones), on each side.
    #[arg(long, default_value_t = 3)]
    steps: usize,
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Threads for the CPU kernels, and torch.set_num_threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Also run tools/bench_torch_train.py with this Python in the same run and print the ratio.
    #[arg(long)]
    torch: Option<PathBuf>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let result = match cli.command.unwrap_or(Command::Gui { workspace: None }) {
        Command::Gui { workspace } => gui(workspace),
        Command::Demo => demo(),
        Command::Capture(a) => capture(a),
        Command::Generate(a) => generate(a),
        Command::SaeInfo { sae } => sae_info(&sae),
        Command::Indices { file } => indices(&file),
        Command::Bench(a) => bench(a),
        Command::BenchTrain(a) => bench_train(a),
        Command::Db(c) => db_command(c),
        Command::Collect(a) => collect(a),
        Command::TrainSae(a) => train_sae(&a),
        Command::Explain(a) => explain_or_score(a, false),
        Command::Score(a) => explain_or_score(a, true),
        Command::Evaluate {
            model,
            sae,
            corpus,
            text_field,
            context,
            batch,
            tokens,
            concept_pairs,
            threshold,
            min_frequency,
            labeled_corpus,
            label_field,
            labeled_tokens,
            out,
        } => evaluate(
            &model,
            &sae,
            &corpus,
            &text_field,
            context,
            batch,
            tokens,
            &out,
            EvalExtras {
                concept_pairs,
                threshold,
                min_frequency,
                labeled_corpus,
                label_field,
                labeled_tokens,
            },
        ),
        Command::BenchStore {
            latents,
            top,
            quantile,
            context,
        } => {
            let dir =
                std::env::temp_dir().join(format!("safe-sail-bench-store-{}", std::process::id()));
            let r = safe_sail::bench::run_store_bench(&dir, latents, top, quantile, context);
            let _ = std::fs::remove_dir_all(&dir);
            r.map(|r| {
                println!(
                    "{}",
                    serde_json::json!({"latents": r.latents, "examples": r.examples, "write_s": r.write_s, "open_s": r.open_s, "fetch_one_latent_ms": r.fetch_ms})
                )
            })
        }
        Command::BenchCollect(a) => bench_collect(a),
        Command::MergeStores { inputs, out } => merge_stores(&inputs, &out),
        Command::MakeCorpus {
            out,
            docs,
            seed,
            pairs,
        } => make_corpus(&out, docs, seed, pairs),
        Command::TrainLm(a) => train_lm(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_model(a: &ModelArgs) -> Result<Model> {
    let device = parse_device(&a.device)?;
    let dtype = parse_dtype(&a.dtype)?;
    Model::load(&a.model, &device, dtype)
}

fn prompt_spec(p: &PromptArgs) -> Result<PromptSpec> {
    let text = match (&p.prompt, &p.prompt_file) {
        (Some(t), None) => t.clone(),
        (None, Some(f)) => {
            let bytes = std::fs::read(f)
                .with_context(|| format!("cannot read prompt file {}", f.display()))?;
            String::from_utf8(bytes).map_err(|e| {
                anyhow::anyhow!(
                    "prompt file {} is not valid UTF-8 (byte {})",
                    f.display(),
                    e.utf8_error().valid_up_to()
                )
            })?
        }
        _ => bail!("give the prompt with --prompt TEXT or --prompt-file FILE"),
    };
    Ok(PromptSpec {
        text,
        chat: p.chat,
        system: p.system.clone(),
        truncate: p.truncate,
    })
}

fn load_saes(specs: &[String], device: &Device) -> Result<Vec<Sae>> {
    specs
        .iter()
        .map(|s| load_sae(&s.parse::<SaeSpec>()?, device))
        .collect()
}

fn capture(a: CaptureArgs) -> Result<()> {
    let prompt = prompt_spec(&a.prompt)?;
    let hooks: Vec<HookPoint> = a.hook.iter().map(|h| h.parse()).collect::<Result<_>>()?;
    let model = load_model(&a.model)?;
    let saes = load_saes(&a.sae, model.net.device())?;
    let res = capture_prompt(&model, &prompt, &hooks, &saes, a.logits)?;
    write_capture(&a.out, &res, &hooks)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&capture_json(&res, &saes)?)?
        );
    }
    Ok(())
}

/// Writes `input_ids`, one tensor per requested hook, `sae.{i}.acts` and `logits`.
fn write_capture(out: &Path, res: &CaptureResult, hooks: &[HookPoint]) -> Result<()> {
    let ids: Vec<i64> = res.tokens.iter().map(|t| t.id as i64).collect();
    let n = ids.len();
    let mut map: HashMap<String, Tensor> = HashMap::new();
    map.insert("input_ids".into(), Tensor::from_vec(ids, n, &Device::Cpu)?);
    for h in hooks {
        map.insert(h.to_string(), res.hooks[h].clone());
    }
    for (i, a) in res.sae_acts.iter().enumerate() {
        map.insert(format!("sae.{i}.acts"), a.clone());
    }
    if let Some(l) = &res.logits {
        map.insert("logits".into(), l.clone());
    }
    safe_sail::tensor_util::save_safetensors_atomic(&map, out)
}

fn capture_json(res: &CaptureResult, saes: &[Sae]) -> Result<serde_json::Value> {
    let mut sae_out = vec![];
    for (s, acts) in saes.iter().zip(&res.sae_acts) {
        let rows = acts.to_vec2::<f32>()?;
        let top: Vec<Vec<serde_json::Value>> = rows
            .iter()
            .map(|r| {
                let mut nz: Vec<(usize, f32)> = r
                    .iter()
                    .copied()
                    .enumerate()
                    .filter(|(_, v)| *v > 0.0)
                    .collect();
                nz.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                nz.into_iter()
                    .take(5)
                    .map(|(i, v)| serde_json::json!({"latent": i, "act": v}))
                    .collect()
            })
            .collect();
        sae_out.push(serde_json::json!({
            "path": s.meta.path, "format": s.meta.format.name(), "hook": s.hook().to_string(),
            "d_sae": s.d_sae(), "activation": s.activation.describe(), "top": top,
        }));
    }
    Ok(serde_json::json!({ "tokens": res.tokens, "saes": sae_out }))
}

fn generate(a: GenerateArgs) -> Result<()> {
    let prompt = prompt_spec(&a.prompt)?;
    let model = load_model(&a.model)?;
    let tokens = model.tokenize_prompt(&prompt)?;
    let ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
    let opts = GenerateOpts {
        max_new_tokens: a.max_new_tokens,
        temperature: a.temperature,
        top_p: a.top_p,
        seed: a.seed,
        stop_ids: vec![],
    };
    // Bytes of a character split across tokens wait for the token that completes it.
    let mut pending: Vec<u8> = vec![];
    let mut stdout = std::io::stdout();
    model.generate(&ids, &opts, &mut NoHooks, |id| {
        let text = if model.tok.is_special(id) {
            let dangling = safe_sail::model::tokenizer::hex_bytes(&pending);
            pending.clear();
            dangling + &model.tok.token_display(id)
        } else {
            pending.extend(model.tok.token_bytes(id));
            let (text, rest) = safe_sail::model::tokenizer::split_utf8(&pending);
            pending = rest;
            text
        };
        let _ = write!(stdout, "{text}");
        let _ = stdout.flush();
        Flow::Continue
    })?;
    println!("{}", safe_sail::model::tokenizer::hex_bytes(&pending));
    Ok(())
}

fn sae_info(spec: &str) -> Result<()> {
    let sae = load_sae(&spec.parse()?, &Device::Cpu)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "meta": sae.meta,
            "activation": sae.activation.describe(),
            "has_decoder": sae.w_dec.is_some(),
            "subtracts_input_bias": sae.input_bias.is_some(),
            "input_scale": sae.input_scale,
        }))?
    );
    Ok(())
}

fn indices(file: &Path) -> Result<()> {
    let idx = safe_sail::sae::read_index_file(file)?;
    let unique: std::collections::BTreeSet<i64> = idx.iter().copied().collect();
    println!(
        "{}",
        serde_json::json!({
            "file": file, "count": idx.len(), "unique": unique.len(),
            "min": unique.first(), "max": unique.last(),
            "first": idx.iter().take(10).collect::<Vec<_>>(),
        })
    );
    Ok(())
}

/// What a collect run was started with (`collect-run.json`), so a resume or a merge of its
/// shards rebuilds the same model, SAEs and settings.
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug, Clone)]
struct CollectRun {
    model: String,
    dtype: String,
    device: String,
    saes: Vec<String>,
    corpus: Vec<PathBuf>,
    text_field: String,
    messages_field: Option<String>,
    chat: bool,
    context: usize,
    top_k: usize,
    quantile_bins: usize,
    per_bin: usize,
    max_tokens: Option<u64>,
    batch: usize,
    include_special: bool,
    shard: Option<(u64, u64)>,
}

impl CollectRun {
    fn config(&self) -> safe_sail::store::collect::CollectConfig {
        safe_sail::store::collect::CollectConfig {
            context: self.context,
            top_k: self.top_k,
            quantile_bins: self.quantile_bins,
            per_bin: self.per_bin,
            max_tokens: self.max_tokens,
            batch: self.batch.max(1),
            chat: self.chat,
            include_special: self.include_special,
            shard: self.shard,
            ..Default::default()
        }
    }

    fn corpus(&self) -> safe_sail::store::corpus::CorpusSpec {
        safe_sail::store::corpus::CorpusSpec {
            files: self.corpus.clone(),
            text_field: self.text_field.clone(),
            messages_field: self.messages_field.clone(),
        }
    }

    fn store_dirs(&self, out: &Path, saes: &[Sae]) -> Vec<PathBuf> {
        if saes.len() == 1 {
            vec![out.to_path_buf()]
        } else {
            saes.iter()
                .enumerate()
                .map(|(i, s)| out.join(format!("{i}-{}", s.hook())))
                .collect()
        }
    }
}

const RUN_FILE: &str = "collect-run.json";
const STATE_FILE: &str = "collect-state.bin";
const CHECKPOINT_FILE: &str = ".collect-checkpoint.bin";

/// Writes the stores of a finished state, and the state itself (for `merge-stores`).
fn write_stores(
    run: &CollectRun,
    out: &Path,
    model: &Model,
    saes: &[Sae],
    state: safe_sail::store::collect::CollectState,
) -> Result<()> {
    use safe_sail::store::collect::{finish_state, meta};
    let cfg = run.config();
    let corpus = run.corpus();
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    state.save(&out.join(STATE_FILE))?;
    safe_sail::fsutil::write_atomic(
        &out.join(RUN_FILE),
        serde_json::to_string_pretty(run)?.as_bytes(),
    )?;
    let report = state.corpus_report();
    let contexts = state.contexts;
    let results = finish_state(model, saes, &cfg, state)?;
    for ((r, s), d) in results.iter().zip(saes).zip(run.store_dirs(out, saes)) {
        let m = meta(&run.model, s, &corpus, &cfg, &report, contexts, r.tokens);
        safe_sail::store::Store::write(&d, &m, &r.features, &r.examples)?;
        println!(
            "{}: {} latents, {} examples, {} tokens → {}",
            s.hook(),
            r.features.len(),
            r.examples.len(),
            r.tokens,
            d.display()
        );
    }
    Ok(())
}

fn collect(a: CollectArgs) -> Result<()> {
    use safe_sail::store::collect::{collect_state, fingerprint, Checkpointing, CollectState};
    let shard = match &a.shard {
        None => None,
        Some(s) => {
            let (i, n) = s
                .split_once('/')
                .with_context(|| format!("--shard `{s}`: expected i/n"))?;
            let (i, n): (u64, u64) = (
                i.parse().context("--shard: i")?,
                n.parse().context("--shard: n")?,
            );
            if n == 0 || i >= n {
                bail!("--shard {s}: need 0 <= i < n");
            }
            Some((i, n))
        }
    };
    for f in &a.corpus {
        if !f.exists() {
            bail!("corpus file {} does not exist", f.display());
        }
    }
    let run = CollectRun {
        model: a.model.model.clone(),
        dtype: a.model.dtype.clone(),
        device: a.model.device.clone(),
        saes: a.sae.clone(),
        corpus: a.corpus.clone(),
        text_field: a.text_field.clone(),
        messages_field: a.messages_field.clone(),
        chat: a.chat,
        context: a.context,
        top_k: a.top_k,
        quantile_bins: a.quantile_bins,
        per_bin: a.per_bin,
        max_tokens: a.max_tokens,
        batch: a.batch.max(1),
        include_special: a.include_special,
        shard,
    };
    let model = load_model(&a.model)?;
    let saes = load_saes(&a.sae, model.net.device())?;
    let ckpt = a.out.join(CHECKPOINT_FILE);
    let resume = if a.resume && ckpt.exists() {
        let old: CollectRun = serde_json::from_str(
            &std::fs::read_to_string(a.out.join(RUN_FILE)).unwrap_or_default(),
        )
        .context("--resume: the folder has a checkpoint but no collect-run.json")?;
        if old != run {
            bail!("--resume: {} was started with other arguments ({:?}); rerun with those or without --resume", a.out.display(), old);
        }
        Some(CollectState::load(&ckpt)?)
    } else {
        if a.resume {
            eprintln!(
                "no checkpoint in {}: starting from the beginning",
                a.out.display()
            );
        }
        for (d, s) in run.store_dirs(&a.out, &saes).iter().zip(&saes) {
            let meta_path = d.join("store.json");
            if meta_path.exists() && !a.force {
                let old: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&meta_path)?).unwrap_or_default();
                if old["sae"] != s.meta.path.display().to_string()
                    || old["hook"] != s.hook().to_string()
                    || old["model"] != a.model.model
                {
                    bail!("{} already holds a store of another model or SAE: choose another --out or pass --force", d.display());
                }
            }
        }
        None
    };
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    safe_sail::fsutil::write_atomic(
        &a.out.join(RUN_FILE),
        serde_json::to_string_pretty(&run)?.as_bytes(),
    )?;
    let cfg = run.config();
    let corpus = run.corpus();
    let bar = indicatif::ProgressBar::new(a.max_tokens.unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {pos} tokens · {per_sec:0} · {elapsed_precise} {wide_bar} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let fp = fingerprint(&run.model, &saes, &corpus, &cfg);
    let state = collect_state(
        &model,
        &saes,
        &corpus,
        &cfg,
        fp,
        resume,
        Some(Checkpointing {
            path: &ckpt,
            every_docs: a.checkpoint_every.max(1),
        }),
        &mut |n| bar.set_position(n),
    )?;
    bar.finish_and_clear();
    write_stores(&run, &a.out, &model, &saes, state)?;
    let _ = std::fs::remove_file(&ckpt);
    Ok(())
}

fn bench_collect(a: BenchCollectArgs) -> Result<()> {
    use safe_sail::store::collect::{collect, CollectConfig};
    use safe_sail::store::corpus::{CorpusSpec, DocBody};
    let (model, saes) = if a.qwen05b {
        let tok = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer");
        let m = safe_sail::bench::random_qwen25_05b(&tok, DType::F32, &Device::Cpu)?;
        let hook = HookPoint::new(12, safe_sail::hooks::HookSite::MlpOut);
        let s =
            safe_sail::bench::random_topk_sae(m.cfg.hidden_size, 16384, 64, hook, &Device::Cpu)?;
        (m, vec![s])
    } else {
        let m = load_model(&ModelArgs {
            model: a.model.clone(),
            dtype: "f32".into(),
            device: "cpu".into(),
        })?;
        let s = load_saes(&a.sae, m.net.device())?;
        (m, s)
    };
    if saes.is_empty() {
        bail!("give --sae (or --qwen05b)");
    }
    let corpus = CorpusSpec {
        files: a.corpus.clone(),
        text_field: "text".into(),
        messages_field: None,
    };
    // The same reading, tokenization, contexts, batches and padding as collect, through
    // forward + encode only: the difference is collect's bookkeeping.
    let t0 = std::time::Instant::now();
    let mut contexts: Vec<Vec<u32>> = vec![];
    corpus.for_each(|d| {
        if let DocBody::Text(t) = d.body {
            let ids = model.tok.encode_ids(&t, true)?;
            contexts.extend(ids.chunks(a.context).map(<[u32]>::to_vec));
        }
        Ok(())
    })?;
    if let Some(m) = a.max_tokens {
        // Collect stops after the batch that reaches max_tokens: keep the same contexts.
        let b = a.batch.max(1);
        let mut n = 0u64;
        let mut keep = 0;
        for chunk in contexts.chunks(b) {
            if n >= m {
                break;
            }
            n += chunk.iter().map(|c| c.len() as u64).sum::<u64>();
            keep += chunk.len();
        }
        contexts.truncate(keep);
    }
    for batch in contexts.chunks(a.batch.max(1)) {
        let mut cap = safe_sail::capture::Capture::new(saes.iter().map(Sae::hook));
        let last = cap.deepest_layer().unwrap_or(0);
        model.run_batch(
            batch,
            0,
            &mut cap,
            safe_sail::model::ForwardOpts {
                stop_after_layer: Some(last),
            },
        )?;
        for s in &saes {
            let x = &cap.acts[&s.hook()];
            let (b, t, d) = x.dims3()?;
            let _ = s.encode(&x.reshape((b * t, d))?)?.to_vec2::<f32>()?;
        }
    }
    let bare = t0.elapsed().as_secs_f64();
    let cfg = CollectConfig {
        context: a.context,
        batch: a.batch.max(1),
        max_tokens: a.max_tokens,
        logit_tokens: 0,
        ..Default::default()
    };
    let t1 = std::time::Instant::now();
    let (res, _, _) = collect(&model, &saes, &corpus, &cfg, &mut |_| {})?;
    let full = t1.elapsed().as_secs_f64();
    let tokens = res.first().map_or(0, |r| r.tokens);
    println!(
        "{}",
        serde_json::json!({"tokens": tokens, "forward_encode_s": bare, "collect_s": full, "overhead": full / bare - 1.0})
    );
    Ok(())
}

/// The Safe-SAIL metrics' inputs of `evaluate`.
struct EvalExtras {
    concept_pairs: Option<PathBuf>,
    threshold: f64,
    min_frequency: f64,
    labeled_corpus: Option<PathBuf>,
    label_field: String,
    labeled_tokens: Option<u64>,
}

#[allow(clippy::too_many_arguments)]
fn evaluate(
    m: &ModelArgs,
    sae: &[String],
    corpus: &[PathBuf],
    text_field: &str,
    context: usize,
    batch: usize,
    tokens: u64,
    out: &Path,
    extras: EvalExtras,
) -> Result<()> {
    use polars::prelude::*;
    use safe_sail::domains::SAFETY_DOMAINS;
    use safe_sail::eval::concepts::{concept_metrics, read_pairs, specificity};
    for f in corpus {
        if !f.exists() {
            bail!("corpus file {} does not exist", f.display());
        }
    }
    let model = load_model(m)?;
    let saes = load_saes(sae, model.net.device())?;
    let spec = safe_sail::store::corpus::CorpusSpec {
        files: corpus.to_vec(),
        text_field: text_field.into(),
        messages_field: None,
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} evaluating {pos}/{len} tokens · {per_sec:0} · {wide_bar} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let rows = safe_sail::eval::fidelity::evaluate(
        &model,
        &saes,
        &spec,
        context,
        batch,
        tokens,
        &mut |d, t| {
            bar.set_length(t);
            bar.set_position(d);
        },
    )?;
    bar.finish_and_clear();
    let concept = match &extras.concept_pairs {
        Some(p) => Some(concept_metrics(
            &model,
            &saes,
            &read_pairs(p)?,
            extras.threshold,
            extras.min_frequency,
        )?),
        None => None,
    };
    let spec_counts = match &extras.labeled_corpus {
        Some(p) => Some(specificity(
            &model,
            &saes,
            p,
            &extras.label_field,
            text_field,
            context,
            extras.labeled_tokens.unwrap_or(tokens),
            20,
        )?),
        None => None,
    };
    // Per row, the per-domain columns (null when not computed).
    let extra_cols: Vec<Vec<(String, Option<f64>)>> = (0..rows.len())
        .map(|i| {
            let mut v = vec![];
            for (d, name) in SAFETY_DOMAINS.iter().enumerate() {
                v.push((
                    format!("l0t_{name}"),
                    concept.as_ref().map(|c| c[i].0[d]).filter(|x| !x.is_nan()),
                ));
                v.push((
                    format!("icdf_{name}"),
                    concept.as_ref().map(|c| c[i].1[d]).filter(|x| !x.is_nan()),
                ));
                v.push((
                    format!("specific_{name}"),
                    spec_counts.as_ref().map(|c| c[i][d].len() as f64),
                ));
            }
            v
        })
        .collect();
    let json_rows: Vec<serde_json::Value> = rows
        .iter()
        .zip(&extra_cols)
        .map(|(r, extra)| {
            let mut v = serde_json::to_value(r).expect("rows serialize");
            for (k, x) in extra {
                v[k.as_str()] = x.map_or(serde_json::Value::Null, |x| serde_json::json!(x));
            }
            v
        })
        .collect();
    // Which latents are specific, per candidate and domain (annotators start from these).
    let json_rows: Vec<serde_json::Value> = json_rows
        .into_iter()
        .enumerate()
        .map(|(i, mut v)| {
            if let Some(c) = &spec_counts {
                v["specific_latents"] = SAFETY_DOMAINS
                    .iter()
                    .zip(&c[i])
                    .map(|(d, l)| (d.to_string(), serde_json::json!(l)))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
            v
        })
        .collect();
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let json = serde_json::json!({
        "model": m.model, "corpus": corpus, "context": context, "rows": json_rows,
        "concept_pairs": extras.concept_pairs, "threshold": extras.threshold, "min_frequency": extras.min_frequency,
        "labeled_corpus": extras.labeled_corpus, "label_field": extras.label_field,
        "labeled_tokens": extras.labeled_tokens.unwrap_or(tokens),
        "directions": safe_sail::eval::fidelity::directions(),
        "definitions": {
            "l0": "mean over tokens of the number of latents > 0",
            "dead_fraction": "latents never > 0 over the evaluated tokens",
            "dense_fraction": "latents > 0 on more than 10% of the evaluated tokens",
            "explained_variance": "1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 (the conventional definition)",
            "nmse": "sum ||x - x_hat||^2 / sum ||x||^2",
            "ce": "mean next-token cross-entropy in nats over the real tokens of each context",
            "ce_loss_recovered": "(ce_zero - ce_sae) / (ce_zero - ce_clean)",
            "delta_loss": "ce_sae - ce_clean",
            "l0t_<domain>": "latents l with freq_l(t) >= min_frequency, where freq_l(t) is the share of the domain's concept pairs with (a_concept - a_deconcept) / s_l > t (a = the latent's largest activation over a prompt's non-special tokens, s_l = its largest over all prompts)",
            "icdf_<domain>": "mean over latents of the integral over t in [0, 1] of freq_l(t) = mean over latents and pairs of clamp(delta, 0, 1)",
            "specific_<domain>": "latents with at least 10 active contexts among their top 20 in the labeled corpus, >= 80% of which carry the domain's label",
        },
    });
    safe_sail::fsutil::write_atomic(
        &out.join("evaluation.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    let f64s = |g: fn(&safe_sail::eval::fidelity::FidelityRow) -> f64| {
        rows.iter().map(g).collect::<Vec<f64>>()
    };
    let mut cols = vec![
        Series::new(
            "sae".into(),
            rows.iter().map(|r| r.sae.as_str()).collect::<Vec<_>>(),
        )
        .into_column(),
        Series::new(
            "hook".into(),
            rows.iter().map(|r| r.hook.as_str()).collect::<Vec<_>>(),
        )
        .into_column(),
        Series::new(
            "d_sae".into(),
            rows.iter().map(|r| r.d_sae as u64).collect::<Vec<_>>(),
        )
        .into_column(),
        Series::new(
            "architecture".into(),
            rows.iter()
                .map(|r| r.architecture.as_str())
                .collect::<Vec<_>>(),
        )
        .into_column(),
        Series::new(
            "k".into(),
            rows.iter()
                .map(|r| r.k.map(|k| k as u64))
                .collect::<Vec<_>>(),
        )
        .into_column(),
        Series::new("l0".into(), f64s(|r| r.l0)).into_column(),
        Series::new("dead_fraction".into(), f64s(|r| r.dead_fraction)).into_column(),
        Series::new("dense_fraction".into(), f64s(|r| r.dense_fraction)).into_column(),
        Series::new("explained_variance".into(), f64s(|r| r.explained_variance)).into_column(),
        Series::new("nmse".into(), f64s(|r| r.nmse)).into_column(),
        Series::new("ce_clean".into(), f64s(|r| r.ce_clean)).into_column(),
        Series::new("ce_sae".into(), f64s(|r| r.ce_sae)).into_column(),
        Series::new("ce_zero".into(), f64s(|r| r.ce_zero)).into_column(),
        Series::new("ce_loss_recovered".into(), f64s(|r| r.ce_loss_recovered)).into_column(),
        Series::new("delta_loss".into(), f64s(|r| r.delta_loss)).into_column(),
    ];
    for (j, (name, _)) in extra_cols
        .first()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let vals: Vec<Option<f64>> = extra_cols.iter().map(|r| r[j].1).collect();
        cols.push(Series::new(name.as_str().into(), vals).into_column());
    }
    let mut df = DataFrame::new_infer_height(cols)?;
    safe_sail::fsutil::write_atomic_with(&out.join("evaluation.parquet"), |f| {
        ParquetWriter::new(f).finish(&mut df)?;
        Ok(())
    })?;
    for r in &rows {
        println!(
            "{} {}: L0 {:.1}, dead {:.1}%, EV {:.3}, CE clean {:.3} / SAE {:.3} / zero {:.3}, recovered {:.3}",
            r.hook, r.architecture, r.l0, r.dead_fraction * 100.0, r.explained_variance, r.ce_clean, r.ce_sae, r.ce_zero, r.ce_loss_recovered
        );
    }
    Ok(())
}

fn parse_latents(spec: Option<&str>, store: &safe_sail::store::Store) -> Result<Vec<u32>> {
    let Some(spec) = spec else {
        return Ok(store
            .features
            .iter()
            .filter(|f| f.count > 0)
            .map(|f| f.latent)
            .collect());
    };
    let mut out = vec![];
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (
                    a.parse().context("--latents")?,
                    b.parse().context("--latents")?,
                );
                out.extend(a..=b);
            }
            None => out.push(
                part.parse()
                    .with_context(|| format!("--latents: `{part}` is not a number"))?,
            ),
        }
    }
    Ok(out)
}

/// The non-activating pool for `score`: the store's model and SAE (or --model / --sae) over up
/// to 256 example contexts of the store's latents.
fn non_activating_pool(
    a: &LlmArgs,
    store: &safe_sail::store::Store,
) -> Result<safe_sail::explain::NonActivatingPool> {
    let model = Model::load(
        a.model.as_deref().unwrap_or(&store.meta.model),
        &Device::Cpu,
        DType::F32,
    )?;
    let sae = load_sae(
        &a.sae.as_deref().unwrap_or(&store.meta.sae).parse()?,
        &Device::Cpu,
    )?;
    // Every few latents' strongest example, spread over the SAE.
    let mut rows = vec![];
    let step = (store.features.len() / 256).max(1);
    for f in store.features.iter().step_by(step) {
        rows.extend(store.examples(f.latent).iter().take(1).cloned());
    }
    safe_sail::explain::NonActivatingPool::build(&model, &sae, &rows, 256)
}

fn explain_or_score(a: LlmArgs, score: bool) -> Result<()> {
    use safe_sail::db::editable::{append_history, Edit, EditableDb};
    use safe_sail::explain::{
        explain_messages, parse_explanation, pearson, simulate, LlmClient, Unit,
    };
    let store = safe_sail::store::Store::open(&a.store)?;
    let layer: HookPoint = store.meta.hook.parse()?;
    // The first unit's score goes into the database.
    let units = match a.unit.as_str() {
        "segment" => vec![Unit::Segment],
        "token" => vec![Unit::Token],
        "both" => vec![Unit::Segment, Unit::Token],
        other => bail!("--unit `{other}`: segment, token or both"),
    };
    let method = |u: Unit| match u {
        Unit::Segment => "segment-simulation",
        Unit::Token => "token-simulation",
    };
    let spent = std::sync::Mutex::new(vec![safe_sail::explain::Usage::default(); units.len()]);
    let simulator_name = if a.llm == "baseline" {
        "baseline (keyword simulator, no LLM)"
    } else {
        a.llm.as_str()
    };
    let cache_dir = a.db.with_extension("llm-cache");
    let client = LlmClient::new(
        &a.endpoint,
        &a.llm,
        std::env::var(&a.api_key_env).ok().filter(|k| !k.is_empty()),
    )
    .with_cache(&cache_dir);
    let today = {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("unix:{secs}")
    };
    let mut db = if a.db.exists() {
        EditableDb::load(&a.db)?
    } else {
        EditableDb::default()
    };
    let who = format!(
        "{}:{}",
        if score { "simulator" } else { "explainer" },
        a.llm
    );
    let mut latents = parse_latents(a.latents.as_deref(), &store)?;
    if let Some(n) = a.limit {
        latents.truncate(n);
    }
    let (mut done, mut skipped, mut failed) = (0usize, 0usize, 0usize);
    // Plan: which latents to work on (and, to score, with which explanation).
    let mut tasks: Vec<(u32, String, Option<String>)> = vec![];
    for l in &latents {
        let id = safe_sail::db::neuron_id(layer.layer, *l);
        if store.feature(*l).is_none() || store.examples(*l).is_empty() {
            skipped += 1;
            continue;
        }
        if score {
            match db
                .record(&id)
                .and_then(|r| r.explanation)
                .filter(|e| !e.trim().is_empty() && e != "***")
            {
                Some(e) => {
                    let src = db
                        .entries
                        .get(&id)
                        .map(|v| &v["score_source"])
                        .filter(|v| v.is_object());
                    let done = src.is_some_and(|s| {
                        s["explanation"] == e.as_str()
                            && s["method"] == method(units[0])
                            && s["simulator"] == simulator_name
                            && s["prompt_version"] == safe_sail::explain::PROMPT_VERSION
                    });
                    if a.resume && done {
                        skipped += 1;
                    } else {
                        tasks.push((*l, id, Some(e)));
                    }
                }
                None => skipped += 1,
            }
        } else {
            // A person's verified explanation is never replaced, even with --overwrite.
            let verified = db.status(&id) == safe_sail::db::editable::ReviewStatus::Verified;
            let has = db
                .record(&id)
                .and_then(|r| r.explanation)
                .is_some_and(|e| !e.trim().is_empty());
            if verified || (!a.overwrite && has) {
                skipped += 1;
            } else {
                tasks.push((*l, id, None));
            }
        }
    }
    // Contexts where a latent does not fire, for the held-out mix.
    let pool = if score && a.non_activating > 0 && !tasks.is_empty() {
        match non_activating_pool(&a, &store) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("note: no non-activating held-out examples ({e:#}); give --model / --sae to add them");
                None
            }
        }
    } else {
        None
    };
    let work = |l: u32, id: &str, expl: Option<&str>| -> Result<Edit> {
        let f = store.feature(l).context("no statistics")?;
        let ex = store.examples(l);
        if let Some(expl) = expl {
            let zeros = pool
                .as_ref()
                .map(|p| p.pick(l, a.non_activating))
                .unwrap_or_default();
            let (held, mix) = safe_sail::explain::held_out_examples(&ex, a.examples, zeros);
            // Every method simulates the same examples; the costs count only latents that every
            // method simulated completely, so they compare.
            let mut runs = vec![];
            for &unit in &units {
                let (mut truth, mut pred) = (vec![], vec![]);
                let mut used = safe_sail::explain::Usage::default();
                let mut errors = vec![];
                for e in &held {
                    let sim = if a.llm == "baseline" {
                        safe_sail::explain::keyword_simulate(expl, e, f.max_act, unit)
                    } else {
                        simulate(&client, expl, e, f.max_act, unit)
                    };
                    match sim {
                        Ok((t, p, u)) => {
                            truth.extend(t);
                            pred.extend(p);
                            used += u;
                        }
                        Err(err) => errors.push(format!("{err:#}")),
                    }
                }
                // An example whose simulation failed leaves the score undefined, not partial.
                if let Some(err) = errors.first() {
                    bail!("no score for {id}: {err}");
                }
                runs.push((unit, truth, pred, used));
            }
            {
                let mut spent = spent.lock().expect("no panics while held");
                for (i, run) in runs.iter().enumerate() {
                    spent[i] += run.3;
                }
            }
            let mut scores = vec![];
            for (unit, truth, pred, _) in &runs {
                match pearson(truth, pred) {
                    Some(r) => scores.push((*unit, r, truth.len())),
                    None => bail!("no score for {id}: constant truth or prediction"),
                }
            }
            let (unit, r, n_units) = scores[0];
            let mut source = serde_json::json!({
                "method": method(unit),
                "simulator": simulator_name,
                "explanation": expl,
                "prompt_version": safe_sail::explain::PROMPT_VERSION, "units": n_units,
                "held_out": mix, "date": today,
            });
            for (u, r, n) in &scores[1..] {
                source[format!("{}_score", method(*u).replace('-', "_"))] = (*r).into();
                source[format!("{}_units", method(*u).replace('-', "_"))] = (*n).into();
            }
            Ok(Edit {
                score: Some(r),
                score_source: Some(source),
                ..Default::default()
            })
        } else {
            let reply = if a.llm == "baseline" {
                safe_sail::explain::baseline_explanation(&safe_sail::explain::explainer_examples(
                    &ex, a.examples,
                ))
                .map(|e| serde_json::json!({"explanation": e, "tags": []}).to_string())
                .ok_or_else(|| anyhow::anyhow!("no active tokens in the top examples"))
            } else {
                let shown = safe_sail::explain::explainer_examples(&ex, a.examples);
                client.chat(&explain_messages(&shown, f.max_act, shown.len()))
            };
            reply
                .and_then(|reply| parse_explanation(&reply))
                .map(|(e, tags)| Edit {
                    explanation: Some(Some(e)),
                    tags: Some(tags),
                    explanation_source: Some(serde_json::json!({
                        "explainer": a.llm, "prompt_version": safe_sail::explain::PROMPT_VERSION,
                        "examples": a.examples, "date": today,
                    })),
                    ..Default::default()
                })
        }
    };
    let bar = indicatif::ProgressBar::new(tasks.len() as u64);
    // `--concurrency` workers call the server; this thread writes the database.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<(String, Result<Edit>)>();
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..a.concurrency.max(1) {
            let tx = tx.clone();
            let (next, tasks, work) = (&next, &tasks, &work);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((l, id, expl)) = tasks.get(i) else {
                    break;
                };
                if tx
                    .send((id.clone(), work(*l, id, expl.as_deref())))
                    .is_err()
                {
                    break;
                }
            });
        }
        drop(tx);
        for (id, result) in rx {
            bar.inc(1);
            match result {
                Ok(edit) => {
                    let changes = db.apply(&id, &edit, &who)?;
                    append_history(&a.db, &changes)?;
                    done += 1;
                    if done % 20 == 0 {
                        db.save(&a.db)?;
                    }
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("{id}: {e:#}");
                }
            }
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    db.save(&a.db)?;
    let (pt, ct) = (
        client
            .prompt_tokens
            .load(std::sync::atomic::Ordering::Relaxed),
        client
            .completion_tokens
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    if score {
        let spent = spent.into_inner().expect("no panics while held");
        for (u, used) in units.iter().zip(&spent) {
            let (n, what) = used.cost();
            println!("simulator cost, {}: {n} {what}", method(*u));
        }
        if let [seg, tok] = spent.as_slice() {
            let (s, what) = seg.cost();
            let (t, _) = if what == "tokens" {
                tok.cost()
            } else {
                (tok.chars, "characters")
            };
            if t > 0 {
                let saving = 100.0 * (1.0 - s as f64 / t as f64);
                println!(
                    "segment-level simulation used {:.0}% {} {what} than token-level ({s} vs {t}; the Safe-SAIL paper reports 55% fewer)",
                    saving.abs(),
                    if saving >= 0.0 { "fewer" } else { "more" }
                );
            }
        }
    }
    println!(
        "{} {done} latents, skipped {skipped}, failed {failed} (no score / explanation written for failures) → {}\n\
         tokens: {pt} prompt + {ct} completion ({} replies from the cache in {})",
        if score { "scored" } else { "explained" },
        a.db.display(),
        client.cached.load(std::sync::atomic::Ordering::Relaxed),
        cache_dir.display()
    );
    Ok(())
}

/// The series a candidate's training.json records (and its checkpoint carries).
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
struct TrainHistory {
    /// The training objective of every step.
    loss_curve: Vec<f32>,
    /// Every `--log-every` steps (and the last): the step, tokens seen and its metrics.
    step: Vec<usize>,
    tokens_seen: Vec<u64>,
    loss: Vec<f32>,
    mse: Vec<f32>,
    l0: Vec<f32>,
    dead_fraction: Vec<f32>,
    explained_variance: Vec<f32>,
    wall_seconds: Vec<f64>,
}

/// One SAE of the sweep.
struct Candidate {
    hook: usize,
    width: usize,
    arch: safe_sail::sae::train::Arch,
    trainer: Option<safe_sail::sae::train::SaeTrainer>,
    history: TrainHistory,
    last: safe_sail::sae::train::StepStats,
}

/// What a train-sae checkpoint records besides tensors (as safetensors metadata `state`).
#[derive(serde::Serialize, serde::Deserialize)]
struct TrainCheckpoint {
    args: serde_json::Value,
    step: usize,
    /// The next batch of (shuffled) contexts to run through the model.
    next_context: usize,
    wall_seconds: f64,
    trainers: Vec<CheckpointTrainer>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CheckpointTrainer {
    label: String,
    /// JumpReLU bandwidth / initial threshold as f64 bits (exact through JSON).
    bandwidth_bits: Option<u64>,
    init_threshold_bits: Option<u64>,
    since_fired: Vec<u64>,
    history: TrainHistory,
}

const TRAIN_CHECKPOINT: &str = "checkpoint/checkpoint.safetensors";

fn train_sae(a: &TrainSaeArgs) -> Result<()> {
    use safe_sail::sae::train::{save_saelens, Arch, SaeTrainer, TopKKernel, TrainConfig};
    fn list<T: std::str::FromStr>(s: &str, what: &str) -> Result<Vec<T>> {
        s.split(',')
            .map(|x| {
                x.trim()
                    .parse::<T>()
                    .map_err(|_| anyhow::anyhow!("--{what}: `{x}` is not a number"))
            })
            .collect()
    }
    let save_dtype = match a.save_dtype.as_str() {
        "f32" => DType::F32,
        "f16" => DType::F16,
        "bf16" => DType::BF16,
        other => bail!("--save-dtype `{other}`: f32, f16 or bf16"),
    };
    let hooks: Vec<HookPoint> = a
        .hook
        .split(',')
        .map(|h| h.trim().parse())
        .collect::<Result<_>>()?;
    let widths: Vec<usize> = list(&a.widths, "widths")?;
    let mut archs = vec![];
    for name in a
        .activation
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
    {
        match name.as_str() {
            "topk" => archs.extend(list(&a.k, "k")?.into_iter().map(|k| Arch::TopK { k })),
            "relu" => archs.extend(list(&a.l1, "l1")?.into_iter().map(|l1| Arch::Relu { l1 })),
            "jumprelu" => archs.extend(
                list(&a.l0_coeff, "l0-coeff")?
                    .into_iter()
                    .map(|l0_coeff| Arch::JumpRelu { l0_coeff }),
            ),
            other => bail!("--activation: unknown architecture `{other}` (topk, relu, jumprelu)"),
        }
    }
    let kernel = match a.topk_kernel.as_str() {
        "sparse" => TopKKernel::Sparse,
        "dense" => TopKKernel::Dense,
        other => bail!("--topk-kernel `{other}`: sparse or dense"),
    };
    if a.batch_tokens == 0 || a.log_every == 0 || a.checkpoint_every == Some(0) {
        bail!("--batch-tokens, --log-every and --checkpoint-every must be at least 1");
    }
    for f in &a.corpus {
        if !f.exists() {
            bail!("corpus file {} does not exist", f.display());
        }
    }
    // Everything that shapes the weights: a resumed run must match it.
    let run_args = serde_json::json!({
        "model": a.model.model, "dtype": a.model.dtype, "device": a.model.device,
        "corpus": a.corpus.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "hook": a.hook, "widths": a.widths, "activation": a.activation, "k": a.k, "l1": a.l1,
        "l0_coeff": a.l0_coeff, "tokens": a.tokens, "batch_tokens": a.batch_tokens,
        "lr": a.lr.to_string(), "warmup_steps": a.warmup_steps, "dead_tokens": a.dead_tokens,
        "context": a.context, "seed": a.seed, "log_every": a.log_every,
        "topk_kernel": a.topk_kernel,
    });
    let ckpt_path = a.out.join(TRAIN_CHECKPOINT);
    if ckpt_path.exists() && !a.resume {
        bail!(
            "{} holds a checkpoint of an interrupted run: pass --resume to go on, or delete it",
            ckpt_path.display()
        );
    }
    let model = load_model(&a.model)?;
    let dims: Vec<usize> = hooks
        .iter()
        .map(|h| model.hook_width(*h))
        .collect::<Result<_>>()?;
    let device = model.net.device().clone();
    // The contexts, shuffled by seed so that steps mix documents.
    let spec = safe_sail::store::corpus::CorpusSpec {
        files: a.corpus.to_vec(),
        text_field: "text".into(),
        messages_field: None,
    };
    let mut contexts: Vec<Vec<u32>> = vec![];
    let mut n = 0u64;
    spec.for_each(|d| {
        if n >= a.tokens {
            return Ok(());
        }
        if let safe_sail::store::corpus::DocBody::Text(t) = d.body {
            for c in model.tok.encode_ids(&t, true)?.chunks(a.context) {
                n += c.len() as u64;
                contexts.push(c.to_vec());
            }
        }
        Ok(())
    })?;
    if contexts.is_empty() {
        bail!("the corpus holds no usable document");
    }
    let mut state = a.seed ^ 0x5851f42d4c957f2d;
    for i in (1..contexts.len()).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        contexts.swap(i, (state >> 33) as usize % (i + 1));
    }
    // Every token goes through the buffers, so the number of steps is known in advance.
    let total_steps = (n / a.batch_tokens as u64) as usize;
    if total_steps == 0 {
        bail!(
            "not enough tokens ({n}) for one step of {} tokens",
            a.batch_tokens
        );
    }
    let warmup = a.warmup_steps.unwrap_or((total_steps / 20).max(1));
    let dead_tokens = a
        .dead_tokens
        .unwrap_or((n / 10).min(10_000_000).max(a.batch_tokens as u64));
    let config = |hi: usize, width: usize, arch: Arch| TrainConfig {
        lr: a.lr,
        warmup_steps: warmup,
        total_steps,
        seed: a.seed,
        dead_tokens,
        kernel,
        ..TrainConfig::new(dims[hi], width, arch)
    };
    let mut cands: Vec<Candidate> = vec![];
    for hi in 0..hooks.len() {
        for &arch in &archs {
            for &width in &widths {
                cands.push(Candidate {
                    hook: hi,
                    width,
                    arch,
                    trainer: None,
                    history: TrainHistory::default(),
                    last: Default::default(),
                });
            }
        }
    }
    let short = |h: HookPoint| h.to_string().replace("blocks.", "L").replace(".hook_", "-");
    let label = |c: &Candidate| format!("{}-w{}-{}", short(hooks[c.hook]), c.width, c.arch.label());
    let mut step = 0usize;
    let mut next_context = 0usize;
    let mut wall_offset = 0.0;
    let mut buffers: Vec<Vec<f32>> = vec![vec![]; hooks.len()];
    if a.resume {
        let bytes = std::fs::read(&ckpt_path)
            .with_context(|| format!("--resume: cannot read {}", ckpt_path.display()))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .with_context(|| format!("{} is not a checkpoint", ckpt_path.display()))?;
        let mut ck: TrainCheckpoint = serde_json::from_str(
            meta.metadata()
                .as_ref()
                .and_then(|m| m.get("state"))
                .context("the checkpoint has no state")?,
        )?;
        if let Some(args) = ck.args.as_object_mut() {
            // Checkpoints from before --topk-kernel were trained with the dense kernel.
            args.entry("topk_kernel").or_insert_with(|| "dense".into());
        }
        if ck.args != run_args {
            let diff: Vec<String> = run_args
                .as_object()
                .expect("an object")
                .iter()
                .filter(|(k, v)| ck.args.get(k.as_str()) != Some(v))
                .map(|(k, v)| {
                    format!(
                        "{k} (checkpoint: {}, now: {v})",
                        ck.args.get(k.as_str()).unwrap_or(&serde_json::Value::Null)
                    )
                })
                .collect();
            bail!(
                "--resume: {} was written by a run with other arguments: {}",
                ckpt_path.display(),
                diff.join("; ")
            );
        }
        let tensors = candle_core::safetensors::load_buffer(&bytes, &device)?;
        if ck.trainers.len() != cands.len() {
            bail!(
                "the checkpoint holds {} SAEs, this run {}",
                ck.trainers.len(),
                cands.len()
            );
        }
        for (i, (c, t)) in cands.iter_mut().zip(ck.trainers).enumerate() {
            let mut cfg = config(c.hook, c.width, c.arch);
            cfg.bandwidth = t.bandwidth_bits.map(f64::from_bits);
            cfg.init_threshold = t.init_threshold_bits.map(f64::from_bits);
            c.trainer = Some(SaeTrainer::restore(
                cfg,
                &tensors,
                &format!("t{i}."),
                ck.step,
                t.since_fired,
                &device,
            )?);
            c.history = t.history;
        }
        for (hi, b) in buffers.iter_mut().enumerate() {
            if let Some(t) = tensors.get(&format!("buffer.{hi}")) {
                *b = t.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
            }
        }
        step = ck.step;
        next_context = ck.next_context;
        wall_offset = ck.wall_seconds;
        eprintln!("resuming at step {step} of {total_steps}");
    }
    let start = std::time::Instant::now();
    let wall = || wall_offset + start.elapsed().as_secs_f64();
    let bar = indicatif::ProgressBar::new(total_steps as u64 * a.batch_tokens as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{wide_bar} {human_pos}/{human_len} tokens, {per_sec:0}, ETA {eta} {msg}",
        )?
        .progress_chars("=> "),
    );
    bar.set_position(step as u64 * a.batch_tokens as u64);
    bar.reset_eta();
    let save_checkpoint = |cands: &[Candidate],
                           buffers: &[Vec<f32>],
                           step: usize,
                           next_context: usize|
     -> Result<()> {
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        let mut trainers = vec![];
        for (i, c) in cands.iter().enumerate() {
            let t = c
                .trainer
                .as_ref()
                .context("a candidate without a trainer")?;
            for (name, x) in t.state_tensors(&format!("t{i}.")) {
                tensors.insert(name, x.to_device(&Device::Cpu)?.contiguous()?);
            }
            trainers.push(CheckpointTrainer {
                label: label(c),
                bandwidth_bits: t.cfg.bandwidth.map(f64::to_bits),
                init_threshold_bits: t.cfg.init_threshold.map(f64::to_bits),
                since_fired: t.since_fired().to_vec(),
                history: c.history.clone(),
            });
        }
        for (hi, b) in buffers.iter().enumerate() {
            if !b.is_empty() {
                let x = Tensor::from_slice(b, (b.len() / dims[hi], dims[hi]), &Device::Cpu)?;
                tensors.insert(format!("buffer.{hi}"), x);
            }
        }
        let state = TrainCheckpoint {
            args: run_args.clone(),
            step,
            next_context,
            wall_seconds: wall(),
            trainers,
        };
        let meta = HashMap::from([("state".to_string(), serde_json::to_string(&state)?)]);
        let bytes =
            safetensors::serialize(tensors.iter().map(|(k, v)| (k.clone(), v)), Some(meta))?;
        std::fs::create_dir_all(a.out.join("checkpoint"))?;
        safe_sail::fsutil::write_atomic(&ckpt_path, &bytes)
    };
    loop {
        // Train on every full batch of buffered tokens (the hooks fill their buffers in step).
        while step < total_steps && buffers[0].len() >= a.batch_tokens * dims[0] {
            let mut xs = vec![];
            for (hi, b) in buffers.iter_mut().enumerate() {
                let chunk: Vec<f32> = b.drain(..a.batch_tokens * dims[hi]).collect();
                xs.push(Tensor::from_vec(
                    chunk,
                    (a.batch_tokens, dims[hi]),
                    &device,
                )?);
            }
            for c in cands.iter_mut() {
                let x = &xs[c.hook];
                let t = match &mut c.trainer {
                    Some(t) => t,
                    None => c
                        .trainer
                        .insert(SaeTrainer::new(config(c.hook, c.width, c.arch), x)?),
                };
                let s = t.train_step(x)?;
                c.history.loss_curve.push(s.loss);
                if t.step.is_multiple_of(a.log_every) || t.step == total_steps {
                    let h = &mut c.history;
                    h.step.push(t.step);
                    h.tokens_seen.push((t.step * a.batch_tokens) as u64);
                    h.loss.push(s.loss);
                    h.mse.push(s.mse);
                    h.l0.push(s.l0);
                    h.dead_fraction.push(s.dead_fraction);
                    h.explained_variance.push(s.explained_variance);
                    h.wall_seconds.push(wall());
                }
                c.last = s;
            }
            step += 1;
            bar.set_position(step as u64 * a.batch_tokens as u64);
            let msg: Vec<String> = cands
                .iter()
                .map(|c| {
                    let name = if hooks.len() > 1 {
                        label(c)
                    } else {
                        format!("w{}-{}", c.width, c.arch.label())
                    };
                    format!("{name} {:.3}/{:.1}", c.last.loss, c.last.l0)
                })
                .collect();
            let mut msg = format!("loss/L0: {}", msg.join(" "));
            if msg.chars().count() > 160 {
                msg = msg.chars().take(159).collect::<String>() + "…";
            }
            bar.set_message(msg);
            let stop = a.stop_after_steps == Some(step);
            if stop || a.checkpoint_every.is_some_and(|e| step.is_multiple_of(e)) {
                save_checkpoint(&cands, &buffers, step, next_context)?;
            }
            if stop {
                bar.finish_and_clear();
                println!(
                    "stopped after {step} steps; the checkpoint is in {}",
                    ckpt_path.display()
                );
                return Ok(());
            }
        }
        if next_context >= contexts.len() {
            break;
        }
        // Activations of every hook, gathered by one forward pass per batch of contexts.
        let batch = &contexts[next_context..(next_context + 8).min(contexts.len())];
        next_context += batch.len();
        let mut cap = safe_sail::capture::Capture::new(hooks.iter().copied());
        let last = cap.deepest_layer().unwrap_or(0);
        model.run_batch(
            batch,
            0,
            &mut cap,
            safe_sail::model::ForwardOpts {
                stop_after_layer: Some(last),
            },
        )?;
        for (hi, h) in hooks.iter().enumerate() {
            let x = cap.acts[h].to_dtype(DType::F32)?.to_device(&Device::Cpu)?;
            let (_, t, d) = x.dims3()?;
            let v = x.flatten_all()?.to_vec1::<f32>()?;
            for (ci, c) in batch.iter().enumerate() {
                buffers[hi].extend_from_slice(&v[ci * t * d..(ci * t + c.len()) * d]);
            }
        }
    }
    bar.finish_and_clear();
    for c in &cands {
        let t = c
            .trainer
            .as_ref()
            .context("a candidate that never trained")?;
        let h = hooks[c.hook];
        let dir = a.out.join(label(c));
        save_saelens(&t.to_sae(h)?, &dir, &a.model.model, save_dtype)?;
        let mut info = serde_json::json!({
            "hook": h.to_string(), "width": c.width, "architecture": c.arch.name(),
            "lr": a.lr, "batch_tokens": a.batch_tokens, "steps": t.step,
            "tokens_seen": t.step * a.batch_tokens, "wall_seconds": wall(), "seed": a.seed,
            "config": t.cfg, "args": run_args,
            "final": c.last,
            "loss_curve": c.history.loss_curve,
            "metrics": {
                "step": c.history.step, "tokens_seen": c.history.tokens_seen,
                "loss": c.history.loss, "mse": c.history.mse, "l0": c.history.l0,
                "dead_fraction": c.history.dead_fraction,
                "explained_variance": c.history.explained_variance,
                "wall_seconds": c.history.wall_seconds,
            },
        });
        if let Arch::TopK { k } = c.arch {
            info["k"] = k.into();
        }
        safe_sail::fsutil::write_atomic(
            &dir.join("training.json"),
            serde_json::to_string_pretty(&info)?.as_bytes(),
        )?;
        println!(
            "{}: {} steps, loss {:.5}, L0 {:.1}, dead {:.1}%, explained variance {:.3} → {}",
            label(c),
            t.step,
            c.last.loss,
            c.last.l0,
            100.0 * c.last.dead_fraction,
            c.last.explained_variance,
            dir.display()
        );
    }
    // The run is complete: its checkpoint has served.
    if ckpt_path.exists() {
        std::fs::remove_file(&ckpt_path)?;
        let _ = std::fs::remove_dir(a.out.join("checkpoint"));
    }
    Ok(())
}

fn merge_stores(inputs: &[PathBuf], out: &Path) -> Result<()> {
    use safe_sail::store::collect::CollectState;
    if inputs.len() < 2 {
        bail!("give at least two store folders to merge");
    }
    let mut runs = vec![];
    for i in inputs {
        let p = i.join(RUN_FILE);
        let r: CollectRun = serde_json::from_str(
            &std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?,
        )
        .with_context(|| format!("{} is not valid", p.display()))?;
        runs.push(r);
    }
    let mut base = runs[0].clone();
    base.shard = None;
    for (r, i) in runs.iter().zip(inputs) {
        let mut x = r.clone();
        x.shard = None;
        if x != base {
            bail!(
                "{} was collected with other arguments than {}",
                i.display(),
                inputs[0].display()
            );
        }
    }
    let mut shards: Vec<(u64, u64)> = runs.iter().filter_map(|r| r.shard).collect();
    shards.sort_unstable();
    shards.dedup();
    if shards.len() != runs.len() {
        bail!("each input must be a different --shard of the same run");
    }
    let cfg = base.config();
    let mut state: Option<CollectState> = None;
    for i in inputs {
        let s = CollectState::load(&i.join(STATE_FILE))?;
        match &mut state {
            None => state = Some(s),
            Some(acc) => acc.merge(s, &cfg)?,
        }
    }
    let state = state.expect("two inputs");
    let device = parse_device(&base.device)?;
    let model = Model::load(&base.model, &device, parse_dtype(&base.dtype)?)?;
    let saes = load_saes(&base.saes, &device)?;
    let n = shards.first().map_or(0, |s| s.1);
    if shards.len() as u64 != n {
        eprintln!("note: merging {} of {n} shards", shards.len());
    }
    write_stores(&base, out, &model, &saes, state)
}

fn db_command(c: DbCommand) -> Result<()> {
    use safe_sail::db::editable::{
        append_history, current_user, read_history, Edit, EditableDb, ReviewStatus,
    };
    match c {
        DbCommand::Import { file, db } => {
            let incoming = EditableDb::load(&file)?;
            let (mut base, created) = if db.exists() {
                (EditableDb::load(&db)?, false)
            } else {
                (EditableDb::default(), true)
            };
            let changes = base.merge_safe_sail(&incoming, &format!("import:{}", current_user()));
            append_history(&db, &changes)?;
            base.save(&db)?;
            println!(
                "{} {} neurons from {} into {} ({} changes)",
                if created { "imported" } else { "merged" },
                incoming.entries.len(),
                file.display(),
                db.display(),
                changes.len()
            );
        }
        DbCommand::Export { db, format, out } => {
            let d = EditableDb::load(&db)?;
            let text = match format.as_str() {
                "safe-sail" | "safesail" | "json" => d.to_safe_sail(),
                "csv" => d.to_csv(),
                "parquet" => {
                    d.write_parquet(&out)?;
                    println!("wrote {} neurons to {}", d.entries.len(), out.display());
                    return Ok(());
                }
                other => bail!("unknown export format `{other}` (safe-sail, csv or parquet)"),
            };
            safe_sail::fsutil::write_atomic(&out, text.as_bytes())?;
            println!("wrote {} neurons to {}", d.entries.len(), out.display());
        }
        DbCommand::Show { db, neuron } => {
            let d = EditableDb::load(&db)?;
            let rec = d
                .entries
                .get(&neuron)
                .with_context(|| format!("neuron {neuron} is not in {}", db.display()))?;
            println!("{}", serde_json::to_string_pretty(rec)?);
        }
        DbCommand::Set {
            db,
            neuron,
            explanation,
            tags,
            status,
            note,
        } => {
            let mut d = if db.exists() {
                EditableDb::load(&db)?
            } else {
                EditableDb::default()
            };
            let edit = Edit {
                explanation: explanation.map(Some),
                tags: tags.map(|t| {
                    t.split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_string)
                        .collect()
                }),
                status: status.as_deref().map(ReviewStatus::parse).transpose()?,
                note,
                ..Default::default()
            };
            let changes = d.apply(&neuron, &edit, &current_user())?;
            append_history(&db, &changes)?;
            d.save(&db)?;
            println!("{} field(s) changed", changes.len());
        }
        DbCommand::Apply { db, edits } => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Row {
                neuron: String,
                explanation: Option<String>,
                tags: Option<Vec<String>>,
                status: Option<String>,
                note: Option<String>,
            }
            let text = std::fs::read_to_string(&edits)
                .with_context(|| format!("cannot read {}", edits.display()))?;
            let rows: Vec<Row> = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: expected a JSON list of {{neuron, explanation, tags, status, note}}",
                    edits.display()
                )
            })?;
            let mut d = if db.exists() {
                EditableDb::load(&db)?
            } else {
                EditableDb::default()
            };
            let who = current_user();
            // Every row is checked before anything is applied: a bad file changes nothing.
            let edits: Vec<(String, Edit)> =
                rows.into_iter()
                    .map(|r| -> Result<(String, Edit)> {
                        let status = r
                            .status
                            .as_deref()
                            .map(ReviewStatus::parse)
                            .transpose()
                            .with_context(|| format!("{}: neuron {}", edits.display(), r.neuron))?;
                        Ok((
                            r.neuron,
                            Edit {
                                explanation_source: r.explanation.as_ref().map(
                                    |_| serde_json::json!({"explainer": "human", "author": who}),
                                ),
                                explanation: r.explanation.map(Some),
                                tags: r.tags,
                                status,
                                note: r.note,
                                ..Default::default()
                            },
                        ))
                    })
                    .collect::<Result<_>>()?;
            let mut changes = vec![];
            for (neuron, edit) in &edits {
                changes.extend(
                    d.apply(neuron, edit, &who)
                        .with_context(|| format!("neuron {neuron}"))?,
                );
            }
            d.save(&db)?;
            append_history(&db, &changes)?;
            let n = changes.len();
            println!("{n} field(s) changed");
        }
        DbCommand::History { db } => {
            for c in read_history(&db)? {
                println!("{}", serde_json::to_string(&c)?);
            }
        }
        DbCommand::TypeTest { db, seconds } => {
            let mut s = safe_sail::db::autosave::EditSession::open(&db, || {})?;
            let start = std::time::Instant::now();
            let mut text = String::new();
            let mut n = 0u64;
            let mut out = std::io::stdout();
            while start.elapsed().as_secs_f64() < seconds {
                n += 1;
                text.push_str(&format!("{n} "));
                s.edit(
                    "0_0",
                    &Edit {
                        explanation: Some(Some(text.clone())),
                        ..Default::default()
                    },
                )?;
                writeln!(out, "{n} {}", safe_sail::db::editable::now_ms())?;
                out.flush()?;
                s.tick();
                std::thread::sleep(std::time::Duration::from_millis(15));
            }
            s.flush();
        }
    }
    Ok(())
}

fn make_corpus(out: &Path, docs: usize, seed: u64, pairs: usize) -> Result<()> {
    use safe_sail::sample::corpus;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let cfg = corpus::CorpusConfig {
        seed,
        docs,
        ..Default::default()
    };
    let d = corpus::generate(&cfg);
    let bytes = corpus::write_jsonl(&d, &out.join("corpus.jsonl"))
        .with_context(|| format!("cannot write {}", out.join("corpus.jsonl").display()))?;
    let p = corpus::concept_pairs(seed, pairs);
    corpus::write_jsonl(&p, &out.join("concept_pairs.jsonl"))
        .with_context(|| format!("cannot write {}", out.join("concept_pairs.jsonl").display()))?;
    println!(
        "{} documents ({bytes} bytes) and {} concept pairs in {}",
        d.len(),
        p.len(),
        out.display()
    );
    Ok(())
}

fn train_lm(a: TrainLmArgs) -> Result<()> {
    use safe_sail::sample::{corpus::SampleDoc, lm};
    let text = std::fs::read_to_string(&a.corpus)
        .with_context(|| format!("cannot read {}", a.corpus.display()))?;
    let docs: Vec<SampleDoc> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| {
                format!(
                    "{} line {}: not a corpus document",
                    a.corpus.display(),
                    i + 1
                )
            })
        })
        .collect::<Result<_>>()?;
    if docs.is_empty() {
        bail!("{} holds no document", a.corpus.display());
    }
    let start = std::time::Instant::now();
    let texts: Vec<String> = docs.iter().map(lm::training_text).collect();
    lm::train_tokenizer(&texts, a.vocab, &a.out)?;
    let tok = tokenizers::Tokenizer::from_file(a.out.join("tokenizer.json"))
        .map_err(|e| anyhow::anyhow!("cannot reload the tokenizer: {e}"))?;
    let heldout_every = 50;
    let (train, held) = lm::token_streams(&tok, &docs, heldout_every)?;
    println!(
        "tokenizer: {} tokens; corpus: {} training / {} held-out tokens ({:.0} s)",
        tok.get_vocab_size(true),
        train.len(),
        held.len(),
        start.elapsed().as_secs_f64()
    );
    let cfg = lm::LmConfig {
        vocab_size: tok.get_vocab_size(true),
        hidden_size: a.hidden,
        num_hidden_layers: a.layers,
        num_attention_heads: a.heads,
        num_key_value_heads: a.kv_heads,
        intermediate_size: a.intermediate,
        max_position_embeddings: 2 * a.seq_len,
        rope_theta: 10000.0,
        rms_norm_eps: 1e-6,
    };
    println!("model: {} parameters", cfg.parameters());
    let device = Device::Cpu;
    let model = lm::TinyLm::new(cfg, a.seed, &device)?;
    let opts = lm::LmTrainOpts {
        seq_len: a.seq_len,
        batch: a.batch,
        steps: a.steps,
        lr: a.lr,
        warmup: (a.steps / 20).max(1),
        seed: a.seed,
        heldout_every,
    };
    let bar = indicatif::ProgressBar::new(a.steps as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps  {per_sec:2}  ETA {eta}  {msg}",
        )
        .expect("valid template"),
    );
    let mut smooth = f32::NAN;
    let report = lm::train_lm(&model, &train, &held, &opts, |_, l| {
        smooth = if smooth.is_nan() {
            l
        } else {
            0.95 * smooth + 0.05 * l
        };
        bar.set_message(format!("loss {smooth:.3}"));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    let ids = |t: &str| tok.token_to_id(t).expect("special token");
    model.save(
        &a.out,
        [ids("<|endoftext|>"), ids("<|im_start|>"), ids("<|im_end|>")],
    )?;
    // Samples from the saved folder, through the engine, show what the model learned.
    let engine = Model::load_dir(&a.out, &device, DType::F32)?;
    let mut samples = vec![];
    for (prompt, chat) in [
        ("The election", false),
        ("Police said the attack", false),
        ("To make the sauce,", false),
        ("警方表示", false),
        ("How do I stay safe online?", true),
        ("如何准备面试？", true),
    ] {
        let p = engine.tokenize_prompt(&PromptSpec {
            text: prompt.into(),
            chat,
            system: None,
            truncate: true,
        })?;
        let pids: Vec<u32> = p.iter().map(|t| t.id).collect();
        let opts = GenerateOpts {
            max_new_tokens: 40,
            ..Default::default()
        };
        let out = engine.generate(&pids, &opts, &mut NoHooks, |_| Flow::Continue)?;
        samples.push(serde_json::json!({"prompt": prompt, "chat": chat,
            "greedy": engine.tok.decode(&out, true)?}));
    }
    let mut json = serde_json::to_value(&report)?;
    json["samples"] = serde_json::Value::Array(samples.clone());
    json["wall_seconds_total"] = start.elapsed().as_secs_f64().into();
    safe_sail::fsutil::write_atomic(
        &a.out.join("training.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    println!(
        "held-out loss {:.3} nats/token (unigram baseline {:.3}) after {} steps, {:.0} s; saved to {}",
        report.heldout_loss,
        report.unigram_loss,
        a.steps,
        start.elapsed().as_secs_f64(),
        a.out.display()
    );
    for s in samples {
        println!("  {} → {}", s["prompt"], s["greedy"]);
    }
    Ok(())
}

fn gui(workspace: Option<PathBuf>) -> Result<()> {
    if let Some(w) = &workspace {
        if !w.exists() {
            bail!("workspace {} does not exist", w.display());
        }
    }
    safe_sail::app::run(workspace)
}

/// The bundled sample in the terminal: the trained sample model, its chosen layer-1 SAE and
/// neuron database, on a prompt that touches two safety domains.
fn demo() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data");
    let model_dir = root.join("model");
    if !model_dir.exists() {
        bail!(
            "the bundled sample is missing ({}); run from a checkout of the repository",
            model_dir.display()
        );
    }
    let model = Model::load_dir(&model_dir, &Device::Cpu, DType::F32)?;
    let sae = load_sae(
        &format!("{}", root.join("saes/L1-mlp_out-w1024-topk16").display()).parse()?,
        &Device::Cpu,
    )?;
    let db = safe_sail::db::NeuronDb::load_safe_sail(&root.join("neurons.json"))?;
    let prompt = PromptSpec {
        text: "Researchers warned that extremist propaganda spreads fast. 如果目睹暴力事件，先确保自身安全。".into(),
        chat: false,
        system: None,
        truncate: false,
    };
    let res = capture_prompt(&model, &prompt, &[], std::slice::from_ref(&sae), false)?;
    println!(
        "Safe-SAIL Explorer — the bundled sample (a small Qwen2 trained on the sample corpus)"
    );
    println!(
        "model: {} ({} layers, d_model {})",
        model_dir.display(),
        model.cfg.num_layers,
        model.cfg.hidden_size
    );
    println!(
        "SAE:   {} at {} ({}, {} latents); neurons: {}\n",
        sae.meta.format.name(),
        sae.hook(),
        sae.activation.describe(),
        sae.d_sae(),
        root.join("neurons.json").display()
    );
    let layer = sae.hook().layer;
    let rows = res.sae_acts[0].to_vec2::<f32>()?;
    for (tok, row) in res.tokens.iter().zip(rows) {
        let mut nz: Vec<(usize, f32)> = row
            .into_iter()
            .enumerate()
            .filter(|(_, v)| *v > 0.0)
            .collect();
        nz.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<String> = nz
            .iter()
            .take(3)
            .map(|(i, v)| format!("{layer}_{i}={v:.2}"))
            .collect();
        // The strongest safety-tagged neuron on this token (clearly active), with its explanation.
        let safety = nz.iter().filter(|(_, v)| *v >= 0.3).find_map(|&(i, v)| {
            db.get(layer, i as u32)
                .filter(|r| r.is_safety())
                .map(|r| (i, v, r))
        });
        let note = safety.map_or(String::new(), |(i, v, r)| {
            let expl: String = r
                .explanation
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(60)
                .collect();
            format!("  ⚑ {layer}_{i}={v:.2} [{}] {expl}", r.tag_list.join(","))
        });
        let shown = format!("{:?}", tok.text);
        println!(
            "{:>6} {:<18}{} {}{note}",
            tok.id,
            shown,
            if tok.special { " (special)" } else { "" },
            top.join("  ")
        );
    }
    println!(
        "\nOpen the explorer window with `safe-sail gui`; see `safe-sail --help` for all commands."
    );
    Ok(())
}

/// Sets the compute thread count for a benchmark (before candle starts its pool); returns it.
fn bench_threads(threads: Option<usize>) -> usize {
    if let Some(t) = threads {
        std::env::set_var("RAYON_NUM_THREADS", t.to_string());
    }
    threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

fn bench(a: BenchArgs) -> Result<()> {
    let threads = bench_threads(a.threads);
    let report = safe_sail::bench::run_engine_bench(&safe_sail::bench::BenchConfig {
        layer: a.layer,
        batch: a.batch,
        seq: a.seq,
        width: a.width,
        k: a.k,
        iters: a.iters,
        dtype: parse_dtype(&a.dtype)?,
        device: parse_device(&a.device)?,
    })?;
    let ours = serde_json::json!({
        "impl": "safe-sail (candle)", "tokens_per_s": report.tokens_per_s,
        "seconds_per_batch": report.seconds_per_batch, "threads": threads,
        "forward_s": report.forward_s, "encode_s": report.encode_s,
    });
    println!("{ours}");
    if let Some(py) = a.torch {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/bench_torch.py");
        let out = std::process::Command::new(&py)
            .arg(&script)
            .args([
                "--layer",
                &a.layer.to_string(),
                "--batch",
                &a.batch.to_string(),
                "--seq",
                &a.seq.to_string(),
            ])
            .args([
                "--d-sae",
                &a.width.to_string(),
                "--k",
                &a.k.to_string(),
                "--iters",
                &a.iters.to_string(),
            ])
            .args(["--threads", &threads.to_string(), "--dtype", &a.dtype])
            .output()
            .with_context(|| format!("cannot run {} {}", py.display(), script.display()))?;
        if !out.status.success() {
            bail!(
                "the PyTorch benchmark failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let line = String::from_utf8_lossy(&out.stdout);
        let theirs: serde_json::Value = serde_json::from_str(line.lines().last().unwrap_or(""))
            .context("the PyTorch benchmark printed no JSON line")?;
        println!("{theirs}");
        let t = theirs["tokens_per_s"].as_f64().unwrap_or(f64::NAN);
        println!(
            "{}",
            serde_json::json!({"ratio_vs_pytorch": report.tokens_per_s / t})
        );
    }
    Ok(())
}

/// Runs a benchmark script of tools/ with `py` and returns its last stdout line as JSON.
fn run_torch_script(py: &Path, script: &str, args: &[String]) -> Result<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tools")
        .join(script);
    let out = std::process::Command::new(py)
        .arg(&script)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {} {}", py.display(), script.display()))?;
    if !out.status.success() {
        bail!(
            "the PyTorch benchmark failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.lines().last().unwrap_or(""))
        .context("the PyTorch benchmark printed no JSON line")
}

fn bench_train(a: BenchTrainArgs) -> Result<()> {
    use safe_sail::sae::train::TopKKernel;
    let threads = bench_threads(a.threads);
    // Both TopK kernels, on the same batch and initial state.
    let mut ours = vec![];
    for (kernel, name) in [(TopKKernel::Sparse, "sparse"), (TopKKernel::Dense, "dense")] {
        let r = safe_sail::bench::run_train_bench(&safe_sail::bench::TrainBenchConfig {
            d_in: a.d_in,
            width: a.width,
            k: a.k,
            batch_tokens: a.batch_tokens,
            steps: a.steps,
            warmup: a.warmup,
            seed: a.seed,
            device: parse_device(&a.device)?,
            kernel,
        })?;
        let line = serde_json::json!({
            "impl": format!("safe-sail (candle, {name} TopK kernel)"), "kernel": name,
            "tokens_per_s": r.tokens_per_s,
            "seconds_per_step": r.seconds_per_step, "threads": threads,
            "d_in": a.d_in, "width": a.width, "k": a.k, "batch_tokens": a.batch_tokens,
            "steps": a.steps, "warmup": a.warmup, "last_loss": r.last.loss, "last_l0": r.last.l0,
        });
        println!("{line}");
        ours.push((name, r.tokens_per_s));
    }
    println!(
        "{}",
        serde_json::json!({"sparse_speedup_vs_dense": ours[0].1 / ours[1].1})
    );
    if let Some(py) = a.torch {
        let s = |v: usize| v.to_string();
        let theirs = run_torch_script(
            &py,
            "bench_torch_train.py",
            &[
                "--d-in".into(),
                s(a.d_in),
                "--width".into(),
                s(a.width),
                "--k".into(),
                s(a.k),
                "--batch-tokens".into(),
                s(a.batch_tokens),
                "--steps".into(),
                s(a.steps),
                "--warmup".into(),
                s(a.warmup),
                "--threads".into(),
                s(threads),
                "--seed".into(),
                a.seed.to_string(),
            ],
        )?;
        println!("{theirs}");
        let t = theirs["tokens_per_s"].as_f64().unwrap_or(f64::NAN);
        println!(
            "{}",
            serde_json::json!({
                "ratio_vs_pytorch_sparse": ours[0].1 / t,
                "ratio_vs_pytorch_dense": ours[1].1 / t,
            })
        );
    }
    Ok(())
}
