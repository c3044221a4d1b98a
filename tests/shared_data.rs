//! Real data made by others (`../shared/external/`): skipped with a message when absent.

mod common;

use common::shared_external;
use safe_sail::model::tokenizer::Tok;

#[test]
fn safe_sail_neuron_index_file_loads() {
    let Some(dir) = shared_external("safe-sail") else {
        return;
    };
    let idx = safe_sail::sae::read_index_file(&dir.join("indices_layer8.pt")).unwrap();
    assert_eq!(idx.len(), 1951);
    assert_eq!(
        &idx[..10],
        &[8427, 392, 811, 1242, 9555, 9931, 2251, 19546, 19689, 12449]
    );
    assert_eq!(&idx[idx.len() - 5..], &[19161, 19586, 3296, 20420, 14704]);
    let unique: std::collections::BTreeSet<i64> = idx.iter().copied().collect();
    assert_eq!(unique.len(), 1608);
    assert_eq!(
        (*unique.first().unwrap(), *unique.last().unwrap()),
        (2, 20457)
    );
}

#[test]
fn index_file_is_not_mistaken_for_an_sae() {
    let Some(dir) = shared_external("safe-sail") else {
        return;
    };
    let spec = format!(
        "{},hook=blocks.8.hook_mlp_out,activation=topk:200",
        dir.join("indices_layer8.pt").display()
    );
    let err = safe_sail::sae::load_sae(&spec.parse().unwrap(), &candle_core::Device::Cpu)
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("neuron-index"), "{err:#}");
}

#[test]
fn real_gpt2_tokenizer_gives_the_known_ids() {
    let Some(dir) = shared_external("gpt2-tokenizer") else {
        return;
    };
    let tok = Tok::from_dir(&dir).unwrap();
    let ids = |t: &str| tok.encode_ids(t, true).unwrap();
    assert_eq!(ids("Hello world"), [15496, 995]);
    assert_eq!(
        ids(" The quick brown fox jumps over the lazy dog."),
        [383, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13]
    );
    assert_eq!(
        ids("I can't believe it's 2024!"),
        [40, 460, 470, 1975, 340, 338, 48609, 0]
    );
    assert_eq!(
        ids("Héllo wörld 🙂 <|endoftext|> end"),
        [39, 2634, 18798, 266, 30570, 335, 32485, 220, 50256, 886]
    );
    // The file's saved truncation (max_length 50) must not cut prompts.
    assert_eq!(ids(&" word".repeat(100)).len(), 100);
    // Display strings rebuild the text, special token included.
    let text = "Héllo wörld 🙂 <|endoftext|> end";
    let toks = tok.encode(text, true).unwrap();
    assert_eq!(
        toks.iter().map(|t| t.text.as_str()).collect::<String>(),
        text
    );
    assert!(toks.iter().any(|t| t.special && t.text == "<|endoftext|>"));
}
