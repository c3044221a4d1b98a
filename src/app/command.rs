//! What panels ask of the app. A panel draws from a [`super::ViewCtx`] and returns
//! commands; the app applies them in one place ([`super::ExplorerApp::handle`]).

use super::panels::editor::NeuronEdit;
use crate::db::editable::EditableDb;
use crate::model::generate::GenerateOpts;
use crate::model::PromptSpec;
use std::path::PathBuf;

/// A request from a panel.
#[derive(Debug)]
pub enum Command {
    /// Run a prompt (optionally letting the model answer) and show it in the inspector.
    Analyze {
        prompt: PromptSpec,
        answer: Option<GenerateOpts>,
    },
    /// Run a prompt (with the inspector's chat settings) for the compare view.
    Compare { text: String },
    /// Compute the Compare view's partner figure (share of latents with a one-to-one partner at
    /// or above `threshold` decoder cosine) for these pairs of SAEs.
    ComputePartners {
        pairs: Vec<(usize, usize)>,
        threshold: f32,
    },
    /// Stop the running job at its next step.
    Cancel,
    /// Show a neuron's page (and fetch its promoted tokens).
    OpenNeuron { sae: usize, latent: u32 },
    /// Measure what a neuron does to the output, amplified by `strength` (`4x` or absolute).
    ExplainOutput {
        sae: usize,
        latent: u32,
        strength: crate::steer::Amount,
    },
    /// Compute (or read from its cache) the 2-D map of SAE `sae`'s neurons.
    MapNeurons { sae: usize },
    /// One latent's activation over a text of the user's.
    TryText {
        sae: usize,
        latent: u32,
        text: String,
    },
    /// Change a neuron's record in its SAE's editable database.
    EditNeuron(Box<NeuronEdit>),
    /// Settle a database that changed on disk while it was being edited.
    ResolveConflict { session: usize, how: Resolution },
    /// Merge a Safe-SAIL database (read from `from`) into the workspace's editable one.
    Import { from: PathBuf, db: Box<EditableDb> },
    /// Open another workspace.
    OpenWorkspace(PathBuf),
    /// Give SAE `sae` (read-only until now) an editable neuron database of its own.
    CreateSaeDb(usize),
    /// Add SAE `sae` to the SAEs the inspector runs, or take it out (kept in the workspace
    /// file).
    ToggleInspected(usize),
    /// Record edits under this name from now on (kept in the user's settings; "" for the
    /// environment's name).
    SetUser(String),
    /// Generate the default and the steered answer and compare them (the Steer panel).
    Steer(Box<super::engine::SteerJob>),
    /// Measure what each intervention costs (the Steer panel's steer-eval).
    SteerEval(Box<super::engine::SteerEvalJob>),
    /// Write the interventions as lm-evaluation-harness's steered-model CSV.
    ExportLmEval {
        sets: Vec<crate::steer::InterventionSpec>,
        path: PathBuf,
    },
    /// Open the Steer panel with an intervention on this neuron.
    SteerNeuron { sae: usize, latent: u32 },
    /// Save a named intervention set in the workspace file (replacing one of that name).
    SaveSteerSet(crate::workspace::SteerSet),
    /// Replace the workspace's tripwires (kept in the workspace file).
    SetTripwires(Vec<String>),
    /// Attribute a metric of the model's output to SAE neurons (the Attribution view).
    Attribute(Box<super::engine::AttributeJob>),
    /// Open the Attribution view with this prompt and chat settings.
    AttributePrompt {
        prompt: String,
        chat: bool,
        system: String,
    },
}

/// How to settle a database file changed on disk during editing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Take the file on disk and re-apply the unsaved edits on top.
    Merge,
    /// Drop the unsaved edits.
    Reload,
    /// Write ours over the file.
    Overwrite,
}
