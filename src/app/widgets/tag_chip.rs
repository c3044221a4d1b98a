//! Safety-domain tags: a coloured chip per tag, the legends of the domains and of their
//! sub-categories' shades, and the tag filter's menu.

use crate::app::style::{domain_color, shade, tag_color};
use crate::domains::{taxonomy, SAFETY_DOMAINS, SEP};
use eframe::egui::{self, Color32};

/// A small coloured tag chip (a sub-category, `domain/sub-category`, in its domain's shade).
pub fn tag_chip(ui: &mut egui::Ui, tag: &str) {
    let c = tag_color(tag);
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
        for d in SAFETY_DOMAINS {
            ui.label(
                egui::RichText::new(format!(" {d} "))
                    .background_color(shade(domain_color(d), 0.8))
                    .color(Color32::WHITE),
            );
        }
    });
}

/// A legend of the sub-categories shown (`domain/sub-category`, in taxonomy order), each in
/// its shade of the domain's colour; nothing when there are none.
pub fn subcategory_legend(ui: &mut egui::Ui, shown: &[String]) {
    let mut tags: Vec<String> = vec![];
    for d in &taxonomy().domains {
        for s in &d.subcategories {
            let t = format!("{}{SEP}{s}", d.name);
            if shown.contains(&t) {
                tags.push(t);
            }
        }
    }
    if tags.is_empty() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.label(egui::RichText::new("Sub-categories:").small());
        for t in tags {
            ui.label(
                egui::RichText::new(format!(" {t} "))
                    .background_color(shade(tag_color(&t), 0.8))
                    .color(Color32::WHITE),
            );
        }
    });
}

/// The entries of a tag filter's menu: `any`, each domain followed by its sub-categories
/// (indented, named without the domain; they select `domain/sub-category`), then `none`.
pub fn tag_filter_menu(ui: &mut egui::Ui, tag: &mut Option<String>, any: &str, none: &str) {
    ui.selectable_value(tag, None, any);
    for d in &taxonomy().domains {
        ui.selectable_value(tag, Some(d.name.clone()), &d.name);
        ui.indent(("tag-subs", &d.name), |ui| {
            for s in &d.subcategories {
                ui.selectable_value(tag, Some(format!("{}{SEP}{s}", d.name)), s);
            }
        });
    }
    ui.selectable_value(tag, Some("none".into()), none);
}
