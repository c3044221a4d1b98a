//! The import / export window: merge a Safe-SAIL neuron database into the workspace's
//! editable one, or export that one as Safe-SAIL JSON, CSV or Parquet. Files are read and
//! written off the UI thread.

use crate::app::ctx::ViewCtx;
use crate::app::Command;
use crate::db::editable::EditableDb;
use crate::db::ops::{export, ExportFormat};
use eframe::egui;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;

/// The window's state.
#[derive(Default)]
pub struct DbTool {
    pub open: bool,
    pub path: String,
    /// The last result, shown in the window.
    pub message: String,
    rx: Option<Receiver<DbToolResult>>,
}

enum DbToolResult {
    Picked(Option<PathBuf>),
    Imported(PathBuf, Result<EditableDb, String>),
    Exported(Result<String, String>),
}

impl DbTool {
    /// Takes the result of the file work, if it has finished: an imported database becomes
    /// a command to merge it.
    fn poll(&mut self) -> Option<Command> {
        let r = self.rx.as_ref()?.try_recv().ok()?;
        self.rx = None;
        match r {
            DbToolResult::Picked(Some(p)) => self.path = p.display().to_string(),
            DbToolResult::Picked(None) => self.message = "no file chosen: type the path".into(),
            DbToolResult::Imported(from, Ok(db)) => {
                return Some(Command::Import {
                    from,
                    db: Box::new(db),
                })
            }
            DbToolResult::Imported(_, Err(e)) | DbToolResult::Exported(Err(e)) => {
                self.message = format!("error: {e}")
            }
            DbToolResult::Exported(Ok(m)) => self.message = m,
        }
        None
    }

    /// Draws the window when open.
    pub fn show(&mut self, ctx: &egui::Context, view: &ViewCtx) -> Option<Command> {
        let command = self.poll();
        if !self.open {
            return command;
        }
        let mut open = true;
        let mut action: Option<&'static str> = None;
        egui::Window::new("Import / export neuron database")
            .open(&mut open)
            .collapsible(false)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    let l = ui.label("Database file");
                    ui.add(egui::TextEdit::singleline(&mut self.path).desired_width(360.0))
                        .labelled_by(l.id);
                    if ui.button("Browse…").clicked() {
                        action = Some("browse");
                    }
                });
                ui.horizontal_wrapped(|ui| {
                    if ui.button("Import Safe-SAIL JSON").clicked() {
                        action = Some("import");
                    }
                    ui.separator();
                    ui.label("Export as");
                    for f in ["safe-sail", "csv", "parquet"] {
                        if ui.button(f).clicked() {
                            action = Some(f);
                        }
                    }
                });
                if !self.message.is_empty() {
                    ui.label(&self.message);
                }
            });
        self.open = open;
        let path = PathBuf::from(self.path.trim());
        let (tx, rx) = std::sync::mpsc::channel();
        match action {
            None => return command,
            Some("browse") => {
                std::thread::spawn(move || {
                    let _ = tx.send(DbToolResult::Picked(rfd::FileDialog::new().pick_file()));
                });
            }
            Some(_) if self.path.trim().is_empty() => {
                self.message = "type or choose a file first".into();
                return command;
            }
            Some("import") => {
                std::thread::spawn(move || {
                    let r = EditableDb::load(&path).map_err(|e| format!("{e:#}"));
                    let _ = tx.send(DbToolResult::Imported(path, r));
                });
            }
            Some(format) => {
                let Some(s) = view.sessions.iter().next() else {
                    self.message =
                        "this workspace has no editable neuron database to export".into();
                    return command;
                };
                let db = s.db.clone();
                let format = format.to_string();
                std::thread::spawn(move || {
                    let r = format
                        .parse::<ExportFormat>()
                        .and_then(|f| export(&db, f, &path));
                    let _ = tx.send(DbToolResult::Exported(
                        r.map(|_| {
                            format!(
                                "exported {} neurons to {}",
                                db.entries.len(),
                                path.display()
                            )
                        })
                        .map_err(|e| format!("{e:#}")),
                    ));
                });
            }
        }
        self.rx = Some(rx);
        command
    }
}
