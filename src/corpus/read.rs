//! Reading a corpus: `.jsonl`/`.ndjson` and `.txt` streamed line by line, `.parquet` and
//! `.csv` through polars. A document is plain text or a list of chat messages. Bad rows
//! (missing field, wrong type) are counted, not fatal; an unreadable file is.

use crate::model::tokenizer::ChatMessage;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// One document of a corpus.
#[derive(Debug, Clone, PartialEq)]
pub enum DocBody {
    Text(String),
    Messages(Vec<ChatMessage>),
}

/// A document with a stable id (its position in the corpus, counting every file).
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    pub id: u64,
    pub body: DocBody,
}

/// Which field holds the document.
#[derive(Debug, Clone)]
pub struct CorpusSpec {
    pub files: Vec<PathBuf>,
    pub text_field: String,
    /// When set, documents are chat messages taken from this field.
    pub messages_field: Option<String>,
}

/// What reading a corpus found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CorpusReport {
    pub docs: u64,
    pub bad_rows: u64,
    /// The first few problems, for the user.
    pub examples: Vec<String>,
}

fn messages_from(v: &Value) -> Option<Vec<ChatMessage>> {
    v.as_array()?
        .iter()
        .map(|m| {
            Some(ChatMessage {
                role: m.get("role")?.as_str()?.to_string(),
                content: m.get("content")?.as_str()?.to_string(),
            })
        })
        .collect()
}

fn body_from_json(v: &Value, spec: &CorpusSpec) -> Result<DocBody, String> {
    match &spec.messages_field {
        Some(f) => match v.get(f) {
            None => Err(format!("no field `{f}`")),
            Some(m) => messages_from(m)
                .map(DocBody::Messages)
                .ok_or_else(|| format!("`{f}` is not a list of {{role, content}}")),
        },
        None => match v.get(&spec.text_field) {
            None => Err(format!("no field `{}`", spec.text_field)),
            Some(Value::String(s)) => Ok(DocBody::Text(s.clone())),
            Some(_) => Err(format!("`{}` is not a string", spec.text_field)),
        },
    }
}

impl CorpusSpec {
    /// Reads every document, calling `f` for each; returns what was found.
    pub fn for_each(&self, mut f: impl FnMut(Doc) -> Result<()>) -> Result<CorpusReport> {
        let mut report = CorpusReport::default();
        let mut next_id = 0u64;
        let bad = |report: &mut CorpusReport, file: &Path, row: usize, why: String| {
            report.bad_rows += 1;
            if report.examples.len() < 5 {
                report
                    .examples
                    .push(format!("{}:{}: {why}", file.display(), row + 1));
            }
        };
        for file in &self.files {
            let ext = file
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            match ext.as_str() {
                "jsonl" | "ndjson" | "txt" => {
                    let fh = std::fs::File::open(file)
                        .with_context(|| format!("cannot open corpus {}", file.display()))?;
                    for (row, line) in std::io::BufReader::new(fh).lines().enumerate() {
                        let line = line.with_context(|| {
                            format!("{} is not readable text (line {})", file.display(), row + 1)
                        })?;
                        if line.trim().is_empty() {
                            continue;
                        }
                        let body = if ext == "txt" {
                            Ok(DocBody::Text(line))
                        } else {
                            match serde_json::from_str::<Value>(&line) {
                                Ok(v) => body_from_json(&v, self),
                                Err(e) => Err(format!("not JSON ({e})")),
                            }
                        };
                        match body {
                            Ok(body) => {
                                f(Doc { id: next_id, body })?;
                                report.docs += 1;
                            }
                            Err(why) => bad(&mut report, file, row, why),
                        }
                        next_id += 1;
                    }
                }
                "parquet" | "csv" => {
                    let df = read_table(file, &ext)?;
                    let col_name = self.messages_field.as_deref().unwrap_or(&self.text_field);
                    if self.messages_field.is_some() {
                        bail!(
                            "{}: chat messages are read from JSONL files only",
                            file.display()
                        );
                    }
                    let col = df
                        .column(col_name)
                        .with_context(|| format!("{}: no column `{col_name}`", file.display()))?;
                    let col = col.str().with_context(|| {
                        format!("{}: column `{col_name}` is not text", file.display())
                    })?;
                    for (row, v) in (0..col.len()).map(|i| col.get(i)).enumerate() {
                        match v {
                            Some(s) => {
                                f(Doc {
                                    id: next_id,
                                    body: DocBody::Text(s.to_string()),
                                })?;
                                report.docs += 1;
                            }
                            None => bad(&mut report, file, row, format!("`{col_name}` is empty")),
                        }
                        next_id += 1;
                    }
                }
                _ => bail!(
                    "{}: unknown corpus format (expected .jsonl, .ndjson, .parquet, .csv or .txt)",
                    file.display()
                ),
            }
        }
        Ok(report)
    }
}

fn read_table(file: &Path, ext: &str) -> Result<polars::prelude::DataFrame> {
    use polars::prelude::*;
    let fh = std::fs::File::open(file)
        .with_context(|| format!("cannot open corpus {}", file.display()))?;
    let df = if ext == "parquet" {
        ParquetReader::new(fh).finish()
    } else {
        CsvReadOptions::default()
            .with_has_header(true)
            .into_reader_with_file_handle(fh)
            .finish()
    };
    df.map_err(|e| anyhow::anyhow!("{} is not a readable {ext} file: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_counts_bad_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        std::fs::write(
            &p,
            "{\"text\": \"a\"}\n{\"txt\": \"b\"}\nnot json\n\n{\"text\": 5}\n{\"text\": \"c\"}\n",
        )
        .unwrap();
        let spec = CorpusSpec {
            files: vec![p],
            text_field: "text".into(),
            messages_field: None,
        };
        let mut got = vec![];
        let r = spec
            .for_each(|d| {
                got.push(d);
                Ok(())
            })
            .unwrap();
        assert_eq!(r.docs, 2);
        assert_eq!(r.bad_rows, 3);
        assert_eq!(got[1].id, 4, "ids count every row");
        assert!(r.examples[0].contains("no field `text`"));
    }

    #[test]
    fn chat_messages_and_csv() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        std::fs::write(&p, r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}"#).unwrap();
        let spec = CorpusSpec {
            files: vec![p],
            text_field: "text".into(),
            messages_field: Some("messages".into()),
        };
        let mut got = vec![];
        spec.for_each(|d| {
            got.push(d);
            Ok(())
        })
        .unwrap();
        assert!(matches!(&got[0].body, DocBody::Messages(m) if m.len() == 2));
        let csv = dir.path().join("c.csv");
        std::fs::write(&csv, "id,text\n1,hello\n2,world\n").unwrap();
        let spec = CorpusSpec {
            files: vec![csv.clone()],
            text_field: "text".into(),
            messages_field: None,
        };
        assert_eq!(spec.for_each(|_| Ok(())).unwrap().docs, 2);
        let spec = CorpusSpec {
            files: vec![csv],
            text_field: "body".into(),
            messages_field: None,
        };
        assert!(
            format!("{:#}", spec.for_each(|_| Ok(())).unwrap_err()).contains("no column `body`")
        );
    }
}
