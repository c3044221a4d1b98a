//! The editable neuron database: Safe-SAIL records plus review fields, saved atomically,
//! with an append-only edit history beside it (`<db>.history.jsonl`).
//!
//! Records are kept as JSON objects in file order, so fields we do not know survive every
//! round trip, and export back to Safe-SAIL form drops only the fields we added. Numbers are
//! parsed exactly (serde_json's `float_roundtrip`) and written in their shortest round-trip
//! form, so a file we wrote is written back byte for byte when nothing in it was edited.
//!
//! A database read from a Safe-SAIL file stays one ([`DbKind::SafeSail`]): it is written back
//! as Safe-SAIL JSON exactly as their tools write it, and the fields we add (review status,
//! note, provenance) go to a sidecar file beside it (`<db>.review.json`, see [`review_path`]),
//! read back with it. So the paper's own `en_db.json` is edited in place and stays a file their
//! tools read.
//!
//! [`EditableDb::save`] writes the whole file. A file that others may write at the same time
//! (the window's autosave, the `db` verbs, explain / score) is written through
//! [`super::commit::update`] instead: under a lock, over a fresh read, field by field.

use super::provenance::Inclusion;
use super::pyjson;
use super::{parse_neuron_id, NeuronDb, NeuronRecord};
use crate::fsutil::write_atomic;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The `format` marker of our database files.
pub const FORMAT: &str = "safe-sail-explorer/neurons";
/// The `format` marker of the review sidecar of a Safe-SAIL file.
pub const REVIEW_FORMAT: &str = "safe-sail-explorer/review";

/// Which form a database file has (and keeps when written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DbKind {
    /// Ours: `{"format": ..., "neurons": {...}}`, every field in the one file.
    #[default]
    Ours,
    /// Safe-SAIL's plain map of records; our fields live in the review sidecar.
    SafeSail,
}
/// Fields we add to Safe-SAIL records (and drop again on export). `subcategory_list` is not
/// among them: it is exported with the record (see [`NeuronRecord::subcategory_list`]).
/// (`score_stale`: `true` while the score belongs to an earlier explanation; absent otherwise.)
/// (`method_scores`: scores by other methods than simulation, per method, see
/// [`super::provenance::MethodScore`].)
pub const OUR_FIELDS: [&str; 7] = [
    "review_status",
    "note",
    "explanation_source",
    "score_source",
    "inclusion",
    "score_stale",
    "method_scores",
];

/// Safe-SAIL's three fields, present in every record (possibly `null` / empty).
const SAFE_SAIL_FIELDS: [&str; 3] = ["explanation", "correlation_score", "tag_list"];

/// Sets a record's field; `null` removes a field that is not one of Safe-SAIL's three (so an
/// emptied `subcategory_list` leaves the record as Safe-SAIL wrote it).
fn put(rec: &mut Map<String, Value>, field: &str, v: Value) {
    if v.is_null() && !SAFE_SAIL_FIELDS.contains(&field) {
        rec.remove(field);
    } else {
        rec.insert(field.to_string(), v);
    }
}

/// Where a neuron stands in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Unreviewed,
    Verified,
    NeedsWork,
    Rejected,
}

impl ReviewStatus {
    pub const ALL: [ReviewStatus; 4] = [
        ReviewStatus::Unreviewed,
        ReviewStatus::Verified,
        ReviewStatus::NeedsWork,
        ReviewStatus::Rejected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReviewStatus::Unreviewed => "unreviewed",
            ReviewStatus::Verified => "verified",
            ReviewStatus::NeedsWork => "needs_work",
            ReviewStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|x| x.name() == s.trim().replace([' ', '-'], "_"))
            .ok_or_else(|| {
                anyhow!("unknown review status `{s}` (unreviewed, verified, needs_work, rejected)")
            })
    }
}

/// A change to one neuron: only the fields given are set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Edit {
    /// `Some(None)` sets the explanation to null.
    pub explanation: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub status: Option<ReviewStatus>,
    pub note: Option<String>,
    pub score: Option<f64>,
    /// Record whether the score passes `correlation_score >= R` (the `inclusion` field; a later
    /// score change keeps an existing one current).
    pub min_score: Option<f64>,
    /// Provenance of an explanation (explainer or author, prompt version, date); `Some(None)`
    /// removes it (undo putting back a record that had none).
    pub explanation_source: Option<Option<super::provenance::ExplanationSource>>,
    /// Provenance of a score (method, simulator, examples, date).
    pub score_source: Option<super::provenance::ScoreSource>,
    /// Sets whether the score is stale (undo puts it back); without it, a new explanation
    /// marks a kept score stale and a new score clears the mark (see [`EditableDb::apply`]).
    pub score_stale: Option<bool>,
    /// A score by another method than simulation: replaces the record's `method_scores` entry
    /// of its method, leaving the other methods' entries alone.
    pub method_score: Option<super::provenance::MethodScore>,
}

/// One line of the edit history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Unix time in milliseconds.
    pub time: u64,
    pub who: String,
    pub neuron: String,
    pub field: String,
    pub old: Value,
    pub new: Value,
}

impl Change {
    /// One line for people: the time in UTC, who, the neuron, the field and its old and new
    /// values (`2026-11-28 09:15:02 UTC  ana  8_6502  explanation: "old" → "new"`).
    pub fn describe(&self) -> String {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.time);
        let when = humantime::format_rfc3339_seconds(t)
            .to_string()
            .replacen('T', " ", 1)
            .replace('Z', " UTC");
        let show = |v: &Value| match v {
            Value::Null => "(none)".to_string(),
            other => other.to_string(),
        };
        format!(
            "{when}  {}  {}  {}: {} → {}",
            self.who,
            self.neuron,
            self.field,
            show(&self.old),
            show(&self.new)
        )
    }
}

/// The editable database in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EditableDb {
    pub entries: Map<String, Value>,
    /// The top level of a file in our format as read (`format`, `version`, any field we do not
    /// know, and where `neurons` sits), so saving keeps it; empty for a new database or one read
    /// from Safe-SAIL form.
    header: Map<String, Value>,
    /// The form the file was read in, and is written in.
    pub kind: DbKind,
}

/// A field that changed on disk since a writer read it, to something other than what the
/// writer wants: neither value is written over the other without a choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub neuron: String,
    pub field: String,
    /// The value the writer started from.
    pub base: Value,
    /// The value on disk now.
    pub theirs: Value,
    /// The value the writer wants.
    pub mine: Value,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: changed to {} by someone else (was {}); not replaced by {}",
            self.neuron,
            self.field,
            short(&self.theirs),
            short(&self.base),
            short(&self.mine)
        )
    }
}

/// A value as compact JSON, cut to about 80 characters.
fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// What [`EditableDb::merge_changes`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Merged {
    /// The fields written, each with the value it replaced as `old` (for the history).
    pub applied: Vec<Change>,
    /// The fields left as they were because someone else changed them.
    pub conflicts: Vec<Conflict>,
}

/// A new neuron's record: Safe-SAIL's three fields, empty.
fn new_record() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("explanation".into(), Value::Null);
    m.insert("correlation_score".into(), Value::Null);
    m.insert("tag_list".into(), Value::Array(vec![]));
    m
}

/// The current user's name for the history (`SAFE_SAIL_USER`, `USER`, `USERNAME`).
pub fn current_user() -> String {
    ["SAFE_SAIL_USER", "USER", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// Milliseconds since the epoch: the time recorded in history records and provenance. When
/// the environment sets `SOURCE_DATE_EPOCH` (seconds; the reproducible-builds convention), that
/// time instead, so a rebuild of the bundled sample records the same dates byte for byte.
pub fn now_ms() -> u64 {
    if let Some(secs) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return secs.saturating_mul(1000);
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The history file of a database file.
pub fn history_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".history.jsonl");
    PathBuf::from(s)
}

/// The review sidecar of a Safe-SAIL database file: our fields of its neurons
/// (`{"format": "safe-sail-explorer/review", "neurons": {"8_2": {"review_status": ...}}}`).
pub fn review_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".review.json");
    PathBuf::from(s)
}

fn check_entries(entries: &Map<String, Value>, path: &Path) -> Result<()> {
    for (k, v) in entries {
        parse_neuron_id(k).with_context(|| format!("{}: key `{k}`", path.display()))?;
        if !v.is_object() {
            bail!("{}: entry `{k}` is not an object", path.display());
        }
    }
    Ok(())
}

impl EditableDb {
    /// Reads our format or a Safe-SAIL neuron database (told apart by the `format` marker);
    /// for a Safe-SAIL file, with the fields of its review sidecar, when there is one.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read neuron database {}", path.display()))?;
        let mut db = Self::parse(&text)
            .with_context(|| format!("{} is not a neuron database", path.display()))?;
        if db.kind == DbKind::SafeSail {
            db.read_review(&review_path(path))?;
        }
        Ok(db)
    }

    /// Adds our fields from a review sidecar (nothing when the file does not exist).
    fn read_review(&mut self, path: &Path) -> Result<()> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        if v.get("format").and_then(Value::as_str) != Some(REVIEW_FORMAT) {
            bail!(
                "{} is not a review sidecar (no \"format\": \"{REVIEW_FORMAT}\")",
                path.display()
            );
        }
        let Some(neurons) = v.get("neurons").and_then(Value::as_object) else {
            bail!("{}: `neurons` is missing or not an object", path.display());
        };
        for (id, fields) in neurons {
            let Some(fields) = fields.as_object() else {
                bail!("{}: entry `{id}` is not an object", path.display());
            };
            // A neuron the database no longer has keeps no review.
            let Some(rec) = self.entries.get_mut(id).and_then(Value::as_object_mut) else {
                continue;
            };
            for (f, x) in fields {
                if OUR_FIELDS.contains(&f.as_str()) {
                    rec.insert(f.clone(), x.clone());
                }
            }
        }
        Ok(())
    }

    /// The review sidecar's text: our fields of every neuron that has any, in database order;
    /// `None` when no neuron has one.
    fn review_json(&self) -> Option<String> {
        let mut neurons = Map::new();
        for (id, rec) in &self.entries {
            let ours: Map<String, Value> = rec
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(f, _)| OUR_FIELDS.contains(&f.as_str()))
                .map(|(f, x)| (f.clone(), x.clone()))
                .collect();
            if !ours.is_empty() {
                neurons.insert(id.clone(), Value::Object(ours));
            }
        }
        if neurons.is_empty() {
            return None;
        }
        let mut top = Map::new();
        top.insert("format".into(), REVIEW_FORMAT.into());
        top.insert("version".into(), 1.into());
        top.insert("neurons".into(), Value::Object(neurons));
        Some(serde_json::to_string_pretty(&Value::Object(top)).expect("JSON values serialize"))
    }

    /// Whether a file is in our format (rather than Safe-SAIL's plain map).
    pub fn is_our_format(path: &Path) -> bool {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.get("format").and_then(Value::as_str).map(|f| f == FORMAT))
            .unwrap_or(false)
    }

    /// Parses either format.
    pub fn parse(text: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(text)?;
        let Value::Object(mut top) = v else {
            bail!("the top level is not a JSON object")
        };
        let (entries, header, kind) = if top.get("format").and_then(Value::as_str) == Some(FORMAT) {
            let entries = match top.get_mut("neurons").map(Value::take) {
                Some(Value::Object(m)) => m,
                _ => bail!("`neurons` is missing or not an object"),
            };
            (entries, top, DbKind::Ours)
        } else {
            (top, Map::new(), DbKind::SafeSail)
        };
        check_entries(&entries, Path::new("database"))?;
        Ok(Self {
            entries,
            header,
            kind,
        })
    }

    /// Our file format (pretty-printed, UTF-8). A database read from our format keeps its top
    /// level as it was (field order, fields we do not know).
    pub fn to_json(&self) -> String {
        let mut top = Map::new();
        if self.header.is_empty() {
            top.insert("format".into(), FORMAT.into());
            top.insert("version".into(), 1.into());
            top.insert("neurons".into(), Value::Null);
        } else {
            top.clone_from(&self.header);
        }
        if let Some(n) = top.get_mut("neurons") {
            *n = Value::Object(self.entries.clone());
        }
        serde_json::to_string_pretty(&Value::Object(top)).expect("JSON values serialize")
    }

    /// Safe-SAIL form: every record without our fields, written as Python's `json.dumps` does.
    pub fn to_safe_sail(&self) -> String {
        let mut out = Map::new();
        for (k, v) in &self.entries {
            let mut rec = v.as_object().cloned().unwrap_or_default();
            for f in OUR_FIELDS {
                rec.remove(f);
            }
            out.insert(k.clone(), Value::Object(rec));
        }
        pyjson::dumps(&Value::Object(out))
    }

    /// The scores by other methods than simulation that some record has, as export columns:
    /// `(method, metric)` pairs (column `<method>_<metric>`), methods in
    /// [`super::provenance::METHOD_ORDER`] then alphabetically, metrics in
    /// [`super::provenance::METHOD_METRICS`] order, only the metrics some record of the method
    /// has. Empty when no record has `method_scores`.
    pub fn method_columns(&self) -> Vec<(String, &'static str)> {
        use super::provenance::{MethodScore, METHOD_METRICS, METHOD_ORDER};
        let mut have: std::collections::BTreeMap<String, [bool; 5]> = Default::default();
        for v in self.entries.values() {
            for m in MethodScore::all_of(v) {
                let e = have.entry(m.method.clone()).or_default();
                for (k, name) in METHOD_METRICS.iter().enumerate() {
                    e[k] |= m.metric(name).is_some();
                }
            }
        }
        let rank = |m: &str| {
            METHOD_ORDER
                .iter()
                .position(|x| *x == m)
                .unwrap_or(usize::MAX)
        };
        let mut methods: Vec<&String> = have.keys().collect();
        methods.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
        let mut out = vec![];
        for m in methods {
            for (k, name) in METHOD_METRICS.iter().enumerate() {
                if have[m][k] {
                    out.push((m.clone(), *name));
                }
            }
        }
        out
    }

    /// The value of one [`EditableDb::method_columns`] column for a neuron.
    fn method_value(&self, id: &str, method: &str, metric: &str) -> Option<f64> {
        super::provenance::MethodScore::of(self.entries.get(id)?, method)?.metric(metric)
    }

    /// CSV: neuron, layer, index, explanation, correlation_score, tags (`;`-joined, sub-categories
    /// as `domain/sub-category`), review_status, note, then one column per score by another
    /// method that some record has ([`EditableDb::method_columns`], e.g. `detection_f1`; empty
    /// where a neuron has none).
    pub fn to_csv(&self) -> String {
        self.to_csv_marked(None)
    }

    /// As [`EditableDb::to_csv`]; with `min_score` an `included` column says whether the
    /// neuron's score reaches it (neurons without a score, or with a stale one, are not
    /// included).
    pub fn to_csv_marked(&self, min_score: Option<f64>) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let mut out = String::from(
            "neuron,layer,index,explanation,correlation_score,tags,review_status,note",
        );
        let methods = self.method_columns();
        for (m, x) in &methods {
            out.push_str(&format!(",{m}_{x}"));
        }
        out.push_str(if min_score.is_some() {
            ",included\n"
        } else {
            "\n"
        });
        for (k, _) in &self.entries {
            let r = self.record(k).unwrap_or_default();
            let (l, i) = parse_neuron_id(k).unwrap_or((0, 0));
            out.push_str(&format!(
                "{},{l},{i},{},{},{},{},{}",
                q(k),
                r.explanation.as_deref().map(q).unwrap_or_default(),
                r.correlation_score
                    .map(pyjson::float_repr)
                    .unwrap_or_default(),
                q(&r.tags().join(";")),
                self.status(k).name(),
                q(self.note(k)),
            ));
            for (m, x) in &methods {
                out.push(',');
                if let Some(v) = self.method_value(k, m, x) {
                    out.push_str(&pyjson::float_repr(v));
                }
            }
            if let Some(m) = min_score {
                let inc = r.live_score().is_some_and(|s| s >= m);
                out.push_str(if inc { ",true" } else { ",false" });
            }
            out.push('\n');
        }
        out
    }

    /// Keeps only the neurons that carry the tag `want` (a domain matches its sub-categories
    /// too; `none`: neurons without tags), checked against the taxonomy first (an unknown
    /// sub-category is an error naming the valid ones).
    pub fn retain_tag(&mut self, want: &str) -> Result<()> {
        let want = match want.trim() {
            "none" => "none".to_string(),
            w => crate::domains::taxonomy().check_tag(w)?.text(),
        };
        let keep: std::collections::HashSet<String> = self
            .entries
            .keys()
            .filter(|k| self.record(k).is_some_and(|r| r.has_tag(&want)))
            .cloned()
            .collect();
        self.entries.retain(|k, _| keep.contains(k));
        Ok(())
    }

    /// As [`EditableDb::to_safe_sail`], holding only the neurons whose score reaches
    /// `min_score` (the released database's convention is r ≥ 0.2); a stale score reaches
    /// nothing.
    pub fn to_safe_sail_min_score(&self, min_score: f64) -> String {
        let mut kept = EditableDb {
            header: self.header.clone(),
            ..Default::default()
        };
        for (k, v) in &self.entries {
            if self
                .record(k)
                .and_then(|r| r.live_score())
                .is_some_and(|s| s >= min_score)
            {
                kept.entries.insert(k.clone(), v.clone());
            }
        }
        kept.to_safe_sail()
    }

    /// Parquet: the CSV columns (method score columns included), with `tags` as a list and
    /// nulls kept.
    pub fn write_parquet(&self, path: &Path) -> Result<()> {
        use polars::prelude::*;
        let ids: Vec<&String> = self.entries.keys().collect();
        let recs: Vec<NeuronRecord> = ids
            .iter()
            .map(|k| self.record(k).unwrap_or_default())
            .collect();
        let parsed: Vec<(usize, u32)> = ids
            .iter()
            .map(|k| parse_neuron_id(k).unwrap_or((0, 0)))
            .collect();
        let mut df = DataFrame::new_infer_height(vec![
            Series::new(
                "neuron".into(),
                ids.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            )
            .into_column(),
            Series::new(
                "layer".into(),
                parsed.iter().map(|p| p.0 as u32).collect::<Vec<_>>(),
            )
            .into_column(),
            Series::new(
                "index".into(),
                parsed.iter().map(|p| p.1).collect::<Vec<_>>(),
            )
            .into_column(),
            Series::new(
                "explanation".into(),
                recs.iter()
                    .map(|r| r.explanation.as_deref())
                    .collect::<Vec<_>>(),
            )
            .into_column(),
            Series::new(
                "correlation_score".into(),
                recs.iter().map(|r| r.correlation_score).collect::<Vec<_>>(),
            )
            .into_column(),
            Series::new(
                "tags".into(),
                recs.iter()
                    .map(|r| Series::new("".into(), &r.tags()))
                    .collect::<Vec<_>>(),
            )
            .into_column(),
            Series::new(
                "review_status".into(),
                ids.iter()
                    .map(|k| self.status(k).name())
                    .collect::<Vec<_>>(),
            )
            .into_column(),
            Series::new(
                "note".into(),
                ids.iter().map(|k| self.note(k)).collect::<Vec<_>>(),
            )
            .into_column(),
        ])?;
        for (m, x) in self.method_columns() {
            df.with_column(
                Series::new(
                    format!("{m}_{x}").into(),
                    ids.iter()
                        .map(|k| self.method_value(k, &m, x))
                        .collect::<Vec<_>>(),
                )
                .into_column(),
            )?;
        }
        crate::fsutil::write_atomic_with(path, |f| {
            ParquetWriter::new(f).finish(&mut df)?;
            Ok(())
        })
    }

    /// Writes the file atomically in its own form (the whole file, without the lock: see the
    /// module doc): ours, or Safe-SAIL JSON plus the review sidecar (written when any neuron
    /// has one of our fields, removed when none has).
    pub fn save(&self, path: &Path) -> Result<()> {
        match self.kind {
            DbKind::Ours => write_atomic(path, self.to_json().as_bytes()),
            DbKind::SafeSail => {
                write_atomic(path, self.to_safe_sail().as_bytes())?;
                let review = review_path(path);
                match self.review_json() {
                    Some(text) => write_atomic(&review, text.as_bytes()),
                    None => match std::fs::remove_file(&review) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            Err(e).with_context(|| format!("cannot remove {}", review.display()))
                        }
                        _ => Ok(()),
                    },
                }
            }
        }
    }

    /// The Safe-SAIL view of one record.
    pub fn record(&self, id: &str) -> Option<NeuronRecord> {
        self.entries
            .get(id)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    pub fn status(&self, id: &str) -> ReviewStatus {
        self.entries
            .get(id)
            .and_then(|v| v.get("review_status"))
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or(ReviewStatus::Unreviewed)
    }

    pub fn note(&self, id: &str) -> &str {
        self.entries
            .get(id)
            .and_then(|v| v.get("note"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// A read-only view for the explorer.
    pub fn view(&self) -> NeuronDb {
        NeuronDb {
            path: None,
            records: self
                .entries
                .keys()
                .filter_map(|k| self.record(k).map(|r| (k.clone(), r)))
                .collect(),
        }
    }

    /// Applies an edit, creating the neuron if needed; returns what changed. Tags are checked
    /// against the taxonomy ([`crate::domains::Taxonomy::split_tags`]): domains and free tags
    /// go to `tag_list`, `domain/sub-category` tags to `subcategory_list` (and their domain to
    /// `tag_list`); an unknown sub-category is an error naming the valid ones.
    ///
    /// A new explanation does not inherit what belonged to the old one: a score kept from
    /// before is marked stale (`score_stale`, unless the text is the one the score was made
    /// for, per its `score_source`), a review other than "unreviewed" becomes "needs_work",
    /// and the explanation's author becomes `who` (unless the edit says who or what wrote it,
    /// or sets these fields itself). A new score clears the stale mark.
    pub fn apply(&mut self, id: &str, e: &Edit, who: &str) -> Result<Vec<Change>> {
        parse_neuron_id(id)?;
        let split = e
            .tags
            .as_ref()
            .map(|t| crate::domains::taxonomy().split_tags(t))
            .transpose()
            .with_context(|| format!("neuron {id}"))?;
        let time = now_ms();
        let rec = self
            .entries
            .entry(id.to_string())
            .or_insert_with(|| Value::Object(new_record()))
            .as_object_mut()
            .expect("entries are objects");
        let old_inclusion: Option<Inclusion> = rec
            .get("inclusion")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let score_now = match e.score {
            Some(s) => Some(s).filter(|s| s.is_finite()),
            None => rec.get("correlation_score").and_then(Value::as_f64),
        };
        let mut changes = vec![];
        let mut set = |rec: &mut Map<String, Value>, field: &str, new: Value| {
            let old = rec.get(field).cloned().unwrap_or(Value::Null);
            if old != new {
                put(rec, field, new.clone());
                changes.push(Change {
                    time,
                    who: who.to_string(),
                    neuron: id.to_string(),
                    field: field.into(),
                    old,
                    new,
                });
                true
            } else {
                false
            }
        };
        let mut new_text = false;
        if let Some(x) = &e.explanation {
            new_text = set(
                rec,
                "explanation",
                x.clone().map_or(Value::Null, Value::String),
            );
        }
        if let Some((list, subs)) = split {
            let strings = |v: Vec<String>| Value::Array(v.into_iter().map(Value::String).collect());
            set(rec, "tag_list", strings(list));
            set(
                rec,
                "subcategory_list",
                if subs.is_empty() {
                    Value::Null
                } else {
                    strings(subs)
                },
            );
        }
        if let Some(s) = e.score {
            set(
                rec,
                "correlation_score",
                serde_json::Number::from_f64(s).map_or(Value::Null, Value::Number),
            );
        }
        let stale = match (e.score_stale, e.score) {
            (Some(b), _) => Some(b),
            (None, Some(_)) => Some(false),
            (None, None) if new_text => {
                let scored = super::provenance::ScoreSource::of(&Value::Object(rec.clone()))
                    .map(|s| s.explanation);
                let text = rec.get("explanation").and_then(Value::as_str);
                let has_score = !rec
                    .get("correlation_score")
                    .unwrap_or(&Value::Null)
                    .is_null();
                Some(has_score && (scored.is_none() || scored.as_deref() != text))
            }
            (None, None) => None,
        };
        if let Some(b) = stale {
            set(
                rec,
                "score_stale",
                if b { Value::Bool(true) } else { Value::Null },
            );
        }
        // The inclusion rule asked for, or the one recorded, over the score as it is now.
        if let Some(m) = e.min_score.or(old_inclusion
            .filter(|_| e.score.is_some())
            .map(|i| i.min_score))
        {
            set(
                rec,
                "inclusion",
                serde_json::to_value(Inclusion::new(m, score_now))?,
            );
        }
        if let Some(s) = e.status {
            set(rec, "review_status", Value::String(s.name().into()));
        } else if new_text {
            let reviewed = rec
                .get("review_status")
                .and_then(Value::as_str)
                .is_some_and(|s| s != ReviewStatus::Unreviewed.name());
            if reviewed {
                set(
                    rec,
                    "review_status",
                    Value::String(ReviewStatus::NeedsWork.name().into()),
                );
            }
        }
        if let Some(n) = &e.note {
            set(rec, "note", Value::String(n.clone()));
        }
        if let Some(v) = &e.explanation_source {
            let v = match v {
                Some(v) => serde_json::to_value(v)?,
                None => Value::Null,
            };
            set(rec, "explanation_source", v);
        } else if new_text {
            let human = super::provenance::ExplanationSource::human(who);
            set(rec, "explanation_source", serde_json::to_value(human)?);
        }
        if let Some(v) = &e.score_source {
            set(rec, "score_source", serde_json::to_value(v)?);
        }
        if let Some(m) = &e.method_score {
            let mut all = rec
                .get("method_scores")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            all.insert(m.method.clone(), serde_json::to_value(m)?);
            set(rec, "method_scores", Value::Object(all));
        }
        Ok(changes)
    }

    /// Merges a Safe-SAIL database in: new neurons are added; for known ones the Safe-SAIL
    /// fields are taken from `other` and our review fields kept. Returns what changed.
    pub fn merge_safe_sail(&mut self, other: &EditableDb, who: &str) -> Vec<Change> {
        let time = now_ms();
        let mut changes = vec![];
        for (k, v) in &other.entries {
            let incoming = v.as_object().cloned().unwrap_or_default();
            match self.entries.get_mut(k).and_then(Value::as_object_mut) {
                None => {
                    changes.push(Change {
                        time,
                        who: who.into(),
                        neuron: k.clone(),
                        field: "*".into(),
                        old: Value::Null,
                        new: Value::Object(incoming.clone()),
                    });
                    self.entries.insert(k.clone(), Value::Object(incoming));
                }
                Some(mine) => {
                    for (f, nv) in incoming {
                        if OUR_FIELDS.contains(&f.as_str()) {
                            continue;
                        }
                        let old = mine.get(&f).cloned().unwrap_or(Value::Null);
                        if old != nv {
                            changes.push(Change {
                                time,
                                who: who.into(),
                                neuron: k.clone(),
                                field: f.clone(),
                                old,
                                new: nv.clone(),
                            });
                            mine.insert(f, nv);
                        }
                    }
                }
            }
        }
        changes
    }
}

impl EditableDb {
    /// The value of a field as a change to it would find it: `null` when the field is absent,
    /// and a new record's value when the neuron is absent.
    fn current(&self, neuron: &str, field: &str) -> Value {
        match self.entries.get(neuron).and_then(Value::as_object) {
            Some(rec) => rec.get(field).cloned().unwrap_or(Value::Null),
            None => new_record().remove(field).unwrap_or(Value::Null),
        }
    }

    /// Replays changes made against an older copy of this database (each `old` is what the
    /// writer saw, `new` what it wants) field by field: a field still at `old` takes `new`; a
    /// field already at `new` needs nothing; any other field changed on this side too and is a
    /// [`Conflict`], left alone, or overwritten when `mine_wins`. A whole-record change (field
    /// `*`, from [`Self::merge_safe_sail`]) adds the neuron, or merges each of its fields as a
    /// change from an empty record. This is the one merge of the program: the window's autosave, the
    /// `db` verbs and explain / score all write through it.
    ///
    /// The fields [`Self::apply`] derives from a new explanation (`score_stale`,
    /// `explanation_source`) follow their explanation: when it was left alone as a conflict,
    /// so are they.
    pub fn merge_changes(&mut self, changes: &[Change], mine_wins: bool) -> Merged {
        let mut out = Merged::default();
        // (neuron, time, who) of explanations left alone.
        let mut kept_theirs: Vec<(&str, u64, &str)> = vec![];
        for c in changes {
            if matches!(c.field.as_str(), "score_stale" | "explanation_source")
                && kept_theirs.contains(&(c.neuron.as_str(), c.time, c.who.as_str()))
            {
                continue;
            }
            if c.field == "*" {
                let incoming = c.new.as_object().cloned().unwrap_or_default();
                match self.entries.get(&c.neuron) {
                    None => {
                        out.applied.push(c.clone());
                        self.entries
                            .insert(c.neuron.clone(), Value::Object(incoming));
                    }
                    Some(now) if *now == c.new => {}
                    Some(_) => {
                        let fields: Vec<Change> = incoming
                            .into_iter()
                            .map(|(field, new)| Change {
                                old: new_record().remove(&field).unwrap_or(Value::Null),
                                field,
                                new,
                                ..c.clone()
                            })
                            .collect();
                        let m = self.merge_changes(&fields, mine_wins);
                        out.applied.extend(m.applied);
                        out.conflicts.extend(m.conflicts);
                    }
                }
                continue;
            }
            let now = self.current(&c.neuron, &c.field);
            if now == c.new {
                continue;
            }
            if now != c.old {
                out.conflicts.push(Conflict {
                    neuron: c.neuron.clone(),
                    field: c.field.clone(),
                    base: c.old.clone(),
                    theirs: now.clone(),
                    mine: c.new.clone(),
                });
                if !mine_wins {
                    if c.field == "explanation" {
                        kept_theirs.push((&c.neuron, c.time, &c.who));
                    }
                    continue;
                }
            }
            if let Some(rec) = self
                .entries
                .entry(c.neuron.clone())
                .or_insert_with(|| Value::Object(new_record()))
                .as_object_mut()
            {
                put(rec, &c.field, c.new.clone());
            }
            out.applied.push(Change {
                old: now,
                ..c.clone()
            });
        }
        out
    }
}

/// Appends changes to the history file (one JSON object per line), flushed to the OS.
pub fn append_history(db_path: &Path, changes: &[Change]) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let path = history_path(db_path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder of {}", path.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open history {}", path.display()))?;
    let mut buf = String::new();
    for c in changes {
        buf.push_str(&serde_json::to_string(c)?);
        buf.push('\n');
    }
    f.write_all(buf.as_bytes())
        .with_context(|| format!("cannot append to {}", path.display()))?;
    f.sync_data()
        .with_context(|| format!("cannot sync {}", path.display()))?;
    Ok(())
}

/// Reads a history file.
pub fn read_history(db_path: &Path) -> Result<Vec<Change>> {
    let path = history_path(db_path);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    // A torn last line (a kill mid-append) is skipped, not an error.
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores by other methods go into `method_scores`, one entry per method, beside the
    /// simulation score; Safe-SAIL's form leaves them out; our form keeps them.
    #[test]
    fn method_scores_sit_beside_the_simulation_score() {
        use super::super::provenance::MethodScore;
        let ms = |method: &str, ba: f64| MethodScore {
            method: method.into(),
            scorer: "m".into(),
            explanation: "x".into(),
            prompt_version: "v".into(),
            positives: 4,
            negatives: 2,
            date: "unix:1".into(),
            balanced_accuracy: Some(ba),
            f1: None,
            precision: None,
            recall: None,
            auc: None,
        };
        let mut db = EditableDb::default();
        let first = Edit {
            explanation: Some(Some("x".into())),
            score: Some(0.4),
            ..Default::default()
        };
        db.apply("1_2", &first, "a").unwrap();
        for (m, v) in [("detection", 0.8), ("fuzzing", 0.6), ("detection", 0.9)] {
            let e = Edit {
                method_score: Some(ms(m, v)),
                ..Default::default()
            };
            let changes = db.apply("1_2", &e, "scorer:m").unwrap();
            assert_eq!(changes.len(), 1);
            assert_eq!(changes[0].field, "method_scores");
        }
        let all = MethodScore::all_of(&db.entries["1_2"]);
        let got: Vec<(&str, Option<f64>)> =
            all.iter().map(|s| (s.method.as_str(), s.value())).collect();
        assert_eq!(got, [("detection", Some(0.9)), ("fuzzing", Some(0.6))]);
        let r = db.record("1_2").unwrap();
        assert_eq!((r.correlation_score, r.score_stale), (Some(0.4), false));
        assert!(!db.to_safe_sail().contains("method_scores"));
        assert_eq!(
            EditableDb::parse(&db.to_json()).unwrap().entries,
            db.entries
        );
    }

    const SAMPLE: &str = r#"{"8_2": {"explanation": "***", "correlation_score": 0.25, "tag_list": ["politics"]}, "0_1": {"explanation": null, "correlation_score": 0.3176083388420132, "tag_list": [], "extra": 7}}"#;

    #[test]
    fn a_change_reads_as_one_line_with_its_utc_time() {
        let c = Change {
            time: 1_795_910_400_000 + 33_302_000,
            who: "ana".into(),
            neuron: "8_6502".into(),
            field: "explanation".into(),
            old: Value::Null,
            new: Value::from("bombs, 炸弹"),
        };
        assert_eq!(
            c.describe(),
            "2026-11-29 09:15:02 UTC  ana  8_6502  explanation: (none) → \"bombs, 炸弹\""
        );
    }

    #[test]
    fn safe_sail_round_trip_is_byte_identical() {
        let db = EditableDb::parse(SAMPLE).unwrap();
        assert_eq!(db.to_safe_sail(), SAMPLE);
        // Through our format and back.
        let ours = EditableDb::parse(&db.to_json()).unwrap();
        assert_eq!(ours.to_safe_sail(), SAMPLE);
    }

    /// Sub-categories live in `subcategory_list`, exported with the record: a record without
    /// any is written exactly as Safe-SAIL writes it, one with some round-trips byte for byte.
    #[test]
    fn subcategories_round_trip_in_the_safe_sail_form() {
        let mut db = EditableDb::parse(SAMPLE).unwrap();
        let tags = |t: &[&str]| Edit {
            tags: Some(t.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        let ch = db
            .apply("8_2", &tags(&["politics", "Violence/Insult"]), "ana")
            .unwrap();
        assert_eq!(ch.len(), 2, "tag_list and subcategory_list");
        let out = db.to_safe_sail();
        assert!(out.starts_with(
            r#"{"8_2": {"explanation": "***", "correlation_score": 0.25, "tag_list": ["politics", "violence"], "subcategory_list": ["violence/insult"]}"#
        ));
        assert_eq!(EditableDb::parse(&out).unwrap().to_safe_sail(), out);
        let ours = EditableDb::parse(&db.to_json()).unwrap();
        assert_eq!(ours.to_safe_sail(), out);
        let r = ours.record("8_2").unwrap();
        assert_eq!(r.tags(), ["politics", "violence/insult"]);
        // Back to the domain alone: the field goes, and the file is Safe-SAIL's again.
        db.apply("8_2", &tags(&["politics"]), "ana").unwrap();
        assert_eq!(db.to_safe_sail(), SAMPLE);
        // An unknown sub-category changes nothing and names the valid ones.
        let e = db
            .apply("8_2", &tags(&["terror/bombs"]), "ana")
            .unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("`bombs` is not a sub-category of terror (valid: terror/terrorism, terror/religious oppression, terror/extremist activities, terror/weapons)"), "{msg}");
        assert_eq!(db.to_safe_sail(), SAMPLE);
        // Filtering by a domain finds its sub-categories; by a sub-category, only those.
        db.apply("0_1", &tags(&["violence/cybersecurity"]), "ana")
            .unwrap();
        db.apply("8_2", &tags(&["violence/insult"]), "ana").unwrap();
        let kept = |t: &str| {
            let mut d = db.clone();
            d.retain_tag(t)
                .map(|_| d.entries.keys().cloned().collect::<Vec<_>>())
        };
        assert_eq!(kept("violence").unwrap(), ["8_2", "0_1"]);
        assert_eq!(kept("violence/insult").unwrap(), ["8_2"]);
        assert!(kept("politics").unwrap().is_empty());
        assert!(kept("violence/bombs").is_err());
    }

    /// `score --min-score` records whether the score passes; a later score keeps it current,
    /// and the Safe-SAIL form drops it (it goes to the review sidecar).
    #[test]
    fn the_inclusion_mark_follows_the_score() {
        let mut db = EditableDb::parse(SAMPLE).unwrap();
        let score = |r: f64, m: Option<f64>| Edit {
            score: Some(r),
            min_score: m,
            ..Default::default()
        };
        db.apply("0_1", &score(0.31, Some(0.2)), "score").unwrap();
        let inc = |db: &EditableDb| Inclusion::of(&db.entries["0_1"]);
        assert_eq!(
            inc(&db),
            Some(Inclusion {
                min_score: 0.2,
                included: true
            })
        );
        db.apply("0_1", &score(0.15, None), "score").unwrap();
        assert_eq!(inc(&db).map(|i| i.included), Some(false));
        assert_eq!(
            inc(&db).unwrap().describe(),
            "r < 0.2: left out of a --min-score 0.2 export"
        );
        // Other neurons get no mark; the mark survives our form, not Safe-SAIL's.
        assert!(Inclusion::of(&db.entries["8_2"]).is_none());
        let back = EditableDb::parse(&db.to_json()).unwrap();
        assert_eq!(inc(&back), inc(&db));
        assert!(!db.to_safe_sail().contains("inclusion"));
    }

    #[test]
    fn edits_record_changes_and_survive_export() {
        let mut db = EditableDb::parse(SAMPLE).unwrap();
        let ch = db
            .apply(
                "0_1",
                &Edit {
                    explanation: Some(Some("dates".into())),
                    status: Some(ReviewStatus::Verified),
                    ..Default::default()
                },
                "ana",
            )
            .unwrap();
        // The explanation, its stale score, the status and the explanation's author.
        let fields: Vec<&str> = ch.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "explanation",
                "score_stale",
                "review_status",
                "explanation_source"
            ]
        );
        assert_eq!(ch[0].old, Value::Null);
        assert_eq!(db.status("0_1"), ReviewStatus::Verified);
        // Unchanged fields make no change records.
        assert!(db
            .apply(
                "0_1",
                &Edit {
                    explanation: Some(Some("dates".into())),
                    ..Default::default()
                },
                "ana"
            )
            .unwrap()
            .is_empty());
        // Export drops our fields, keeps theirs (including unknown ones).
        let back: Value = serde_json::from_str(&db.to_safe_sail()).unwrap();
        assert_eq!(back["0_1"]["extra"], 7);
        assert!(back["0_1"].get("review_status").is_none());
        assert!(db.apply("bad", &Edit::default(), "x").is_err());
    }

    /// A new explanation keeps the score, marked stale (and out of score filters); a verified
    /// review needs another look; the editor becomes the author. Setting the text the score
    /// was made for, or a new score, clears the mark; the mark round-trips through our
    /// format and through Safe-SAIL JSON with its review sidecar.
    #[test]
    fn a_new_explanation_leaves_the_score_stale() {
        let mut db = EditableDb::parse(SAMPLE).unwrap();
        db.apply(
            "8_2",
            &Edit {
                status: Some(ReviewStatus::Verified),
                ..Default::default()
            },
            "ana",
        )
        .unwrap();
        let ch = db
            .apply(
                "8_2",
                &Edit {
                    explanation: Some(Some("rallies".into())),
                    ..Default::default()
                },
                "bo",
            )
            .unwrap();
        assert_eq!(ch.len(), 4, "{ch:?}");
        let r = db.record("8_2").unwrap();
        assert_eq!((r.correlation_score, r.score_stale), (Some(0.25), true));
        assert_eq!(r.live_score(), None);
        assert_eq!(db.status("8_2"), ReviewStatus::NeedsWork);
        let src = super::super::provenance::ExplanationSource::of(&db.entries["8_2"]).unwrap();
        assert_eq!(src.author.as_deref(), Some("bo"));
        assert!(!db.to_safe_sail_min_score(0.2).contains("8_2"));
        // Lossless in both forms.
        let ours = EditableDb::parse(&db.to_json()).unwrap();
        assert!(ours.record("8_2").unwrap().score_stale);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("en_db.json");
        let mut theirs = db.clone();
        theirs.kind = DbKind::SafeSail;
        theirs.save(&p).unwrap();
        let back = EditableDb::load(&p).unwrap();
        assert_eq!(back.entries, db.entries);
        assert!(!std::fs::read_to_string(&p).unwrap().contains("stale"));
        // A new score clears the mark (absent, not null).
        db.apply(
            "8_2",
            &Edit {
                score: Some(0.3),
                ..Default::default()
            },
            "scorer",
        )
        .unwrap();
        assert!(db.entries["8_2"].get("score_stale").is_none());
        assert_eq!(db.record("8_2").unwrap().live_score(), Some(0.3));
        // Text back to the one the score was made for: not stale.
        let mut e = db.entries["8_2"].clone();
        e["score_source"] = serde_json::json!({"method": "m", "simulator": "s",
            "explanation": "rallies", "prompt_version": "1", "units": 1,
            "held_out": {"top_odd_ranks": 0, "quantile_odd_positions": 0, "non_activating": 0},
            "date": "unix:0"});
        db.entries.insert("8_2".into(), e);
        let to = |t: &str| Edit {
            explanation: Some(Some(t.into())),
            ..Default::default()
        };
        db.apply("8_2", &to("other"), "bo").unwrap();
        assert!(db.record("8_2").unwrap().score_stale);
        db.apply("8_2", &to("rallies"), "bo").unwrap();
        assert!(!db.record("8_2").unwrap().score_stale);
        // A neuron without a score has nothing to mark.
        db.apply("5_5", &to("new"), "bo").unwrap();
        assert!(db.entries["5_5"].get("score_stale").is_none());
    }

    #[test]
    fn merge_keeps_review_fields() {
        let mut db = EditableDb::parse(SAMPLE).unwrap();
        db.apply(
            "8_2",
            &Edit {
                status: Some(ReviewStatus::NeedsWork),
                ..Default::default()
            },
            "a",
        )
        .unwrap();
        let other = EditableDb::parse(r#"{"8_2": {"explanation": "elections", "correlation_score": 0.25, "tag_list": ["politics"]}, "9_9": {"explanation": "x", "correlation_score": 0.2, "tag_list": []}}"#).unwrap();
        let ch = db.merge_safe_sail(&other, "import");
        assert_eq!(ch.len(), 2);
        assert_eq!(db.status("8_2"), ReviewStatus::NeedsWork);
        assert_eq!(
            db.record("8_2").unwrap().explanation.as_deref(),
            Some("elections")
        );
        assert!(db.entries.contains_key("9_9"));
    }

    #[test]
    fn our_format_round_trips_top_level_fields_and_floats() {
        let text = r#"{
  "version": 1,
  "format": "safe-sail-explorer/neurons",
  "made_by": {
    "tool": "x"
  },
  "neurons": {
    "3_1": {
      "explanation": null,
      "correlation_score": 0.36607142857142844,
      "tag_list": [],
      "zz": 1e-7
    }
  },
  "after": true
}"#;
        let db = EditableDb::parse(text).unwrap();
        assert_eq!(db.to_json(), text);
        // Safe-SAIL's 0.36607142857142844 survives (serde_json alone reads it one bit off).
        let x = db.entries["3_1"]["correlation_score"].as_f64().unwrap();
        assert_eq!(x.to_bits(), 0.36607142857142844f64.to_bits());
        // A new database gets our header.
        let new = EditableDb::default().to_json();
        assert!(
            new.starts_with("{\n  \"format\": \"safe-sail-explorer/neurons\",\n  \"version\": 1,")
        );
    }

    #[test]
    fn merge_changes_applies_what_is_still_at_its_base() {
        let mut base = EditableDb::parse(SAMPLE).unwrap();
        let mine = base
            .apply(
                "0_1",
                &Edit {
                    note: Some("mine".into()),
                    explanation: Some(Some("mine".into())),
                    ..Default::default()
                },
                "me",
            )
            .unwrap();
        let new = base
            .apply(
                "4_4",
                &Edit {
                    tags: Some(vec!["x".into()]),
                    ..Default::default()
                },
                "me",
            )
            .unwrap();
        // On disk meanwhile: someone else set 0_1's explanation, and another field.
        let mut disk = EditableDb::parse(SAMPLE).unwrap();
        disk.apply(
            "0_1",
            &Edit {
                explanation: Some(Some("theirs".into())),
                score: Some(0.5),
                ..Default::default()
            },
            "bob",
        )
        .unwrap();
        let m = disk.merge_changes(&[mine.clone(), new].concat(), false);
        assert_eq!(disk.note("0_1"), "mine");
        assert_eq!(
            disk.record("0_1").unwrap().explanation.as_deref(),
            Some("theirs")
        );
        assert_eq!(disk.record("0_1").unwrap().correlation_score, Some(0.5));
        assert_eq!(disk.record("4_4").unwrap().tag_list, ["x"]);
        assert_eq!(
            serde_json::to_string(&disk.entries["4_4"]).unwrap(),
            r#"{"explanation":null,"correlation_score":null,"tag_list":["x"]}"#,
            "a new neuron gets the usual record"
        );
        assert_eq!(m.applied.len(), 2);
        assert_eq!(
            m.conflicts,
            [Conflict {
                neuron: "0_1".into(),
                field: "explanation".into(),
                base: Value::Null,
                theirs: "theirs".into(),
                mine: "mine".into(),
            }]
        );
        // Replayed again: nothing left to write but the conflict; mine wins when chosen.
        assert!(disk.merge_changes(&mine, false).applied.is_empty());
        let m = disk.merge_changes(&mine, true);
        // The explanation, with what follows it: its score (bob's) is stale, its author me.
        let fields: Vec<&str> = m.applied.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["explanation", "score_stale", "explanation_source"]);
        assert_eq!(m.applied[0].old, "theirs");
        assert!(disk.record("0_1").unwrap().score_stale);
        assert_eq!(
            disk.record("0_1").unwrap().explanation.as_deref(),
            Some("mine")
        );
        // A whole-record import merges field by field into a neuron someone else made.
        let mut empty = EditableDb::default();
        let imported = empty.merge_safe_sail(&EditableDb::parse(SAMPLE).unwrap(), "imp");
        let mut other = EditableDb::default();
        other
            .apply(
                "8_2",
                &Edit {
                    note: Some("n".into()),
                    ..Default::default()
                },
                "bob",
            )
            .unwrap();
        let m = other.merge_changes(&imported, false);
        assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
        assert_eq!(other.note("8_2"), "n");
        assert_eq!(
            other.record("8_2").unwrap().explanation.as_deref(),
            Some("***")
        );
        assert_eq!(other.entries["0_1"]["extra"], 7);
    }

    #[test]
    fn history_appends_and_tolerates_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("n.json");
        let c = Change {
            time: 1,
            who: "a".into(),
            neuron: "0_1".into(),
            field: "note".into(),
            old: Value::Null,
            new: "x".into(),
        };
        append_history(&p, std::slice::from_ref(&c)).unwrap();
        append_history(&p, std::slice::from_ref(&c)).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(history_path(&p))
            .unwrap()
            .write_all(b"{\"time\": 3, \"wh")
            .unwrap();
        assert_eq!(read_history(&p).unwrap(), vec![c.clone(), c]);
    }
}
