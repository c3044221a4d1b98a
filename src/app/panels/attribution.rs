//! The Attribution view: which SAE neurons drove a metric of the model's output (the
//! library's [`crate::attribute`], run on the engine thread). Inputs: a prompt (optionally
//! through the chat template), the start of the answer, a metric (`logprob:TOKEN`,
//! `logit-diff:A,B`, `continuation:TEXT`), how many neurons to list and whether to ablate them
//! for real. Results: the metric's value; a tokens × layers grid of attribution mass (error
//! nodes on request); the top neurons ranked, with explanations and tags (safety rows tinted
//! by domain), each opening its page; a small graph of the top neurons between layers; and
//! the attribution graph JSON, as `safe-sail attribute --graph-out` writes it.

use crate::app::ctx::ViewCtx;
use crate::app::engine::{AttributeJob, Attributed};
use crate::app::style::{domain_color, shade, token_label};
use crate::app::widgets::{chat_controls, choice, tag_chip};
use crate::app::Command;
use crate::attribute::{Attribution, MetricSpec, NeuronNode};
use crate::model::PromptSpec;
use eframe::egui::{self, Color32, RichText, Sense};
use std::path::PathBuf;
use std::sync::mpsc::Receiver;

/// Positive attribution (the neuron raises the metric).
pub const POS_COLOR: Color32 = Color32::from_rgb(225, 85, 60);
/// Negative attribution (the neuron lowers the metric).
pub const NEG_COLOR: Color32 = Color32::from_rgb(70, 135, 235);
/// Neurons drawn in the small graph (the top of the list).
pub const GRAPH_SHOWN: usize = 12;

/// The metric's kind, as chosen in the panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    LogProb,
    LogitDiff,
    Continuation,
}

impl MetricKind {
    fn name(self) -> &'static str {
        match self {
            MetricKind::LogProb => "logprob:TOKEN",
            MetricKind::LogitDiff => "logit-diff:A,B",
            MetricKind::Continuation => "continuation:TEXT",
        }
    }
}

/// The panel's state.
pub struct AttributionPanel {
    pub prompt: String,
    pub chat: bool,
    pub system: String,
    /// The start of the model's answer (the metric is read after it).
    pub answer: String,
    pub kind: MetricKind,
    /// logprob's TOKEN, logit-diff's A.
    pub token: String,
    /// logit-diff's B.
    pub token_b: String,
    /// continuation's TEXT.
    pub continuation: String,
    pub top: usize,
    pub exact: bool,
    /// A run is going.
    pub running: bool,
    pub result: Option<Attributed>,
    /// An error or a note, shown under Run.
    pub message: Option<String>,
    /// Error nodes as rows of the grid.
    pub show_errors: bool,
    /// Where "Export graph JSON…" writes.
    pub export_path: String,
    export: Option<Receiver<Result<PathBuf, String>>>,
    /// The last export's outcome.
    pub export_message: Option<String>,
}

impl Default for AttributionPanel {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            chat: true,
            system: "You are a helpful assistant.".into(),
            answer: String::new(),
            kind: MetricKind::LogProb,
            token: String::new(),
            token_b: String::new(),
            continuation: String::new(),
            top: 20,
            exact: false,
            running: false,
            result: None,
            message: None,
            show_errors: false,
            export_path: String::new(),
            export: None,
            export_message: None,
        }
    }
}

impl AttributionPanel {
    /// Takes a prompt from elsewhere (the inspector's "Attribute…").
    pub fn take_prompt(&mut self, prompt: &str, chat: bool, system: &str) {
        self.prompt = prompt.to_string();
        self.chat = chat;
        self.system = system.to_string();
        self.message = None;
    }

    /// The metric as `safe-sail attribute --metric` writes it.
    pub fn metric_text(&self) -> String {
        match self.kind {
            MetricKind::LogProb => format!("logprob:{}", self.token),
            MetricKind::LogitDiff => format!("logit-diff:{},{}", self.token, self.token_b),
            MetricKind::Continuation => format!("continuation:{}", self.continuation),
        }
    }

    /// The job Run sends, or what is wrong with the input.
    pub fn job(&self, ctx: &ViewCtx) -> Result<AttributeJob, String> {
        if self.prompt.trim().is_empty() {
            return Err("Type a prompt first.".into());
        }
        if self.kind == MetricKind::LogitDiff && self.token.contains(',') {
            return Err("Bad metric: token A may not contain a comma.".into());
        }
        let metric: MetricSpec = self
            .metric_text()
            .parse()
            .map_err(|e| format!("Bad metric: {e:#}"))?;
        let saes: Vec<usize> = (0..ctx.slots.len())
            .filter(|&i| ctx.slots[i].info.is_some() && ctx.inspected(i))
            .collect();
        if saes.is_empty() {
            return Err(
                "No SAE to attribute to: tick one for the inspector in the workspace panel.".into(),
            );
        }
        if self.top == 0 {
            return Err("Top N must be at least 1.".into());
        }
        let chat = self.chat && ctx.has_chat_template();
        Ok(AttributeJob {
            prompt: PromptSpec {
                truncate: false,
                ..PromptSpec::new(self.prompt.as_str(), chat, &self.system)
            },
            answer: (!self.answer.is_empty()).then(|| self.answer.clone()),
            metric,
            saes,
            top: self.top,
            exact: self.exact,
        })
    }

    /// The run finished.
    pub fn set_result(&mut self, r: Attributed, workspace: Option<&std::path::Path>) {
        self.running = false;
        self.message = None;
        self.export_message = None;
        if self.export_path.trim().is_empty() {
            let dir = workspace
                .and_then(|p| p.parent())
                .map(|d| d.to_path_buf())
                .unwrap_or_default();
            self.export_path = dir.join("attribution-graph.json").display().to_string();
        }
        self.result = Some(r);
    }

    /// The run failed or was stopped.
    pub fn set_failed(&mut self, msg: String) {
        self.running = false;
        self.message = Some(msg);
    }

    /// Forgets the result (another workspace was opened).
    pub fn workspace_changed(&mut self) {
        self.running = false;
        self.result = None;
    }

    /// The attribution graph JSON of the result, explanations from the workspace's databases
    /// (as `safe-sail attribute --graph-out` writes it with `--db`).
    pub fn graph_json(&self, ctx: &ViewCtx, path: &std::path::Path) -> Option<serde_json::Value> {
        Some(graph_json(self.result.as_ref()?, ctx, path))
    }

    /// Writes the graph JSON of `r` to `export_path` on a thread of its own (atomically).
    fn export(&mut self, ctx: &ViewCtx, r: &Attributed) {
        let path = PathBuf::from(self.export_path.trim());
        if path.as_os_str().is_empty() {
            self.export_message = Some("error: give a file to write the graph to".into());
            return;
        }
        let json = graph_json(r, ctx, &path);
        let text = match serde_json::to_string_pretty(&json) {
            Ok(t) => t,
            Err(e) => {
                self.export_message = Some(format!("error: {e}"));
                return;
            }
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = crate::fsutil::write_atomic(&path, text.as_bytes())
                .map(|_| path)
                .map_err(|e| format!("{e:#}"));
            let _ = tx.send(r);
        });
        self.export_message = Some("writing …".into());
        self.export = Some(rx);
    }

    /// Whether an export is still being written.
    pub fn exporting(&self) -> bool {
        self.export.is_some()
    }

    fn poll_export(&mut self, ui: &egui::Ui) {
        let Some(rx) = &self.export else { return };
        match rx.try_recv() {
            Ok(r) => {
                self.export = None;
                self.export_message = Some(match r {
                    Ok(p) => format!("wrote {}", p.display()),
                    Err(e) => format!("error: {e}"),
                });
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_millis(30));
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                self.export = None;
                self.export_message = Some("error: the export stopped".into());
            }
        }
    }

    /// Draws the panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) -> Option<Command> {
        self.poll_export(ui);
        let mut action = None;
        ui.heading("Attribution");
        ui.label(
            RichText::new(
                "Which SAE neurons drove an output: one forward pass with the SAEs spliced in \
                 (errors kept) and one backward pass from the metric; a neuron's attribution \
                 is activation × gradient, the metric's drop if it were zero-ablated.",
            )
            .weak(),
        );
        let label = ui.label("Attribution prompt");
        ui.add(
            egui::TextEdit::multiline(&mut self.prompt)
                .hint_text("The prompt, e.g. a request the model refuses")
                .desired_rows(3)
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
            let l = ui.label("Answer start");
            ui.add(
                egui::TextEdit::singleline(&mut self.answer)
                    .hint_text("optional: the answer so far")
                    .desired_width(220.0),
            )
            .labelled_by(l.id)
            .on_hover_text("Appended after the prompt; the metric is read after it");
        });
        ui.horizontal_wrapped(|ui| {
            let l = ui.label("Metric");
            choice(
                ui,
                "attribution-metric",
                &mut self.kind,
                &[
                    MetricKind::LogProb,
                    MetricKind::LogitDiff,
                    MetricKind::Continuation,
                ],
                MetricKind::name,
                l.id,
                None,
            );
            match self.kind {
                MetricKind::LogProb => {
                    let l = ui.label("token");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.token)
                            .hint_text("\" Sure\"")
                            .desired_width(110.0),
                    )
                    .labelled_by(l.id)
                    .on_hover_text("Exactly one token of the model (mind the leading space)");
                }
                MetricKind::LogitDiff => {
                    let l = ui.label("token A");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.token)
                            .hint_text("\" I\"")
                            .desired_width(90.0),
                    )
                    .labelled_by(l.id);
                    let l = ui.label("token B");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.token_b)
                            .hint_text("\" Sure\"")
                            .desired_width(90.0),
                    )
                    .labelled_by(l.id)
                    .on_hover_text("log P(A) − log P(B): each exactly one token");
                }
                MetricKind::Continuation => {
                    let l = ui.label("continuation");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.continuation)
                            .hint_text("I cannot help with that")
                            .desired_width(240.0),
                    )
                    .labelled_by(l.id)
                    .on_hover_text("Σ log P of its tokens, teacher-forced after the prompt");
                }
            }
            let l = ui.label("Top N");
            ui.add(egui::DragValue::new(&mut self.top).range(1..=500))
                .labelled_by(l.id);
            ui.checkbox(&mut self.exact, "exact check").on_hover_text(
                "Also ablate each of the top N for real (one forward pass each) and show the \
                 true change of the metric",
            );
        });
        ui.horizontal_wrapped(|ui| {
            if self.running {
                if ui.button("Cancel").clicked() {
                    action = Some(Command::Cancel);
                }
                crate::app::widgets::spinner(ui);
                ui.label(RichText::new("stops at the next step").weak());
            } else {
                let can = ctx.ready() && !ctx.busy;
                if ui
                    .add_enabled(can, egui::Button::new("▶ Run attribution"))
                    .on_disabled_hover_text("The model is loading or busy")
                    .clicked()
                {
                    match self.job(ctx) {
                        Ok(job) => {
                            self.running = true;
                            self.message = None;
                            action = Some(Command::Attribute(Box::new(job)));
                        }
                        Err(e) => self.message = Some(e),
                    }
                }
            }
            let names: Vec<&str> = (0..ctx.slots.len())
                .filter(|&i| ctx.slots[i].info.is_some() && ctx.inspected(i))
                .map(|i| ctx.slots[i].name.as_str())
                .collect();
            ui.label(
                RichText::new(format!(
                    "SAEs spliced in (those the inspector runs): {}",
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                ))
                .weak(),
            );
        });
        if let Some(m) = &self.message {
            ui.colored_label(ui.visuals().error_fg_color, m);
        }
        ui.separator();
        let Some(r) = self.result.take() else {
            ui.label(
                RichText::new(
                    "Run to see the metric, the attribution per token and layer, the top \
                     neurons and how they link.",
                )
                .weak(),
            );
            return action;
        };
        action = action.or(self.results_ui(ui, ctx, &r));
        self.result = Some(r);
        action
    }

    fn results_ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx, r: &Attributed) -> Option<Command> {
        let mut action = None;
        let a = &r.report.attribution;
        ui.horizontal_wrapped(|ui| {
            ui.strong(&a.metric);
            ui.label(RichText::new(format!("Metric value: {:.4}", a.value)).strong());
            let err: f32 = a.errors.iter().map(|e| e.attribution).sum();
            ui.label(
                RichText::new(format!(
                    "{} tokens · {} active neuron nodes listed of the top · error nodes total {:+.4}",
                    a.ids.len(),
                    a.neurons.len(),
                    err
                ))
                .weak(),
            );
        });
        ui.horizontal_wrapped(|ui| {
            let l = ui.label("Graph file");
            ui.add(egui::TextEdit::singleline(&mut self.export_path).desired_width(380.0))
                .labelled_by(l.id);
            if ui
                .add_enabled(!self.exporting(), egui::Button::new("Export graph JSON…"))
                .on_hover_text(
                    "The attribution graph JSON Neuronpedia's graph viewer reads, as \
                     `safe-sail attribute --graph-out` writes it",
                )
                .clicked()
            {
                self.export(ctx, r);
            }
            if let Some(m) = &self.export_message {
                if m.starts_with("error") {
                    ui.colored_label(ui.visuals().error_fg_color, m);
                } else {
                    ui.label(m);
                }
            }
        });
        ui.add_space(4.0);
        ui.horizontal_wrapped(|ui| {
            ui.strong("Attribution mass per token and layer");
            ui.checkbox(&mut self.show_errors, "show error nodes")
                .on_hover_text("A row per SAE for its error term's attribution");
            diverging_legend(ui);
        });
        mass_grid(ui, ctx, r, self.show_errors);
        ui.add_space(6.0);
        ui.strong(format!("Top {} neurons by |attribution|", a.neurons.len()));
        action = action.or(neuron_list(ui, ctx, r));
        ui.add_space(6.0);
        ui.strong("The top neurons between layers");
        ui.label(
            RichText::new(
                "Columns by layer, the metric on the right; a link's width is |weight| (a \
                 neuron's attribution into the metric, an upstream neuron's share of a \
                 downstream one's pre-activation), its colour the sign.",
            )
            .weak()
            .small(),
        );
        action = action.or(graph_view(ui, ctx, r));
        action
    }
}

/// The attribution graph JSON of `r` (named after `path`'s stem, as the CLI names it), each
/// neuron's explanation from its SAE's database in the workspace.
pub fn graph_json(r: &Attributed, ctx: &ViewCtx, path: &std::path::Path) -> serde_json::Value {
    let slug = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "attribution".into());
    let a = &r.report.attribution;
    r.report.graph.to_json(a, &r.prompt, &slug, &|n| {
        let slot = ctx.slot(*r.saes.get(n.sae_index)?)?;
        slot.db.get(n.layer, n.latent)?.explanation.clone()
    })
}

/// Positive in [`POS_COLOR`], negative in [`NEG_COLOR`], stronger with `|v| / max`.
pub fn diverging(v: f32, max: f32) -> Color32 {
    let base = if v >= 0.0 { POS_COLOR } else { NEG_COLOR };
    let t = if max > 0.0 {
        (v.abs() / max).sqrt()
    } else {
        0.0
    };
    shade(base, t)
}

fn diverging_legend(ui: &mut egui::Ui) {
    ui.label(
        RichText::new(" raises the metric ")
            .background_color(shade(POS_COLOR, 0.9))
            .color(Color32::WHITE),
    );
    ui.label(
        RichText::new(" lowers it ")
            .background_color(shade(NEG_COLOR, 0.9))
            .color(Color32::WHITE),
    );
    ui.label(
        RichText::new("cell strength: Σ|attribution| at the token; hue: the sign of the sum")
            .weak()
            .small(),
    );
}

/// The rows of the grid: per SAE (by layer) its neurons' mass, and with `errors` its error
/// node's attribution, as (label, values, signs).
fn grid_rows(ctx: &ViewCtx, r: &Attributed, errors: bool) -> Vec<(String, Vec<f32>, Vec<f32>)> {
    let m = &r.report.mass;
    let mut order: Vec<usize> = (0..m.mass.len()).collect();
    let layer = |i: usize| ctx.slot(r.saes[i]).map_or(0, |s| s.layer);
    order.sort_by_key(|&i| (layer(i), i));
    let shared = ctx.shared_layers();
    let mut rows = vec![];
    for i in order {
        let name = match ctx.slot(r.saes[i]) {
            Some(s) if shared => format!("L{} {}", s.layer, s.name),
            Some(s) => format!("L{}", s.layer),
            None => format!("SAE {i}"),
        };
        rows.push((name.clone(), m.mass[i].clone(), m.net[i].clone()));
        if errors {
            let e = &m.error[i];
            rows.push((
                format!("{name} error"),
                e.iter().map(|v| v.abs()).collect(),
                e.clone(),
            ));
        }
    }
    rows
}

/// The tokens × layers grid: columns are tokens (shown rotated above), rows SAEs; a cell's
/// strength is its mass over the largest, its hue the sign of the summed attribution.
fn mass_grid(ui: &mut egui::Ui, ctx: &ViewCtx, r: &Attributed, errors: bool) {
    let a = &r.report.attribution;
    let rows = grid_rows(ctx, r, errors);
    let n = a.tokens.len().max(1);
    let label_w = if ctx.shared_layers() { 200.0 } else { 90.0 };
    let cell_w = ((ui.available_width() - label_w) / n as f32).clamp(6.0, 30.0);
    let cell_h = 20.0;
    let head = if cell_w >= 12.0 { 64.0 } else { 0.0 };
    let (rect, resp) = ui.allocate_exact_size(
        egui::vec2(
            label_w + cell_w * n as f32,
            head + cell_h * rows.len() as f32,
        ),
        Sense::hover(),
    );
    let painter = ui.painter_at(rect);
    let fg = ui.visuals().text_color();
    let max = rows
        .iter()
        .flat_map(|(_, v, _)| v.iter().copied())
        .fold(0f32, f32::max);
    if head > 0.0 {
        for (c, t) in a.tokens.iter().enumerate() {
            let mut text = token_label(t);
            if text.chars().count() > 8 {
                text = text.chars().take(7).collect::<String>() + "…";
            }
            let galley =
                painter.layout_no_wrap(text, egui::FontId::monospace(10.0), fg.gamma_multiply(0.8));
            let x =
                rect.left() + label_w + c as f32 * cell_w + cell_w / 2.0 - galley.size().y / 2.0;
            let y = rect.top() + head - 2.0;
            painter.add(
                egui::epaint::TextShape::new(egui::pos2(x, y), galley, fg)
                    .with_angle(-std::f32::consts::FRAC_PI_2),
            );
        }
    }
    for (k, (label, mass, net)) in rows.iter().enumerate() {
        let y = rect.top() + head + k as f32 * cell_h;
        painter.text(
            egui::pos2(rect.left() + 2.0, y + cell_h / 2.0),
            egui::Align2::LEFT_CENTER,
            label,
            egui::FontId::monospace(11.0),
            fg,
        );
        for (c, (m, s)) in mass.iter().zip(net).enumerate() {
            let x = rect.left() + label_w + c as f32 * cell_w;
            let cell =
                egui::Rect::from_min_size(egui::pos2(x, y), egui::vec2(cell_w - 1.0, cell_h - 1.0));
            let colour = diverging(if *s >= 0.0 { *m } else { -*m }, max);
            painter.rect_filled(cell, 1.0, colour);
            painter.rect_stroke(
                cell,
                1.0,
                egui::Stroke::new(0.5, ui.visuals().weak_text_color().gamma_multiply(0.3)),
                egui::StrokeKind::Inside,
            );
        }
    }
    if let Some(p) = resp.hover_pos() {
        let c = ((p.x - rect.left() - label_w) / cell_w).floor();
        let k = ((p.y - rect.top() - head) / cell_h).floor();
        if c >= 0.0 && k >= 0.0 && (c as usize) < a.tokens.len() && (k as usize) < rows.len() {
            let (c, k) = (c as usize, k as usize);
            let (label, mass, net) = &rows[k];
            resp.on_hover_text_at_pointer(format!(
                "{label} · token {c} {:?}\nΣ|attribution| {:.4} · Σ attribution {:+.4}",
                a.tokens[c], mass[c], net[c]
            ));
        }
    }
}

/// Paints a table cell's background (a safety neuron's row).
fn tinted(ui: &egui::Ui, tint: Option<Color32>) {
    if let Some(t) = tint {
        ui.painter().rect_filled(ui.max_rect(), 0.0, t);
    }
}

/// A node's record in its SAE's database.
fn record<'a>(
    ctx: &ViewCtx<'a>,
    r: &Attributed,
    n: &NeuronNode,
) -> Option<&'a crate::db::NeuronRecord> {
    ctx.slot(*r.saes.get(n.sae_index)?)?
        .db
        .get(n.layer, n.latent)
}

/// The ranked list; a click on a neuron opens its page.
fn neuron_list(ui: &mut egui::Ui, ctx: &ViewCtx, r: &Attributed) -> Option<Command> {
    use egui_extras::{Column, TableBuilder};
    let a: &Attribution = &r.report.attribution;
    let exact = a.neurons.iter().any(|n| n.exact_effect.is_some());
    let mut action = None;
    let mut b = TableBuilder::new(ui)
        .id_salt("attribution-top")
        .striped(true)
        .resizable(true)
        .max_scroll_height(300.0)
        .column(Column::auto().at_least(28.0))
        .column(Column::auto().at_least(70.0))
        .column(Column::auto().at_least(110.0).clip(true))
        .column(Column::auto().at_least(90.0).clip(true))
        .column(Column::auto().at_least(60.0))
        .column(Column::auto().at_least(80.0));
    if exact {
        b = b.column(Column::auto().at_least(80.0));
    }
    b.column(Column::remainder().at_least(200.0).clip(true))
        .column(Column::auto().at_least(80.0))
        .header(22.0, |mut h| {
            let mut head = |t: &str| {
                h.col(|ui| {
                    ui.strong(t);
                });
            };
            head("#");
            head("Neuron");
            head("SAE");
            head("Position");
            head("Activation");
            head("Attribution");
            if exact {
                head("Exact effect");
            }
            head("Explanation");
            head("Tags");
        })
        .body(|body| {
            body.rows(22.0, a.neurons.len(), |mut row| {
                let i = row.index();
                let n = &a.neurons[i];
                let rec = record(ctx, r, n);
                let tint = rec
                    .and_then(|r| r.domain())
                    .map(|d| shade(domain_color(d), 0.35));
                row.col(|ui| {
                    tinted(ui, tint);
                    ui.label(format!("{}", i + 1));
                });
                row.col(|ui| {
                    tinted(ui, tint);
                    let ws = r.saes.get(n.sae_index).copied();
                    if ui
                        .link(&n.neuron)
                        .on_hover_text("Open the neuron page")
                        .clicked()
                    {
                        if let Some(sae) = ws {
                            action = Some(Command::OpenNeuron {
                                sae,
                                latent: n.latent,
                            });
                        }
                    }
                });
                row.col(|ui| {
                    tinted(ui, tint);
                    ui.label(RichText::new(&n.sae).small())
                        .on_hover_text(&n.hook);
                });
                row.col(|ui| {
                    tinted(ui, tint);
                    ui.label(format!("{} {:?}", n.position, n.token));
                });
                row.col(|ui| {
                    tinted(ui, tint);
                    ui.label(format!("{:.3}", n.activation));
                });
                row.col(|ui| {
                    tinted(ui, tint);
                    ui.colored_label(
                        if n.attribution >= 0.0 {
                            POS_COLOR
                        } else {
                            NEG_COLOR
                        },
                        format!("{:+.4}", n.attribution),
                    );
                });
                if exact {
                    row.col(|ui| {
                        tinted(ui, tint);
                        ui.label(n.exact_effect.map_or("—".into(), |e| format!("{e:+.4}")));
                    });
                }
                row.col(|ui| {
                    tinted(ui, tint);
                    let text = rec
                        .and_then(|r| r.explanation.clone())
                        .unwrap_or_else(|| "—".into());
                    ui.label(text.lines().next().unwrap_or(""))
                        .on_hover_text(text);
                });
                row.col(|ui| {
                    tinted(ui, tint);
                    ui.horizontal(|ui| {
                        for t in rec.map(|r| r.tags()).unwrap_or_default() {
                            tag_chip(ui, &t);
                        }
                    });
                });
            });
        });
    if exact {
        let x: Vec<f64> = a.neurons.iter().map(|n| n.attribution as f64).collect();
        let y: Vec<f64> = a.neurons.iter().filter_map(|n| n.exact_effect).collect();
        if let Some(p) = crate::attribute::pearson(&x, &y) {
            ui.label(
                RichText::new(format!(
                    "attribution vs exact effect (m(clean) − m(ablated)) over the {} listed: \
                     Pearson {p:.3}",
                    x.len()
                ))
                .weak(),
            );
        }
    }
    action
}

/// The small graph: the first [`GRAPH_SHOWN`] neurons in columns by layer, the metric in a
/// column of its own; links from the graph module (and each neuron's attribution into the
/// metric), width by |weight| (each kind against its own largest), colour by sign. A click on
/// a neuron opens its page.
fn graph_view(ui: &mut egui::Ui, ctx: &ViewCtx, r: &Attributed) -> Option<Command> {
    let a = &r.report.attribution;
    let g = &r.report.graph;
    let shown = g.nodes.min(GRAPH_SHOWN).min(a.neurons.len());
    if shown == 0 {
        ui.label(RichText::new("No active neuron.").weak());
        return None;
    }
    let mut layers: Vec<(usize, usize)> = (0..shown)
        .map(|i| (a.neurons[i].layer, a.neurons[i].sae_index))
        .collect();
    layers.sort_unstable();
    layers.dedup();
    let cols = layers.len() + 1;
    let per_col: Vec<Vec<usize>> = layers
        .iter()
        .map(|l| {
            (0..shown)
                .filter(|&i| (a.neurons[i].layer, a.neurons[i].sae_index) == *l)
                .collect()
        })
        .collect();
    let rows = per_col.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let width = ui.available_width().clamp(300.0, 900.0);
    let height = (rows as f32 * 34.0 + 40.0).max(120.0);
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(width, height), Sense::click());
    let painter = ui.painter_at(rect);
    let fg = ui.visuals().text_color();
    let col_w = width / cols as f32;
    let mut pos = vec![egui::Pos2::ZERO; shown];
    for (c, members) in per_col.iter().enumerate() {
        let x = rect.left() + col_w * (c as f32 + 0.5);
        let (layer, sae) = layers[c];
        let title = match ctx.slot(r.saes[sae]) {
            Some(s) if ctx.shared_layers() => format!("L{layer} · {}", s.name),
            _ => format!("layer {layer}"),
        };
        painter.text(
            egui::pos2(x, rect.top() + 10.0),
            egui::Align2::CENTER_CENTER,
            title,
            egui::FontId::proportional(11.0),
            fg,
        );
        let step = (height - 30.0) / members.len() as f32;
        for (k, &i) in members.iter().enumerate() {
            pos[i] = egui::pos2(x, rect.top() + 26.0 + step * (k as f32 + 0.5));
        }
    }
    let metric_pos = egui::pos2(
        rect.left() + col_w * (cols as f32 - 0.5),
        rect.top() + height / 2.0,
    );
    painter.text(
        egui::pos2(metric_pos.x, rect.top() + 10.0),
        egui::Align2::CENTER_CENTER,
        "metric",
        egui::FontId::proportional(11.0),
        fg,
    );
    let max_attr = (0..shown)
        .map(|i| a.neurons[i].attribution.abs())
        .fold(0f32, f32::max);
    let inner: Vec<_> = g
        .edges
        .iter()
        .filter(|e| e.source < shown && e.target < shown)
        .collect();
    let max_edge = inner.iter().map(|e| e.weight.abs()).fold(0f32, f32::max);
    let stroke = |w: f32, max: f32| {
        let t = if max > 0.0 { w.abs() / max } else { 0.0 };
        let c = if w >= 0.0 { POS_COLOR } else { NEG_COLOR };
        egui::Stroke::new(0.5 + 5.0 * t, c.gamma_multiply(0.35 + 0.6 * t))
    };
    for (p, n) in pos.iter().zip(&a.neurons) {
        painter.line_segment([*p, metric_pos], stroke(n.attribution, max_attr));
    }
    for e in &inner {
        painter.line_segment([pos[e.source], pos[e.target]], stroke(e.weight, max_edge));
    }
    for (i, &p) in pos.iter().enumerate() {
        let n = &a.neurons[i];
        let rad = 4.0
            + 6.0
                * if max_attr > 0.0 {
                    n.attribution.abs() / max_attr
                } else {
                    0.0
                };
        let fill = record(ctx, r, n)
            .and_then(|r| r.domain())
            .map(domain_color)
            .unwrap_or(if n.attribution >= 0.0 {
                POS_COLOR
            } else {
                NEG_COLOR
            });
        painter.circle(p, rad, fill, egui::Stroke::new(1.0, fg.gamma_multiply(0.6)));
        painter.text(
            p + egui::vec2(rad + 3.0, 0.0),
            egui::Align2::LEFT_CENTER,
            format!("{}@{}", n.neuron, n.position),
            egui::FontId::monospace(10.0),
            fg,
        );
    }
    painter.circle_filled(metric_pos, 8.0, fg.gamma_multiply(0.8));
    let hit = |p: egui::Pos2| {
        (0..shown)
            .map(|i| (i, pos[i].distance(p)))
            .filter(|(_, d)| *d < 12.0)
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .map(|(i, _)| i)
    };
    let mut action = None;
    if let Some(i) = resp.hover_pos().and_then(hit) {
        let n = &a.neurons[i];
        let expl = record(ctx, r, n)
            .and_then(|r| r.explanation.clone())
            .unwrap_or_else(|| "no explanation".into());
        let ins: Vec<String> = g
            .edges
            .iter()
            .filter(|e| e.target == i)
            .map(|e| format!("{} → {:+.3}", a.neurons[e.source].neuron, e.weight))
            .collect();
        let text = format!(
            "{} ({}) at {} {:?}\nattribution {:+.4}\n{expl}{}\nclick: open the neuron page",
            n.neuron,
            n.sae,
            n.position,
            n.token,
            n.attribution,
            if ins.is_empty() {
                String::new()
            } else {
                format!("\nfrom: {}", ins.join(", "))
            }
        );
        if resp.clicked() {
            if let Some(&sae) = r.saes.get(n.sae_index) {
                action = Some(Command::OpenNeuron {
                    sae,
                    latent: n.latent,
                });
            }
        }
        resp.on_hover_text_at_pointer(text);
    }
    action
}
