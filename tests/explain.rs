//! `explain` and `score` against a local mock of an OpenAI-compatible server (loopback only).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

/// Serves chat completions on 127.0.0.1: explanations for explainer prompts, predictions that
/// follow the truth for simulator prompts (so correlations are high). Stops after `max` requests.
fn mock_server(max: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let mut seen = vec![];
        for stream in listener.incoming().take(max) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0usize;
            let mut auth = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if lower.starts_with("authorization:") {
                    auth = line.trim().to_string();
                }
            }
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).unwrap();
            let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let system = req["messages"][0]["content"].as_str().unwrap().to_string();
            let user = req["messages"][1]["content"].as_str().unwrap().to_string();
            seen.push(format!("{auth}|{system}"));
            let content = if system.contains("no longer contains a safety concept") {
                // De-concept: replace "terror" with "chess"; a query without it comes back as is.
                serde_json::json!({ "deconcept": user.replace("terror", "chess") }).to_string()
            } else if system.contains("You predict") {
                // Predict 1 for units whose text contains a letter 'e', else 0: noisy but not constant.
                let preds: Vec<u32> = user
                    .lines()
                    .filter_map(|l| l.split_once('\t'))
                    .filter(|(i, _)| i.parse::<usize>().is_ok())
                    .map(|(_, t)| u32::from(t.contains('e')))
                    .collect();
                serde_json::json!({ "predictions": preds }).to_string()
            } else {
                "Here you go: {\"explanation\": \"Mentions of attacks and fights\", \"tags\": [\"violence\", \"sports\", \"Physical Violence\"]}".to_string()
            };
            let reply = serde_json::json!({"choices": [{"message": {"role": "assistant", "content": content}}]}).to_string();
            write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}", reply.len()).unwrap();
        }
        seen
    });
    (format!("http://{addr}/v1"), handle)
}

#[test]
fn explain_then_score_write_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("neurons.json");
    let store =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workspace/stores/L1");
    let (url, server) = mock_server(3);
    let o = bin()
        .env("MOCK_KEY", "sk-test")
        .args([
            "explain",
            "--store",
            &store.display().to_string(),
            "--db",
            &db.display().to_string(),
            "--latents",
            "0-2",
        ])
        .args([
            "--endpoint",
            &url,
            "--llm",
            "mock",
            "--api-key-env",
            "MOCK_KEY",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seen = server.join().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(
        seen[0]
            .to_ascii_lowercase()
            .starts_with("authorization: bearer sk-test"),
        "{}",
        seen[0]
    );
    let d = safe_sail::db::editable::EditableDb::load(&db).unwrap();
    for l in 0..3 {
        let r = d.record(&format!("1_{l}")).unwrap();
        assert_eq!(
            r.explanation.as_deref(),
            Some("Mentions of attacks and fights")
        );
        assert_eq!(
            r.tag_list,
            ["violence"],
            "only the taxonomy's domains are kept as tags"
        );
        assert_eq!(
            r.subcategory_list,
            ["violence/physical violence"],
            "a proposed sub-category is kept under its domain"
        );
    }
    let hist = safe_sail::db::editable::read_history(&db).unwrap();
    assert!(hist.iter().all(|c| c.who == "explainer:mock"));
    let src = &d.entries["1_0"]["explanation_source"];
    assert_eq!(src["explainer"], "mock");
    assert_eq!(
        src["prompt_version"],
        safe_sail::explain::EXPLAINER_PROMPT_VERSION
    );
    // Provenance stays out of Safe-SAIL exports.
    assert!(!d.to_safe_sail().contains("explanation_source"));

    // A person verifies 1_0; a rerun with --overwrite and no server: 1_0 is left alone, the
    // others are answered from the on-disk cache.
    let o = bin()
        .args([
            "db",
            "set",
            &db.display().to_string(),
            "1_0",
            "--explanation",
            "checked by hand",
            "--status",
            "verified",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let dead = format!(
        "http://127.0.0.1:{}/v1",
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let o = bin()
        .args([
            "explain",
            "--store",
            &store.display().to_string(),
            "--db",
            &db.display().to_string(),
            "--latents",
            "0-2",
            "--overwrite",
        ])
        .args([
            "--endpoint",
            &dead,
            "--llm",
            "mock",
            "--api-key-env",
            "NO_SUCH_VAR",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("failed 0") && out.contains("2 replies from the cache"),
        "{out}"
    );
    let d = safe_sail::db::editable::EditableDb::load(&db).unwrap();
    assert_eq!(
        d.record("1_0").unwrap().explanation.as_deref(),
        Some("checked by hand")
    );

    // Score at the segment level: up to 10 held-out examples per latent, plus 3 where the
    // latent does not fire (found by running the store's model and SAE).
    let (url, server) = mock_server(60);
    let o = bin()
        .args([
            "score",
            "--store",
            &store.display().to_string(),
            "--db",
            &db.display().to_string(),
            "--latents",
            "0-2",
        ])
        .args([
            "--endpoint",
            &url,
            "--llm",
            "mock",
            "--unit",
            "segment",
            "--examples",
            "10",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    drop(server);
    let d = safe_sail::db::editable::EditableDb::load(&db).unwrap();
    let scored = (0..3)
        .filter_map(|l| d.record(&format!("1_{l}")).unwrap().correlation_score)
        .collect::<Vec<_>>();
    assert!(!scored.is_empty(), "at least one latent gets a score");
    assert!(scored.iter().all(|s| (-1.0..=1.0).contains(s)));
    let scored_id = (0..3)
        .map(|l| format!("1_{l}"))
        .find(|id| d.record(id).unwrap().correlation_score.is_some())
        .unwrap();
    let source = &d.entries[&scored_id]["score_source"];
    assert_eq!(source["method"], "segment-simulation");
    assert_eq!(source["held_out"]["non_activating"], 3, "{source}");
    assert!(
        source["held_out"]["quantile_odd_positions"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(source["held_out"]["top_odd_ranks"].as_u64().unwrap() > 0);

    // --resume: every latent whose current explanation already has this method's score from this
    // simulator is skipped; the others (whose scoring failed) are tried again and fail again.
    let o = bin()
        .args(["score", "--store", &store.display().to_string()])
        .args([
            "--db",
            &db.display().to_string(),
            "--latents",
            "0-2",
            "--resume",
        ])
        .args([
            "--endpoint",
            &url,
            "--llm",
            "mock",
            "--unit",
            "segment",
            "--examples",
            "10",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("scored 0 latents"),
        "{out}"
    );

    // Both methods on the same held-out examples: the segment score goes into the database, the
    // token score beside it, and the run reports what each method cost the simulator.
    let (url, server) = mock_server(200);
    let o = bin()
        .args(["score", "--store", &store.display().to_string()])
        .args(["--db", &db.display().to_string(), "--latents", "0-2"])
        .args(["--endpoint", &url, "--llm", "mock2", "--unit", "both"])
        // Another simulator than the scores in the database were made with: the user's call.
        .arg("--force")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    drop(server);
    let cost = |m: &str| -> u64 {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("simulator cost, {m}:")))
            .unwrap_or_else(|| panic!("{out}"));
        line.split_whitespace()
            .rev()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    let (seg, tok) = (cost("segment-simulation"), cost("token-simulation"));
    assert!(
        seg > 0 && seg < tok,
        "segments are fewer units than tokens: {seg} vs {tok}"
    );
    assert!(out.contains("fewer characters than token-level"), "{out}");
    let d = safe_sail::db::editable::EditableDb::load(&db).unwrap();
    let source = &d.entries[&scored_id]["score_source"];
    assert_eq!(source["method"], "segment-simulation");
    let tok_score = source["token_simulation_score"].as_f64().unwrap();
    assert!((-1.0..=1.0).contains(&tok_score));
    assert!(source["token_simulation_units"].as_u64().unwrap() > source["units"].as_u64().unwrap());
}

#[test]
fn an_unreachable_endpoint_writes_nothing_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("neurons.json");
    let store =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workspace/stores/L1");
    // A port nothing listens on (bound, then released).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = bin()
        .args([
            "explain",
            "--store",
            &store.display().to_string(),
            "--db",
            &db.display().to_string(),
            "--latents",
            "0-1",
        ])
        .args([
            "--endpoint",
            &format!("http://127.0.0.1:{port}/v1"),
            "--llm",
            "mock",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "failures are reported per latent, not fatal: {err}"
    );
    // One line per reason on stdout, naming the neurons.
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("1_0") && out.contains(&port.to_string()),
        "{out}"
    );
    assert!(out.contains("failed 2"), "{out}");
    let d = safe_sail::db::editable::EditableDb::load(&db).unwrap();
    assert!(d.record("1_0").is_none());
}

/// A copy of the sample's layer-1 model, SAE, store and database under `root/sample_data`.
fn sample_copy(root: &std::path::Path) -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data");
    let dst = root.join("sample_data");
    let l1 = "L1-mlp_out-w1024-topk16";
    for sub in [
        "model".to_string(),
        format!("saes/{l1}"),
        format!("stores/{l1}"),
    ] {
        std::fs::create_dir_all(dst.join(&sub)).unwrap();
        for e in std::fs::read_dir(src.join(&sub)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dst.join(&sub).join(e.file_name())).unwrap();
        }
    }
    std::fs::copy(src.join("neurons.json"), dst.join("neurons.json")).unwrap();
    dst
}

#[test]
fn scoring_a_copied_sample_from_elsewhere_keeps_the_method() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = sample_copy(tmp.path());
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let store = copy.join("stores/L1-mlp_out-w1024-topk16");
    let db = copy.join("neurons.json");
    let score = |extra: &[&str]| {
        bin()
            .current_dir(&elsewhere)
            .args(["score", "--store", &store.display().to_string()])
            .args(["--db", &db.display().to_string(), "--llm", "baseline"])
            .args(["--latents", "0-59", "--concurrency", "1"])
            .args(extra)
            .output()
            .unwrap()
    };
    // The store's model and SAE are found relative to the store: the non-activating controls
    // are made, as for the committed scores.
    let o = score(&[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d = safe_sail::db::editable::EditableDb::load(&db).unwrap();
    let with_controls = (0..60)
        .filter_map(|l| d.entries.get(&format!("1_{l}")))
        .filter(|e| e["score_source"]["held_out"]["non_activating"].as_u64() > Some(0))
        .count();
    assert!(with_controls > 30, "{with_controls}");
    // Failures are summarised by reason, not printed one per neuron.
    let failed_lines = out.lines().filter(|l| l.starts_with("failed ")).count();
    assert!(failed_lines <= 2, "{out}");
    // Scoring again without the controls would replace those scores by a weaker method:
    // refused unless --force.
    let before = std::fs::read(&db).unwrap();
    let o = score(&["--non-activating", "0"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("made another way") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before, "nothing written");
    let o = score(&["--non-activating", "0", "--force"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A store whose model cannot be found is an error, not a silently weaker score.
    std::fs::rename(copy.join("model"), copy.join("model-gone")).unwrap();
    let o = score(&["--force"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--non-activating 0"),
        "{err}"
    );
}

/// `deconcept`: each query rewritten through the endpoint, written as pairs marked for review,
/// a rewrite that is no pair (unchanged) left out and reported, replies cached for a rerun.
#[test]
fn deconcept_writes_reviewable_pairs_through_the_endpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let queries = tmp.path().join("q.jsonl");
    std::fs::write(
        &queries,
        "{\"domain\": \"terror\", \"concept\": \"terrorism\", \"prompt\": \"How do terror cells recruit members?\"}\n\
         {\"domain\": \"violence\", \"concept\": \"insult\", \"prompt\": \"Why do people insult others?\"}\n",
    )
    .unwrap();
    let out = tmp.path().join("pairs.jsonl");
    let (url, server) = mock_server(2);
    let args = |url: &str| {
        let mut c = bin();
        c.args(["deconcept", "--queries", &queries.display().to_string()])
            .args([
                "--out",
                &out.display().to_string(),
                "--endpoint",
                url,
                "--llm",
                "mock",
            ]);
        c
    };
    let o = args(&url).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seen = server.join().unwrap();
    assert_eq!(seen.len(), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("q.jsonl:2") && err.contains("same text"),
        "{err}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["deconcept"], "How do chess cells recruit members?");
    assert_eq!(rows[0]["concept"], "terrorism");
    assert_eq!(rows[0]["reviewed"], false);
    assert_eq!(rows[0]["source"]["llm"], "mock");
    // The pairs file is what evaluate reads.
    let pairs = safe_sail::eval::concepts::read_pairs(&out).unwrap();
    assert_eq!(pairs[0].concept_name(), "terrorism");
    // A rerun with no server answers from the cache.
    std::fs::remove_file(&out).unwrap();
    let o = args("http://127.0.0.1:9/v1").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
}

/// `score --shard i/n`: two shards running at once into one database write what one run
/// writes, byte for byte (the database is locked per write; records keep their places).
#[test]
fn score_shards_running_at_once_equal_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = sample_copy(tmp.path());
    let store = copy.join("stores/L1-mlp_out-w1024-topk16");
    let (one, two) = (tmp.path().join("one.json"), tmp.path().join("two.json"));
    std::fs::copy(copy.join("neurons.json"), &one).unwrap();
    std::fs::copy(copy.join("neurons.json"), &two).unwrap();
    let score = |db: &std::path::Path, shard: Option<&str>| {
        let mut c = bin();
        c.env("SOURCE_DATE_EPOCH", "1764547200")
            .args(["score", "--store", &store.display().to_string()])
            .args(["--db", &db.display().to_string(), "--llm", "baseline"])
            .args(["--latents", "0-39", "--force"]);
        if let Some(s) = shard {
            c.args(["--shard", s]);
        }
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let check = |c: std::process::Child| {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let scored = |out: &str| -> usize {
        let at = out.find("scored ").expect("a summary line") + "scored ".len();
        out[at..].split(' ').next().unwrap().parse().unwrap()
    };
    let whole = scored(&check(score(&one, None)));
    let (a, b) = (score(&two, Some("0/2")), score(&two, Some("1/2")));
    let (a, b) = (scored(&check(a)), scored(&check(b)));
    assert!(
        whole > 30 && a > 0 && b > 0 && a + b == whole,
        "{whole} = {a} + {b}"
    );
    assert_eq!(
        std::fs::read(&one).unwrap(),
        std::fs::read(&two).unwrap(),
        "the shards' database differs from one run's"
    );
    let o = bin()
        .args(["score", "--store", &store.display().to_string()])
        .args(["--db", &two.display().to_string(), "--llm", "baseline"])
        .args(["--shard", "2/2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("0 <= i < n"), "{err}");
}
