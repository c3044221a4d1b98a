//! A neuron's page: explanation, tags, score and review status; statistics and examples
//! from its feature store (or what to run to make one); the tokens its decoder direction
//! promotes and suppresses; what amplifying it does to the output (measured on demand); a box
//! to try one's own text; previous / next / jump.

use crate::app::ctx::{SaeSlot, ViewCtx};
use crate::app::style::{token_label, NEURON_COLOR};
use crate::app::widgets::{tag_chip, StripToken, TokenStrip};
use crate::app::Command;
use crate::db::provenance::{ExplanationSource, MethodScore, ScoreSource};
use crate::explain::output::OutputEffect;
use crate::families::NeuronFamily;
use crate::inspect::{TokenScores, TokenTrace};
use eframe::egui::{self, RichText};

/// A neuron's promoted and suppressed tokens, as received.
pub struct Logits {
    pub sae: usize,
    pub latent: u32,
    pub top: TokenScores,
    pub bottom: TokenScores,
    /// The closest latents of the same SAE by decoder cosine, best first.
    pub neighbours: Vec<(u32, f32)>,
    /// Co-activation neighbours, the same concept in other SAEs, the chain across layers.
    pub family: NeuronFamily,
}

/// What the page shows and what it has received from the engine.
#[derive(Default)]
pub struct NeuronPage {
    /// (SAE index, latent).
    pub current: Option<(usize, u32)>,
    pub jump: String,
    pub jump_error: Option<String>,
    pub try_text: String,
    /// Promoted / suppressed tokens of `current`, when received.
    pub logits: Option<Logits>,
    /// Per-token activations of `current` on `try_text`, when received.
    pub tried: Option<(usize, u32, TokenTrace)>,
    /// The strength the output effect is measured at, as typed (empty: `4x`).
    pub output_strength: String,
    /// Why the typed strength was refused.
    pub output_error: Option<String>,
    /// The neuron whose output effect is being measured.
    pub output_pending: Option<(usize, u32)>,
    /// The last output effect received, with its (SAE index, latent).
    pub output: Option<(usize, u32, OutputEffect)>,
}

/// Shows neuron `latent` of SAE `sae`.
fn open(sae: usize, latent: u32) -> Command {
    Command::OpenNeuron { sae, latent }
}

impl NeuronPage {
    /// Draws the page of the current neuron (or how to pick one).
    pub fn ui(&mut self, ui: &mut egui::Ui, view: &ViewCtx) -> Option<Command> {
        let (ctx, busy) = (view.slots, view.busy);
        let mut action = None;
        let Some((sae, latent)) = self.current else {
            ui.heading("Neuron");
            ui.label(
                RichText::new(
                    "Open a neuron from a token's table in the inspector, or jump to one by id:",
                )
                .weak(),
            );
            ui.horizontal(|ui| self.jump_box(ui, ctx, &mut action));
            return action;
        };
        let c = ctx.get(sae);
        let info = c.and_then(|c| c.info.as_ref());
        let layer = info.map(|i| i.layer).or(c.map(|c| c.layer)).unwrap_or(0);
        let d_sae = info.map_or(u32::MAX as usize, |i| i.d_sae);
        ui.horizontal(|ui| {
            ui.heading(format!("Neuron {layer}_{latent}"));
            ui.label(
                RichText::new(format!(
                    "{} · {}",
                    c.map_or("", |c| c.name.as_str()),
                    info.map_or("", |i| i.hook.as_str())
                ))
                .weak(),
            );
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(latent > 0, egui::Button::new("◀ Previous"))
                .clicked()
            {
                action = Some(open(sae, latent - 1));
            }
            if ui
                .add_enabled((latent as usize + 1) < d_sae, egui::Button::new("Next ▶"))
                .clicked()
            {
                action = Some(open(sae, latent + 1));
            }
            ui.separator();
            self.jump_box(ui, ctx, &mut action);
            ui.separator();
            if ui
                .button("Steer this neuron")
                .on_hover_text("Open the Steer panel with an intervention on this neuron")
                .clicked()
            {
                action = Some(Command::SteerNeuron { sae, latent });
            }
        });
        ui.separator();
        let rec = c.and_then(|c| c.record(latent));
        match rec.and_then(|r| r.explanation.as_deref()) {
            Some(e) => ui.add(egui::Label::new(RichText::new(e).size(15.0)).wrap()),
            None => ui.label(RichText::new("No explanation yet.").weak()),
        };
        ui.add_space(4.0);
        egui::Grid::new("neuron-head")
            .num_columns(2)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                ui.label("Tags");
                ui.horizontal(|ui| match rec {
                    Some(r) if !r.tag_list.is_empty() || !r.subcategory_list.is_empty() => {
                        r.tags().iter().for_each(|t| tag_chip(ui, t))
                    }
                    _ => {
                        ui.label(RichText::new("none").weak());
                    }
                });
                ui.end_row();
                let id = crate::db::neuron_id(ctx.get(sae).map_or(0, |c| c.layer), latent);
                let entry = view.sessions.entry(sae, &id);
                ui.label("Score");
                ui.horizontal(|ui| {
                    super::browser::score_label(ui, rec, 3);
                    if let Some(src) = entry.and_then(ScoreSource::of) {
                        ui.label(RichText::new(score_provenance(&src)).small().weak());
                    }
                });
                ui.end_row();
                method_score_rows(ui, entry, rec.and_then(|r| r.explanation.as_deref()));
                inclusion_row(ui, entry);
                if let Some(src) = entry.and_then(ExplanationSource::of).map(|s| s.explainer) {
                    ui.label("Explained by");
                    ui.label(RichText::new(src).small());
                    ui.end_row();
                }
                ui.label("Review");
                let status = view.review_status(sae, &id);
                let text = RichText::new(status.name());
                ui.label(if status == crate::db::editable::ReviewStatus::Unreviewed {
                    text.weak()
                } else {
                    text.strong()
                });
                ui.end_row();
            });
        ui.separator();
        let store = c.and_then(|c| c.store.as_ref());
        egui::CollapsingHeader::new("Statistics and top-activating examples").default_open(true).show(ui, |ui| match store {
            Some(st) => store_view(ui, st, latent),
            None => {
                ui.label(
                    RichText::new(format!(
                        "No feature store for this SAE yet. Collect one to see density, quantiles, the activation \
                         histogram and top / quantile-sampled examples:\n  safe-sail collect --model MODEL --sae {} --corpus CORPUS.jsonl --out STORE_DIR\n\
                         then add `\"store\": \"STORE_DIR\"` to this SAE in the workspace file.",
                        info.map_or("SAE".to_string(), |i| format!("SAE,hook={}", i.hook))
                    ))
                    .weak(),
                );
            }
        });
        egui::CollapsingHeader::new("Promoted and suppressed tokens")
            .default_open(true)
            .show(ui, |ui| match &self.logits {
                Some(Logits {
                    sae: s,
                    latent: l,
                    top,
                    bottom,
                    ..
                }) if (*s, *l) == (sae, latent) => {
                    ui.label(
                        RichText::new(
                            "Decoder direction · unembedding (the final norm is ignored)",
                        )
                        .small()
                        .weak(),
                    );
                    ui.horizontal_top(|ui| {
                        token_scores(ui, "Promoted", top);
                        ui.add_space(40.0);
                        token_scores(ui, "Suppressed", bottom);
                    });
                }
                _ => {
                    ui.horizontal(|ui| {
                        crate::app::widgets::spinner(ui);
                        ui.label("computing …");
                    });
                }
            });
        if let Some(lg) = self
            .logits
            .as_ref()
            .filter(|lg| (lg.sae, lg.latent) == (sae, latent))
        {
            family_sections(ui, view, sae, layer, lg, &mut action);
        }
        egui::CollapsingHeader::new("What it does to the output")
            .default_open(true)
            .show(ui, |ui| {
                self.output_view(ui, sae, latent, busy, &mut action)
            });
        egui::CollapsingHeader::new("Try your own text")
            .default_open(true)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    let l = ui.label("Text");
                    let te = ui
                        .add(
                            egui::TextEdit::singleline(&mut self.try_text)
                                .hint_text("text to run through the model")
                                .desired_width(420.0),
                        )
                        .labelled_by(l.id);
                    let enter = te.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    let go = ui
                        .add_enabled(
                            !busy && !self.try_text.trim().is_empty(),
                            egui::Button::new("Try"),
                        )
                        .clicked();
                    if (go || enter) && !self.try_text.trim().is_empty() && !busy {
                        action = Some(Command::TryText {
                            sae,
                            latent,
                            text: self.try_text.clone(),
                        });
                    }
                });
                if let Some((s, l, toks)) = &self.tried {
                    if (*s, *l) == (sae, latent) {
                        let max = toks.iter().map(|t| t.1).fold(0.0f32, f32::max).max(1e-12);
                        let tokens = toks.iter().map(|(text, v, special)| StripToken {
                            text,
                            special: *special,
                            shade: Some((NEURON_COLOR, v / max)),
                            hover: Some(format!("{v:.3}")),
                        });
                        TokenStrip::new(tokens).show(ui, None);
                        ui.label(
                            RichText::new(format!("max activation {max:.3}"))
                                .small()
                                .weak(),
                        );
                    }
                }
            });
        action
    }

    /// The output-side explanation: a strength, a button that measures, and what was measured.
    fn output_view(
        &mut self,
        ui: &mut egui::Ui,
        sae: usize,
        latent: u32,
        busy: bool,
        action: &mut Option<Command>,
    ) {
        ui.label(
            RichText::new(
                "Adds strength × the decoder direction at the neuron's hook on six neutral prompts \
                 and compares the next-token log-probabilities with the untouched model's",
            )
            .small()
            .weak(),
        );
        let pending = self.output_pending == Some((sae, latent));
        ui.horizontal(|ui| {
            let l = ui.label("Strength");
            let _ = ui.add(
                egui::TextEdit::singleline(&mut self.output_strength)
                    .hint_text("4x")
                    .desired_width(60.0),
            )
            .labelled_by(l.id)
            .on_hover_text("4x = 4 × the neuron's max activation in its feature store; a plain number is absolute");
            if ui
                .add_enabled(!busy && !pending, egui::Button::new("Measure"))
                .clicked()
            {
                let typed = match self.output_strength.trim() {
                    "" => "4x",
                    t => t,
                };
                match crate::steer::Amount::parse(typed, "strength") {
                    Ok(strength) => {
                        self.output_error = None;
                        *action = Some(Command::ExplainOutput {
                            sae,
                            latent,
                            strength,
                        });
                    }
                    Err(e) => self.output_error = Some(format!("{e:#}")),
                }
            }
            if pending {
                crate::app::widgets::spinner(ui);
                ui.label("measuring …");
            }
        });
        if let Some(e) = &self.output_error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        let Some((_, _, e)) = self
            .output
            .as_ref()
            .filter(|(s, l, _)| (*s, *l) == (sae, latent))
        else {
            return;
        };
        ui.label(
            RichText::new(format!(
                "amplified by {} = {:.3} at {} · mean KL(default ‖ amplified) {:.4} nats over {} prompts",
                e.strength,
                e.value,
                e.hook,
                e.mean_kl,
                e.prompts.len()
            ))
            .small(),
        );
        let scores = |v: &[crate::explain::output::TokenShift]| -> Vec<(String, f32)> {
            v.iter()
                .map(|t| (t.token.clone(), t.delta_logprob as f32))
                .collect()
        };
        let promoted: Vec<(String, f32)> = e
            .promoted
            .iter()
            .map(|t| (t.token.clone(), t.delta_logprob as f32))
            .collect();
        ui.horizontal_top(|ui| {
            token_scores(ui, "Rises most (Δ log-prob)", &scores(&e.rises));
            ui.add_space(40.0);
            token_scores(ui, "Falls most", &scores(&e.falls));
            ui.add_space(40.0);
            token_scores(ui, "Promoted tokens' Δ", &promoted);
        });
        egui::Grid::new("output-example")
            .num_columns(2)
            .spacing([12.0, 4.0])
            .show(ui, |ui| {
                ui.label("Prompt");
                ui.label(RichText::new(&e.example.prompt).monospace());
                ui.end_row();
                ui.label("Default");
                ui.add(egui::Label::new(RichText::new(&e.example.default).monospace()).wrap());
                ui.end_row();
                ui.label("Amplified");
                ui.add(egui::Label::new(RichText::new(&e.example.steered).monospace()).wrap());
                ui.end_row();
            });
    }

    fn jump_box(&mut self, ui: &mut egui::Ui, ctx: &[SaeSlot], action: &mut Option<Command>) {
        let l = ui.label("Jump to");
        let te = ui
            .add(
                egui::TextEdit::singleline(&mut self.jump)
                    .hint_text("layer_index, e.g. 1_42")
                    .desired_width(120.0),
            )
            .labelled_by(l.id);
        let go = ui.button("Go").clicked()
            || (te.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)));
        if go {
            match resolve_jump(&self.jump, ctx, self.current.map(|c| c.0)) {
                Ok((s, l)) => {
                    self.jump_error = None;
                    *action = Some(open(s, l));
                }
                Err(e) => self.jump_error = Some(e),
            }
        }
        if let Some(e) = &self.jump_error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
    }
}

/// A latent's explanation from its SAE's database ("" when none).
fn explanation(view: &ViewCtx, sae: usize, latent: u32) -> String {
    view.record(sae, latent)
        .and_then(|r| r.explanation.clone())
        .unwrap_or_default()
}

/// Rows of (link to a latent of `sae`, value, explanation); a click opens the latent.
#[allow(clippy::too_many_arguments)]
fn latent_rows(
    ui: &mut egui::Ui,
    view: &ViewCtx,
    id: &str,
    sae: usize,
    layer: usize,
    rows: &[(u32, f32)],
    fmt: impl Fn(f32) -> String,
    action: &mut Option<Command>,
) {
    egui::Grid::new(id)
        .num_columns(3)
        .spacing([12.0, 2.0])
        .show(ui, |ui| {
            for &(j, v) in rows {
                if ui.link(format!("{layer}_{j}")).clicked() {
                    *action = Some(open(sae, j));
                }
                ui.monospace(fmt(v));
                let e = explanation(view, sae, j);
                ui.add(egui::Label::new(RichText::new(e).weak()).truncate());
                ui.end_row();
            }
        });
}

/// The neuron's family: its nearest neurons by decoder cosine and by co-activation side by
/// side, the same concept in the other candidates, and its chain across layers.
fn family_sections(
    ui: &mut egui::Ui,
    view: &ViewCtx,
    sae: usize,
    layer: usize,
    lg: &Logits,
    action: &mut Option<Command>,
) {
    let f = &lg.family;
    if !lg.neighbours.is_empty() || f.coactivation.is_some() {
        egui::CollapsingHeader::new("Nearest neurons")
            .default_open(true)
            .show(ui, |ui| {
                ui.columns(2, |cols| {
                    cols[0].strong("By decoder cosine");
                    cols[0].label(
                        RichText::new("Latents of this SAE whose decoder directions are closest")
                            .small()
                            .weak(),
                    );
                    latent_rows(
                        &mut cols[0],
                        view,
                        "neighbours",
                        sae,
                        layer,
                        &lg.neighbours,
                        |c| format!("{c:+.3}"),
                        action,
                    );
                    cols[1].strong("By co-activation");
                    cols[1].label(
                        RichText::new(
                            "Jaccard index of the tokens both are active on in their top examples (feature store)",
                        )
                        .small()
                        .weak(),
                    );
                    match &f.coactivation {
                        None => {
                            cols[1].label(
                                RichText::new("No feature store for this SAE: nothing to compare.")
                                    .weak(),
                            );
                        }
                        Some(v) if v.is_empty() => {
                            cols[1].label(
                                RichText::new("No other latent is active on its top examples' tokens.")
                                    .weak(),
                            );
                        }
                        Some(v) => latent_rows(
                            &mut cols[1],
                            view,
                            "coactivation",
                            sae,
                            layer,
                            v,
                            |j| format!("J {j:.3}"),
                            action,
                        ),
                    }
                });
            });
    }
    if !f.same_concept.is_empty() {
        egui::CollapsingHeader::new("Same concept in other candidates")
            .default_open(true)
            .show(ui, |ui| {
                ui.label(
                    RichText::new(
                        "Per other SAE reading a space of the same size: its latent with the closest decoder direction",
                    )
                    .small()
                    .weak(),
                );
                egui::Grid::new("same-concept")
                    .num_columns(4)
                    .striped(true)
                    .spacing([12.0, 2.0])
                    .show(ui, |ui| {
                        for c in &f.same_concept {
                            let slot = view.slots.get(c.sae);
                            ui.label(RichText::new(slot.map_or("", |s| s.name.as_str())).small());
                            let l = slot.map_or(0, |s| s.layer);
                            if ui.link(format!("{l}_{}", c.latent)).clicked() {
                                *action = Some(open(c.sae, c.latent));
                            }
                            ui.monospace(format!("{:+.3}", c.cosine));
                            let e = explanation(view, c.sae, c.latent);
                            ui.add(egui::Label::new(RichText::new(e).weak()).truncate());
                            ui.end_row();
                        }
                    });
            });
    }
    if !f.chain.is_empty() {
        egui::CollapsingHeader::new("Chain across layers")
            .default_open(true)
            .show(ui, |ui| {
                if f.chain.len() == 1 {
                    ui.label(
                        RichText::new("No loaded SAE at a later layer reads a space of the same size.")
                            .weak(),
                    );
                    return;
                }
                ui.label(
                    RichText::new(
                        "Each step: the closest decoder direction among the next layer's SAEs (those with a feature \
                         store over the same tokens when there are any); J = co-activation on the same tokens",
                    )
                    .small()
                    .weak(),
                );
                ui.horizontal_wrapped(|ui| {
                    for (k, link) in f.chain.iter().enumerate() {
                        if k > 0 {
                            let mut t = format!("→ {:+.2}", link.cosine);
                            if let Some(j) = link.coactivation {
                                t.push_str(&format!(" · J {j:.2}"));
                            }
                            ui.label(RichText::new(t).monospace().weak());
                        }
                        let slot = view.slots.get(link.sae);
                        let l = slot.map_or(link.layer, |s| s.layer);
                        let safety = view.record(link.sae, link.latent).is_some_and(|r| r.is_safety());
                        egui::Frame::group(ui.style()).show(ui, |ui| {
                            ui.vertical(|ui| {
                                ui.label(RichText::new(format!("L{}", link.layer)).small().weak());
                                let text = RichText::new(format!("{l}_{}", link.latent));
                                let text = if safety { text.strong() } else { text };
                                if k == 0 {
                                    ui.label(text.strong());
                                } else if ui
                                    .link(text)
                                    .on_hover_text(format!(
                                        "{}\n{}",
                                        slot.map_or("", |s| s.name.as_str()),
                                        explanation(view, link.sae, link.latent)
                                    ))
                                    .clicked()
                                {
                                    *action = Some(open(link.sae, link.latent));
                                }
                            });
                        });
                    }
                });
            });
    }
}

/// Statistics, histogram and examples of one latent from its feature store.
fn store_view(ui: &mut egui::Ui, st: &crate::store::Store, latent: u32) {
    let Some(f) = st.feature(latent) else {
        ui.label(RichText::new("This latent is not in the feature store.").weak());
        return;
    };
    egui::Grid::new("stats")
        .num_columns(6)
        .spacing([16.0, 4.0])
        .show(ui, |ui| {
            ui.label("density");
            ui.strong(format!("{:.4}%", f.density * 100.0));
            ui.label("max");
            ui.strong(format!("{:.3}", f.max_act));
            ui.label("mean (active)");
            ui.strong(format!("{:.3}", f.mean_act));
            ui.end_row();
            ui.label("q 0.999");
            ui.strong(format!("{:.3}", f.q999));
            ui.label("q 0.9999");
            ui.strong(format!("{:.3}", f.q9999));
            ui.label("tokens seen");
            ui.strong(st.meta.tokens.to_string());
            ui.end_row();
        });
    if f.count > 0 {
        let bars: Vec<egui_plot::Bar> = f
            .hist_counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| {
                let mid = ((f.hist_edges[i].log10() + f.hist_edges[i + 1].log10()) / 2.0) as f64;
                egui_plot::Bar::new(mid, *c as f64)
                    .width(((f.hist_edges[i + 1].log10() - f.hist_edges[i].log10()) * 0.9) as f64)
            })
            .collect();
        egui_plot::Plot::new(("hist", latent))
            .height(140.0)
            .allow_zoom(false)
            .allow_drag(false)
            .allow_scroll(false)
            .x_axis_label("log10 activation")
            .show(ui, |p| {
                p.bar_chart(egui_plot::BarChart::new("tokens", bars).color(NEURON_COLOR))
            });
    }
    top_examples(ui, st, latent, usize::MAX);
    let ex = st.examples(latent);
    let mut bins: Vec<u32> = ex
        .iter()
        .filter(|e| e.kind == "quantile")
        .map(|e| e.bin)
        .collect();
    bins.sort_unstable();
    bins.dedup();
    for b in bins.into_iter().rev() {
        let n = st.settings_bins().max(1) as f32;
        let title = format!(
            "Quantile bin {b}: activation {:.2}–{:.2}",
            f.max_act * b as f32 / n,
            f.max_act * (b + 1) as f32 / n
        );
        egui::CollapsingHeader::new(title)
            .id_salt(("qbin", latent, b))
            .show(ui, |ui| {
                for e in ex.iter().filter(|e| e.kind == "quantile" && e.bin == b) {
                    example_row(ui, e, f.max_act);
                }
            });
    }
}

/// A latent's top-activating examples from its feature store (at most `n`), under a
/// "Top activating examples (k)" heading; nothing when the latent is not in the store.
pub fn top_examples(ui: &mut egui::Ui, st: &crate::store::Store, latent: u32, n: usize) {
    let Some(f) = st.feature(latent) else {
        return;
    };
    let ex = st.examples(latent);
    let top: Vec<_> = ex.iter().filter(|e| e.kind == "top").collect();
    let shown = top.len().min(n);
    if shown < top.len() {
        ui.strong(format!(
            "Top activating examples ({shown} of {})",
            top.len()
        ));
    } else {
        ui.strong(format!("Top activating examples ({})", top.len()));
    }
    for e in top.iter().take(n) {
        example_row(ui, e, f.max_act);
    }
}

/// One grid row per score made by another method than simulation (`score --method
/// detection|fuzzing|embedding`): `Score (method)`, its value and how it was made; a score of
/// an earlier explanation is struck through and says so.
fn method_score_rows(ui: &mut egui::Ui, entry: Option<&serde_json::Value>, current: Option<&str>) {
    for m in entry.map(MethodScore::all_of).unwrap_or_default() {
        ui.label(format!("Score ({})", m.method));
        ui.horizontal(|ui| {
            let stale = current != Some(m.explanation.as_str());
            let v = RichText::new(m.value().map_or("—".into(), |v| format!("{v:.3}"))).strong();
            ui.label(if stale { v.strikethrough().weak() } else { v });
            let mut parts = vec![m.value_name().to_string()];
            if m.balanced_accuracy.is_some() {
                if let Some(f) = m.f1 {
                    parts.push(format!("F1 {f:.3}"));
                }
                if let Some(a) = m.auc {
                    parts.push(format!("AUC {a:.3}"));
                }
            }
            parts.push(format!("by {}", m.scorer));
            parts.push(format!("{} matching / {} not", m.positives, m.negatives));
            if stale {
                parts.push("of an earlier explanation".into());
            }
            ui.label(RichText::new(parts.join(" · ")).small().weak());
        });
        ui.end_row();
    }
}

/// The release rule's mark (`score --min-score`), when the record has one: a grid row.
fn inclusion_row(ui: &mut egui::Ui, entry: Option<&serde_json::Value>) {
    let Some(i) = entry.and_then(crate::db::provenance::Inclusion::of) else {
        return;
    };
    ui.label("Release rule");
    let text = RichText::new(i.describe());
    ui.label(if i.included {
        text.strong()
    } else {
        text.weak()
    });
    ui.end_row();
}

/// How a score was made, in a few words: method, simulator, held-out units, and the other
/// method's score when both ran.
fn score_provenance(src: &ScoreSource) -> String {
    let mut parts = vec![
        src.method.replace('-', " "),
        format!("by {}", src.simulator),
        format!("{} units", src.units),
    ];
    if let Some(t) = src.token_simulation_score {
        parts.push(format!("token level {t:.3}"));
    }
    parts.join(" · ")
}

/// One example context: its tokens shaded by the latent's activation (hover: the value).
fn example_row(ui: &mut egui::Ui, e: &crate::store::ExampleRow, max: f32) {
    // Tokens holding only the first bytes of a character show nothing: the character
    // appears on the token that completes it.
    let tokens = e
        .tokens
        .iter()
        .zip(&e.acts)
        .filter(|(t, _)| !t.is_empty())
        .map(|(t, a)| {
            StripToken::shaded(t, NEURON_COLOR, a / max.max(1e-12)).hover(format!("{a:.3}"))
        });
    TokenStrip::new(tokens)
        .prefix(
            RichText::new(format!("{:>6.2}  ", e.max_act))
                .monospace()
                .weak(),
        )
        .show(ui, None);
}

/// A titled column of tokens and their scores.
fn token_scores(ui: &mut egui::Ui, title: &str, rows: &[(String, f32)]) {
    ui.vertical(|ui| {
        ui.strong(title);
        egui::Grid::new(title)
            .num_columns(2)
            .spacing([16.0, 2.0])
            .show(ui, |ui| {
                for (t, v) in rows {
                    ui.label(
                        RichText::new(token_label(t))
                            .monospace()
                            .background_color(ui.visuals().faint_bg_color),
                    );
                    ui.label(RichText::new(format!("{v:+.3}")).monospace());
                    ui.end_row();
                }
            });
    });
}

/// Finds the SAE of a `layer_index` id (preferring the current SAE when it is at that layer).
pub fn resolve_jump(
    id: &str,
    ctx: &[SaeSlot],
    current: Option<usize>,
) -> Result<(usize, u32), String> {
    let (layer, latent) = crate::db::parse_neuron_id(id).map_err(|e| e.to_string())?;
    if let Some(c) = current.filter(|&c| ctx.get(c).is_some_and(|x| x.layer == layer)) {
        return Ok((c, latent));
    }
    ctx.iter()
        .position(|c| c.layer == layer)
        .map(|s| (s, latent))
        .ok_or_else(|| format!("no SAE at layer {layer} in this workspace"))
}
