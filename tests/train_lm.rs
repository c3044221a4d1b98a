//! `safe-sail train-lm`: the sample's tokenizer + Qwen2 from a make-corpus file, saved as a
//! Hugging Face folder the engine loads; bad corpus lines are errors naming the line.

mod common;

use common::*;

#[test]
fn trains_a_tiny_qwen2_that_beats_the_unigram_baseline() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = safe_sail::sample::corpus::generate(&safe_sail::sample::corpus::CorpusConfig {
        docs: 300,
        seed: 4,
        ..Default::default()
    });
    let corpus = tmp.path().join("corpus.jsonl");
    safe_sail::sample::corpus::write_jsonl(&docs, &corpus).unwrap();
    let out = tmp.path().join("model");
    let o = bin()
        .args(["train-lm", "--corpus", &corpus.display().to_string()])
        .args(["--out", &out.display().to_string()])
        .args([
            "--vocab", "320", "--hidden", "32", "--layers", "1", "--heads", "2",
        ])
        .args(["--kv-heads", "1", "--intermediate", "64", "--seq-len", "32"])
        .args(["--batch", "8", "--steps", "150", "--lr", "0.01"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report = read_json(&out.join("training.json"));
    let (held, unigram) = (
        report["heldout_loss"].as_f64().unwrap(),
        report["unigram_loss"].as_f64().unwrap(),
    );
    assert!(held < unigram, "held-out {held} vs unigram {unigram}");
    assert_eq!(report["samples"].as_array().unwrap().len(), 6);
    let model =
        safe_sail::model::Model::load_dir(&out, &candle_core::Device::Cpu, candle_core::DType::F32)
            .unwrap();
    assert!(model.tok.has_chat_template());
    assert_eq!(model.cfg.num_layers, 1);
    // Generation stops at the end of a chat turn or of a document.
    assert_eq!(model.eos_ids().len(), 2);

    std::fs::write(&corpus, "{\"text\": \"fine\", \"id\": 0, \"domain\": \"neutral\", \"topic\": \"x\", \"lang\": \"en\"}\nnot json\n").unwrap();
    let o = bin()
        .args(["train-lm", "--corpus", &corpus.display().to_string()])
        .args(["--out", &tmp.path().join("m2").display().to_string()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 2"));
}
