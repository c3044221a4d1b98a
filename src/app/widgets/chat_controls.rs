//! The chat-template switch and system message of a prompt, as every prompt panel shows them.

use eframe::egui;

/// The "Apply chat template" switch (greyed out when the model's tokenizer has none) and, while
/// it applies, the system message field. Returns whether the template applies.
pub fn chat_controls(
    ui: &mut egui::Ui,
    has_template: bool,
    chat: &mut bool,
    system: &mut String,
) -> bool {
    ui.add_enabled(
        has_template,
        egui::Checkbox::new(chat, "Apply chat template"),
    )
    .on_hover_text("Render the prompt as a user message with the model's chat template")
    .on_disabled_hover_text("This model's tokenizer has no chat template");
    let applies = *chat && has_template;
    if applies {
        let l = ui.label("System:");
        ui.add(egui::TextEdit::singleline(system).desired_width(260.0))
            .labelled_by(l.id);
    }
    applies
}
