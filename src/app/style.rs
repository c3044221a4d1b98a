//! Colours and small drawing helpers shared by the views.

use eframe::egui::{self, Color32};

/// The colour of a safety domain.
pub fn domain_color(domain: &str) -> Color32 {
    match domain {
        "pornography" => Color32::from_rgb(214, 51, 132),
        "politics" => Color32::from_rgb(66, 133, 244),
        "violence" => Color32::from_rgb(220, 50, 47),
        "terror" => Color32::from_rgb(245, 140, 0),
        _ => Color32::from_rgb(120, 120, 120),
    }
}

/// The highlight for one neuron's activation (amber).
pub const NEURON_COLOR: Color32 = Color32::from_rgb(240, 170, 20);

/// `base` at an opacity given by a normalized activation (0 → transparent, ≥ 1 → strong).
pub fn shade(base: Color32, norm: f32) -> Color32 {
    let a = (norm.clamp(0.0, 1.0) * 210.0) as u8;
    Color32::from_rgba_unmultiplied(base.r(), base.g(), base.b(), a)
}

/// Text coloured to stay readable on a [`shade`] of `base` at `norm`: dark text once a bright
/// base colour is strong enough to wash out the normal light text.
pub fn on_shade(text: egui::RichText, base: Color32, norm: f32) -> egui::RichText {
    let luma = 0.299 * base.r() as f32 + 0.587 * base.g() as f32 + 0.114 * base.b() as f32;
    if norm >= 0.45 && luma > 140.0 {
        text.color(Color32::from_gray(20))
    } else {
        text
    }
}

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

/// How a token is shown: newlines as ⏎ (the caller then breaks the row), tabs as →.
pub fn token_label(text: &str) -> String {
    let t: String = text
        .chars()
        .map(|c| match c {
            '\n' => '↵',
            '\t' => '→',
            c if c.is_control() => '·',
            '\u{FFFD}' => '?',
            c => c,
        })
        .collect();
    if t.is_empty() {
        "·".into()
    } else {
        t
    }
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
