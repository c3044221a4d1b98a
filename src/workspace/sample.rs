//! Where the bundled sample workspace is, and the per-user copy the window opens instead of
//! it, so that edits never touch the installed (or checked-out) `sample_data/neurons.json`.
//!
//! The sample is found, in order, at `$SAFE_SAIL_SAMPLE` (its `sample.sail.json` or its
//! folder), `./sample_data`, and beside the binary: `sample_data/`, `../share/safe-sail/
//! sample_data/` (an install prefix) and `../../sample_data` (a cargo build in a checkout:
//! `target/release/safe-sail`). The user's copy lives in [`user_data_dir`]`/sample`: the
//! workspace file and its neuron databases are copied there on first use; models, SAEs, stores
//! and evaluations stay where they are and are referred to.

use super::Workspace;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The sample's workspace file name.
pub const SAMPLE_FILE: &str = "sample.sail.json";

/// The bundled sample's workspace file, if one of the places it may be holds it.
pub fn bundled_sample() -> Option<PathBuf> {
    let mut candidates = vec![];
    if let Some(p) = std::env::var_os("SAFE_SAIL_SAMPLE") {
        let p = PathBuf::from(p);
        candidates.push(if p.is_dir() { p.join(SAMPLE_FILE) } else { p });
    }
    candidates.push(PathBuf::from("sample_data").join(SAMPLE_FILE));
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok())
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        for rel in [
            "sample_data",
            "../share/safe-sail/sample_data",
            "../../sample_data",
        ] {
            candidates.push(exe_dir.join(rel).join(SAMPLE_FILE));
        }
    }
    first_existing(candidates)
}

fn first_existing(candidates: Vec<PathBuf>) -> Option<PathBuf> {
    candidates.into_iter().find(|p| p.is_file())
}

/// Where the explorer keeps per-user data: `$SAFE_SAIL_HOME`, else the platform's data folder
/// (`$XDG_DATA_HOME/safe-sail` or `~/.local/share/safe-sail` on Linux,
/// `~/Library/Application Support/safe-sail` on macOS, `%APPDATA%\safe-sail` on Windows).
pub fn user_data_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = var("SAFE_SAIL_HOME") {
        return Some(p);
    }
    let base = if cfg!(target_os = "windows") {
        var("APPDATA")
    } else if cfg!(target_os = "macos") {
        var("HOME").map(|h| h.join("Library/Application Support"))
    } else {
        var("XDG_DATA_HOME").or_else(|| var("HOME").map(|h| h.join(".local/share")))
    };
    base.map(|b| b.join("safe-sail"))
}

/// The user's copy of the workspace at `bundled`, in `user_dir`: made on first use (the
/// workspace file and every neuron database it names, with their edit histories), refreshed
/// on later uses from the bundled workspace (new SAEs, moved files) while the user's databases
/// and inspector choices are kept. Returns the copy's workspace file.
pub fn user_copy(bundled: &Path, user_dir: &Path) -> Result<PathBuf> {
    let source = Workspace::load(bundled)?;
    std::fs::create_dir_all(user_dir)
        .with_context(|| format!("cannot create {}", user_dir.display()))?;
    let target = user_dir.join(SAMPLE_FILE);
    let previous = Workspace::load(&target).ok();
    let mut ws = source.clone();
    if let Some(prev) = &previous {
        for s in &mut ws.saes {
            if let Some(p) = prev.saes.iter().find(|p| p.name == s.name) {
                s.inspect = p.inspect;
            }
        }
    }
    // The databases: copied once (with their histories), then the user's.
    let dbs: Vec<String> = ws
        .neuron_db
        .iter()
        .chain(ws.saes.iter().filter_map(|s| s.neuron_db.as_ref()))
        .filter(|p| Path::new(p).is_relative())
        .cloned()
        .collect();
    for db in &dbs {
        let (src, dst) = (source.resolve(db), user_dir.join(db));
        if dst.exists() || !src.exists() {
            continue;
        }
        let mut history = src.clone().into_os_string();
        history.push(".history.jsonl");
        let mut history_dst = dst.clone().into_os_string();
        history_dst.push(".history.jsonl");
        for (from, to) in [(src, dst), (history.into(), history_dst.into())] {
            copy_if_exists(&from, &to)?;
        }
    }
    ws.save_as(&target)?;
    // Saved from the bundle's folder, the databases still point into the bundle: point them at
    // the user's copies (written relative to the copy's folder).
    let mut copy = Workspace::load(&target)?;
    copy.neuron_db = source.neuron_db.clone();
    for (c, s) in copy.saes.iter_mut().zip(&source.saes) {
        c.neuron_db = s.neuron_db.clone();
    }
    copy.save_as(&target)?;
    Ok(target)
}

/// Copies `from` to `to` atomically (nothing when `from` does not exist).
fn copy_if_exists(from: &Path, to: &Path) -> Result<()> {
    if !from.exists() {
        return Ok(());
    }
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let bytes = std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    crate::fsutil::write_atomic(to, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir.join("model")).unwrap();
        std::fs::create_dir_all(dir.join("saes/a")).unwrap();
        std::fs::write(dir.join("neurons.json"), r#"{"1_2": {"explanation": "x"}}"#).unwrap();
        std::fs::write(dir.join("neurons.json.history.jsonl"), "{}\n").unwrap();
        let ws = serde_json::json!({
            "name": "sample", "model": "model", "neuron_db": "neurons.json",
            "saes": [
                {"name": "a", "sae": "saes/a,k=1"},
                {"name": "b", "sae": "saes/a", "neuron_db": "neurons/b.json"}
            ]
        });
        let p = dir.join(SAMPLE_FILE);
        std::fs::write(&p, ws.to_string()).unwrap();
        p
    }

    /// The copy points at the bundle's model and SAEs and at its own databases; edits to them
    /// and the inspector choices survive a refresh; the bundle is never written.
    #[test]
    fn the_users_copy_keeps_edits_away_from_the_bundle() {
        let tmp = tempfile::tempdir().unwrap();
        let bundled = bundle(&tmp.path().join("install/sample_data"));
        let user = tmp.path().join("home/safe-sail/sample");
        let copy = user_copy(&bundled, &user).unwrap();
        let ws = Workspace::load(&copy).unwrap();
        assert_eq!(
            ws.resolve(&ws.model).canonicalize().unwrap(),
            tmp.path()
                .join("install/sample_data/model")
                .canonicalize()
                .unwrap()
        );
        assert_eq!(
            ws.sae_spec(0).unwrap().path.canonicalize().unwrap(),
            tmp.path()
                .join("install/sample_data/saes/a")
                .canonicalize()
                .unwrap()
        );
        assert_eq!(ws.neuron_db.as_deref(), Some("neurons.json"));
        assert_eq!(ws.saes[1].neuron_db.as_deref(), Some("neurons/b.json"));
        assert!(user.join("neurons.json").exists());
        assert!(user.join("neurons.json.history.jsonl").exists());
        // The user edits their database and chooses SAEs; a refresh keeps both.
        std::fs::write(
            user.join("neurons.json"),
            r#"{"1_2": {"explanation": "mine"}}"#,
        )
        .unwrap();
        let mut w = Workspace::load(&copy).unwrap();
        w.saes[0].inspect = Some(false);
        w.save_as(&copy).unwrap();
        let copy = user_copy(&bundled, &user).unwrap();
        let ws = Workspace::load(&copy).unwrap();
        assert_eq!(ws.saes[0].inspect, Some(false));
        assert!(std::fs::read_to_string(user.join("neurons.json"))
            .unwrap()
            .contains("mine"));
        assert!(
            std::fs::read_to_string(tmp.path().join("install/sample_data/neurons.json"))
                .unwrap()
                .contains("\"x\"")
        );
    }

    #[test]
    fn the_first_place_holding_the_sample_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let b = bundle(&tmp.path().join("b"));
        assert_eq!(
            first_existing(vec![tmp.path().join("a").join(SAMPLE_FILE), b.clone()]),
            Some(b)
        );
        assert_eq!(first_existing(vec![tmp.path().join("none")]), None);
    }
}
