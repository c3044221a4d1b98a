//! Documents → token ids → contexts of at most `context` tokens: the one splitter used by
//! `collect`, `evaluate`, `train-sae` and the benchmarks.
//!
//! The commands differ in three choices, which each states explicitly through
//! [`ContextSplitter`]'s fields rather than in its own copy of the loop: what happens to chat
//! documents ([`MessagePolicy`]), whether plain text is wrapped as a user turn of the chat
//! template, and whether blank documents are dropped. The token budget ([`Budget`]) says where a
//! run stops.

use super::read::{CorpusSpec, DocBody};
use crate::model::tokenizer::{ChatMessage, Tok};
use anyhow::Result;

/// The one rule of which tokens enter per-latent statistics (a feature store's counts and
/// quantiles in `collect`, the calibration pass of `evaluate`): special tokens (chat-template
/// markers, BOS/EOS) only when `include_special` is asked for, as Safe-SAIL leaves them out.
pub fn counts_in_statistics(tok: &Tok, id: u32, include_special: bool) -> bool {
    include_special || !tok.is_special(id)
}

/// What the splitter does with a chat document (`messages`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagePolicy {
    /// Rendered through the model's chat template and tokenized without extra special tokens.
    Render,
    /// Left out (the document gives no context).
    Skip,
}

/// Where reading the corpus into contexts stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Read everything.
    All,
    /// Stop before the first context that would start at or after `n` tokens, so the total may
    /// exceed `n` by less than one context.
    BeforeContext(u64),
    /// Stop before the first document that would start at or after `n` tokens: a document is
    /// taken whole once started.
    BeforeDoc(u64),
}

/// How documents become contexts (see the module doc).
#[derive(Clone, Copy)]
pub struct ContextSplitter<'a> {
    pub tok: &'a Tok,
    /// Tokens per context (the last context of a document may be shorter).
    pub context: usize,
    pub messages: MessagePolicy,
    /// Plain text is wrapped as one user turn of the chat template.
    pub text_as_chat: bool,
    /// Blank text gives no tokens (else it is tokenized like any text, which may give special
    /// tokens only).
    pub skip_blank: bool,
}

impl<'a> ContextSplitter<'a> {
    /// Plain text with the tokenizer's special tokens, chat documents rendered, nothing skipped.
    pub fn new(tok: &'a Tok, context: usize) -> Self {
        Self {
            tok,
            context,
            messages: MessagePolicy::Render,
            text_as_chat: false,
            skip_blank: false,
        }
    }

    /// The token ids of one document (empty when the policy leaves it out).
    pub fn doc_tokens(&self, body: DocBody) -> Result<Vec<u32>> {
        match body {
            DocBody::Text(t) if self.skip_blank && t.trim().is_empty() => Ok(Vec::new()),
            DocBody::Text(t) if self.text_as_chat => {
                let r = self
                    .tok
                    .apply_chat_template(&[ChatMessage::new("user", &t)], false)?;
                self.tok.encode_ids(&r, false)
            }
            DocBody::Text(t) => self.tok.encode_ids(&t, true),
            DocBody::Messages(_) if self.messages == MessagePolicy::Skip => Ok(Vec::new()),
            DocBody::Messages(m) => {
                let r = self.tok.apply_chat_template(&m, false)?;
                self.tok.encode_ids(&r, false)
            }
        }
    }

    /// A document's contexts: consecutive slices of `context` tokens (the last may be shorter).
    pub fn split<'b>(&self, ids: &'b [u32]) -> std::slice::Chunks<'b, u32> {
        ids.chunks(self.context.max(1))
    }

    /// Every context of a corpus, in order, until the budget is spent; returns them with the
    /// number of tokens they hold.
    pub fn contexts(&self, corpus: &CorpusSpec, budget: Budget) -> Result<(Vec<Vec<u32>>, u64)> {
        let mut contexts: Vec<Vec<u32>> = vec![];
        let mut total = 0u64;
        corpus.for_each(|d| {
            if let Budget::BeforeContext(n) | Budget::BeforeDoc(n) = budget {
                if total >= n {
                    return Ok(());
                }
            }
            let ids = self.doc_tokens(d.body)?;
            for c in self.split(&ids) {
                if matches!(budget, Budget::BeforeContext(n) if total >= n) {
                    break;
                }
                total += c.len() as u64;
                contexts.push(c.to_vec());
            }
            Ok(())
        })?;
        Ok((contexts, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tokenizer::ChatMessage;

    fn tok() -> Tok {
        Tok::from_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer"),
        )
        .unwrap()
    }

    fn corpus(dir: &std::path::Path, lines: &[&str]) -> CorpusSpec {
        let f = dir.join("c.jsonl");
        std::fs::write(&f, lines.join("\n")).unwrap();
        CorpusSpec {
            files: vec![f],
            text_field: "text".into(),
            messages_field: None,
        }
    }

    #[test]
    fn policies_decide_chat_blank_and_wrapping() {
        let tok = tok();
        let plain = ContextSplitter::new(&tok, 4);
        let msgs = DocBody::Messages(vec![ChatMessage::new("user", "hello there")]);
        let rendered = plain.doc_tokens(msgs.clone()).unwrap();
        assert!(
            !rendered.is_empty(),
            "chat documents are rendered by default"
        );
        let skip = ContextSplitter {
            messages: MessagePolicy::Skip,
            ..plain
        };
        assert!(skip.doc_tokens(msgs).unwrap().is_empty());
        let blank = ContextSplitter {
            skip_blank: true,
            ..plain
        };
        assert!(blank
            .doc_tokens(DocBody::Text("  \n".into()))
            .unwrap()
            .is_empty());
        let text = plain
            .doc_tokens(DocBody::Text("hello there".into()))
            .unwrap();
        let wrapped = ContextSplitter {
            text_as_chat: true,
            ..plain
        }
        .doc_tokens(DocBody::Text("hello there".into()))
        .unwrap();
        assert!(
            wrapped.len() > text.len(),
            "the chat template adds its tokens"
        );
        assert_eq!(
            wrapped,
            plain
                .doc_tokens(DocBody::Messages(vec![ChatMessage::new(
                    "user",
                    "hello there"
                )]))
                .unwrap()
        );
        let chunks: Vec<&[u32]> = plain.split(&wrapped).collect();
        assert!(chunks.iter().all(|c| c.len() <= 4));
        assert_eq!(chunks.concat(), wrapped);
    }

    #[test]
    fn budgets_stop_before_a_context_or_before_a_document() {
        let tmp = tempfile::tempdir().unwrap();
        let tok = tok();
        let line = r#"{"text": "The quick brown fox jumps over the lazy dog again and again."}"#;
        let spec = corpus(tmp.path(), &[line, line, line]);
        let s = ContextSplitter::new(&tok, 4);
        let (all, total) = s.contexts(&spec, Budget::All).unwrap();
        let per_doc: u64 = s
            .doc_tokens(DocBody::Text(
                "The quick brown fox jumps over the lazy dog again and again.".into(),
            ))
            .unwrap()
            .len() as u64;
        assert!(per_doc > 8, "a document spans several contexts");
        assert_eq!(total, 3 * per_doc);
        assert_eq!(all.iter().map(|c| c.len() as u64).sum::<u64>(), total);
        // Before a context: stops inside the first document once 5 tokens are reached.
        let (c, n) = s.contexts(&spec, Budget::BeforeContext(5)).unwrap();
        assert_eq!((c.len(), n), (2, 8));
        // Before a document: the first document is taken whole.
        let (c, n) = s.contexts(&spec, Budget::BeforeDoc(5)).unwrap();
        assert_eq!(n, per_doc);
        assert_eq!(c.len() as u64, per_doc.div_ceil(4));
    }
}
