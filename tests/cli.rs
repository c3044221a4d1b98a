//! The `safe-sail` command line: a successful capture, and every kind of bad input
//! giving a clear error (non-zero exit, the file and the problem named, no panic).

mod common;

use candle_core::{Device, Tensor};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must fail cleanly, and returns its error text.
fn fails(args: &[&str]) -> String {
    let o = run(args);
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "expected failure for {args:?}; stderr: {err}"
    );
    assert!(!err.contains("panicked"), "must not panic: {err}");
    assert!(err.contains("error:"), "an error message: {err}");
    record_golden_error(&err);
    err
}

/// With `SAFE_SAIL_GOLDEN_ERRORS=DIR` (tools/golden.sh), writes each error text to
/// `DIR/<test>.<n>.txt`, temporary paths replaced by `<TMP>`, so a refactor can show the
/// messages are unchanged.
fn record_golden_error(err: &str) {
    let Some(dir) = std::env::var_os("SAFE_SAIL_GOLDEN_ERRORS") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .replace("::", ".");
    let n = (0..)
        .find(|n| !dir.join(format!("{test}.{n}.txt")).exists())
        .unwrap();
    let mut text = String::new();
    for word in err.split_inclusive(|c: char| c.is_whitespace() || c == '"' || c == '`') {
        match word.find("/tmp/.tmp") {
            Some(i) => {
                let rest = &word[i + 9..];
                let end = rest.find('/').unwrap_or(rest.len());
                text.push_str(&word[..i]);
                text.push_str("<TMP>");
                text.push_str(&rest[end..]);
            }
            None => text.push_str(word),
        }
    }
    let repo = env!("CARGO_MANIFEST_DIR");
    std::fs::write(
        dir.join(format!("{test}.{n}.txt")),
        text.replace(repo, "<REPO>"),
    )
    .unwrap();
}

/// A copy of a fixture model folder that a test may damage.
fn copy_model(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join(name);
    std::fs::create_dir(&dst).unwrap();
    for e in std::fs::read_dir(fixtures().join("models").join(name)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    (tmp, dst)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn qwen2() -> String {
    s(&fixtures().join("models/qwen2"))
}

#[test]
fn capture_writes_hooks_sae_latents_logits_and_json() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap.safetensors");
    let sae = format!("{}", fixtures().join("saes/saelens_topk").display());
    let prompts = read_json(&fixtures().join("refs/prompts.json"));
    let text = prompts["en"]["text"].as_str().unwrap();
    let o = run(&[
        "capture",
        "--model",
        &qwen2(),
        "--sae",
        &sae,
        "--hook",
        "blocks.0.hook_resid_post",
        "--prompt",
        text,
        "--logits",
        "--json",
        "--out",
        &s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = load_refs(&out);
    let refs = load_refs(&fixtures().join("refs/qwen2/en.safetensors"));
    assert_eq!(
        got["input_ids"].to_vec1::<i64>().unwrap(),
        refs["input_ids"].to_vec1::<i64>().unwrap()
    );
    assert_close(
        "hook",
        &got["blocks.0.hook_resid_post"],
        &refs["blocks.0.hook_resid_post"],
        1e-4,
    );
    assert_close("logits", &got["logits"], &refs["logits"], 1e-4);
    let sae_ref = load_refs(&fixtures().join("refs/saes/saelens_topk.safetensors"));
    assert_close("sae acts", &got["sae.0.acts"], &sae_ref["acts"], 1e-4);
    let mut names: Vec<&String> = got.keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "blocks.0.hook_resid_post",
            "input_ids",
            "logits",
            "sae.0.acts"
        ]
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    let tokens = json["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), refs["input_ids"].dims()[0]);
    assert_eq!(tokens[0]["text"], "The");
    assert_eq!(tokens[0]["start"], 0);
    let top = json["saes"][0]["top"].as_array().unwrap();
    assert_eq!(top.len(), tokens.len());
    assert!(top.iter().all(|t| t.as_array().unwrap().len() <= 5));
    assert_eq!(json["saes"][0]["hook"], "blocks.1.hook_mlp_out");
}

#[test]
fn capture_with_chat_template_marks_special_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("chat.safetensors");
    let o = run(&[
        "capture",
        "--model",
        &qwen2(),
        "--chat",
        "--system",
        "You are a careful assistant.",
        "--prompt",
        "How do elections work? 选举如何进行？",
        "--hook",
        "blocks.2.hook_mlp_out",
        "--json",
        "--out",
        &s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let refs = load_refs(&fixtures().join("refs/qwen2/chat.safetensors"));
    let got = load_refs(&out);
    assert_eq!(
        got["input_ids"].to_vec1::<i64>().unwrap(),
        refs["input_ids"].to_vec1::<i64>().unwrap()
    );
    assert_close(
        "chat hook",
        &got["blocks.2.hook_mlp_out"],
        &refs["blocks.2.hook_mlp_out"],
        1e-4,
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let special: Vec<&str> = json["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["special"] == true)
        .map(|t| t["text"].as_str().unwrap())
        .collect();
    assert_eq!(special.first(), Some(&"<|im_start|>"));
    assert!(special.contains(&"<|im_end|>"));
}

/// `capture --mask-special-attention`: the same chat prompt with the chat markers hidden from
/// attention gives transformers' masked activations at the attended positions.
#[test]
fn capture_can_mask_the_chat_markers_from_attention() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("chat.safetensors");
    let o = run(&[
        "capture",
        "--model",
        &qwen2(),
        "--mask-special-attention",
        "--chat",
        "--system",
        "You are a careful assistant.",
        "--prompt",
        "How do elections work? 选举如何进行？",
        "--hook",
        "blocks.2.hook_mlp_out",
        "--out",
        &s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let refs = load_refs(&fixtures().join("refs/qwen2/chat_masked.safetensors"));
    let got = load_refs(&out);
    assert_eq!(
        got["input_ids"].to_vec1::<i64>().unwrap(),
        refs["input_ids"].to_vec1::<i64>().unwrap()
    );
    let keep: Vec<u32> = refs["attention_mask"]
        .to_vec1::<i64>()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, m)| **m == 1)
        .map(|(i, _)| i as u32)
        .collect();
    let idx = candle_core::Tensor::new(keep.as_slice(), &candle_core::Device::Cpu).unwrap();
    let rows = |t: &candle_core::Tensor| t.index_select(&idx, 0).unwrap();
    assert_close(
        "masked chat hook",
        &rows(&got["blocks.2.hook_mlp_out"]),
        &rows(&refs["masked.blocks.2.hook_mlp_out"]),
        1e-4,
    );
}

#[test]
fn help_lists_the_commands() {
    let o = run(&["--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    for cmd in ["capture", "generate", "sae-info", "bench", "--verbose"] {
        assert!(text.contains(cmd), "{cmd} in --help: {text}");
    }
}

#[test]
fn generate_streams_an_answer() {
    let o = run(&[
        "generate",
        "--model",
        &qwen2(),
        "--prompt",
        "The quick brown fox",
        "--max-new-tokens",
        "5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).trim().is_empty());
}

#[test]
fn missing_model_folder() {
    let err = fails(&[
        "capture",
        "--model",
        "/nonexistent/model",
        "--prompt",
        "hi",
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(err.contains("/nonexistent/model"), "{err}");
}

#[test]
fn hub_id_not_in_cache_says_what_to_download() {
    let tmp = tempfile::tempdir().unwrap();
    let o = bin()
        .env("HF_HUB_CACHE", tmp.path())
        .env("HF_HOME", tmp.path())
        .env("HOME", tmp.path())
        .args([
            "capture",
            "--model",
            "Qwen/Qwen2.5-3B-Instruct",
            "--prompt",
            "hi",
            "--out",
            "/tmp/x.safetensors",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("Hugging Face cache")
            && err.contains("huggingface-cli download Qwen/Qwen2.5-3B-Instruct"),
        "{err}"
    );
}

#[test]
fn hub_id_resolves_from_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("models--tiny--qwen2/snapshots/abc123");
    std::fs::create_dir_all(&snap).unwrap();
    for e in std::fs::read_dir(fixtures().join("models/qwen2")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), snap.join(e.file_name())).unwrap();
    }
    std::fs::create_dir_all(tmp.path().join("models--tiny--qwen2/refs")).unwrap();
    std::fs::write(tmp.path().join("models--tiny--qwen2/refs/main"), "abc123").unwrap();
    let out = tmp.path().join("o.safetensors");
    let o = bin()
        .env("HF_HUB_CACHE", tmp.path())
        .args([
            "capture",
            "--model",
            "tiny/qwen2",
            "--prompt",
            "hello",
            "--hook",
            "blocks.0.hook_mlp_out",
            "--out",
            &s(&out),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.exists());
}

#[test]
fn corrupt_and_truncated_safetensors() {
    let (_t, dir) = copy_model("qwen2");
    let file = dir.join("model.safetensors");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let err = fails(&[
        "capture",
        "--model",
        &s(&dir),
        "--prompt",
        "hi",
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(
        err.contains("model.safetensors") && err.contains("not a valid safetensors"),
        "{err}"
    );
    std::fs::write(&file, b"garbage").unwrap();
    let err = fails(&[
        "capture",
        "--model",
        &s(&dir),
        "--prompt",
        "hi",
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(err.contains("model.safetensors"), "{err}");
}

#[test]
fn missing_shard() {
    let (_t, dir) = copy_model("qwen2_sharded");
    std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).unwrap();
    let err = fails(&[
        "capture",
        "--model",
        &s(&dir),
        "--prompt",
        "hi",
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(
        err.contains("model-00002-of-00002.safetensors") && err.contains("missing"),
        "{err}"
    );
}

fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v = read_json(path);
    f(&mut v);
    std::fs::write(path, serde_json::to_string(&v).unwrap()).unwrap();
}

#[test]
fn unknown_model_type() {
    let (_t, dir) = copy_model("qwen2");
    edit_json(&dir.join("config.json"), |v| {
        v["model_type"] = "mamba".into()
    });
    let err = fails(&[
        "capture",
        "--model",
        &s(&dir),
        "--prompt",
        "hi",
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(
        err.contains("mamba") && err.contains("config.json"),
        "{err}"
    );
}

#[test]
fn weights_that_do_not_match_the_config() {
    let (_t, dir) = copy_model("qwen2");
    edit_json(&dir.join("config.json"), |v| {
        v["intermediate_size"] = 100.into()
    });
    let err = fails(&[
        "capture",
        "--model",
        &s(&dir),
        "--prompt",
        "hi",
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(err.contains("gate_proj") && err.contains("shape"), "{err}");
}

#[test]
fn unknown_hook_and_layer_out_of_range() {
    let err = fails(&[
        "capture",
        "--model",
        &qwen2(),
        "--prompt",
        "hi",
        "--hook",
        "blocks.1.hook_z",
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(err.contains("unknown hook point"), "{err}");
    let err = fails(&[
        "capture",
        "--model",
        &qwen2(),
        "--prompt",
        "hi",
        "--hook",
        "blocks.9.hook_mlp_out",
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(
        err.contains("out of range") && err.contains("blocks.9"),
        "{err}"
    );
}

#[test]
fn sae_width_must_match_its_hook() {
    // A SAELens SAE with d_in 32 on a model of width 64.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("narrow");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("cfg.json"),
        r#"{"architecture":"standard","d_in":32,"d_sae":16,"apply_b_dec_to_input":false,"metadata":{"hook_name":"blocks.1.hook_mlp_out"}}"#,
    )
    .unwrap();
    let z = |shape: &[usize]| Tensor::zeros(shape, candle_core::DType::F32, &Device::Cpu).unwrap();
    let tensors = std::collections::HashMap::from([
        ("W_enc".to_string(), z(&[32, 16])),
        ("b_enc".to_string(), z(&[16])),
        ("W_dec".to_string(), z(&[16, 32])),
        ("b_dec".to_string(), z(&[32])),
    ]);
    candle_core::safetensors::save(&tensors, dir.join("sae_weights.safetensors")).unwrap();
    let err = fails(&[
        "capture",
        "--model",
        &qwen2(),
        "--prompt",
        "hi",
        "--sae",
        &s(&dir),
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(
        err.contains("d_in = 32") && err.contains("width 64"),
        "{err}"
    );
}

#[test]
fn broken_sae_files() {
    let tmp = tempfile::tempdir().unwrap();
    let pt = tmp.path().join("ckpt.pt");
    std::fs::write(&pt, b"not a zip").unwrap();
    let err = fails(&[
        "sae-info",
        &format!("{},hook=blocks.1.hook_mlp_out,activation=topk:8", s(&pt)),
    ]);
    assert!(
        err.contains("ckpt.pt") && err.contains("not a PyTorch zip"),
        "{err}"
    );
    let npz = tmp.path().join("params.npz");
    std::fs::write(&npz, b"not a zip either").unwrap();
    let err = fails(&[
        "sae-info",
        &format!("{},hook=blocks.1.hook_mlp_out", s(&npz)),
    ]);
    assert!(err.contains("params.npz"), "{err}");
    let err = fails(&["sae-info", "/nonexistent/sae"]);
    assert!(err.contains("does not exist"), "{err}");
    // A SAELens folder without its weights.
    let dir = tmp.path().join("sl");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("cfg.json"), "{}").unwrap();
    let err = fails(&["sae-info", &format!("{},format=saelens", s(&dir))]);
    assert!(err.contains("d_in") || err.contains("sae_weights"), "{err}");
}

#[test]
fn safe_sail_checkpoints_need_an_activation_and_a_hook() {
    let pt = s(&fixtures().join("saes/safesail_topk.pt"));
    let err = fails(&["sae-info", &format!("{pt},hook=blocks.1.hook_mlp_out")]);
    assert!(err.contains("activation=topk:200"), "{err}");
    let err = fails(&["sae-info", &format!("{pt},activation=topk:8")]);
    assert!(err.contains("hook"), "{err}");
    let err = fails(&[
        "sae-info",
        &format!("{pt},activation=topk:8,hook=blocks.1.hook_mlp_out,component=5"),
    ]);
    assert!(err.contains("component 5"), "{err}");
    let o = run(&[
        "sae-info",
        &format!("{pt},activation=topk:8,hook=blocks.1.hook_mlp_out,component=1"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn empty_prompt() {
    let err = fails(&[
        "capture",
        "--model",
        &qwen2(),
        "--prompt",
        "   ",
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(err.contains("prompt is empty"), "{err}");
}

#[test]
fn prompt_longer_than_the_context() {
    let long = "violence and elections ".repeat(200);
    let err = fails(&[
        "capture",
        "--model",
        &qwen2(),
        "--prompt",
        &long,
        "--hook",
        "blocks.0.hook_mlp_out",
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(
        err.contains("context") && err.contains("--truncate"),
        "{err}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("t.safetensors");
    let o = run(&[
        "capture",
        "--model",
        &qwen2(),
        "--prompt",
        &long,
        "--truncate",
        "--hook",
        "blocks.0.hook_mlp_out",
        "--out",
        &s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(load_refs(&out)["input_ids"].dims(), [256]);
}

#[test]
fn prompt_file_with_invalid_utf8() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("prompt.txt");
    std::fs::write(&f, b"hello \xff\xfe world").unwrap();
    let err = fails(&[
        "capture",
        "--model",
        &qwen2(),
        "--prompt-file",
        &s(&f),
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(err.contains("prompt.txt") && err.contains("UTF-8"), "{err}");
}

#[test]
fn chat_template_that_fails_to_render() {
    let (_t, dir) = copy_model("qwen2");
    edit_json(&dir.join("tokenizer_config.json"), |v| {
        v["chat_template"] = "{{ raise_exception('System role not supported') }}".into();
    });
    let err = fails(&[
        "capture",
        "--model",
        &s(&dir),
        "--chat",
        "--prompt",
        "hi",
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(
        err.contains("chat template") && err.contains("System role not supported"),
        "{err}"
    );
}

#[test]
fn missing_tokenizer() {
    let (_t, dir) = copy_model("qwen2");
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    let err = fails(&[
        "capture",
        "--model",
        &s(&dir),
        "--prompt",
        "hi",
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(err.contains("tokenizer.json"), "{err}");
}

#[test]
fn cuda_without_the_feature_says_how_to_build_it() {
    if cfg!(feature = "cuda") {
        return;
    }
    let err = fails(&[
        "capture",
        "--model",
        &qwen2(),
        "--device",
        "cuda:0",
        "--prompt",
        "hi",
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(err.contains("--features cuda"), "{err}");
}

#[test]
fn output_is_written_atomically() {
    // Writing where a folder cannot be made (a file is in the way) fails without leaving
    // temporary files behind; a folder that is merely missing is created.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a-file"), b"").unwrap();
    let out = tmp.path().join("a-file/dir/x.safetensors");
    let err = fails(&[
        "capture",
        "--model",
        &qwen2(),
        "--prompt",
        "hi",
        "--hook",
        "blocks.0.hook_mlp_out",
        "--out",
        &s(&out),
    ]);
    assert!(err.contains("cannot write"), "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "only the file that was in the way");
    let out = tmp.path().join("new/dir/x.safetensors");
    let o = bin()
        .args(["capture", "--model", &qwen2(), "--prompt", "hi"])
        .args(["--hook", "blocks.0.hook_mlp_out", "--out", &s(&out)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.exists());
}

/// A copy of a dictionary_learning fixture folder that a test may change.
fn copy_dl(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join(name);
    std::fs::create_dir(&dst).unwrap();
    for f in ["ae.pt", "config.json"] {
        std::fs::copy(
            fixtures()
                .join("saes/dictionary_learning")
                .join(name)
                .join(f),
            dst.join(f),
        )
        .unwrap();
    }
    (tmp, dst)
}

#[test]
fn capture_qwen3_chat_without_thinking_through_a_dictionary_learning_sae() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("q3.safetensors");
    let sae = s(&fixtures().join("saes/dictionary_learning/batchtopk"));
    let o = run(&[
        "capture",
        "--model",
        &s(&fixtures().join("models/qwen3")),
        "--chat",
        "--system",
        "You are a careful assistant.",
        "--enable-thinking",
        "false",
        "--prompt",
        "How do elections work? 选举如何进行？",
        "--sae",
        &sae,
        "--json",
        "--out",
        &s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let refs = load_refs(&fixtures().join("refs/qwen3/chat.safetensors"));
    let got = load_refs(&out);
    assert_eq!(
        got["input_ids"].to_vec1::<i64>().unwrap(),
        refs["input_ids"].to_vec1::<i64>().unwrap(),
        "the empty <think> block of enable_thinking=false"
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The SAE's hook comes from its config.json (submodule_name resid_post_layer_1).
    assert_eq!(json["saes"][0]["hook"], "blocks.1.hook_resid_post");
    let texts: Vec<&str> = json["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["text"].as_str().unwrap())
        .collect();
    assert!(
        texts.contains(&"<think>") && texts.contains(&"</think>"),
        "{texts:?}"
    );
    let o = run(&["sae-info", &sae]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info["meta"]["format"], "DictionaryLearning");
    assert_eq!(info["activation"], "jumprelu");
    let o = run(&["sae-info", &format!("{sae},k=8")]);
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info["activation"], "topk:8");
}

#[test]
fn thinking_switch_needs_a_template_that_has_one() {
    let err = fails(&[
        "capture",
        "--model",
        &qwen2(),
        "--chat",
        "--enable-thinking",
        "false",
        "--prompt",
        "hi",
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(
        err.contains("no thinking switch") && err.contains("qwen2"),
        "{err}"
    );
    let err = fails(&[
        "capture",
        "--model",
        &qwen2(),
        "--enable-thinking",
        "false",
        "--prompt",
        "hi",
        "--out",
        "/tmp/x.safetensors",
    ]);
    assert!(err.contains("--chat"), "{err}");
}

#[test]
fn qwen3_config_without_a_head_dim_that_fits() {
    // No head_dim, and hidden_size / num_attention_heads is not a whole number.
    let (_t, dir) = copy_model("qwen3");
    edit_json(&dir.join("config.json"), |v| {
        v.as_object_mut().unwrap().remove("head_dim");
        v["hidden_size"] = 66.into();
    });
    let args = |d: &Path| {
        vec![
            "capture".to_string(),
            "--model".into(),
            s(d),
            "--prompt".into(),
            "hi".into(),
            "--out".into(),
            "/tmp/x.safetensors".into(),
        ]
    };
    let a = args(&dir);
    let err = fails(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        err.contains("`head_dim` is missing and cannot be inferred") && err.contains("config.json"),
        "{err}"
    );
    // No head_dim: 64 / 4 heads = 16, but the weights have heads of 32.
    edit_json(&dir.join("config.json"), |v| v["hidden_size"] = 64.into());
    let err = fails(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        err.contains("head size differs from head_dim 16")
            && err.contains("q_norm")
            && err.contains("model.safetensors"),
        "{err}"
    );
}

#[test]
fn dictionary_learning_files_that_disagree() {
    // config.json says 256 latents; ae.pt has 128.
    let (_t, dir) = copy_dl("batchtopk");
    edit_json(&dir.join("config.json"), |v| {
        v["trainer"]["dict_size"] = 256.into()
    });
    let err = fails(&["sae-info", &s(&dir)]);
    assert!(
        err.contains("ae.pt")
            && err.contains("dict_size 256")
            && err.contains("encoder.weight")
            && err.contains("[128, 64]"),
        "{err}"
    );
    // A class we do not read.
    edit_json(&dir.join("config.json"), |v| {
        v["trainer"]["dict_class"] = "GatedAutoEncoder".into()
    });
    let err = fails(&["sae-info", &s(&dir)]);
    assert!(
        err.contains("GatedAutoEncoder") && err.contains("config.json"),
        "{err}"
    );
    // A submodule that names no hook point: the error says how to give it.
    let (_t2, dir) = copy_dl("topk");
    edit_json(&dir.join("config.json"), |v| {
        v["trainer"]["submodule_name"] = "encoder_stack_2".into()
    });
    let err = fails(&["sae-info", &s(&dir)]);
    assert!(
        err.contains("encoder_stack_2") && err.contains("hook=blocks.2."),
        "{err}"
    );
    let o = run(&[
        "sae-info",
        &format!("{},hook=blocks.2.hook_mlp_out", s(&dir)),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // ae.pt without its config.json.
    std::fs::remove_file(dir.join("config.json")).unwrap();
    let err = fails(&["sae-info", &s(&dir.join("ae.pt"))]);
    assert!(err.contains("config.json is missing"), "{err}");
}

/// Rewrites the storage `ae/data/{storage}` of the PyTorch zip `file` with `edit`.
fn edit_pt_storage(file: &Path, storage: &str, edit: impl Fn(&mut Vec<u8>)) {
    use std::io::{Read, Write};
    let mut z = zip::ZipArchive::new(std::fs::File::open(file).unwrap()).unwrap();
    let mut entries = vec![];
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut data = vec![];
        f.read_to_end(&mut data).unwrap();
        let name = f.name().unwrap().to_string();
        if name.ends_with(&format!("/data/{storage}")) {
            edit(&mut data);
        }
        entries.push((name, data));
    }
    let mut w = zip::ZipWriter::new(std::fs::File::create(file).unwrap());
    for (name, data) in entries {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file(name, opts).unwrap();
        w.write_all(&data).unwrap();
    }
    w.finish().unwrap();
}

/// Sets f32 element `i` of a storage.
fn set_f32(data: &mut [u8], i: usize, v: f32) {
    data[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn dictionary_learning_weights_are_checked_like_every_format() {
    // (In batchtopk/ae.pt, storage 2 is `threshold` and storage 4 `encoder.weight`.)
    let (_t, dir) = copy_dl("batchtopk");
    let ae = dir.join("ae.pt");
    edit_pt_storage(&ae, "4", |d| set_f32(d, 5, f32::NAN));
    let err = fails(&["sae-info", &s(&dir)]);
    assert!(
        err.contains("tensor `encoder.weight`")
            && err.contains("batchtopk/ae.pt")
            && err.contains("1 non-finite value (NaN or ±Inf)")
            && err.contains("allow_nonfinite=true"),
        "{err}"
    );
    let o = run(&["sae-info", &format!("{},allow_nonfinite=true", s(&dir))]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A NaN threshold is named as such, not taken for an uncalibrated one.
    let (_t2, dir) = copy_dl("batchtopk");
    edit_pt_storage(&dir.join("ae.pt"), "2", |d| set_f32(d, 0, f32::NAN));
    let err = fails(&["sae-info", &s(&dir)]);
    assert!(
        err.contains("tensor `threshold`") && err.contains("non-finite"),
        "{err}"
    );
    // A threshold never calibrated (the trainer's −1): an error that says what to do;
    // k= or threshold= load it.
    edit_pt_storage(&dir.join("ae.pt"), "2", |d| set_f32(d, 0, -1.0));
    let err = fails(&["sae-info", &s(&dir)]);
    assert!(
        err.contains("never calibrated") && err.contains("ae.pt") && err.contains("k=K"),
        "{err}"
    );
    for opt in ["k=8", "threshold=2.5"] {
        let o = run(&["sae-info", &format!("{},{opt}", s(&dir))]);
        assert!(o.status.success(), "{opt}: {}", stderr(&o));
    }
    // k out of range, from config.json or from the spec.
    let (_t3, dir) = copy_dl("topk");
    edit_json(&dir.join("config.json"), |v| {
        v["trainer"]["k"] = 1000.into()
    });
    let err = fails(&["sae-info", &s(&dir)]);
    assert!(
        err.contains("TopK k = 1000 is out of range for 128 latents") && err.contains("topk"),
        "{err}"
    );
    edit_json(&dir.join("config.json"), |v| v["trainer"]["k"] = 0.into());
    let err = fails(&["sae-info", &s(&dir)]);
    assert!(
        err.contains("`trainer.k` is missing or not a positive integer")
            && err.contains("config.json"),
        "{err}"
    );
    let batch = s(&fixtures().join("saes/dictionary_learning/batchtopk"));
    let err = fails(&["sae-info", &format!("{batch},k=129")]);
    assert!(err.contains("TopK k = 129 is out of range"), "{err}");
}

/// A copy of the SAELens TopK fixture whose `W_enc` holds a NaN and a +Inf.
fn sae_with_nan(dir: &Path) -> PathBuf {
    let src = fixtures().join("saes/saelens_topk");
    let dst = dir.join("nan_sae");
    std::fs::create_dir(&dst).unwrap();
    std::fs::copy(src.join("cfg.json"), dst.join("cfg.json")).unwrap();
    let mut w = load_refs(&src.join("sae_weights.safetensors"));
    let enc = &w["W_enc"];
    let shape = enc.dims().to_vec();
    let mut v = enc.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    v[3] = f32::NAN;
    v[100] = f32::INFINITY;
    w.insert(
        "W_enc".into(),
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&w, dst.join("sae_weights.safetensors")).unwrap();
    dst
}

#[test]
fn sae_weights_with_nan_are_refused_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let sae = s(&sae_with_nan(tmp.path()));
    let out = tmp.path().join("cap.safetensors");
    let capture = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["capture", "--model", &qwen2(), "--sae", &sae]
            .iter()
            .map(|x| x.to_string())
            .collect();
        a.extend(extra.iter().map(|x| x.to_string()));
        a.extend(["--prompt", "hi", "--out", &s(&out)].map(String::from));
        a
    };
    let args = capture(&[]);
    let err = fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        err.contains("tensor `W_enc`")
            && err.contains("nan_sae/sae_weights.safetensors")
            && err.contains("2 non-finite values (NaN or ±Inf) of 16384")
            && err.contains("--allow-nonfinite"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
    // The flag, or the spec key, loads it anyway.
    let args = capture(&["--allow-nonfinite"]);
    let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    let err = fails(&["sae-info", &sae]);
    assert!(err.contains("non-finite"), "{err}");
    for args in [
        vec![
            "sae-info".to_string(),
            format!("{sae},allow_nonfinite=true"),
        ],
        vec!["sae-info".into(), "--allow-nonfinite".into(), sae.clone()],
    ] {
        let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
    // collect refuses it too.
    let corpus = tmp.path().join("corpus.jsonl");
    std::fs::write(&corpus, "{\"text\": \"hello world\"}\n").unwrap();
    let store = tmp.path().join("store");
    let err = fails(&[
        "collect",
        "--model",
        &qwen2(),
        "--sae",
        &sae,
        "--corpus",
        &s(&corpus),
        "--out",
        &s(&store),
    ]);
    assert!(
        err.contains("tensor `W_enc`") && err.contains("non-finite"),
        "{err}"
    );
}

#[test]
fn integer_sae_weights_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures().join("saes/saelens_topk");
    let dst = tmp.path().join("int_sae");
    std::fs::create_dir(&dst).unwrap();
    std::fs::copy(src.join("cfg.json"), dst.join("cfg.json")).unwrap();
    let mut w = load_refs(&src.join("sae_weights.safetensors"));
    let b = w["b_dec"].to_dtype(candle_core::DType::I64).unwrap();
    w.insert("b_dec".into(), b);
    candle_core::safetensors::save(&w, dst.join("sae_weights.safetensors")).unwrap();
    let err = fails(&["sae-info", &s(&dst)]);
    assert!(
        err.contains("tensor `b_dec`")
            && err.contains("int_sae/sae_weights.safetensors")
            && err.contains("dtype i64"),
        "{err}"
    );
}

#[test]
fn a_model_whose_activations_overflow_is_an_error_naming_the_hook() {
    // Finite weights, but a norm weight of 1e30 before layer 1's attention overflows its
    // scores: NaN from there on.
    let (tmp, dir) = copy_model("qwen2");
    let st = dir.join("model.safetensors");
    let mut w = load_refs(&st);
    let name = "model.layers.1.input_layernorm.weight";
    let big = (w[name].ones_like().unwrap() * 1e30).unwrap();
    w.insert(name.into(), big);
    candle_core::safetensors::save(&w, &st).unwrap();
    let out = tmp.path().join("cap.safetensors");
    let err = fails(&[
        "capture",
        "--model",
        &s(&dir),
        "--hook",
        "blocks.0.hook_resid_post",
        "--hook",
        "blocks.1.hook_resid_post",
        "--prompt",
        "hello world",
        "--out",
        &s(&out),
    ]);
    assert!(
        err.contains("non-finite activations (NaN or ±Inf) at blocks.1.hook_resid_post (layer 1)")
            && err.contains("first at token position 0"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
    let corpus = tmp.path().join("corpus.jsonl");
    std::fs::write(&corpus, "{\"text\": \"hello world\"}\n").unwrap();
    let sae = s(&fixtures().join("saes/saelens_topk"));
    let err = fails(&[
        "collect",
        "--model",
        &s(&dir),
        "--sae",
        &sae,
        "--corpus",
        &s(&corpus),
        "--out",
        &s(&tmp.path().join("store")),
    ]);
    assert!(
        err.contains("at blocks.1.hook_mlp_out (layer 1)") && err.contains("of document 0"),
        "{err}"
    );
    // The window's analysis (the library call behind it) refuses them too.
    let model =
        safe_sail::model::Model::load_dir(&dir, &Device::Cpu, candle_core::DType::F32).unwrap();
    let sae = safe_sail::sae::format::load_sae(
        &sae.parse::<safe_sail::sae::spec::SaeSpec>().unwrap(),
        &Device::Cpu,
    )
    .unwrap();
    let loaded = safe_sail::inspect::LoadedModel {
        model,
        saes: vec![Some(sae)],
    };
    let prompt = safe_sail::model::PromptSpec {
        text: "hello world".into(),
        chat: false,
        system: None,
        thinking: None,
        truncate: true,
    };
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let err = format!(
        "{:#}",
        loaded.analyze(&prompt, None, &cancel, &|_| {}).unwrap_err()
    );
    assert!(
        err.contains("non-finite activations (NaN or ±Inf) at blocks.1.hook_mlp_out (layer 1)")
            && err.contains("first at token position 0 (token "),
        "{err}"
    );
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let db = s(&fixtures().join("workspace/neurons.json"));
    let sae = s(&fixtures().join("saes/saelens_topk"));
    for args in [
        vec!["db", "show", &db, "1_5"],
        vec!["db", "history", &db],
        vec!["sae-info", &sae],
        vec!["demo"],
    ] {
        let mut child = bin()
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Like `| head` that has already quit.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            o.status.success() || o.status.signal() == Some(13),
            "{args:?}: {:?} {err}",
            o.status
        );
    }
}

#[test]
fn capture_with_nothing_to_capture_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.safetensors");
    let err = fails(&[
        "capture",
        "--model",
        &qwen2(),
        "--prompt",
        "hi",
        "--out",
        &s(&out),
    ]);
    assert!(
        err.contains("nothing to capture") && err.contains("--hook"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn generate_hides_special_tokens_unless_asked() {
    // The sample model answers a chat prompt and ends its turn with <|im_end|>.
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/model");
    let gen = |extra: &[&str]| {
        let o = bin()
            .args(["generate", "--model", &s(&model), "--chat", "--prompt"])
            .args(["How do I stay safe online?", "--max-new-tokens", "200"])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let shown = gen(&["--show-special"]);
    assert!(shown.contains("<|im_end|>"), "{shown}");
    let plain = gen(&[]);
    assert!(!plain.contains("<|"), "{plain}");
    assert!(!plain.trim().is_empty());
}

/// `workspace new` writes a workspace that opens (`sae-info` of its SAE works through it) and
/// refuses to replace a file.
#[test]
fn workspace_new_writes_a_workspace_for_your_own_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mine.sail.json");
    let sae = s(&fixtures().join("saes/saelens_topk"));
    let args = [
        "workspace",
        "new",
        "--out",
        &s(&out),
        "--model",
        &qwen2(),
        "--sae",
        &sae,
        "--neuron-db",
        &s(&tmp.path().join("neurons.json")),
    ];
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let ws: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(ws["saes"][0]["name"], "saelens_topk");
    assert_eq!(ws["neuron_db"], "neurons.json");
    assert!(tmp.path().join("neurons.json").exists());
    let err = fails(&args);
    assert!(err.contains("exists"), "{err}");
}

/// `match`: an SAE against itself pairs every latent with itself (cosine 1); two sample
/// candidates of one layer and different widths share most directions; SAEs of different
/// `d_in` are refused.
#[test]
fn match_pairs_latents_by_decoder_cosine() {
    let tmp = tempfile::tempdir().unwrap();
    let topk = fixtures().join("saes/saelens_topk");
    let topk = topk.to_str().unwrap();
    let out = tmp.path().join("pairs.parquet");
    let o = run(&[
        "match",
        "--a",
        topk,
        "--b",
        topk,
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["widths"], serde_json::json!([256, 256]));
    assert_eq!(v["exact"], true);
    assert_eq!(v["partners_above_threshold"], 256);
    assert!((v["mean_cosine"].as_f64().unwrap() - 1.0).abs() < 1e-5);
    use polars::prelude::SerReader;
    let df = polars::prelude::ParquetReader::new(std::fs::File::open(&out).unwrap())
        .finish()
        .unwrap();
    assert_eq!(df.height(), 256);
    let a: Vec<u32> = df
        .column("a")
        .unwrap()
        .u32()
        .unwrap()
        .into_no_null_iter()
        .collect();
    let b: Vec<u32> = df
        .column("b")
        .unwrap()
        .u32()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(a, b, "each latent is its own partner");
    // Two sample candidates at layer 1 (widths 512 and 1024).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/saes");
    let (s512, s1024) = (
        root.join("L1-mlp_out-w512-topk16"),
        root.join("L1-mlp_out-w1024-topk16"),
    );
    let o = run(&[
        "match",
        "--a",
        s512.to_str().unwrap(),
        "--b",
        s1024.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("512 pairs between 512 and 1024 latents (optimal"),
        "{text}"
    );
    // Refused: another d_in.
    let e = fails(&["match", "--a", topk, "--b", s512.to_str().unwrap()]);
    assert!(e.contains("different size (d_in 64 and 128)"), "{e}");
    let e = fails(&["match", "--a", topk, "--b", topk, "--by", "sideways"]);
    assert!(e.contains("decoder, encoder or both"), "{e}");
}

/// `match --by encoder|both`: an SAE against itself still pairs each latent with itself; for
/// two widths, `--out` has one row per latent of the wider SAE with the narrower latent it
/// splits from (its highest decoder cosine, checked by hand), and partners where matched.
#[test]
fn match_by_encoder_and_split_parents() {
    let tmp = tempfile::tempdir().unwrap();
    let topk = fixtures().join("saes/saelens_topk");
    let topk = topk.to_str().unwrap();
    for by in ["encoder", "both"] {
        let o = run(&["match", "--a", topk, "--b", topk, "--by", by, "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["by"], by);
        assert_eq!(v["partners_above_threshold"], 256);
        assert_eq!(v["split_parents"], serde_json::Value::Null);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/saes");
    let (s512, s1024) = (
        root.join("L1-mlp_out-w512-topk16"),
        root.join("L1-mlp_out-w1024-topk16"),
    );
    let out = tmp.path().join("splits.parquet");
    // The wide SAE first: `a` is complete, `b` null where unmatched.
    let o = run(&[
        "match",
        "--a",
        s1024.to_str().unwrap(),
        "--b",
        s512.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pairs"], 512);
    let used = v["split_parents"].as_u64().unwrap();
    assert!(used > 0 && used <= 512, "{v}");
    use polars::prelude::SerReader;
    let df = polars::prelude::ParquetReader::new(std::fs::File::open(&out).unwrap())
        .finish()
        .unwrap();
    assert_eq!(df.height(), 1024);
    let col_u = |c: &str| -> Vec<Option<u32>> {
        {
            let ca = df.column(c).unwrap().u32().unwrap().clone();
            (0..ca.len()).map(|i| ca.get(i)).collect()
        }
    };
    let (a, b, parent) = (col_u("a"), col_u("b"), col_u("splits_from"));
    assert!(a.iter().enumerate().all(|(i, x)| *x == Some(i as u32)));
    assert_eq!(b.iter().filter(|x| x.is_some()).count(), 512);
    let pc: Vec<f32> = df
        .column("splits_from_cosine")
        .unwrap()
        .f32()
        .unwrap()
        .into_no_null_iter()
        .collect();
    let dec = |p: &Path| -> Vec<Vec<f32>> {
        let s = safe_sail::sae::load_sae(
            &p.display().to_string().parse().unwrap(),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        s.w_dec.unwrap().to_tensor().unwrap().to_vec2().unwrap()
    };
    let (wide, narrow) = (dec(&s1024), dec(&s512));
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let cos = |x: &[f32], y: &[f32]| {
        x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>() / (norm(x) * norm(y))
    };
    for i in [0usize, 100, 511, 1023] {
        let (j, c) = (0..narrow.len())
            .map(|j| (j as u32, cos(&wide[i], &narrow[j])))
            .max_by(|p, q| p.1.total_cmp(&q.1))
            .unwrap();
        assert_eq!(parent[i], Some(j), "wide latent {i}");
        assert!((pc[i] - c).abs() < 1e-4);
    }
}
