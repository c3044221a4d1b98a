//! The editing sessions of a workspace's neuron databases: one per file, shared by every SAE
//! whose records live in that file.

use crate::db::autosave::EditSession;
use crate::db::editable::ReviewStatus;
use std::path::PathBuf;

/// Open editing sessions, one per database file, and which SAE of the workspace edits which.
#[derive(Default)]
pub struct Sessions {
    files: Vec<EditSession>,
    /// Per SAE of the workspace: its session in `files`, when its database is editable.
    of_sae: Vec<Option<usize>>,
}

impl Sessions {
    /// Sessions for `files`; SAE `i` edits the one whose path is `db_paths[i]`.
    pub fn new(files: Vec<EditSession>, db_paths: &[Option<PathBuf>]) -> Self {
        let of_sae = db_paths
            .iter()
            .map(|p| {
                let p = p.as_deref()?;
                files.iter().position(|s| s.path == p)
            })
            .collect();
        Self { files, of_sae }
    }

    /// Adds a session that the SAEs `saes` edit from now on; returns its index.
    pub fn add(&mut self, session: EditSession, saes: impl IntoIterator<Item = usize>) -> usize {
        let i = self.files.len();
        self.files.push(session);
        for s in saes {
            if self.of_sae.len() <= s {
                self.of_sae.resize(s + 1, None);
            }
            self.of_sae[s] = Some(i);
        }
        i
    }

    /// Number of open database files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Every session, by index.
    pub fn iter(&self) -> impl Iterator<Item = &EditSession> {
        self.files.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut EditSession> {
        self.files.iter_mut()
    }

    /// Session `i` (an index from [`Self::iter`] or [`Self::add`]).
    pub fn get(&self, i: usize) -> Option<&EditSession> {
        self.files.get(i)
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut EditSession> {
        self.files.get_mut(i)
    }

    /// The session that holds SAE `sae`'s records, when its database is editable.
    pub fn for_sae(&self, sae: usize) -> Option<&EditSession> {
        self.files.get(self.of_sae.get(sae).copied().flatten()?)
    }

    pub fn for_sae_mut(&mut self, sae: usize) -> Option<&mut EditSession> {
        let i = self.of_sae.get(sae).copied().flatten()?;
        self.files.get_mut(i)
    }

    /// A neuron's review status (unreviewed when its SAE's database is not editable).
    pub fn status(&self, sae: usize, id: &str) -> ReviewStatus {
        self.for_sae(sae)
            .map_or(ReviewStatus::Unreviewed, |s| s.db.status(id))
    }

    /// A neuron's annotator note ("" when none).
    pub fn note(&self, sae: usize, id: &str) -> &str {
        self.for_sae(sae).map_or("", |s| s.db.note(id))
    }

    /// A neuron's full record in its SAE's editable database (provenance included), if any.
    pub fn entry(&self, sae: usize, id: &str) -> Option<&serde_json::Value> {
        self.for_sae(sae).and_then(|s| s.db.entries.get(id))
    }

    /// Writes every pending edit and waits for it (before closing or switching workspaces).
    pub fn flush(&mut self) {
        for s in &mut self.files {
            s.flush();
        }
    }
}
