//! `export` and `import`: results other tools open (Neuronpedia, SAEDashboard-style
//! dashboards, SAELens's sparsity file) and Neuronpedia's explanations back in.

use anyhow::Result;
use clap::Subcommand;
use safe_sail::db::editable::EditableDb;
use safe_sail::interop::{dashboard, neuronpedia, sparsity};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ExportCommand {
    /// A feature store (and the explanations of a neuron database) in Neuronpedia's export
    /// layout: OUT/<modelId>/<layer>-<set>/{features,activations,explanations}/batch-N.jsonl.gz.
    Neuronpedia {
        #[arg(long)]
        store: PathBuf,
        /// A neuron database whose explanations for the store's layer are exported too.
        #[arg(long)]
        db: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// Neuronpedia's model id (default: the model folder's name).
        #[arg(long)]
        model_id: Option<String>,
        /// The source set name (default: safesail-<site>, e.g. safesail-mlp-out).
        #[arg(long)]
        source_set: Option<String>,
        /// Nearest latents by decoder cosine listed per feature (topkCosSim*; 0: none).
        #[arg(long, default_value_t = 10)]
        neighbours: usize,
        /// The SAE whose decoder gives the neighbours (default: the store's).
        #[arg(long)]
        sae: Option<String>,
    },
    /// A dashboard of a few latents: one self-contained HTML file (OUT ends in .html) or
    /// SAEDashboard-style feature JSON (any other name).
    Dashboard {
        #[arg(long)]
        store: PathBuf,
        #[arg(long)]
        db: Option<PathBuf>,
        /// Latents, e.g. 1,2,5-7.
        #[arg(long)]
        latents: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// SAELens's sparsity.safetensors (log10 feature density) from a store's densities,
    /// written into the SAELens folder of the store's SAE (or --sae).
    Sparsity {
        #[arg(long)]
        store: PathBuf,
        #[arg(long)]
        sae: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum ImportCommand {
    /// The explanations of a Neuronpedia export (its folder, or one <modelId>/<sourceId>
    /// folder of it) into a neuron database, with their provenance; a neuron that already has
    /// another explanation keeps it unless --replace.
    Neuronpedia {
        export: PathBuf,
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        replace: bool,
    },
}

fn load_db(db: &Option<PathBuf>) -> Result<Option<EditableDb>> {
    db.as_deref().map(EditableDb::load).transpose()
}

pub fn export(c: ExportCommand) -> Result<()> {
    match c {
        ExportCommand::Neuronpedia {
            store,
            db,
            out,
            model_id,
            source_set,
            neighbours,
            sae,
        } => {
            let d = load_db(&db)?;
            let names = neuronpedia::ExportNames {
                model_id,
                source_set,
                neighbours,
                sae,
            };
            let r = neuronpedia::export(&store, d.as_ref(), &names, &out)?;
            println!(
                "wrote {} features, {} activations, {} explanations and {} scores of them by other methods to {}",
                r.features,
                r.activations,
                r.explanations,
                r.scores,
                r.dir.display()
            );
        }
        ExportCommand::Dashboard {
            store,
            db,
            latents,
            out,
        } => {
            let d = load_db(&db)?;
            let latents = dashboard::parse_latents(&latents)?;
            let r = dashboard::export(&store, d.as_ref(), &latents, &out)?;
            let examples: usize = r.features.iter().map(|f| f.activations.len()).sum();
            println!(
                "wrote {} latents ({examples} examples) to {}",
                r.features.len(),
                out.display()
            );
        }
        ExportCommand::Sparsity { store, sae } => {
            let p = sparsity::write_from_store(&store, sae.as_deref())?;
            println!("wrote {}", p.display());
        }
    }
    Ok(())
}

pub fn import(c: ImportCommand) -> Result<()> {
    match c {
        ImportCommand::Neuronpedia {
            export,
            db,
            replace,
        } => {
            let r = neuronpedia::import(&export, &db, replace)?;
            println!(
                "{} explanation rows: {} neurons set, {} unchanged, {} kept their own explanation{}, {} further explanations of a neuron skipped ({} changes in {})",
                r.rows,
                r.set,
                r.unchanged,
                r.kept,
                if replace { "" } else { " (--replace to take Neuronpedia's)" },
                r.duplicates,
                r.changes,
                db.display()
            );
        }
    }
    Ok(())
}
