//! Comparing SAE candidates: their evaluation scores once `safe-sail evaluate` has run, and
//! one prompt through two candidates side by side.

use super::analysis::{token_rows, Analysis, Normalizer, SaeContext};
use super::style::{shade, token_label, NEURON_COLOR};
use eframe::egui::{self, RichText, Sense};

/// The compare view's state.
#[derive(Default)]
pub struct Compare {
    pub a: usize,
    pub b: usize,
    pub prompt: String,
    pub analysis: Option<Analysis>,
    norm: Option<Normalizer>,
}

impl Compare {
    pub fn set_analysis(&mut self, a: Analysis, ctx: &[SaeContext]) {
        self.norm = Some(Normalizer::new(&a, ctx));
        self.analysis = Some(a);
    }

    /// Draws the view; returns true when the user asks to run the prompt.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &[SaeContext],
        evals: &[&str],
        ready: bool,
        busy: bool,
    ) -> bool {
        ui.heading("Compare SAE candidates");
        if evals.is_empty() {
            ui.label(
                RichText::new(
                    "No evaluation results in this workspace yet. Score the candidates with\n  safe-sail evaluate --model MODEL \
                     --sae SAE... --corpus GENERAL.jsonl --out EVAL_DIR\nthen add `\"eval\": \"EVAL_DIR\"` to each SAE in the \
                     workspace file: the table of L0, dead %, explained variance, CE loss recovered and safety-specificity \
                     scores and its plots appear here.",
                )
                .weak(),
            );
        } else {
            ui.label(format!("Evaluation folders: {}", evals.join(", ")));
        }
        ui.separator();
        ui.strong("One prompt through two candidates");
        if ctx.len() < 2 {
            ui.label(RichText::new("The workspace needs at least two SAEs.").weak());
            return false;
        }
        self.a = self.a.min(ctx.len() - 1);
        self.b = self.b.min(ctx.len() - 1);
        if self.a == self.b && ctx.len() > 1 && self.b == 0 {
            self.b = 1;
        }
        let mut run = false;
        ui.horizontal_wrapped(|ui| {
            for (id, which) in [("cmp-a", &mut self.a), ("cmp-b", &mut self.b)] {
                egui::ComboBox::new(id, if id == "cmp-a" { "left" } else { "right" })
                    .selected_text(ctx[*which].name.clone())
                    .show_ui(ui, |ui| {
                        for (i, c) in ctx.iter().enumerate() {
                            ui.selectable_value(which, i, &c.name);
                        }
                    });
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("Prompt to compare");
            ui.add(egui::TextEdit::singleline(&mut self.prompt).desired_width(420.0))
                .labelled_by(l.id);
            if ui
                .add_enabled(
                    ready && !busy && !self.prompt.trim().is_empty(),
                    egui::Button::new("Run both"),
                )
                .clicked()
            {
                run = true;
            }
            if busy {
                ui.spinner();
            }
        });
        if let (Some(a), Some(norm)) = (&self.analysis, &self.norm) {
            ui.columns(2, |cols| {
                for (col, which) in cols.iter_mut().zip([self.a, self.b]) {
                    side(col, a, ctx, norm, which);
                }
            });
        }
        run
    }
}

/// One candidate's view of the prompt: each token shaded by its strongest normalized latent.
fn side(ui: &mut egui::Ui, a: &Analysis, ctx: &[SaeContext], norm: &Normalizer, sae: usize) {
    let Some(i) = a.saes.iter().position(|s| s.sae == sae) else {
        ui.label(RichText::new("not loaded").weak());
        return;
    };
    let s = &a.saes[i];
    let name = ctx.get(sae).map_or("", |c| c.name.as_str());
    let real: Vec<usize> = (0..a.tokens.len())
        .filter(|&t| !a.tokens[t].special)
        .collect();
    let l0 = real.iter().map(|&t| s.acts[t].len()).sum::<usize>() as f32 / real.len().max(1) as f32;
    let safety = real
        .iter()
        .filter(|&&t| {
            s.acts[t].iter().any(|(l, _)| {
                ctx.get(sae)
                    .and_then(|c| c.record(*l))
                    .is_some_and(|r| r.is_safety())
            })
        })
        .count();
    ui.strong(name);
    ui.label(
        RichText::new(format!(
            "mean active latents per token {l0:.1} · tokens with a safety neuron {safety}/{}",
            real.len()
        ))
        .small(),
    );
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 0.0;
        for &t in &real {
            let best = s.acts[t]
                .iter()
                .map(|&(l, v)| norm.norm(i, l, v))
                .fold(0.0, f32::max);
            let rt = RichText::new(token_label(&a.tokens[t].text))
                .monospace()
                .background_color(shade(NEURON_COLOR, best));
            ui.add(egui::Label::new(rt).sense(Sense::hover()))
                .on_hover_ui(|ui| {
                    for r in token_rows(a, ctx, norm, t, &|l| l == s.layer)
                        .iter()
                        .filter(|r| r.sae == sae)
                        .take(5)
                    {
                        ui.label(format!(
                            "{}  {:.2}  {}",
                            r.id,
                            r.norm,
                            r.explanation.as_deref().unwrap_or("—")
                        ));
                    }
                });
        }
    });
}
