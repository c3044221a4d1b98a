//! Writing a neuron database that others write too (other processes, the window's autosave,
//! an explain / score run, a colleague on a shared folder). Every write takes an advisory lock
//! on a sibling file (`<db>.lock`), reads the file as it is on disk at that moment, applies its
//! own change to that, writes the file atomically (temporary file, fsync, rename), appends what
//! it really changed to the history, and lets go. So writers never lose each other's edits, and
//! readers need no lock: the file is only ever replaced whole, never half-written.
//!
//! The lock is `flock`-style (`std::fs::File::lock`): the system drops it when its holder dies,
//! so a killed writer never leaves the database locked. On Unix the lock file is removed by the
//! writer that holds it (a writer checks, once it holds a lock, that its file is still the one
//! at the path); elsewhere it stays, empty.

use super::editable::{append_history, Change, EditableDb};
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// The lock file of a database file.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// An exclusive hold on a database's lock; released on drop.
pub struct DbLock {
    file: File,
    path: PathBuf,
}

impl DbLock {
    /// Waits until no other writer holds the lock of `db`, then takes it.
    pub fn acquire(db: &Path) -> Result<Self> {
        let path = lock_path(db);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the folder of {}", db.display()))?;
        }
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("cannot open the lock file {}", path.display()))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => file
                    .lock()
                    .with_context(|| format!("cannot lock {}", path.display()))?,
                Err(TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("cannot lock {}", path.display()))
                }
            }
            // The writer before us may have removed the file after we opened it: then our
            // lock guards nothing, and we take the file now at the path instead.
            if still_at(&file, &path) {
                return Ok(Self { file, path });
            }
        }
    }
}

#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_at(_: &File, _: &Path) -> bool {
    true
}

impl Drop for DbLock {
    fn drop(&mut self) {
        // Removed while still held, so that no one can hold a lock on it that guards nothing
        // (see `acquire`).
        #[cfg(unix)]
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Under the lock of the database at `path`: reads it (an empty database when the file does not
/// exist yet), lets `change` edit it and return the changes it made, writes the file atomically
/// when anything changed (or it did not exist), and appends those changes to the history.
/// When `change` fails, nothing is written. Returns what `change` returned besides.
pub fn update<T>(
    path: &Path,
    change: impl FnOnce(&mut EditableDb) -> Result<(Vec<Change>, T)>,
) -> Result<T> {
    let _lock = DbLock::acquire(path)?;
    let existed = path.exists();
    let mut db = if existed {
        EditableDb::load(path)?
    } else {
        EditableDb::default()
    };
    let (changes, out) = change(&mut db)?;
    if !changes.is_empty() || !existed {
        // The data first: the history records only what was written.
        db.save(path)?;
        append_history(path, &changes)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::editable::{read_history, Edit};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn the_lock_excludes_other_threads_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sub/n.json");
        let inside = Arc::new(AtomicBool::new(false));
        std::thread::scope(|s| {
            for _ in 0..4 {
                let (db, inside) = (&db, inside.clone());
                s.spawn(move || {
                    for _ in 0..50 {
                        let _l = DbLock::acquire(db).unwrap();
                        assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                        std::thread::yield_now();
                        inside.store(false, Ordering::SeqCst);
                    }
                });
            }
        });
        #[cfg(unix)]
        assert!(!lock_path(&db).exists(), "the lock file is removed");
    }

    #[test]
    fn update_writes_what_changed_and_nothing_when_it_fails() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("n.json");
        let note = |n: &str| Edit {
            note: Some(n.into()),
            ..Default::default()
        };
        let n = update(&db, |d| {
            let c = d.apply("1_1", &note("a"), "t")?;
            let n = c.len();
            Ok((c, n))
        })
        .unwrap();
        assert_eq!(n, 1);
        let before = std::fs::read(&db).unwrap();
        let r: Result<()> = update(&db, |d| {
            d.apply("1_1", &note("b"), "t")?;
            anyhow::bail!("refused")
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&db).unwrap(), before, "nothing written");
        // No change: the file is left alone and no history is added.
        update(&db, |d| Ok((d.apply("1_1", &note("a"), "t")?, ()))).unwrap();
        assert_eq!(read_history(&db).unwrap().len(), 1);
    }
}
