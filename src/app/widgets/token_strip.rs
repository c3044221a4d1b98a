//! Tokens as flowing text, each on a background shaded by an activation: the one way the
//! explorer shows text with activations (the inspector's prompt, both sides of a comparison,
//! a neuron's examples and the "try your own text" box).

use crate::app::style::{on_shade, shade, token_label};
use crate::model::tokenizer::partial_character;
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
    /// Tokens flagged with a mark before them (tripwires that fired).
    flagged: Vec<usize>,
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
            flagged: vec![],
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
    /// Puts a flag (▲, in the warning colour) before these tokens.
    pub fn flagged(mut self, tokens: Vec<usize>) -> Self {
        self.flagged = tokens;
        self
    }

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

    /// For each token holding only the first bytes of a character: the token completing it
    /// and the character (see [`partial_character`]).
    fn partials(&self) -> Vec<Option<(usize, char)>> {
        let texts: Vec<&str> = self.tokens.iter().map(|t| t.text).collect();
        let special: Vec<bool> = self.tokens.iter().map(|t| t.special).collect();
        partial_character(&texts, &special)
    }

    /// The text of token `t` as drawn; a token holding part of a character shows the
    /// character in italics (or `…` when it is cut off).
    fn rich_text(&self, t: usize, partial: Option<(usize, char)>) -> RichText {
        let tok = &self.tokens[t];
        let shown = match partial {
            Some((_, c)) if tok.text.is_empty() => c.to_string(),
            None if tok.text.is_empty() && !tok.special => "…".to_string(),
            _ => token_label(tok.text),
        };
        let mut text = RichText::new(shown).monospace();
        if tok.text.is_empty() && !tok.special {
            text = text.italics();
        }
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
        let partials = self.partials();
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
                if self.flagged.contains(&t) {
                    ui.label(RichText::new("▲").color(ui.visuals().warn_fg_color));
                }
                let mut label = egui::Label::new(self.rich_text(t, partials[t]));
                if let Some(s) = self.sense {
                    label = label.sense(s);
                }
                let mut resp = ui.add(label);
                let part = (tok.text.is_empty() && !tok.special)
                    .then(|| partial_hint(partials[t].map(|(_, c)| c)));
                match (part, &tok.hover) {
                    (Some(p), Some(h)) => resp = resp.on_hover_text(format!("{p}\n{h}")),
                    (Some(p), None) => resp = resp.on_hover_text(p),
                    (None, Some(h)) => resp = resp.on_hover_text(h),
                    (None, None) => {}
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

/// What a token holding only part of a character is: "part of “炸”" (the character shows on
/// the token that completes it), or a character cut off by the edge of the text shown.
pub fn partial_hint(character: Option<char>) -> String {
    match character {
        Some(c) => {
            format!("part of “{c}” (its first bytes; the character completes on a later token)")
        }
        None => "part of a character cut off at the edge of this text".to_string(),
    }
}
