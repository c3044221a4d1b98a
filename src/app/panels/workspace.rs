//! The workspace panel on the left: the workspace's name and file, its model, and per SAE
//! what is loaded and what is still missing (feature store, evaluation). Clicking an SAE's
//! name adds it to the SAEs the inspector runs, or takes it out.

use crate::app::ctx::ViewCtx;
use crate::app::state::EngineStatus;
use crate::app::Command;
use eframe::egui::{self, RichText};
use std::path::PathBuf;

/// Draws the panel; returns the SAE card the user clicked, as a command.
pub fn ui(ui: &mut egui::Ui, ctx: &ViewCtx) -> Option<Command> {
    let mut out = None;
    ui.heading("Workspace");
    let Some(ws) = ctx.workspace else {
        ui.label(RichText::new("No workspace open.").weak());
        return None;
    };
    ui.label(RichText::new(&ws.name).strong());
    if let Some(p) = ctx.workspace_path {
        let name = p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        ui.label(RichText::new(name).small().weak())
            .on_hover_text(p.display().to_string());
    }
    ui.add_space(6.0);
    ui.label(RichText::new("Model").strong());
    match ctx.engine {
        EngineStatus::Ready { model, .. } => ui.label(model),
        EngineStatus::Loading(s) => {
            ui.horizontal(|ui| {
                crate::app::widgets::spinner(ui);
                ui.label(s);
            })
            .response
        }
        EngineStatus::Failed(_) => ui.label(RichText::new("not loaded").weak()),
    };
    // A folder as written in the file may be relative to it (`../../../sample_data/model`):
    // show its last two parts (the whole path on hover); a hub id as written.
    match std::fs::canonicalize(ws.resolve(&ws.model)) {
        Ok(p) => {
            let parts: Vec<_> = p.components().rev().take(2).collect();
            let short: PathBuf = parts.into_iter().rev().collect();
            ui.label(
                RichText::new(format!("…/{}", short.display()))
                    .small()
                    .weak(),
            )
            .on_hover_text(format!(
                "{}\n(in the workspace file: {})",
                p.display(),
                ws.model
            ))
        }
        Err(_) => ui.label(RichText::new(&ws.model).small().weak()),
    };
    ui.add_space(6.0);
    ui.label(RichText::new("SAEs").strong());
    let n_on = (0..ctx.slots.len()).filter(|&i| ctx.inspected(i)).count();
    ui.label(
        RichText::new(format!(
            "The inspector runs {n_on} of {}: click a name to add or remove it.",
            ctx.slots.len()
        ))
        .small()
        .weak(),
    );
    for (i, (c, ws_sae)) in ctx.slots.iter().zip(&ws.saes).enumerate() {
        let on = ctx.inspected(i);
        ui.group(|ui| {
            let hover = if on {
                "The inspector runs this SAE: click to leave it out (kept in the workspace file)"
            } else {
                "The inspector leaves this SAE out: click to run it (kept in the workspace file)"
            };
            if ui
                .selectable_label(on, RichText::new(&c.name).strong())
                .on_hover_text(hover)
                .clicked()
            {
                out = Some(Command::ToggleInspected(i));
            }
            let runs = if on {
                "runs in the inspector"
            } else {
                "left out of the inspector"
            };
            ui.label(RichText::new(runs).small().weak());
            match &c.info {
                Some(info) => {
                    ui.label(
                        RichText::new(format!(
                            "{} · {} latents · {}",
                            info.hook, info.d_sae, info.activation
                        ))
                        .small(),
                    );
                }
                None => {
                    ui.label(RichText::new("not loaded").small().weak());
                }
            }
            let (explained, tagged) = c.db_counts();
            ui.label(
                RichText::new(format!(
                    "{explained} explained neurons · {tagged} safety-tagged"
                ))
                .small()
                .weak(),
            );
            if let Some(sel) = &c.selected {
                ui.label(
                    RichText::new(format!(
                        "{} safety neurons listed by the indices file",
                        sel.len()
                    ))
                    .small()
                    .weak(),
                );
            }
            if ws_sae.store.is_none() {
                let text = match &c.quantiles_from {
                    Some(p) => format!(
                        "no feature store: normalized by the 0.999 quantiles of {}",
                        p.file_name().unwrap_or_default().to_string_lossy()
                    ),
                    None => "no feature store yet (safe-sail collect)".into(),
                };
                ui.label(RichText::new(text).small().weak());
            }
            if ws_sae.eval.is_none() {
                ui.label(
                    RichText::new("no scores yet (safe-sail evaluate)")
                        .small()
                        .weak(),
                );
            }
        });
    }
    out
}
