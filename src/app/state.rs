//! The window's shared state: the open workspace, one slot per SAE, the editing sessions
//! and the engine's status. Panels read it through [`ViewCtx`]; only the app changes it.

use super::ctx::{SaeSlot, ViewCtx};
use crate::db::editable::{Edit, EditableDb};
use crate::inspect::SaeInfo;
use crate::workspace::{OpenedWorkspace, Sessions, Workspace};
use std::path::PathBuf;

/// The engine's state as the UI sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineStatus {
    Loading(String),
    Ready {
        /// The model in a few words.
        model: String,
        has_chat_template: bool,
    },
    Failed(String),
}

/// What the panels share.
pub struct AppState {
    pub workspace_path: Option<PathBuf>,
    pub workspace: Option<Workspace>,
    /// One per SAE of the workspace.
    pub slots: Vec<SaeSlot>,
    /// Editing sessions of the workspace's neuron databases.
    pub sessions: Sessions,
    pub engine: EngineStatus,
    /// A job is running on the engine thread.
    pub busy: bool,
    /// The model's answer so far, while it generates.
    pub streamed: String,
    /// The status bar's message.
    pub status: String,
    /// Notes for the user (missing fonts, files that could not be read).
    pub notes: Vec<String>,
    /// While the model and SAEs load: the step and its fraction done.
    pub load_progress: Option<(String, f32)>,
    /// The name edits are recorded under, as typed in the window ("" = not set: then
    /// `SAFE_SAIL_USER`, `USER` or `USERNAME`; see [`Self::editor_name`]).
    pub user: String,
}

impl Default for AppState {
    fn default() -> Self {
        Self {
            workspace_path: None,
            workspace: None,
            slots: vec![],
            sessions: Sessions::default(),
            engine: EngineStatus::Loading("no workspace".into()),
            busy: false,
            streamed: String::new(),
            status: String::new(),
            notes: vec![],
            load_progress: None,
            user: String::new(),
        }
    }
}

impl AppState {
    /// What the panels may read this frame.
    pub fn view(&self) -> ViewCtx<'_> {
        ViewCtx {
            workspace: self.workspace.as_ref(),
            workspace_path: self.workspace_path.as_deref(),
            slots: &self.slots,
            sessions: &self.sessions,
            engine: &self.engine,
            busy: self.busy,
            streamed: &self.streamed,
            user: &self.user,
        }
    }

    /// Who the edits are recorded as: the name typed in the window, else the environment's
    /// (`SAFE_SAIL_USER`, `USER`, `USERNAME`).
    pub fn editor_name(&self) -> String {
        let typed = self.user.trim();
        if typed.is_empty() {
            crate::db::editable::current_user()
        } else {
            typed.to_string()
        }
    }

    /// The SAEs (workspace positions) the inspector runs.
    pub fn inspected(&self) -> Vec<usize> {
        let v = self.view();
        (0..self.slots.len()).filter(|&i| v.inspected(i)).collect()
    }

    /// Adds SAE `sae` to the inspector's SAEs or takes it out, and writes the choice into the
    /// workspace file (when it was read from one).
    pub fn toggle_inspected(&mut self, sae: usize) -> Result<(), String> {
        let on = !self.view().inspected(sae);
        let ws = self.workspace.as_mut().ok_or("no workspace open")?;
        let entry = ws.saes.get_mut(sae).ok_or("no such SAE")?;
        entry.inspect = Some(on);
        if let Some(file) = ws.file.clone() {
            ws.save_as(&file).map_err(|e| format!("{e:#}"))?;
        }
        Ok(())
    }

    /// Saves a named intervention set in the workspace (replacing the set of that name) and
    /// writes the workspace file (atomically) when it was read from one.
    pub fn save_steer_set(&mut self, set: crate::workspace::SteerSet) -> Result<(), String> {
        let ws = self.workspace.as_mut().ok_or("no workspace open")?;
        match ws.steer_sets.iter_mut().find(|s| s.name == set.name) {
            Some(s) => *s = set,
            None => ws.steer_sets.push(set),
        }
        if let Some(file) = ws.file.clone() {
            ws.save_as(&file).map_err(|e| format!("{e:#}"))?;
        }
        Ok(())
    }

    /// Replaces the workspace's tripwires and writes the workspace file when it was read from
    /// one.
    pub fn set_tripwires(&mut self, tripwires: Vec<String>) -> Result<(), String> {
        let ws = self.workspace.as_mut().ok_or("no workspace open")?;
        ws.tripwires = tripwires;
        if let Some(file) = ws.file.clone() {
            ws.save_as(&file).map_err(|e| format!("{e:#}"))?;
        }
        Ok(())
    }

    /// Records edits as `name` from now on ("" for the environment's name).
    pub fn set_user(&mut self, name: &str) {
        self.user = name.to_string();
        let who = self.editor_name();
        for s in self.sessions.iter_mut() {
            s.who = who.clone();
        }
    }

    /// Whether the engine has loaded and nothing is running.
    pub fn idle(&self) -> bool {
        !self.busy && !matches!(self.engine, EngineStatus::Loading(_))
    }

    /// Takes a workspace whose files were read.
    pub fn set_workspace(&mut self, opened: OpenedWorkspace) {
        self.sessions = opened.sessions;
        let who = self.editor_name();
        self.sessions.iter_mut().for_each(|s| s.who = who.clone());
        self.workspace = Some(opened.workspace);
        self.slots = opened.saes.into_iter().map(SaeSlot::from).collect();
        self.notes.extend(opened.notes);
    }

    /// Takes the descriptions of the loaded SAEs (one per slot, `None` where loading failed).
    pub fn set_loaded(&mut self, infos: Vec<Option<SaeInfo>>) {
        for (slot, info) in self.slots.iter_mut().zip(infos) {
            if let Some(info) = &info {
                slot.layer = info.layer;
            }
            slot.info = info;
        }
    }

    /// Applies an edit to a neuron of SAE `sae`'s database; the slots reading that database
    /// see the new record when something changed (or when `refresh` is set). Returns the
    /// number of changed fields.
    pub fn edit_neuron(
        &mut self,
        sae: usize,
        id: &str,
        edit: &Edit,
        refresh: bool,
    ) -> Result<usize, String> {
        let Some(session) = self.sessions.for_sae_mut(sae) else {
            return Err(
                "this SAE has no neuron database file: add `neuron_db` to the workspace".into(),
            );
        };
        let changed = session.edit(id, edit).map_err(|e| format!("{e:#}"))?;
        if changed > 0 || refresh {
            let rec = session.db.record(id);
            let path = session.path.clone();
            for c in self
                .slots
                .iter_mut()
                .filter(|c| c.db_path.as_deref() == Some(path.as_path()))
            {
                match &rec {
                    Some(r) => {
                        c.db.records.insert(id.to_string(), r.clone());
                    }
                    None => {
                        c.db.records.remove(id);
                    }
                }
            }
        }
        Ok(changed)
    }

    /// Refreshes the neuron records of every slot using editing session `i`'s database from
    /// that database in memory.
    pub fn refresh_records(&mut self, i: usize) {
        let Some(session) = self.sessions.get(i) else {
            return;
        };
        let view = session.db.view();
        for c in self
            .slots
            .iter_mut()
            .filter(|c| c.db_path.as_deref() == Some(session.path.as_path()))
        {
            c.db.records = view.records.clone();
        }
    }

    /// The session of the workspace's editable database, created beside the workspace file
    /// (and given to every SAE without an editable database) when there is none.
    pub fn workspace_session(&mut self) -> Result<usize, String> {
        if !self.sessions.is_empty() {
            return Ok(0);
        }
        let ws = self.workspace.as_mut().ok_or("no workspace open")?;
        let (path, mut session) = ws.create_neuron_db().map_err(|e| format!("{e:#}"))?;
        session.who = self.editor_name();
        let mut saes = vec![];
        for (i, c) in self.slots.iter_mut().enumerate() {
            if !c
                .db_path
                .as_ref()
                .is_some_and(|p| EditableDb::is_our_format(p))
            {
                c.db_path = Some(path.clone());
                saes.push(i);
            }
        }
        Ok(self.sessions.add(session, saes))
    }

    /// Gives SAE `sae` a new, empty editable database of its own (beside the workspace file,
    /// named in the workspace file), so its neurons can be edited. Returns the session.
    pub fn create_sae_db(&mut self, sae: usize) -> Result<usize, String> {
        if self.sessions.for_sae(sae).is_some() {
            return Err("this SAE's neuron database is already editable".into());
        }
        let slot = self.slots.get(sae).ok_or("no such SAE")?;
        // What the window shows for this SAE's layer goes into its new database.
        let prefix = format!("{}_", slot.layer);
        let mut shown = slot.db.clone();
        shown.records.retain(|id, _| id.starts_with(&prefix));
        let ws = self.workspace.as_mut().ok_or("no workspace open")?;
        let (path, mut session) = ws
            .create_sae_neuron_db(sae, &shown)
            .map_err(|e| format!("{e:#}"))?;
        session.who = self.editor_name();
        let slot = self.slots.get_mut(sae).ok_or("no such SAE")?;
        slot.db_path = Some(path);
        Ok(self.sessions.add(session, [sae]))
    }
}
