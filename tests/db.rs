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
    let hist = ok(&["db", "history", &s(&db), "--json"]);
    let lines: Vec<serde_json::Value> = hist
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let fields: Vec<&str> = lines.iter().map(|l| l["field"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "explanation",
            "tag_list",
            "note",
            "explanation_source",
            "review_status"
        ]
    );
    assert_eq!(lines[4]["new"], "needs_work");
    // For people: one line per change with its UTC time; filtered by neuron and by user.
    let text = ok(&["db", "history", &s(&db), "--neuron", "8_6502"]);
    assert_eq!(text.lines().count(), 5, "{text}");
    let first = text.lines().next().unwrap();
    assert!(
        first.contains(" UTC  ")
            && first.contains("  8_6502  explanation: (none) → \"dates, \\\"NaN\\\", 中文\""),
        "{first}"
    );
    assert_eq!(ok(&["db", "history", &s(&db), "--neuron", "9_1"]), "");
    assert_eq!(
        ok(&["db", "history", &s(&db), "--who", "nobody"]),
        "",
        "no changes by that user"
    );
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
fn source_date_epoch_fixes_the_recorded_time() {
    // What tools/build_sample.sh sets, so a rebuild records the same dates byte for byte.
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("n.json");
    let o = bin()
        .env("SOURCE_DATE_EPOCH", "1795910400")
        .args(["db", "set", &s(&db), "3_7", "--note", "fixed"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let hist = ok(&["db", "history", &s(&db), "--json"]);
    let rec: serde_json::Value = serde_json::from_str(hist.lines().next().unwrap()).unwrap();
    assert_eq!(rec["time"], 1_795_910_400_000u64);
    // Without it, the clock.
    let o = bin()
        .env_remove("SOURCE_DATE_EPOCH")
        .args(["db", "set", &s(&db), "3_7", "--note", "now"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let hist = ok(&["db", "history", &s(&db), "--json"]);
    let rec: serde_json::Value = serde_json::from_str(hist.lines().nth(1).unwrap()).unwrap();
    assert!(rec["time"].as_u64().unwrap() > 1_795_910_400_000u64);
}

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

/// Each neuron's text in a database file in our (pretty-printed) format, by neuron id, without
/// the comma that separates it from the next.
fn neuron_texts(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let starts = line.starts_with("    \"") && !line.starts_with("     ");
        if starts || line == "  }" || line == "  }," {
            if let Some((id, t)) = current.take() {
                out.insert(id, t.trim_end_matches(',').to_string());
            }
        }
        if starts {
            let id = line.trim_start().trim_start_matches('"');
            current = Some((id[..id.find('"').unwrap()].to_string(), String::new()));
        }
        if let Some((_, t)) = &mut current {
            t.push_str(line);
            t.push('\n');
        }
    }
    out
}

/// Loading and saving a database unedited gives the same bytes: the fixtures, the sample, and
/// the real Safe-SAIL `en_db.json` (when `../shared` is present) in both of its forms.
#[test]
fn every_database_round_trips_byte_for_byte() {
    use safe_sail::db::editable::EditableDb;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    for f in [
        "tests/fixtures/workspace/neurons.json",
        "sample_data/neurons.json",
    ] {
        let bytes = std::fs::read(root.join(f)).unwrap();
        let d = EditableDb::load(&root.join(f)).unwrap();
        let out = tmp.path().join("copy.json");
        d.save(&out).unwrap();
        assert!(
            std::fs::read(&out).unwrap() == bytes,
            "{f} changes when saved unedited"
        );
        assert_eq!(
            neuron_texts(&String::from_utf8(bytes).unwrap()).len(),
            d.entries.len()
        );
    }
    let Some(dir) = shared_external("safe-sail") else {
        return;
    };
    let bytes = std::fs::read(dir.join("en_db.json")).unwrap();
    let d = EditableDb::load(&dir.join("en_db.json")).unwrap();
    assert!(
        d.to_safe_sail().as_bytes() == bytes,
        "en_db.json changes when written back"
    );
    // Through our form: saved, read again, saved again: the same bytes each time.
    let ours = tmp.path().join("en_db-editable.json");
    d.save(&ours).unwrap();
    let first = std::fs::read(&ours).unwrap();
    let again = EditableDb::load(&ours).unwrap();
    again.save(&ours).unwrap();
    assert!(
        std::fs::read(&ours).unwrap() == first,
        "our form of en_db.json is not stable"
    );
    assert!(again.to_safe_sail().as_bytes() == bytes);
}

/// The bug report: after a `score` run on layer-1 latents, layer-3 records had their
/// `correlation_score` changed in the last digit (0.36607142857142844 → 0.3660714285714285).
/// A score run and a `db set` change the neurons they touch, and no other neuron's bytes.
#[test]
fn a_score_run_changes_no_other_neurons_bytes() {
    use safe_sail::db::editable::EditableDb;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("neurons.json");
    // The fixture's neurons, and layer-3 ones with numbers that are easy to get wrong.
    let mut d = EditableDb::load(&root.join("tests/fixtures/workspace/neurons.json")).unwrap();
    let hard = [
        "0.36607142857142844",
        "9.999999999999999e-5",
        "1e-7",
        "5e-324",
        "1.7976931348623157e308",
        "-0.0",
        "123456789012345680000",
        "0.30000000000000004",
        "18446744073709551615",
        "-9223372036854775808",
    ];
    for (i, x) in hard.iter().enumerate() {
        let rec = format!(
            r#"{{"explanation": "hard number {i} 数", "correlation_score": {x}, "tag_list": ["violence"], "zz_unknown": {{"b": 1, "a": [{x}]}}, "review_status": "verified"}}"#
        );
        d.entries
            .insert(format!("3_{i}"), serde_json::from_str(&rec).unwrap());
    }
    d.save(&db).unwrap();
    let before = std::fs::read_to_string(&db).unwrap();
    for x in hard {
        let written =
            serde_json::to_string(&serde_json::from_str::<serde_json::Value>(x).unwrap()).unwrap();
        assert!(before.contains(&written), "{x} is written as {written}");
    }
    let o = bin()
        .args(["score", "--store"])
        .arg(root.join("tests/fixtures/workspace/stores/L1"))
        .args([
            "--db",
            &s(&db),
            "--llm",
            "baseline",
            "--non-activating",
            "0",
        ])
        .args(["--concurrency", "2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after = std::fs::read_to_string(&db).unwrap();
    let (a, b) = (neuron_texts(&before), neuron_texts(&after));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let changed: Vec<&String> = a.keys().filter(|k| a[*k] != b[*k]).collect();
    assert!(!changed.is_empty(), "the run scored something");
    assert!(
        changed.iter().all(|k| k.starts_with("1_")),
        "only layer-1 neurons change: {changed:?}"
    );
    // Every scored neuron is in the history, and nothing else.
    let history = safe_sail::db::editable::read_history(&db).unwrap();
    assert!(history.iter().all(|c| c.neuron.starts_with("1_")));
    // A `db set` of one neuron changes that neuron only.
    ok(&["db", "set", &s(&db), "2_40", "--note", "checked"]);
    let c = neuron_texts(&std::fs::read_to_string(&db).unwrap());
    let changed: Vec<&String> = b.keys().filter(|k| b[*k] != c[*k]).collect();
    assert_eq!(changed, ["2_40"]);
}

/// `db set --explanation` on a scored, verified neuron: the score is kept but marked stale
/// (and so left out of `--min-score`), the review needs another look, and the new author is
/// recorded; in a Safe-SAIL file the mark lives in the review sidecar, and the file itself
/// keeps its score byte for byte. A new score would clear the mark.
#[test]
fn a_new_explanation_makes_the_score_stale_and_the_review_open() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("en_db.json");
    let original = r#"{"8_1": {"explanation": "bombs", "correlation_score": 0.61, "tag_list": ["terror"]}, "8_2": {"explanation": "votes", "correlation_score": 0.4, "tag_list": ["politics"]}}"#;
    std::fs::write(&db, original).unwrap();
    ok(&["db", "set", &s(&db), "8_1", "--status", "verified"]);
    let o = bin()
        .env("SAFE_SAIL_USER", "editor-b")
        .args([
            "db",
            "set",
            &s(&db),
            "8_1",
            "--explanation",
            "explosives and 炸弹",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&["db", "show", &s(&db), "8_1"])).unwrap();
    assert_eq!(shown["explanation"], "explosives and 炸弹");
    assert_eq!(shown["correlation_score"], 0.61, "the old score is kept");
    assert_eq!(shown["score_stale"], true);
    assert_eq!(shown["review_status"], "needs_work");
    assert_eq!(shown["explanation_source"]["explainer"], "human");
    assert_eq!(shown["explanation_source"]["author"], "editor-b");
    // The Safe-SAIL file keeps its form (score included); the mark is in the sidecar.
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&db).unwrap()).unwrap();
    assert_eq!(file["8_1"]["correlation_score"], 0.61);
    assert!(file["8_1"].get("score_stale").is_none());
    let side: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("en_db.json.review.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(side["neurons"]["8_1"]["score_stale"], true);
    // A stale score reaches no --min-score.
    let out = tmp.path().join("released.json");
    ok(&[
        "db",
        "export",
        &s(&db),
        "--out",
        &s(&out),
        "--min-score",
        "0.2",
    ]);
    let released: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let keys: Vec<&String> = released.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["8_2"]);
    // Imported into our format and back: the mark survives.
    let ours = tmp.path().join("ours.json");
    ok(&["db", "import", &s(&db), "--db", &s(&ours)]);
    let hist = ok(&[
        "db",
        "history",
        &s(&db),
        "--neuron",
        "8_1",
        "--who",
        "editor-b",
    ]);
    assert!(hist.contains("score_stale: (none) → true"), "{hist}");
    assert!(
        hist.contains("review_status: \"verified\" → \"needs_work\""),
        "{hist}"
    );
}

fn fails(args: &[&str]) -> String {
    let o = bin().args(args).output().unwrap();
    assert!(!o.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Sub-categories on the command line: `db set --tag domain/sub`, checked against the
/// taxonomy; `db show --tag` and `db export --tag` filter by domain or sub-category; the
/// Safe-SAIL form carries them in `subcategory_list` and round-trips byte for byte.
#[test]
fn subcategory_tags_set_filter_and_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("n.json");
    ok(&[
        "db",
        "set",
        &s(&db),
        "8_1",
        "--tag",
        "terror/weapons, politics",
    ]);
    ok(&[
        "db",
        "set",
        &s(&db),
        "8_2",
        "--tags",
        "Terror/Extremist activities",
    ]);
    ok(&[
        "db",
        "set",
        &s(&db),
        "8_3",
        "--tags",
        "terror",
        "--explanation",
        "bombs",
    ]);
    ok(&["db", "set", &s(&db), "8_4", "--tags", "violence/insult"]);
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&["db", "show", &s(&db), "8_1"])).unwrap();
    assert_eq!(shown["tag_list"], serde_json::json!(["terror", "politics"]));
    assert_eq!(
        shown["subcategory_list"],
        serde_json::json!(["terror/weapons"])
    );
    // An unknown sub-category is refused, naming the valid ones, and changes nothing.
    let err = fails(&["db", "set", &s(&db), "8_3", "--tag", "terror/bombs"]);
    assert!(
        err.contains("`bombs` is not a sub-category of terror (valid: terror/terrorism, terror/religious oppression, terror/extremist activities, terror/weapons)"),
        "{err}"
    );
    let err = fails(&["db", "show", &s(&db), "--tag", "terror/bombs"]);
    assert!(err.contains("valid: terror/terrorism"), "{err}");
    // Listing by domain (sub-categories included) and by sub-category.
    let ids = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.contains("  "))
            .map(|l| l.split("  ").next().unwrap().to_string())
            .collect()
    };
    let terror = ok(&["db", "show", &s(&db), "--tag", "terror"]);
    assert_eq!(ids(&terror), ["8_1", "8_2", "8_3"], "{terror}");
    assert!(
        terror.contains("8_1  —  terror/weapons, politics"),
        "{terror}"
    );
    assert!(terror.ends_with("3 neurons with tag terror\n"), "{terror}");
    let weapons = ok(&["db", "show", &s(&db), "--tag", "terror/weapons"]);
    assert_eq!(ids(&weapons), ["8_1"]);
    // Export filtered by sub-category, then the whole database: the Safe-SAIL form holds
    // subcategory_list, and importing and exporting it again gives the same bytes.
    let part = tmp.path().join("part.json");
    ok(&[
        "db",
        "export",
        &s(&db),
        "--tag",
        "terror/extremist activities",
        "--out",
        &s(&part),
    ]);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&part).unwrap()).unwrap();
    assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["8_2"]);
    let full = tmp.path().join("full.json");
    ok(&["db", "export", &s(&db), "--out", &s(&full)]);
    let text = std::fs::read_to_string(&full).unwrap();
    assert!(text.contains(r#""8_4": {"explanation": null, "correlation_score": null, "tag_list": ["violence"], "subcategory_list": ["violence/insult"]}"#), "{text}");
    assert!(
        text.contains(
            r#""8_3": {"explanation": "bombs", "correlation_score": null, "tag_list": ["terror"]}"#
        ),
        "no field without sub-categories: {text}"
    );
    let db2 = tmp.path().join("n2.json");
    let again = tmp.path().join("again.json");
    ok(&["db", "import", &s(&full), "--db", &s(&db2)]);
    ok(&["db", "export", &s(&db2), "--out", &s(&again)]);
    assert_eq!(std::fs::read(&again).unwrap(), text.as_bytes());
    // CSV names the sub-categories in its tags column.
    let csv = tmp.path().join("n.csv");
    ok(&[
        "db",
        "export",
        &s(&db),
        "--format",
        "csv",
        "--tag",
        "violence",
        "--out",
        &s(&csv),
    ]);
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(csv.contains("\"8_4\",8,4,,,\"violence/insult\""), "{csv}");
}

/// On the paper's own database: sub-categories set on two neurons change those records only,
/// and the file still round-trips byte for byte.
#[test]
fn subcategories_in_the_real_database_round_trip() {
    let Some(dir) = shared_external("safe-sail") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("neurons.json");
    ok(&["db", "import", &s(&dir.join("en_db.json")), "--db", &s(&db)]);
    ok(&[
        "db",
        "set",
        &s(&db),
        "35_10080",
        "--tags",
        "politics/ideology",
    ]);
    let out = tmp.path().join("out.json");
    ok(&["db", "export", &s(&db), "--out", &s(&out)]);
    let (a, b) = (
        std::fs::read_to_string(dir.join("en_db.json")).unwrap(),
        std::fs::read_to_string(&out).unwrap(),
    );
    let old = r#""35_10080": {"explanation": "***", "correlation_score": 0.2685862686231923, "tag_list": ["politics"]}"#;
    let new = r#""35_10080": {"explanation": "***", "correlation_score": 0.2685862686231923, "tag_list": ["politics"], "subcategory_list": ["politics/ideology"]}"#;
    assert!(a.contains(old));
    assert_eq!(a.replace(old, new), b, "only that record changed");
    let db2 = tmp.path().join("n2.json");
    let again = tmp.path().join("again.json");
    ok(&["db", "import", &s(&out), "--db", &s(&db2)]);
    ok(&["db", "export", &s(&db2), "--out", &s(&again)]);
    assert_eq!(std::fs::read_to_string(&again).unwrap(), b);
    let listed = ok(&["db", "show", &s(&db), "--tag", "politics/ideology"]);
    assert!(
        listed.starts_with("35_10080  0.269  politics/ideology  ***"),
        "{listed}"
    );
}

/// `score --min-score 0.2` marks every scored record with whether it passes; `db show` says so.
#[test]
fn score_min_score_marks_the_records() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("neurons.json");
    std::fs::copy(root.join("tests/fixtures/workspace/neurons.json"), &db).unwrap();
    let o = bin()
        .args(["score", "--store"])
        .arg(root.join("tests/fixtures/workspace/stores/L1"))
        .args([
            "--db",
            &s(&db),
            "--llm",
            "baseline",
            "--non-activating",
            "0",
        ])
        .args(["--min-score", "0.2", "--force"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d = safe_sail::db::editable::EditableDb::load(&db).unwrap();
    let (mut marked, mut passed) = (0, 0);
    for (id, e) in &d.entries {
        let Some(i) = safe_sail::db::provenance::Inclusion::of(e) else {
            continue;
        };
        assert!(id.starts_with("1_"), "only scored neurons are marked: {id}");
        let r = e["correlation_score"].as_f64();
        assert_eq!(i.min_score, 0.2);
        assert_eq!(i.included, r.is_some_and(|r| r >= 0.2), "{id}: {r:?}");
        marked += 1;
        passed += usize::from(i.included);
        let shown = ok(&["db", "show", &s(&db), id]);
        let want = if i.included {
            "release rule: r >= 0.2: included"
        } else {
            "release rule: r < 0.2:"
        };
        assert!(shown.contains(want), "{shown}");
    }
    assert!(marked > 0, "the run scored and marked some neurons");
    println!("{marked} scored neurons marked, {passed} pass r >= 0.2");
}

/// The bundled sample's explanations never show a character split over byte tokens as raw
/// bytes (`\xE5\xBF`) or as U+FFFD: baseline explanations name whole characters.
#[test]
fn the_sample_database_has_no_raw_byte_escapes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/neurons.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let db: serde_json::Value = serde_json::from_str(&text).unwrap();
    let neurons = db["neurons"].as_object().expect("a neurons map");
    assert!(neurons.len() > 1000, "{} neurons", neurons.len());
    let raw = |s: &str| {
        s.contains('\u{FFFD}')
            || s.as_bytes().windows(4).any(|w| {
                w[0] == b'\\'
                    && w[1] == b'x'
                    && w[2].is_ascii_hexdigit()
                    && w[3].is_ascii_hexdigit()
            })
    };
    let bad: Vec<&String> = neurons
        .iter()
        .filter(|(_, v)| {
            [&v["explanation"], &v["score_source"]["explanation"]]
                .iter()
                .any(|e| e.as_str().is_some_and(raw))
        })
        .map(|(k, _)| k)
        .collect();
    assert!(bad.is_empty(), "raw bytes in the explanations of {bad:?}");
}

/// A score by another method, as `score --method` records it.
fn method_score(
    method: &str,
    explanation: &str,
    ba: Option<f64>,
    f1: Option<f64>,
    auc: Option<f64>,
) -> safe_sail::db::provenance::MethodScore {
    safe_sail::db::provenance::MethodScore {
        method: method.into(),
        scorer: "judge".into(),
        explanation: explanation.into(),
        prompt_version: "v".into(),
        positives: 10,
        negatives: 5,
        date: "unix:1764000000".into(),
        balanced_accuracy: ba,
        f1,
        precision: None,
        recall: None,
        auc,
    }
}

/// `db show` and our CSV / Parquet exports carry the scores by other methods where a record
/// has them (one column per method and number), and leave them out of Safe-SAIL JSON.
#[test]
fn method_scores_in_show_csv_and_parquet() {
    use safe_sail::db::editable::{Edit, EditableDb};
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("neurons.json");
    let mut d = EditableDb::default();
    for (id, e) in [("3_1", "dates"), ("3_2", "colours"), ("3_3", "cats")] {
        d.apply(
            id,
            &Edit {
                explanation: Some(Some(e.into())),
                ..Default::default()
            },
            "t",
        )
        .unwrap();
    }
    let put = |d: &mut EditableDb, id: &str, m| {
        d.apply(
            id,
            &Edit {
                method_score: Some(m),
                ..Default::default()
            },
            "t",
        )
        .unwrap();
    };
    put(
        &mut d,
        "3_1",
        method_score("detection", "dates", Some(0.75), Some(0.8), Some(0.9)),
    );
    put(
        &mut d,
        "3_1",
        method_score("embedding", "dates", None, None, Some(0.625)),
    );
    put(
        &mut d,
        "3_2",
        method_score("detection", "colours", Some(0.5), None, None),
    );
    d.save(&path).unwrap();

    let show = ok(&["db", "show", &s(&path), "3_1"]);
    assert!(show.contains("\"method_scores\""), "{show}");
    assert!(
        show.contains("score by detection balanced accuracy 0.750 (F1 0.80, AUC 0.90) by judge"),
        "{show}"
    );
    assert!(
        show.contains("score by embedding AUC 0.625 by judge"),
        "{show}"
    );
    let show3 = ok(&["db", "show", &s(&path), "3_3"]);
    assert!(!show3.contains("score by"), "{show3}");
    let listed = ok(&["db", "show", &s(&path), "--tag", "none"]);
    assert!(
        listed.contains("3_1  —  detection 0.750  embedding 0.625"),
        "{listed}"
    );
    assert!(listed.contains("3_3  —  "), "{listed}");

    let csv = tmp.path().join("n.csv");
    ok(&[
        "db",
        "export",
        &s(&path),
        "--format",
        "csv",
        "--out",
        &s(&csv),
    ]);
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "neuron,layer,index,explanation,correlation_score,tags,review_status,note,detection_balanced_accuracy,detection_f1,detection_auc,embedding_auc"
    );
    let row = |id: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("\"{id}\"")))
            .unwrap()
            .to_string()
    };
    assert!(
        row("3_1").ends_with(",0.75,0.8,0.9,0.625"),
        "{}",
        row("3_1")
    );
    assert!(row("3_2").ends_with(",0.5,,,"), "{}", row("3_2"));
    assert!(row("3_3").ends_with(",,,,"), "{}", row("3_3"));

    let pq = tmp.path().join("n.parquet");
    ok(&[
        "db",
        "export",
        &s(&path),
        "--format",
        "parquet",
        "--out",
        &s(&pq),
    ]);
    use polars::prelude::*;
    let df = ParquetReader::new(std::fs::File::open(&pq).unwrap())
        .finish()
        .unwrap();
    let n = df.height();
    let names = df.column("neuron").unwrap().str().unwrap().clone();
    let ids: Vec<String> = (0..n).map(|i| names.get(i).unwrap().to_string()).collect();
    let col = |name: &str| -> Vec<Option<f64>> {
        let c = df.column(name).unwrap().f64().unwrap().clone();
        (0..n).map(|i| c.get(i)).collect()
    };
    let at = |id: &str| ids.iter().position(|x| x == id).unwrap();
    assert_eq!(col("detection_balanced_accuracy")[at("3_1")], Some(0.75));
    assert_eq!(col("detection_balanced_accuracy")[at("3_2")], Some(0.5));
    assert_eq!(col("detection_f1")[at("3_2")], None);
    assert_eq!(col("embedding_auc")[at("3_1")], Some(0.625));
    assert_eq!(col("embedding_auc")[at("3_3")], None);
    assert!(df.column("fuzzing_auc").is_err());

    // Safe-SAIL JSON stays without them; a database without any has the old CSV header.
    let ss = tmp.path().join("ss.json");
    ok(&[
        "db",
        "export",
        &s(&path),
        "--format",
        "safe-sail",
        "--out",
        &s(&ss),
    ]);
    assert!(!std::fs::read_to_string(&ss)
        .unwrap()
        .contains("method_scores"));
    let plain = EditableDb::load(&ss).unwrap();
    assert_eq!(
        plain.to_csv().lines().next().unwrap(),
        "neuron,layer,index,explanation,correlation_score,tags,review_status,note"
    );
}
