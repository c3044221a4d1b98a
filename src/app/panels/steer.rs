//! The Steer panel: a prompt, a list of neuron interventions (add, clamp, ablate) with
//! sliders, where they apply and the sampling settings; the engine runs the library's
//! comparison ([`crate::steer::compare_flow`]) and the default and steered answers show side
//! by side as they stream, each token shaded by the KL divergence between the two models'
//! next-token distributions, the first divergence marked, both top-5 lists on hover.
//! Intervention sets are saved in the workspace file; so are the tripwires, which the
//! inspector marks too. Besides neurons, raw directions (a neuron's decoder row, or a vector
//! file) can be added, projected out or capped. "What it costs" runs the library's steer-eval
//! ([`crate::steer::eval`]) over the starter prompts or a prompts file and a neutral text,
//! and shows per intervention the answers that differ, the mean KL and the capability cost
//! beside a random-direction control, as a table and a bar plot (saved as Parquet on request);
//! the intervention list exports as lm-evaluation-harness's CSV.

use crate::app::ctx::{SaeSlot, ViewCtx};
use crate::app::engine::{EvalPrompts, SteerEvalJob, SteerJob};
use crate::app::widgets::{chat_controls, choice, StripToken, TokenStrip};
use crate::app::Command;
use crate::db::editable::ReviewStatus;
use crate::inspect::TripwireWatch;
use crate::model::generate::GenerateOpts;
use crate::model::PromptSpec;
use crate::steer::eval::{EvalOpts, EvalRow};
use crate::steer::{
    Amount, Comparison, DirOp, DirSource, DirectionSet, InterventionSpec, NeuronMode, NeuronRef,
    NeuronSet, Positions, Scored, Side, SteerOpts, TripwireSpec, Watch,
};
use crate::workspace::SteerSet;
use eframe::egui::{self, Color32, RichText};
use std::path::PathBuf;

/// The colour of the KL shading.
pub const KL_COLOR: Color32 = Color32::from_rgb(250, 110, 90);
/// The KL (nats) shaded at full strength.
pub const KL_FULL: f64 = 2.0;

/// One intervention row: a neuron of one SAE and what is done to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The SAE (workspace position).
    pub sae: usize,
    /// The neuron id as typed (`LAYER_INDEX`).
    pub id: String,
    pub mode: NeuronMode,
    /// For add: a multiple of the neuron's max activation when its store gives one, else
    /// absolute; for clamp: absolute; unused by ablate.
    pub value: f64,
}

/// What is done with a raw direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirAction {
    /// Add `c · v`.
    Add,
    /// Remove the component along `v̂`.
    Project,
    /// Cap the projection on `v̂` at `c`.
    Cap,
}

fn dir_action_name(a: DirAction) -> &'static str {
    match a {
        DirAction::Add => "add",
        DirAction::Project => "project out",
        DirAction::Cap => "cap",
    }
}

/// One raw-direction row, as `--direction` takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DirRow {
    /// A neuron id (its decoder row: `1_7`, `NAME:1_7`) or a `.npy` / `.safetensors` file
    /// (`,key=NAME` after it picks a tensor).
    pub source: String,
    /// The hook it acts at; empty: the neuron's SAE's hook (a file needs one).
    pub hook: String,
    pub action: DirAction,
    /// The coefficient of add, the largest projection of cap.
    pub c: f64,
}

/// Where the steer-eval's prompts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalSource {
    /// The workspace's starter prompts.
    Starters,
    /// One prompt per line of a file.
    File,
}

/// What the steer-eval plot shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalMetric {
    DeltaCe,
    MeanKl,
    FracDiffer,
}

impl EvalMetric {
    fn name(self) -> &'static str {
        match self {
            EvalMetric::DeltaCe => "capability cost: Δ cross-entropy (nats)",
            EvalMetric::MeanKl => "mean KL per token (nats)",
            EvalMetric::FracDiffer => "answers that differ (%)",
        }
    }

    fn of(self, r: &EvalRow) -> f64 {
        match self {
            EvalMetric::DeltaCe => r.delta_ce,
            EvalMetric::MeanKl => r.mean_kl,
            EvalMetric::FracDiffer => 100.0 * r.frac_differ,
        }
    }
}

/// The colours of an intervention's bar and its control's.
pub const EVAL_COLORS: [Color32; 2] = [
    Color32::from_rgb(250, 110, 90),
    Color32::from_rgb(140, 140, 150),
];

/// A streamed token.
#[derive(Debug, Clone, PartialEq)]
pub struct Streamed {
    pub text: String,
    pub special: bool,
}

/// The panel's state.
pub struct SteerPanel {
    pub prompt: String,
    pub chat: bool,
    pub system: String,
    pub rows: Vec<Row>,
    pub positions: Positions,
    pub max_new_tokens: usize,
    pub temperature: f64,
    pub seed: u64,
    /// A tripwire being typed.
    pub tripwire: String,
    /// The name the current interventions are saved under.
    pub set_name: String,
    /// A run is going (its tokens stream into `streamed`).
    pub running: bool,
    /// The tokens of the default and the steered answer so far.
    pub streamed: [Vec<Streamed>; 2],
    pub result: Option<Comparison>,
    /// An error or a note, shown under Run.
    pub message: Option<String>,
    /// Raw directions, after the neuron rows.
    pub dirs: Vec<DirRow>,
    /// Steer special tokens (chat-template markers, BOS/EOS) too.
    pub include_special: bool,
    /// Where lm-evaluation-harness's CSV goes (empty: beside the workspace file).
    pub csv_path: String,
    /// The steer-eval's prompts.
    pub eval_source: EvalSource,
    pub eval_prompts_file: String,
    /// The neutral text file (empty: the built-in one).
    pub eval_neutral: String,
    /// A steer-eval is going.
    pub eval_running: bool,
    /// Its steps done and in all.
    pub eval_progress: (u64, u64),
    /// The last steer-eval's rows (each intervention followed by its control).
    pub eval_rows: Vec<EvalRow>,
    pub eval_metric: EvalMetric,
    /// Where "Save as Parquet" writes (empty: beside the workspace file).
    pub parquet_path: String,
    /// An error or a note of the steer-eval and the exports.
    pub eval_message: Option<String>,
}

impl Default for SteerPanel {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            chat: true,
            system: "You are a helpful assistant.".into(),
            rows: vec![],
            positions: Positions::All,
            max_new_tokens: 32,
            temperature: 0.0,
            seed: 0,
            tripwire: String::new(),
            set_name: String::new(),
            running: false,
            streamed: [vec![], vec![]],
            result: None,
            message: None,
            dirs: vec![],
            include_special: false,
            csv_path: String::new(),
            eval_source: EvalSource::Starters,
            eval_prompts_file: String::new(),
            eval_neutral: String::new(),
            eval_running: false,
            eval_progress: (0, 0),
            eval_rows: vec![],
            eval_metric: EvalMetric::DeltaCe,
            parquet_path: String::new(),
            eval_message: None,
        }
    }
}

/// A file beside the workspace file (the working folder without one).
fn beside_workspace(ctx: &ViewCtx, name: &str) -> PathBuf {
    ctx.workspace_path
        .and_then(|p| p.parent())
        .map_or_else(|| PathBuf::from(name), |d| d.join(name))
}

/// The hint of an empty path field: the file the default writes and where, without the
/// workspace's own path (so the panel reads the same wherever the workspace is).
fn default_hint(ctx: &ViewCtx, name: &str) -> String {
    if ctx.workspace_path.is_some() {
        format!("{name} beside the workspace file")
    } else {
        name.to_string()
    }
}

/// The path typed, else `default` beside the workspace file.
fn path_or(typed: &str, ctx: &ViewCtx, default: &str) -> PathBuf {
    if typed.trim().is_empty() {
        beside_workspace(ctx, default)
    } else {
        PathBuf::from(typed.trim())
    }
}

/// A neuron's largest activation in its SAE's feature store (when it has one and the neuron
/// was active there).
fn max_act(slot: Option<&SaeSlot>, latent: Option<u32>) -> Option<f32> {
    let f = slot?.store.as_ref()?.feature(latent?)?;
    (f.max_act > 0.0).then_some(f.max_act)
}

fn mode_name(m: NeuronMode) -> &'static str {
    match m {
        NeuronMode::Add => "add",
        NeuronMode::Clamp => "clamp",
        NeuronMode::Ablate => "ablate",
    }
}

fn positions_name(p: Positions) -> &'static str {
    match p {
        Positions::Prompt => "prompt",
        Positions::Generated => "generated",
        Positions::All => "all",
    }
}

impl SteerPanel {
    /// Adds an intervention on a neuron (add, 1 × its max activation when known) and, with
    /// an empty prompt, takes `prompt`.
    pub fn prefill(&mut self, slots: &[SaeSlot], sae: usize, latent: u32, prompt: &str) {
        let layer = slots.get(sae).map_or(0, |s| s.layer);
        let id = format!("{layer}_{latent}");
        if !self.rows.iter().any(|r| r.sae == sae && r.id == id) {
            self.rows.push(Row {
                sae,
                id,
                mode: NeuronMode::Add,
                value: if max_act(slots.get(sae), Some(latent)).is_some() {
                    1.0
                } else {
                    10.0
                },
            });
        }
        if self.prompt.trim().is_empty() {
            self.prompt = prompt.to_string();
        }
    }

    /// A token of one answer arrived.
    pub fn push_token(&mut self, side: Side, text: String, special: bool) {
        let i = match side {
            Side::Default => 0,
            Side::Steered => 1,
        };
        self.streamed[i].push(Streamed { text, special });
    }

    /// The run finished.
    pub fn set_result(&mut self, c: Comparison) {
        self.running = false;
        self.message = None;
        self.result = Some(c);
    }

    /// The run failed or was stopped.
    pub fn set_failed(&mut self, msg: String) {
        self.running = false;
        self.message = Some(msg);
    }

    /// A steer-eval's progress.
    pub fn set_eval_progress(&mut self, done: u64, total: u64) {
        self.eval_progress = (done, total);
    }

    /// A steer-eval finished.
    pub fn set_eval_rows(&mut self, rows: Vec<EvalRow>) {
        self.eval_running = false;
        self.eval_message = None;
        self.eval_rows = rows;
    }

    /// A steer-eval failed or was stopped, or an export said how it went.
    pub fn set_eval_message(&mut self, msg: String) {
        self.eval_running = false;
        self.eval_message = Some(msg);
    }

    /// A row as the library's intervention, with the SAE named: errors say what is wrong.
    fn neuron_set(&self, r: &Row, slots: &[SaeSlot], n: usize) -> Result<NeuronSet, String> {
        let slot = slots
            .get(r.sae)
            .ok_or_else(|| format!("intervention {n}: no SAE chosen"))?;
        let (layer, latent) = crate::db::parse_neuron_id(r.id.trim()).map_err(|_| {
            format!(
                "intervention {n}: `{}` is not a neuron id (write LAYER_INDEX, e.g. {}_12)",
                r.id, slot.layer
            )
        })?;
        if layer != slot.layer {
            return Err(format!(
                "intervention {n}: neuron {layer}_{latent} is not at the layer of SAE `{}` (layer {})",
                slot.name, slot.layer
            ));
        }
        if let Some(info) = &slot.info {
            if latent as usize >= info.d_sae {
                return Err(format!(
                    "intervention {n}: index {latent} is out of range, SAE `{}` has latents 0..{}",
                    slot.name,
                    info.d_sae - 1
                ));
            }
        }
        if !r.value.is_finite() {
            return Err(format!("intervention {n}: the value is not finite"));
        }
        let amount = match r.mode {
            NeuronMode::Ablate => Amount::Abs(0.0),
            NeuronMode::Add if max_act(Some(slot), Some(latent)).is_some() => {
                Amount::TimesMax(r.value)
            }
            _ => Amount::Abs(r.value),
        };
        Ok(NeuronSet {
            neuron: NeuronRef {
                sae: Some(slot.name.clone()),
                layer,
                latent,
            },
            amount,
            mode: r.mode,
        })
    }

    /// A raw-direction row as the library's `--direction`, parsed by the library.
    fn direction_set(d: &DirRow, n: usize) -> Result<DirectionSet, String> {
        let src = d.source.trim();
        if src.is_empty() {
            return Err(format!(
                "direction {n}: type a neuron id (its decoder row, e.g. 1_7) or a .npy / .safetensors file"
            ));
        }
        if !d.c.is_finite() {
            return Err(format!("direction {n}: the value is not finite"));
        }
        let mut spec = src.to_string();
        if !d.hook.trim().is_empty() {
            spec += &format!(",hook={}", d.hook.trim());
        }
        spec += &match d.action {
            DirAction::Add => format!(",op=add,c={}", d.c),
            DirAction::Project => ",op=project".to_string(),
            DirAction::Cap => format!(",op=cap,c={}", d.c),
        };
        spec.parse::<DirectionSet>()
            .map_err(|e| format!("direction {n}: {e:#}"))
    }

    /// The neuron rows as the library's interventions; the first problem as a message.
    pub fn neuron_sets(&self, slots: &[SaeSlot]) -> Result<Vec<NeuronSet>, String> {
        self.rows
            .iter()
            .enumerate()
            .map(|(i, r)| self.neuron_set(r, slots, i + 1))
            .collect()
    }

    /// Every intervention, neurons then raw directions; the first problem as a message.
    pub fn specs(&self, slots: &[SaeSlot]) -> Result<Vec<InterventionSpec>, String> {
        let mut out: Vec<InterventionSpec> = self
            .neuron_sets(slots)?
            .into_iter()
            .map(InterventionSpec::Neuron)
            .collect();
        for (i, d) in self.dirs.iter().enumerate() {
            out.push(InterventionSpec::Direction(Self::direction_set(d, i + 1)?));
        }
        Ok(out)
    }

    fn steer_opts(&self) -> SteerOpts {
        SteerOpts {
            gen: GenerateOpts {
                max_new_tokens: self.max_new_tokens,
                temperature: self.temperature,
                top_p: 1.0,
                seed: self.seed,
                stop_ids: vec![],
            },
            positions: self.positions,
            include_special: self.include_special,
            top_n: 5,
        }
    }

    /// The prompt settings (chat template, system prompt) with this text.
    fn prompt_spec(&self, ctx: &ViewCtx, text: &str) -> PromptSpec {
        PromptSpec::new(text, self.chat && ctx.has_chat_template(), &self.system)
    }

    /// The job "Run steer-eval" sends, or why there is none.
    pub fn eval_job(&self, ctx: &ViewCtx) -> Result<SteerEvalJob, String> {
        let sets = self.specs(ctx.slots)?;
        if sets.is_empty() {
            return Err("Add an intervention first: steer-eval measures each one.".into());
        }
        let prompts = match self.eval_source {
            EvalSource::Starters => {
                let own = ctx
                    .workspace
                    .map(|w| w.starter_prompts.as_slice())
                    .unwrap_or(&[]);
                EvalPrompts::Texts(
                    crate::workspace::starters_of(own)
                        .iter()
                        .map(|p| p.text.clone())
                        .collect(),
                )
            }
            EvalSource::File if self.eval_prompts_file.trim().is_empty() => {
                return Err("Type the prompts file (one prompt per line).".into())
            }
            EvalSource::File => EvalPrompts::File(PathBuf::from(self.eval_prompts_file.trim())),
        };
        let neutral =
            (!self.eval_neutral.trim().is_empty()).then(|| PathBuf::from(self.eval_neutral.trim()));
        Ok(SteerEvalJob {
            sets,
            prompts,
            like: self.prompt_spec(ctx, ""),
            neutral,
            opts: EvalOpts {
                steer: self.steer_opts(),
                window: 256,
                control_seed: 0,
            },
        })
    }

    /// The job the Run button sends, or why there is none.
    pub fn job(&self, ctx: &ViewCtx) -> Result<SteerJob, String> {
        let sets = self.specs(ctx.slots)?;
        let tripwires = ctx
            .workspace
            .map(|w| w.tripwires.clone())
            .unwrap_or_default();
        if sets.is_empty() && tripwires.is_empty() {
            return Err("Add an intervention first (a neuron id, e.g. 1_7).".into());
        }
        if self.prompt.trim().is_empty() {
            return Err("Type a prompt first.".into());
        }
        Ok(SteerJob {
            prompt: self.prompt_spec(ctx, &self.prompt),
            sets,
            tripwires,
            db: ctx.slots.iter().find_map(|s| s.db_path.clone()),
            opts: self.steer_opts(),
        })
    }

    /// Takes a saved set's interventions (SAEs found by name); errors name the entry.
    pub fn load_set(&mut self, set: &SteerSet, slots: &[SaeSlot]) -> Result<(), String> {
        let mut rows = vec![];
        let mut dirs = vec![];
        for text in &set.interventions {
            let s = match text.parse::<InterventionSpec>() {
                Ok(InterventionSpec::Neuron(n)) => n,
                Ok(InterventionSpec::Direction(d)) => {
                    let (action, c) = match d.op {
                        DirOp::Add(c) => (DirAction::Add, c),
                        DirOp::Project => (DirAction::Project, 1.0),
                        DirOp::Cap(c) => (DirAction::Cap, c),
                    };
                    dirs.push(DirRow {
                        source: match &d.source {
                            DirSource::File { path, key: Some(k) } => {
                                format!("{},key={k}", path.display())
                            }
                            DirSource::File { path, key: None } => path.display().to_string(),
                            DirSource::Neuron(n) => n.to_string(),
                        },
                        hook: d.hook.map(|h| h.to_string()).unwrap_or_default(),
                        action,
                        c,
                    });
                    continue;
                }
                Err(e) => return Err(format!("saved set `{}`: {e:#}", set.name)),
            };
            let sae = match &s.neuron.sae {
                Some(name) => slots.iter().position(|c| &c.name == name),
                None => slots.iter().position(|c| c.layer == s.neuron.layer),
            }
            .ok_or_else(|| {
                format!(
                    "saved set `{}`: `{text}` names no SAE of this workspace",
                    set.name
                )
            })?;
            let value = match s.amount {
                Amount::Abs(v) | Amount::TimesMax(v) => v,
            };
            rows.push(Row {
                sae,
                id: format!("{}_{}", s.neuron.layer, s.neuron.latent),
                mode: s.mode,
                value,
            });
        }
        self.rows = rows;
        self.dirs = dirs;
        self.positions = set.positions;
        self.set_name = set.name.clone();
        Ok(())
    }

    /// Draws the panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) -> Option<Command> {
        let mut action = None;
        ui.heading("Steer");
        ui.label(
            RichText::new(
                "Turn neurons up, down or off while the model answers, and compare with the \
                 untouched answer (same seed and sampling settings).",
            )
            .weak(),
        );
        let label = ui.label("Steer prompt");
        ui.add(
            egui::TextEdit::multiline(&mut self.prompt)
                .hint_text("The prompt both answers continue")
                .desired_rows(2)
                .desired_width(f32::INFINITY),
        )
        .labelled_by(label.id);
        ui.horizontal_wrapped(|ui| {
            chat_controls(
                ui,
                ctx.has_chat_template(),
                &mut self.chat,
                &mut self.system,
            );
        });
        ui.add_space(4.0);
        action = action.or(self.sets_ui(ui, ctx));
        self.rows_ui(ui, ctx.slots);
        self.dirs_ui(ui);
        self.add_buttons(ui, ctx.slots);
        action = action.or(self.export_ui(ui, ctx));
        ui.add_space(4.0);
        action = action.or(self.tripwires_ui(ui, ctx));
        ui.add_space(4.0);
        ui.horizontal_wrapped(|ui| {
            if self.running {
                if ui.button("Stop").clicked() {
                    action = Some(Command::Cancel);
                }
                crate::app::widgets::spinner(ui);
            } else {
                let can = ctx.ready() && !ctx.busy;
                if ui
                    .add_enabled(can, egui::Button::new("▶ Run steering"))
                    .on_disabled_hover_text("The model is loading or busy")
                    .clicked()
                {
                    match self.job(ctx) {
                        Ok(job) => {
                            self.running = true;
                            self.message = None;
                            self.result = None;
                            self.streamed = [vec![], vec![]];
                            action = Some(Command::Steer(Box::new(job)));
                        }
                        Err(e) => self.message = Some(e),
                    }
                }
            }
            ui.separator();
            let l = ui.label("Positions");
            choice(
                ui,
                "steer-positions",
                &mut self.positions,
                &[Positions::All, Positions::Prompt, Positions::Generated],
                positions_name,
                l.id,
                None,
            )
            .on_hover_text(
                "Where the interventions apply: the prompt's tokens, the answer's, or both",
            );
            let l = ui.label("max new tokens");
            ui.add(egui::DragValue::new(&mut self.max_new_tokens).range(1..=1024))
                .labelled_by(l.id);
            let l = ui.label("temperature");
            ui.add(
                egui::DragValue::new(&mut self.temperature)
                    .range(0.0..=2.0)
                    .speed(0.05),
            )
            .labelled_by(l.id)
            .on_hover_text("0 = greedy");
            let l = ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.seed))
                .labelled_by(l.id);
            ui.checkbox(&mut self.include_special, "Steer special tokens too")
                .on_hover_text(
                    "Chat-template markers and BOS/EOS are left untouched unless this is on \
                     (--steer-special)",
                );
        });
        if let Some(m) = &self.message {
            ui.colored_label(ui.visuals().error_fg_color, m);
        }
        ui.separator();
        self.answers_ui(ui);
        ui.separator();
        action = action.or(self.eval_ui(ui, ctx));
        action
    }

    fn dirs_ui(&mut self, ui: &mut egui::Ui) {
        let mut remove = None;
        if !self.dirs.is_empty() {
            egui::Grid::new("steer-dirs")
                .num_columns(6)
                .spacing([8.0, 4.0])
                .show(ui, |ui| {
                    let h_src = ui
                        .strong("raw direction")
                        .on_hover_text(
                            "A neuron id (its decoder row: 1_7, or NAME:1_7) or a .npy / \
                             .safetensors file with one vector of the model's width (append \
                             ,key=NAME to pick a tensor)",
                        )
                        .id;
                    let h_hook = ui.strong("hook").id;
                    let h_op = ui.strong("op").id;
                    ui.strong("c");
                    ui.label("");
                    ui.label("");
                    ui.end_row();
                    for (i, d) in self.dirs.iter_mut().enumerate() {
                        ui.add_sized(
                            [230.0, 20.0],
                            egui::TextEdit::singleline(&mut d.source)
                                .hint_text("1_7 or vector.npy"),
                        )
                        .labelled_by(h_src);
                        ui.add_sized(
                            [170.0, 20.0],
                            egui::TextEdit::singleline(&mut d.hook)
                                .hint_text("the neuron's SAE's hook"),
                        )
                        .labelled_by(h_hook);
                        choice(
                            ui,
                            ("steer-dir-op", i),
                            &mut d.action,
                            &[DirAction::Add, DirAction::Project, DirAction::Cap],
                            dir_action_name,
                            h_op,
                            Some(90.0),
                        );
                        match d.action {
                            DirAction::Add => {
                                ui.add(
                                    egui::Slider::new(&mut d.c, -200.0..=200.0)
                                        .logarithmic(true)
                                        .clamping(egui::SliderClamping::Never)
                                        .text("× v"),
                                );
                                ui.label(RichText::new("adds c · v (v as given)").weak());
                            }
                            DirAction::Project => {
                                ui.label(RichText::new("removes x's component along v").weak());
                                ui.label("");
                            }
                            DirAction::Cap => {
                                ui.add(
                                    egui::Slider::new(&mut d.c, 0.0..=100.0)
                                        .clamping(egui::SliderClamping::Never)
                                        .text("largest x·v̂"),
                                );
                                ui.label(RichText::new("caps the projection on v̂").weak());
                            }
                        }
                        if ui.small_button("×").on_hover_text("Remove").clicked() {
                            remove = Some(i);
                        }
                        ui.end_row();
                    }
                });
        }
        if let Some(i) = remove {
            self.dirs.remove(i);
        }
    }

    fn export_ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) -> Option<Command> {
        let mut action = None;
        ui.horizontal_wrapped(|ui| {
            let l = ui.label("lm-eval CSV");
            ui.add(
                egui::TextEdit::singleline(&mut self.csv_path)
                    .hint_text(default_hint(ctx, "steering-lm-eval.csv"))
                    .desired_width(320.0),
            )
            .labelled_by(l.id);
            let can = ctx.ready() && !ctx.busy && !self.rows.is_empty();
            if ui
                .add_enabled(can, egui::Button::new("Export for lm-eval…"))
                .on_hover_text(
                    "Writes the neuron interventions as lm-evaluation-harness's steered-model CSV \
                     (loader, action, sparse_model, hookpoint, feature_index, \
                     steering_coefficient, sae_id, description); raw directions have no row there",
                )
                .on_disabled_hover_text("Add a neuron intervention (and wait for the model)")
                .clicked()
            {
                match self.specs(ctx.slots) {
                    Ok(sets) => {
                        let path = path_or(&self.csv_path, ctx, "steering-lm-eval.csv");
                        self.eval_message = None;
                        action = Some(Command::ExportLmEval { sets, path });
                    }
                    Err(e) => self.eval_message = Some(e),
                }
            }
        });
        action
    }

    fn eval_ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) -> Option<Command> {
        let mut action = None;
        ui.strong("What it costs (steer-eval)");
        ui.label(
            RichText::new(
                "Each intervention alone over a list of prompts (how often the answer changes, \
                 the mean KL per token) and on a neutral text (the change of next-token \
                 cross-entropy: the capability cost), beside a random direction of the same \
                 norm at the same hook.",
            )
            .weak(),
        );
        let n_starters = crate::workspace::starters_of(
            ctx.workspace
                .map(|w| w.starter_prompts.as_slice())
                .unwrap_or(&[]),
        )
        .len();
        ui.horizontal_wrapped(|ui| {
            ui.label("Prompts:");
            ui.radio_value(
                &mut self.eval_source,
                EvalSource::Starters,
                format!("starter prompts ({n_starters})"),
            );
            ui.radio_value(&mut self.eval_source, EvalSource::File, "prompts file");
            if self.eval_source == EvalSource::File {
                let l = ui.label("Prompts file");
                ui.add(
                    egui::TextEdit::singleline(&mut self.eval_prompts_file)
                        .hint_text("one prompt per line")
                        .desired_width(300.0),
                )
                .labelled_by(l.id);
            }
        });
        ui.horizontal_wrapped(|ui| {
            let l = ui.label("Neutral text");
            ui.add(
                egui::TextEdit::singleline(&mut self.eval_neutral)
                    .hint_text("empty: the built-in neutral text")
                    .desired_width(300.0),
            )
            .labelled_by(l.id)
            .on_hover_text(
                "A UTF-8 text file. Empty: 60 generated documents on everyday topics (English \
                 and Chinese), the same every time",
            );
        });
        ui.horizontal_wrapped(|ui| {
            if self.eval_running {
                if ui.button("Stop steer-eval").clicked() {
                    action = Some(Command::Cancel);
                }
                let (done, total) = self.eval_progress;
                let f = if total == 0 {
                    0.0
                } else {
                    done as f32 / total as f32
                };
                ui.add(
                    egui::ProgressBar::new(f)
                        .desired_width(240.0)
                        .text(format!("{done} / {total} answers")),
                );
            } else {
                let can = ctx.ready() && !ctx.busy;
                if ui
                    .add_enabled(can, egui::Button::new("▶ Run steer-eval"))
                    .on_disabled_hover_text("The model is loading or busy")
                    .clicked()
                {
                    match self.eval_job(ctx) {
                        Ok(job) => {
                            self.eval_running = true;
                            self.eval_progress = (0, 0);
                            self.eval_message = None;
                            action = Some(Command::SteerEval(Box::new(job)));
                        }
                        Err(e) => self.eval_message = Some(e),
                    }
                }
                ui.label(
                    RichText::new("with the sampling settings, positions and seed above").weak(),
                );
            }
        });
        if let Some(m) = &self.eval_message {
            let color = if m.starts_with("wrote ") || m.starts_with("saved ") {
                ui.visuals().text_color()
            } else {
                ui.visuals().error_fg_color
            };
            ui.colored_label(color, m);
        }
        if !self.eval_rows.is_empty() {
            self.eval_results_ui(ui, ctx);
        }
        action
    }

    /// The steer-eval's table and bar plot, and "Save as Parquet".
    fn eval_results_ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) {
        let pairs = eval_pairs(&self.eval_rows);
        let prompts = self.eval_rows[0].prompts;
        let ce = self.eval_rows[0].ce_default;
        ui.label(format!(
            "{} interventions over {prompts} prompts; neutral-text cross-entropy without any: \
             {ce:.4} nats per token",
            pairs.len()
        ));
        egui::Grid::new("steer-eval-table")
            .num_columns(9)
            .striped(true)
            .spacing([12.0, 2.0])
            .show(ui, |ui| {
                for h in [
                    "#",
                    "intervention",
                    "answers differ",
                    "KL / token",
                    "Δ CE (nats)",
                    "control: differ",
                    "control: KL",
                    "control: Δ CE",
                    "‖Δx‖",
                ] {
                    ui.strong(h);
                }
                ui.end_row();
                for (i, (r, c)) in pairs.iter().enumerate() {
                    ui.label(format!("{}", i + 1));
                    ui.label(RichText::new(&r.intervention).monospace());
                    ui.label(format!("{:.0}%", 100.0 * r.frac_differ));
                    ui.label(format!("{:.4}", r.mean_kl));
                    ui.label(format!("{:+.4}", r.delta_ce));
                    match c {
                        Some(c) => {
                            ui.label(format!("{:.0}%", 100.0 * c.frac_differ));
                            ui.label(format!("{:.4}", c.mean_kl));
                            ui.label(format!("{:+.4}", c.delta_ce));
                        }
                        None => {
                            for _ in 0..3 {
                                ui.label("–");
                            }
                        }
                    }
                    ui.label(format!("{:.3}", r.applied_norm));
                    ui.end_row();
                }
            });
        ui.horizontal_wrapped(|ui| {
            let l = ui.label("Plot");
            choice(
                ui,
                "steer-eval-metric",
                &mut self.eval_metric,
                &[
                    EvalMetric::DeltaCe,
                    EvalMetric::MeanKl,
                    EvalMetric::FracDiffer,
                ],
                EvalMetric::name,
                l.id,
                None,
            );
        });
        let metric = self.eval_metric;
        let charts: Vec<egui_plot::BarChart> = ["intervention", "random control"]
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let bars: Vec<egui_plot::Bar> = pairs
                    .iter()
                    .enumerate()
                    .filter_map(|(i, (r, c))| {
                        let row = if k == 0 { Some(*r) } else { *c };
                        row.map(|row| {
                            egui_plot::Bar::new(
                                (i + 1) as f64 + if k == 0 { -0.18 } else { 0.18 },
                                metric.of(row),
                            )
                            .width(0.34)
                            .name(format!(
                                "#{} {}",
                                i + 1,
                                row.intervention
                            ))
                        })
                    })
                    .collect();
                egui_plot::BarChart::new(*name, bars).color(EVAL_COLORS[k])
            })
            .collect();
        let n = pairs.len();
        egui_plot::Plot::new("steer-eval-plot")
            .height(170.0)
            .x_axis_formatter(move |m, _| {
                let i = m.value.round();
                if (m.value - i).abs() < 1e-6 && i >= 1.0 && i as usize <= n {
                    format!("#{i}")
                } else {
                    String::new()
                }
            })
            .allow_zoom(false)
            .allow_drag(false)
            .allow_scroll(false)
            .legend(egui_plot::Legend::default())
            .show(ui, |p| {
                for c in charts {
                    p.bar_chart(c);
                }
            });
        ui.horizontal_wrapped(|ui| {
            let l = ui.label("Parquet file");
            ui.add(
                egui::TextEdit::singleline(&mut self.parquet_path)
                    .hint_text(default_hint(ctx, "steer-eval.parquet"))
                    .desired_width(320.0),
            )
            .labelled_by(l.id);
            if ui
                .button("Save as Parquet…")
                .on_hover_text("The same file as `safe-sail steer-eval --out`")
                .clicked()
            {
                let path = path_or(&self.parquet_path, ctx, "steer-eval.parquet");
                self.eval_message = Some(
                    match crate::steer::eval::write_parquet(&self.eval_rows, &path) {
                        Ok(()) => {
                            format!("saved {} rows to {}", self.eval_rows.len(), path.display())
                        }
                        Err(e) => format!("error: {e:#}"),
                    },
                );
            }
        });
    }

    fn sets_ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) -> Option<Command> {
        let mut action = None;
        let sets: Vec<SteerSet> = ctx
            .workspace
            .map(|w| w.steer_sets.clone())
            .unwrap_or_default();
        ui.horizontal_wrapped(|ui| {
            ui.strong("Interventions");
            ui.separator();
            let l = ui.label("Saved sets");
            let mut chosen = None;
            egui::ComboBox::from_id_salt("steer-sets")
                .selected_text(if sets.is_empty() {
                    "none yet"
                } else {
                    "load…"
                })
                .show_ui(ui, |ui| {
                    for s in &sets {
                        if ui
                            .selectable_label(self.set_name == s.name, &s.name)
                            .clicked()
                        {
                            chosen = Some(s.clone());
                        }
                    }
                })
                .response
                .labelled_by(l.id);
            if let Some(s) = chosen {
                if let Err(e) = self.load_set(&s, ctx.slots) {
                    self.message = Some(e);
                }
            }
            let l = ui.label("Save as");
            ui.add(
                egui::TextEdit::singleline(&mut self.set_name)
                    .hint_text("set name")
                    .desired_width(160.0),
            )
            .labelled_by(l.id);
            let can = !self.set_name.trim().is_empty()
                && (!self.rows.is_empty() || !self.dirs.is_empty());
            if ui
                .add_enabled(can, egui::Button::new("Save set"))
                .on_hover_text("Kept in the workspace file")
                .clicked()
            {
                match self.specs(ctx.slots) {
                    Ok(v) => {
                        action = Some(Command::SaveSteerSet(SteerSet {
                            name: self.set_name.trim().to_string(),
                            interventions: v.iter().map(|s| s.to_string()).collect(),
                            positions: self.positions,
                        }))
                    }
                    Err(e) => self.message = Some(e),
                }
            }
        });
        action
    }

    fn rows_ui(&mut self, ui: &mut egui::Ui, slots: &[SaeSlot]) {
        let mut remove = None;
        egui::Grid::new("steer-rows")
            .num_columns(6)
            .spacing([8.0, 4.0])
            .show(ui, |ui| {
                if self.rows.is_empty() {
                    return;
                }
                // Headers, which also label each row's controls (screen readers, tests).
                let h_sae = ui.strong("SAE").id;
                let h_neuron = ui.strong("neuron").id;
                let h_mode = ui.strong("mode").id;
                ui.strong("strength");
                ui.label("");
                ui.label("");
                ui.end_row();
                for (i, r) in self.rows.iter_mut().enumerate() {
                    egui::ComboBox::from_id_salt(("steer-sae", i))
                        .width(230.0)
                        .selected_text(slots.get(r.sae).map_or("choose an SAE", |s| &s.name))
                        .show_ui(ui, |ui| {
                            for (k, s) in slots.iter().enumerate() {
                                ui.selectable_value(&mut r.sae, k, &s.name);
                            }
                        })
                        .response
                        .labelled_by(h_sae);
                    let id = ui
                        .add_sized(
                            [90.0, 20.0],
                            egui::TextEdit::singleline(&mut r.id).hint_text("L_I"),
                        )
                        .labelled_by(h_neuron);
                    if id.changed() {
                        // A neuron id at another layer picks that layer's SAE when it has one.
                        if let Ok((layer, _)) = crate::db::parse_neuron_id(r.id.trim()) {
                            let at: Vec<usize> = (0..slots.len())
                                .filter(|&k| slots[k].layer == layer)
                                .collect();
                            if slots.get(r.sae).map(|s| s.layer) != Some(layer) && at.len() == 1 {
                                r.sae = at[0];
                            }
                        }
                    }
                    egui::ComboBox::from_id_salt(("steer-mode", i))
                        .width(70.0)
                        .selected_text(mode_name(r.mode))
                        .show_ui(ui, |ui| {
                            for m in [NeuronMode::Add, NeuronMode::Clamp, NeuronMode::Ablate] {
                                ui.selectable_value(&mut r.mode, m, mode_name(m));
                            }
                        })
                        .response
                        .labelled_by(h_mode);
                    let latent = crate::db::parse_neuron_id(r.id.trim()).ok().map(|(_, l)| l);
                    let max = max_act(slots.get(r.sae), latent);
                    match (r.mode, max) {
                        (NeuronMode::Ablate, _) => {
                            ui.label(RichText::new("sets the neuron to 0").weak());
                            ui.label("");
                        }
                        (NeuronMode::Add, Some(m)) => {
                            ui.add(
                                egui::Slider::new(&mut r.value, -20.0..=20.0)
                                    .logarithmic(true)
                                    .clamping(egui::SliderClamping::Never)
                                    .text("× max"),
                            );
                            ui.label(
                                RichText::new(format!(
                                    "= {:.3} (max act {m:.3})",
                                    r.value * m as f64
                                ))
                                .weak(),
                            );
                        }
                        (NeuronMode::Add, None) => {
                            ui.add(
                                egui::Slider::new(&mut r.value, -200.0..=200.0)
                                    .logarithmic(true)
                                    .clamping(egui::SliderClamping::Never)
                                    .text("absolute"),
                            );
                            ui.label(RichText::new("absolute: no max activation known").weak());
                        }
                        (NeuronMode::Clamp, m) => {
                            let top = m.map_or(100.0, |m| (3.0 * m as f64).max(1.0));
                            ui.add(
                                egui::Slider::new(&mut r.value, 0.0..=top)
                                    .clamping(egui::SliderClamping::Never)
                                    .text("value"),
                            );
                            ui.label(RichText::new("the neuron's activation, set").weak());
                        }
                    }
                    if ui.small_button("×").on_hover_text("Remove").clicked() {
                        remove = Some(i);
                    }
                    ui.end_row();
                }
            });
        if let Some(i) = remove {
            self.rows.remove(i);
        }
    }

    /// The buttons that add a neuron row or a raw direction.
    fn add_buttons(&mut self, ui: &mut egui::Ui, slots: &[SaeSlot]) {
        ui.horizontal_wrapped(|ui| {
            if ui.button("+ Add intervention").clicked() {
                let sae = self
                    .rows
                    .last()
                    .map_or(0, |r| r.sae)
                    .min(slots.len().saturating_sub(1));
                self.rows.push(Row {
                    sae,
                    id: String::new(),
                    mode: NeuronMode::Add,
                    value: 1.0,
                });
            }
            if ui
                .button("+ Add raw direction")
                .on_hover_text(
                    "Add, project out or cap a direction: another neuron's decoder row or a vector \
                     file (.npy / .safetensors)",
                )
                .clicked()
            {
                self.dirs.push(DirRow {
                    source: String::new(),
                    hook: String::new(),
                    action: DirAction::Project,
                    c: 1.0,
                });
            }
        });
    }

    fn tripwires_ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) -> Option<Command> {
        let mut action = None;
        let current: Vec<String> = ctx
            .workspace
            .map(|w| w.tripwires.clone())
            .unwrap_or_default();
        ui.horizontal_wrapped(|ui| {
            ui.strong("Tripwires").on_hover_text(
                "ID_OR_DOMAIN>THRESHOLD[:stop|:steer=L_I=VALUE[:mode]], the threshold in \
                 normalized units (activation ÷ the neuron's 0.999 quantile). They watch the \
                 steered answer here and are marked in the inspector; kept in the workspace file.",
            );
            for (i, t) in current.iter().enumerate() {
                ui.label(RichText::new(t).monospace());
                if ui.small_button("×").on_hover_text("Remove").clicked() {
                    let mut v = current.clone();
                    v.remove(i);
                    action = Some(Command::SetTripwires(v));
                }
            }
            let l = ui.label("New tripwire");
            let te = ui
                .add(
                    egui::TextEdit::singleline(&mut self.tripwire)
                        .hint_text("violence>0.8:stop")
                        .desired_width(200.0),
                )
                .labelled_by(l.id);
            let enter = te.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Add tripwire").clicked() || enter) && !self.tripwire.trim().is_empty() {
                let t = self.tripwire.trim().to_string();
                match t.parse::<TripwireSpec>() {
                    Ok(_) => {
                        let mut v = current.clone();
                        v.push(t);
                        self.tripwire.clear();
                        action = Some(Command::SetTripwires(v));
                    }
                    Err(e) => self.message = Some(format!("{e:#}")),
                }
            }
        });
        action
    }

    fn answers_ui(&self, ui: &mut egui::Ui) {
        if self.result.is_none() && self.streamed.iter().all(Vec::is_empty) {
            ui.label(
                RichText::new("Run to see the default and the steered answer side by side.").weak(),
            );
            return;
        }
        if let Some(c) = &self.result {
            kl_legend(ui);
            match c.first_divergence {
                Some(i) => {
                    let tok = |a: &crate::steer::Answer| {
                        a.tokens
                            .get(i)
                            .map_or("(end)".to_string(), |t| format!("{:?}", t.token))
                    };
                    let mean = c.per_token.iter().map(|t| t.kl).sum::<f64>()
                        / c.per_token.len().max(1) as f64;
                    ui.label(format!(
                        "First divergence at answer token {i}: {} (default) vs {} (steered) · mean KL {mean:.3} nats per token",
                        tok(&c.default),
                        tok(&c.steered)
                    ));
                }
                None => {
                    ui.label("The answers are identical.");
                }
            }
            for e in &c.tripwires {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!(
                        "Tripwire `{}` fired at answer token {} ({:?}): neuron {} = {:.3} ({:.2} normalized) → {}",
                        e.tripwire, e.index, e.token, e.neuron, e.value, e.normalized, e.action
                    ),
                );
            }
        }
        ui.columns(2, |cols| {
            for (k, (ui, title)) in cols.iter_mut().zip(["Default", "Steered"]).enumerate() {
                ui.strong(title);
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    self.answer_strip(ui, k);
                });
            }
        });
    }

    /// One answer's tokens: streamed ones plain, finished ones shaded by the KL at each step,
    /// the first divergence underlined, both top-5 lists on hover.
    fn answer_strip(&self, ui: &mut egui::Ui, side: usize) {
        let Some(c) = &self.result else {
            let toks = self.streamed[side].iter().map(|t| StripToken {
                text: &t.text,
                special: t.special,
                shade: None,
                hover: None,
            });
            TokenStrip::new(toks).small_specials().show(ui, None);
            return;
        };
        let answer = if side == 0 { &c.default } else { &c.steered };
        let toks = answer.tokens.iter().enumerate().map(|(i, t)| StripToken {
            text: &t.token,
            special: t.special,
            shade: c
                .per_token
                .get(i)
                .map(|p| (KL_COLOR, (p.kl / KL_FULL) as f32)),
            hover: None,
        });
        let mut tooltip = |ui: &mut egui::Ui, i: usize| {
            let Some(p) = c.per_token.get(i) else {
                ui.label("No steered token at this step.");
                return;
            };
            ui.strong(format!("Step {i} · KL {:.4} nats", p.kl));
            ui.label(
                RichText::new("next-token distributions on the steered answer's prefix")
                    .small()
                    .weak(),
            );
            egui::Grid::new(("steer-top", side, i)).show(ui, |ui| {
                ui.strong("default (unsteered)");
                ui.strong("steered");
                ui.end_row();
                for k in 0..p.top_default.len().max(p.top_steered.len()) {
                    let cell = |s: Option<&Scored>| {
                        s.map_or(String::new(), |s| {
                            format!("{:?}  {:.1}%", s.token, 100.0 * (s.logprob as f64).exp())
                        })
                    };
                    ui.label(RichText::new(cell(p.top_default.get(k))).monospace());
                    ui.label(RichText::new(cell(p.top_steered.get(k))).monospace());
                    ui.end_row();
                }
            });
        };
        TokenStrip::new(toks)
            .small_specials()
            .selected(c.first_divergence)
            .contrast(true)
            .show(ui, Some(&mut tooltip));
    }
}

/// The steer-eval's rows as (intervention, its control) pairs, in order.
pub fn eval_pairs(rows: &[EvalRow]) -> Vec<(&EvalRow, Option<&EvalRow>)> {
    let mut out = vec![];
    let mut it = rows.iter().peekable();
    while let Some(r) = it.next() {
        if r.control {
            continue;
        }
        let c = it.next_if(|c| c.control);
        out.push((r, c));
    }
    out
}

/// The KL shading's scale, in nats.
fn kl_legend(ui: &mut egui::Ui) {
    ui.horizontal_wrapped(|ui| {
        ui.label("KL divergence per token (nats):");
        for (v, name) in [(0.1, "0.1"), (0.5, "0.5"), (1.0, "1"), (KL_FULL, "≥ 2")] {
            ui.label(
                RichText::new(format!(" {name} "))
                    .background_color(crate::app::style::shade(KL_COLOR, (v / KL_FULL) as f32))
                    .color(Color32::WHITE),
            )
            .on_hover_text(
                "KL(P_default || P_steered) between the unsteered and the steered model's \
                 next-token distributions (temperature 1) on the steered answer's prefix",
            );
        }
        ui.label(
            RichText::new("underlined: first divergence · hover a token for both top 5").weak(),
        );
    });
}

/// The workspace's tripwires as neurons of its SAEs (a domain: every verified neuron with that
/// tag); tripwires that name nothing here come back as messages.
pub fn tripwire_watches(ctx: &ViewCtx) -> (Vec<TripwireWatch>, Vec<String>) {
    let (mut out, mut errors) = (vec![], vec![]);
    let Some(ws) = ctx.workspace else {
        return (out, errors);
    };
    for spec in &ws.tripwires {
        let t = match spec.parse::<TripwireSpec>() {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{e:#}"));
                continue;
            }
        };
        let before = out.len();
        let mut push = |sae: usize, layer: usize, latent: u32| {
            out.push(TripwireWatch {
                spec: spec.clone(),
                sae,
                latent,
                id: format!("{layer}_{latent}"),
                threshold: t.threshold as f32,
            })
        };
        match &t.watch {
            Watch::Neuron(n) => {
                let at: Vec<usize> = (0..ctx.slots.len())
                    .filter(|&k| {
                        ctx.slots[k].layer == n.layer
                            && n.sae.as_ref().is_none_or(|name| &ctx.slots[k].name == name)
                    })
                    .collect();
                match at.as_slice() {
                    [k] => push(*k, n.layer, n.latent),
                    [] => errors.push(format!("tripwire `{spec}`: no SAE reads layer {}", n.layer)),
                    _ => errors.push(format!(
                        "tripwire `{spec}`: several SAEs read layer {}: write NAME:{}_{}",
                        n.layer, n.layer, n.latent
                    )),
                }
            }
            Watch::Domain(tag) => {
                for (k, slot) in ctx.slots.iter().enumerate() {
                    let prefix = format!("{}_", slot.layer);
                    for (id, rec) in &slot.db.records {
                        if !id.starts_with(&prefix) || !rec.has_tag(tag.as_str()) {
                            continue;
                        }
                        if ctx.review_status(k, id) != ReviewStatus::Verified {
                            continue;
                        }
                        if let Ok((layer, latent)) = crate::db::parse_neuron_id(id) {
                            push(k, layer, latent);
                        }
                    }
                }
                if out.len() == before {
                    errors.push(format!(
                        "tripwire `{spec}`: no verified neuron is tagged `{tag}`"
                    ));
                }
            }
        }
    }
    (out, errors)
}
