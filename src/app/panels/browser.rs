//! The neuron browser: one virtualized table of every neuron of the workspace, with search,
//! filters and sorting, the explanation [`Editor`] beside it, and a keyboard review flow. A
//! "Map" toggle shows one SAE's neurons as a 2-D map instead of the table ([`MapPanel`]).

use super::editor::{EditKind, Editor, EditorRequest, Snapshot};
use super::neuron_map::MapPanel;
use crate::app::ctx::{Neuron, SaeSlot, ViewCtx};
use crate::app::widgets::{tag_chip, tag_filter_menu};
use crate::app::Command;
use crate::db::editable::ReviewStatus;
use eframe::egui::{self, Key, Modifiers, RichText};

/// Sort order of the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowseSort {
    Id,
    Score,
    Status,
}

/// Filters of the browser.
#[derive(Debug, Clone, PartialEq)]
pub struct Filters {
    /// Case-insensitive search in explanations (English or Chinese) and ids.
    pub search: String,
    /// A tag: a domain (its sub-categories included), `domain/sub-category`, or `"none"` for
    /// untagged neurons.
    pub tag: Option<String>,
    pub layer: Option<usize>,
    pub sae: Option<usize>,
    pub min_score: f64,
    pub max_score: f64,
    pub status: Option<ReviewStatus>,
    /// `Some(true)`: only explained neurons; `Some(false)`: only unexplained ones.
    pub has_explanation: Option<bool>,
    pub sort: BrowseSort,
    pub descending: bool,
}

impl Default for Filters {
    fn default() -> Self {
        Self {
            search: String::new(),
            tag: None,
            layer: None,
            sae: None,
            min_score: 0.0,
            max_score: 1.0,
            status: None,
            has_explanation: None,
            sort: BrowseSort::Id,
            descending: false,
        }
    }
}

/// Browser and editor state.
#[derive(Default)]
pub struct Browser {
    pub filters: Filters,
    rows: Vec<Neuron>,
    /// Indices into `rows` that pass the filters, in display order.
    pub shown: Vec<usize>,
    applied: Option<Filters>,
    pub selected: Option<usize>,
    pub editor: Editor,
    /// Show the map instead of the table.
    pub show_map: bool,
    pub map: MapPanel,
}

impl Browser {
    /// Rebuilds the list of neurons from the loaded SAEs.
    pub fn set_saes(&mut self, slots: &[SaeSlot]) {
        self.rows = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.info.as_ref().map(|s| (i, s)))
            .flat_map(|(i, s)| {
                (0..s.d_sae as u32).map(move |l| Neuron {
                    sae: i,
                    layer: s.layer,
                    latent: l,
                    id: crate::db::neuron_id(s.layer, l),
                })
            })
            .collect();
        self.applied = None;
        self.selected = None;
        self.map.invalidate_colours();
    }

    /// Number of neurons in the workspace.
    pub fn total(&self) -> usize {
        self.rows.len()
    }

    /// The selected row.
    pub fn selected_row(&self) -> Option<&Neuron> {
        self.selected.and_then(|i| self.rows.get(i))
    }

    /// Selects a neuron by SAE and latent.
    pub fn select(&mut self, sae: usize, latent: u32) {
        self.selected = self
            .rows
            .iter()
            .position(|r| r.sae == sae && r.latent == latent);
    }

    /// Re-applies the filters (when they changed, or `force`).
    pub fn refilter(&mut self, ctx: &ViewCtx, force: bool) {
        if !force && self.applied.as_ref() == Some(&self.filters) {
            return;
        }
        let f = &self.filters;
        let needle = f.search.trim().to_lowercase();
        let mut shown: Vec<usize> = (0..self.rows.len())
            .filter(|&i| {
                let r = &self.rows[i];
                if f.layer.is_some_and(|l| l != r.layer) || f.sae.is_some_and(|s| s != r.sae) {
                    return false;
                }
                let rec = ctx.record(r.sae, r.latent);
                let expl = rec.and_then(|x| x.explanation.as_deref());
                if let Some(want) = f.has_explanation {
                    if expl.is_some_and(|e| !e.trim().is_empty()) != want {
                        return false;
                    }
                }
                let tag_ok = match f.tag.as_deref() {
                    None => true,
                    Some("none") => rec.is_none_or(|x| x.tag_list.is_empty()),
                    Some(t) => rec.is_some_and(|x| x.has_tag(t)),
                };
                if !tag_ok {
                    return false;
                }
                let filtering_score = f.min_score > 0.0 || f.max_score < 1.0;
                if filtering_score {
                    match rec.and_then(|x| x.live_score()) {
                        Some(s) if s >= f.min_score && s <= f.max_score => {}
                        _ => return false,
                    }
                }
                if let Some(st) = f.status {
                    if ctx.review_status(r.sae, &r.id) != st {
                        return false;
                    }
                }
                if !needle.is_empty() {
                    let in_id = r.id.contains(&needle);
                    let in_text = expl.is_some_and(|e| e.to_lowercase().contains(&needle));
                    if !in_id && !in_text {
                        return false;
                    }
                }
                true
            })
            .collect();
        let key_score = |i: &usize| {
            let r = &self.rows[*i];
            ctx.record(r.sae, r.latent)
                .and_then(|r| r.live_score())
                .unwrap_or(f64::NEG_INFINITY)
        };
        match f.sort {
            BrowseSort::Id => {
                shown.sort_by_key(|&i| (self.rows[i].layer, self.rows[i].sae, self.rows[i].latent))
            }
            BrowseSort::Score => {
                shown.sort_by(|a, b| key_score(a).total_cmp(&key_score(b)).then(a.cmp(b)))
            }
            BrowseSort::Status => shown.sort_by_key(|&i| {
                (
                    ctx.review_status(self.rows[i].sae, &self.rows[i].id) as u8,
                    i,
                )
            }),
        }
        if f.descending {
            shown.reverse();
        }
        self.shown = shown;
        self.applied = Some(self.filters.clone());
        // (Tags may have changed too: a forced refilter follows a database change.)
        self.map.invalidate_colours();
    }

    /// The next unreviewed neuron after the selection, in display order.
    pub fn next_unreviewed(&mut self, ctx: &ViewCtx) {
        let pos = self
            .selected
            .and_then(|s| self.shown.iter().position(|&i| i == s))
            .map_or(0, |p| p + 1);
        let n = self.shown.len();
        for k in 0..n {
            let i = self.shown[(pos + k) % n.max(1)];
            let r = &self.rows[i];
            if ctx.review_status(r.sae, &r.id) == ReviewStatus::Unreviewed {
                self.selected = Some(i);
                return;
            }
        }
    }

    /// Undoes the editor's last step: the neuron is selected and its fields put back.
    pub fn undo(&mut self, ctx: &ViewCtx) -> Option<Command> {
        let rows = &self.rows;
        let now = |snap: &Snapshot| {
            let r = rows.iter().find(|r| r.id == snap.id)?;
            Some(Snapshot::of(ctx, r))
        };
        let snap = self.editor.pop_undo(now)?;
        self.restore(&snap)
    }

    /// Redoes the last undone step.
    pub fn redo(&mut self, ctx: &ViewCtx) -> Option<Command> {
        let rows = &self.rows;
        let now = |snap: &Snapshot| {
            let r = rows.iter().find(|r| r.id == snap.id)?;
            Some(Snapshot::of(ctx, r))
        };
        let snap = self.editor.pop_redo(now)?;
        self.restore(&snap)
    }

    /// Selects the neuron of `snap` (in the selected SAE when ids repeat) and puts it back.
    fn restore(&mut self, snap: &Snapshot) -> Option<Command> {
        let i = self
            .rows
            .iter()
            .position(|r| r.id == snap.id && self.selected_row().is_none_or(|s| s.sae == r.sae))?;
        self.selected = Some(i);
        let r = self.rows[i].clone();
        Some(self.editor.restore(&r, snap))
    }

    /// Sets the review status of the selected neuron; once applied, the selection moves to
    /// the next unreviewed one ([`Browser::edited`]). With nothing selected, it moves there
    /// at once.
    pub fn review(&mut self, ctx: &ViewCtx, status: ReviewStatus) -> Option<Command> {
        match self.selected_row() {
            Some(r) => Some(Editor::review_edit(ctx, r, status)),
            None => {
                self.editor.end_step();
                self.next_unreviewed(ctx);
                None
            }
        }
    }

    /// After the app applied one of this panel's edits (`changed` fields changed): keeps
    /// the undo history, and after a review moves on to the next unreviewed neuron.
    pub fn edited(&mut self, kind: EditKind, changed: usize, ctx: &ViewCtx) {
        self.map.invalidate_colours();
        if self.editor.edited(kind, changed) {
            self.next_unreviewed(ctx);
        }
    }

    /// Draws the browser and editor.
    pub fn ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) -> Vec<Command> {
        let mut commands = self.keyboard(ui, ctx);
        self.filter_bar(ui, ctx.slots);
        self.refilter(ctx, false);
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.show_map, false, "Table");
            ui.selectable_value(&mut self.show_map, true, "Map");
            ui.separator();
            ui.label(
                RichText::new(format!(
                    "{} of {} neurons",
                    self.shown.len(),
                    self.rows.len()
                ))
                .weak(),
            );
        });
        egui::Panel::right("editor")
            .default_size(460.0)
            .min_size(320.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    let row = self.selected_row().cloned();
                    for req in self.editor.ui(ui, ctx, row.as_ref()) {
                        commands.extend(self.request(ctx, req));
                    }
                });
            });
        egui::CentralPanel::default().show(ui, |ui| {
            if self.show_map {
                commands.extend(self.map_ui(ui, ctx));
            } else {
                self.table(ui, ctx);
            }
        });
        commands
    }

    /// The map of one SAE, the points matching the filters lit (all when nothing is
    /// filtered out); a click on a point selects it and opens its page.
    fn map_ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) -> Option<Command> {
        let Some(sae) = self.map.current(ctx, self.filters.sae) else {
            ui.label(RichText::new("The map appears once the SAEs are loaded.").weak());
            return None;
        };
        let d_sae = ctx
            .slot(sae)
            .and_then(|s| s.info.as_ref())
            .map_or(0, |i| i.d_sae);
        let highlight = (self.shown.len() < self.rows.len()).then(|| {
            let mut lit = vec![false; d_sae];
            for &i in &self.shown {
                let r = &self.rows[i];
                if r.sae == sae {
                    if let Some(x) = lit.get_mut(r.latent as usize) {
                        *x = true;
                    }
                }
            }
            lit
        });
        let selected = self
            .selected_row()
            .filter(|r| r.sae == sae)
            .map(|r| r.latent);
        let command = self.map.ui(ui, ctx, sae, highlight.as_deref(), selected);
        if let Some(Command::OpenNeuron { sae, latent }) = &command {
            self.select(*sae, *latent);
        }
        command
    }

    /// What the editor's form asked for, as commands for the app.
    fn request(&mut self, ctx: &ViewCtx, req: EditorRequest) -> Option<Command> {
        match req {
            EditorRequest::Command(c) => Some(c),
            EditorRequest::Review(s) => self.review(ctx, s),
            EditorRequest::Undo => self.undo(ctx),
            EditorRequest::Redo => self.redo(ctx),
            EditorRequest::NextUnreviewed => {
                self.next_unreviewed(ctx);
                None
            }
        }
    }

    /// Review keys (Alt+A/W/R, Alt+N), undo / redo and Alt+↑/↓ through the table.
    fn keyboard(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) -> Vec<Command> {
        let mut commands = vec![];
        let typing = ui.ctx().memory(|m| m.focused().is_some());
        let (next, accept, reject, needs, undo, redo, down, up) = ui.input_mut(|i| {
            (
                i.consume_key(Modifiers::ALT, Key::N),
                i.consume_key(Modifiers::ALT, Key::A),
                i.consume_key(Modifiers::ALT, Key::R),
                i.consume_key(Modifiers::ALT, Key::W),
                !typing && i.consume_key(Modifiers::COMMAND, Key::Z),
                !typing
                    && (i.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z)
                        || i.consume_key(Modifiers::COMMAND, Key::Y)),
                i.consume_key(Modifiers::ALT, Key::ArrowDown),
                i.consume_key(Modifiers::ALT, Key::ArrowUp),
            )
        });
        let mut status = None;
        if accept {
            status = Some(ReviewStatus::Verified);
        } else if reject {
            status = Some(ReviewStatus::Rejected);
        } else if needs {
            status = Some(ReviewStatus::NeedsWork);
        }
        if let Some(s) = status {
            commands.extend(self.review(ctx, s));
        }
        if next {
            self.next_unreviewed(ctx);
        }
        if undo {
            commands.extend(self.undo(ctx));
        }
        if redo {
            commands.extend(self.redo(ctx));
        }
        if down || up {
            let pos = self
                .selected
                .and_then(|s| self.shown.iter().position(|&i| i == s));
            let new = match (pos, down) {
                (None, _) => 0,
                (Some(p), true) => (p + 1).min(self.shown.len().saturating_sub(1)),
                (Some(p), false) => p.saturating_sub(1),
            };
            self.selected = self.shown.get(new).copied();
        }
        commands
    }

    fn filter_bar(&mut self, ui: &mut egui::Ui, ctx: &[SaeSlot]) {
        let f = &mut self.filters;
        ui.horizontal_wrapped(|ui| {
            ui.set_max_width(ui.available_width());
            let l = ui.label("Search");
            ui.add(
                egui::TextEdit::singleline(&mut f.search)
                    .hint_text("explanation text or id")
                    .desired_width(200.0),
            )
            .labelled_by(l.id);
            let tag = f.tag.clone().unwrap_or_else(|| "any".into());
            combo(ui, "tag", tag, Some(520.0), |ui| {
                tag_filter_menu(ui, &mut f.tag, "any", "none")
            });
            let mut layers: Vec<usize> = ctx.iter().map(|c| c.layer).collect();
            layers.sort();
            layers.dedup();
            let layer = f.layer.map_or("any".into(), |l| l.to_string());
            combo(ui, "layer", layer, None, |ui| {
                ui.selectable_value(&mut f.layer, None, "any");
                for l in layers {
                    ui.selectable_value(&mut f.layer, Some(l), l.to_string());
                }
            });
            let sae = f
                .sae
                .and_then(|s| ctx.get(s))
                .map_or("any".into(), |c| c.name.clone());
            combo(ui, "SAE", sae, None, |ui| {
                ui.selectable_value(&mut f.sae, None, "any");
                for (i, c) in ctx.iter().enumerate() {
                    ui.selectable_value(&mut f.sae, Some(i), &c.name);
                }
            });
        });
        ui.horizontal_wrapped(|ui| {
            ui.set_max_width(ui.available_width());
            let status = f.status.map_or("any", |s| s.name()).to_string();
            combo(ui, "review", status, None, |ui| {
                ui.selectable_value(&mut f.status, None, "any");
                for s in ReviewStatus::ALL {
                    ui.selectable_value(&mut f.status, Some(s), s.name());
                }
            });
            let explained = match f.has_explanation {
                None => "any",
                Some(true) => "yes",
                Some(false) => "no",
            };
            combo(ui, "explained", explained.to_string(), None, |ui| {
                ui.selectable_value(&mut f.has_explanation, None, "any");
                ui.selectable_value(&mut f.has_explanation, Some(true), "yes");
                ui.selectable_value(&mut f.has_explanation, Some(false), "no");
            });
            ui.spacing_mut().slider_width = 90.0;
            for (label, v) in [
                ("min score", &mut f.min_score),
                ("max score", &mut f.max_score),
            ] {
                let l = ui.label(label);
                ui.add(egui::Slider::new(v, 0.0..=1.0)).labelled_by(l.id);
            }
            let sort = match f.sort {
                BrowseSort::Id => "id",
                BrowseSort::Score => "score",
                BrowseSort::Status => "review",
            };
            combo(ui, "sort", sort.to_string(), None, |ui| {
                ui.selectable_value(&mut f.sort, BrowseSort::Id, "id");
                ui.selectable_value(&mut f.sort, BrowseSort::Score, "score");
                ui.selectable_value(&mut f.sort, BrowseSort::Status, "review");
            });
            ui.checkbox(&mut f.descending, "descending");
        });
    }

    fn table(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) {
        use egui_extras::{Column, TableBuilder};
        let mut clicked = None;
        // Cell text takes no clicks of its own: a click anywhere on a row selects it.
        ui.style_mut().interaction.selectable_labels = false;
        // When candidates share a layer, neuron ids repeat: an SAE column tells them apart.
        let shared = ctx.shared_layers();
        let mut table = TableBuilder::new(ui)
            .id_salt("browser")
            .striped(true)
            .sense(egui::Sense::click())
            .max_scroll_height(f32::INFINITY)
            .column(Column::auto().at_least(70.0));
        if shared {
            table = table.column(Column::auto().at_least(120.0).clip(true));
        }
        table
            .column(Column::remainder().at_least(160.0).clip(true))
            .column(Column::auto().at_least(70.0))
            .column(Column::auto().at_least(44.0))
            .column(Column::auto().at_least(80.0))
            .header(20.0, |mut h| {
                let sae_col = if shared { &["SAE"][..] } else { &[] };
                let titles = ["Neuron"].iter().chain(sae_col).chain(&[
                    "Explanation",
                    "Tags",
                    "Score",
                    "Review",
                ]);
                for t in titles {
                    h.col(|ui| {
                        ui.strong(*t);
                    });
                }
            })
            .body(|body| {
                body.rows(22.0, self.shown.len(), |mut row| {
                    let i = self.shown[row.index()];
                    let r = &self.rows[i];
                    row.set_selected(self.selected == Some(i));
                    let rec = ctx.record(r.sae, r.latent);
                    row.col(|ui| {
                        if ui
                            .selectable_label(self.selected == Some(i), &r.id)
                            .clicked()
                        {
                            clicked = Some(i);
                        }
                    });
                    if shared {
                        row.col(|ui| {
                            let name = ctx.slot(r.sae).map_or("", |c| c.name.as_str());
                            ui.label(RichText::new(name).small());
                        });
                    }
                    row.col(|ui| {
                        let e = rec.and_then(|x| x.explanation.as_deref()).unwrap_or("—");
                        let first = e.lines().next().unwrap_or("");
                        let shown = ui.add(egui::Label::new(first).truncate());
                        // (A cut line shows itself whole on hover; more lines too.)
                        if first.len() < e.len() {
                            shown.on_hover_text(e);
                        }
                    });
                    row.col(|ui| {
                        ui.horizontal(|ui| {
                            for t in rec.map(|x| x.tags()).unwrap_or_default() {
                                tag_chip(ui, &t);
                            }
                        });
                    });
                    row.col(|ui| {
                        score_label(ui, rec, 2);
                    });
                    row.col(|ui| {
                        ui.label(ctx.review_status(r.sae, &r.id).name());
                    });
                    if row.response().clicked() {
                        clicked = Some(i);
                    }
                });
            });
        if let Some(i) = clicked {
            self.selected = Some(i);
        }
    }
}

/// A record's score with `decimals` places: struck through, with a hover note, when it is
/// stale (made for an earlier explanation); "—" when there is none.
pub fn score_label(ui: &mut egui::Ui, rec: Option<&crate::db::NeuronRecord>, decimals: usize) {
    match rec.and_then(|x| x.correlation_score.map(|s| (s, x.score_stale))) {
        None => {
            ui.label("—");
        }
        Some((s, false)) => {
            ui.label(format!("{s:.decimals$}"));
        }
        Some((s, true)) => {
            ui.label(
                RichText::new(format!("{s:.decimals$}"))
                    .strikethrough()
                    .weak(),
            )
            .on_hover_text(
                "Stale: scored for an earlier explanation (kept, left out of filters and means)",
            );
        }
    }
}

/// A label, then its combo box (labelled by it for screen readers and tests), showing
/// `selected` and `menu` when opened (at most `height` tall).
fn combo<R>(
    ui: &mut egui::Ui,
    label: &str,
    selected: String,
    height: Option<f32>,
    menu: impl FnOnce(&mut egui::Ui) -> R,
) {
    let l = ui.label(label);
    let mut c = egui::ComboBox::from_id_salt(("b-filter", label)).selected_text(selected);
    if let Some(h) = height {
        c = c.height(h);
    }
    c.show_ui(ui, menu).response.labelled_by(l.id);
}
