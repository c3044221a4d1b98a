//! Safety-domain tags: a coloured chip per tag, and the legend of the four domains.

use crate::app::style::{domain_color, shade};
use eframe::egui::{self, Color32};

/// A small coloured tag chip.
pub fn tag_chip(ui: &mut egui::Ui, tag: &str) {
    let c = domain_color(tag);
    ui.label(
        egui::RichText::new(tag)
            .small()
            .color(Color32::WHITE)
            .background_color(c),
    );
}

/// A legend of the four domains.
pub fn domain_legend(ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        for d in crate::domains::SAFETY_DOMAINS {
            ui.label(
                egui::RichText::new(format!(" {d} "))
                    .background_color(shade(domain_color(d), 0.8))
                    .color(Color32::WHITE),
            );
        }
    });
}
