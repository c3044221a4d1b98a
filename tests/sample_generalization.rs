//! Do the sample's reviewed safety neurons generalise (issue #21)? `sample_data/generalization.json`
//! holds, for a few hand-reviewed neurons, a text like their top examples ("seen"), paraphrases
//! in other words, the other language's equivalent and unrelated controls, each with whether
//! the neuron fired on it when the sample was built. This test runs every text through the
//! sample model and SAE and checks that each still fires or stays silent as recorded (a neuron
//! fires on a text when its largest activation there reaches 0.2 × its 0.999 quantile in the
//! store, the threshold the scores use). `--nocapture` prints the table that sample_data/README.md
//! summarises.

use candle_core::{DType, Device};
use safe_sail::inspect::LoadedModel;
use safe_sail::model::Model;
use safe_sail::sae::load_sae;
use safe_sail::store::Store;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

#[derive(Deserialize)]
struct Case {
    neuron: String,
    concept: String,
    /// seen | paraphrase | other_language | control
    kind: String,
    text: String,
    fires: bool,
}

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_data")
}

/// The chosen SAE (the one with a store) of a layer.
fn sae_name(layer: usize) -> String {
    format!("L{layer}-mlp_out-w1024-topk16")
}

#[test]
fn reviewed_neurons_fire_on_paraphrases_and_translations_as_recorded() {
    let cases: Vec<Case> = serde_json::from_str(
        &std::fs::read_to_string(sample().join("generalization.json")).unwrap(),
    )
    .unwrap();
    assert!(
        cases.len() >= 20,
        "a handful of neurons, several texts each"
    );
    let model = Model::load_dir(&sample().join("model"), &Device::Cpu, DType::F32).unwrap();
    let saes = (1..=3)
        .map(|l| {
            let spec = sample().join("saes").join(sae_name(l));
            Some(load_sae(&spec.display().to_string().parse().unwrap(), &Device::Cpu).unwrap())
        })
        .collect();
    let stores: Vec<Store> = (1..=3)
        .map(|l| Store::open(&sample().join("stores").join(sae_name(l))).unwrap())
        .collect();
    let lm = LoadedModel { model, saes };
    let cancel = AtomicBool::new(false);
    let mut wrong = vec![];
    let mut tally: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    println!(
        "{:<8} {:<15} {:<15} {:>7} {:>7}  text",
        "neuron", "concept", "kind", "max", "thresh"
    );
    for c in &cases {
        let (layer, latent) = c.neuron.split_once('_').unwrap();
        let (layer, latent): (usize, u32) = (layer.parse().unwrap(), latent.parse().unwrap());
        let trace = lm
            .trace(layer - 1, latent, c.text.clone(), &cancel)
            .unwrap();
        let max = trace.iter().map(|t| t.1).fold(0f32, f32::max);
        let store = &stores[layer - 1];
        let q999 = store
            .features
            .iter()
            .find(|f| f.latent == latent)
            .unwrap()
            .q999;
        let threshold = 0.2 * q999;
        let fires = max >= threshold && max > 0.0;
        let t = tally.entry(c.kind.as_str()).or_default();
        t.0 += fires as usize;
        t.1 += 1;
        println!(
            "{:<8} {:<15} {:<15} {:>7.3} {:>7.3}  {}{}",
            c.neuron,
            c.concept,
            c.kind,
            max,
            threshold,
            c.text,
            if fires != c.fires {
                "   <- differs"
            } else {
                ""
            }
        );
        if fires != c.fires {
            wrong.push(format!(
                "{} on {:?} ({}): fires {fires} (max {max:.3}, threshold {threshold:.3}), recorded {}",
                c.neuron, c.text, c.kind, c.fires
            ));
        }
    }
    for (kind, (f, n)) in &tally {
        println!("{kind}: {f} of {n} fire");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The seen texts are what the neurons were reviewed on: every one must fire.
    let (f, n) = tally["seen"];
    assert_eq!(f, n, "a reviewed neuron is silent on its own kind of text");
}
