//! `db`: import, export, show, set, apply and history of neuron databases.

use anyhow::{Context, Result};
use clap::Subcommand;
use safe_sail::db::editable::{read_history, Edit, EditableDb, ReviewStatus};
use safe_sail::db::ops::{self, parse_tags, ExportFormat};
use safe_sail::db::provenance::Inclusion;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum DbCommand {
    /// Import a Safe-SAIL neuron database (creates DB, or merges into it keeping review fields).
    Import {
        /// A Safe-SAIL neuron database JSON (en_db.json, cn_db.json, ...).
        file: PathBuf,
        #[arg(long)]
        db: PathBuf,
    },
    /// Export the database.
    Export {
        db: PathBuf,
        /// safe-sail (lossless, as their tools write it), csv or parquet.
        #[arg(long, default_value = "safe-sail")]
        format: String,
        #[arg(long)]
        out: PathBuf,
        /// The released database's inclusion rule (pass 0.2): the safe-sail form holds only
        /// neurons whose correlation_score reaches it; csv keeps all with an `included` column.
        #[arg(long)]
        min_score: Option<f64>,
        /// Only the neurons with this tag: a domain (with its sub-categories), a sub-category
        /// as `domain/sub-category` (e.g. `terror/weapons`), or `none`.
        #[arg(long)]
        tag: Option<String>,
    },
    /// Print one neuron's record, or with --tag one line per neuron that carries the tag.
    Show {
        db: PathBuf,
        #[arg(required_unless_present = "tag")]
        neuron: Option<String>,
        /// List the neurons with this tag: a domain (with its sub-categories), a sub-category
        /// as `domain/sub-category`, or `none`.
        #[arg(long, conflicts_with = "neuron")]
        tag: Option<String>,
    },
    /// Change one neuron's record (recorded in the edit history).
    Set {
        db: PathBuf,
        neuron: String,
        #[arg(long)]
        explanation: Option<String>,
        /// Comma-separated tags (empty for none): a domain (`violence`), a sub-category under
        /// its domain (`violence/insult`, checked against assets/taxonomy.toml) or a free tag.
        #[arg(long, visible_alias = "tag")]
        tags: Option<String>,
        /// unreviewed, verified, needs_work or rejected.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Apply a file of edits (a JSON list of {neuron, explanation?, tags?, status?, note?}), as
    /// an annotator's batch: every change goes into the history; a new explanation is recorded
    /// as written by a person.
    Apply { db: PathBuf, edits: PathBuf },
    /// Print the edit history, oldest first: one readable line per change (UTC), or JSON lines.
    History {
        db: PathBuf,
        /// Only these neurons (e.g. `8_6502`; repeatable).
        #[arg(long)]
        neuron: Vec<String>,
        /// Only the changes made by this user.
        #[arg(long)]
        who: Option<String>,
        /// The records as stored: one JSON object per line (time in Unix milliseconds).
        #[arg(long)]
        json: bool,
    },
    /// Test aid: types into a neuron's explanation through the autosave used by the window,
    /// printing each keystroke's number and time, until killed or `--seconds` pass.
    #[command(hide = true)]
    TypeTest {
        db: PathBuf,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
}

pub fn db_command(c: DbCommand) -> Result<()> {
    match c {
        DbCommand::Import { file, db } => {
            let r = ops::import(&file, &db)?;
            println!(
                "{} {} neurons from {} into {} ({} changes)",
                if r.created { "imported" } else { "merged" },
                r.neurons,
                file.display(),
                db.display(),
                r.changes
            );
        }
        DbCommand::Export {
            db,
            format,
            out,
            min_score,
            tag,
        } => {
            let mut d = EditableDb::load(&db)?;
            if let Some(t) = &tag {
                d.retain_tag(t)?;
            }
            let n = ops::export_min_score(&d, format.parse::<ExportFormat>()?, &out, min_score)?;
            match min_score {
                Some(m) => println!(
                    "wrote {}: {n} of {} neurons have correlation_score >= {m} (safe-sail holds only those, csv marks them)",
                    out.display(),
                    d.entries.len()
                ),
                None => println!("wrote {} neurons to {}", d.entries.len(), out.display()),
            }
        }
        DbCommand::Show { db, neuron, tag } => {
            let mut d = EditableDb::load(&db)?;
            if let Some(t) = tag {
                d.retain_tag(&t)?;
                for id in d.entries.keys() {
                    println!("{}", ops::summary_line(&d, id));
                }
                println!("{} neurons with tag {}", d.entries.len(), t.trim());
                return Ok(());
            }
            let neuron = neuron.unwrap_or_default();
            let rec = d
                .entries
                .get(&neuron)
                .with_context(|| format!("neuron {neuron} is not in {}", db.display()))?;
            println!("{}", serde_json::to_string_pretty(rec)?);
            if let Some(i) = Inclusion::of(rec) {
                println!("release rule: {}", i.describe());
            }
            for m in safe_sail::db::provenance::MethodScore::all_of(rec) {
                println!("score by {}", m.describe());
            }
        }
        DbCommand::Set {
            db,
            neuron,
            explanation,
            tags,
            status,
            note,
        } => {
            let edit = Edit {
                explanation: explanation.map(Some),
                tags: tags.as_deref().map(parse_tags),
                status: status.as_deref().map(ReviewStatus::parse).transpose()?,
                note,
                ..Default::default()
            };
            println!("{} field(s) changed", ops::set(&db, &neuron, &edit)?);
        }
        DbCommand::Apply { db, edits } => {
            println!("{} field(s) changed", ops::apply_file(&db, &edits)?);
        }
        DbCommand::History {
            db,
            neuron,
            who,
            json,
        } => {
            let keep = |c: &safe_sail::db::editable::Change| {
                (neuron.is_empty() || neuron.contains(&c.neuron))
                    && who.as_ref().is_none_or(|w| &c.who == w)
            };
            for c in read_history(&db)?.into_iter().filter(keep) {
                if json {
                    println!("{}", serde_json::to_string(&c)?);
                } else {
                    println!("{}", c.describe());
                }
            }
        }
        DbCommand::TypeTest { db, seconds } => {
            safe_sail::db::autosave::typing_drill(&db, seconds, &mut std::io::stdout())?;
        }
    }
    Ok(())
}
