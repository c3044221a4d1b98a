//! The database verbs of the command line (and the window's import / export): import a
//! Safe-SAIL database, export in one of the [`ExportFormat`]s, set one neuron's fields, apply an
//! annotator's batch of edits. Each writes through [`super::commit::update`]: the whole
//! read-change-write happens under the database's lock, so verbs running at the same time (or
//! beside the window's autosave, or an explain / score run) never lose each other's edits, and
//! each records exactly the changes it wrote in the edit history.

use super::commit::update;
use super::editable::{current_user, Edit, EditableDb, ReviewStatus};
use super::provenance::ExplanationSource;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// The formats a database exports to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Safe-SAIL's JSON, exactly as their tools write it (lossless).
    SafeSail,
    Csv,
    Parquet,
}

impl std::str::FromStr for ExportFormat {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "safe-sail" | "safesail" | "json" => Self::SafeSail,
            "csv" => Self::Csv,
            "parquet" => Self::Parquet,
            other => bail!("unknown export format `{other}` (safe-sail, csv or parquet)"),
        })
    }
}

/// The released Safe-SAIL database's inclusion rule: correlation_score ≥ 0.2.
pub const RELEASE_MIN_SCORE: f64 = 0.2;

/// Writes `db` to `out` in `format` (atomically) under an inclusion rule: with `min_score`, the
/// Safe-SAIL form holds only the neurons whose score reaches it, and CSV keeps every neuron with
/// an `included` column (Parquet refuses the option). Returns the neurons written as included.
pub fn export_min_score(
    db: &EditableDb,
    format: ExportFormat,
    out: &Path,
    min_score: Option<f64>,
) -> Result<usize> {
    let Some(m) = min_score else {
        export(db, format, out)?;
        return Ok(db.entries.len());
    };
    let included = db
        .entries
        .keys()
        .filter(|k| {
            db.record(k)
                .and_then(|r| r.live_score())
                .is_some_and(|s| s >= m)
        })
        .count();
    match format {
        ExportFormat::SafeSail => {
            crate::fsutil::write_atomic(out, db.to_safe_sail_min_score(m).as_bytes())?
        }
        ExportFormat::Csv => {
            crate::fsutil::write_atomic(out, db.to_csv_marked(Some(m)).as_bytes())?
        }
        ExportFormat::Parquet => {
            bail!("--min-score: export as safe-sail (included neurons only) or csv (an `included` column)")
        }
    }
    Ok(included)
}

/// Writes `db` to `out` in `format` (atomically).
pub fn export(db: &EditableDb, format: ExportFormat, out: &Path) -> Result<()> {
    match format {
        ExportFormat::SafeSail => crate::fsutil::write_atomic(out, db.to_safe_sail().as_bytes()),
        ExportFormat::Csv => crate::fsutil::write_atomic(out, db.to_csv().as_bytes()),
        ExportFormat::Parquet => db.write_parquet(out),
    }
}

/// Loads the database at `path`, or an empty one when the file does not exist yet.
pub fn load_or_new(path: &Path) -> Result<EditableDb> {
    if path.exists() {
        EditableDb::load(path)
    } else {
        Ok(EditableDb::default())
    }
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The database was created (else merged into).
    pub created: bool,
    /// Neurons in the imported file.
    pub neurons: usize,
    /// Fields changed.
    pub changes: usize,
}

/// Imports a Safe-SAIL database into `db` (created, or merged into keeping review fields).
pub fn import(file: &Path, db: &Path) -> Result<Imported> {
    let incoming = EditableDb::load(file)?;
    let who = format!("import:{}", current_user());
    update(db, |base| {
        let created = !db.exists();
        let changes = base.merge_safe_sail(&incoming, &who);
        let r = Imported {
            created,
            neurons: incoming.entries.len(),
            changes: changes.len(),
        };
        Ok((changes, r))
    })
}

/// Applies one edit to one neuron as the current user; returns the number of fields changed.
pub fn set(db: &Path, neuron: &str, edit: &Edit) -> Result<usize> {
    let who = current_user();
    update(db, |d| {
        let changes = d.apply(neuron, edit, &who)?;
        let n = changes.len();
        Ok((changes, n))
    })
}

/// One line about a neuron for listings: id, score (then each score by another method, as
/// `detection 0.830`, when it has any), tags (sub-categories as
/// `domain/sub-category`), the release rule's mark when recorded, and the explanation's first
/// line (cut to 80 characters).
pub fn summary_line(db: &EditableDb, id: &str) -> String {
    let r = db.record(id).unwrap_or_default();
    let score = r
        .correlation_score
        .map_or("—".to_string(), |s| format!("{s:.3}"));
    let mark = db
        .entries
        .get(id)
        .and_then(super::provenance::Inclusion::of)
        .map_or(String::new(), |i| {
            format!("  [{}]", if i.included { "included" } else { "below" })
        });
    let expl: String = r
        .explanation
        .as_deref()
        .unwrap_or("—")
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(80)
        .collect();
    let methods: String = db
        .entries
        .get(id)
        .map(super::provenance::MethodScore::all_of)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| Some(format!("  {} {:.3}", m.method, m.value()?)))
        .collect();
    format!(
        "{id}  {score}{methods}  {}{mark}  {expl}",
        r.tags().join(", ")
    )
}

/// Splits `a,b, c` into tags (empty parts dropped).
pub fn parse_tags(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// One row of an edits file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EditRow {
    neuron: String,
    explanation: Option<String>,
    tags: Option<Vec<String>>,
    status: Option<String>,
    note: Option<String>,
}

/// Applies an annotator's batch (a JSON list of `{neuron, explanation?, tags?, status?, note?}`)
/// as the current user; a new explanation is recorded as written by a person. Every row is
/// checked before anything is applied: a bad file changes nothing. Returns the fields changed.
pub fn apply_file(db: &Path, edits: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(edits)
        .with_context(|| format!("cannot read {}", edits.display()))?;
    let rows: Vec<EditRow> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected a JSON list of {{neuron, explanation, tags, status, note}}",
            edits.display()
        )
    })?;
    let who = current_user();
    let edits: Vec<(String, Edit)> = rows
        .into_iter()
        .map(|r| -> Result<(String, Edit)> {
            let status = r
                .status
                .as_deref()
                .map(ReviewStatus::parse)
                .transpose()
                .with_context(|| format!("{}: neuron {}", edits.display(), r.neuron))?;
            Ok((
                r.neuron,
                Edit {
                    explanation_source: r
                        .explanation
                        .as_ref()
                        .map(|_| Some(ExplanationSource::human(&who))),
                    explanation: r.explanation.map(Some),
                    tags: r.tags,
                    status,
                    note: r.note,
                    ..Default::default()
                },
            ))
        })
        .collect::<Result<_>>()?;
    update(db, |d| {
        let mut changes = vec![];
        for (neuron, edit) in &edits {
            changes.extend(
                d.apply(neuron, edit, &who)
                    .with_context(|| format!("neuron {neuron}"))?,
            );
        }
        let n = changes.len();
        Ok((changes, n))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// r ≥ 0.2: the Safe-SAIL form keeps the neurons that reach it; CSV keeps all, marked.
    #[test]
    fn the_release_inclusion_rule() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = EditableDb::default();
        for (id, r) in [
            ("1_1", Some(0.2)),
            ("1_2", Some(0.19999)),
            ("1_3", None),
            ("1_4", Some(0.7)),
        ] {
            let e = Edit {
                explanation: Some(Some(format!("e{id}"))),
                score: r,
                ..Default::default()
            };
            db.apply(id, &e, "t").unwrap();
        }
        let out = dir.path().join("db.json");
        let n =
            export_min_score(&db, ExportFormat::SafeSail, &out, Some(RELEASE_MIN_SCORE)).unwrap();
        assert_eq!(n, 2);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["1_1", "1_4"]);
        let csv = dir.path().join("db.csv");
        export_min_score(&db, ExportFormat::Csv, &csv, Some(RELEASE_MIN_SCORE)).unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        let last: Vec<&str> = text
            .lines()
            .map(|l| l.rsplit(',').next().unwrap())
            .collect();
        assert_eq!(last, ["included", "true", "false", "false", "true"]);
        // Without the rule: everything, no column.
        assert_eq!(
            export_min_score(&db, ExportFormat::Csv, &csv, None).unwrap(),
            4
        );
        assert!(!std::fs::read_to_string(&csv).unwrap().contains("included"));
        assert!(export_min_score(
            &db,
            ExportFormat::Parquet,
            &dir.path().join("x.parquet"),
            Some(0.2)
        )
        .is_err());
    }
}
