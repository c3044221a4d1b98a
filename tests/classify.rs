//! Detection and fuzzing scores against a loopback mock of an OpenAI-compatible server: a good
//! reply gives the hand-computed balanced accuracy and F1, through the cache on a second call;
//! a malformed reply, a wrong count and a refused request give no score.

use safe_sail::explain::classify::{score, Method, Shown};
use safe_sail::explain::client::LlmClient;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

/// Answers each request with the next of `replies` (status, content); returns the requests'
/// bodies.
fn scripted(
    replies: Vec<(u16, String)>,
) -> (String, std::thread::JoinHandle<Vec<serde_json::Value>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let mut seen = vec![];
        for (status, content) in replies {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
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
            seen.push(serde_json::from_slice(&body).unwrap());
            let reply = serde_json::json!({"choices": [{"message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 7}})
            .to_string();
            let reason = if status == 200 { "OK" } else { "Bad Request" };
            write!(stream, "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}", reply.len()).unwrap();
        }
        seen
    });
    (format!("http://{addr}/v1"), h)
}

fn examples() -> (Vec<Shown>, Vec<bool>) {
    let ex = |t: &[&str], h: &[bool]| Shown {
        tokens: t.iter().map(|s| s.to_string()).collect(),
        highlighted: h.to_vec(),
    };
    (
        vec![
            ex(&["the", " knife", " attack"], &[false, true, true]),
            ex(&["a", " punch"], &[false, true]),
            ex(&["sunny", " day"], &[true, false]),
            ex(&["tea", " time"], &[false, false]),
        ],
        vec![true, true, false, false],
    )
}

#[test]
fn detection_and_fuzzing_score_through_the_client() {
    let (url, h) = scripted(vec![
        (200, "Here: {\"judgements\": [1, 0, 0, 0]}".into()),
        (200, "{\"judgements\": [1, 1, 1, 0]}".into()),
        (200, "I am not sure.".into()),
        (200, "{\"judgements\": [1, 1]}".into()),
        (400, "bad".into()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let client = LlmClient::new(&url, "judge", None).with_cache(dir.path());
    let (shown, truth) = examples();
    // Detection: TP 1, FN 1, TN 2 → balanced accuracy (0.5 + 1)/2, F1 2/3.
    let d = score(&client, Method::Detection, "violence", &shown, &truth).unwrap();
    assert!((d.balanced_accuracy - 0.75).abs() < 1e-12);
    assert!((d.f1.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(d.usage.prompt_tokens, 100);
    // Fuzzing: TP 2, FP 1, TN 1 → (1 + 0.5)/2, F1 4/5.
    let f = score(&client, Method::Fuzzing, "violence", &shown, &truth).unwrap();
    assert!((f.balanced_accuracy - 0.75).abs() < 1e-12);
    assert!((f.f1.unwrap() - 0.8).abs() < 1e-12);
    // The same question again comes from the cache (no request).
    let again = score(&client, Method::Detection, "violence", &shown, &truth).unwrap();
    assert_eq!(again.balanced_accuracy, d.balanced_accuracy);
    assert_eq!(client.cached.load(std::sync::atomic::Ordering::Relaxed), 1);
    // Failures give no score.
    let e = score(&client, Method::Detection, "other", &shown, &truth).unwrap_err();
    assert!(format!("{e:#}").contains("no score"), "{e:#}");
    let e = score(&client, Method::Detection, "third", &shown, &truth).unwrap_err();
    assert!(format!("{e:#}").contains("not 4"), "{e:#}");
    let e = score(&client, Method::Detection, "fourth", &shown, &truth).unwrap_err();
    assert!(format!("{e:#}").contains("400"), "{e:#}");
    // Only matches: no score, and no request.
    assert!(score(&client, Method::Detection, "x", &shown, &[true; 4]).is_err());
    let seen = h.join().unwrap();
    assert_eq!(seen.len(), 5);
    let user = seen[1]["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("the<< knife attack>>"), "{user}");
    assert!(seen[0]["messages"][1]["content"]
        .as_str()
        .unwrap()
        .contains("the knife attack"));
}
