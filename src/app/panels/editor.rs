//! The explanation editor beside the neuron browser: explanation, tags, review status and
//! note of the selected neuron, saved as the annotator types (by the app, through
//! [`Command::EditNeuron`]), with undo / redo.

use crate::app::ctx::{Neuron, ViewCtx};
use crate::app::Command;
use crate::db::editable::{Edit, ReviewStatus};
use crate::db::provenance::ExplanationSource;
use crate::domains::{tag_domain, taxonomy, SAFETY_DOMAINS, SEP};
use eframe::egui::{self, RichText};
use std::time::{Duration, Instant};

/// How many top-activating examples the editor shows under the form.
pub const EXAMPLES: usize = 10;

/// The record fields an annotator edits, for undo/redo.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub id: String,
    pub explanation: Option<String>,
    pub tags: Vec<String>,
    pub status: ReviewStatus,
    pub note: String,
    /// The score belongs to an earlier explanation.
    pub score_stale: bool,
    /// Who or what wrote the explanation (undo puts the earlier author back).
    pub explanation_source: Option<ExplanationSource>,
}

impl Snapshot {
    /// The neuron of `r` as its databases hold it now.
    pub fn of(ctx: &ViewCtx, r: &Neuron) -> Self {
        let rec = ctx.record(r.sae, r.latent).cloned().unwrap_or_default();
        Self {
            id: r.id.clone(),
            tags: rec.tags(),
            explanation: rec.explanation,
            status: ctx.review_status(r.sae, &r.id),
            note: ctx.sessions.note(r.sae, &r.id).to_string(),
            score_stale: rec.score_stale,
            explanation_source: ctx
                .sessions
                .entry(r.sae, &r.id)
                .and_then(ExplanationSource::of),
        }
    }

    /// The edit that puts every field back as in this snapshot.
    fn restoring_edit(&self) -> Edit {
        Edit {
            explanation: Some(self.explanation.clone()),
            tags: Some(self.tags.clone()),
            status: Some(self.status),
            note: Some(self.note.clone()),
            score_stale: Some(self.score_stale),
            explanation_source: Some(self.explanation_source.clone()),
            ..Default::default()
        }
    }
}

/// A change to one neuron's record, as the editor asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronEdit {
    pub sae: usize,
    pub id: String,
    pub edit: Edit,
    pub kind: EditKind,
}

/// Why an edit is made: what the editor's history does with it once applied.
#[derive(Debug, Clone, PartialEq)]
pub enum EditKind {
    /// Typing or clicking in one field; `before` is the undo step (typing in one field
    /// within a second makes one step).
    Field {
        field: &'static str,
        before: Snapshot,
    },
    /// A review decision: an undo step, then on to the next unreviewed neuron.
    Review { before: Snapshot },
    /// Undo or redo putting a snapshot back (not itself an undo step).
    Restore,
}

/// What the editor's form asked for this frame.
pub enum EditorRequest {
    Command(Command),
    Review(ReviewStatus),
    Undo,
    Redo,
    NextUnreviewed,
}

/// The editor's buffers and undo history.
#[derive(Default)]
pub struct Editor {
    expl: String,
    free_tags: String,
    note: String,
    loaded_for: Option<String>,
    undo: Vec<Snapshot>,
    redo: Vec<Snapshot>,
    last_undo_push: Option<(Instant, &'static str)>,
    /// The "Your name" field's text, once the user typed in it.
    name: Option<String>,
}

impl Editor {
    /// An edit of row `r`'s `field`, with its undo step.
    fn field_edit(ctx: &ViewCtx, r: &Neuron, edit: Edit, field: &'static str) -> Command {
        Command::EditNeuron(Box::new(NeuronEdit {
            sae: r.sae,
            id: r.id.clone(),
            edit,
            kind: EditKind::Field {
                field,
                before: Snapshot::of(ctx, r),
            },
        }))
    }

    /// A review decision on row `r`.
    pub fn review_edit(ctx: &ViewCtx, r: &Neuron, status: ReviewStatus) -> Command {
        Command::EditNeuron(Box::new(NeuronEdit {
            sae: r.sae,
            id: r.id.clone(),
            edit: Edit {
                status: Some(status),
                ..Default::default()
            },
            kind: EditKind::Review {
                before: Snapshot::of(ctx, r),
            },
        }))
    }

    /// After the app applied an edit that changed `changed` fields: keeps the undo history.
    /// Returns whether the browser should move on to the next unreviewed neuron.
    pub fn edited(&mut self, kind: EditKind, changed: usize) -> bool {
        let (field, before, review) = match kind {
            EditKind::Field { field, before } => (field, before, false),
            EditKind::Review { before } => ("status", before, true),
            EditKind::Restore => return false,
        };
        if changed > 0 {
            let coalesce = self
                .last_undo_push
                .is_some_and(|(t, f)| f == field && t.elapsed() < Duration::from_secs(1));
            if !coalesce {
                self.undo.push(before);
                self.redo.clear();
            }
            self.last_undo_push = Some((Instant::now(), field));
        }
        if review {
            self.end_step();
        }
        review
    }

    /// The next edit starts a new undo step, even in the same field.
    pub fn end_step(&mut self) {
        self.last_undo_push = None;
    }

    /// Takes the last undo step; `now` is the neuron as it is (the redo step).
    pub fn pop_undo(
        &mut self,
        now: impl FnOnce(&Snapshot) -> Option<Snapshot>,
    ) -> Option<Snapshot> {
        let snap = self.undo.pop()?;
        if let Some(n) = now(&snap) {
            self.redo.push(n);
        }
        Some(snap)
    }

    /// Takes the last redo step; `now` is the neuron as it is (the undo step).
    pub fn pop_redo(
        &mut self,
        now: impl FnOnce(&Snapshot) -> Option<Snapshot>,
    ) -> Option<Snapshot> {
        let snap = self.redo.pop()?;
        if let Some(n) = now(&snap) {
            self.undo.push(n);
        }
        Some(snap)
    }

    /// The edit that puts `snap` back on row `r` (after undo or redo); the form reloads.
    pub fn restore(&mut self, r: &Neuron, snap: &Snapshot) -> Command {
        self.loaded_for = None;
        self.last_undo_push = None;
        Command::EditNeuron(Box::new(NeuronEdit {
            sae: r.sae,
            id: r.id.clone(),
            edit: snap.restoring_edit(),
            kind: EditKind::Restore,
        }))
    }

    /// Draws the form for the selected row.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &ViewCtx,
        row: Option<&Neuron>,
    ) -> Vec<EditorRequest> {
        let mut out = vec![];
        ui.horizontal(|ui| {
            let l = ui.label("Your name");
            let name = self.name.get_or_insert_with(|| ctx.user.to_string());
            let resp = ui
                .add(
                    egui::TextEdit::singleline(name)
                        .hint_text("$SAFE_SAIL_USER or $USER")
                        .desired_width(140.0),
                )
                .labelled_by(l.id)
                .on_hover_text(
                    "Edits are recorded under this name (kept for next time); empty: \
                     SAFE_SAIL_USER, else USER",
                );
            if resp.changed() {
                out.push(EditorRequest::Command(Command::SetUser(
                    name.trim().to_string(),
                )));
            }
        });
        let Some(r) = row else {
            ui.label(
                RichText::new("Select a neuron to edit its explanation. Alt+N: next unreviewed.")
                    .weak(),
            );
            return out;
        };
        let snap = Snapshot::of(ctx, r);
        if self.loaded_for.as_deref() != Some(&r.id) {
            self.expl = snap.explanation.clone().unwrap_or_default();
            self.free_tags = snap
                .tags
                .iter()
                .filter(|t| !SAFETY_DOMAINS.contains(&tag_domain(t)))
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            self.note = snap.note.clone();
            self.loaded_for = Some(r.id.clone());
        }
        let session = ctx.sessions.for_sae(r.sae);
        let editable = session.is_some();
        let edit = |out: &mut Vec<EditorRequest>, e: Edit, field: &'static str| {
            out.push(EditorRequest::Command(Self::field_edit(ctx, r, e, field)));
        };
        ui.horizontal_wrapped(|ui| {
            ui.heading(format!("Neuron {}", r.id));
            ui.label(RichText::new(ctx.slot(r.sae).map_or("", |c| c.name.as_str())).weak());
            if ui.link("open page").clicked() {
                out.push(EditorRequest::Command(Command::OpenNeuron {
                    sae: r.sae,
                    latent: r.latent,
                }));
            }
        });
        if !editable {
            ui.horizontal_wrapped(|ui| {
                ui.label(
                    RichText::new("Read-only: this SAE has no editable neuron database.").weak(),
                );
                if ui
                    .button("Create a database for this SAE")
                    .on_hover_text(
                        "An empty neuron database beside the workspace file, named in it for \
                         this SAE alone; its current explanations are kept as they are shown",
                    )
                    .clicked()
                {
                    out.push(EditorRequest::Command(Command::CreateSaeDb(r.sae)));
                }
            });
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
                let e = Edit {
                    explanation: Some(Some(self.expl.clone())),
                    ..Default::default()
                };
                edit(&mut out, e, "explanation");
            }
            if snap.score_stale {
                ui.horizontal_wrapped(|ui| {
                    ui.label("Score");
                    super::browser::score_label(ui, ctx.record(r.sae, r.latent), 3);
                    ui.label(
                        RichText::new("stale: made for the earlier explanation; score again")
                            .small()
                            .weak(),
                    );
                });
            }
            ui.horizontal_wrapped(|ui| {
                ui.label("Tags");
                let mut tags = snap.tags.clone();
                let mut changed = false;
                for d in SAFETY_DOMAINS {
                    let mut on = tags.iter().any(|t| tag_domain(t) == d);
                    if ui.checkbox(&mut on, d).changed() {
                        changed = true;
                        if on {
                            tags.push(d.to_string());
                        } else {
                            tags.retain(|t| tag_domain(t) != d);
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
                    tags.retain(|t| SAFETY_DOMAINS.contains(&tag_domain(t)));
                    tags.extend(
                        self.free_tags
                            .split(',')
                            .map(str::trim)
                            .filter(|t| !t.is_empty())
                            .map(str::to_string),
                    );
                }
                if changed {
                    let e = Edit {
                        tags: Some(tags),
                        ..Default::default()
                    };
                    edit(&mut out, e, "tags");
                }
            });
            let mut tags = snap.tags.clone();
            if subcategory_pickers(ui, &mut tags) {
                let e = Edit {
                    tags: Some(tags),
                    ..Default::default()
                };
                edit(&mut out, e, "tags");
            }
            ui.horizontal_wrapped(|ui| {
                ui.label("Review");
                for s in ReviewStatus::ALL {
                    if ui.selectable_label(snap.status == s, s.name()).clicked() && snap.status != s
                    {
                        let e = Edit {
                            status: Some(s),
                            ..Default::default()
                        };
                        edit(&mut out, e, "status");
                    }
                }
            });
            let l = ui.label("Note");
            if ui
                .add(egui::TextEdit::singleline(&mut self.note).desired_width(ui.available_width()))
                .labelled_by(l.id)
                .changed()
            {
                let e = Edit {
                    note: Some(self.note.clone()),
                    ..Default::default()
                };
                edit(&mut out, e, "note");
            }
            ui.horizontal_wrapped(|ui| {
                if ui
                    .add_enabled(!self.undo.is_empty(), egui::Button::new("Undo"))
                    .clicked()
                {
                    out.push(EditorRequest::Undo);
                }
                if ui
                    .add_enabled(!self.redo.is_empty(), egui::Button::new("Redo"))
                    .clicked()
                {
                    out.push(EditorRequest::Redo);
                }
                ui.separator();
                if ui.button("Accept (Alt+A)").clicked() {
                    out.push(EditorRequest::Review(ReviewStatus::Verified));
                }
                if ui.button("Needs work (Alt+W)").clicked() {
                    out.push(EditorRequest::Review(ReviewStatus::NeedsWork));
                }
                if ui.button("Reject (Alt+R)").clicked() {
                    out.push(EditorRequest::Review(ReviewStatus::Rejected));
                }
                if ui.button("Next unreviewed (Alt+N)").clicked() {
                    out.push(EditorRequest::NextUnreviewed);
                }
            });
        });
        if let Some(s) = session {
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
        // The neuron's examples beside its explanation: a review needs no page switch.
        ui.separator();
        match ctx.slot(r.sae).and_then(|c| c.store.as_ref()) {
            Some(st) => super::neuron_page::top_examples(ui, st, r.latent, EXAMPLES),
            None => {
                ui.label(
                    RichText::new(
                        "No feature store for this SAE: no examples to review here \
                         (safe-sail collect makes one).",
                    )
                    .weak(),
                );
            }
        }
        out
    }
}

/// One row of sub-category pickers, one per tagged safety domain (a combo box labelled with
/// the domain, listing its sub-categories from the taxonomy; several may be chosen, as in the
/// CLI); nothing when no safety domain is tagged. Choosing a sub-category adds
/// `domain/sub-category` to `tags` (or takes it away when it was there; the bare domain stays
/// when the last one goes); `—` leaves the domain alone. Returns whether `tags` changed.
fn subcategory_pickers(ui: &mut egui::Ui, tags: &mut Vec<String>) -> bool {
    let tagged: Vec<&str> = SAFETY_DOMAINS
        .into_iter()
        .filter(|d| tags.iter().any(|t| tag_domain(t) == *d))
        .collect();
    if tagged.is_empty() {
        return false;
    }
    // (domain, None = the domain alone | Some(sub-category) = toggle it)
    let mut chosen: Option<(&str, Option<String>)> = None;
    ui.horizontal_wrapped(|ui| {
        ui.label("Sub-category");
        for d in tagged {
            let subs = taxonomy()
                .domain(d)
                .map_or(&[][..], |x| &x.subcategories[..]);
            let now: Vec<&str> = tags
                .iter()
                .filter(|t| tag_domain(t) == d)
                .filter_map(|t| t.split_once(SEP).map(|(_, s)| s))
                .collect();
            let text = if now.is_empty() {
                "—".to_string()
            } else {
                now.join(", ")
            };
            egui::ComboBox::new(("sub-category", d), d)
                .selected_text(text)
                .show_ui(ui, |ui| {
                    if ui.selectable_label(now.is_empty(), "—").clicked() && !now.is_empty() {
                        chosen = Some((d, None));
                    }
                    for s in subs {
                        let on = now.contains(&s.as_str());
                        if ui.selectable_label(on, s).clicked() {
                            chosen = Some((d, Some(s.clone())));
                        }
                    }
                });
        }
    });
    let Some((d, toggle)) = chosen else {
        return false;
    };
    let before = tags.clone();
    let at = tags
        .iter()
        .position(|t| tag_domain(t) == d)
        .unwrap_or(tags.len());
    let mut mine: Vec<String> = tags
        .iter()
        .filter(|t| tag_domain(t) == d && t.contains(SEP))
        .cloned()
        .collect();
    match toggle {
        None => mine.clear(),
        Some(s) => {
            let tag = format!("{d}{SEP}{s}");
            match mine.iter().position(|t| *t == tag) {
                Some(i) => {
                    mine.remove(i);
                }
                None => mine.push(tag),
            }
        }
    }
    if mine.is_empty() {
        mine.push(d.to_string());
    }
    tags.retain(|t| tag_domain(t) != d);
    let at = at.min(tags.len());
    tags.splice(at..at, mine);
    *tags != before
}
