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
                        .map(|_| ExplanationSource::human(&who)),
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
