//! The neuron browser (one virtualized table of every neuron of the workspace, with search,
//! filters and sorting) and the explanation editor beside it (annotators: explanation, tags,
//! review status, note; undo/redo; a keyboard review flow; saved as they type).

use super::analysis::SaeContext;
use super::style::tag_chip;
use super::worker::SaeInfo;
use crate::db::autosave::EditSession;
use crate::db::editable::{Edit, ReviewStatus};
use crate::db::NeuronRecord;
use crate::domains::SAFETY_DOMAINS;
use eframe::egui::{self, Key, Modifiers, RichText};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// One neuron of the workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub sae: usize,
    pub layer: usize,
    pub latent: u32,
    pub id: String,
}

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
    /// A tag, or `"none"` for untagged neurons.
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

/// The record fields an annotator edits, for undo/redo.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    id: String,
    explanation: Option<String>,
    tags: Vec<String>,
    status: ReviewStatus,
    note: String,
}

/// Browser and editor state.
#[derive(Default)]
pub struct Browser {
    pub filters: Filters,
    rows: Vec<Row>,
    /// Indices into `rows` that pass the filters, in display order.
    pub shown: Vec<usize>,
    applied: Option<Filters>,
    pub selected: Option<usize>,
    /// Editor buffers of the selected neuron.
    expl: String,
    free_tags: String,
    note: String,
    loaded_for: Option<String>,
    undo: Vec<Snapshot>,
    redo: Vec<Snapshot>,
    last_undo_push: Option<(Instant, &'static str)>,
}

/// Something the browser wants from the app.
pub enum BrowserAction {
    OpenNeuron(usize, u32),
}

fn session_for<'a>(
    sessions: &'a mut [(PathBuf, EditSession)],
    ctx: &[SaeContext],
    sae: usize,
) -> Option<&'a mut EditSession> {
    let path = ctx.get(sae)?.db_path.as_ref()?;
    sessions.iter_mut().find(|(p, _)| p == path).map(|(_, s)| s)
}

fn record<'a>(ctx: &'a [SaeContext], r: &Row) -> Option<&'a NeuronRecord> {
    ctx.get(r.sae).and_then(|c| c.record(r.latent))
}

fn status_of(sessions: &[(PathBuf, EditSession)], ctx: &[SaeContext], r: &Row) -> ReviewStatus {
    review_status(sessions, ctx, r.sae, &r.id)
}

/// The editing session of an SAE's neuron database, if it has one (read-only).
fn session_of<'a>(
    sessions: &'a [(PathBuf, EditSession)],
    ctx: &[SaeContext],
    sae: usize,
) -> Option<&'a EditSession> {
    let path = ctx.get(sae)?.db_path.as_ref()?;
    sessions.iter().find(|(p, _)| p == path).map(|(_, s)| s)
}

/// A neuron's full record in its SAE's editable database (provenance included), if any.
pub fn editable_entry<'a>(
    sessions: &'a [(PathBuf, EditSession)],
    ctx: &[SaeContext],
    sae: usize,
    id: &str,
) -> Option<&'a serde_json::Value> {
    session_of(sessions, ctx, sae).and_then(|s| s.db.entries.get(id))
}

/// A neuron's review status, from the editing session of its SAE's database.
pub fn review_status(
    sessions: &[(PathBuf, EditSession)],
    ctx: &[SaeContext],
    sae: usize,
    id: &str,
) -> ReviewStatus {
    session_of(sessions, ctx, sae).map_or(ReviewStatus::Unreviewed, |s| s.db.status(id))
}

impl Browser {
    /// Rebuilds the list of neurons from the loaded SAEs.
    pub fn set_saes(&mut self, saes: &[Option<SaeInfo>]) {
        self.rows = saes
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
            .flat_map(|(i, s)| {
                (0..s.d_sae as u32).map(move |l| Row {
                    sae: i,
                    layer: s.layer,
                    latent: l,
                    id: crate::db::neuron_id(s.layer, l),
                })
            })
            .collect();
        self.applied = None;
        self.selected = None;
    }

    /// Number of neurons in the workspace.
    pub fn total(&self) -> usize {
        self.rows.len()
    }

    /// The selected row.
    pub fn selected_row(&self) -> Option<&Row> {
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
    pub fn refilter(
        &mut self,
        ctx: &[SaeContext],
        sessions: &[(PathBuf, EditSession)],
        force: bool,
    ) {
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
                let rec = record(ctx, r);
                let expl = rec.and_then(|x| x.explanation.as_deref());
                if let Some(want) = f.has_explanation {
                    if expl.is_some_and(|e| !e.trim().is_empty()) != want {
                        return false;
                    }
                }
                let tag_ok = match f.tag.as_deref() {
                    None => true,
                    Some("none") => rec.is_none_or(|x| x.tag_list.is_empty()),
                    Some(t) => rec.is_some_and(|x| x.tag_list.iter().any(|y| y == t)),
                };
                if !tag_ok {
                    return false;
                }
                let filtering_score = f.min_score > 0.0 || f.max_score < 1.0;
                if filtering_score {
                    match rec.and_then(|x| x.correlation_score) {
                        Some(s) if s >= f.min_score && s <= f.max_score => {}
                        _ => return false,
                    }
                }
                if let Some(st) = f.status {
                    if status_of(sessions, ctx, r) != st {
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
            record(ctx, &self.rows[*i])
                .and_then(|r| r.correlation_score)
                .unwrap_or(f64::NEG_INFINITY)
        };
        match f.sort {
            BrowseSort::Id => {
                shown.sort_by_key(|&i| (self.rows[i].layer, self.rows[i].sae, self.rows[i].latent))
            }
            BrowseSort::Score => {
                shown.sort_by(|a, b| key_score(a).total_cmp(&key_score(b)).then(a.cmp(b)))
            }
            BrowseSort::Status => {
                shown.sort_by_key(|&i| (status_of(sessions, ctx, &self.rows[i]) as u8, i))
            }
        }
        if f.descending {
            shown.reverse();
        }
        self.shown = shown;
        self.applied = Some(self.filters.clone());
    }

    /// The next unreviewed neuron after the selection, in display order.
    pub fn next_unreviewed(&mut self, ctx: &[SaeContext], sessions: &[(PathBuf, EditSession)]) {
        let pos = self
            .selected
            .and_then(|s| self.shown.iter().position(|&i| i == s))
            .map_or(0, |p| p + 1);
        let n = self.shown.len();
        for k in 0..n {
            let i = self.shown[(pos + k) % n.max(1)];
            if status_of(sessions, ctx, &self.rows[i]) == ReviewStatus::Unreviewed {
                self.selected = Some(i);
                return;
            }
        }
    }

    fn snapshot(
        &self,
        ctx: &[SaeContext],
        sessions: &[(PathBuf, EditSession)],
        r: &Row,
    ) -> Snapshot {
        let rec = record(ctx, r).cloned().unwrap_or_default();
        let note = ctx
            .get(r.sae)
            .and_then(|c| c.db_path.as_ref())
            .and_then(|p| sessions.iter().find(|(q, _)| q == p))
            .map(|(_, s)| s.db.note(&r.id).to_string())
            .unwrap_or_default();
        Snapshot {
            id: r.id.clone(),
            explanation: rec.explanation,
            tags: rec.tag_list,
            status: status_of(sessions, ctx, r),
            note,
        }
    }

    /// Applies an edit to the selected neuron, with an undo step (typing in one field within a
    /// second makes one step).
    fn edit(
        &mut self,
        ctx: &mut [SaeContext],
        sessions: &mut [(PathBuf, EditSession)],
        e: Edit,
        field: &'static str,
    ) -> Result<(), String> {
        let Some(r) = self.selected_row().cloned() else {
            return Ok(());
        };
        let before = self.snapshot(ctx, sessions, &r);
        let coalesce = self
            .last_undo_push
            .is_some_and(|(t, f)| f == field && t.elapsed() < Duration::from_secs(1));
        let Some(session) = session_for(sessions, ctx, r.sae) else {
            return Err(
                "this SAE has no neuron database file: add `neuron_db` to the workspace".into(),
            );
        };
        let changed = session.edit(&r.id, &e).map_err(|e| format!("{e:#}"))?;
        if changed == 0 {
            return Ok(());
        }
        if !coalesce {
            self.undo.push(before);
            self.redo.clear();
        }
        self.last_undo_push = Some((Instant::now(), field));
        refresh_views(ctx, session, &r.id);
        Ok(())
    }

    fn restore(
        &mut self,
        ctx: &mut [SaeContext],
        sessions: &mut [(PathBuf, EditSession)],
        snap: &Snapshot,
    ) {
        let Some(i) = self
            .rows
            .iter()
            .position(|r| r.id == snap.id && self.selected_row().is_none_or(|s| s.sae == r.sae))
        else {
            return;
        };
        self.selected = Some(i);
        let r = self.rows[i].clone();
        if let Some(session) = session_for(sessions, ctx, r.sae) {
            let e = Edit {
                explanation: Some(snap.explanation.clone()),
                tags: Some(snap.tags.clone()),
                status: Some(snap.status),
                note: Some(snap.note.clone()),
                ..Default::default()
            };
            let _ = session.edit(&r.id, &e);
            refresh_views(ctx, session, &r.id);
        }
        self.loaded_for = None;
        self.last_undo_push = None;
    }

    pub fn undo(&mut self, ctx: &mut [SaeContext], sessions: &mut [(PathBuf, EditSession)]) {
        if let Some(snap) = self.undo.pop() {
            if let Some(r) = self.rows.iter().find(|r| r.id == snap.id).cloned() {
                self.redo.push(self.snapshot(ctx, sessions, &r));
            }
            self.restore(ctx, sessions, &snap);
        }
    }

    pub fn redo(&mut self, ctx: &mut [SaeContext], sessions: &mut [(PathBuf, EditSession)]) {
        if let Some(snap) = self.redo.pop() {
            if let Some(r) = self.rows.iter().find(|r| r.id == snap.id).cloned() {
                self.undo.push(self.snapshot(ctx, sessions, &r));
            }
            self.restore(ctx, sessions, &snap);
        }
    }

    /// Sets the review status of the selected neuron and moves to the next unreviewed one.
    pub fn review(
        &mut self,
        ctx: &mut [SaeContext],
        sessions: &mut [(PathBuf, EditSession)],
        status: ReviewStatus,
    ) -> Result<(), String> {
        self.edit(
            ctx,
            sessions,
            Edit {
                status: Some(status),
                ..Default::default()
            },
            "status",
        )?;
        self.last_undo_push = None;
        self.next_unreviewed(ctx, sessions);
        Ok(())
    }

    /// Draws the browser and editor. Returns an error message to show, if any.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &mut [SaeContext],
        sessions: &mut [(PathBuf, EditSession)],
    ) -> (Option<BrowserAction>, Option<String>) {
        let mut action = None;
        let mut error = None;
        self.keyboard(ui, ctx, sessions, &mut error);
        self.filter_bar(ui, ctx);
        self.refilter(ctx, sessions, false);
        ui.label(
            RichText::new(format!(
                "{} of {} neurons",
                self.shown.len(),
                self.rows.len()
            ))
            .weak(),
        );
        egui::Panel::right("editor")
            .default_size(460.0)
            .min_size(320.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    if let Err(e) = self.editor(ui, ctx, sessions, &mut action) {
                        error = Some(e);
                    }
                });
            });
        egui::CentralPanel::default().show(ui, |ui| self.table(ui, ctx, sessions));
        (action, error)
    }

    fn keyboard(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &mut [SaeContext],
        sessions: &mut [(PathBuf, EditSession)],
        error: &mut Option<String>,
    ) {
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
            if let Err(e) = self.review(ctx, sessions, s) {
                *error = Some(e);
            }
        }
        if next {
            self.next_unreviewed(ctx, sessions);
        }
        if undo {
            self.undo(ctx, sessions);
        }
        if redo {
            self.redo(ctx, sessions);
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
    }

    fn filter_bar(&mut self, ui: &mut egui::Ui, ctx: &[SaeContext]) {
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
            egui::ComboBox::new("b-tag", "tag")
                .selected_text(f.tag.clone().unwrap_or_else(|| "any".into()))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut f.tag, None, "any");
                    for d in SAFETY_DOMAINS {
                        ui.selectable_value(&mut f.tag, Some(d.to_string()), d);
                    }
                    ui.selectable_value(&mut f.tag, Some("none".into()), "none");
                });
            let mut layers: Vec<usize> = ctx.iter().map(|c| c.layer).collect();
            layers.sort();
            layers.dedup();
            egui::ComboBox::new("b-layer", "layer")
                .selected_text(f.layer.map_or("any".into(), |l| l.to_string()))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut f.layer, None, "any");
                    for l in layers {
                        ui.selectable_value(&mut f.layer, Some(l), l.to_string());
                    }
                });
            egui::ComboBox::new("b-sae", "SAE")
                .selected_text(
                    f.sae
                        .and_then(|s| ctx.get(s))
                        .map_or("any".into(), |c| c.name.clone()),
                )
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut f.sae, None, "any");
                    for (i, c) in ctx.iter().enumerate() {
                        ui.selectable_value(&mut f.sae, Some(i), &c.name);
                    }
                });
        });
        ui.horizontal_wrapped(|ui| {
            ui.set_max_width(ui.available_width());
            egui::ComboBox::new("b-status", "review")
                .selected_text(f.status.map_or("any", |s| s.name()))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut f.status, None, "any");
                    for s in ReviewStatus::ALL {
                        ui.selectable_value(&mut f.status, Some(s), s.name());
                    }
                });
            egui::ComboBox::new("b-expl", "explained")
                .selected_text(match f.has_explanation {
                    None => "any",
                    Some(true) => "yes",
                    Some(false) => "no",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut f.has_explanation, None, "any");
                    ui.selectable_value(&mut f.has_explanation, Some(true), "yes");
                    ui.selectable_value(&mut f.has_explanation, Some(false), "no");
                });
            ui.spacing_mut().slider_width = 90.0;
            ui.add(egui::Slider::new(&mut f.min_score, 0.0..=1.0).text("min score"));
            ui.add(egui::Slider::new(&mut f.max_score, 0.0..=1.0).text("max score"));
            egui::ComboBox::new("b-sort", "sort")
                .selected_text(match f.sort {
                    BrowseSort::Id => "id",
                    BrowseSort::Score => "score",
                    BrowseSort::Status => "review",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut f.sort, BrowseSort::Id, "id");
                    ui.selectable_value(&mut f.sort, BrowseSort::Score, "score");
                    ui.selectable_value(&mut f.sort, BrowseSort::Status, "review");
                });
            ui.checkbox(&mut f.descending, "descending");
        });
    }

    fn table(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &[SaeContext],
        sessions: &[(PathBuf, EditSession)],
    ) {
        use egui_extras::{Column, TableBuilder};
        let mut clicked = None;
        // When candidates share a layer, neuron ids repeat: an SAE column tells them apart.
        let shared = super::analysis::has_shared_layer(ctx.iter().map(|c| c.layer));
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
                    let rec = record(ctx, r);
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
                            let name = ctx.get(r.sae).map_or("", |c| c.name.as_str());
                            ui.label(RichText::new(name).small());
                        });
                    }
                    row.col(|ui| {
                        let e = rec.and_then(|x| x.explanation.as_deref()).unwrap_or("—");
                        ui.label(e.lines().next().unwrap_or(""));
                    });
                    row.col(|ui| {
                        ui.horizontal(|ui| {
                            for t in rec.map(|x| x.tag_list.as_slice()).unwrap_or_default() {
                                tag_chip(ui, t);
                            }
                        });
                    });
                    row.col(|ui| {
                        ui.label(
                            rec.and_then(|x| x.correlation_score)
                                .map_or("—".into(), |s| format!("{s:.2}")),
                        );
                    });
                    row.col(|ui| {
                        ui.label(status_of(sessions, ctx, r).name());
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

    fn editor(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &mut [SaeContext],
        sessions: &mut [(PathBuf, EditSession)],
        action: &mut Option<BrowserAction>,
    ) -> Result<(), String> {
        let Some(r) = self.selected_row().cloned() else {
            ui.label(
                RichText::new("Select a neuron to edit its explanation. Alt+N: next unreviewed.")
                    .weak(),
            );
            return Ok(());
        };
        let snap = self.snapshot(ctx, sessions, &r);
        if self.loaded_for.as_deref() != Some(&r.id) {
            self.expl = snap.explanation.clone().unwrap_or_default();
            self.free_tags = snap
                .tags
                .iter()
                .filter(|t| !SAFETY_DOMAINS.contains(&t.as_str()))
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            self.note = snap.note.clone();
            self.loaded_for = Some(r.id.clone());
        }
        let editable = session_for(sessions, ctx, r.sae).is_some();
        let mut result = Ok(());
        ui.horizontal_wrapped(|ui| {
            ui.heading(format!("Neuron {}", r.id));
            ui.label(RichText::new(ctx.get(r.sae).map_or("", |c| c.name.as_str())).weak());
            if ui.link("open page").clicked() {
                *action = Some(BrowserAction::OpenNeuron(r.sae, r.latent));
            }
        });
        if !editable {
            ui.label(
                RichText::new("Read-only: this SAE has no neuron database file in the workspace.")
                    .weak(),
            );
        }
        ui.add_enabled_ui(editable, |ui| {
            let l = ui.label("Edit explanation");
            let resp = ui
                .add(
                    egui::TextEdit::multiline(&mut self.expl)
                        .desired_rows(6)
                        .desired_width(ui.available_width()),
                )
                .labelled_by(l.id);
            if resp.changed() {
                let text = self.expl.clone();
                result = self.edit(
                    ctx,
                    sessions,
                    Edit {
                        explanation: Some(Some(text)),
                        ..Default::default()
                    },
                    "explanation",
                );
            }
            ui.horizontal_wrapped(|ui| {
                ui.label("Tags");
                let mut tags = snap.tags.clone();
                let mut changed = false;
                for d in SAFETY_DOMAINS {
                    let mut on = tags.iter().any(|t| t == d);
                    if ui.checkbox(&mut on, d).changed() {
                        changed = true;
                        if on {
                            tags.push(d.to_string());
                        } else {
                            tags.retain(|t| t != d);
                        }
                    }
                }
                let l = ui.label("other");
                let free = ui
                    .add(
                        egui::TextEdit::singleline(&mut self.free_tags)
                            .hint_text("comma-separated")
                            .desired_width(160.0),
                    )
                    .labelled_by(l.id);
                if free.changed() {
                    changed = true;
                    tags.retain(|t| SAFETY_DOMAINS.contains(&t.as_str()));
                    tags.extend(
                        self.free_tags
                            .split(',')
                            .map(str::trim)
                            .filter(|t| !t.is_empty())
                            .map(str::to_string),
                    );
                }
                if changed {
                    result = self.edit(
                        ctx,
                        sessions,
                        Edit {
                            tags: Some(tags),
                            ..Default::default()
                        },
                        "tags",
                    );
                }
            });
            ui.horizontal_wrapped(|ui| {
                ui.label("Review");
                for s in ReviewStatus::ALL {
                    if ui.selectable_label(snap.status == s, s.name()).clicked() && snap.status != s
                    {
                        result = self.edit(
                            ctx,
                            sessions,
                            Edit {
                                status: Some(s),
                                ..Default::default()
                            },
                            "status",
                        );
                    }
                }
            });
            let l = ui.label("Note");
            if ui
                .add(egui::TextEdit::singleline(&mut self.note).desired_width(ui.available_width()))
                .labelled_by(l.id)
                .changed()
            {
                let n = self.note.clone();
                result = self.edit(
                    ctx,
                    sessions,
                    Edit {
                        note: Some(n),
                        ..Default::default()
                    },
                    "note",
                );
            }
            ui.horizontal_wrapped(|ui| {
                if ui
                    .add_enabled(!self.undo.is_empty(), egui::Button::new("Undo"))
                    .clicked()
                {
                    self.undo(ctx, sessions);
                }
                if ui
                    .add_enabled(!self.redo.is_empty(), egui::Button::new("Redo"))
                    .clicked()
                {
                    self.redo(ctx, sessions);
                }
                ui.separator();
                if ui.button("Accept (Alt+A)").clicked() {
                    result = self.review(ctx, sessions, ReviewStatus::Verified);
                }
                if ui.button("Needs work (Alt+W)").clicked() {
                    result = self.review(ctx, sessions, ReviewStatus::NeedsWork);
                }
                if ui.button("Reject (Alt+R)").clicked() {
                    result = self.review(ctx, sessions, ReviewStatus::Rejected);
                }
                if ui.button("Next unreviewed (Alt+N)").clicked() {
                    self.next_unreviewed(ctx, sessions);
                }
            });
        });
        if let Some(s) = session_for(sessions, ctx, r.sae) {
            let state = if s.conflict {
                "changed on disk: choose below".to_string()
            } else if s.dirty() {
                "saving …".into()
            } else {
                format!(
                    "saved to {}",
                    s.path
                        .file_name()
                        .map_or(String::new(), |n| n.to_string_lossy().into_owned())
                )
            };
            ui.label(RichText::new(state).small().weak());
        }
        result
    }
}

/// After an edit: the explorer's read-only views of that database see the new record.
fn refresh_views(ctx: &mut [SaeContext], session: &EditSession, id: &str) {
    let rec = session.db.record(id);
    for c in ctx
        .iter_mut()
        .filter(|c| c.db_path.as_deref() == Some(session.path.as_path()))
    {
        match &rec {
            Some(r) => {
                c.db.records.insert(id.to_string(), r.clone());
            }
            None => {
                c.db.records.remove(id);
            }
        }
    }
}
