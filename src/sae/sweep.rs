//! The `train-sae` verb: a sweep that trains every hook × width × setting at once on one
//! forward pass of the model per batch (contexts shuffled by seed), with checkpoints every few
//! steps and a resume that ends with the very weights an uninterrupted run writes. Each
//! candidate is saved in SAELens format with a `training.json` (config, loss curve, metrics).

use super::train::{save_saelens, SaeArch, SaeTrainer, StepStats, TopKKernel, TrainConfig};
use crate::capture::Capture;
use crate::corpus::{Budget, ContextSplitter, CorpusSpec, MessagePolicy};
use crate::hooks::HookPoint;
use crate::load::ModelSpec;
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::PathBuf;

/// A sweep as the user gives it (lists comma-separated, as on the command line; a resumed run
/// must repeat them exactly).
#[derive(Debug, Clone)]
pub struct Sweep {
    pub model: ModelSpec,
    pub corpus: Vec<PathBuf>,
    /// Hook points, comma-separated.
    pub hook: String,
    /// Widths, comma-separated.
    pub widths: String,
    /// Architectures, comma-separated: `topk` (one per k), `relu` (one per l1), `jumprelu`
    /// (one per l0 coefficient).
    pub activation: String,
    pub k: String,
    /// `sparse` or `dense`.
    pub topk_kernel: String,
    pub l1: String,
    pub l0_coeff: String,
    /// Tokens to train on.
    pub tokens: u64,
    /// Tokens per optimisation step.
    pub batch_tokens: usize,
    /// Peak learning rate.
    pub lr: f64,
    pub warmup_steps: Option<usize>,
    pub dead_tokens: Option<u64>,
    pub context: usize,
    pub seed: u64,
    /// Metrics are recorded every this many steps.
    pub log_every: usize,
    pub checkpoint_every: Option<usize>,
    pub resume: bool,
    /// `f32`, `f16` or `bf16`.
    pub save_dtype: String,
    /// Testing: checkpoint after this many steps and stop, as if interrupted.
    pub stop_after_steps: Option<usize>,
    pub out: PathBuf,
}

/// One trained candidate.
#[derive(Debug, Clone)]
pub struct Trained {
    pub label: String,
    pub steps: usize,
    pub last: StepStats,
    pub dir: PathBuf,
}

/// How a sweep ended.
#[derive(Debug, Clone)]
pub enum SweepOutcome {
    /// Every candidate was trained and saved.
    Finished(Vec<Trained>),
    /// Stopped on request after `step` steps; the checkpoint is at `checkpoint`.
    Stopped { step: usize, checkpoint: PathBuf },
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
    arch: SaeArch,
    trainer: Option<SaeTrainer>,
    history: TrainHistory,
    last: StepStats,
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

/// The checkpoint of an unfinished sweep, inside its output folder.
pub const TRAIN_CHECKPOINT: &str = "checkpoint/checkpoint.safetensors";

/// Runs (or resumes) a sweep.
pub fn train(a: &Sweep, progress: &dyn Progress) -> Result<SweepOutcome> {
    let plan = Plan::parse(a)?;
    let model = a.model.load()?;
    let mut run = SweepRun::new(a, &plan, &model)?;
    if a.resume {
        run.restore()?;
        progress.note(&format!(
            "resuming at step {} of {}",
            run.step, run.total_steps
        ));
    }
    progress.set_pos(run.step as u64 * a.batch_tokens as u64);
    // The length last: a resumed run's rate counts from here.
    progress.set_len(run.total_steps as u64 * a.batch_tokens as u64);
    loop {
        if let Some(stopped) = run.train_buffered(progress)? {
            return Ok(stopped);
        }
        if !run.gather(&model)? {
            break;
        }
    }
    if let Some(w) = ran_out_warning(run.step, run.total_steps, a.batch_tokens) {
        progress.note(&w);
    }
    run.save_all()
}

/// A warning when the corpus ran out before half of the steps asked for were trained.
fn ran_out_warning(step: usize, total_steps: usize, batch_tokens: usize) -> Option<String> {
    (step * 2 < total_steps).then(|| {
        format!(
            "warning: the corpus ran out after {} of the {} tokens asked for (--tokens): the SAEs \
             trained {step} of {total_steps} steps; give a larger corpus or fewer --tokens",
            step * batch_tokens,
            total_steps * batch_tokens
        )
    })
}

/// The sweep's settings, parsed and checked before anything is loaded.
struct Plan {
    save_dtype: DType,
    hooks: Vec<HookPoint>,
    widths: Vec<usize>,
    archs: Vec<SaeArch>,
    kernel: TopKKernel,
    /// Everything that shapes the weights: a resumed run must match it.
    run_args: serde_json::Value,
    ckpt_path: PathBuf,
}

impl Plan {
    fn parse(a: &Sweep) -> Result<Self> {
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
                "topk" => archs.extend(list(&a.k, "k")?.into_iter().map(|k| SaeArch::TopK { k })),
                "relu" => archs.extend(
                    list(&a.l1, "l1")?
                        .into_iter()
                        .map(|l1| SaeArch::Relu { l1 }),
                ),
                "jumprelu" => archs.extend(
                    list(&a.l0_coeff, "l0-coeff")?
                        .into_iter()
                        .map(|l0_coeff| SaeArch::JumpRelu { l0_coeff }),
                ),
                other => {
                    bail!("--activation: unknown architecture `{other}` (topk, relu, jumprelu)")
                }
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
        Ok(Self {
            save_dtype,
            hooks,
            widths,
            archs,
            kernel,
            run_args,
            ckpt_path,
        })
    }
}

/// A sweep in progress: the shuffled contexts, the candidates, the activations buffered per
/// hook, and the position in the data.
struct SweepRun<'a> {
    a: &'a Sweep,
    plan: &'a Plan,
    /// The width of each hook's activations.
    dims: Vec<usize>,
    device: Device,
    contexts: Vec<Vec<u32>>,
    total_steps: usize,
    warmup: usize,
    dead_tokens: u64,
    cands: Vec<Candidate>,
    step: usize,
    /// The next batch of contexts to run through the model.
    next_context: usize,
    /// Per hook, activations not yet trained on (`[tokens × dim]`, row-major).
    buffers: Vec<Vec<f32>>,
    start: std::time::Instant,
    /// Wall time of the run before a resume.
    wall_offset: f64,
    /// Whether the tokenizer began each context with its BOS token (recorded in cfg.json).
    prepend_bos: bool,
}

impl<'a> SweepRun<'a> {
    fn new(a: &'a Sweep, plan: &'a Plan, model: &crate::model::Model) -> Result<Self> {
        let dims: Vec<usize> = plan
            .hooks
            .iter()
            .map(|h| model.hook_width(*h))
            .collect::<Result<_>>()?;
        let device = model.net.device().clone();
        let spec = CorpusSpec {
            files: a.corpus.to_vec(),
            text_field: "text".into(),
            messages_field: None,
        };
        // Plain text only; a document is taken whole once started.
        let splitter = ContextSplitter {
            messages: MessagePolicy::Skip,
            ..ContextSplitter::new(&model.tok, a.context)
        };
        let (mut contexts, n) = splitter.contexts(&spec, Budget::BeforeDoc(a.tokens))?;
        if contexts.is_empty() {
            bail!("the corpus holds no usable document");
        }
        // Shuffled by seed so that steps mix documents.
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
        let mut cands: Vec<Candidate> = vec![];
        for hi in 0..plan.hooks.len() {
            for &arch in &plan.archs {
                for &width in &plan.widths {
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
        Ok(Self {
            prepend_bos: model.tok.prepends_bos()?,
            a,
            plan,
            device,
            contexts,
            total_steps,
            warmup: a.warmup_steps.unwrap_or((total_steps / 20).max(1)),
            dead_tokens: a
                .dead_tokens
                .unwrap_or((n / 10).min(10_000_000).max(a.batch_tokens as u64)),
            cands,
            step: 0,
            next_context: 0,
            buffers: vec![vec![]; dims.len()],
            dims,
            start: std::time::Instant::now(),
            wall_offset: 0.0,
        })
    }

    fn config(&self, c: &Candidate) -> TrainConfig {
        TrainConfig {
            lr: self.a.lr,
            warmup_steps: self.warmup,
            total_steps: self.total_steps,
            seed: self.a.seed,
            dead_tokens: self.dead_tokens,
            kernel: self.plan.kernel,
            ..TrainConfig::new(self.dims[c.hook], c.width, c.arch)
        }
    }

    /// `L1-mlp_out-w1024-topk16`: the candidate's folder name.
    fn label(&self, c: &Candidate) -> String {
        let h = self.plan.hooks[c.hook].to_string();
        let short = h.replace("blocks.", "L").replace(".hook_", "-");
        format!("{short}-w{}-{}", c.width, c.arch.label())
    }

    fn wall(&self) -> f64 {
        self.wall_offset + self.start.elapsed().as_secs_f64()
    }

    /// Continues from the checkpoint, which must come from a run with the same arguments.
    fn restore(&mut self) -> Result<()> {
        let ckpt_path = &self.plan.ckpt_path;
        let bytes = std::fs::read(ckpt_path)
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
        let run_args = &self.plan.run_args;
        if &ck.args != run_args {
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
        let tensors = candle_core::safetensors::load_buffer(&bytes, &self.device)?;
        if ck.trainers.len() != self.cands.len() {
            bail!(
                "the checkpoint holds {} SAEs, this run {}",
                ck.trainers.len(),
                self.cands.len()
            );
        }
        for (i, t) in ck.trainers.into_iter().enumerate() {
            let mut cfg = self.config(&self.cands[i]);
            cfg.bandwidth = t.bandwidth_bits.map(f64::from_bits);
            cfg.init_threshold = t.init_threshold_bits.map(f64::from_bits);
            let trainer = SaeTrainer::restore(
                cfg,
                &tensors,
                &format!("t{i}."),
                ck.step,
                t.since_fired,
                &self.device,
            )?;
            let c = &mut self.cands[i];
            c.trainer = Some(trainer);
            c.history = t.history;
        }
        for (hi, b) in self.buffers.iter_mut().enumerate() {
            if let Some(t) = tensors.get(&format!("buffer.{hi}")) {
                *b = t.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
            }
        }
        self.step = ck.step;
        self.next_context = ck.next_context;
        self.wall_offset = ck.wall_seconds;
        Ok(())
    }

    /// Writes the checkpoint: weights, optimiser state, buffered activations, position.
    fn save_checkpoint(&self) -> Result<()> {
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        let mut trainers = vec![];
        for (i, c) in self.cands.iter().enumerate() {
            let t = c
                .trainer
                .as_ref()
                .context("a candidate without a trainer")?;
            for (name, x) in t.state_tensors(&format!("t{i}.")) {
                tensors.insert(name, x.to_device(&Device::Cpu)?.contiguous()?);
            }
            trainers.push(CheckpointTrainer {
                label: self.label(c),
                bandwidth_bits: t.cfg.bandwidth.map(f64::to_bits),
                init_threshold_bits: t.cfg.init_threshold.map(f64::to_bits),
                since_fired: t.since_fired().to_vec(),
                history: c.history.clone(),
            });
        }
        for (hi, b) in self.buffers.iter().enumerate() {
            if !b.is_empty() {
                let d = self.dims[hi];
                let x = Tensor::from_slice(b, (b.len() / d, d), &Device::Cpu)?;
                tensors.insert(format!("buffer.{hi}"), x);
            }
        }
        let state = TrainCheckpoint {
            args: self.plan.run_args.clone(),
            step: self.step,
            next_context: self.next_context,
            wall_seconds: self.wall(),
            trainers,
        };
        let meta = HashMap::from([("state".to_string(), serde_json::to_string(&state)?)]);
        let bytes =
            safetensors::serialize(tensors.iter().map(|(k, v)| (k.clone(), v)), Some(meta))?;
        std::fs::create_dir_all(self.a.out.join("checkpoint"))?;
        crate::fsutil::write_atomic(&self.plan.ckpt_path, &bytes)
    }

    /// Trains every candidate on each full batch of buffered tokens (the hooks fill their
    /// buffers in step); checkpoints on schedule. Returns the outcome when asked to stop.
    fn train_buffered(&mut self, progress: &dyn Progress) -> Result<Option<SweepOutcome>> {
        let a = self.a;
        while self.step < self.total_steps && self.buffers[0].len() >= a.batch_tokens * self.dims[0]
        {
            let mut xs = vec![];
            for (hi, b) in self.buffers.iter_mut().enumerate() {
                let chunk: Vec<f32> = b.drain(..a.batch_tokens * self.dims[hi]).collect();
                xs.push(Tensor::from_vec(
                    chunk,
                    (a.batch_tokens, self.dims[hi]),
                    &self.device,
                )?);
            }
            for ci in 0..self.cands.len() {
                let x = &xs[self.cands[ci].hook];
                if self.cands[ci].trainer.is_none() {
                    let cfg = self.config(&self.cands[ci]);
                    self.cands[ci].trainer = Some(SaeTrainer::new(cfg, x)?);
                }
                let wall = self.wall();
                let total_steps = self.total_steps;
                let c = &mut self.cands[ci];
                let t = c.trainer.as_mut().expect("created above");
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
                    h.wall_seconds.push(wall);
                }
                c.last = s;
            }
            self.step += 1;
            progress.set_pos(self.step as u64 * a.batch_tokens as u64);
            progress.message(&self.status());
            let stop = a.stop_after_steps == Some(self.step);
            if stop
                || a.checkpoint_every
                    .is_some_and(|e| self.step.is_multiple_of(e))
            {
                self.save_checkpoint()?;
            }
            if stop {
                return Ok(Some(SweepOutcome::Stopped {
                    step: self.step,
                    checkpoint: self.plan.ckpt_path.clone(),
                }));
            }
        }
        Ok(None)
    }

    /// Each candidate's last loss and L0, for the progress line (at most 160 characters).
    fn status(&self) -> String {
        let parts: Vec<String> = self
            .cands
            .iter()
            .map(|c| {
                let name = if self.plan.hooks.len() > 1 {
                    self.label(c)
                } else {
                    format!("w{}-{}", c.width, c.arch.label())
                };
                format!("{name} {:.3}/{:.1}", c.last.loss, c.last.l0)
            })
            .collect();
        let msg = format!("loss/L0: {}", parts.join(" "));
        if msg.chars().count() > 160 {
            msg.chars().take(159).collect::<String>() + "…"
        } else {
            msg
        }
    }

    /// Runs the next batch of contexts through the model and buffers every hook's activations;
    /// false when the contexts are used up.
    fn gather(&mut self, model: &crate::model::Model) -> Result<bool> {
        if self.next_context >= self.contexts.len() {
            return Ok(false);
        }
        let end = (self.next_context + 8).min(self.contexts.len());
        let batch = &self.contexts[self.next_context..end];
        self.next_context = end;
        let cap = Capture::batch(model, batch, self.plan.hooks.iter().copied())?;
        for (hi, h) in self.plan.hooks.iter().enumerate() {
            let x = cap.acts[h].to_dtype(DType::F32)?.to_device(&Device::Cpu)?;
            let (_, t, d) = x.dims3()?;
            let v = x.flatten_all()?.to_vec1::<f32>()?;
            for (ci, c) in batch.iter().enumerate() {
                self.buffers[hi].extend_from_slice(&v[ci * t * d..(ci * t + c.len()) * d]);
            }
        }
        Ok(true)
    }

    /// Saves every candidate in SAELens format with its training.json, and removes the
    /// checkpoint (it has served).
    fn save_all(&self) -> Result<SweepOutcome> {
        let a = self.a;
        let mut trained = vec![];
        for c in &self.cands {
            let t = c
                .trainer
                .as_ref()
                .context("a candidate that never trained")?;
            let h = self.plan.hooks[c.hook];
            let dir = a.out.join(self.label(c));
            save_saelens(
                &t.to_sae(h)?,
                &dir,
                &a.model.model,
                self.prepend_bos,
                self.plan.save_dtype,
            )?;
            let mut info = serde_json::json!({
                "hook": h.to_string(), "width": c.width, "architecture": c.arch.name(),
                "lr": a.lr, "batch_tokens": a.batch_tokens, "steps": t.step,
                "tokens_seen": t.step * a.batch_tokens, "wall_seconds": self.wall(), "seed": a.seed,
                "config": t.cfg, "args": self.plan.run_args,
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
            if let SaeArch::TopK { k } = c.arch {
                info["k"] = k.into();
            }
            crate::fsutil::write_atomic(
                &dir.join("training.json"),
                serde_json::to_string_pretty(&info)?.as_bytes(),
            )?;
            trained.push(Trained {
                label: self.label(c),
                steps: t.step,
                last: c.last,
                dir,
            });
        }
        let ckpt_path = &self.plan.ckpt_path;
        if ckpt_path.exists() {
            std::fs::remove_file(ckpt_path)?;
            let _ = std::fs::remove_dir(a.out.join("checkpoint"));
        }
        Ok(SweepOutcome::Finished(trained))
    }
}

#[cfg(test)]
mod ran_out_tests {
    #[test]
    fn a_corpus_that_ran_out_early_is_warned_about() {
        assert_eq!(super::ran_out_warning(60, 100, 16), None);
        let w = super::ran_out_warning(10, 62_500, 16).unwrap();
        assert!(w.contains("after 160 of the 1000000 tokens"), "{w}");
    }
}
