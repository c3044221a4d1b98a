//! Tokenization for display and analysis: ids, character offsets, a readable string per
//! token (byte-level pieces decoded, split UTF-8 characters handled), special-token flags,
//! and chat templates rendered with minijinja as transformers renders them with Jinja.

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use tokenizers::Tokenizer;

/// One token of an encoded text.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenInfo {
    pub id: u32,
    /// Readable text of the token. Characters are shown on the token where their last
    /// byte falls, so the display strings of a sequence concatenate to the decoded text;
    /// a token holding only the first bytes of a character shows "".
    pub text: String,
    /// Character offsets `[start, end)` into the encoded text (0, 0 for tokens the
    /// tokenizer added itself).
    pub start: usize,
    pub end: usize,
    /// A special token (chat-template markers, BOS/EOS, ...).
    pub special: bool,
}

/// One chat message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: &str) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Variables a chat template may read besides the messages, passed as transformers passes
/// the keyword arguments of `apply_chat_template`: a variable left `None` is undefined in the
/// template (which tests it with `is defined`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TemplateVars {
    /// `enable_thinking`, Qwen3's thinking switch: `false` makes its template close an empty
    /// `<think>` block after the generation prompt, so the model answers directly.
    pub enable_thinking: Option<bool>,
}

/// A model's tokenizer plus what `tokenizer_config.json` says about it.
pub struct Tok {
    inner: Tokenizer,
    special_ids: HashSet<u32>,
    byte_decoder: Option<HashMap<char, u8>>,
    chat_template: Option<String>,
    bos_token: Option<String>,
    eos_token: Option<String>,
}

/// GPT-2's reversible byte ↔ printable-character table used by byte-level BPE.
fn bytes_to_unicode() -> Vec<(u8, char)> {
    let printable =
        |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let mut n = 0u32;
    (0u32..256)
        .map(|b| {
            if printable(b) {
                (b as u8, char::from_u32(b).unwrap())
            } else {
                n += 1;
                (b as u8, char::from_u32(255 + n).unwrap())
            }
        })
        .collect()
}

fn token_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

impl Tok {
    /// Loads `tokenizer.json` and, when present, `tokenizer_config.json` (and
    /// `chat_template.jinja`) from a model folder.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let file = dir.join("tokenizer.json");
        if !file.exists() {
            bail!(
                "{} is missing (only tokenizer.json tokenizers are supported)",
                file.display()
            );
        }
        let mut inner = Tokenizer::from_file(&file)
            .map_err(|e| anyhow!("cannot load tokenizer {}: {e}", file.display()))?;
        // Some files carry a saved truncation/padding setting that would silently cut prompts.
        inner
            .with_truncation(None)
            .map_err(|e| anyhow!("cannot disable truncation: {e}"))?;
        inner.with_padding(None);
        let special_ids = inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| id)
            .collect();
        let decoder_json = serde_json::to_string(&inner.get_decoder()).unwrap_or_default();
        let byte_decoder = decoder_json.contains("ByteLevel").then(|| {
            bytes_to_unicode()
                .into_iter()
                .map(|(b, c)| (c, b))
                .collect()
        });
        let mut tok = Self {
            inner,
            special_ids,
            byte_decoder,
            chat_template: None,
            bos_token: None,
            eos_token: None,
        };
        let cfg_path = dir.join("tokenizer_config.json");
        if cfg_path.exists() {
            let text = std::fs::read_to_string(&cfg_path)
                .with_context(|| format!("cannot read {}", cfg_path.display()))?;
            let cfg: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", cfg_path.display()))?;
            tok.bos_token = token_string(cfg.get("bos_token"));
            tok.eos_token = token_string(cfg.get("eos_token"));
            tok.chat_template = match cfg.get("chat_template") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Array(list)) => list
                    .iter()
                    .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                    .or(list.first())
                    .and_then(|t| t.get("template"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                _ => None,
            };
        }
        let jinja = dir.join("chat_template.jinja");
        if tok.chat_template.is_none() && jinja.exists() {
            tok.chat_template = Some(
                std::fs::read_to_string(&jinja)
                    .with_context(|| format!("cannot read {}", jinja.display()))?,
            );
        }
        Ok(tok)
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Whether `id` is a special token.
    pub fn is_special(&self, id: u32) -> bool {
        self.special_ids.contains(&id)
    }

    /// The id of a token string, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The EOS token named by `tokenizer_config.json`.
    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    /// Whether a chat template is available.
    pub fn has_chat_template(&self) -> bool {
        self.chat_template.is_some()
    }

    /// Whether the chat template reads `enable_thinking` (Qwen3's thinking switch).
    pub fn has_thinking_switch(&self) -> bool {
        self.chat_template
            .as_deref()
            .is_some_and(|t| t.contains("enable_thinking"))
    }

    /// Whether encoding plain text with the tokenizer's special tokens puts a BOS token first
    /// (its post-processor adds one, as Llama's does and Qwen's does not).
    pub fn prepends_bos(&self) -> Result<bool> {
        let with = self.encode_ids("a", true)?;
        let without = self.encode_ids("a", false)?;
        Ok(with.len() > without.len()
            && with.first().is_some_and(|&id| self.is_special(id))
            && with[1..].starts_with(&without))
    }

    /// Encodes text. `add_special_tokens` lets the tokenizer's post-processor add its own
    /// tokens (e.g. a BOS), as transformers does for plain prompts.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<TokenInfo>> {
        let enc = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| anyhow!("tokenization failed: {e}"))?;
        // Byte offsets → character offsets: a start inside a character maps to that
        // character, an end inside one to just past it (as Python's tokenizers reports).
        let mut start_char = vec![0usize; text.len() + 1];
        let mut end_char = vec![0usize; text.len() + 1];
        let mut n = 0;
        for (i, (b, c)) in text.char_indices().enumerate() {
            for k in 0..c.len_utf8() {
                start_char[b + k] = i;
                end_char[b + k] = if k == 0 { i } else { i + 1 };
            }
            n = i + 1;
        }
        start_char[text.len()] = n;
        end_char[text.len()] = n;
        let ids = enc.get_ids();
        let texts = self.display_strings(ids);
        Ok(ids
            .iter()
            .zip(enc.get_offsets())
            .zip(texts)
            .map(|((&id, &(s, e)), shown)| TokenInfo {
                id,
                text: shown,
                start: start_char[s.min(text.len())],
                end: end_char[e.min(text.len())],
                special: self.is_special(id),
            })
            .collect())
    }

    /// Token ids of `text`.
    pub fn encode_ids(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| anyhow!("tokenization failed: {e}"))?
            .get_ids()
            .to_vec())
    }

    /// Decodes ids to text.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| anyhow!("decoding failed: {e}"))
    }

    /// The raw bytes a token stands for (its text for special tokens).
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let Some(piece) = self.inner.id_to_token(id) else {
            return vec![];
        };
        if self.is_special(id) {
            return piece.into_bytes();
        }
        if let Some(table) = &self.byte_decoder {
            if let Some(bytes) = piece
                .chars()
                .map(|c| table.get(&c).copied())
                .collect::<Option<Vec<u8>>>()
            {
                return bytes;
            }
            return piece.into_bytes();
        }
        // SentencePiece-style byte fallback pieces and word-boundary markers.
        if piece.len() == 6 && piece.starts_with("<0x") && piece.ends_with('>') {
            if let Ok(b) = u8::from_str_radix(&piece[3..5], 16) {
                return vec![b];
            }
        }
        piece.replace('\u{2581}', " ").into_bytes()
    }

    /// A readable string for one token on its own: its text, or its bytes as `\xE4\xB8` when
    /// it holds only part of a character.
    pub fn token_display(&self, id: u32) -> String {
        let bytes = self.token_bytes(id);
        match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => e.as_bytes().iter().map(|b| format!("\\x{b:02X}")).collect(),
        }
    }

    /// A readable string per token of a sequence (see [`TokenInfo::text`]). A character is
    /// shown on the token where its last byte falls; tokens holding only its first bytes show
    /// "" (see [`partial_character`]). Bytes that never make a character here (the tail of a
    /// character cut off by the sequence's start, or its head cut off by the end or by a special
    /// token) are left out: no string ever holds raw bytes.
    pub fn display_strings(&self, ids: &[u32]) -> Vec<String> {
        let mut out = Vec::with_capacity(ids.len());
        let mut pending: Vec<u8> = vec![];
        for &id in ids {
            if self.is_special(id) {
                pending.clear();
                out.push(self.inner.id_to_token(id).unwrap_or_default());
                continue;
            }
            pending.extend(self.token_bytes(id));
            // Emit the longest valid UTF-8 prefix; keep an incomplete tail for the next token.
            let (text, rest) = split_utf8_dropping_invalid(&pending);
            out.push(text);
            pending = rest;
        }
        out
    }

    /// Renders the chat template for `messages`.
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String> {
        self.apply_chat_template_with(messages, add_generation_prompt, TemplateVars::default())
    }

    /// Renders the chat template for `messages` with extra template variables.
    pub fn apply_chat_template_with(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        vars: TemplateVars,
    ) -> Result<String> {
        let template = self.chat_template.as_deref().context(
            "the tokenizer has no chat_template (tokenizer_config.json or chat_template.jinja)",
        )?;
        render_chat_template_with(
            template,
            messages,
            add_generation_prompt,
            self.bos_token.as_deref().unwrap_or(""),
            self.eos_token.as_deref().unwrap_or(""),
            vars,
        )
    }
}

/// Like [`split_utf8`], but bytes that can never start a character (an orphan continuation
/// byte, an invalid sequence) are dropped instead of shown as `\xE4`.
fn split_utf8_dropping_invalid(bytes: &[u8]) -> (String, Vec<u8>) {
    split_utf8_with(bytes, false)
}

/// For each token of a sequence shown with [`Tok::display_strings`]: when it holds only the
/// first bytes of a character (a non-special token shown as ""), the index of the token that
/// completes the character and the character itself; `None` for other tokens, and for a
/// partial token whose character is never completed in the sequence.
pub fn partial_character(texts: &[&str], special: &[bool]) -> Vec<Option<(usize, char)>> {
    let mut out = vec![None; texts.len()];
    let mut next: Option<(usize, char)> = None;
    for i in (0..texts.len()).rev() {
        let is_special = special.get(i).copied().unwrap_or(false);
        if is_special {
            next = None;
        } else if texts[i].is_empty() {
            out[i] = next;
        } else {
            next = texts[i].chars().next().map(|c| (i, c));
        }
    }
    out
}

/// Bytes that are not (or not yet) a character, shown as `\xE4\xB8`.
pub fn hex_bytes(b: &[u8]) -> String {
    b.iter().map(|b| format!("\\x{b:02X}")).collect()
}

/// Splits bytes into (valid UTF-8 text, incomplete trailing bytes). Invalid bytes in the
/// middle are shown as `\xE4`.
pub fn split_utf8(bytes: &[u8]) -> (String, Vec<u8>) {
    split_utf8_with(bytes, true)
}

/// [`split_utf8`] (`show_invalid`: invalid bytes as `\xE4`) or
/// [`split_utf8_dropping_invalid`].
fn split_utf8_with(mut bytes: &[u8], show_invalid: bool) -> (String, Vec<u8>) {
    let mut out = String::new();
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return (out, vec![]);
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).expect("checked valid"));
                match e.error_len() {
                    None => return (out, rest.to_vec()),
                    Some(n) => {
                        if show_invalid {
                            out.push_str(&hex_bytes(&rest[..n]));
                        }
                        bytes = &rest[n..];
                    }
                }
            }
        }
    }
}

/// Renders a Hugging Face chat template the way transformers does (Jinja with
/// `trim_blocks`, `lstrip_blocks`, loop controls, `raise_exception`, `strftime_now`,
/// Python string methods).
pub fn render_chat_template(
    template: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    bos_token: &str,
    eos_token: &str,
) -> Result<String> {
    render_chat_template_with(
        template,
        messages,
        add_generation_prompt,
        bos_token,
        eos_token,
        TemplateVars::default(),
    )
}

/// [`render_chat_template`] with extra template variables.
pub fn render_chat_template_with(
    template: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    bos_token: &str,
    eos_token: &str,
    vars: TemplateVars,
) -> Result<String> {
    let mut env = minijinja::Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function(
        "raise_exception",
        |msg: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                msg,
            ))
        },
    );
    env.add_function("strftime_now", |fmt: String| -> String {
        strftime_now(&fmt)
    });
    env.add_template("chat", template)
        .map_err(|e| anyhow!("the chat template does not parse: {e}"))?;
    let tmpl = env.get_template("chat").expect("just added");
    let mut ctx = minijinja::context! {
        messages => messages,
        add_generation_prompt => add_generation_prompt,
        bos_token => bos_token,
        eos_token => eos_token,
        tools => minijinja::Value::from(()),
    };
    if let Some(on) = vars.enable_thinking {
        ctx = minijinja::context! { enable_thinking => on, ..ctx };
    }
    tmpl.render(ctx)
        .map_err(|e| anyhow!("the chat template failed to render: {e:#}"))
}

/// Today's date (UTC) for templates that print it; supports %d %m %Y %y %b %B.
fn strftime_now(fmt: &str) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = (secs / 86400) as i64 + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let name = MONTHS[(m - 1) as usize];
    fmt.replace("%d", &format!("{d:02}"))
        .replace("%m", &format!("{m:02}"))
        .replace("%Y", &y.to_string())
        .replace("%y", &format!("{:02}", y % 100))
        .replace("%B", name)
        .replace("%b", &name[..3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepends_bos_follows_the_post_processor() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/qwen2");
        assert!(!Tok::from_dir(&src).unwrap().prepends_bos().unwrap());
        // The same tokenizer with a Llama-style post-processor that puts a token first.
        let dir = tempfile::tempdir().unwrap();
        let mut t: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(src.join("tokenizer.json")).unwrap())
                .unwrap();
        t["post_processor"] = serde_json::json!({
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [597], "tokens": ["<|endoftext|>"]}}
        });
        std::fs::write(dir.path().join("tokenizer.json"), t.to_string()).unwrap();
        assert!(Tok::from_dir(dir.path()).unwrap().prepends_bos().unwrap());
    }

    #[test]
    fn byte_table_is_a_bijection() {
        let t = bytes_to_unicode();
        let chars: HashSet<char> = t.iter().map(|(_, c)| *c).collect();
        assert_eq!(chars.len(), 256);
        assert_eq!(t[b' ' as usize].1, 'Ġ');
        assert_eq!(t[b'\n' as usize].1, 'Ċ');
    }

    #[test]
    fn partial_characters_point_at_their_completing_token() {
        let texts = ["a", "", "", "炸弹", "", "<|im_end|>", "", "b"];
        let special = [false, false, false, false, false, true, false, false];
        let p = partial_character(&texts, &special);
        assert_eq!(p[1], Some((3, '炸')));
        assert_eq!(p[2], Some((3, '炸')));
        assert_eq!(p[0], None);
        assert_eq!(p[3], None);
        // Cut off by a special token: never completed.
        assert_eq!(p[4], None);
        assert_eq!(p[6], Some((7, 'b')));
    }

    /// Windows cut anywhere in Chinese text (as a feature store's contexts are) show no raw
    /// bytes, and what they show is a piece of the text.
    #[test]
    fn cut_windows_show_no_raw_bytes() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/qwen2");
        let tok = Tok::from_dir(&dir).unwrap();
        let text = "恐怖分子炸毁了大桥。警方说：炸弹藏在车里";
        let ids = tok.encode_ids(text, false).unwrap();
        let split = ids
            .iter()
            .any(|&id| String::from_utf8(tok.token_bytes(id)).is_err());
        assert!(
            split,
            "the fixture tokenizer splits some character over byte tokens"
        );
        for a in 0..ids.len() {
            for b in a + 1..=ids.len() {
                let shown = tok.display_strings(&ids[a..b]);
                assert_eq!(shown.len(), b - a);
                let joined = shown.concat();
                assert!(!joined.contains("\\x"), "{a}..{b}: {joined:?}");
                assert!(text.contains(&joined), "{a}..{b}: {joined:?}");
            }
        }
    }

    #[test]
    fn split_utf8_dropping_invalid_never_shows_bytes() {
        let bomb = "炸".as_bytes();
        // An orphan continuation byte (a character cut off by the sequence's start) is left out.
        let (s, rest) = split_utf8_dropping_invalid(&[bomb[2], b'x']);
        assert_eq!((s.as_str(), rest.len()), ("x", 0));
        let (s, rest) = split_utf8_dropping_invalid(&bomb[..2]);
        assert_eq!((s.as_str(), rest.as_slice()), ("", &bomb[..2]));
    }

    #[test]
    fn split_utf8_keeps_incomplete_tail() {
        let bytes = "好".as_bytes();
        let (s, rest) = split_utf8(&bytes[..2]);
        assert_eq!(s, "");
        assert_eq!(rest, &bytes[..2]);
        let (s, rest) = split_utf8(bytes);
        assert_eq!(s, "好");
        assert!(rest.is_empty());
    }

    #[test]
    fn template_errors_are_reported() {
        let msgs = [ChatMessage::new("user", "hi")];
        let err = render_chat_template("{% if %}", &msgs, true, "", "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not parse"), "{err}");
        let err = render_chat_template(
            "{{ raise_exception('no system role') }}",
            &msgs,
            true,
            "",
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no system role"), "{err}");
    }

    #[test]
    fn python_string_methods_work_in_templates() {
        let msgs = [ChatMessage::new("user", "  hi  ")];
        let out = render_chat_template(
            "{% for m in messages %}{{ m.role.upper() }}:{{ m.content.strip() }}{% endfor %}",
            &msgs,
            false,
            "",
            "",
        )
        .unwrap();
        assert_eq!(out, "USER:hi");
    }

    #[test]
    fn strftime_has_a_year() {
        let s = strftime_now("%d %b %Y");
        assert_eq!(s.len(), 11, "{s}");
    }
}
