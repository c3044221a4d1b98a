//! Synthetic, seeded training corpus for the bundled sample workspace.
//!
//! The sample workspace ships a tiny language model and SAEs trained on this corpus, so a
//! newcomer sees real results without downloading a model. The corpus follows the Safe-SAIL
//! paper's four safety domains (pornography, politics, violence, terror) plus many neutral
//! topics, in English and Simplified Chinese, as plain documents and as chat conversations.
//!
//! Safety-domain text is written the way safety research needs it: clinical or euphemistic
//! wording for sexual topics (health, consent, education, moderation — nothing explicit), and
//! news, analysis, history, policy and moderation language for politics, violence and terror —
//! never instructions for harm. Chat conversations include harmful requests that the assistant
//! refuses (every refusal contains one of [`REFUSAL_MARKERS`]).
//!
//! Generated text is made varied by [`vary`]: registers (news, forum threads, messages) that
//! shape whole documents, reported speech, hedges, negations and questions around sentences, an
//! informal voice, paraphrases and English/Chinese code-switching. [`with_real_text`] mixes in
//! real English and Chinese text from Debian packages (see `real_sources.toml`).
//!
//! Everything is generated from template tables (`{slot}` placeholders filled from slot tables),
//! so the same [`CorpusConfig`] always yields the same documents. The tables are data, in
//! `assets/corpus/` (one TOML file per language and domain, embedded in the binary); this module
//! holds the generator.
//!
//! The template syntax and the layout of the files are described in `assets/corpus/README.md`.

mod fill;
mod real;
mod tables;
mod vary;

pub use crate::fsutil::FileRecord;
pub use real::SourceRecord;

use crate::domains::{DOMAIN_LABELS, SAFETY_DOMAINS};
use fill::{lowercase_first, Filler};
use rand::{rngs::StdRng, seq::IndexedRandom, Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use tables::{tables, ConceptTable, DomainTable, Harmful, LangKit, Topic};

/// Phrase contained in every English assistant refusal.
pub const REFUSAL_MARKER_EN: &str = "I can't help with";
/// Phrase contained in every Chinese assistant refusal.
pub const REFUSAL_MARKER_ZH: &str = "我无法协助";
/// Every assistant refusal contains one of these phrases.
pub const REFUSAL_MARKERS: [&str; 2] = [REFUSAL_MARKER_EN, REFUSAL_MARKER_ZH];

/// One message of a chat document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatTurn {
    /// "system", "user" or "assistant".
    pub role: String,
    pub content: String,
}

/// One generated sample corpus document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleDoc {
    /// 0.. in generation order.
    pub id: u64,
    /// One of [`DOMAIN_LABELS`].
    pub domain: String,
    /// e.g. "cooking", "elections", "sexual_health".
    pub topic: String,
    /// "en" | "zh".
    pub lang: String,
    /// Plain text documents: the text. Chat documents: the messages rendered as plain text
    /// "user: ...\nassistant: ..." (so every row has a `text` field).
    pub text: String,
    /// Chat documents only (None for plain text).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub messages: Option<Vec<ChatTurn>>,
    /// Where the text comes from: "generated:REGISTER" (plain, news, forum, messages, chat, or
    /// a held-out register) or "debian:SOURCE" for real text (`real_sources.toml`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<String>,
}

/// What [`generate`] produces.
#[derive(Debug, Clone, Copy)]
pub struct CorpusConfig {
    pub seed: u64,
    /// Number of documents.
    pub docs: usize,
    /// Share of docs in the four safety domains (default 0.4), spread evenly over them.
    pub safety_share: f64,
    /// Share in Chinese (default 0.4).
    pub zh_share: f64,
    /// Share that are chat conversations (default 0.25).
    pub chat_share: f64,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        CorpusConfig {
            seed: 0x5AFE_5A11,
            docs: 20_000,
            safety_share: 0.4,
            zh_share: 0.4,
            chat_share: 0.25,
        }
    }
}

/// One concept / de-concept prompt pair: same template, the safety concept replaced by a
/// neutral filler of similar length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConceptPair {
    /// One of [`SAFETY_DOMAINS`].
    pub domain: String,
    /// Short name of the concept, e.g. "recruitment", "election fraud".
    pub concept: String,
    /// "en" | "zh".
    pub lang: String,
    /// Contains the concept.
    pub prompt: String,
    /// Same template, concept replaced by a neutral filler.
    pub deconcept: String,
}

// ---------------------------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------------------------

/// Generates the corpus; the same config always gives the same documents.
///
/// Shares are clamped to `[0, 1]` (NaN falls back to the default) and met exactly up to
/// rounding; safety documents are spread evenly over the four safety domains.
pub fn generate(cfg: &CorpusConfig) -> Vec<SampleDoc> {
    let n = cfg.docs;
    if n == 0 {
        return Vec::new();
    }
    let defaults = CorpusConfig::default();
    let safety_share = sanitize_share(cfg.safety_share, defaults.safety_share);
    let zh_share = sanitize_share(cfg.zh_share, defaults.zh_share);
    let chat_share = sanitize_share(cfg.chat_share, defaults.chat_share);

    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let n_safety = quota(n, safety_share);
    let mut domains: Vec<u8> = (0..n)
        .map(|i| if i < n_safety { (i % 4) as u8 } else { 4 })
        .collect();
    shuffle(&mut domains, &mut rng);
    let zh = quota_flags(n, zh_share, &mut rng);
    let chat = quota_flags(n, chat_share, &mut rng);

    let mut docs = Vec::with_capacity(n);
    for i in 0..n {
        let lang = if zh[i] { Lang::Zh } else { Lang::En };
        docs.push(make_doc(
            i as u64,
            domains[i] as usize,
            lang,
            chat[i],
            false,
            &mut rng,
        ));
    }
    docs
}

/// Plain documents in the held-out registers only (styles [`generate`] never writes), over the
/// same domains and languages: for measuring a model on text of a style it never saw.
pub fn generate_heldout_style(cfg: &CorpusConfig, docs: usize) -> Vec<SampleDoc> {
    let defaults = CorpusConfig::default();
    let safety_share = sanitize_share(cfg.safety_share, defaults.safety_share);
    let zh_share = sanitize_share(cfg.zh_share, defaults.zh_share);
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x4E1D_0075_717E);
    (0..docs)
        .map(|i| {
            let domain = if rng.random::<f64>() < safety_share {
                rng.random_range(0..SAFETY_DOMAINS.len())
            } else {
                SAFETY_DOMAINS.len()
            };
            let lang = if rng.random::<f64>() < zh_share {
                Lang::Zh
            } else {
                Lang::En
            };
            make_doc(i as u64, domain, lang, false, true, &mut rng)
        })
        .collect()
}

/// Generated documents with real text mixed in: the real documents of every source under
/// `root` ("/" for the installed Debian packages) are shuffled in among `generated` (seeded)
/// and every document renumbered; documents of held-out sources come back separately. Also
/// returns what each source contributed.
pub fn with_real_text(
    generated: Vec<SampleDoc>,
    root: &Path,
    seed: u64,
) -> anyhow::Result<(Vec<SampleDoc>, Vec<SampleDoc>, Vec<SourceRecord>)> {
    let (real_docs, records) = real::read_all(root, seed)?;
    let to_doc = |d: real::RealDoc| SampleDoc {
        id: 0,
        domain: "neutral".to_string(),
        topic: "real".to_string(),
        lang: d.lang.code().to_string(),
        text: d.text,
        messages: None,
        source: Some(format!("debian:{}", d.source)),
    };
    let (held, train): (Vec<_>, Vec<_>) = real_docs.into_iter().partition(|d| d.held_out);
    let mut all: Vec<SampleDoc> = generated;
    all.extend(train.into_iter().map(to_doc));
    let mut rng = StdRng::seed_from_u64(seed ^ 0x4EA1_7E47);
    shuffle(&mut all, &mut rng);
    for (i, d) in all.iter_mut().enumerate() {
        d.id = i as u64;
    }
    let held: Vec<SampleDoc> = held
        .into_iter()
        .map(to_doc)
        .enumerate()
        .map(|(i, mut d)| {
            d.id = i as u64;
            d
        })
        .collect();
    Ok((all, held, records))
}

/// At least `per_domain` pairs per safety domain (exactly `per_domain`), alternating
/// English/Chinese, deterministic per seed.
pub fn concept_pairs(seed: u64, per_domain: usize) -> Vec<ConceptPair> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xC0C0_57A1_D0E5_1234);
    let mut out = Vec::with_capacity(per_domain.saturating_mul(SAFETY_DOMAINS.len()));
    for (d, domain) in SAFETY_DOMAINS.iter().enumerate() {
        let first_zh = rng.random_bool(0.5);
        for i in 0..per_domain {
            let lang = if (i % 2 == 0) != first_zh {
                Lang::En
            } else {
                Lang::Zh
            };
            if let Some(pair) = make_concept_pair(d, domain, lang, &mut rng) {
                out.push(pair);
            }
        }
    }
    out
}

/// Writes items as JSON Lines (one item per line) atomically: writes `path` + ".tmp", flushes,
/// `sync_all`s, renames onto `path`. Returns the number of bytes written.
pub fn write_jsonl<T: Serialize>(items: &[T], path: &Path) -> std::io::Result<u64> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);

    let written = (|| -> std::io::Result<u64> {
        let file = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(file);
        let mut bytes = 0u64;
        for item in items {
            let line = serde_json::to_string(item).map_err(std::io::Error::other)?;
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
            bytes += line.len() as u64 + 1;
        }
        w.flush()?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(bytes)
    })();

    let bytes = match written {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // Best effort: make the rename durable.
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        let dir = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(bytes)
}

// ---------------------------------------------------------------------------------------------
// Engine
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    Zh,
}

impl Lang {
    fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }
}

fn sanitize_share(x: f64, default: f64) -> f64 {
    if x.is_nan() {
        default
    } else {
        x.clamp(0.0, 1.0)
    }
}

fn quota(n: usize, share: f64) -> usize {
    let q = (n as f64 * share).round();
    if q <= 0.0 {
        0
    } else if q >= n as f64 {
        n
    } else {
        q as usize
    }
}

fn quota_flags(n: usize, share: f64, rng: &mut StdRng) -> Vec<bool> {
    let k = quota(n, share);
    let mut v: Vec<bool> = (0..n).map(|i| i < k).collect();
    shuffle(&mut v, rng);
    v
}

/// Fisher–Yates shuffle.
fn shuffle<T>(v: &mut [T], rng: &mut StdRng) {
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

/// A random element of a table ("" for an empty table).
fn pick<'a>(items: &'a [String], rng: &mut StdRng) -> &'a str {
    items.choose(rng).map_or("", String::as_str)
}

fn chance(rng: &mut StdRng, p: f64) -> bool {
    rng.random::<f64>() < p
}

/// The table of `domain` (an index into [`DOMAIN_LABELS`]) in `lang`.
fn domain_table(domain: usize, lang: Lang) -> &'static DomainTable {
    &tables().lang(lang).domains[domain]
}

/// The concept table of `domain` (an index into [`SAFETY_DOMAINS`]) in `lang`.
fn concept_table(domain: usize, lang: Lang) -> &'static ConceptTable {
    &tables().lang(lang).concepts[domain]
}

/// Language-specific pieces that are not domain tables.
fn kit(lang: Lang) -> &'static LangKit {
    &tables().lang(lang).kit
}

fn make_doc(
    id: u64,
    domain: usize,
    lang: Lang,
    chat: bool,
    held_out_style: bool,
    rng: &mut StdRng,
) -> SampleDoc {
    let table = domain_table(domain, lang);
    let is_safety = domain < SAFETY_DOMAINS.len();
    let refuse = chat && is_safety && chance(rng, 0.55);
    let topic = choose_topic(table, refuse, rng);
    let mut filler = Filler::new(lang, &table.slots);
    let domain_name = DOMAIN_LABELS[domain];
    let topic_name = topic.map_or("general", |t| t.name.as_str());

    let (text, messages, register) = if chat {
        let mut msgs = chat_messages(table, topic, lang, refuse, &mut filler, rng);
        // Users write in many voices: some informally, some in other words, some mixing
        // languages (assistant turns keep their wording: refusals carry the marker).
        for m in msgs.iter_mut().filter(|m| m.role == "user") {
            if chance(rng, 0.3) {
                m.content = vary::paraphrase(&m.content, lang, 0.5, rng);
            }
            if chance(rng, 0.35) {
                m.content = vary::informal(&m.content, lang, rng);
            }
            if chance(rng, 0.1) {
                m.content = vary::code_switch(&m.content, lang, rng);
            }
        }
        (render_chat(&msgs), Some(msgs), "chat")
    } else {
        let (text, register) = text_document(table, topic, lang, held_out_style, &mut filler, rng);
        (text, None, register)
    };
    SampleDoc {
        id,
        domain: domain_name.to_string(),
        topic: topic_name.to_string(),
        lang: lang.code().to_string(),
        text,
        messages,
        source: Some(format!("generated:{register}")),
    }
}

/// A topic of the table; for refusals one that has harmful requests (None if the table is empty).
fn choose_topic(
    table: &'static DomainTable,
    refuse: bool,
    rng: &mut StdRng,
) -> Option<&'static Topic> {
    if refuse {
        let with_harm: Vec<&'static Topic> = table
            .topics
            .iter()
            .filter(|t| !t.harmful.is_empty())
            .collect();
        if let Some(t) = with_harm.choose(rng) {
            return Some(*t);
        }
    }
    table.topics.choose(rng)
}

/// Renders chat messages as "role: content" lines.
fn render_chat(msgs: &[ChatTurn]) -> String {
    msgs.iter()
        .map(|m| format!("{}: {}", m.role, m.content))
        .collect::<Vec<_>>()
        .join("\n")
}

fn turn(role: &str, content: String) -> ChatTurn {
    ChatTurn {
        role: role.to_string(),
        content,
    }
}

/// Candidate sentence templates for a document about `topic`.
fn sentence_pool<'a>(
    table: &'a DomainTable,
    topic: Option<&'a Topic>,
    rng: &mut StdRng,
) -> Vec<&'a str> {
    let mut pool: Vec<&str> = Vec::new();
    if let Some(t) = topic {
        pool.extend(t.sentences.iter().map(String::as_str));
        pool.extend(t.answers.iter().map(String::as_str));
    }
    let mut general: Vec<&str> = table.general.iter().map(String::as_str).collect();
    shuffle(&mut general, rng);
    let extra = if pool.is_empty() {
        general.len()
    } else {
        rng.random_range(0..=2)
    };
    pool.extend(general.into_iter().take(extra));
    shuffle(&mut pool, rng);
    pool
}

/// A plain document and the name of its register. In the plain style (most documents): an
/// optional frame, 1–3 paragraphs of 2–8 sentences; otherwise 3–9 sentences shaped by a register
/// (a held-out one with `held_out_style`). Sentences may be wrapped (reported, hedged, negated,
/// asked) and paraphrased; the document may code-switch.
fn text_document(
    table: &DomainTable,
    topic: Option<&Topic>,
    lang: Lang,
    held_out_style: bool,
    filler: &mut Filler,
    rng: &mut StdRng,
) -> (String, &'static str) {
    let k = kit(lang);
    let pool = sentence_pool(table, topic, rng);
    if pool.is_empty() {
        return (filler.fill(pick(&k.frames, rng), rng), "plain");
    }
    let paraphrased = chance(rng, 0.5);
    let register = vary::choose_register(lang, held_out_style, rng);
    let mut sentence = |tpl: &str, rng: &mut StdRng, wrap_rate: f64| {
        let mut s = filler.fill(tpl, rng);
        if paraphrased {
            s = vary::paraphrase(&s, lang, 0.5, rng);
        }
        if chance(rng, wrap_rate) {
            s = vary::wrap(&s, lang, filler, rng);
        }
        s
    };
    let (mut text, name) = if let Some(reg) = register {
        let count = rng.random_range(3..=9usize);
        let sentences: Vec<String> = pool
            .iter()
            .take(count)
            .map(|tpl| sentence(tpl, rng, 0.0))
            .collect();
        (
            vary::apply_register(sentences, reg, lang, filler, rng),
            reg.name.as_str(),
        )
    } else {
        let roll = rng.random::<f64>();
        let paragraphs = if roll < 0.5 {
            1
        } else if roll < 0.85 {
            2
        } else {
            3
        };
        // Each template is used at most once per document.
        let mut templates = pool.iter();
        let mut paras: Vec<String> = Vec::with_capacity(paragraphs);
        for _ in 0..paragraphs {
            let count = rng.random_range(2..=8usize);
            let sentences: Vec<String> = templates
                .by_ref()
                .take(count)
                .map(|tpl| sentence(tpl, rng, 0.12))
                .collect();
            if sentences.is_empty() {
                break;
            }
            paras.push(join_sentences(sentences, lang, rng));
        }
        let mut text = paras.join("\n\n");
        if chance(rng, 0.3) {
            let frame = filler.fill(pick(&k.frames, rng), rng);
            text = frame + &text;
        }
        (text, "plain")
    };
    let switch_rate = if lang == Lang::En { 0.12 } else { 0.15 };
    if chance(rng, switch_rate) {
        text = vary::code_switch(&text, lang, rng);
    }
    (text, name)
}

/// Joins sentences into a paragraph, sometimes adding a connector.
fn join_sentences(sentences: Vec<String>, lang: Lang, rng: &mut StdRng) -> String {
    let k = kit(lang);
    let mut out = String::new();
    for (i, s) in sentences.into_iter().enumerate() {
        let s = if i > 0 && chance(rng, 0.22) {
            add_connector(s, lang, pick(&k.connectors, rng))
        } else {
            s
        };
        if i > 0 && lang == Lang::En {
            out.push(' ');
        }
        out.push_str(&s);
    }
    out
}

/// Puts `connector` in front of a sentence (English: only when its first word may be lower-cased).
fn add_connector(s: String, lang: Lang, connector: &str) -> String {
    if connector.is_empty() {
        return s;
    }
    match lang {
        Lang::Zh => format!("{connector}{s}"),
        Lang::En => {
            let first = s.split_whitespace().next().unwrap_or("");
            let lowerable = kit(lang).lowerable_starters.iter().any(|w| w == first);
            if lowerable && first != "I" {
                format!("{connector}, {}", lowercase_first(&s))
            } else {
                s
            }
        }
    }
}

/// An assistant answer: `min..=max` sentences drawn from `source` (explanatory sentences for a
/// first answer, concrete facts for a follow-up), with an optional opener (first answers only)
/// and closer.
fn helpful_answer(
    source: &[String],
    first: bool,
    lang: Lang,
    filler: &mut Filler,
    rng: &mut StdRng,
    min: usize,
    max: usize,
) -> String {
    let k = kit(lang);
    let mut pool: Vec<&str> = source.iter().map(String::as_str).collect();
    shuffle(&mut pool, rng);
    let count = rng.random_range(min..=max.max(min)).min(pool.len());
    let sentences: Vec<String> = pool
        .iter()
        .take(count)
        .map(|t| filler.fill(t, rng))
        .collect();
    let mut parts: Vec<String> = Vec::new();
    if first && chance(rng, 0.6) {
        parts.push(pick(&k.openers, rng).to_string());
    }
    parts.push(join_sentences(sentences, lang, rng));
    if chance(rng, 0.4) {
        parts.push(pick(&k.closers, rng).to_string());
    }
    let sep = if lang == Lang::En { " " } else { "" };
    let answer = parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(sep);
    if answer.is_empty() {
        pick(&k.closers, rng).to_string()
    } else {
        answer
    }
}

/// An assistant refusal of `harm`; always contains the language's refusal marker. The reason and
/// the alternative are usually the request's own, sometimes the domain's generic ones.
fn refusal(
    table: &DomainTable,
    harm: &Harmful,
    lang: Lang,
    filler: &mut Filler,
    rng: &mut StdRng,
) -> String {
    let k = kit(lang);
    let apology = pick(&k.apologies, rng);
    let object = pick(&k.refusal_objects, rng);
    let reason_tpl = if chance(rng, 0.7) || table.refusal_reasons.is_empty() {
        &harm.reason
    } else {
        pick(&table.refusal_reasons, rng)
    };
    let alternative_tpl = if chance(rng, 0.6) || table.alternatives.is_empty() {
        &harm.alternative
    } else {
        pick(&table.alternatives, rng)
    };
    let reason = filler.fill(reason_tpl, rng);
    let alternative = filler.fill(alternative_tpl, rng);
    match lang {
        Lang::En => {
            let mut s = format!("{apology}{REFUSAL_MARKER_EN} {object}.");
            for part in [reason, alternative] {
                if !part.is_empty() {
                    s.push(' ');
                    s.push_str(&part);
                }
            }
            s
        }
        Lang::Zh => format!("{apology}{REFUSAL_MARKER_ZH}{object}。{reason}{alternative}"),
    }
}

/// A second, shorter refusal after the user pushes back.
fn second_refusal(
    table: &DomainTable,
    harm: &Harmful,
    lang: Lang,
    filler: &mut Filler,
    rng: &mut StdRng,
) -> String {
    let k = kit(lang);
    let base = pick(&k.second_refusals, rng);
    let alternative_tpl = if table.alternatives.is_empty() {
        &harm.alternative
    } else {
        pick(&table.alternatives, rng)
    };
    let alternative = filler.fill(alternative_tpl, rng);
    match lang {
        Lang::En => format!("{base} {alternative}").trim_end().to_string(),
        Lang::Zh => format!("{base}{alternative}"),
    }
}

fn user_question(
    topic: Option<&Topic>,
    lang: Lang,
    filler: &mut Filler,
    rng: &mut StdRng,
) -> String {
    let tpl = match topic {
        Some(t) if !t.questions.is_empty() => pick(&t.questions, rng),
        _ => &kit(lang).fallback_question,
    };
    filler.fill(tpl, rng)
}

/// The messages of one chat document.
fn chat_messages(
    table: &DomainTable,
    topic: Option<&Topic>,
    lang: Lang,
    refuse: bool,
    filler: &mut Filler,
    rng: &mut StdRng,
) -> Vec<ChatTurn> {
    let k = kit(lang);
    let mut msgs = Vec::with_capacity(5);
    if chance(rng, 0.6) {
        msgs.push(turn("system", pick(&k.system_prompts, rng).to_string()));
    }
    let answers = topic.map(|t| t.answers.as_slice()).unwrap_or_default();
    let facts = topic.map(|t| t.sentences.as_slice()).unwrap_or_default();
    let harmful = topic.map(|t| t.harmful.as_slice()).unwrap_or_default();
    let harm = if refuse { harmful.choose(rng) } else { None };
    if let Some(harm) = harm {
        msgs.push(turn("user", filler.fill(&harm.request, rng)));
        msgs.push(turn("assistant", refusal(table, harm, lang, filler, rng)));
        if chance(rng, 0.35) {
            if chance(rng, 0.5) {
                msgs.push(turn("user", pick(&k.pushbacks, rng).to_string()));
                msgs.push(turn(
                    "assistant",
                    second_refusal(table, harm, lang, filler, rng),
                ));
            } else {
                msgs.push(turn("user", user_question(topic, lang, filler, rng)));
                msgs.push(turn(
                    "assistant",
                    helpful_answer(answers, true, lang, filler, rng, 2, 4),
                ));
            }
        }
    } else {
        msgs.push(turn("user", user_question(topic, lang, filler, rng)));
        msgs.push(turn(
            "assistant",
            helpful_answer(answers, true, lang, filler, rng, 2, 5),
        ));
        if chance(rng, 0.3) {
            msgs.push(turn("user", pick(&k.followups, rng).to_string()));
            msgs.push(turn(
                "assistant",
                helpful_answer(facts, false, lang, filler, rng, 1, 3),
            ));
        }
    }
    msgs
}

/// One concept pair for `domain` in `lang` (None only if the tables were empty).
fn make_concept_pair(d: usize, domain: &str, lang: Lang, rng: &mut StdRng) -> Option<ConceptPair> {
    let table = concept_table(d, lang);
    let tpl = table.templates.choose(rng)?;
    let concept = table.concepts.choose(rng)?;
    let mut filler = Filler::new(lang, &domain_table(d, lang).slots);
    // `{c}` is not a known slot, so it survives filling and is substituted below.
    let base = filler.fill(tpl, rng);
    let prompt = base.replace("{c}", &concept.phrase);
    let plen = prompt.chars().count() as f64;
    let mut candidates: Vec<(f64, String)> = concept
        .neutral
        .iter()
        .map(|n| {
            let s = base.replace("{c}", n);
            let len = s.chars().count() as f64;
            ((len - plen).abs() / len.max(plen).max(1.0), s)
        })
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let close: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].0 <= 0.3)
        .collect();
    let idx = match close.choose(rng) {
        Some(&i) => i,
        None => {
            let mut best = 0;
            for (i, c) in candidates.iter().enumerate() {
                if c.0 < candidates[best].0 {
                    best = i;
                }
            }
            best
        }
    };
    let deconcept = candidates.swap_remove(idx).1;
    Some(ConceptPair {
        domain: domain.to_string(),
        concept: concept.name.to_string(),
        lang: lang.code().to_string(),
        prompt,
        deconcept,
    })
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn cfg(seed: u64, docs: usize) -> CorpusConfig {
        CorpusConfig {
            seed,
            docs,
            ..CorpusConfig::default()
        }
    }

    fn is_cjk(c: char) -> bool {
        ('\u{4e00}'..='\u{9fff}').contains(&c)
    }

    fn all_domain_tables() -> Vec<(Lang, &'static DomainTable)> {
        let mut v = Vec::new();
        for lang in [Lang::En, Lang::Zh] {
            for d in 0..DOMAIN_LABELS.len() {
                v.push((lang, domain_table(d, lang)));
            }
        }
        v
    }

    #[test]
    fn same_seed_same_output_different_seed_different_output() {
        let a = generate(&cfg(7, 300));
        let b = generate(&cfg(7, 300));
        let c = generate(&cfg(8, 300));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(concept_pairs(3, 20), concept_pairs(3, 20));
        assert_ne!(concept_pairs(3, 20), concept_pairs(4, 20));
    }

    #[test]
    fn docs_are_well_formed() {
        let docs = generate(&cfg(11, 1500));
        assert_eq!(docs.len(), 1500);
        let roles = ["system", "user", "assistant"];
        for (i, d) in docs.iter().enumerate() {
            assert_eq!(d.id, i as u64);
            assert!(
                DOMAIN_LABELS.contains(&d.domain.as_str()),
                "domain {}",
                d.domain
            );
            assert!(d.lang == "en" || d.lang == "zh", "lang {}", d.lang);
            assert!(!d.topic.is_empty());
            assert!(!d.text.trim().is_empty(), "empty text in doc {i}");
            assert!(
                !d.text.contains('{') && !d.text.contains('}'),
                "unfilled slot in doc {i}: {}",
                d.text
            );
            if d.lang == "zh" {
                assert!(
                    d.text.chars().any(is_cjk),
                    "zh doc without Chinese: {}",
                    d.text
                );
            } else {
                // English documents hold Chinese only where they code-switch a glossary term.
                let mut rest = d.text.clone();
                for [_, zh] in &tables::tables().glossary {
                    rest = rest.replace(zh.as_str(), "");
                }
                assert!(!rest.chars().any(is_cjk), "en doc with Chinese: {}", d.text);
            }
            let src = d.source.as_deref().unwrap_or("");
            assert!(src.starts_with("generated:"), "source {src}");
            assert_ne!(src, "generated:comments", "a held-out register in training");
            if let Some(msgs) = &d.messages {
                assert!(msgs.len() >= 2, "chat doc {i} has {} messages", msgs.len());
                for m in msgs {
                    assert!(roles.contains(&m.role.as_str()), "role {}", m.role);
                    assert!(!m.content.trim().is_empty(), "empty message in doc {i}");
                }
                assert!(msgs.iter().any(|m| m.role == "user"));
                assert!(msgs.iter().any(|m| m.role == "assistant"));
                assert_eq!(d.text, render_chat(msgs));
                assert!(d.text.contains("user: ") && d.text.contains("assistant: "));
            }
        }
    }

    #[test]
    fn shares_are_respected_and_everything_is_present() {
        let n = 2000;
        let docs = generate(&cfg(21, n));
        let share =
            |f: &dyn Fn(&SampleDoc) -> bool| docs.iter().filter(|d| f(d)).count() as f64 / n as f64;
        let safety = share(&|d| d.domain != "neutral");
        let zh = share(&|d| d.lang == "zh");
        let chat = share(&|d| d.messages.is_some());
        assert!((safety - 0.4).abs() <= 0.05, "safety share {safety}");
        assert!((zh - 0.4).abs() <= 0.05, "zh share {zh}");
        assert!((chat - 0.25).abs() <= 0.05, "chat share {chat}");
        for dom in DOMAIN_LABELS {
            let count = docs.iter().filter(|d| d.domain == dom).count();
            assert!(count > 0, "no docs in {dom}");
            if dom != "neutral" {
                let expected = 0.1 * n as f64;
                assert!(
                    (count as f64 - expected).abs() <= 0.02 * n as f64,
                    "{dom}: {count}"
                );
            }
        }
        assert!(docs.iter().any(|d| d.lang == "en"));
        assert!(docs.iter().any(|d| d.lang == "zh"));

        let has_refusal = |d: &SampleDoc| {
            d.messages.as_ref().is_some_and(|m| {
                m.iter().any(|t| {
                    t.role == "assistant" && REFUSAL_MARKERS.iter().any(|r| t.content.contains(r))
                })
            })
        };
        let safety_refusals = docs
            .iter()
            .filter(|d| d.domain != "neutral" && has_refusal(d))
            .count();
        assert!(safety_refusals > 0, "no refusals among safety chat docs");
        for lang in ["en", "zh"] {
            assert!(
                docs.iter()
                    .any(|d| d.lang == lang && d.domain != "neutral" && has_refusal(d)),
                "no {lang} refusals"
            );
        }
        assert!(
            docs.iter()
                .all(|d| d.domain != "neutral" || !has_refusal(d)),
            "refusal in a neutral doc"
        );
        // Safety chats also contain helpful answers, not only refusals.
        assert!(docs
            .iter()
            .any(|d| d.domain != "neutral" && d.messages.is_some() && !has_refusal(d)));
    }

    #[test]
    fn corpus_has_variety() {
        let docs = generate(&cfg(5, 5000));
        let distinct: HashSet<&str> = docs.iter().map(|d| d.text.as_str()).collect();
        let ratio = distinct.len() as f64 / docs.len() as f64;
        assert!(ratio >= 0.9, "only {:.3} of texts are distinct", ratio);
        let topics: HashSet<&str> = docs.iter().map(|d| d.topic.as_str()).collect();
        assert!(topics.len() >= 30, "only {} topics", topics.len());
    }

    #[test]
    fn odd_configs_do_not_panic() {
        assert!(generate(&cfg(1, 0)).is_empty());
        assert_eq!(generate(&cfg(1, 1)).len(), 1);
        for (s, z, c) in [
            (f64::NAN, f64::NAN, f64::NAN),
            (-1.0, 2.0, f64::INFINITY),
            (1.0, 1.0, 1.0),
            (0.0, 0.0, 0.0),
            (f64::NEG_INFINITY, 0.5, -0.0),
        ] {
            let docs = generate(&CorpusConfig {
                seed: 9,
                docs: 64,
                safety_share: s,
                zh_share: z,
                chat_share: c,
            });
            assert_eq!(docs.len(), 64);
            assert!(docs.iter().all(|d| !d.text.is_empty()));
        }
        let all_safety_chat = generate(&CorpusConfig {
            seed: 2,
            docs: 100,
            safety_share: 1.0,
            zh_share: 0.0,
            chat_share: 1.0,
        });
        assert!(all_safety_chat
            .iter()
            .all(|d| d.domain != "neutral" && d.messages.is_some()));
        assert!(concept_pairs(1, 0).is_empty());
    }

    #[test]
    fn every_template_fills_completely() {
        let mut rng = StdRng::seed_from_u64(99);
        for (lang, table) in all_domain_tables() {
            let k = kit(lang);
            let mut templates: Vec<&String> = Vec::new();
            templates.extend(&table.general);
            templates.extend(&table.refusal_reasons);
            templates.extend(&table.alternatives);
            templates.extend(&k.frames);
            for t in &table.topics {
                assert!(!t.sentences.is_empty(), "{} has no sentences", t.name);
                assert!(!t.answers.is_empty(), "{} has no answers", t.name);
                assert!(!t.questions.is_empty(), "{} has no questions", t.name);
                templates.extend(&t.sentences);
                templates.extend(&t.answers);
                templates.extend(&t.questions);
                for h in &t.harmful {
                    templates.extend([&h.request, &h.reason, &h.alternative]);
                }
            }
            for tpl in templates {
                // Several rounds so that every nested filler gets a chance to show up.
                for _ in 0..8 {
                    let mut f = Filler::new(lang, &table.slots);
                    let s = f.fill(tpl, &mut rng);
                    assert!(
                        !s.contains('{') && !s.contains('}'),
                        "unfilled: {tpl:?} -> {s:?}"
                    );
                }
            }
        }
        // Every slot filler resolves too.
        for (lang, table) in all_domain_tables() {
            for values in table.slots.values().chain(kit(lang).slots.values()) {
                for v in values.iter() {
                    let mut f = Filler::new(lang, &table.slots);
                    let s = f.fill(v, &mut rng);
                    assert!(!s.contains('{'), "unfilled filler {v:?} -> {s:?}");
                }
            }
        }
    }

    #[test]
    fn safety_tables_can_refuse() {
        for lang in [Lang::En, Lang::Zh] {
            for d in 0..SAFETY_DOMAINS.len() {
                let t = domain_table(d, lang);
                assert!(t.topics.iter().any(|t| !t.harmful.is_empty()));
                assert!(!t.refusal_reasons.is_empty());
                assert!(!t.alternatives.is_empty());
            }
        }
        for s in &kit(Lang::En).second_refusals {
            assert!(s.contains(REFUSAL_MARKER_EN), "{s}");
        }
        for s in &kit(Lang::Zh).second_refusals {
            assert!(s.contains(REFUSAL_MARKER_ZH), "{s}");
        }
    }

    #[test]
    fn concept_tables_are_well_formed() {
        let mut rng = StdRng::seed_from_u64(5);
        for lang in [Lang::En, Lang::Zh] {
            for d in 0..SAFETY_DOMAINS.len() {
                let t = concept_table(d, lang);
                assert!(
                    t.templates.len() >= 15,
                    "{:?} {} templates",
                    lang,
                    t.templates.len()
                );
                assert!(t.concepts.len() >= 8);
                for tpl in &t.templates {
                    assert_eq!(tpl.matches("{c}").count(), 1, "{tpl}");
                    assert!(!tpl.starts_with("{c}"), "{tpl}");
                    let mut f = Filler::new(lang, &domain_table(d, lang).slots);
                    let s = f.fill(tpl, &mut rng).replace("{c}", "");
                    assert!(!s.contains('{') && !s.contains('}'), "{tpl} -> {s}");
                }
                for c in &t.concepts {
                    assert!(!c.neutral.is_empty(), "{}", c.name);
                    assert!(c.name.is_ascii(), "concept names are English: {}", c.name);
                }
            }
        }
    }

    #[test]
    fn concept_pairs_match() {
        let per_domain = 60;
        let pairs = concept_pairs(17, per_domain);
        for dom in SAFETY_DOMAINS {
            let of_dom: Vec<&ConceptPair> = pairs.iter().filter(|p| p.domain == dom).collect();
            assert!(of_dom.len() >= per_domain, "{dom}: {}", of_dom.len());
            assert!(of_dom.iter().any(|p| p.lang == "en"));
            assert!(of_dom.iter().any(|p| p.lang == "zh"));
        }
        for p in &pairs {
            assert!(SAFETY_DOMAINS.contains(&p.domain.as_str()));
            assert!(!p.concept.is_empty());
            assert_ne!(p.prompt, p.deconcept);
            assert!(
                !p.prompt.contains('{') && !p.deconcept.contains('{'),
                "{p:?}"
            );
            if p.lang == "en" {
                assert_eq!(
                    p.prompt.split_whitespace().next(),
                    p.deconcept.split_whitespace().next(),
                    "{p:?}"
                );
            } else {
                assert_eq!(p.lang, "zh");
                assert_eq!(p.prompt.chars().next(), p.deconcept.chars().next(), "{p:?}");
            }
            let a = p.prompt.chars().count() as f64;
            let b = p.deconcept.chars().count() as f64;
            assert!(
                (a - b).abs() <= 0.4 * a.max(b),
                "lengths differ too much: {p:?}"
            );
        }
    }

    #[test]
    fn generated_text_comes_in_many_registers_and_voices() {
        let docs = generate(&cfg(5, 3000));
        let mut by_source: std::collections::BTreeMap<&str, usize> = Default::default();
        for d in &docs {
            *by_source.entry(d.source.as_deref().unwrap()).or_default() += 1;
        }
        for reg in ["plain", "news", "forum", "messages", "chat"] {
            let n = by_source
                .get(format!("generated:{reg}").as_str())
                .copied()
                .unwrap_or(0);
            assert!(n > 100, "{reg}: {n} documents ({by_source:?})");
        }
        let all: String = docs.iter().map(|d| d.text.as_str()).collect();
        for phrase in [
            "It is not true that",
            "According to",
            "wrote:\n",
            "并不属实",
            "据",
        ] {
            assert!(all.contains(phrase), "nothing says {phrase:?}");
        }
        // Code-switched English: a glossary term glossed in Chinese.
        assert!(tables::tables()
            .glossary
            .iter()
            .any(|[en, zh]| all.contains(&format!("{en} ({zh})"))));
    }

    #[test]
    fn the_held_out_style_is_only_the_held_out_registers() {
        let docs = generate_heldout_style(&cfg(5, 0), 200);
        assert_eq!(docs.len(), 200);
        assert!(docs
            .iter()
            .all(|d| d.source.as_deref() == Some("generated:comments")));
        assert!(docs.iter().any(|d| d.lang == "zh") && docs.iter().any(|d| d.lang == "en"));
        assert!(
            docs.iter().any(|d| d.domain == "terror") && docs.iter().any(|d| d.domain == "neutral")
        );
        assert!(docs
            .iter()
            .all(|d| !d.text.contains('{') && d.messages.is_none()));
    }

    /// A root with a small file at every path of `real_sources.toml`, in the source's format.
    fn fake_debian_root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (si, src) in real::sources().iter().enumerate() {
            for (fi, rel) in src.files.iter().enumerate() {
                let path = dir.path().join(rel);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                let text: String = match (src.format, src.lang.as_str()) {
                    (real::Format::Fortune, "en") => (0..5)
                        .map(|i| format!("Saying {i} of file {fi} in source {si}, wise and short.\n%\n"))
                        .collect(),
                    (real::Format::Fortune, _) => (0..5)
                        .map(|i| format!("知足者常乐，第{i}条，来源{si}文件{fi}。\n%\n"))
                        .collect(),
                    (real::Format::Html, _) => (0..6)
                        .map(|i| format!("<p>Paragraph {i} of chapter {fi}, source {si}: 学习一门新的外语。</p>"))
                        .collect(),
                    (real::Format::Wordnet, _) => (0..8)
                        .map(|i| format!("0000{i} 04 n 01 word{fi}_{i} 0 000 | a gloss number {i}\n"))
                        .collect(),
                };
                std::fs::write(path, text).unwrap();
            }
        }
        dir
    }

    #[test]
    fn real_text_is_mixed_in_and_held_out_sources_kept_apart() {
        let root = fake_debian_root();
        let generated = generate(&cfg(3, 300));
        let (mixed, held, records) = with_real_text(generated.clone(), root.path(), 3).unwrap();
        let real: Vec<&SampleDoc> = mixed
            .iter()
            .filter(|d| {
                d.source
                    .as_deref()
                    .is_some_and(|s| s.starts_with("debian:"))
            })
            .collect();
        let trained_sources: usize = records.iter().filter(|r| !r.held_out).map(|r| r.docs).sum();
        assert_eq!(real.len(), trained_sources);
        assert_eq!(mixed.len(), 300 + real.len());
        assert!(mixed.iter().enumerate().all(|(i, d)| d.id == i as u64));
        assert!(real
            .iter()
            .all(|d| d.domain == "neutral" && d.topic == "real"));
        let held_names: Vec<&str> = records
            .iter()
            .filter(|r| r.held_out)
            .map(|r| r.name.as_str())
            .collect();
        assert!(!held.is_empty());
        for h in &held {
            let name = h.source.as_deref().unwrap().trim_start_matches("debian:");
            assert!(held_names.contains(&name), "{name}");
            assert!(
                !mixed.iter().any(|d| d.text == h.text),
                "held-out text in training"
            );
        }
        // Real text is shuffled in, not appended.
        assert!(mixed[..mixed.len() / 2].iter().any(|d| d.topic == "real"));
        assert!(records
            .iter()
            .all(|r| r.files.iter().all(|f| f.fnv1a64.len() == 16)));
        let (again, _, _) = with_real_text(generated, root.path(), 3).unwrap();
        assert_eq!(again, mixed);
    }

    #[test]
    fn write_jsonl_round_trips() {
        let docs = generate(&cfg(33, 80));
        assert!(docs.iter().any(|d| d.messages.is_some()));
        let unique = format!(
            "safe_sail_corpus_test_{}_{}.jsonl",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let path = std::env::temp_dir().join(unique);
        let bytes = write_jsonl(&docs, &path).expect("write_jsonl");
        let text = std::fs::read_to_string(&path).expect("read back");
        assert_eq!(bytes, text.len() as u64);
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        assert!(
            !std::path::Path::new(&tmp).exists(),
            "temporary file left behind"
        );
        let back: Vec<SampleDoc> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("valid JSON line"))
            .collect();
        assert_eq!(back, docs);
        // Plain docs omit `messages`; chat docs carry it.
        for (line, d) in text.lines().zip(&docs) {
            assert_eq!(line.contains("\"messages\""), d.messages.is_some());
        }
        let pairs = concept_pairs(1, 5);
        let n = write_jsonl(&pairs, &path).expect("write pairs");
        let text = std::fs::read_to_string(&path).expect("read pairs");
        assert_eq!(n, text.len() as u64);
        let back: Vec<ConceptPair> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("valid JSON line"))
            .collect();
        assert_eq!(back, pairs);
        let _ = std::fs::remove_file(&path);
    }
}
