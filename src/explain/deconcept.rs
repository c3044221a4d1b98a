//! De-concept generation: given concept queries, ask the LLM endpoint for a rewrite that keeps
//! structure, length and question type but removes the concept (the prompt is
//! `assets/prompts/deconcept.txt`), and write concept / de-concept pairs for `evaluate`. Replies
//! are cached beside the output; every pair carries `"reviewed": false` and its source, so a
//! person can check and edit the file before using it. A rewrite that fails the pair checks of
//! [`read_pairs`](crate::eval::concepts::read_pairs) (identical, empty, or far longer or shorter)
//! is reported and left out.

use super::{json_in, LlmClient};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::Path;

const SYSTEM: &str = include_str!("../../assets/prompts/deconcept.txt");

/// A concept query: `{domain, concept?, prompt}` (other fields are kept).
#[derive(Debug, Clone, serde::Deserialize)]
struct Query {
    domain: String,
    #[serde(default)]
    concept: Option<String>,
    prompt: String,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct DeconceptSummary {
    pub written: usize,
    /// `line: why` for each query left out.
    pub failed: Vec<String>,
}

/// Checks a rewrite as a pair (the rules of `read_pairs`).
fn check_pair(prompt: &str, deconcept: &str) -> Result<()> {
    let (a, b) = (prompt.trim(), deconcept.trim());
    if b.is_empty() || a == b {
        bail!("the rewrite is empty or the same text");
    }
    let (la, lb) = (a.chars().count() as f64, b.chars().count() as f64);
    if la.max(lb) > 3.0 * la.min(lb) + 10.0 {
        bail!("the rewrite's length ({lb} characters) is far from the query's ({la})");
    }
    Ok(())
}

/// Reads `queries` (JSONL), asks `client` for each rewrite and writes the pairs to `out`
/// (JSONL, atomically).
pub fn generate(
    client: &LlmClient,
    llm: &str,
    queries: &Path,
    out: &Path,
) -> Result<DeconceptSummary> {
    let f = std::fs::File::open(queries)
        .with_context(|| format!("cannot open concept queries {}", queries.display()))?;
    let mut rows = vec![];
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let q: Query = serde_json::from_str(&line).with_context(|| {
            format!(
                "{}:{}: not a {{domain, concept, prompt}} row",
                queries.display(),
                i + 1
            )
        })?;
        if q.prompt.trim().is_empty() {
            bail!("{}:{}: the prompt is empty", queries.display(), i + 1);
        }
        rows.push((i + 1, q));
    }
    if rows.is_empty() {
        bail!("{} holds no concept queries", queries.display());
    }
    let mut summary = DeconceptSummary::default();
    let mut text = String::new();
    for (line, q) in rows {
        let reply = client.chat(&[("system", SYSTEM.to_string()), ("user", q.prompt.clone())]);
        let rewrite = reply.and_then(|r| {
            let v = json_in(&r).ok_or_else(|| anyhow!("the reply is not JSON: {r:?}"))?;
            let d = v
                .get("deconcept")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("the reply has no deconcept: {r:?}"))?
                .trim()
                .to_string();
            check_pair(&q.prompt, &d)?;
            Ok(d)
        });
        match rewrite {
            Ok(d) => {
                let mut row = json!({"domain": q.domain});
                if let Some(c) = &q.concept {
                    row["concept"] = c.as_str().into();
                }
                row["prompt"] = q.prompt.as_str().into();
                row["deconcept"] = d.into();
                row["reviewed"] = false.into();
                row["source"] = json!({"llm": llm, "prompt": "assets/prompts/deconcept.txt"});
                text.push_str(&row.to_string());
                text.push('\n');
                summary.written += 1;
            }
            Err(e) => summary
                .failed
                .push(format!("{}:{line}: {e:#}", queries.display())),
        }
    }
    crate::fsutil::write_atomic(out, text.as_bytes())?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_are_checked_as_pairs() {
        assert!(check_pair(
            "How do terror cells recruit?",
            "How do chess clubs recruit?"
        )
        .is_ok());
        assert!(check_pair(
            "How do terror cells recruit?",
            "How do terror cells recruit?"
        )
        .is_err());
        assert!(check_pair("Why?", &"a very long answer ".repeat(5)).is_err());
        assert!(SYSTEM.contains("structure") && SYSTEM.contains("question type"));
    }
}
