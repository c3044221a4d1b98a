//! Colours and text rules shared by the panels and widgets.

use eframe::egui::{self, Color32};

/// The colour of a safety domain (its `color` in `assets/taxonomy.toml`; grey for a tag
/// outside the taxonomy).
pub fn domain_color(domain: &str) -> Color32 {
    match crate::domains::taxonomy().domain(domain) {
        Some(d) => {
            let [r, g, b] = d.rgb();
            Color32::from_rgb(r, g, b)
        }
        None => Color32::from_rgb(120, 120, 120),
    }
}

/// The colour of a tag: its domain's ([`domain_color`]), or for `domain/sub-category` a
/// shade of it ([`subcategory_color`]).
pub fn tag_color(tag: &str) -> Color32 {
    match tag.split_once(crate::domains::SEP) {
        Some((d, s)) => subcategory_color(d.trim(), s.trim()),
        None => domain_color(tag),
    }
}

/// A sub-category's shade of its domain's colour: the domain's sub-categories, in taxonomy
/// order, run from darker (mixed with black) to lighter (mixed with white); one not in the
/// taxonomy gets the domain's colour.
pub fn subcategory_color(domain: &str, sub: &str) -> Color32 {
    let base = domain_color(domain);
    let Some((i, n)) = crate::domains::taxonomy().sub_position(domain, sub) else {
        return base;
    };
    let t = if n > 1 {
        i as f32 / (n - 1) as f32
    } else {
        0.5
    };
    let f = -0.45 + 0.9 * t;
    let mix = |c: u8| {
        let c = c as f32;
        let v = if f < 0.0 {
            c * (1.0 + f)
        } else {
            c + (255.0 - c) * f
        };
        v.round().clamp(0.0, 255.0) as u8
    };
    Color32::from_rgb(mix(base.r()), mix(base.g()), mix(base.b()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcategories_are_distinct_shades_of_their_domain() {
        for d in &crate::domains::taxonomy().domains {
            let shades: Vec<Color32> = d
                .subcategories
                .iter()
                .map(|s| tag_color(&format!("{}/{s}", d.name)))
                .collect();
            for (i, a) in shades.iter().enumerate() {
                assert!(shades[..i].iter().all(|b| b != a), "{}: {shades:?}", d.name);
            }
            // Darkest first, lightest last.
            let luma = |c: &Color32| c.r() as u32 + c.g() as u32 + c.b() as u32;
            assert!(shades.windows(2).all(|w| luma(&w[0]) < luma(&w[1])));
        }
        assert_eq!(tag_color("violence"), domain_color("violence"));
        assert_eq!(tag_color("violence/bombs"), domain_color("violence"));
    }
}
