//! A busy indicator that animates calmly.
//!
//! egui's own spinner asks for a new frame as soon as the last one is drawn, so a window that
//! shows one repaints as fast as it can for as long as the engine works. With software
//! rendering on a small machine that painting takes a core from the model (a 3B model's first
//! analysis took 40 s in the window against 13 s on the command line on 2 cores). This one is
//! a ring of dots whose bright head steps round once a second, and it asks for the next frame
//! only after [`FRAME_INTERVAL`].

use eframe::egui::{self, Response, Sense, Ui};
use std::time::Duration;

/// The time between two frames of the animation (about 12 frames per second).
pub const FRAME_INTERVAL: Duration = Duration::from_millis(80);

/// Dots in the ring.
const DOTS: usize = 8;

/// A busy indicator of the style's interact height.
pub fn spinner(ui: &mut Ui) -> Response {
    let size = ui.style().spacing.interact_size.y;
    let (rect, response) = ui.allocate_exact_size(egui::vec2(size, size), Sense::hover());
    response.widget_info(|| egui::WidgetInfo::new(egui::Role::ProgressIndicator));
    if ui.is_rect_visible(rect) {
        ui.ctx().request_repaint_after(FRAME_INTERVAL);
        let color = ui.visuals().strong_text_color();
        let ring = rect.height().min(rect.width()) * 0.5 - 3.0;
        let dot = (ring * 0.28).max(1.5);
        // The head's position on the ring, in dots: one turn per second.
        let head = (ui.input(|i| i.time).fract() * DOTS as f64) as usize;
        for d in 0..DOTS {
            let angle = d as f32 / DOTS as f32 * std::f32::consts::TAU;
            let centre = rect.center() + ring * egui::vec2(angle.cos(), angle.sin());
            // The dots behind the head fade out.
            let behind = (head + DOTS - d) % DOTS;
            let alpha = 1.0 - behind as f32 / DOTS as f32;
            ui.painter()
                .circle_filled(centre, dot, color.gamma_multiply(alpha.max(0.15)));
        }
    }
    response
}
