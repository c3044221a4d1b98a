//! A busy indicator that animates calmly.
//!
//! egui's own spinner asks for a new frame as soon as the last one is drawn, so a window that
//! shows one repaints as fast as it can for as long as the engine works. With software
//! rendering on a small machine that painting takes a core from the model (a 3B model's first
//! analysis took 40 s in the window against 6.5 s on the command line on 2 cores). This one
//! draws the same arc but asks for the next frame only after [`FRAME_INTERVAL`].

use eframe::egui::{self, Response, Sense, Ui};
use std::time::Duration;

/// The time between two frames of the animation (about 12 frames per second).
pub const FRAME_INTERVAL: Duration = Duration::from_millis(80);

/// A spinner of the style's interact height.
pub fn spinner(ui: &mut Ui) -> Response {
    let size = ui.style().spacing.interact_size.y;
    let (rect, response) = ui.allocate_exact_size(egui::vec2(size, size), Sense::hover());
    response.widget_info(|| egui::WidgetInfo::new(egui::Role::ProgressIndicator));
    if ui.is_rect_visible(rect) {
        ui.ctx().request_repaint_after(FRAME_INTERVAL);
        let color = ui.visuals().strong_text_color();
        let radius = rect.height().min(rect.width()) * 0.5 - 2.0;
        let n = (radius.round() as u32).clamp(8, 128);
        let time = ui.input(|i| i.time);
        let start = time * std::f64::consts::TAU;
        let end = start + 240f64.to_radians() * time.sin();
        let points: Vec<egui::Pos2> = (0..n)
            .map(|i| {
                let angle = egui::emath::lerp(start..=end, i as f64 / n as f64);
                let (sin, cos) = angle.sin_cos();
                rect.center() + radius * egui::vec2(cos as f32, sin as f32)
            })
            .collect();
        ui.painter()
            .add(egui::Shape::line(points, egui::Stroke::new(3.0, color)));
    }
    response
}
