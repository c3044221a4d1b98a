//! What every panel draws from: one [`SaeSlot`] per SAE of the workspace, and the
//! [`ViewCtx`] bundle a panel borrows for one frame.

use super::state::EngineStatus;
use crate::db::editable::ReviewStatus;
use crate::db::{NeuronDb, NeuronRecord};
use crate::inspect::{SaeInfo, SaeNeurons};
use crate::store::Store;
use crate::workspace::{OpenedSae, Sessions, Workspace};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Everything the window knows about one SAE of the workspace.
#[derive(Clone, Default)]
pub struct SaeSlot {
    pub name: String,
    /// Its layer (from the workspace's spec, then from the loaded SAE).
    pub layer: usize,
    /// The neuron database that describes its latents (kept in step with edits).
    pub db: NeuronDb,
    /// The file that database comes from.
    pub db_path: Option<PathBuf>,
    /// Per latent: the activation that counts as 1.0 (its 0.999 quantile from the feature
    /// store, else from the Safe-SAIL quantile file). Empty when neither exists.
    pub q999: HashMap<u32, f32>,
    /// The Safe-SAIL quantile file `q999` comes from (when there is no store).
    pub quantiles_from: Option<PathBuf>,
    /// The latents of the SAE's Safe-SAIL indices file: the ones the safety overview considers
    /// (all when `None`).
    pub selected: Option<Arc<std::collections::HashSet<u32>>>,
    /// The loaded SAE, once the engine has loaded it.
    pub info: Option<SaeInfo>,
    /// Its feature store, when the workspace names one.
    pub store: Option<Arc<Store>>,
    /// Its evaluation row (from `safe-sail evaluate`), when present.
    pub eval: Option<crate::eval::report::EvaluationRow>,
}

impl From<OpenedSae> for SaeSlot {
    fn from(s: OpenedSae) -> Self {
        Self {
            name: s.name,
            layer: s.layer,
            db: s.db,
            db_path: s.db_path,
            q999: s.q999,
            quantiles_from: s.quantiles_from,
            selected: s.selected,
            info: None,
            store: s.store,
            eval: s.eval,
        }
    }
}

impl SaeSlot {
    /// A latent's record in the SAE's database.
    pub fn record(&self, latent: u32) -> Option<&NeuronRecord> {
        self.db.get(self.layer, latent)
    }

    /// (explained neurons, safety-tagged neurons) of this SAE's layer in its database.
    pub fn db_counts(&self) -> (usize, usize) {
        let prefix = format!("{}_", self.layer);
        let mine: Vec<&NeuronRecord> = self
            .db
            .records
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, r)| r)
            .collect();
        (mine.len(), mine.iter().filter(|r| r.is_safety()).count())
    }

    /// Whether the inspector runs it unless the workspace says otherwise: it has a feature
    /// store (or Safe-SAIL quantiles) or explained neurons of its layer.
    pub fn inspected_by_default(&self) -> bool {
        self.store.is_some() || !self.q999.is_empty() || self.db_counts().0 > 0
    }

    /// Whether its database tags any neuron with a safety domain.
    pub fn has_safety_neurons(&self) -> bool {
        self.db.records.values().any(|r| r.is_safety())
    }
}

impl SaeNeurons for SaeSlot {
    fn record(&self, latent: u32) -> Option<&NeuronRecord> {
        SaeSlot::record(self, latent)
    }

    fn q999(&self, latent: u32) -> Option<f32> {
        self.q999.get(&latent).copied()
    }

    fn selected(&self, latent: u32) -> bool {
        self.selected.as_ref().is_none_or(|s| s.contains(&latent))
    }
}

/// One neuron of the workspace: a latent of one SAE, with its Safe-SAIL id.
#[derive(Debug, Clone, PartialEq)]
pub struct Neuron {
    pub sae: usize,
    pub layer: usize,
    pub latent: u32,
    /// `layer_index`, as in Safe-SAIL.
    pub id: String,
}

/// What a panel may read while it draws: the workspace's SAEs and databases, the engine's
/// state. Panels change nothing through it; they return [`super::Command`]s.
#[derive(Clone, Copy)]
pub struct ViewCtx<'a> {
    /// The open workspace file, once read.
    pub workspace: Option<&'a Workspace>,
    /// Where it was opened from.
    pub workspace_path: Option<&'a Path>,
    /// One per SAE of the workspace.
    pub slots: &'a [SaeSlot],
    /// Editing sessions of its neuron databases.
    pub sessions: &'a Sessions,
    pub engine: &'a EngineStatus,
    /// A job is running on the engine thread.
    pub busy: bool,
    /// The model's answer so far, while it generates.
    pub streamed: &'a str,
    /// The name typed in the window for edits ("" = the environment's; see
    /// [`super::AppState::editor_name`]).
    pub user: &'a str,
}

impl<'a> ViewCtx<'a> {
    /// Whether the model and SAEs are loaded.
    pub fn ready(&self) -> bool {
        matches!(self.engine, EngineStatus::Ready { .. })
    }

    /// Whether the loaded model's tokenizer has a chat template.
    pub fn has_chat_template(&self) -> bool {
        matches!(
            self.engine,
            EngineStatus::Ready {
                has_chat_template: true,
                ..
            }
        )
    }

    pub fn slot(&self, sae: usize) -> Option<&'a SaeSlot> {
        self.slots.get(sae)
    }

    /// A latent's record in its SAE's database.
    pub fn record(&self, sae: usize, latent: u32) -> Option<&'a NeuronRecord> {
        self.slots.get(sae).and_then(|c| c.record(latent))
    }

    /// A neuron's review status, from the editing session of its SAE's database.
    pub fn review_status(&self, sae: usize, id: &str) -> ReviewStatus {
        self.sessions.status(sae, id)
    }

    /// Whether the inspector runs SAE `sae`: as the workspace file says, else
    /// [`SaeSlot::inspected_by_default`] (every SAE, when none has a store or explained
    /// neurons).
    pub fn inspected(&self, sae: usize) -> bool {
        let chosen = self
            .workspace
            .and_then(|w| w.saes.get(sae))
            .and_then(|s| s.inspect);
        chosen.unwrap_or_else(|| {
            // When no SAE has a store or explained neurons, all run.
            let any = self.slots.iter().any(SaeSlot::inspected_by_default);
            self.slot(sae)
                .is_some_and(|c| !any || c.inspected_by_default())
        })
    }

    /// Whether several SAEs share a layer (then a layer number no longer names an SAE).
    pub fn shared_layers(&self) -> bool {
        crate::inspect::has_shared_layer(self.slots.iter().map(|c| c.layer))
    }
}
