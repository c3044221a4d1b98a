//! The corpus tables: the TOML files under `assets/corpus/`, embedded in the binary and parsed
//! once. A table that does not parse is a programming error (a unit test loads them all).

use super::Lang;
use crate::domains::SAFETY_DOMAINS;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// Slot name → fillers.
pub(super) type Slots = BTreeMap<String, Vec<String>>;

/// A harmful user request with a matching refusal reason and a safe alternative.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Harmful {
    pub request: String,
    pub reason: String,
    pub alternative: String,
}

/// One topic of a domain in one language.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Topic {
    /// Label stored in [`super::SampleDoc::topic`].
    pub name: String,
    /// Document sentences: news, analysis, guidance, moderation notes.
    pub sentences: Vec<String>,
    /// Explanatory sentences, used in documents and in assistant answers.
    pub answers: Vec<String>,
    /// Benign user questions for chat documents.
    pub questions: Vec<String>,
    /// Harmful user requests that the assistant refuses (empty when none fit the topic).
    #[serde(default)]
    pub harmful: Vec<Harmful>,
}

/// Everything about one domain in one language (`assets/corpus/LANG/DOMAIN.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DomainTable {
    pub topics: Vec<Topic>,
    /// Sentences that fit any topic of the domain.
    pub general: Vec<String>,
    /// Generic reasons that fit any harmful request of the domain (safety domains only).
    #[serde(default)]
    pub refusal_reasons: Vec<String>,
    /// Generic safe alternatives that fit any harmful request of the domain.
    #[serde(default)]
    pub alternatives: Vec<String>,
    /// Domain-specific slots (looked up before the language's common slots).
    pub slots: Slots,
}

/// Language-specific pieces that are not domain tables (`assets/corpus/LANG/common.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LangKit {
    pub fallback_question: String,
    pub connectors: Vec<String>,
    pub frames: Vec<String>,
    pub system_prompts: Vec<String>,
    pub openers: Vec<String>,
    pub closers: Vec<String>,
    pub followups: Vec<String>,
    pub pushbacks: Vec<String>,
    pub apologies: Vec<String>,
    pub refusal_objects: Vec<String>,
    pub second_refusals: Vec<String>,
    /// Sentence-initial words that may be lower-cased after a connector (English only).
    #[serde(default)]
    pub lowerable_starters: Vec<String>,
    /// Slots shared by every domain of the language.
    pub slots: Slots,
}

/// Paired concept templates for one safety domain in one language.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConceptTable {
    /// Templates containing `{c}` (never at the very start), plus ordinary slots.
    pub templates: Vec<String>,
    pub concepts: Vec<Concept>,
}

/// A safety concept phrase and neutral phrases that fit the same templates.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Concept {
    pub name: String,
    pub phrase: String,
    pub neutral: Vec<String>,
}

/// All tables of one language.
pub(super) struct LangTables {
    pub kit: LangKit,
    /// In [`DOMAIN_LABELS`](crate::domains::DOMAIN_LABELS) order.
    pub domains: Vec<DomainTable>,
    /// In [`SAFETY_DOMAINS`] order.
    pub concepts: Vec<ConceptTable>,
}

/// Every corpus table.
pub(super) struct Tables {
    /// Slots whose value is chosen once per document (unless written with a trailing digit).
    pub sticky_slots: BTreeSet<String>,
    en: LangTables,
    zh: LangTables,
}

impl Tables {
    pub fn lang(&self, lang: Lang) -> &LangTables {
        match lang {
            Lang::En => &self.en,
            Lang::Zh => &self.zh,
        }
    }
}

/// The parsed tables (parsed on first use).
pub(super) fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| load().unwrap_or_else(|e| panic!("embedded corpus table: {e}")))
}

/// `(path under assets/corpus/, text)` of one language's files.
macro_rules! lang_files {
    ($lang:literal) => {
        [
            lang_files!(@file $lang, "common"),
            lang_files!(@file $lang, "pornography"),
            lang_files!(@file $lang, "politics"),
            lang_files!(@file $lang, "violence"),
            lang_files!(@file $lang, "terror"),
            lang_files!(@file $lang, "neutral"),
            lang_files!(@file $lang, "concepts"),
        ]
    };
    (@file $lang:literal, $name:literal) => {
        (
            concat!($lang, "/", $name, ".toml"),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/corpus/",
                $lang,
                "/",
                $name,
                ".toml"
            )),
        )
    };
}

const STICKY_SLOTS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/corpus/sticky_slots.toml"
));
const EN_FILES: [(&str, &str); 7] = lang_files!("en");
const ZH_FILES: [(&str, &str); 7] = lang_files!("zh");

fn parse<T: serde::de::DeserializeOwned>((path, text): (&str, &str)) -> Result<T, String> {
    toml::from_str(text).map_err(|e| format!("assets/corpus/{path}: {e}"))
}

/// Parses the files of one language: common, the five domains in
/// [`DOMAIN_LABELS`](crate::domains::DOMAIN_LABELS) order, and the concepts (one table per
/// safety domain).
fn load_lang(files: [(&str, &str); 7]) -> Result<LangTables, String> {
    let [common, domains @ .., concepts_file] = files;
    let domains = domains
        .into_iter()
        .map(parse)
        .collect::<Result<Vec<DomainTable>, _>>()?;
    let mut by_domain: BTreeMap<String, ConceptTable> = parse(concepts_file)?;
    let concepts = SAFETY_DOMAINS
        .iter()
        .map(|d| {
            by_domain
                .remove(*d)
                .ok_or_else(|| format!("assets/corpus/{}: no [{d}] table", concepts_file.0))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(extra) = by_domain.keys().next() {
        return Err(format!(
            "assets/corpus/{}: [{extra}] is not a safety domain",
            concepts_file.0
        ));
    }
    Ok(LangTables {
        kit: parse(common)?,
        domains,
        concepts,
    })
}

fn load() -> Result<Tables, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sticky {
        sticky_slots: BTreeSet<String>,
    }
    let sticky: Sticky = parse(("sticky_slots.toml", STICKY_SLOTS))?;
    Ok(Tables {
        sticky_slots: sticky.sticky_slots,
        en: load_lang(EN_FILES)?,
        zh: load_lang(ZH_FILES)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domains::DOMAIN_LABELS;

    #[test]
    fn every_embedded_table_parses() {
        let t = load().unwrap_or_else(|e| panic!("{e}"));
        for files in [EN_FILES, ZH_FILES] {
            for ((path, _), label) in files[1..6].iter().zip(DOMAIN_LABELS) {
                assert!(
                    path.ends_with(&format!("/{label}.toml")),
                    "{path} is not {label}"
                );
            }
        }
        assert!(!t.sticky_slots.is_empty());
        for lang in [Lang::En, Lang::Zh] {
            let l = t.lang(lang);
            assert_eq!(l.domains.len(), DOMAIN_LABELS.len());
            assert_eq!(l.concepts.len(), SAFETY_DOMAINS.len());
            assert!(l.domains.iter().all(|d| !d.topics.is_empty()));
        }
        assert!(!t.en.kit.lowerable_starters.is_empty());
    }
}
