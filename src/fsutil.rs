//! File helpers: atomic writes that never leave a half-written file behind.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary file a write to `path` goes through.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    folder_of(path).join(format!(".{name}.{}.tmp", std::process::id()))
}

/// The folder holding `path`: its parent, or `.` for a bare file name.
pub fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
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
    let target = link_target(path)?;
    let path = target.as_deref().unwrap_or(path);
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

    /// A write to a link goes to the file it points to and the link stays; a link into a
    /// Hugging Face cache's blobs is refused and the blob left as it was.
    #[cfg(unix)]
    #[test]
    fn writes_follow_links_but_never_into_a_hub_cache_blob() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("shared/neurons.json");
        super::write_atomic(&real, b"old").unwrap();
        let link = dir.path().join("neurons.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        super::write_atomic(&link, b"new").unwrap();
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        let blob = dir.path().join("hub/models--o--r/blobs/0123abcd");
        super::write_atomic(&blob, b"cached").unwrap();
        assert!(super::in_hub_cache_blobs(&blob));
        let snap = dir.path().join("hub/models--o--r/snapshots/rev");
        std::fs::create_dir_all(&snap).unwrap();
        std::os::unix::fs::symlink(&blob, snap.join("en_db.json")).unwrap();
        assert!(super::in_hub_cache_blobs(&snap.join("en_db.json")));
        assert!(!super::in_hub_cache_blobs(&real));
        let e = super::write_atomic(&snap.join("en_db.json"), b"edited").unwrap_err();
        assert!(format!("{e:#}").contains("Hugging Face cache"), "{e:#}");
        assert_eq!(std::fs::read(&blob).unwrap(), b"cached");
    }

    /// A file's record: its size and FNV-1a 64, the same read in blocks as from memory.
    #[test]
    fn file_records_hash_in_blocks_as_in_one_piece() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&p, &bytes).unwrap();
        let r = super::FileRecord::read(&p).unwrap();
        let m = super::FileRecord::of(p.display().to_string(), &bytes);
        assert_eq!((r.bytes, &r.fnv1a64), (3_000_000, &m.fnv1a64));
        // The FNV-1a 64 test vector of "a".
        assert_eq!(
            super::FileRecord::of(String::new(), b"a").fnv1a64,
            "af63dc4c8601ec8c"
        );
    }
}

/// Where a write to `path` goes when `path` is a symbolic link: the file it points to (so the
/// link stays a link, as editors keep it), `None` for anything else. A link into a Hugging
/// Face cache's blobs is refused: a blob is shared, content-addressed and not to be edited.
fn link_target(path: &Path) -> Result<Option<PathBuf>> {
    let is_link = path
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return Ok(None);
    }
    let target = path
        .canonicalize()
        .with_context(|| format!("cannot write {}: a link to nothing", path.display()))?;
    if in_hub_cache_blobs(&target) {
        anyhow::bail!(
            "cannot write {}: it is a file of the Hugging Face cache (a link to {}); edit a \
             copy of it instead (e.g. `cp -L`)",
            path.display(),
            target.display()
        );
    }
    Ok(Some(target))
}

/// Whether `path`, links followed, is a blob of a Hugging Face cache
/// (`…/models--OWNER--NAME/blobs/SHA`, likewise for datasets and spaces).
pub fn in_hub_cache_blobs(path: &Path) -> bool {
    let Ok(p) = path.canonicalize() else {
        return false;
    };
    let dir = p.parent();
    let repo = dir.and_then(Path::parent).and_then(Path::file_name);
    dir.and_then(Path::file_name).is_some_and(|n| n == "blobs")
        && repo.and_then(|n| n.to_str()).is_some_and(|n| {
            ["models--", "datasets--", "spaces--"]
                .iter()
                .any(|k| n.starts_with(k))
        })
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
        FileRecord {
            path,
            bytes: bytes.len() as u64,
            fnv1a64: format!("{:016x}", fnv1a64(FNV_START, bytes)),
        }
    }

    /// Reads `path` in blocks (any size) and records it.
    pub fn read(path: &Path) -> Result<Self> {
        use std::io::Read;
        let what = || format!("cannot read {}", path.display());
        let mut f = std::fs::File::open(path).with_context(what)?;
        let (mut h, mut n, mut buf) = (FNV_START, 0u64, vec![0u8; 1 << 20]);
        loop {
            let got = f.read(&mut buf).with_context(what)?;
            if got == 0 {
                break;
            }
            h = fnv1a64(h, &buf[..got]);
            n += got as u64;
        }
        Ok(FileRecord {
            path: path.display().to_string(),
            bytes: n,
            fnv1a64: format!("{h:016x}"),
        })
    }
}

/// The FNV-1a 64 offset basis: the hash of nothing.
pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a 64 of `bytes`, continuing from the hash `h` (start with [`FNV_START`]).
pub fn fnv1a64(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
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
