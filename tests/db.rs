//! The neuron database on the command line: lossless Safe-SAIL round trips (on the real
//! `en_db.json` when `../shared` is present), edits with history, and a kill -9 while typing.

mod common;

use common::*;
use std::io::BufRead;
use std::path::Path;

fn ok(args: &[&str]) -> String {
    let o = bin().args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn real_safe_sail_database_round_trips_byte_for_byte() {
    let Some(dir) = shared_external("safe-sail") else {
        return;
    };
    let src = dir.join("en_db.json");
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("neurons.json");
    let out = tmp.path().join("en_db.json");
    ok(&["db", "import", &s(&src), "--db", &s(&db)]);
    ok(&[
        "db",
        "export",
        &s(&db),
        "--format",
        "safe-sail",
        "--out",
        &s(&out),
    ]);
    let a = std::fs::read(&src).unwrap();
    let b = std::fs::read(&out).unwrap();
    assert!(
        a == b,
        "export differs from the original ({} vs {} bytes)",
        a.len(),
        b.len()
    );
    // The edge cases are really in there.
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 4700);
    assert!(v["35_2536"]["explanation"].is_null());
    assert_eq!(v["35_10080"]["explanation"], "***");
    assert!(v["35_11062"]["explanation"]
        .as_str()
        .unwrap()
        .contains('\u{1}'));
    assert!(v["8_15881"]["explanation"]
        .as_str()
        .unwrap()
        .contains('\u{1F9F9}'));
    // Editing one neuron changes only that neuron in the export.
    ok(&[
        "db",
        "set",
        &s(&db),
        "35_10067",
        "--explanation",
        "Line-initial punctuation 标点",
        "--tags",
        "violence",
        "--status",
        "verified",
    ]);
    ok(&["db", "export", &s(&db), "--out", &s(&out)]);
    let w: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        w["35_10067"]["explanation"],
        "Line-initial punctuation 标点"
    );
    assert_eq!(w["35_10067"]["tag_list"], serde_json::json!(["violence"]));
    assert!(
        w["35_10067"].get("review_status").is_none(),
        "our fields stay out of Safe-SAIL exports"
    );
    let mut v = v;
    v["35_10067"] = w["35_10067"].clone();
    assert_eq!(v, w);
}

#[test]
fn set_show_history_and_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("n.json");
    ok(&[
        "db",
        "set",
        &s(&db),
        "8_6502",
        "--explanation",
        "dates, \"NaN\", 中文",
        "--tags",
        "politics,violence",
        "--note",
        "check",
    ]);
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&["db", "show", &s(&db), "8_6502"])).unwrap();
    assert_eq!(shown["explanation"], "dates, \"NaN\", 中文");
    assert_eq!(
        shown["tag_list"],
        serde_json::json!(["politics", "violence"])
    );
    ok(&["db", "set", &s(&db), "8_6502", "--status", "needs work"]);
    let hist = ok(&["db", "history", &s(&db)]);
    let lines: Vec<serde_json::Value> = hist
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let fields: Vec<&str> = lines.iter().map(|l| l["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["explanation", "tag_list", "note", "review_status"]);
    assert_eq!(lines[3]["new"], "needs_work");
    let csv = tmp.path().join("n.csv");
    ok(&[
        "db",
        "export",
        &s(&db),
        "--format",
        "csv",
        "--out",
        &s(&csv),
    ]);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.contains("\"8_6502\",8,6502,\"dates, \"\"NaN\"\", 中文\",,\"politics;violence\",needs_work,\"check\""), "{text}");
    let pq = tmp.path().join("n.parquet");
    ok(&[
        "db",
        "export",
        &s(&db),
        "--format",
        "parquet",
        "--out",
        &s(&pq),
    ]);
    {
        use polars::prelude::*;
        let df = ParquetReader::new(std::fs::File::open(&pq).unwrap())
            .finish()
            .unwrap();
        assert_eq!(df.height(), 1);
        assert_eq!(
            df.column("neuron").unwrap().str().unwrap().get(0),
            Some("8_6502")
        );
        assert_eq!(
            df.column("explanation").unwrap().str().unwrap().get(0),
            Some("dates, \"NaN\", 中文")
        );
        assert_eq!(
            df.column("review_status").unwrap().str().unwrap().get(0),
            Some("needs_work")
        );
        assert_eq!(
            df.column("tags")
                .unwrap()
                .list()
                .unwrap()
                .get_as_series(0)
                .unwrap()
                .len(),
            2
        );
    }
    // Bad input.
    let o = bin()
        .args(["db", "set", &s(&db), "nonsense", "--note", "x"])
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("LAYER_INDEX"));
    let o = bin()
        .args(["db", "set", &s(&db), "1_1", "--status", "maybe"])
        .output()
        .unwrap();
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("unknown review status")
    );
    let o = bin().args(["db", "show", &s(&db), "9_9"]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("not in"));
}

/// A child process types through the window's autosave; it is killed with SIGKILL mid-way.
/// The database must be valid and hold every keystroke typed more than a second before.
#[test]
fn kill_9_while_typing_loses_at_most_the_last_second() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("typing.json");
    let mut child = bin()
        .args(["db", "type-test", &s(&db), "--seconds", "30"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let start = std::time::Instant::now();
    let mut typed: Vec<(u64, u64)> = vec![];
    while start.elapsed() < std::time::Duration::from_millis(2500) {
        let l = lines.next().unwrap().unwrap();
        let mut p = l.split(' ');
        typed.push((
            p.next().unwrap().parse().unwrap(),
            p.next().unwrap().parse().unwrap(),
        ));
    }
    child.kill().unwrap(); // SIGKILL
    let killed_at = safe_sail::db::editable::now_ms();
    child.wait().unwrap();
    let d = safe_sail::db::editable::EditableDb::load(&db)
        .expect("the database is valid after kill -9");
    let text = d.record("0_0").unwrap().explanation.unwrap();
    let saved = text.split_whitespace().count() as u64;
    let must_have = typed
        .iter()
        .filter(|(_, t)| *t + 1000 <= killed_at)
        .map(|(n, _)| *n)
        .max()
        .unwrap();
    assert!(
        saved >= must_have,
        "saved {saved} keystrokes, but {must_have} were typed more than 1 s before the kill"
    );
    assert!(saved <= typed.last().unwrap().0 + 5);
    // No temporary files left that could be mistaken for the database.
    assert!(db.exists());
}

/// `db apply`: an annotator's batch of edits lands with provenance and history; a file with a
/// misspelled field or an unknown status is refused and changes nothing.
#[test]
fn apply_a_batch_of_reviewed_explanations() {
    let tmp = tempfile::tempdir().unwrap();
    // A folder that does not exist yet: the first write makes it.
    let db = tmp.path().join("neurons/candidate.json");
    let edits = tmp.path().join("reviews.json");
    std::fs::write(
        &edits,
        r#"[{"neuron": "1_7", "explanation": "\"爆炸\" (explosion) in attack reports", "tags": ["terror"], "status": "verified"},
            {"neuron": "2_3", "status": "needs_work", "note": "two meanings"}]"#,
    )
    .unwrap();
    let out = bin()
        .args(["db", "apply", &s(&db), &s(&edits)])
        .env("SAFE_SAIL_USER", "annotator-a")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = safe_sail::db::editable::EditableDb::load(&db).unwrap();
    let r = &d.entries["1_7"];
    assert_eq!(r["explanation_source"]["explainer"], "human");
    assert_eq!(r["explanation_source"]["author"], "annotator-a");
    assert_eq!(r["review_status"], "verified");
    assert_eq!(d.note("2_3"), "two meanings");
    let history = safe_sail::db::editable::read_history(&db).unwrap();
    assert!(history
        .iter()
        .any(|c| c.neuron == "1_7" && c.field == "explanation" && c.who == "annotator-a"));

    let before = std::fs::read(&db).unwrap();
    for bad in [
        r#"[{"neuron": "1_7", "explanaton": "typo"}]"#,
        r#"[{"neuron": "1_7", "status": "approved"}]"#,
        r#"{"neuron": "1_7"}"#,
    ] {
        std::fs::write(&edits, bad).unwrap();
        let o = bin()
            .args(["db", "apply", &s(&db), &s(&edits)])
            .output()
            .unwrap();
        assert!(!o.status.success(), "{bad} must be refused");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("reviews.json") || err.contains("approved"),
            "{err}"
        );
        assert_eq!(
            std::fs::read(&db).unwrap(),
            before,
            "nothing written for {bad}"
        );
    }
}
