//! Saving as people type: edits are applied in memory at once and written by a background
//! thread shortly after typing pauses (at most ~1 s after the first unsaved edit). Each save goes
//! through [`update`]: under the database's lock it reads the file as it is now and
//! replays the session's edits on it field by field, so whatever others wrote meanwhile (a `db`
//! verb, an explain / score run, a colleague's window on a shared folder) is kept, and taken
//! into the session's copy. An edit to a field that someone else changed meanwhile is a
//! conflict: it is not written over theirs, nor dropped; the session holds it and reports it
//! ([`EditSession::conflicts`]) until the user chooses ([`EditSession::merge`] keeps mine,
//! [`EditSession::reload`] takes theirs). Other edits keep being saved meanwhile.

use super::commit::update;
use super::editable::{current_user, now_ms, Change, Conflict, Edit, EditableDb};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

/// Save after this much quiet …
const IDLE: Duration = Duration::from_millis(250);
/// … or at the latest this long after the first unsaved edit.
const MAX_DELAY: Duration = Duration::from_millis(700);

enum Msg {
    Save {
        /// The session's copy, written whole when the file does not exist yet.
        db: Box<EditableDb>,
        /// Edits to merge; a field changed on disk meanwhile is refused.
        changes: Vec<Change>,
        /// Edits the user chose to keep over what is on disk.
        mine_wins: Vec<Change>,
    },
    Flush(Sender<()>),
}

/// What one save did.
struct Saved {
    /// The file as written.
    disk: Box<EditableDb>,
    /// Edits refused because the field changed on disk, with what they met there.
    refused: Vec<(Change, Conflict)>,
    /// Neurons whose records on disk differ from the session's copy (others' edits).
    theirs: Vec<String>,
}

enum Report {
    Saved(Saved),
    Failed(String),
}

/// Writes one batch of a session's edits (see the module doc).
fn save(path: &Path, mine: &EditableDb, changes: &[Change], mine_wins: &[Change]) -> Result<Saved> {
    update(path, |disk| {
        let (applied, conflicts) = if path.exists() {
            let forced = disk.merge_changes(mine_wins, true);
            let merged = disk.merge_changes(changes, false);
            let mut applied = forced.applied;
            applied.extend(merged.applied);
            (applied, merged.conflicts)
        } else {
            // Nothing on disk yet (a new file, or a session moved to a new file): the session's
            // copy is the file.
            *disk = mine.clone();
            let mut all = mine_wins.to_vec();
            all.extend_from_slice(changes);
            (all, vec![])
        };
        let refused = conflicts
            .into_iter()
            .map(|k| {
                // The edit (or the whole-record import) that met the conflict.
                let intent = changes
                    .iter()
                    .find(|c| c.neuron == k.neuron && c.field == k.field)
                    .or_else(|| {
                        changes
                            .iter()
                            .find(|c| c.neuron == k.neuron && c.field == "*")
                    });
                let c = Change {
                    time: intent.map_or_else(now_ms, |c| c.time),
                    who: intent.map_or_else(current_user, |c| c.who.clone()),
                    neuron: k.neuron.clone(),
                    field: k.field.clone(),
                    old: k.base.clone(),
                    new: k.mine.clone(),
                };
                (c, k)
            })
            .collect();
        let theirs = disk
            .entries
            .iter()
            .filter(|(k, v)| mine.entries.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        let saved = Saved {
            disk: Box::new(disk.clone()),
            refused,
            theirs,
        };
        Ok((applied, saved))
    })
}

fn saver_thread(path: PathBuf, rx: Receiver<Msg>, tx: Sender<Report>, wake: Box<dyn Fn() + Send>) {
    for msg in rx {
        match msg {
            Msg::Flush(done) => {
                let _ = done.send(());
            }
            Msg::Save {
                db,
                changes,
                mine_wins,
            } => {
                let report = match save(&path, &db, &changes, &mine_wins) {
                    Ok(s) => Report::Saved(s),
                    Err(e) => Report::Failed(format!("{e:#}")),
                };
                let _ = tx.send(report);
                wake();
            }
        }
    }
}

fn spawn_saver(
    path: &Path,
    wake: impl Fn() + Send + 'static,
) -> Result<(Sender<Msg>, Receiver<Report>)> {
    let (tx, rx) = channel();
    let (etx, erx) = channel();
    let p = path.to_path_buf();
    std::thread::Builder::new()
        .name("autosave".into())
        .spawn(move || saver_thread(p, rx, etx, Box::new(wake)))?;
    Ok((tx, erx))
}

/// Puts `c` into `list`, or, when `list` has an edit of the same field, makes that one end at
/// `c`'s value (keeping its base).
fn coalesce(list: &mut Vec<Change>, c: Change) {
    match list
        .iter_mut()
        .find(|p| p.neuron == c.neuron && p.field == c.field)
    {
        Some(p) => {
            p.new = c.new;
            p.time = c.time;
        }
        None => list.push(c),
    }
}

/// `older` followed by `newer`, one edit per field (see [`coalesce`]).
fn chain(mut older: Vec<Change>, newer: Vec<Change>) -> Vec<Change> {
    for c in newer {
        coalesce(&mut older, c);
    }
    older
}

/// An open database being edited, saved in the background.
pub struct EditSession {
    pub path: PathBuf,
    /// The session's copy: the file as last written or read, with the unsaved edits on top.
    pub db: EditableDb,
    pub who: String,
    /// Edits not yet handed to the saver (coalesced per neuron and field).
    pending: Vec<Change>,
    /// Held edits the user chose to keep over the file's values, not yet handed to the saver.
    resolved: Vec<Change>,
    /// Edits handed to the saver but not confirmed: (merged, kept over the file's values).
    in_flight: (Vec<Change>, Vec<Change>),
    /// Edits refused by a conflict, waiting for the user's choice.
    held: Vec<Change>,
    /// Neurons others changed on disk, merged into `db` since [`Self::take_changed_on_disk`].
    changed_on_disk: Vec<String>,
    first_unsaved: Option<Instant>,
    last_edit: Option<Instant>,
    tx: Sender<Msg>,
    events: Receiver<Report>,
    /// Some edits met a field changed on disk by someone else; they wait for `merge` (keep
    /// mine), `overwrite` (the same) or `reload` (take theirs). Other edits keep being saved.
    pub conflict: bool,
    /// The fields in conflict: what each side has.
    pub conflicts: Vec<Conflict>,
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
        let (tx, events) = spawn_saver(path, wake)?;
        Ok(Self {
            path: path.to_path_buf(),
            db,
            who: current_user(),
            pending: vec![],
            resolved: vec![],
            in_flight: (vec![], vec![]),
            held: vec![],
            changed_on_disk: vec![],
            first_unsaved: None,
            last_edit: None,
            tx,
            events,
            conflict: false,
            conflicts: vec![],
            last_error: None,
            saves: 0,
        })
    }

    /// Applies an edit now; it is saved shortly.
    pub fn edit(&mut self, id: &str, e: &Edit) -> Result<usize> {
        let changes = self.db.apply(id, e, &self.who)?;
        let n = changes.len();
        for c in changes {
            // A field in conflict stays in conflict, now with this value as mine.
            match self
                .held
                .iter_mut()
                .find(|p| p.neuron == c.neuron && p.field == c.field)
            {
                Some(h) => {
                    h.new = c.new.clone();
                    h.time = c.time;
                    if let Some(k) = self
                        .conflicts
                        .iter_mut()
                        .find(|k| k.neuron == c.neuron && k.field == c.field)
                    {
                        k.mine = c.new;
                    }
                }
                None => coalesce(&mut self.pending, c),
            }
        }
        if n > 0 {
            self.touched();
        }
        Ok(n)
    }

    fn touched(&mut self) {
        let now = Instant::now();
        self.first_unsaved.get_or_insert(now);
        self.last_edit = Some(now);
    }

    /// Merges a Safe-SAIL database in (see [`EditableDb::merge_safe_sail`]); saved shortly.
    pub fn merge_in(&mut self, other: &EditableDb) -> usize {
        let changes = self
            .db
            .merge_safe_sail(other, &format!("import:{}", self.who));
        let n = changes.len();
        self.pending.extend(changes);
        if n > 0 {
            self.touched();
        }
        n
    }

    /// Whether edits are waiting to be written (including edits held by a conflict).
    pub fn dirty(&self) -> bool {
        !self.pending.is_empty()
            || !self.resolved.is_empty()
            || !self.held.is_empty()
            || !self.in_flight.0.is_empty()
            || !self.in_flight.1.is_empty()
    }

    /// Takes the neurons whose records others changed on disk and that were merged into
    /// [`Self::db`] since the last call (to refresh views of them).
    pub fn take_changed_on_disk(&mut self) -> Vec<String> {
        std::mem::take(&mut self.changed_on_disk)
    }

    /// Takes the saver's reports.
    fn take_reports(&mut self) {
        for ev in self.events.try_iter().collect::<Vec<_>>() {
            let (sent, sent_mine) = std::mem::take(&mut self.in_flight);
            match ev {
                Report::Saved(s) => {
                    self.saves += 1;
                    self.last_error = None;
                    for (c, k) in s.refused {
                        // A newer edit of the same field joins the held one.
                        let c = match self
                            .pending
                            .iter()
                            .position(|p| p.neuron == c.neuron && p.field == c.field)
                        {
                            Some(i) => Change {
                                old: c.old,
                                ..self.pending.remove(i)
                            },
                            None => c,
                        };
                        let mut k = k;
                        k.mine = c.new.clone();
                        coalesce(&mut self.held, c);
                        self.conflicts
                            .retain(|x| !(x.neuron == k.neuron && x.field == k.field));
                        self.conflicts.push(k);
                    }
                    self.conflict = !self.held.is_empty();
                    for id in s.theirs {
                        if !self.changed_on_disk.contains(&id) {
                            self.changed_on_disk.push(id);
                        }
                    }
                    // The session's copy becomes the file as written, with what is not
                    // written yet on top.
                    let mut db = *s.disk;
                    db.merge_changes(&self.held, true);
                    db.merge_changes(&self.resolved, true);
                    db.merge_changes(&self.pending, true);
                    self.db = db;
                }
                Report::Failed(e) => {
                    self.last_error = Some(e);
                    self.pending = chain(sent, std::mem::take(&mut self.pending));
                    self.resolved = chain(sent_mine, std::mem::take(&mut self.resolved));
                    self.first_unsaved = Some(Instant::now());
                }
            }
        }
    }

    /// Call often (every frame): hands due edits to the saver and takes its reports.
    pub fn tick(&mut self) {
        self.take_reports();
        if !self.in_flight.0.is_empty() || !self.in_flight.1.is_empty() {
            return;
        }
        let now = Instant::now();
        let idle = self.last_edit.is_some_and(|t| now - t >= IDLE);
        let overdue = self.first_unsaved.is_some_and(|t| now - t >= MAX_DELAY);
        if !self.resolved.is_empty() || (!self.pending.is_empty() && (idle || overdue)) {
            self.send();
        }
    }

    fn send(&mut self) {
        let changes = std::mem::take(&mut self.pending);
        let mine_wins = std::mem::take(&mut self.resolved);
        self.in_flight = (changes.clone(), mine_wins.clone());
        self.first_unsaved = None;
        let _ = self.tx.send(Msg::Save {
            db: Box::new(self.db.clone()),
            changes,
            mine_wins,
        });
    }

    /// Writes everything now and waits for it (on exit). Edits held by a conflict stay held.
    pub fn flush(&mut self) {
        // First the save in flight, then the rest.
        for _ in 0..2 {
            let idle = self.in_flight.0.is_empty() && self.in_flight.1.is_empty();
            if idle && (!self.pending.is_empty() || !self.resolved.is_empty()) {
                self.send();
            }
            let (tx, rx) = channel();
            if self.tx.send(Msg::Flush(tx)).is_ok() {
                let _ = rx.recv_timeout(Duration::from_secs(10));
            }
            self.take_reports();
        }
    }

    /// Saves to another file from now on (e.g. an editable copy of a Safe-SAIL file). A file
    /// that does not exist yet is written whole from the session's copy on the next save.
    pub fn retarget(&mut self, path: &Path) -> Result<()> {
        let (tx, events) = spawn_saver(path, || {})?;
        self.tx = tx;
        self.events = events;
        self.path = path.to_path_buf();
        Ok(())
    }

    /// Conflict: drop my edits of the fields in conflict and take the file's values for them
    /// (the file is read again); other edits are kept and saved as usual.
    pub fn reload(&mut self) -> Result<()> {
        let mut db = EditableDb::load(&self.path)?;
        self.held.clear();
        self.conflicts.clear();
        self.conflict = false;
        let (sent, sent_mine) = &self.in_flight;
        for list in [sent, sent_mine, &self.resolved, &self.pending] {
            db.merge_changes(list, true);
        }
        self.db = db;
        Ok(())
    }

    /// Conflict: keep my values of the fields in conflict (written over the file's at once);
    /// everything else others wrote stays.
    pub fn merge(&mut self) -> Result<()> {
        let held = std::mem::take(&mut self.held);
        for c in held {
            coalesce(&mut self.resolved, c);
        }
        self.conflicts.clear();
        self.conflict = false;
        self.tick();
        Ok(())
    }

    /// Conflict: write my version over the file on disk. Since edits are merged field by field,
    /// this only concerns the fields in conflict: the same as [`Self::merge`].
    pub fn overwrite(&mut self) {
        let _ = self.merge();
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
    use serde_json::Value;

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
    fn edits_made_on_disk_meanwhile_are_kept_and_a_true_conflict_waits() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db.json");
        let note = |n: &str| Edit {
            note: Some(n.into()),
            ..Default::default()
        };
        let mut s = EditSession::open(&p, || {}).unwrap();
        s.edit("1_1", &note("mine")).unwrap();
        wait_saved(&mut s);
        // Someone else writes the file: another neuron, and the very field we edit next.
        let mut other = EditableDb::load(&p).unwrap();
        other.apply("2_2", &note("theirs"), "bob").unwrap();
        other.apply("1_1", &note("theirs too"), "bob").unwrap();
        other.save(&p).unwrap();
        s.edit("1_1", &note("mine, edited")).unwrap();
        s.edit("3_3", &note("mine as well")).unwrap();
        let t = Instant::now();
        while !s.conflict && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
            s.tick();
        }
        assert!(s.conflict, "the change on disk is detected");
        assert_eq!(
            s.conflicts,
            vec![Conflict {
                neuron: "1_1".into(),
                field: "note".into(),
                base: "mine".into(),
                theirs: "theirs too".into(),
                mine: "mine, edited".into(),
            }]
        );
        let disk = EditableDb::load(&p).unwrap();
        assert_eq!(disk.note("1_1"), "theirs too", "nothing overwritten");
        assert_eq!(disk.note("2_2"), "theirs");
        assert_eq!(disk.note("3_3"), "mine as well", "other edits are saved");
        // The session sees their edit of another neuron, and keeps mine on the conflict.
        assert_eq!(s.db.note("2_2"), "theirs");
        assert_eq!(s.db.note("1_1"), "mine, edited");
        assert!(s.take_changed_on_disk().contains(&"2_2".to_string()));
        s.merge().unwrap();
        wait_saved(&mut s);
        assert!(!s.conflict);
        let disk = EditableDb::load(&p).unwrap();
        assert_eq!(disk.note("2_2"), "theirs");
        assert_eq!(disk.note("1_1"), "mine, edited");
        let h = read_history(&p).unwrap();
        let last = h.last().unwrap();
        assert_eq!(
            (last.neuron.as_str(), &last.old, &last.new),
            (
                "1_1",
                &Value::from("theirs too"),
                &Value::from("mine, edited")
            ),
            "the history says what was really replaced"
        );
    }

    #[test]
    fn reload_takes_theirs_for_the_conflict_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db.json");
        let note = |n: &str| Edit {
            note: Some(n.into()),
            ..Default::default()
        };
        let mut s = EditSession::open(&p, || {}).unwrap();
        s.edit("1_1", &note("a")).unwrap();
        wait_saved(&mut s);
        crate::db::ops::set(&p, "1_1", &note("theirs")).unwrap();
        s.edit("1_1", &note("mine")).unwrap();
        let t = Instant::now();
        while !s.conflict && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
            s.tick();
        }
        assert!(s.conflict);
        s.edit("4_4", &note("kept")).unwrap();
        s.reload().unwrap();
        assert_eq!(s.db.note("1_1"), "theirs");
        wait_saved(&mut s);
        let disk = EditableDb::load(&p).unwrap();
        assert_eq!(disk.note("1_1"), "theirs");
        assert_eq!(disk.note("4_4"), "kept");
    }
}
