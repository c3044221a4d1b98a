//! `workspace`: write workspace files.

use anyhow::Result;
use clap::{Args, Subcommand};
use safe_sail::workspace::release::{RELEASE_HUB_ID, RELEASE_TOKENS};
use safe_sail::workspace::{safe_sail_release_workspace, ReleaseOptions};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum WorkspaceCommand {
    /// Write a workspace file for your own model and SAEs (paths written relative to it).
    New(NewArgs),
    /// Write a workspace for the Safe-SAIL paper's release (SAE checkpoints, safety-neuron
    /// indices, activation quantiles, neuron database), from a folder or from the local Hugging
    /// Face cache.
    SafeSail(SafeSailArgs),
    /// Print (or write) the env file of a Slurm run over a workspace's model and SAEs, for
    /// `deploy/slurm/submit.sh`: paths made absolute, corpus and counts left to edit.
    SlurmEnv {
        /// The workspace file (`*.sail.json`).
        workspace: PathBuf,
        /// The folder every output of the run goes to (on a file system all nodes see).
        #[arg(long)]
        work: PathBuf,
        /// Write the env file here instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct NewArgs {
    /// The workspace file to write (`*.sail.json`; an existing file is not replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// The model: a folder, or a hub id in the local Hugging Face cache.
    #[arg(long)]
    pub model: String,
    /// An SAE, as on the command line (`PATH[,key=value...]`); repeat for several.
    #[arg(long, required = true)]
    pub sae: Vec<String>,
    /// A feature store folder (from `collect`): one per SAE in order, or `N=DIR` for the N-th
    /// SAE (1-based); repeat.
    #[arg(long)]
    pub store: Vec<String>,
    /// An evaluation folder (from `evaluate`) for the SAEs.
    #[arg(long)]
    pub eval: Option<String>,
    /// A neuron database; created empty (and editable) when it does not exist.
    #[arg(long)]
    pub neuron_db: Option<String>,
    /// A display name (default: the file's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Compute dtype: f32, bf16 or f16.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// cpu, cuda:N or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

#[derive(Args)]
pub struct SafeSailArgs {
    /// The model (Qwen2.5-3B-Instruct): a folder, or a hub id in the local Hugging Face cache.
    #[arg(long)]
    pub model: String,
    /// The release: a folder holding data/ (the Safe-SAIL repository, or a download of the
    /// Hugging Face repo), or a hub id in the local Hugging Face cache.
    #[arg(long, default_value = RELEASE_HUB_ID)]
    pub release: String,
    /// The workspace file to write (`*.sail.json`).
    #[arg(long)]
    pub out: PathBuf,
    /// The neuron database: en (en_db.json) or cn (cn_db.json).
    #[arg(long, default_value = "en")]
    pub lang: String,
    /// Compute dtype the workspace loads the model with: f32, bf16 or f16.
    #[arg(long, default_value = "bf16")]
    pub dtype: String,
    /// cpu, cuda:N or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// How many activations the quantile files were taken over.
    #[arg(long, default_value_t = RELEASE_TOKENS)]
    pub quantile_tokens: u64,
}

pub fn workspace_command(c: WorkspaceCommand) -> Result<()> {
    match c {
        WorkspaceCommand::New(a) => {
            let out = safe_sail::workspace::new::new_workspace(
                &safe_sail::workspace::new::NewWorkspace {
                    out: a.out,
                    name: a.name,
                    model: a.model,
                    saes: a.sae,
                    stores: a.store,
                    eval: a.eval,
                    neuron_db: a.neuron_db,
                    dtype: a.dtype,
                    device: a.device,
                },
            )?;
            println!(
                "wrote {} (open it with: safe-sail gui {})",
                out.display(),
                out.display()
            );
        }
        WorkspaceCommand::SlurmEnv {
            workspace,
            work,
            out,
        } => {
            let ws = safe_sail::workspace::Workspace::load(&workspace)?;
            let work = std::path::absolute(&work)?;
            let text =
                safe_sail::workspace::cluster::slurm_env(&ws, &std::env::current_exe()?, &work);
            match out {
                Some(f) => {
                    safe_sail::fsutil::write_atomic(&f, text.as_bytes())?;
                    println!("wrote {} (edit CORPUS and the counts, then deploy/slurm/submit.sh {} collect ...)", f.display(), f.display());
                }
                None => print!("{text}"),
            }
        }
        WorkspaceCommand::SafeSail(a) => {
            let r = safe_sail_release_workspace(&ReleaseOptions {
                model: a.model,
                release: a.release,
                out: a.out.clone(),
                lang: a.lang,
                dtype: a.dtype,
                device: a.device,
                quantile_tokens: a.quantile_tokens,
            })?;
            println!("release: {}", r.data.display());
            for l in &r.layers {
                let idx = l.indices.as_ref().map_or("no indices".into(), |(_, n, u)| {
                    format!("{n} safety-neuron ids ({u} distinct)")
                });
                let q = l
                    .quantiles
                    .as_ref()
                    .map_or("no quantiles".into(), |(_, k, o)| {
                        format!("quantiles: top {k} per neuron, stored {o:?}").to_lowercase()
                    });
                println!(
                    "layer {}: {} · {idx} · {q}",
                    l.layer,
                    l.checkpoint.display()
                );
            }
            match &r.neuron_db {
                Some(p) => println!("neuron database: {}", p.display()),
                None => println!("neuron database: none"),
            }
            for n in &r.notes {
                println!("note: {n}");
            }
            println!("wrote {}", a.out.display());
        }
    }
    Ok(())
}
