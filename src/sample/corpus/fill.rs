//! Template filling: `{slot}` placeholders replaced by random fillers (see the syntax in the
//! parent module's documentation).

use super::tables::{tables, Slots};
use super::Lang;
use rand::{rngs::StdRng, seq::IndexedRandom, Rng};
use std::collections::HashMap;

/// Slot names generated as numbers (never looked up in tables).
fn numeric_slot(key: &str, rng: &mut StdRng) -> Option<String> {
    let v: i64 = match key {
        "n" => rng.random_range(2..=40),
        "num" => rng.random_range(120..=9800),
        "big" => rng.random_range(10_000..=900_000),
        "pct" => rng.random_range(3..=89),
        "year" => rng.random_range(1990..=2024),
        "day" => rng.random_range(1..=28),
        "mon" => rng.random_range(1..=12),
        "age" => rng.random_range(18..=75),
        "hour" => rng.random_range(1..=9),
        "min" => rng.random_range(5..=59),
        "k" => rng.random_range(2..=12),
        "d" => rng.random_range(0..=9),
        "t" => rng.random_range(-5..=38),
        "dec" => rng.random_range(196..=201) * 10,
        "score" => {
            let hi: u32 = rng.random_range(1..=5);
            let lo: u32 = rng.random_range(0..hi);
            return Some(format!("{hi}-{lo}"));
        }
        _ => return None,
    };
    Some(v.to_string())
}

/// Fills `{slot}` templates for one document (sticky values are remembered per filler).
pub(super) struct Filler {
    /// The domain's slots, looked up first.
    slots: &'static Slots,
    /// The language's common slots.
    common: &'static Slots,
    memo: HashMap<String, String>,
}

impl Filler {
    pub fn new(lang: Lang, slots: &'static Slots) -> Self {
        Filler {
            slots,
            common: &tables().lang(lang).kit.slots,
            memo: HashMap::new(),
        }
    }

    pub fn fill(&mut self, tpl: &str, rng: &mut StdRng) -> String {
        self.fill_depth(tpl, 0, rng)
    }

    fn fill_depth(&mut self, tpl: &str, depth: u8, rng: &mut StdRng) -> String {
        let mut out = String::with_capacity(tpl.len() + 32);
        let mut rest = tpl;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            match after.find('}') {
                Some(end) => {
                    let key = &after[..end];
                    match self.resolve(key, depth, rng) {
                        Some(v) => out.push_str(&v),
                        None => {
                            out.push('{');
                            out.push_str(key);
                            out.push('}');
                        }
                    }
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Value for one slot key, or None when the key is unknown (the placeholder is kept).
    fn resolve(&mut self, raw_key: &str, depth: u8, rng: &mut StdRng) -> Option<String> {
        if raw_key.contains('|') {
            // Inline alternation `{a|b|c}`: plain-text options, one chosen at random.
            let options: Vec<&str> = raw_key.split('|').collect();
            return options.choose(rng).map(|o| o.to_string());
        }
        let cap = raw_key.starts_with(|c: char| c.is_ascii_uppercase());
        let lower = lowercase_first(raw_key);
        let base = lower.trim_end_matches(|c: char| c.is_ascii_digit());
        if base.is_empty() {
            return None;
        }
        let alias = base.len() != lower.len();
        if let Some(v) = numeric_slot(base, rng) {
            return Some(v);
        }
        let sticky = !alias && tables().sticky_slots.contains(base);
        if sticky {
            if let Some(v) = self.memo.get(base) {
                return Some(capitalize_if(v.clone(), cap));
            }
        }
        let values = self.slots.get(base).or_else(|| self.common.get(base))?;
        let raw = values.choose(rng)?;
        let filled = if depth < 3 && raw.contains('{') {
            self.fill_depth(raw, depth + 1, rng)
        } else {
            raw.clone()
        };
        if sticky {
            self.memo.insert(base.to_string(), filled.clone());
        }
        Some(capitalize_if(filled, cap))
    }
}

pub(super) fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

pub(super) fn capitalize_if(s: String, cap: bool) -> String {
    if !cap {
        return s;
    }
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_lowercase() => c.to_ascii_uppercase().to_string() + chars.as_str(),
        _ => s,
    }
}
