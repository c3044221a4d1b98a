//! Real text for the sample corpus: English and Chinese text from Debian packages whose
//! licences allow redistribution (the list, with packages and licences, is
//! `assets/corpus/real_sources.toml`). Each source is read, cleaned into documents and sampled
//! deterministically, so the same files always give the same documents.

use super::Lang;
use crate::fsutil::FileRecord;
use anyhow::{bail, Context, Result};
use rand::{rngs::StdRng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::Path;

const SOURCES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/corpus/real_sources.toml"
));

/// How a source's files are cut into documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Format {
    /// fortune(6) files: entries separated by lines holding only `%`.
    Fortune,
    /// DocBook HTML: the text of its `<p>` paragraphs, 1–4 consecutive ones per document.
    Html,
    /// WordNet `data.*` files: "word: gloss" lines, 3–6 per document.
    Wordnet,
}

/// One entry of `real_sources.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Source {
    pub name: String,
    pub package: String,
    pub license: String,
    pub lang: String,
    pub format: Format,
    pub held_out: bool,
    pub max_docs: usize,
    pub files: Vec<String>,
}

/// The sources of `assets/corpus/real_sources.toml`.
pub(super) fn sources() -> Vec<Source> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        sources: Vec<Source>,
    }
    let f: File = toml::from_str(SOURCES)
        .unwrap_or_else(|e| panic!("embedded assets/corpus/real_sources.toml: {e}"));
    f.sources
}

/// One document of real text.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RealDoc {
    pub source: String,
    pub lang: Lang,
    pub held_out: bool,
    pub text: String,
}

/// What one source contributed.
#[derive(Debug, Clone, Serialize)]
pub struct SourceRecord {
    pub name: String,
    pub package: String,
    pub license: String,
    pub lang: String,
    pub held_out: bool,
    pub files: Vec<FileRecord>,
    /// Documents found after cleaning.
    pub candidates: usize,
    /// Documents taken (at most the source's `max_docs`).
    pub docs: usize,
    pub chars: usize,
}

/// Reads every source under `root` ("/" for the installed packages). A missing file is an
/// error that names the Debian package to install.
pub(super) fn read_all(root: &Path, seed: u64) -> Result<(Vec<RealDoc>, Vec<SourceRecord>)> {
    let mut docs = Vec::new();
    let mut records = Vec::new();
    for (i, src) in sources().into_iter().enumerate() {
        let lang = match src.lang.as_str() {
            "en" => Lang::En,
            "zh" => Lang::Zh,
            other => bail!(
                "real_sources.toml: source {}: unknown lang {other}",
                src.name
            ),
        };
        let mut files = Vec::new();
        let mut candidates: Vec<String> = Vec::new();
        for rel in &src.files {
            let path = root.join(rel);
            let bytes = std::fs::read(&path).with_context(|| {
                format!(
                    "cannot read {} (source {}: install the Debian package with `apt-get install {}`)",
                    path.display(),
                    src.name,
                    src.package
                )
            })?;
            files.push(FileRecord::of(rel.clone(), &bytes));
            let text = String::from_utf8_lossy(&bytes);
            candidates.extend(match src.format {
                Format::Fortune => fortune_docs(&text, lang),
                Format::Html => html_docs(&text, seed ^ i as u64),
                Format::Wordnet => wordnet_docs(&text, seed ^ i as u64),
            });
        }
        let found = candidates.len();
        let taken = sample_in_order(candidates, src.max_docs, seed ^ (0x5EED + i as u64));
        let chars = taken.iter().map(|t| t.chars().count()).sum();
        records.push(SourceRecord {
            name: src.name.clone(),
            package: src.package.clone(),
            license: src.license.clone(),
            lang: src.lang.clone(),
            held_out: src.held_out,
            files,
            candidates: found,
            docs: taken.len(),
            chars,
        });
        docs.extend(taken.into_iter().map(|text| RealDoc {
            source: src.name.clone(),
            lang,
            held_out: src.held_out,
            text,
        }));
    }
    Ok((docs, records))
}

/// At most `max` items, chosen at random but kept in their original order.
fn sample_in_order(items: Vec<String>, max: usize, seed: u64) -> Vec<String> {
    if items.len() <= max {
        return items;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut idx: Vec<usize> = (0..items.len()).collect();
    super::shuffle(&mut idx, &mut rng);
    idx.truncate(max);
    idx.sort_unstable();
    let mut keep = vec![false; items.len()];
    for i in idx {
        keep[i] = true;
    }
    items
        .into_iter()
        .zip(keep)
        .filter_map(|(t, k)| k.then_some(t))
        .collect()
}

/// Removes terminal escape sequences (`ESC [ … letter`), which some fortune files use for
/// colour.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// True for text that is a table, a code listing or a section of a manual rather than prose.
fn looks_like_code_or_table(text: &str) -> bool {
    if text
        .chars()
        .any(|c| ('\u{2500}'..='\u{257f}').contains(&c) || c == '\u{fffd}')
    {
        return true;
    }
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let first = first.trim();
    // "1.5.7. 命令的返回值": a numbered section of a manual (fortunes-zh carries the Debian
    // Reference, which the html source reads properly).
    let numbered = first
        .split_once(". ")
        .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == '.'));
    if numbered {
        return true;
    }
    let total = text.chars().filter(|c| !c.is_whitespace()).count().max(1);
    let symbols = text
        .chars()
        .filter(|c| "{}[]<>|\\/$=_#;~^@*+`".contains(*c))
        .count();
    symbols * 8 > total
        || text
            .lines()
            .any(|l| l.trim_start().starts_with("$ ") || l.trim_start().starts_with("# "))
}

/// The entries of a fortune file, whitespace tidied (lines trimmed, blank runs collapsed),
/// without tables, code and numbered manual sections, 16–1,200 characters each.
fn fortune_docs(text: &str, lang: Lang) -> Vec<String> {
    let text = strip_ansi(&text.replace("\r\n", "\n"));
    let mut out = Vec::new();
    let mut entry: Vec<&str> = Vec::new();
    let mut flush = |entry: &mut Vec<&str>| {
        let lines: Vec<&str> = entry.iter().map(|l| l.trim()).collect();
        let mut joined = String::new();
        let mut blank = false;
        for l in lines {
            if l.is_empty() {
                blank = !joined.is_empty();
                continue;
            }
            if !joined.is_empty() {
                joined.push_str(if blank { "\n\n" } else { "\n" });
            }
            blank = false;
            joined.push_str(l);
        }
        entry.clear();
        let n = joined.chars().count();
        if (16..=1200).contains(&n) && !looks_like_code_or_table(&joined) {
            let cjk = joined
                .chars()
                .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
                .count();
            // The Chinese files hold some English and the English ones no Chinese: keep each
            // source in its own language.
            let is_zh = cjk * 4 >= n;
            if is_zh == (lang == Lang::Zh) {
                out.push(joined);
            }
        }
    };
    for line in text.lines() {
        if line.trim() == "%" {
            flush(&mut entry);
        } else {
            entry.push(line);
        }
    }
    flush(&mut entry);
    out
}

/// Decodes the HTML entities DocBook writes (named ones for markup characters and spaces,
/// numeric ones for the rest).
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find(';').filter(|&e| e <= 10);
        let Some(end) = end else {
            out.push('&');
            rest = &after[1..];
            continue;
        };
        let name = &after[1..end];
        let ch = match name {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ if name.starts_with("#x") => u32::from_str_radix(&name[2..], 16)
                .ok()
                .and_then(char::from_u32),
            _ if name.starts_with('#') => name[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of the `<p>…</p>` paragraphs of an HTML page: tags removed, entities decoded,
/// whitespace collapsed; 24–1,500 characters, no code or tables. The next paragraph is the next
/// plain `<p>`, so DocBook's `<p class="title">` captions of tables and figures are skipped,
/// except those after a page's last plain `<p>` (the committed sample's corpus was cut this
/// way; changing it changes the corpus).
fn html_paragraphs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<p>").or_else(|| rest.find("<p ")) {
        let body = &rest[start..];
        let Some(open_end) = body.find('>') else {
            break;
        };
        let Some(close) = body.find("</p>") else {
            break;
        };
        if close < open_end {
            rest = &body[close + 4..];
            continue;
        }
        let inner = &body[open_end + 1..close];
        let mut text = String::with_capacity(inner.len());
        let mut in_tag = false;
        for c in inner.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                _ if !in_tag => text.push(c),
                _ => {}
            }
        }
        let text = decode_entities(&text);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let n = text.chars().count();
        if (24..=1500).contains(&n) && !looks_like_code_or_table(&text) {
            out.push(text);
        }
        rest = &body[close + 4..];
    }
    out
}

/// Runs of 1–4 consecutive paragraphs of one page, one document each.
fn html_docs(html: &str, seed: u64) -> Vec<String> {
    group(html_paragraphs(html), 1, 4, "\n\n", seed)
}

/// Consecutive items joined in groups of `min..=max` (the last group may be shorter).
fn group(items: Vec<String>, min: usize, max: usize, sep: &str, seed: u64) -> Vec<String> {
    use rand::Rng;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut it = items.into_iter().peekable();
    while it.peek().is_some() {
        let n = rng.random_range(min..=max);
        let part: Vec<String> = it.by_ref().take(n).collect();
        out.push(part.join(sep));
    }
    out
}

/// "word: gloss" for every synset of a WordNet data file (the first word of the synset,
/// underscores as spaces), grouped 3–6 to a document.
fn wordnet_docs(text: &str, seed: u64) -> Vec<String> {
    let mut lines = Vec::new();
    for line in text.lines() {
        // The licence header lines start with spaces.
        if line.starts_with(' ') {
            continue;
        }
        let Some((head, gloss)) = line.split_once(" | ") else {
            continue;
        };
        let Some(word) = head.split(' ').nth(4) else {
            continue;
        };
        let word = word.replace('_', " ");
        // Adjective markers such as "(a)" and "(p)".
        let word = word.split('(').next().unwrap_or(&word).trim().to_string();
        let gloss = gloss.trim();
        if word.is_empty() || gloss.is_empty() {
            continue;
        }
        lines.push(format!("{word}: {gloss}"));
    }
    group(lines, 3, 6, "\n", seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_is_well_formed() {
        let s = sources();
        assert!(s.len() >= 4);
        for src in &s {
            assert!(!src.files.is_empty() && src.max_docs > 0, "{}", src.name);
            assert!(["en", "zh"].contains(&src.lang.as_str()), "{}", src.name);
            assert!(!src.license.is_empty() && !src.package.is_empty());
        }
        for lang in ["en", "zh"] {
            assert!(s.iter().any(|x| x.lang == lang && x.held_out));
            assert!(s.iter().any(|x| x.lang == lang && !x.held_out));
        }
    }

    #[test]
    fn fortune_entries_are_cleaned_and_filtered() {
        let text = "A penny saved is a penny earned.\n\t\t-- Benjamin Franklin\n%\n\
                    short\n%\n$ ls -l /tmp\n$ rm -rf x\n%\n\u{1b}[1m知足者常乐，能忍者自安。\u{1b}[0m\n    --《谚语》\n%\n\
                    1.5.7. 命令的返回值\n\n每个命令都会返回它的退出状态\n%\n";
        let en = fortune_docs(text, Lang::En);
        assert_eq!(
            en,
            vec!["A penny saved is a penny earned.\n-- Benjamin Franklin".to_string()]
        );
        let zh = fortune_docs(text, Lang::Zh);
        assert_eq!(zh, vec!["知足者常乐，能忍者自安。\n--《谚语》".to_string()]);
    }

    #[test]
    fn html_paragraphs_lose_tags_and_keep_text() {
        let html = "<html><p>Use <code class=\"literal\">apt</code> to install &lt;packages&gt; &amp; more, it is easy.</p>\
                    <div><p class=\"title\">Table 1.1. A caption that is long enough to be kept</p>\
                    <p>我认为学习一个计算机系统，就像学习一门新的外语。虽然教程有帮助。</p></div><p>tiny</p>\
                    <p class=\"title\">Table 1.2. A caption after the last plain paragraph</p>";
        let p = html_paragraphs(html);
        assert_eq!(
            p,
            vec![
                "Use apt to install <packages> & more, it is easy.".to_string(),
                "我认为学习一个计算机系统，就像学习一门新的外语。虽然教程有帮助。".to_string(),
                "Table 1.2. A caption after the last plain paragraph".to_string()
            ]
        );
        assert_eq!(
            decode_entities("a&#x4e2d;&#25991;&bogus b"),
            "a中文&bogus b"
        );
    }

    #[test]
    fn wordnet_lines_become_glosses() {
        let text = "  1 This software and database is being provided\n\
                    00592652 04 n 02 generalship 0 generalcy 0 003 @ 00586262 n 0000 | the office and authority of a general  \n\
                    00001740 00 a 01 able(a) 0 005 | (usually followed by `to') having the necessary means; \"able to swim\"\n\
                    00001741 00 n 01 ice_cream 0 000 | a frozen dessert\n";
        let docs = wordnet_docs(text, 1);
        let all = docs.join("\n");
        assert!(all.contains("generalship: the office and authority of a general"));
        assert!(all.contains("able: (usually followed by"));
        assert!(all.contains("ice cream: a frozen dessert"));
        assert!(!all.contains("software"));
    }

    #[test]
    fn sampling_keeps_order_and_is_deterministic() {
        let items: Vec<String> = (0..100).map(|i| format!("{i:03}")).collect();
        let a = sample_in_order(items.clone(), 10, 7);
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(a, sample_in_order(items.clone(), 10, 7));
        assert_ne!(a, sample_in_order(items.clone(), 10, 8));
        assert_eq!(sample_in_order(items.clone(), 200, 7), items);
    }

    #[test]
    fn a_missing_source_file_names_its_package() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_all(dir.path(), 1).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("apt-get install"), "{msg}");
    }
}
