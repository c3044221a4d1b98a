//! `score --method detection|fuzzing|embedding` against a loopback mock of an OpenAI-compatible
//! server: good answers give the hand-computed balanced accuracy, F1 and AUC, stored per method
//! beside the simulation score; malformed answers and a failing server give no score and say so.

mod common;

use common::*;
use safe_sail::db::editable::{Edit, EditableDb};
use safe_sail::db::provenance::MethodScore;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// How the mock answers.
#[derive(Clone, Copy)]
enum Mode {
    /// Detection: 1 for every text but the last three (the non-activating contexts come last),
    /// with log-probs when asked. Fuzzing: 1 for every text. Embeddings: the explanation and all
    /// but the last three texts along one axis, the last three along another.
    Good,
    /// Prose without judgements; embeddings with one vector missing.
    Malformed,
}

/// Serves `/v1/chat/completions` and `/v1/embeddings` on 127.0.0.1 until `max` requests;
/// returns the (path, body) of each.
fn mock(mode: Mode, max: usize) -> (String, std::thread::JoinHandle<Vec<(String, Value)>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let mut seen = vec![];
        for stream in listener.incoming().take(max) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).unwrap();
            let req: Value = serde_json::from_slice(&body).unwrap();
            let reply = if path.ends_with("/embeddings") {
                let input = req["input"].as_array().unwrap();
                let n = input.len() - 1;
                let mut data: Vec<Value> = (0..=n)
                    .map(|i| {
                        let e = if i == 0 || i + 3 <= n {
                            [1.0, 0.1 * i as f64]
                        } else {
                            [0.0, 1.0]
                        };
                        json!({"index": i, "embedding": e})
                    })
                    .collect();
                if matches!(mode, Mode::Malformed) {
                    data.pop();
                }
                json!({"data": data, "usage": {"prompt_tokens": 50, "total_tokens": 50}})
            } else {
                let system = req["messages"][0]["content"].as_str().unwrap();
                let user = req["messages"][1]["content"].as_str().unwrap();
                let n = user
                    .lines()
                    .filter(|l| l.split_once('\t').is_some_and(|(i, _)| i.parse::<usize>().is_ok()))
                    .count();
                let judged: Vec<u32> = (0..n)
                    .map(|i| u32::from(system.contains("highlighted") || i + 3 < n))
                    .collect();
                let content = match mode {
                    Mode::Good => json!({ "judgements": judged }).to_string(),
                    Mode::Malformed => "These all look similar to me.".to_string(),
                };
                let mut choice = json!({"message": {"role": "assistant", "content": content}});
                if req["logprobs"] == json!(true) {
                    // "[", then one token per judgement: P(chosen) 0.9, the other digit 0.1.
                    let mut toks = vec![json!({"token": "{\"judgements\": [", "logprob": 0.0})];
                    for j in &judged {
                        let (a, b) = (j.to_string(), (1 - j).to_string());
                        toks.push(json!({"token": a, "logprob": 0.9f64.ln(), "top_logprobs": [
                            {"token": a, "logprob": 0.9f64.ln()}, {"token": b, "logprob": 0.1f64.ln()}]}));
                        toks.push(json!({"token": ",", "logprob": 0.0}));
                    }
                    toks.push(json!({"token": "]}", "logprob": 0.0}));
                    choice["logprobs"] = json!({ "content": toks });
                }
                json!({"choices": [choice], "usage": {"prompt_tokens": 100, "completion_tokens": 9}})
            }
            .to_string();
            write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}", reply.len()).unwrap();
            seen.push((path, req));
        }
        seen
    });
    (format!("http://{addr}/v1"), h)
}

fn store() -> PathBuf {
    fixtures().join("workspace/stores/L1")
}

/// A database with explanations (and a simulation score) for neurons 1_0..1_2.
fn database(dir: &Path) -> PathBuf {
    let path = dir.join("neurons.json");
    let mut db = EditableDb::default();
    for l in 0..3 {
        let e = Edit {
            explanation: Some(Some(format!("Mentions of \"the\" number {l}"))),
            ..Default::default()
        };
        db.apply(&format!("1_{l}"), &e, "ann").unwrap();
    }
    db.save(&path).unwrap();
    path
}

fn score(db: &Path, url: &str, args: &[&str]) -> std::process::Output {
    bin()
        .args(["score", "--store", &store().display().to_string()])
        .args(["--db", &db.display().to_string(), "--latents", "0-2"])
        .args(["--endpoint", url, "--concurrency", "1"])
        .args(args)
        .output()
        .unwrap()
}

fn scores(db: &Path, method: &str) -> Vec<MethodScore> {
    let d = EditableDb::load(db).unwrap();
    (0..3)
        .filter_map(|l| MethodScore::of(&d.entries[&format!("1_{l}")], method))
        .collect()
}

fn close(a: Option<f64>, b: f64) {
    let a = a.expect("a value");
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

#[test]
fn detection_scores_with_balanced_accuracy_f1_and_auc() {
    let tmp = tempfile::tempdir().unwrap();
    let db = database(tmp.path());
    let (url, server) = mock(Mode::Good, 3);
    let o = score(
        &db,
        &url,
        &["--llm", "judge", "--method", "detection", "--logprobs"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seen = server.join().unwrap();
    assert!(seen.iter().all(|(p, r)| p == "/v1/chat/completions"
        && r["model"] == "judge"
        && r["logprobs"] == json!(true)));
    let got = scores(&db, "detection");
    assert_eq!(got.len(), 3, "{out}");
    for s in &got {
        // Up to 10 held-out examples where the latent fires and 3 where it does not; the mock
        // judges all but the last three as matches: every judgement right.
        assert_eq!(s.negatives, 3, "{s:?}");
        assert!(s.positives > 0);
        assert_eq!(
            (s.scorer.as_str(), s.prompt_version.as_str()),
            (
                "judge",
                safe_sail::explain::classify::CLASSIFY_PROMPT_VERSION
            )
        );
        close(s.balanced_accuracy, 1.0);
        close(s.f1, 1.0);
        close(s.auc, 1.0);
    }
    assert!(out.contains("scorer cost, detection: 327 tokens"), "{out}");
    assert!(
        out.contains("mean balanced accuracy: 1.000 over 3 latents"),
        "{out}"
    );
    assert!(out.contains("mean AUC: 1.000 over 3 latents"), "{out}");
    // The simulation score field is untouched, and the history names the scorer.
    let d = EditableDb::load(&db).unwrap();
    assert_eq!(d.record("1_0").unwrap().correlation_score, None);
    let hist = safe_sail::db::editable::read_history(&db).unwrap();
    assert!(hist
        .iter()
        .any(|c| c.who == "scorer:judge" && c.field == "method_scores"));
    // Rerun with no server: answered from the cache, the same scores.
    let dead = "http://127.0.0.1:9/v1";
    let o = score(
        &db,
        dead,
        &["--llm", "judge", "--method", "detection", "--logprobs"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("3 replies from the cache"),
        "{out}"
    );
    let undated = |v: Vec<MethodScore>| -> Vec<MethodScore> {
        v.into_iter()
            .map(|s| MethodScore {
                date: String::new(),
                ..s
            })
            .collect()
    };
    assert_eq!(undated(scores(&db, "detection")), undated(got));
    // --resume skips what is already scored this way.
    let o = score(
        &db,
        dead,
        &["--llm", "judge", "--method", "detection", "--resume"],
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("scored 0 latents, skipped 3"));
}

#[test]
fn fuzzing_scores_beside_detection() {
    let tmp = tempfile::tempdir().unwrap();
    let db = database(tmp.path());
    let (url, server) = mock(Mode::Good, 6);
    let o = score(&db, &url, &["--llm", "judge", "--method", "detection"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = score(&db, &url, &["--llm", "judge", "--method", "fuzzing"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seen = server.join().unwrap();
    assert!(seen[3..]
        .iter()
        .all(|(_, r)| r["messages"][1]["content"].as_str().unwrap().contains("<<")));
    let fz = scores(&db, "fuzzing");
    assert_eq!(fz.len(), 3);
    for s in &fz {
        // Every text judged a match: recall 1, specificity 0; F1 = 2P / (2P + N).
        assert!(s.positives > 0 && s.negatives > 0, "{s:?}");
        close(s.balanced_accuracy, 0.5);
        let (p, n) = (s.positives as f64, s.negatives as f64);
        close(s.f1, 2.0 * p / (2.0 * p + n));
        assert_eq!(s.auc, None, "no log-probs asked for");
    }
    // Both methods' scores are kept, each with its method.
    let d = EditableDb::load(&db).unwrap();
    let all = MethodScore::all_of(&d.entries["1_1"]);
    let methods: Vec<&str> = all.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, ["detection", "fuzzing"]);
    assert!(!d.to_safe_sail().contains("method_scores"));
}

#[test]
fn embedding_scores_rank_by_similarity() {
    let tmp = tempfile::tempdir().unwrap();
    let db = database(tmp.path());
    let (url, server) = mock(Mode::Good, 3);
    // No chat model needed.
    let o = score(
        &db,
        &url,
        &["--method", "embedding", "--embedding-model", "emb"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seen = server.join().unwrap();
    assert!(seen
        .iter()
        .all(|(p, r)| p == "/v1/embeddings" && r["model"] == "emb"));
    assert!(seen[0].1["input"][0]
        .as_str()
        .unwrap()
        .starts_with("Mentions of"));
    let got = scores(&db, "embedding");
    assert_eq!(got.len(), 3, "{out}");
    for s in &got {
        close(s.auc, 1.0);
        assert_eq!((s.balanced_accuracy, s.scorer.as_str()), (None, "emb"));
    }
    assert!(out.contains("mean AUC: 1.000 over 3 latents"), "{out}");
    // Cached like chat calls.
    let o = score(
        &db,
        "http://127.0.0.1:9/v1",
        &["--method", "embedding", "--embedding-model", "emb"],
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("3 replies from the cache"));
    // Without --embedding-model, or without non-activating examples: refused up front.
    let o = score(&db, &url, &["--llm", "x", "--method", "embedding"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--embedding-model"));
    let o = score(
        &db,
        &url,
        &[
            "--llm",
            "x",
            "--method",
            "detection",
            "--non-activating",
            "0",
        ],
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("--non-activating N > 0"));
    let o = score(
        &db,
        &url,
        &["--llm", "x", "--method", "fuzzing", "--unit", "token"],
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("simulation methods"));
}

#[test]
fn malformed_answers_and_a_failing_server_give_no_score() {
    let tmp = tempfile::tempdir().unwrap();
    let db = database(tmp.path());
    let before = std::fs::read(&db).unwrap();
    let (url, server) = mock(Mode::Malformed, 6);
    let o = score(&db, &url, &["--llm", "judge", "--method", "detection"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("failed 3: no score: the scorer's reply holds no"),
        "{out}"
    );
    let o = score(
        &db,
        &url,
        &["--method", "embedding", "--embedding-model", "emb"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("scored 0 latents, skipped 0, failed 3"),
        "{out}"
    );
    assert!(
        out.lines()
            .filter(|l| l.starts_with("failed "))
            .all(|l| l.contains("no score:") && l.contains("embeddings for")),
        "{out}"
    );
    server.join().unwrap();
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = score(
        &db,
        &format!("http://127.0.0.1:{port}/v1"),
        &["--llm", "judge", "--method", "fuzzing"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("failed 3") && out.contains(&port.to_string()),
        "{out}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before, "nothing written");
}
