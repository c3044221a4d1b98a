//! A grid of rows × tokens, each cell shaded by a normalized activation (the inspector's
//! layers × tokens pathway). Hovering a cell names its row, token and value.

use crate::app::style::shade;
use eframe::egui::{self, Color32, Sense};

/// The cells' colour at full strength.
const HEAT_COLOR: Color32 = Color32::from_rgb(220, 50, 47);

/// One row of the grid: its label and one value per token.
pub struct HeatmapRow<'a> {
    pub label: String,
    pub values: &'a [f32],
}

/// Draws `rows` over `tokens` (the column names shown on hover), labels in a
/// `label_width`-wide column on the left; cells are as wide as fits (4–28 points).
pub fn heatmap(ui: &mut egui::Ui, rows: &[HeatmapRow], tokens: &[&str], label_width: f32) {
    let cell_w = ((ui.available_width() - label_width) / tokens.len() as f32).clamp(4.0, 28.0);
    let cell_h = 18.0;
    let (rect, resp) = ui.allocate_exact_size(
        egui::vec2(
            label_width + cell_w * tokens.len() as f32,
            cell_h * rows.len() as f32,
        ),
        Sense::hover(),
    );
    let painter = ui.painter_at(rect);
    let fg = ui.visuals().text_color();
    for (r, row) in rows.iter().enumerate() {
        let y = rect.top() + r as f32 * cell_h;
        painter.text(
            egui::pos2(rect.left() + 2.0, y + cell_h / 2.0),
            egui::Align2::LEFT_CENTER,
            &row.label,
            egui::FontId::monospace(11.0),
            fg,
        );
        for (c, v) in row.values.iter().enumerate() {
            let x = rect.left() + label_width + c as f32 * cell_w;
            let cell =
                egui::Rect::from_min_size(egui::pos2(x, y), egui::vec2(cell_w - 1.0, cell_h - 1.0));
            painter.rect_filled(cell, 1.0, shade(HEAT_COLOR, *v));
            painter.rect_stroke(
                cell,
                1.0,
                egui::Stroke::new(0.5, ui.visuals().weak_text_color().gamma_multiply(0.3)),
                egui::StrokeKind::Inside,
            );
        }
    }
    if let Some(p) = resp.hover_pos() {
        let c = ((p.x - rect.left() - label_width) / cell_w).floor();
        let r = ((p.y - rect.top()) / cell_h).floor();
        if c >= 0.0 && r >= 0.0 && (c as usize) < tokens.len() && (r as usize) < rows.len() {
            let (c, r) = (c as usize, r as usize);
            resp.on_hover_text_at_pointer(format!(
                "{} · token {c} {:?} · {:.2}",
                rows[r].label, tokens[c], rows[r].values[c]
            ));
        }
    }
}
