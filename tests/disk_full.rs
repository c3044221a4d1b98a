//! A disk that fills up while saving: a clear error naming the file, and the previous
//! content intact. Uses a tiny tmpfs (needs root and `mount`; skipped with a message otherwise).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small tmpfs mounted for the test, unmounted on drop.
struct TinyDisk {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl TinyDisk {
    fn mount(kib: u32) -> Option<Self> {
        let tmp = tempfile::tempdir().ok()?;
        let dir = tmp.path().join("disk");
        std::fs::create_dir(&dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(&dir)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Self { dir, _tmp: tmp })
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_full_disk_keeps_the_database_and_says_so() {
    let Some(disk) = TinyDisk::mount(256) else {
        return;
    };
    let path = disk.dir.join("neurons.json");
    let mut db = safe_sail::db::editable::EditableDb::default();
    let edit = |text: String| safe_sail::db::editable::Edit {
        explanation: Some(Some(text)),
        ..Default::default()
    };
    db.apply("1_1", &edit("before".into()), "t").unwrap();
    db.save(&path).unwrap();
    // An explanation larger than the disk.
    db.apply("1_1", &edit("x".repeat(400 * 1024)), "t").unwrap();
    let err = format!("{:#}", db.save(&path).unwrap_err());
    assert!(
        err.contains("neurons.json") && err.to_lowercase().contains("no space left"),
        "{err}"
    );
    let back = safe_sail::db::editable::EditableDb::load(&path).unwrap();
    assert_eq!(
        back.record("1_1").unwrap().explanation.as_deref(),
        Some("before"),
        "the previous save is intact"
    );
    assert!(
        leftovers(&disk.dir).is_empty(),
        "no temporary file left: {:?}",
        leftovers(&disk.dir)
    );
}

#[test]
fn a_full_disk_fails_capture_cleanly() {
    let Some(disk) = TinyDisk::mount(64) else {
        return;
    };
    let out = disk.dir.join("acts.safetensors");
    let o = bin()
        .args([
            "capture",
            "--model",
            &fixtures().join("models/qwen2").display().to_string(),
            "--prompt",
            &"violence ".repeat(100),
        ])
        .args(["--logits", "--out", &out.display().to_string()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("acts.safetensors") && !err.contains("panicked"),
        "{err}"
    );
    assert!(!out.exists());
    assert!(leftovers(&disk.dir).is_empty());
}

#[test]
fn a_full_disk_stops_collect_cleanly_and_keeps_the_last_checkpoint() {
    let Some(disk) = TinyDisk::mount(96) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let docs = safe_sail::sample::corpus::generate(&safe_sail::sample::corpus::CorpusConfig {
        docs: 40,
        seed: 3,
        ..Default::default()
    });
    let corpus = tmp.path().join("c.jsonl");
    safe_sail::sample::corpus::write_jsonl(&docs, &corpus).unwrap();
    let out = disk.dir.join("store");
    let o = bin()
        .args([
            "collect",
            "--model",
            &fixtures().join("models/qwen2").display().to_string(),
        ])
        .args([
            "--sae",
            &fixtures()
                .join("saes/saelens_standard_legacy")
                .display()
                .to_string(),
        ])
        .args([
            "--corpus",
            &corpus.display().to_string(),
            "--context",
            "32",
            "--checkpoint-every",
            "5",
        ])
        .args(["--out", &out.display().to_string()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && !err.contains("panicked"), "{err}");
    assert!(err.to_lowercase().contains("no space left"), "{err}");
    // Whatever checkpoint was written last is whole: it loads.
    let ckpt = out.join(".collect-checkpoint.bin");
    if ckpt.exists() {
        safe_sail::store::collect::CollectState::load(&ckpt).expect("the last checkpoint is valid");
    }
    assert!(leftovers(&out).is_empty());
}
