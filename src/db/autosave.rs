//! Saving as people type: edits are applied in memory at once and written by a background
//! thread shortly after typing pauses (at most ~1 s after the first unsaved edit), with an
//! atomic write and the history appended first. A file changed on disk by someone else is
//! never overwritten silently: the session reports a conflict and waits for a choice.

use super::editable::{append_history, current_user, Change, Edit, EditableDb};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

/// Save after this much quiet …
const IDLE: Duration = Duration::from_millis(250);
/// … or at the latest this long after the first unsaved edit.
const MAX_DELAY: Duration = Duration::from_millis(700);

/// What the file looked like when we last read or wrote it.
#[derive(Debug, Clone, PartialEq)]
struct Fingerprint(Option<(u64, std::time::SystemTime, u64)>);

fn fingerprint(path: &Path) -> Fingerprint {
    let Ok(meta) = std::fs::metadata(path) else {
        return Fingerprint(None);
    };
    let hash = std::fs::read(path).map(|b| fnv(&b)).unwrap_or(0);
    Fingerprint(Some((
        meta.len(),
        meta.modified().unwrap_or(std::time::UNIX_EPOCH),
        hash,
    )))
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

enum Msg {
    Save {
        db: Box<EditableDb>,
        changes: Vec<Change>,
        force: bool,
    },
    Flush(Sender<()>),
}

/// What the saver reports.
#[derive(Debug, Clone, PartialEq)]
pub enum SaveEvent {
    Saved {
        changes: usize,
    },
    /// The file changed on disk since we last read or wrote it; nothing was written.
    Conflict,
    Failed(String),
}

fn saver_thread(
    path: PathBuf,
    mut known: Fingerprint,
    rx: Receiver<Msg>,
    tx: Sender<SaveEvent>,
    wake: Box<dyn Fn() + Send>,
) {
    for msg in rx {
        match msg {
            Msg::Flush(done) => {
                let _ = done.send(());
            }
            Msg::Save { db, changes, force } => {
                let now = fingerprint(&path);
                if now != known && !force {
                    let _ = tx.send(SaveEvent::Conflict);
                    wake();
                    continue;
                }
                let r = append_history(&path, &changes).and_then(|_| db.save(&path));
                let ev = match r {
                    Ok(()) => {
                        known = fingerprint(&path);
                        SaveEvent::Saved {
                            changes: changes.len(),
                        }
                    }
                    Err(e) => SaveEvent::Failed(format!("{e:#}")),
                };
                let _ = tx.send(ev);
                wake();
            }
        }
    }
}

/// An open database being edited, saved in the background.
pub struct EditSession {
    pub path: PathBuf,
    pub db: EditableDb,
    pub who: String,
    /// Edits not yet handed to the saver (coalesced per neuron and field).
    pending: Vec<Change>,
    /// Edits handed to the saver but not confirmed (kept for a merge after a conflict).
    in_flight: Vec<Change>,
    first_unsaved: Option<Instant>,
    last_edit: Option<Instant>,
    tx: Sender<Msg>,
    events: Receiver<SaveEvent>,
    /// The file changed on disk; saving is paused until `reload`, `merge` or `overwrite`.
    pub conflict: bool,
    pub last_error: Option<String>,
    pub saves: usize,
}

impl EditSession {
    /// Opens (or creates, when missing) a database file in our format.
    pub fn open(path: &Path, wake: impl Fn() + Send + 'static) -> Result<Self> {
        let db = if path.exists() {
            EditableDb::load(path)?
        } else {
            EditableDb::default()
        };
        let (tx, rx) = channel();
        let (etx, erx) = channel();
        let known = fingerprint(path);
        let p = path.to_path_buf();
        std::thread::Builder::new()
            .name("autosave".into())
            .spawn(move || saver_thread(p, known, rx, etx, Box::new(wake)))?;
        Ok(Self {
            path: path.to_path_buf(),
            db,
            who: current_user(),
            pending: vec![],
            in_flight: vec![],
            first_unsaved: None,
            last_edit: None,
            tx,
            events: erx,
            conflict: false,
            last_error: None,
            saves: 0,
        })
    }

    /// Applies an edit now; it is saved shortly.
    pub fn edit(&mut self, id: &str, e: &Edit) -> Result<usize> {
        let changes = self.db.apply(id, e, &self.who)?;
        let n = changes.len();
        for c in changes {
            match self
                .pending
                .iter_mut()
                .find(|p| p.neuron == c.neuron && p.field == c.field)
            {
                Some(p) => {
                    p.new = c.new;
                    p.time = c.time;
                }
                None => self.pending.push(c),
            }
        }
        if n > 0 {
            let now = Instant::now();
            self.first_unsaved.get_or_insert(now);
            self.last_edit = Some(now);
        }
        Ok(n)
    }

    /// Merges a Safe-SAIL database in (see [`EditableDb::merge_safe_sail`]); saved shortly.
    pub fn merge_in(&mut self, other: &EditableDb) -> usize {
        let changes = self
            .db
            .merge_safe_sail(other, &format!("import:{}", self.who));
        let n = changes.len();
        self.pending.extend(changes);
        if n > 0 {
            let now = Instant::now();
            self.first_unsaved.get_or_insert(now);
            self.last_edit = Some(now);
        }
        n
    }

    /// Whether edits are waiting to be written.
    pub fn dirty(&self) -> bool {
        !self.pending.is_empty() || !self.in_flight.is_empty()
    }

    /// Call often (every frame): hands due edits to the saver and takes its reports.
    pub fn tick(&mut self) {
        for ev in self.events.try_iter().collect::<Vec<_>>() {
            match ev {
                SaveEvent::Saved { .. } => {
                    self.in_flight.clear();
                    self.saves += 1;
                    self.last_error = None;
                }
                SaveEvent::Conflict => {
                    self.conflict = true;
                    // Keep the refused edits for a merge.
                    let mut refused = std::mem::take(&mut self.in_flight);
                    refused.append(&mut self.pending);
                    self.pending = refused;
                }
                SaveEvent::Failed(e) => {
                    self.last_error = Some(e);
                    let mut failed = std::mem::take(&mut self.in_flight);
                    failed.append(&mut self.pending);
                    self.pending = failed;
                    self.first_unsaved = Some(Instant::now());
                }
            }
        }
        if self.conflict || self.pending.is_empty() || !self.in_flight.is_empty() {
            return;
        }
        let now = Instant::now();
        let idle = self.last_edit.is_some_and(|t| now - t >= IDLE);
        let overdue = self.first_unsaved.is_some_and(|t| now - t >= MAX_DELAY);
        if idle || overdue {
            self.send(false);
        }
    }

    fn send(&mut self, force: bool) {
        let changes = std::mem::take(&mut self.pending);
        self.in_flight = changes.clone();
        self.first_unsaved = None;
        let _ = self.tx.send(Msg::Save {
            db: Box::new(self.db.clone()),
            changes,
            force,
        });
    }

    /// Writes everything now and waits for it (on exit).
    pub fn flush(&mut self) {
        if !self.pending.is_empty() && !self.conflict {
            self.send(false);
        }
        let (tx, rx) = channel();
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
        self.tick();
    }

    /// Saves to another file from now on (e.g. an editable copy of a Safe-SAIL file).
    pub fn retarget(&mut self, path: &Path) -> Result<()> {
        let (tx, rx) = channel();
        let (etx, erx) = channel();
        let known = fingerprint(path);
        let p = path.to_path_buf();
        std::thread::Builder::new()
            .name("autosave".into())
            .spawn(move || saver_thread(p, known, rx, etx, Box::new(|| {})))?;
        self.tx = tx;
        self.events = erx;
        self.path = path.to_path_buf();
        Ok(())
    }

    /// Conflict: drop our unsaved edits and take the file as it is on disk.
    pub fn reload(&mut self) -> Result<()> {
        self.db = EditableDb::load(&self.path)?;
        self.pending.clear();
        self.in_flight.clear();
        self.conflict = false;
        self.force_next_baseline()
    }

    /// Conflict: take the file on disk and re-apply our unsaved edits on top, then save.
    pub fn merge(&mut self) -> Result<()> {
        let mut disk = EditableDb::load(&self.path)?;
        for c in &self.pending {
            if let Some(rec) = disk
                .entries
                .entry(c.neuron.clone())
                .or_insert_with(|| serde_json::json!({}))
                .as_object_mut()
            {
                rec.insert(c.field.clone(), c.new.clone());
            }
        }
        self.db = disk;
        self.conflict = false;
        self.send(true);
        Ok(())
    }

    /// Conflict: write our version over the file on disk.
    pub fn overwrite(&mut self) {
        self.conflict = false;
        self.send(true);
    }

    fn force_next_baseline(&mut self) -> Result<()> {
        // An empty forced save re-reads the fingerprint without changing the file content.
        let _ = self.tx.send(Msg::Save {
            db: Box::new(self.db.clone()),
            changes: vec![],
            force: true,
        });
        Ok(())
    }
}

/// Test aid (`db type-test`): types into neuron `0_0`'s explanation through an [`EditSession`]
/// as the window does, writing each keystroke's number and time (ms) to `out`, for `seconds`.
/// A test kills the process at a random moment and checks the file kept all but the last
/// second.
pub fn typing_drill(db: &Path, seconds: f64, out: &mut dyn std::io::Write) -> Result<()> {
    let mut s = EditSession::open(db, || {})?;
    let start = std::time::Instant::now();
    let mut text = String::new();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        n += 1;
        text.push_str(&format!("{n} "));
        s.edit(
            "0_0",
            &Edit {
                explanation: Some(Some(text.clone())),
                ..Default::default()
            },
        )?;
        writeln!(out, "{n} {}", super::editable::now_ms())?;
        out.flush()?;
        s.tick();
        std::thread::sleep(std::time::Duration::from_millis(15));
    }
    s.flush();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::editable::read_history;

    fn wait_saved(s: &mut EditSession) {
        let t = Instant::now();
        while s.dirty() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
            s.tick();
        }
    }

    #[test]
    fn saves_after_a_pause_and_coalesces_history() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db.json");
        let mut s = EditSession::open(&p, || {}).unwrap();
        for text in ["v", "vi", "vio", "violence"] {
            s.edit(
                "3_7",
                &Edit {
                    explanation: Some(Some(text.into())),
                    ..Default::default()
                },
            )
            .unwrap();
            s.tick();
        }
        wait_saved(&mut s);
        let disk = EditableDb::load(&p).unwrap();
        assert_eq!(
            disk.record("3_7").unwrap().explanation.as_deref(),
            Some("violence")
        );
        let h = read_history(&p).unwrap();
        let expl: Vec<_> = h.iter().filter(|c| c.field == "explanation").collect();
        assert_eq!(expl.len(), 1, "keystrokes coalesce: {h:?}");
        assert_eq!(expl[0].new, "violence");
    }

    #[test]
    fn a_file_changed_on_disk_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db.json");
        let mut s = EditSession::open(&p, || {}).unwrap();
        s.edit(
            "1_1",
            &Edit {
                note: Some("mine".into()),
                ..Default::default()
            },
        )
        .unwrap();
        wait_saved(&mut s);
        // Someone else writes the file.
        let mut other = EditableDb::load(&p).unwrap();
        other
            .apply(
                "2_2",
                &Edit {
                    note: Some("theirs".into()),
                    ..Default::default()
                },
                "bob",
            )
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        other.save(&p).unwrap();
        s.edit(
            "1_1",
            &Edit {
                note: Some("mine, edited".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let t = Instant::now();
        while !s.conflict && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
            s.tick();
        }
        assert!(s.conflict, "the change on disk is detected");
        assert_eq!(
            EditableDb::load(&p).unwrap().note("2_2"),
            "theirs",
            "nothing overwritten"
        );
        s.merge().unwrap();
        wait_saved(&mut s);
        let disk = EditableDb::load(&p).unwrap();
        assert_eq!(disk.note("2_2"), "theirs");
        assert_eq!(disk.note("1_1"), "mine, edited");
    }
}
