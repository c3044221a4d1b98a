//! Many writers on one neuron database at once: processes running `db set` and `db apply`, the
//! window's autosave (an `EditSession` in this process) beside them, a reader in a loop, and a
//! true conflict. Nothing is lost, nothing is half-written, a conflict is reported.

mod common;

use common::*;
use safe_sail::db::autosave::EditSession;
use safe_sail::db::editable::{read_history, Edit, EditableDb};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn note(text: &str) -> Edit {
    Edit {
        note: Some(text.into()),
        ..Default::default()
    }
}

/// `safe-sail db set DB NEURON --note TEXT`, which must succeed.
fn db_set(db: &Path, neuron: &str, text: &str) {
    let o = bin()
        .args(["db", "set", &s(db), neuron, "--note", text])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "db set {neuron}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// No temporary or lock files are left in `dir`.
fn no_leftovers(dir: &Path) {
    let left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.ends_with(".lock"))
        .collect();
    #[cfg(not(unix))]
    let left: Vec<String> = left.into_iter().filter(|n| !n.ends_with(".lock")).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn wait_saved(s: &mut EditSession) {
    let t = Instant::now();
    while s.dirty() && !s.conflict && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
        s.tick();
    }
    assert!(!s.dirty() || s.conflict, "the session saved in time");
}

/// The race of the bug report: 8 processes, each running 25 `db set` on its own neurons of one
/// database. Before the lock, the database kept a fraction of the 200 edits.
#[test]
fn eight_processes_of_25_db_sets_keep_all_200_edits() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("neurons.json");
    std::thread::scope(|scope| {
        for p in 0..8 {
            let db = &db;
            scope.spawn(move || {
                for i in 0..25 {
                    db_set(db, &format!("7_{}", p * 25 + i), &format!("p{p} i{i}"));
                }
            });
        }
    });
    let d = EditableDb::load(&db).unwrap();
    let kept = (0..200)
        .filter(|n| d.note(&format!("7_{n}")) == format!("p{} i{}", n / 25, n % 25))
        .count();
    assert_eq!(kept, 200, "edits kept");
    assert_eq!(d.entries.len(), 200);
    let history = read_history(&db).unwrap();
    assert_eq!(history.len(), 200, "one history record per edit written");
    no_leftovers(tmp.path());
}

/// The window's autosave keeps saving while `db apply` runs in other processes: both sides'
/// edits end up in the file, and the window's copy sees the others' edits.
#[test]
fn the_windows_autosave_racing_db_apply_keeps_both_sides() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("neurons.json");
    let batches: Vec<_> = (0..10)
        .map(|j| {
            let f = tmp.path().join(format!("edits-{j}.json"));
            let rows: Vec<_> = (0..5)
                .map(|k| serde_json::json!({"neuron": format!("2_{}", j * 5 + k), "note": format!("apply {j}.{k}"), "status": "verified"}))
                .collect();
            std::fs::write(&f, serde_json::to_string(&rows).unwrap()).unwrap();
            f
        })
        .collect();
    let mut session = EditSession::open(&db, || {}).unwrap();
    let mut expected = std::collections::HashMap::new();
    std::thread::scope(|scope| {
        let db = &db;
        // Two annotators, five batches each, one `db apply` process per batch.
        let annotators: Vec<_> = batches
            .chunks(5)
            .map(|mine| {
                scope.spawn(move || {
                    for f in mine {
                        let o = bin().args(["db", "apply", &s(db), &s(f)]).output().unwrap();
                        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                    }
                })
            })
            .collect();
        // Meanwhile someone types in the window, saved as it goes (every third edit at once,
        // to save often), until the annotators are done.
        let mut i = 0;
        while i < 60 || annotators.iter().any(|a| !a.is_finished()) {
            let id = format!("1_{}", i % 50);
            let text = format!("window {i}");
            session.edit(&id, &note(&text)).unwrap();
            expected.insert(id, text);
            if i % 3 == 0 {
                session.flush();
            } else {
                session.tick();
            }
            std::thread::sleep(Duration::from_millis(5));
            i += 1;
        }
        for a in annotators {
            a.join().unwrap();
        }
    });
    session.flush();
    wait_saved(&mut session);
    assert!(!session.conflict, "{:?}", session.conflicts);
    assert_eq!(session.last_error, None);
    let d = EditableDb::load(&db).unwrap();
    for (id, text) in &expected {
        assert_eq!(d.note(id), text, "the window's edit of {id}");
    }
    for n in 0..50 {
        assert_eq!(
            d.note(&format!("2_{n}")),
            format!("apply {}.{}", n / 5, n % 5),
            "the annotator's edit of 2_{n}"
        );
        assert_eq!(
            d.status(&format!("2_{n}")),
            safe_sail::db::editable::ReviewStatus::Verified
        );
        // The window's copy has them too.
        assert_eq!(
            session.db.note(&format!("2_{n}")),
            d.note(&format!("2_{n}"))
        );
    }
    assert_eq!(d.entries.len(), 100);
    // The history holds the applied edits and the window's (coalesced) ones, nothing twice.
    let h = read_history(&db).unwrap();
    let applied = h.iter().filter(|c| c.neuron.starts_with("2_")).count();
    assert_eq!(applied, 100, "note and status of 50 neurons");
    let mut seen = BTreeSet::new();
    for c in h.iter().filter(|c| c.neuron.starts_with("1_")) {
        assert!(
            seen.insert((c.neuron.clone(), c.new.to_string())),
            "twice: {c:?}"
        );
    }
    no_leftovers(tmp.path());
}

/// A reader in a loop while 4 processes write: every read is a whole, valid database, and
/// neurons only ever appear (a lost update would make some vanish again).
#[test]
fn a_reader_never_sees_a_half_written_database() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("neurons.json");
    db_set(&db, "0_0", "first");
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut reads = 0;
    std::thread::scope(|scope| {
        for p in 0..4 {
            let (db, done) = (&db, &done);
            scope.spawn(move || {
                for i in 0..15 {
                    db_set(db, &format!("5_{}", p * 15 + i), &format!("w{p} n{i} ✓"));
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        let mut before: BTreeSet<String> = BTreeSet::new();
        while done.load(std::sync::atomic::Ordering::SeqCst) < 4 {
            let text = std::fs::read_to_string(&db).expect("the database is always there");
            let d = EditableDb::parse(&text)
                .unwrap_or_else(|e| panic!("read {reads}: not a whole database: {e:#}"));
            let now: BTreeSet<String> = d.entries.keys().cloned().collect();
            assert!(
                now.is_superset(&before),
                "neurons vanished: {:?}",
                before.difference(&now).collect::<Vec<_>>()
            );
            for id in now.iter().filter(|k| k.starts_with("5_")) {
                let n = d.note(id);
                assert!(n.starts_with('w') && n.ends_with('✓'), "{id}: {n:?}");
            }
            before = now;
            reads += 1;
        }
    });
    assert!(
        reads > 10,
        "the reader ran while the writers did ({reads} reads)"
    );
    assert_eq!(EditableDb::load(&db).unwrap().entries.len(), 61);
}

/// The window and a `db set` change the same field: the file keeps the other's value, the
/// window keeps its own and reports the conflict; the user's choice then decides.
#[test]
fn a_true_conflict_is_reported_not_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("neurons.json");
    let mut session = EditSession::open(&db, || {}).unwrap();
    session.edit("5_5", &note("first")).unwrap();
    wait_saved(&mut session);
    db_set(&db, "5_5", "theirs");
    db_set(&db, "6_6", "other");
    session.edit("5_5", &note("mine")).unwrap();
    session.edit("7_7", &note("unrelated")).unwrap();
    let t = Instant::now();
    while !session.conflict && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
        session.tick();
    }
    assert!(session.conflict, "the conflict is reported");
    assert_eq!(session.conflicts.len(), 1);
    let k = &session.conflicts[0];
    assert_eq!((k.neuron.as_str(), k.field.as_str()), ("5_5", "note"));
    assert_eq!(
        (&k.base, &k.theirs, &k.mine),
        (&"first".into(), &"theirs".into(), &"mine".into())
    );
    assert!(k.to_string().contains("theirs"), "{k}");
    wait_saved(&mut session);
    let d = EditableDb::load(&db).unwrap();
    assert_eq!(d.note("5_5"), "theirs", "not overwritten");
    assert_eq!(d.note("6_6"), "other");
    assert_eq!(d.note("7_7"), "unrelated", "the other edits are saved");
    assert_eq!(session.db.note("5_5"), "mine", "and mine is not dropped");
    assert!(session.dirty());
    assert!(
        session.take_changed_on_disk().contains(&"6_6".to_string()),
        "the window is told what others changed"
    );
    session.merge().unwrap();
    wait_saved(&mut session);
    assert!(!session.dirty() && !session.conflict);
    let d = EditableDb::load(&db).unwrap();
    assert_eq!(d.note("5_5"), "mine");
    assert_eq!(d.note("6_6"), "other");
    let h = read_history(&db).unwrap();
    let notes: Vec<_> = h
        .iter()
        .filter(|c| c.neuron == "5_5")
        .map(|c| (c.old.clone(), c.new.clone()))
        .collect();
    assert_eq!(
        notes,
        [
            (serde_json::Value::Null, "first".into()),
            ("first".into(), "theirs".into()),
            ("theirs".into(), "mine".into())
        ],
        "the history tells what really replaced what"
    );
    no_leftovers(tmp.path());
}

/// The same on the paper's own format: a Safe-SAIL database edited in place by the window and
/// by `db set` at once. The conflict on an explanation is reported, the merge keeps both
/// sides, and the file stays Safe-SAIL JSON (no `format` marker, review fields in the sidecar).
#[test]
fn a_conflict_in_a_safe_sail_database_is_reported_and_the_file_keeps_its_form() {
    use safe_sail::db::editable::{review_path, DbKind, ReviewStatus};
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("en_db.json");
    let rec = |e: &str| serde_json::json!({"explanation": e, "correlation_score": 0.5, "tag_list": ["violence"]});
    std::fs::write(
        &db,
        serde_json::json!({"0_1": rec("knives"), "0_2": rec("guns"), "8_3": rec("riots")})
            .to_string(),
    )
    .unwrap();
    let explain = |text: &str| Edit {
        explanation: Some(Some(text.into())),
        ..Default::default()
    };
    let mut session = EditSession::open(&db, || {}).unwrap();
    assert_eq!(session.db.kind, DbKind::SafeSail);
    // Saved as it goes, in the file's own form.
    session.edit("0_1", &explain("blades and knives")).unwrap();
    session.edit("0_1", &note("checked")).unwrap();
    wait_saved(&mut session);
    let text = std::fs::read_to_string(&db).unwrap();
    assert!(
        !text.contains("\"format\"") && text.contains("blades and knives"),
        "{text}"
    );
    assert!(std::fs::read_to_string(review_path(&db))
        .unwrap()
        .contains("checked"));
    // Someone else changes the same explanation and another neuron's status.
    let o = bin()
        .args(["db", "set", &s(&db), "0_1", "--explanation", "theirs"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = bin()
        .args(["db", "set", &s(&db), "8_3", "--status", "verified"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    session.edit("0_1", &explain("mine")).unwrap();
    session.edit("0_2", &explain("firearms")).unwrap();
    let t = Instant::now();
    while !session.conflict && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
        session.tick();
    }
    assert!(session.conflict, "the conflict is reported");
    let k = &session.conflicts[0];
    assert_eq!(
        (k.neuron.as_str(), k.field.as_str()),
        ("0_1", "explanation")
    );
    assert_eq!((&k.theirs, &k.mine), (&"theirs".into(), &"mine".into()));
    wait_saved(&mut session);
    let d = EditableDb::load(&db).unwrap();
    assert_eq!(d.kind, DbKind::SafeSail);
    assert_eq!(
        d.record("0_1").unwrap().explanation.as_deref(),
        Some("theirs"),
        "not overwritten"
    );
    assert_eq!(
        d.record("0_2").unwrap().explanation.as_deref(),
        Some("firearms")
    );
    assert_eq!(d.status("8_3"), ReviewStatus::Verified);
    session.merge().unwrap();
    wait_saved(&mut session);
    assert!(!session.dirty() && !session.conflict);
    let d = EditableDb::load(&db).unwrap();
    assert_eq!(
        d.record("0_1").unwrap().explanation.as_deref(),
        Some("mine")
    );
    assert_eq!(d.note("0_1"), "checked");
    assert_eq!(
        d.status("8_3"),
        ReviewStatus::Verified,
        "their status is kept"
    );
    let text = std::fs::read_to_string(&db).unwrap();
    assert!(
        !text.contains("\"format\"") && !text.contains("review_status"),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v.as_object().unwrap().len(),
        3,
        "still a plain map of records"
    );
    no_leftovers(tmp.path());
}
