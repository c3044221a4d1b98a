//! Cutting a tokenized text into Safe-SAIL's segments: short clauses or phrases, each simulated
//! as one 0/1 unit. A segment ends after a token holding punctuation, before a token where a
//! conjunction or clause-leading function word starts (English, matched as whole words; Chinese,
//! as substrings), and when it reaches a maximum length in tokens. The word lists and the
//! defaults are data: `assets/segmentation.toml`.

use anyhow::{Context, Result};
use std::collections::HashSet;
use std::ops::Range;
use std::sync::OnceLock;

const ASSET: &str = include_str!("../../assets/segmentation.toml");

#[derive(serde::Deserialize)]
struct Words {
    before: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Asset {
    max_tokens: usize,
    punctuation: String,
    en: Words,
    zh: Words,
}

/// Where segments end (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Segmenter {
    /// The longest segment, in tokens (at least 1).
    pub max_tokens: usize,
    punctuation: Vec<char>,
    en: HashSet<String>,
    zh: Vec<String>,
}

impl Default for Segmenter {
    /// The rules of `assets/segmentation.toml`.
    fn default() -> Self {
        static S: OnceLock<Segmenter> = OnceLock::new();
        S.get_or_init(|| {
            Self::parse(ASSET).expect("assets/segmentation.toml is valid (a test checks it)")
        })
        .clone()
    }
}

impl Segmenter {
    /// Reads rules in the form of `assets/segmentation.toml`.
    pub fn parse(text: &str) -> Result<Self> {
        let a: Asset = toml::from_str(text).context("segmentation rules")?;
        Ok(Self {
            max_tokens: a.max_tokens.max(1),
            punctuation: a.punctuation.chars().collect(),
            en: a.en.before.iter().map(|w| w.to_lowercase()).collect(),
            zh: a.zh.before,
        })
    }

    /// The same rules with another length cap.
    pub fn with_max_tokens(mut self, n: usize) -> Self {
        self.max_tokens = n.max(1);
        self
    }

    /// A description for provenance records.
    pub fn describe(&self) -> String {
        format!(
            "punctuation, {} English and {} Chinese clause-leading words, at most {} tokens",
            self.en.len(),
            self.zh.len(),
            self.max_tokens
        )
    }

    /// Whether a clause-leading word starts inside token `i` (at its first letter for English).
    fn word_starts(&self, tokens: &[String], i: usize) -> bool {
        let t = &tokens[i];
        if self.zh.iter().any(|w| t.contains(w.as_str())) {
            return true;
        }
        // An English word starting at this token's first letter: the token begins a word
        // (leading whitespace, or the previous token ends in a non-letter).
        let body = t.trim_start();
        let Some(first) = body.chars().next() else {
            return false;
        };
        if !first.is_alphabetic() {
            return false;
        }
        let starts_word = body.len() < t.len()
            || i == 0
            || tokens[i - 1]
                .chars()
                .last()
                .is_none_or(|c| !c.is_alphanumeric() && c != '\'');
        if !starts_word {
            return false;
        }
        // The word may continue into the next tokens.
        let mut word = String::new();
        'outer: for (k, tok) in tokens[i..].iter().enumerate() {
            let s = if k == 0 { body } else { tok.as_str() };
            for c in s.chars() {
                if c.is_alphabetic() {
                    word.extend(c.to_lowercase());
                } else {
                    break 'outer;
                }
            }
        }
        self.en.contains(&word)
    }

    /// Splits a token sequence into segments (non-empty, covering every token in order).
    pub fn segments(&self, tokens: &[String]) -> Vec<Range<usize>> {
        let mut out = vec![];
        let mut start = 0;
        for i in 0..tokens.len() {
            if i > start && (i - start >= self.max_tokens || self.word_starts(tokens, i)) {
                out.push(start..i);
                start = i;
            }
            if tokens[i].chars().any(|c| self.punctuation.contains(&c)) {
                out.push(start..i + 1);
                start = i + 1;
            }
        }
        if start < tokens.len() {
            out.push(start..tokens.len());
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn toks(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    fn cut(s: &Segmenter, t: &[&str]) -> Vec<String> {
        let t = toks(t);
        s.segments(&t).into_iter().map(|r| t[r].concat()).collect()
    }

    #[test]
    fn the_asset_parses() {
        let s = Segmenter::default();
        assert_eq!(s.max_tokens, 4);
        assert!(s.en.contains("because") && s.zh.iter().any(|w| w == "但是"));
        assert!(s.zh.iter().all(|w| w.chars().count() >= 2));
    }

    /// The text of the Safe-SAIL overview figure's example, as Qwen's tokenizer pieces it.
    pub(crate) const FIGURE_TOKENS: [&str; 14] = [
        "Oh",
        " fuck",
        " off",
        "!",
        " I",
        "'m",
        " tired",
        " of",
        " your",
        " bloody",
        " complaints",
        " go",
        " away",
        "…",
    ];

    /// The Safe-SAIL overview figure's example (Qwen's pieces): four segments.
    #[test]
    fn the_figure_example_cuts_into_four() {
        let s = Segmenter::default();
        assert_eq!(
            cut(&s, &FIGURE_TOKENS),
            vec![
                "Oh fuck off!",
                " I'm tired of",
                " your bloody complaints go",
                " away…"
            ]
        );
    }

    #[test]
    fn clause_words_cut_before_and_only_as_whole_words() {
        let s = Segmenter::default().with_max_tokens(10);
        assert_eq!(
            cut(
                &s,
                &["He", " left", " because", " it", " rained", " and", " android", "s", " stayed"]
            ),
            vec!["He left", " because it rained", " and androids stayed"]
        );
        // "Band" and "sand" hold "and" but are not the word.
        assert_eq!(
            cut(&s, &[" B", "and", " sand", "wich", " And", " then"]),
            vec![" Band sandwich", " And", " then"]
        );
        assert_eq!(
            cut(
                &s,
                &[
                    "我", "喜欢", "下雨", "但是", "他", "不", "喜欢", "，", "因为", "冷"
                ]
            ),
            vec!["我喜欢下雨", "但是他不喜欢，", "因为冷"]
        );
        // A single character inside a compound is no cut: 和平 (peace).
        assert_eq!(
            cut(&s, &["世界", "和平", "很", "重要"]),
            vec!["世界和平很重要"]
        );
    }

    #[test]
    fn the_cap_and_punctuation() {
        let s = Segmenter::default().with_max_tokens(3);
        assert_eq!(
            cut(&s, &["a", "b", "c", "d", "e", ".", "f"]),
            vec!["abc", "de.", "f"]
        );
        assert_eq!(cut(&s, &[".", ".", "x"]), vec![".", ".", "x"]);
        assert!(s.segments(&[]).is_empty());
        let one = Segmenter::parse(
            "max_tokens = 0\npunctuation = \"\"\n[en]\nbefore = []\n[zh]\nbefore = []\n",
        )
        .unwrap();
        assert_eq!(one.max_tokens, 1);
        assert!(Segmenter::parse("max_tokens = \"x\"").is_err());
    }
}
