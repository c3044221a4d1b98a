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

/// One register: how a whole generated document is shaped (news, forum thread, messages, …).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Register {
    pub name: String,
    /// Share of the generated plain documents (the plain style takes the rest).
    pub weight: f64,
    /// Never in the training corpus: only in the held-out style file.
    pub held_out: bool,
    /// Wrap the whole body (`{content}`).
    pub doc_frames: Vec<String>,
    /// Wrap one unit of sentences (`{content}`).
    pub unit_frames: Vec<String>,
    pub unit_min: usize,
    pub unit_max: usize,
    pub joiner: String,
    /// Chance that a sentence gets the informal voice.
    pub informal: f64,
    /// Chance that a sentence gets a wrapper (reported, hedged, negated, question).
    pub wrap: f64,
}

/// What makes generated text varied (`assets/corpus/LANG/variety.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Variety {
    /// Wrappers with `{sent}`.
    pub reported: Vec<String>,
    pub hedged: Vec<String>,
    pub negated: Vec<String>,
    pub questions: Vec<String>,
    /// Informal voice: put in front of a sentence / at its end.
    pub interjections: Vec<String>,
    pub tails: Vec<String>,
    pub registers: Vec<Register>,
    /// Paraphrase groups: phrases that may replace one another.
    pub synonyms: Vec<Vec<String>>,
}

/// All tables of one language.
pub(super) struct LangTables {
    pub kit: LangKit,
    pub variety: Variety,
    /// In [`DOMAIN_LABELS`](crate::domains::DOMAIN_LABELS) order.
    pub domains: Vec<DomainTable>,
    /// In [`SAFETY_DOMAINS`] order.
    pub concepts: Vec<ConceptTable>,
}

/// Every corpus table.
pub(super) struct Tables {
    /// Slots whose value is chosen once per document (unless written with a trailing digit).
    pub sticky_slots: BTreeSet<String>,
    /// English ↔ Chinese term pairs for code-switching.
    pub glossary: Vec<[String; 2]>,
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
            lang_files!(@file $lang, "variety"),
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
const GLOSSARY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/corpus/glossary.toml"
));
const EN_FILES: [(&str, &str); 8] = lang_files!("en");
const ZH_FILES: [(&str, &str); 8] = lang_files!("zh");

fn parse<T: serde::de::DeserializeOwned>((path, text): (&str, &str)) -> Result<T, String> {
    toml::from_str(text).map_err(|e| format!("assets/corpus/{path}: {e}"))
}

/// Parses the files of one language: common, the five domains in
/// [`DOMAIN_LABELS`](crate::domains::DOMAIN_LABELS) order, the concepts (one table per
/// safety domain) and the variety tables.
fn load_lang(files: [(&str, &str); 8]) -> Result<LangTables, String> {
    let [common, domains @ .., concepts_file, variety_file] = files;
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
        variety: parse(variety_file)?,
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
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Glossary {
        terms: Vec<[String; 2]>,
    }
    let sticky: Sticky = parse(("sticky_slots.toml", STICKY_SLOTS))?;
    let glossary: Glossary = parse(("glossary.toml", GLOSSARY))?;
    Ok(Tables {
        sticky_slots: sticky.sticky_slots,
        glossary: glossary.terms,
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
            assert!(files[7].0.ends_with("/variety.toml"));
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
            let v = &l.variety;
            assert!(v.registers.iter().any(|r| r.held_out));
            assert!(v.registers.iter().any(|r| !r.held_out && r.weight > 0.0));
            let trained: f64 = v
                .registers
                .iter()
                .filter(|r| !r.held_out)
                .map(|r| r.weight)
                .sum();
            assert!(trained < 1.0, "registers leave no room for plain text");
            for r in &v.registers {
                assert!(r.unit_min >= 1 && r.unit_min <= r.unit_max, "{}", r.name);
                assert!(r
                    .doc_frames
                    .iter()
                    .chain(&r.unit_frames)
                    .all(|f| f.contains("{content}")));
            }
            for w in v
                .reported
                .iter()
                .chain(&v.hedged)
                .chain(&v.negated)
                .chain(&v.questions)
            {
                assert!(w.contains("{sent}"), "{w}");
            }
            assert!(v.synonyms.iter().all(|g| g.len() >= 2));
        }
        assert!(t.glossary.len() >= 20);
        assert!(!t.en.kit.lowerable_starters.is_empty());
    }
}
