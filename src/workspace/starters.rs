//! The starter prompts the inspector offers on its first screen: the workspace's own
//! (`starter_prompts` in the workspace file), else the defaults in `assets/starter_prompts.toml`
//! (per safety domain in English and Chinese, a chat the model should refuse, a neutral one).

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

const ASSET: &str = include_str!("../../assets/starter_prompts.toml");

/// One starter prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StarterPrompt {
    /// The button's text.
    pub label: String,
    /// The prompt (the user message when the chat template is applied).
    pub text: String,
    /// The safety domain it is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Let the model answer (e.g. to see which neurons fire while it refuses).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub answer: bool,
}

#[derive(Deserialize)]
struct Asset {
    prompt: Vec<StarterPrompt>,
}

/// The default starter prompts (`assets/starter_prompts.toml`).
pub fn default_starters() -> &'static [StarterPrompt] {
    static STARTERS: OnceLock<Vec<StarterPrompt>> = OnceLock::new();
    STARTERS.get_or_init(|| {
        toml::from_str::<Asset>(ASSET)
            .expect("assets/starter_prompts.toml parses (a test checks it)")
            .prompt
    })
}

/// The starters of a workspace: its own list when it has one, else the defaults.
pub fn starters_of(own: &[StarterPrompt]) -> &[StarterPrompt] {
    if own.is_empty() {
        default_starters()
    } else {
        own
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every domain has an English and a Chinese starter, one starter lets the model answer
    /// (the refused chat), and the domains named are the taxonomy's.
    #[test]
    fn defaults_cover_each_domain_in_both_languages() {
        let s = default_starters();
        let domains = &crate::domains::taxonomy().domains;
        for d in domains {
            let of: Vec<&StarterPrompt> = s
                .iter()
                .filter(|p| p.domain.as_deref() == Some(&d.name))
                .collect();
            assert!(of.iter().any(|p| p.text.is_ascii()), "{}: English", d.name);
            assert!(
                of.iter().any(|p| p
                    .text
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))),
                "{}: Chinese",
                d.name
            );
        }
        assert!(s.iter().any(|p| p.answer));
        for p in s {
            if let Some(d) = &p.domain {
                assert!(domains.iter().any(|x| &x.name == d), "{d}");
            }
            assert!(!p.label.is_empty() && !p.text.trim().is_empty());
        }
        let own = vec![StarterPrompt {
            label: "mine".into(),
            text: "x".into(),
            domain: None,
            answer: false,
        }];
        assert_eq!(starters_of(&own).len(), 1);
        assert_eq!(starters_of(&[]).len(), s.len());
    }
}
