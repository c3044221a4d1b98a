//! File helpers: atomic writes that never leave a half-written file behind.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary file a write to `path` goes through.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    dir.join(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename,
/// fsync of the folder (created first when missing). On failure (e.g. a full disk) `path`
/// keeps its old content.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| Ok(f.write_all(bytes)?))
}

/// Like [`write_atomic`], with the content written by `fill` into the temporary file.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> Result<()>,
) -> Result<()> {
    let tmp = temp_path(path);
    let result = (|| -> Result<()> {
        // A file named in a workspace may live in a folder nobody has made yet.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::File::create(&tmp)?;
        fill(&mut f)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_into_a_folder_that_does_not_exist_yet() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("neurons/candidate.json");
        super::write_atomic(&p, b"{}").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{}");
        let leftovers = std::fs::read_dir(p.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }
}

/// What was read from one file, so a result can name its input (a corpus folder's
/// `sources.json`, a benchmark's report).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileRecord {
    pub path: String,
    pub bytes: u64,
    /// FNV-1a 64 of the file's bytes, hex: tells whether a rerun read the same text.
    pub fnv1a64: String,
}

impl FileRecord {
    /// The record of `bytes`, read from `path`.
    pub fn of(path: String, bytes: &[u8]) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        FileRecord {
            path,
            bytes: bytes.len() as u64,
            fnv1a64: format!("{h:016x}"),
        }
    }

    /// Reads `path` and records it.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Self::of(path.display().to_string(), &bytes))
    }
}

/// `path` with its folders resolved (absolute, symlinks followed) and its last component kept
/// as named: a link stays the link, so a file of a Hugging Face cache snapshot
/// (`snapshots/REV/x.json`, a link to `blobs/SHA`) keeps its readable name and nothing ever
/// writes through it into the cache's blob. `None` when the folder does not exist.
pub fn resolve_folders(path: &Path) -> Option<PathBuf> {
    let abs = std::path::absolute(path).ok()?;
    match (abs.parent(), abs.file_name()) {
        (Some(dir), Some(name)) => Some(dir.canonicalize().ok()?.join(name)),
        _ => abs.canonicalize().ok(),
    }
}

/// `path` relative to the folder `from` (both must exist; folders resolved, see
/// [`resolve_folders`]), e.g. `../../model`; `None` when either cannot be resolved.
pub fn relative_path(from: &Path, path: &Path) -> Option<PathBuf> {
    let from = from.canonicalize().ok()?;
    let path = resolve_folders(path).filter(|p| p.exists())?;
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = path.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for c in &b[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    Some(out)
}

/// How a path given on the command line is recorded in a file written into the folder `dir`
/// (a store's `store.json`): a relative path that exists becomes relative to `dir`, so the
/// record stays true when the folders are copied or opened from elsewhere; absolute paths and
/// names that are not local paths (hub ids) are kept as given.
pub fn record_path(dir: &Path, given: &str) -> String {
    let p = Path::new(given);
    if p.is_absolute() || !p.exists() {
        return given.to_string();
    }
    relative_path(dir, p).map_or_else(|| given.to_string(), |r| r.display().to_string())
}

/// The path a file in the folder `dir` recorded (see [`record_path`]): relative to `dir` when
/// that exists; else, for records written before paths were relative to their folder, as
/// given when it exists from the working directory, or below the nearest ancestor of `dir`
/// that holds it (a copied folder tree); else as recorded (a hub id, or a path gone missing).
pub fn resolve_recorded(dir: &Path, recorded: &str) -> String {
    let p = Path::new(recorded);
    if p.is_absolute() || recorded.is_empty() {
        return recorded.to_string();
    }
    let own = dir.join(p);
    if own.exists() {
        return own.display().to_string();
    }
    if p.exists() {
        return recorded.to_string();
    }
    dir.ancestors()
        .skip(1)
        .map(|a| a.join(p))
        .find(|c| c.exists())
        .map_or_else(|| recorded.to_string(), |c| c.display().to_string())
}

/// Whether two paths (or hub ids) name the same thing: equal as written, or existing paths
/// that resolve to the same file or folder.
pub fn same_place(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (Path::new(a).canonicalize(), Path::new(b).canonicalize()),
            (Ok(x), Ok(y)) if x == y
        )
}

#[cfg(test)]
mod recorded_path_tests {
    use super::*;

    #[test]
    fn recorded_paths_follow_their_folder() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("sample/model")).unwrap();
        std::fs::create_dir_all(root.join("sample/stores/L1")).unwrap();
        let store = root.join("sample/stores/L1");
        assert_eq!(
            relative_path(&store, &root.join("sample/model")).unwrap(),
            Path::new("../../model")
        );
        // A path as written before: relative to the working directory where it was made.
        // Opened from anywhere, it is found below the store's ancestors.
        assert_eq!(
            resolve_recorded(&store, "sample/model"),
            root.join("sample/model").display().to_string()
        );
        // The relative form resolves against the store, wherever the tree is copied.
        let copy = root.join("copy");
        std::fs::create_dir_all(copy.join("stores/L1")).unwrap();
        std::fs::create_dir_all(copy.join("model")).unwrap();
        assert_eq!(
            resolve_recorded(&copy.join("stores/L1"), "../../model"),
            copy.join("stores/L1/../../model").display().to_string()
        );
        // Hub ids and absolute paths are kept.
        assert_eq!(
            resolve_recorded(&store, "Qwen/Qwen2.5-3B"),
            "Qwen/Qwen2.5-3B"
        );
        assert_eq!(record_path(&store, "Qwen/Qwen2.5-3B"), "Qwen/Qwen2.5-3B");
        let abs = root.join("sample/model").display().to_string();
        assert_eq!(record_path(&store, &abs), abs);
    }
}
