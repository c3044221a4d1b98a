//! The prompt inspector: prompt box and options, tokens shaded by activation, a token's
//! neuron table, and the layers × tokens heat map.

use crate::app::ctx::{SaeSlot, ViewCtx};
use crate::app::style::{domain_color, subcategory_color, NEURON_COLOR};
use crate::app::widgets::{
    chat_controls, domain_legend, heatmap, subcategory_legend, tag_chip, tag_filter_menu,
    HeatmapRow, StripToken, TokenStrip,
};
use crate::app::Command;
use crate::inspect::{
    has_shared_layer, layer_heatmap, neuron_trace, safety_overview, sort_rows, token_rows,
    tripwire_hits, Analysis, NeuronRow, Normalizer, RowFilter, SortBy, TripHit, TripwireWatch,
};
use crate::model::generate::GenerateOpts;
use crate::model::PromptSpec;
use eframe::egui::{self, Color32, RichText, Sense};
use std::collections::BTreeSet;

/// What token shading shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shading {
    /// The strongest safety neuron at each token, coloured by domain.
    Safety,
    /// One neuron (SAE index, latent).
    Neuron(usize, u32),
}

/// The inspector's state.
pub struct Inspector {
    pub prompt: String,
    pub chat: bool,
    pub system: String,
    /// Whether the model's chat template has a thinking switch (Qwen3's `enable_thinking`).
    pub thinking_switch: bool,
    /// The switch's setting (on: the template's default, the model may think first).
    pub thinking: bool,
    pub answer: bool,
    pub max_new_tokens: usize,
    pub shading: Shading,
    /// Layers hidden from the views.
    pub hidden_layers: BTreeSet<usize>,
    pub analysis: Option<Analysis>,
    norm: Option<Normalizer>,
    pub selected_token: Option<usize>,
    pub filter: RowFilter,
    pub sort: (SortBy, bool),
    /// The safety overview leaves tokens whose strongest safety neuron is below this
    /// normalized activation unshaded (kept in the window's preferences).
    pub threshold: f32,
}

/// The safety overview's threshold until the user sets one.
pub const DEFAULT_THRESHOLD: f32 = 0.2;

impl Default for Inspector {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            chat: true,
            system: "You are a helpful assistant.".into(),
            thinking_switch: false,
            thinking: true,
            answer: false,
            max_new_tokens: 32,
            shading: Shading::Safety,
            hidden_layers: BTreeSet::new(),
            analysis: None,
            norm: None,
            selected_token: None,
            filter: RowFilter::default(),
            sort: (SortBy::Norm, true),
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

impl Inspector {
    /// Takes a new analysis.
    pub fn set_analysis(&mut self, a: Analysis, slots: &[SaeSlot]) {
        self.norm = Some(Normalizer::new(&a, slots));
        self.selected_token = None;
        self.analysis = Some(a);
    }

    fn layer_on(&self, l: usize) -> bool {
        !self.hidden_layers.contains(&l)
    }

    /// `text` as a prompt with the inspector's chat settings (template, system message).
    pub fn prompt_spec(&self, text: &str) -> PromptSpec {
        PromptSpec {
            thinking: (self.chat && self.thinking_switch).then_some(self.thinking),
            ..PromptSpec::new(text, self.chat, &self.system)
        }
    }

    /// The command that runs the prompt as set up (and lets the model answer, if asked).
    fn run_command(&self) -> Command {
        Command::Analyze {
            prompt: self.prompt_spec(&self.prompt),
            answer: self.answer.then(|| GenerateOpts {
                max_new_tokens: self.max_new_tokens,
                ..Default::default()
            }),
        }
    }

    /// Draws the inspector: running is possible once the engine is ready and idle; the
    /// answer so far shows while the model generates.
    pub fn ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) -> Option<Command> {
        let (ready, busy) = (ctx.ready(), ctx.busy);
        let (has_chat_template, streamed) = (ctx.has_chat_template(), ctx.streamed);
        let mut action = None;
        ui.horizontal(|ui| {
            ui.heading("Prompt inspector");
        });
        let label = ui.label("Prompt");
        let edit = egui::TextEdit::multiline(&mut self.prompt)
            .hint_text("Type a prompt (English or 中文) and press Ctrl+Enter")
            .desired_rows(3)
            .desired_width(f32::INFINITY);
        let resp = ui.add(edit).labelled_by(label.id);
        let ctrl_enter =
            ui.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::Enter));
        if ctrl_enter && resp.has_focus() && ready && !busy {
            action = Some(self.run_command());
        }
        ui.horizontal_wrapped(|ui| {
            // Run (or Cancel) comes first, so that options shown or hidden never move it.
            if busy {
                if ui.button("Cancel").clicked() {
                    action = Some(Command::Cancel);
                }
                crate::app::widgets::spinner(ui);
            } else {
                let run = ui.add_enabled(
                    ready && !self.prompt.trim().is_empty(),
                    egui::Button::new("▶ Run"),
                );
                if run.clicked() {
                    action = Some(self.run_command());
                }
            }
            if ui
                .add_enabled(
                    !self.prompt.trim().is_empty(),
                    egui::Button::new("Attribute…"),
                )
                .on_hover_text("Open the Attribution view with this prompt")
                .clicked()
            {
                action = Some(Command::AttributePrompt {
                    prompt: self.prompt.clone(),
                    chat: self.chat,
                    system: self.system.clone(),
                });
            }
            ui.separator();
            // The controls are drawn first; the thinking switch only while the template applies.
            if chat_controls(ui, has_chat_template, &mut self.chat, &mut self.system)
                && self.thinking_switch
            {
                ui.checkbox(&mut self.thinking, "Thinking")
                    .on_hover_text("The chat template's enable_thinking switch (Qwen3): off closes an empty <think> block, so the model answers directly");
            }
            ui.separator();
            ui.checkbox(&mut self.answer, "Let the model answer");
            if self.answer {
                let l = ui.label("max new tokens");
                ui.add(egui::DragValue::new(&mut self.max_new_tokens).range(1..=1024))
                    .labelled_by(l.id);
            }
        });
        if busy && !streamed.is_empty() {
            ui.group(|ui| {
                ui.label(RichText::new("Answer so far").small().weak());
                ui.label(streamed);
            });
        }
        let (Some(a), Some(norm)) = (self.analysis.take(), self.norm.take()) else {
            ui.add_space(12.0);
            ui.label(
                RichText::new(
                    "Run a prompt to see its tokens shaded by the activation of safety neurons.",
                )
                .weak(),
            );
            if !busy {
                if let Some(act) = self.starters_ui(ui, ctx) {
                    action = Some(act);
                }
            }
            return action;
        };
        let tripwires = crate::app::panels::steer::tripwire_watches(ctx);
        if let Some(act) = self.results_ui(ui, ctx.slots, &a, &norm, &tripwires) {
            action = Some(act);
        }
        self.analysis = Some(a);
        self.norm = Some(norm);
        action
    }

    /// The workspace's starter prompts as buttons: a click types the prompt and runs it (once
    /// the model is loaded).
    fn starters_ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) -> Option<Command> {
        let own = ctx
            .workspace
            .map(|w| w.starter_prompts.as_slice())
            .unwrap_or(&[]);
        let starters = crate::workspace::starters_of(own);
        let mut action = None;
        ui.add_space(8.0);
        ui.label("Or start from one of these:");
        ui.horizontal_wrapped(|ui| {
            for p in starters {
                let mut hover = p.text.clone();
                if p.answer {
                    hover.push_str("\n(the model answers)");
                }
                let mut b = egui::Button::new(&p.label);
                if let Some(d) = &p.domain {
                    b = b.stroke(egui::Stroke::new(1.5, crate::app::style::tag_color(d)));
                }
                if ui.add(b).on_hover_text(hover).clicked() {
                    self.prompt = p.text.clone();
                    self.answer = p.answer;
                    if ctx.ready() {
                        action = Some(self.run_command());
                    }
                }
            }
        });
        action
    }

    fn results_ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &[SaeSlot],
        a: &Analysis,
        norm: &Normalizer,
        tripwires: &(Vec<TripwireWatch>, Vec<String>),
    ) -> Option<Command> {
        let mut action = None;
        ui.separator();
        self.shading_controls(ui, ctx, a);
        if !norm.all_from_stores() {
            let names: Vec<&str> = a
                .saes
                .iter()
                .filter_map(|s| ctx.get(s.sae))
                .filter(|c| c.store.is_none() && c.q999.is_empty())
                .map(|c| c.name.as_str())
                .collect();
            let text = if names.is_empty() {
                "Some neurons have no 0.999 quantile in their store: they are normalized by their \
                 maximum in this run."
                    .to_string()
            } else {
                format!(
                    "No feature store for {}: their neurons are normalized by their maximum in this \
                     run (run `safe-sail collect` to normalize by each neuron's 0.999 quantile).",
                    names.join(", ")
                )
            };
            ui.label(RichText::new(text).small().weak());
        }
        let layer_on = |l: usize| !self.hidden_layers.contains(&l);
        let threshold = self.threshold;
        let colors: Vec<Option<(Color32, f32)>> = match self.shading {
            Shading::Safety => {
                let hits: Vec<_> = safety_overview(a, ctx, norm, &layer_on)
                    .into_iter()
                    .map(|h| h.filter(|h| h.norm >= threshold))
                    .collect();
                overview_colors(ui, &hits)
            }
            Shading::Neuron(s, l) => neuron_trace(a, norm, s, l)
                .into_iter()
                .map(|v| (v > 0.0).then_some((NEURON_COLOR, v)))
                .collect(),
        };
        let hits = tripwire_hits(a, norm, &tripwires.0);
        if let Some(t) = self.tokens_view(ui, a, ctx, norm, &colors, &hits) {
            self.selected_token = Some(t);
        }
        tripwire_list(ui, a, &tripwires.0, &hits, &tripwires.1);
        ui.add_space(6.0);
        egui::CollapsingHeader::new("Activation pathway (layers × tokens)")
            .default_open(true)
            .show(ui, |ui| {
                pathway(ui, a, ctx, norm);
            });
        if let Some(t) = self.selected_token.filter(|t| *t < a.tokens.len()) {
            ui.separator();
            let rows = token_rows(a, ctx, norm, t, &|l| self.layer_on(l));
            if let Some(open) = self.token_table(ui, a, ctx, t, rows) {
                action = Some(open);
            }
        }
        action
    }

    fn shading_controls(&mut self, ui: &mut egui::Ui, ctx: &[SaeSlot], a: &Analysis) {
        ui.horizontal_wrapped(|ui| {
            ui.label("Shading:");
            ui.radio_value(&mut self.shading, Shading::Safety, "Safety overview");
            if let Shading::Neuron(s, l) = self.shading {
                let layer = ctx.get(s).map_or(0, |c| c.layer);
                ui.radio_value(
                    &mut self.shading,
                    Shading::Neuron(s, l),
                    format!("Neuron {layer}_{l}"),
                );
            } else {
                ui.label(
                    RichText::new("(pick a neuron in a token's table to follow it)")
                        .weak()
                        .small(),
                );
            }
            ui.separator();
            ui.label("Layers:");
            let layers: BTreeSet<usize> = a.saes.iter().map(|s| s.layer).collect();
            for l in layers {
                let mut on = !self.hidden_layers.contains(&l);
                if ui.checkbox(&mut on, format!("L{l}")).changed() {
                    if on {
                        self.hidden_layers.remove(&l);
                    } else {
                        self.hidden_layers.insert(l);
                    }
                }
            }
        });
        if self.shading == Shading::Safety {
            ui.horizontal_wrapped(|ui| {
                domain_legend(ui);
                ui.separator();
                strength_legend(ui);
                ui.separator();
                let l = ui.label("Shade from");
                ui.add(
                    egui::Slider::new(&mut self.threshold, 0.0..=1.0)
                        .step_by(0.05)
                        .fixed_decimals(2),
                )
                .labelled_by(l.id)
                .on_hover_text(
                    "Tokens whose strongest safety neuron is below this normalized activation \
                     are left unshaded",
                );
            });
        }
    }

    /// Tokens as flowing text; returns a clicked token.
    fn tokens_view(
        &self,
        ui: &mut egui::Ui,
        a: &Analysis,
        ctx: &[SaeSlot],
        norm: &Normalizer,
        colors: &[Option<(Color32, f32)>],
        hits: &[TripHit],
    ) -> Option<usize> {
        let tokens = a.tokens.iter().zip(colors).map(|(tok, c)| StripToken {
            text: &tok.text,
            special: tok.special,
            shade: *c,
            hover: None,
        });
        let strip = TokenStrip::new(tokens)
            .row_gap(4.0)
            .small_specials()
            .selected(self.selected_token)
            .answer_from(a.n_prompt)
            .break_at_newlines()
            .flagged(hits.iter().map(|h| h.token).collect())
            .sense(Sense::click())
            // Not yet: dark text on bright shades would change the stored pictures.
            .contrast(false);
        let mut tooltip = |ui: &mut egui::Ui, t: usize| token_tooltip(ui, a, ctx, norm, t);
        egui::Frame::group(ui.style())
            .show(ui, |ui| {
                ui.set_width(ui.available_width());
                strip.show(ui, Some(&mut tooltip))
            })
            .inner
    }

    fn token_table(
        &mut self,
        ui: &mut egui::Ui,
        a: &Analysis,
        slots: &[SaeSlot],
        t: usize,
        mut rows: Vec<NeuronRow>,
    ) -> Option<Command> {
        let mut action = None;
        let tok = &a.tokens[t];
        ui.horizontal(|ui| {
            if tok.text.is_empty() && !tok.special {
                let texts: Vec<&str> = a.tokens.iter().map(|t| t.text.as_str()).collect();
                let special: Vec<bool> = a.tokens.iter().map(|t| t.special).collect();
                let part = crate::model::tokenizer::partial_character(&texts, &special)[t];
                ui.strong(format!(
                    "Token {t}: {}",
                    crate::app::widgets::token_strip::partial_hint(part.map(|(_, c)| c))
                ));
            } else {
                ui.strong(format!("Token {t}: {:?}", tok.text));
            }
            ui.label(
                RichText::new(format!("id {} · {} active neurons", tok.id, rows.len())).weak(),
            );
        });
        ui.horizontal_wrapped(|ui| {
            ui.label("Filter:");
            egui::ComboBox::new("tag-filter", "tag")
                .selected_text(self.filter.tag.clone().unwrap_or_else(|| "any tag".into()))
                .height(520.0)
                .show_ui(ui, |ui| {
                    tag_filter_menu(ui, &mut self.filter.tag, "any tag", "no tag")
                });
            let layers: BTreeSet<usize> = rows.iter().map(|r| r.layer).collect();
            egui::ComboBox::new("layer-filter", "layer")
                .selected_text(
                    self.filter
                        .layer
                        .map_or("any layer".into(), |l| format!("layer {l}")),
                )
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.filter.layer, None, "any layer");
                    for l in layers {
                        ui.selectable_value(&mut self.filter.layer, Some(l), format!("layer {l}"));
                    }
                });
            ui.add(egui::Slider::new(&mut self.filter.min_score, 0.0..=1.0).text("min score"));
        });
        rows.retain(|r| self.filter.keep(r));
        sort_rows(&mut rows, self.sort.0, self.sort.1);
        if rows.is_empty() {
            ui.label(RichText::new("No neuron matches these filters.").weak());
            return None;
        }
        let mut sort = self.sort;
        let names = ctx_names(slots, &rows);
        let (stored, storeless): (Vec<NeuronRow>, Vec<NeuronRow>) =
            rows.into_iter().partition(|r| r.from_store);
        if !stored.is_empty() {
            action = action.or(neuron_table(
                ui,
                "token-neurons",
                &stored,
                &mut sort,
                &names,
            ));
        }
        if !storeless.is_empty() {
            ui.add_space(6.0);
            ui.label(
                RichText::new(format!(
                    "No store: normalized by this prompt's max ({} neurons; their 1.00 is not \
                     comparable with the rows above)",
                    storeless.len()
                ))
                .strong(),
            )
            .on_hover_text(
                "These SAEs have no feature store or quantile file: run `safe-sail collect` to \
                 normalize their neurons by their 0.999 quantile",
            );
            action = action.or(neuron_table(
                ui,
                "token-neurons-no-store",
                &storeless,
                &mut sort,
                &names,
            ));
        }
        self.sort = sort;
        if let Some(Command::OpenNeuron { sae, latent }) = action {
            self.shading = Shading::Neuron(sae, latent);
        }
        action
    }
}

/// The tripwires that fired on this text: where, which neuron, its normalized value (and the
/// tripwires that name nothing in this workspace).
fn tripwire_list(
    ui: &mut egui::Ui,
    a: &Analysis,
    watches: &[TripwireWatch],
    hits: &[TripHit],
    errors: &[String],
) {
    if watches.is_empty() && errors.is_empty() {
        return;
    }
    let warn = ui.visuals().warn_fg_color;
    if hits.is_empty() {
        ui.label(RichText::new("No tripwire fired on this text.").weak());
    }
    let line = |h: &TripHit| {
        let w = &watches[h.watch];
        let part = if h.token < a.n_prompt {
            "prompt"
        } else {
            "answer"
        };
        format!(
            "fired at {part} token {} ({:?}): neuron {} = {:.2} normalized",
            h.token, a.tokens[h.token].text, w.id, h.normalized
        )
    };
    // One line per tripwire (its strongest firing), every firing in a fold below it.
    let mut specs: Vec<&str> = watches.iter().map(|w| w.spec.as_str()).collect();
    specs.dedup();
    for spec in specs {
        let mine: Vec<&TripHit> = hits
            .iter()
            .filter(|h| watches[h.watch].spec == spec)
            .collect();
        let Some(top) = mine
            .iter()
            .max_by(|a, b| a.normalized.total_cmp(&b.normalized))
        else {
            continue;
        };
        ui.colored_label(
            warn,
            format!(
                "▲ Tripwire `{spec}` {} (on {} token{} in all)",
                line(top),
                mine.len(),
                if mine.len() == 1 { "" } else { "s" }
            ),
        );
        if mine.len() > 1 {
            egui::CollapsingHeader::new(format!("every firing of `{spec}`"))
                .default_open(false)
                .show(ui, |ui| {
                    for h in &mine {
                        ui.label(RichText::new(line(h)).small());
                    }
                });
        }
    }
    for e in errors {
        ui.label(RichText::new(e).small().weak());
    }
}

/// The safety overview's colour per token: the domain's, or the shade of the neuron's
/// sub-category; a legend of the sub-categories shown goes first (none when no hit has one).
fn overview_colors(
    ui: &mut egui::Ui,
    hits: &[Option<crate::inspect::SafetyHit>],
) -> Vec<Option<(Color32, f32)>> {
    let subs: Vec<String> = hits
        .iter()
        .flatten()
        .filter_map(|h| Some(format!("{}/{}", h.domain, h.subcategory.as_ref()?)))
        .collect();
    subcategory_legend(ui, &subs);
    hits.iter()
        .map(|h| {
            h.as_ref().map(|h| {
                let c = match &h.subcategory {
                    Some(s) => subcategory_color(&h.domain, s),
                    None => domain_color(&h.domain),
                };
                (c, h.norm)
            })
        })
        .collect()
}

/// The shade scale: how strong a background is at a few normalized activations.
fn strength_legend(ui: &mut egui::Ui) {
    ui.label("Strength:");
    for (v, name) in [(0.25, "0.25"), (0.5, "0.5"), (0.75, "0.75"), (1.0, "≥ 1")] {
        ui.label(
            RichText::new(format!(" {name} "))
                .background_color(crate::app::style::shade(Color32::from_gray(190), v))
                .color(Color32::WHITE),
        )
        .on_hover_text("normalized activation: the activation over the neuron's 0.999 quantile");
    }
}

/// Per row's SAE, its name when rows must be told apart by SAE (several SAEs share a layer,
/// so `layer_index` ids can collide); empty otherwise.
fn ctx_names(slots: &[SaeSlot], rows: &[NeuronRow]) -> Vec<String> {
    let saes: BTreeSet<usize> = rows.iter().map(|r| r.sae).collect();
    if !has_shared_layer(saes.iter().filter_map(|&s| slots.get(s)).map(|c| c.layer)) {
        return vec![];
    }
    (0..slots.len()).map(|i| slots[i].name.clone()).collect()
}

/// A table of neuron rows (sortable by the header buttons); the SAE is named on every row
/// when `names` is not empty. Returns the neuron to open.
fn neuron_table(
    ui: &mut egui::Ui,
    id: &str,
    rows: &[NeuronRow],
    sort: &mut (SortBy, bool),
    names: &[String],
) -> Option<Command> {
    let header = |ui: &mut egui::Ui, sort: &mut (SortBy, bool), key: SortBy, name: &str| {
        let arrow = if sort.0 == key {
            if sort.1 {
                " ↓"
            } else {
                " ↑"
            }
        } else {
            ""
        };
        if ui.button(format!("{name}{arrow}")).clicked() {
            *sort = if sort.0 == key {
                (key, !sort.1)
            } else {
                (key, true)
            };
        }
    };
    let mut action = None;
    use egui_extras::{Column, TableBuilder};
    let mut b = TableBuilder::new(ui)
        .id_salt(id)
        .striped(true)
        .resizable(true)
        .max_scroll_height(320.0)
        .column(Column::auto().at_least(120.0));
    if !names.is_empty() {
        b = b.column(Column::auto().at_least(120.0).clip(true));
    }
    b.column(Column::auto().at_least(70.0))
        .column(Column::auto().at_least(60.0))
        .column(Column::remainder().at_least(200.0).clip(true))
        .column(Column::auto().at_least(90.0))
        .column(Column::auto().at_least(50.0))
        .header(22.0, |mut h| {
            h.col(|ui| header(ui, sort, SortBy::Id, "Neuron"));
            if !names.is_empty() {
                h.col(|ui| {
                    ui.strong("SAE");
                });
            }
            h.col(|ui| header(ui, sort, SortBy::Norm, "Normalized"));
            h.col(|ui| header(ui, sort, SortBy::Raw, "Raw"));
            h.col(|ui| {
                ui.strong("Explanation");
            });
            h.col(|ui| {
                ui.strong("Tags");
            });
            h.col(|ui| header(ui, sort, SortBy::Score, "Score"));
        })
        .body(|body| {
            body.rows(22.0, rows.len(), |mut row| {
                let r = &rows[row.index()];
                row.col(|ui| {
                    ui.horizontal(|ui| {
                        if ui
                            .link(&r.id)
                            .on_hover_text("Open the neuron page")
                            .clicked()
                        {
                            action = Some(Command::OpenNeuron {
                                sae: r.sae,
                                latent: r.latent,
                            });
                        }
                        if ui
                            .small_button("steer")
                            .on_hover_text(
                                "Open the Steer panel with an intervention on this neuron",
                            )
                            .clicked()
                        {
                            action = Some(Command::SteerNeuron {
                                sae: r.sae,
                                latent: r.latent,
                            });
                        }
                    });
                });
                if let Some(n) = names.get(r.sae) {
                    row.col(|ui| {
                        ui.label(RichText::new(n).small());
                    });
                }
                row.col(|ui| {
                    ui.label(format!("{:.2}", r.norm));
                });
                row.col(|ui| {
                    ui.label(format!("{:.3}", r.raw));
                });
                row.col(|ui| {
                    let text = r.explanation.clone().unwrap_or_else(|| "—".into());
                    ui.label(text.lines().next().unwrap_or(""))
                        .on_hover_text(text);
                });
                row.col(|ui| {
                    ui.horizontal(|ui| {
                        for t in &r.tags {
                            tag_chip(ui, t);
                        }
                    });
                });
                row.col(|ui| {
                    ui.label(r.score.map_or("—".into(), |s| format!("{s:.2}")));
                });
            });
        });
    action
}

fn token_tooltip(ui: &mut egui::Ui, a: &Analysis, ctx: &[SaeSlot], norm: &Normalizer, t: usize) {
    let tok = &a.tokens[t];
    ui.strong(format!("{:?} (id {})", tok.text, tok.id));
    if tok.special {
        ui.label(RichText::new("special token: excluded from the overview").weak());
        return;
    }
    let rows = token_rows(a, ctx, norm, t, &|_| true);
    let names = ctx_names(ctx, &rows);
    let line = |r: &NeuronRow| {
        let expl = r.explanation.as_deref().unwrap_or("—");
        let expl: String = expl.chars().take(60).collect();
        match names.get(r.sae) {
            Some(n) => format!("{} ({n})  {:.2}  {}", r.id, r.norm, expl),
            None => format!("{}  {:.2}  {}", r.id, r.norm, expl),
        }
    };
    for r in rows.iter().filter(|r| r.from_store).take(5) {
        ui.label(line(r));
    }
    let storeless: Vec<&NeuronRow> = rows.iter().filter(|r| !r.from_store).collect();
    if !storeless.is_empty() {
        ui.label(
            RichText::new(format!(
                "{} more with no store (normalized by this prompt's max), e.g.",
                storeless.len()
            ))
            .small()
            .weak(),
        );
        for r in storeless.iter().take(2) {
            ui.label(RichText::new(line(r)).small());
        }
    }
    if rows.is_empty() {
        ui.label(RichText::new("no active neurons").weak());
    }
}

/// The layers × tokens pathway: per SAE the strongest normalized activation at each token,
/// among safety neurons when the databases tag any.
fn pathway(ui: &mut egui::Ui, a: &Analysis, ctx: &[SaeSlot], norm: &Normalizer) {
    if a.saes.is_empty() || a.tokens.is_empty() {
        ui.label(RichText::new("No SAE loaded.").weak());
        return;
    }
    let any_safety = ctx.iter().any(SaeSlot::has_safety_neurons);
    let full = layer_heatmap(a, ctx, norm, any_safety);
    if !any_safety {
        ui.label(RichText::new("No safety-tagged neurons in the neuron database: showing the strongest activation of any neuron.").weak().small());
    }
    // With safety neurons, only the SAEs that have some (candidates without a database would
    // be empty rows); rows are named by layer, or by SAE when several share a layer.
    let rows: Vec<usize> = (0..a.saes.len())
        .filter(|&i| {
            !any_safety
                || ctx
                    .get(a.saes[i].sae)
                    .is_some_and(SaeSlot::has_safety_neurons)
        })
        .collect();
    let shared_layers = has_shared_layer(rows.iter().map(|&i| a.saes[i].layer));
    let grid: Vec<HeatmapRow> = rows
        .iter()
        .map(|&i| {
            let s = &a.saes[i];
            let label = match ctx.get(s.sae) {
                Some(c) if shared_layers => c.name.chars().take(22).collect(),
                _ => format!("L{}", s.layer),
            };
            HeatmapRow {
                label,
                values: &full[i],
            }
        })
        .collect();
    let tokens: Vec<&str> = a.tokens.iter().map(|t| t.text.as_str()).collect();
    let label_w = if shared_layers { 150.0 } else { 40.0 };
    heatmap(ui, &grid, &tokens, label_w);
}
