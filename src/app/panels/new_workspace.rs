//! File → New workspace: a form that writes a workspace file for your own model and SAEs
//! ([`crate::workspace::new::new_workspace`]) and opens it.

use crate::workspace::new::{new_workspace, NewWorkspace};
use eframe::egui::{self, RichText};
use std::path::PathBuf;

/// The form's fields, kept while it is open.
#[derive(Default)]
pub struct NewWorkspaceForm {
    pub open: bool,
    pub out: String,
    pub model: String,
    /// One SAE spec per line (`PATH[,key=value...]`).
    pub saes: String,
    /// One feature store folder per line, in the order of the SAEs (optional).
    pub stores: String,
    pub neuron_db: String,
    pub dtype: String,
    pub error: Option<String>,
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

impl NewWorkspaceForm {
    /// Shows the form (when open); returns the new workspace file once written.
    pub fn show(&mut self, ctx: &egui::Context) -> Option<PathBuf> {
        if !self.open {
            return None;
        }
        if self.dtype.is_empty() {
            self.dtype = "f32".into();
        }
        let mut open = true;
        let mut created = None;
        egui::Window::new("New workspace")
            .open(&mut open)
            .collapsible(false)
            .show(ctx, |ui| {
                egui::Grid::new("new-workspace")
                    .num_columns(2)
                    .spacing([8.0, 6.0])
                    .show(ui, |ui| {
                        let field =
                            |ui: &mut egui::Ui, label: &str, text: &mut String, hint: &str| {
                                let l = ui.label(label);
                                ui.add(
                                    egui::TextEdit::singleline(text)
                                        .hint_text(hint)
                                        .desired_width(420.0),
                                )
                                .labelled_by(l.id);
                                ui.end_row();
                            };
                        field(
                            ui,
                            "Workspace file",
                            &mut self.out,
                            "e.g. /data/mine.sail.json",
                        );
                        field(
                            ui,
                            "Model folder or hub id",
                            &mut self.model,
                            "e.g. Qwen/Qwen2.5-3B-Instruct",
                        );
                        let l = ui.label("SAEs (one per line)");
                        ui.add(
                            egui::TextEdit::multiline(&mut self.saes)
                                .hint_text(
                                    "PATH[,key=value...], e.g. ckpt.pt,hook=blocks.8.hook_mlp_out",
                                )
                                .desired_rows(3)
                                .desired_width(420.0),
                        )
                        .labelled_by(l.id);
                        ui.end_row();
                        let l = ui.label("Feature stores (optional)");
                        ui.add(
                            egui::TextEdit::multiline(&mut self.stores)
                                .hint_text("one per SAE, in the same order")
                                .desired_rows(2)
                                .desired_width(420.0),
                        )
                        .labelled_by(l.id);
                        ui.end_row();
                        field(
                            ui,
                            "Neuron database (optional)",
                            &mut self.neuron_db,
                            "created empty and editable when it does not exist",
                        );
                        let l = ui.label("dtype");
                        egui::ComboBox::from_id_salt("new-ws-dtype")
                            .selected_text(self.dtype.clone())
                            .show_ui(ui, |ui| {
                                for d in ["f32", "bf16", "f16"] {
                                    ui.selectable_value(&mut self.dtype, d.to_string(), d);
                                }
                            })
                            .response
                            .labelled_by(l.id);
                        ui.end_row();
                    });
                if let Some(e) = &self.error {
                    ui.label(RichText::new(e).color(ui.visuals().error_fg_color));
                }
                if ui.button("Create and open").clicked() {
                    let o = NewWorkspace {
                        out: PathBuf::from(self.out.trim()),
                        model: self.model.trim().to_string(),
                        saes: lines(&self.saes),
                        stores: lines(&self.stores),
                        neuron_db: Some(self.neuron_db.trim().to_string())
                            .filter(|s| !s.is_empty()),
                        dtype: self.dtype.clone(),
                        device: "cpu".into(),
                        ..Default::default()
                    };
                    let problem = if o.out.as_os_str().is_empty() {
                        Some("name the workspace file to write".to_string())
                    } else if o.saes.is_empty() {
                        Some("name at least one SAE".to_string())
                    } else {
                        None
                    };
                    match problem {
                        Some(p) => self.error = Some(p),
                        None => match new_workspace(&o) {
                            Ok(p) => created = Some(p),
                            Err(e) => self.error = Some(format!("{e:#}")),
                        },
                    }
                }
            });
        if created.is_some() || !open {
            self.open = false;
            self.error = None;
        }
        created
    }
}
