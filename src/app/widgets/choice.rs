//! A combo box that chooses one of a few values (an enum's variants), labelled by a label.

use eframe::egui;

/// A combo box setting `value` to one of `options`, each shown as `name(option)`, labelled by
/// the widget `label` (for screen readers and tests); `width` fixes its width.
pub fn choice<T: Copy + PartialEq>(
    ui: &mut egui::Ui,
    id_salt: impl egui::AsIdSalt,
    value: &mut T,
    options: &[T],
    name: impl Fn(T) -> &'static str,
    label: egui::Id,
    width: Option<f32>,
) -> egui::Response {
    let mut combo = egui::ComboBox::from_id_salt(id_salt).selected_text(name(*value));
    if let Some(w) = width {
        combo = combo.width(w);
    }
    combo
        .show_ui(ui, |ui| {
            for &o in options {
                ui.selectable_value(value, o, name(o));
            }
        })
        .response
        .labelled_by(label)
}
