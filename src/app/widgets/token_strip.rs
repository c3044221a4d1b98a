//! Tokens as flowing text, each on a background shaded by an activation: the one way the
//! explorer shows text with activations (the inspector's prompt, both sides of a comparison,
//! a neuron's examples and the "try your own text" box).

use crate::app::style::{on_shade, shade, token_label};
use eframe::egui::{self, Color32, RichText, Sense};

/// One token of a strip.
#[derive(Debug, Clone, PartialEq)]
pub struct StripToken<'a> {
    pub text: &'a str,
    /// Special tokens are shown weak and never shaded.
    pub special: bool,
    /// The background: a base colour at a normalized activation (see [`shade`]); `None`: none.
    pub shade: Option<(Color32, f32)>,
    /// Shown when hovering the token (e.g. its raw activation).
    pub hover: Option<String>,
}

impl<'a> StripToken<'a> {
    /// A token shaded by `norm` of `base`.
    pub fn shaded(text: &'a str, base: Color32, norm: f32) -> Self {
        Self {
            text,
            special: false,
            shade: Some((base, norm)),
            hover: None,
        }
    }

    /// Hover text for the token.
    pub fn hover(mut self, text: String) -> Self {
        self.hover = Some(text);
        self
    }
}

/// Draws a token's hover card, given the token's index in the strip.
pub type Tooltip<'t> = &'t mut dyn FnMut(&mut egui::Ui, usize);

/// A row of shaded tokens that wraps like text. Build it, then [`TokenStrip::show`] it.
pub struct TokenStrip<'a> {
    tokens: Vec<StripToken<'a>>,
    prefix: Option<RichText>,
    selected: Option<usize>,
    answer_from: Option<usize>,
    break_at_newlines: bool,
    row_gap: Option<f32>,
    sense: Option<Sense>,
    small_specials: bool,
    contrast: bool,
}

impl<'a> TokenStrip<'a> {
    pub fn new(tokens: impl IntoIterator<Item = StripToken<'a>>) -> Self {
        Self {
            tokens: tokens.into_iter().collect(),
            prefix: None,
            selected: None,
            answer_from: None,
            break_at_newlines: false,
            row_gap: None,
            sense: None,
            small_specials: false,
            contrast: true,
        }
    }

    /// A label before the first token (e.g. an example's activation).
    pub fn prefix(mut self, text: RichText) -> Self {
        self.prefix = Some(text);
        self
    }

    /// Underlines this token (the one whose neurons are listed).
    pub fn selected(mut self, token: Option<usize>) -> Self {
        self.selected = token;
        self
    }

    /// Tokens from this one on are the model's answer: a new row starts there, marked
    /// "answer →".
    pub fn answer_from(mut self, token: usize) -> Self {
        self.answer_from = Some(token);
        self
    }

    /// A token containing a newline ends its row.
    pub fn break_at_newlines(mut self) -> Self {
        self.break_at_newlines = true;
        self
    }

    /// Vertical space between rows (tokens always touch side by side).
    pub fn row_gap(mut self, gap: f32) -> Self {
        self.row_gap = Some(gap);
        self
    }

    /// What a token senses (clicks: [`TokenStrip::show`] returns the clicked token).
    pub fn sense(mut self, sense: Sense) -> Self {
        self.sense = Some(sense);
        self
    }

    /// Special tokens are small as well as weak.
    pub fn small_specials(mut self) -> Self {
        self.small_specials = true;
        self
    }

    /// Whether text turns dark on strongly shaded bright backgrounds ([`on_shade`]; on by
    /// default). The inspector does not use it yet, so that its pictures stay as they were.
    pub fn contrast(mut self, on: bool) -> Self {
        self.contrast = on;
        self
    }

    /// The text of token `t` as drawn.
    fn rich_text(&self, t: usize) -> RichText {
        let tok = &self.tokens[t];
        let mut text = RichText::new(token_label(tok.text)).monospace();
        if tok.special {
            text = text.weak();
            if self.small_specials {
                text = text.small();
            }
        } else if let Some((base, norm)) = tok.shade {
            text = text.background_color(shade(base, norm));
            if self.contrast {
                text = on_shade(text, base, norm);
            }
        }
        if self.selected == Some(t) {
            text = text.underline().strong();
        }
        text
    }

    /// Draws the strip; `tooltip` draws a token's hover card. Returns the clicked token.
    pub fn show(self, ui: &mut egui::Ui, mut tooltip: Option<Tooltip<'_>>) -> Option<usize> {
        let mut clicked = None;
        ui.horizontal_wrapped(|ui| {
            match self.row_gap {
                Some(y) => ui.spacing_mut().item_spacing = egui::vec2(0.0, y),
                None => ui.spacing_mut().item_spacing.x = 0.0,
            }
            if let Some(p) = &self.prefix {
                ui.label(p.clone());
            }
            for (t, tok) in self.tokens.iter().enumerate() {
                if self.answer_from == Some(t) && t > 0 {
                    ui.end_row();
                    ui.label(RichText::new("answer → ").small().weak());
                }
                let mut label = egui::Label::new(self.rich_text(t));
                if let Some(s) = self.sense {
                    label = label.sense(s);
                }
                let mut resp = ui.add(label);
                if let Some(h) = &tok.hover {
                    resp = resp.on_hover_text(h);
                }
                if let Some(f) = tooltip.as_mut() {
                    resp = resp.on_hover_ui(|ui| f(ui, t));
                }
                if resp.clicked() {
                    clicked = Some(t);
                }
                if self.break_at_newlines && tok.text.contains('\n') {
                    ui.end_row();
                }
            }
        });
        clicked
    }
}
