//! Variety for generated text (`assets/corpus/LANG/variety.toml`, `glossary.toml`): sentence
//! wrappers (reported speech, hedges, negations, questions), an informal voice, registers that
//! shape a whole document (news, forum threads, messages, and a held-out one), paraphrases and
//! English/Chinese code-switching. Everything draws from the document's seeded generator.

use super::fill::{capitalize_if, lowercase_first, Filler};
use super::tables::{tables, Register, Variety};
use super::{chance, kit, pick, Lang};
use rand::{rngs::StdRng, seq::IndexedRandom, Rng};

fn variety(lang: Lang) -> &'static Variety {
    &tables().lang(lang).variety
}

/// A register for a generated plain document: one of the trained registers by weight, or None
/// for the plain style; with `held_out`, one of the held-out registers.
pub(super) fn choose_register(
    lang: Lang,
    held_out: bool,
    rng: &mut StdRng,
) -> Option<&'static Register> {
    let regs = &variety(lang).registers;
    if held_out {
        let h: Vec<&Register> = regs.iter().filter(|r| r.held_out).collect();
        return h.choose(rng).copied();
    }
    let mut x: f64 = rng.random();
    for r in regs.iter().filter(|r| !r.held_out) {
        if x < r.weight {
            return Some(r);
        }
        x -= r.weight;
    }
    None
}

/// Capitalised English words of the slot fillers (names of people, places, organisations):
/// a sentence starting with one keeps its capital inside a wrapper.
fn name_words() -> &'static std::collections::HashSet<String> {
    static WORDS: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        let en = tables().lang(Lang::En);
        let slots = std::iter::once(&en.kit.slots).chain(en.domains.iter().map(|d| &d.slots));
        slots
            .flat_map(|s| s.values().flatten())
            .flat_map(|v| v.split_whitespace())
            .filter(|w| w.starts_with(|c: char| c.is_ascii_uppercase()))
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_string())
            .collect()
    })
}

/// `s` without its final punctuation, ready to go inside a wrapper: English sentences whose
/// first word may be lower-cased are.
fn inner(s: &str, lang: Lang) -> String {
    let t = s.trim_end_matches(['.', '!', '?', '。', '！', '？', ' ']);
    match lang {
        Lang::Zh => t.to_string(),
        Lang::En => {
            let first = t.split_whitespace().next().unwrap_or("");
            let lowerable = kit(lang).lowerable_starters.iter().any(|w| w == first);
            if first != "I" && (lowerable || !name_words().contains(first)) {
                lowercase_first(t)
            } else {
                t.to_string()
            }
        }
    }
}

/// The sentence inside a reported-speech, hedged, negated or question wrapper. A sentence that
/// is already a question, or has a line break, stays as it is.
pub(super) fn wrap(s: &str, lang: Lang, filler: &mut Filler, rng: &mut StdRng) -> String {
    if s.contains('\n') || s.ends_with('?') || s.ends_with('？') {
        return s.to_string();
    }
    let v = variety(lang);
    let x: f64 = rng.random();
    let list = if x < 0.4 {
        &v.reported
    } else if x < 0.65 {
        &v.hedged
    } else if x < 0.85 {
        &v.negated
    } else {
        &v.questions
    };
    let tpl = filler.fill(pick(list, rng), rng);
    // A wrapper at the start of a sentence starts it with a capital.
    capitalize_if(tpl.replace("{sent}", &inner(s, lang)), true)
}

/// The sentence in an informal voice: an interjection in front, sometimes lower case, a
/// casual ending instead of the full stop.
pub(super) fn informal(s: &str, lang: Lang, rng: &mut StdRng) -> String {
    let v = variety(lang);
    let mut t = s.to_string();
    match lang {
        Lang::En => {
            if chance(rng, 0.5) {
                t = lowercase_first(&t);
            }
            if chance(rng, 0.4) {
                t = format!("{} {}", pick(&v.interjections, rng), lowercase_first(&t));
            }
            if t.ends_with('.') && chance(rng, 0.6) {
                t.pop();
                t.push_str(pick(&v.tails, rng));
            }
        }
        Lang::Zh => {
            if chance(rng, 0.4) {
                t = format!("{}{t}", pick(&v.interjections, rng));
            }
            if t.ends_with('。') && chance(rng, 0.6) {
                t.pop();
                t.push_str(pick(&v.tails, rng));
            }
        }
    }
    t
}

/// Sentences shaped by a register: each may get the informal voice or a wrapper, units of
/// sentences go into unit frames, the units into a document frame.
pub(super) fn apply_register(
    sentences: Vec<String>,
    reg: &Register,
    lang: Lang,
    filler: &mut Filler,
    rng: &mut StdRng,
) -> String {
    let sentences: Vec<String> = sentences
        .into_iter()
        .map(|s| {
            let s = if chance(rng, reg.wrap) {
                wrap(&s, lang, filler, rng)
            } else {
                s
            };
            if chance(rng, reg.informal) {
                informal(&s, lang, rng)
            } else {
                s
            }
        })
        .collect();
    let sep = if lang == Lang::En { " " } else { "" };
    let mut units = Vec::new();
    let mut it = sentences.into_iter().peekable();
    while it.peek().is_some() {
        let n = rng.random_range(reg.unit_min..=reg.unit_max.max(reg.unit_min));
        let body = it.by_ref().take(n).collect::<Vec<_>>().join(sep);
        let frame = filler.fill(pick(&reg.unit_frames, rng), rng);
        units.push(frame.replace("{content}", &body));
    }
    let frame = filler.fill(pick(&reg.doc_frames, rng), rng);
    frame.replace("{content}", &units.join(&reg.joiner))
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '\'' || c == '-'
}

/// Byte ranges of `needle` in `hay` (English: as a whole word, first letter in either case;
/// Chinese: anywhere).
fn occurrences(hay: &str, needle: &str, lang: Lang) -> Vec<(usize, usize, bool)> {
    let mut out = Vec::new();
    if needle.is_empty() {
        return out;
    }
    let capital = {
        let mut c = needle.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    };
    let forms: Vec<(&str, bool)> = if lang == Lang::En && capital != needle {
        vec![(needle, false), (capital.as_str(), true)]
    } else {
        vec![(needle, false)]
    };
    for (form, cap) in forms {
        let mut from = 0;
        while let Some(i) = hay[from..].find(form) {
            let start = from + i;
            let end = start + form.len();
            let ok = lang == Lang::Zh
                || (!hay[..start].chars().next_back().is_some_and(is_word_char)
                    && !hay[end..].chars().next().is_some_and(is_word_char));
            if ok {
                out.push((start, end, cap));
            }
            from = end;
        }
    }
    out.sort_unstable();
    out
}

/// Replaces the ranges (sorted, non-overlapping) with `f(range)`.
fn splice(
    hay: &str,
    ranges: &[(usize, usize, bool)],
    mut f: impl FnMut(&str, bool) -> String,
) -> String {
    let mut out = String::with_capacity(hay.len() + 16);
    let mut at = 0;
    for &(s, e, cap) in ranges {
        if s < at {
            continue;
        }
        out.push_str(&hay[at..s]);
        out.push_str(&f(&hay[s..e], cap));
        at = e;
    }
    out.push_str(&hay[at..]);
    out
}

/// The text with phrases of the paraphrase groups replaced, each occurrence with chance
/// `rate`, by another phrase of its group.
pub(super) fn paraphrase(text: &str, lang: Lang, rate: f64, rng: &mut StdRng) -> String {
    let mut t = text.to_string();
    for group in &variety(lang).synonyms {
        for (mi, m) in group.iter().enumerate() {
            let occ = occurrences(&t, m, lang);
            if occ.is_empty() {
                continue;
            }
            t = splice(&t, &occ, |orig, cap| {
                if !chance(rng, rate) {
                    return orig.to_string();
                }
                let others: Vec<&String> = group
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != mi)
                    .map(|(_, o)| o)
                    .collect();
                let rep = others
                    .choose(rng)
                    .map_or(orig.to_string(), |o| o.to_string());
                capitalize_if(rep, cap)
            });
        }
    }
    t
}

/// Code-switching: one glossary term found in the text is glossed in the other language in
/// brackets, or replaced by it, at every occurrence. Text without a glossary term is unchanged.
pub(super) fn code_switch(text: &str, lang: Lang, rng: &mut StdRng) -> String {
    let (from, to) = match lang {
        Lang::En => (0, 1),
        Lang::Zh => (1, 0),
    };
    let found: Vec<&[String; 2]> = tables()
        .glossary
        .iter()
        .filter(|t| !occurrences(text, &t[from], lang).is_empty())
        .collect();
    let Some(term) = found.choose(rng) else {
        return text.to_string();
    };
    let gloss = chance(rng, 0.5);
    let occ = occurrences(text, &term[from], lang);
    splice(text, &occ, |orig, _| match (gloss, lang) {
        (true, Lang::En) => format!("{orig} ({})", term[to]),
        (true, Lang::Zh) => format!("{orig}（{}）", term[to]),
        (false, _) => term[to].clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn wrappers_keep_the_sentence_and_fill_their_slots() {
        let mut rng = StdRng::seed_from_u64(3);
        for lang in [Lang::En, Lang::Zh] {
            let slots = &tables().lang(lang).domains[2].slots;
            let (s, core) = match lang {
                Lang::En => (
                    "Police arrested two men near the station.",
                    "arrested two men near the station",
                ),
                Lang::Zh => ("警方在车站附近逮捕了两名男子。", "在车站附近逮捕了两名男子"),
            };
            for _ in 0..50 {
                let mut f = Filler::new(lang, slots);
                let w = wrap(s, lang, &mut f, &mut rng);
                assert!(w.contains(core), "{w}");
                assert!(!w.contains('{') && !w.contains('}'), "{w}");
                assert!(!w.contains("station..") && !w.contains("。。"), "{w}");
            }
        }
    }

    #[test]
    fn registers_frame_every_sentence() {
        let mut rng = StdRng::seed_from_u64(5);
        for lang in [Lang::En, Lang::Zh] {
            let slots = &tables().lang(lang).domains[4].slots;
            for reg in &variety(lang).registers {
                let mut f = Filler::new(lang, slots);
                let sents: Vec<String> = (0..5)
                    .map(|i| format!("Sentence number {i} here."))
                    .collect();
                let doc = apply_register(sents, reg, lang, &mut f, &mut rng);
                for i in 0..5 {
                    assert!(
                        doc.contains(&format!("number {i} here")),
                        "{}: {doc}",
                        reg.name
                    );
                }
                assert!(
                    !doc.contains("{content}") && !doc.contains('{'),
                    "{}: {doc}",
                    reg.name
                );
            }
        }
    }

    #[test]
    fn paraphrase_replaces_whole_words_only() {
        let mut rng = StdRng::seed_from_u64(1);
        let t = "Police said the attack was quick. The attacker said nothing.";
        let p = paraphrase(t, Lang::En, 1.0, &mut rng);
        assert!(!p.contains("Police said"), "{p}");
        assert!(
            p.contains("attacker"),
            "attacker is not the word attack: {p}"
        );
        assert!(p.starts_with(|c: char| c.is_uppercase()), "{p}");
        assert_eq!(paraphrase(t, Lang::En, 0.0, &mut rng), t);
    }

    #[test]
    fn code_switching_uses_the_glossary() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut seen_gloss = false;
        let mut seen_swap = false;
        for _ in 0..40 {
            let en = code_switch("The election was held on Sunday.", Lang::En, &mut rng);
            seen_gloss |= en.contains("election (选举)");
            seen_swap |= en.contains("The 选举 was");
            let zh = code_switch("这次选举在周日举行。", Lang::Zh, &mut rng);
            assert!(zh.contains("election"), "{zh}");
        }
        assert!(seen_gloss && seen_swap);
        assert_eq!(
            code_switch("Nothing to see.", Lang::En, &mut rng),
            "Nothing to see."
        );
    }

    #[test]
    fn the_held_out_register_is_never_chosen_for_training() {
        let mut rng = StdRng::seed_from_u64(9);
        for lang in [Lang::En, Lang::Zh] {
            let mut plain = 0;
            for _ in 0..2000 {
                match choose_register(lang, false, &mut rng) {
                    Some(r) => assert!(!r.held_out),
                    None => plain += 1,
                }
            }
            assert!(plain > 600, "plain style is the largest share: {plain}");
            assert!(choose_register(lang, true, &mut rng).unwrap().held_out);
        }
    }
}
