//! Output-side explanation (issue #19) on the bundled sample model: amplifying a neuron raises
//! the next-token log-probability of the token its decoder direction promotes most far more than
//! other tokens', and bad input (unknown neuron, NaN strength, a multiple of the max activation
//! without a store, no prompts) is a clear error.

mod common;

use candle_core::{DType, Device};
use common::bin;
use safe_sail::explain::output::{mean_logprob_shift, output_effect, OutputOpts};
use safe_sail::model::Model;
use safe_sail::sae::load_sae;
use safe_sail::steer::{Amount, NeuronRef, SaeSlot};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_data")
}

const SAE: &str = "L2-mlp_out-w1024-topk16";

fn model() -> Model {
    Model::load_dir(&sample().join("model"), &Device::Cpu, DType::F32).unwrap()
}

/// The sample's layer-2 SAE, with its feature store when `store`.
fn slot(store: bool) -> SaeSlot {
    let spec = sample().join("saes").join(SAE);
    let s =
        SaeSlot::new(load_sae(&spec.display().to_string().parse().unwrap(), &Device::Cpu).unwrap());
    if store {
        s.with_store(&sample().join("stores").join(SAE)).unwrap()
    } else {
        s
    }
}

fn neuron(latent: u32) -> NeuronRef {
    NeuronRef {
        sae: None,
        layer: 2,
        latent,
    }
}

fn prompts() -> Vec<String> {
    OutputOpts::default().prompts
}

/// The latents of the store that fire most often (a live latent has a max activation).
fn busy_latents(n: usize) -> Vec<u32> {
    let store = safe_sail::store::Store::open(&sample().join("stores").join(SAE)).unwrap();
    let mut f: Vec<_> = store.features.iter().filter(|f| f.max_act > 0.0).collect();
    f.sort_by(|a, b| {
        b.density
            .total_cmp(&a.density)
            .then(a.latent.cmp(&b.latent))
    });
    f.iter().take(n).map(|f| f.latent).collect()
}

/// The fraction of tokens whose mean log-probability change is below `delta[id]`.
fn rank_fraction(delta: &[f64], id: u32) -> f64 {
    let v = delta[id as usize];
    delta.iter().filter(|&&d| d < v).count() as f64 / delta.len() as f64
}

#[test]
fn amplifying_a_neuron_raises_its_top_promoted_token_more_than_random_tokens() {
    let m = model();
    let saes = [slot(true)];
    let latents = busy_latents(3);
    assert_eq!(latents.len(), 3);
    let mut rng_state = 0x5AFE_u64;
    let mut next = || {
        // xorshift: a fixed sequence of "random" token ids.
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state
    };
    for latent in latents {
        let lens = safe_sail::sae::lens::decoder_logit_lens(
            &saes[0].sae,
            m.net.unembedding_matrix(),
            latent as usize..latent as usize + 1,
            1,
        )
        .unwrap();
        let top = lens[0].top[0].0;
        let up = mean_logprob_shift(
            &m,
            &saes,
            &neuron(latent),
            Amount::TimesMax(4.0),
            &prompts(),
        )
        .unwrap();
        assert_eq!(up.len(), m.cfg.vocab_size);
        for _ in 0..20 {
            let r = (next() % up.len() as u64) as u32;
            if r == top {
                continue;
            }
            assert!(
                up[top as usize] > up[r as usize],
                "latent {latent}: Δ log-prob of its top promoted token {top} ({:+.3}) is not above token {r}'s ({:+.3})",
                up[top as usize],
                up[r as usize]
            );
        }
        assert!(
            rank_fraction(&up, top) > 0.95,
            "latent {latent}: the top promoted token rose less than 5% of the vocabulary ({:.3})",
            rank_fraction(&up, top)
        );
        // The same direction subtracted pushes the token down instead: the sign is the
        // neuron's, not an artefact of any large perturbation.
        let down = mean_logprob_shift(
            &m,
            &saes,
            &neuron(latent),
            Amount::TimesMax(-4.0),
            &prompts(),
        )
        .unwrap();
        assert!(
            down[top as usize] < up[top as usize] && rank_fraction(&down, top) < 0.5,
            "latent {latent}: subtracting the direction did not push token {top} down ({:+.3}, rank {:.3})",
            down[top as usize],
            rank_fraction(&down, top)
        );
    }
}

#[test]
fn the_report_holds_the_lens_the_shifts_and_a_changed_continuation() {
    let m = model();
    let saes = [slot(true)];
    let latent = busy_latents(1)[0];
    let opts = OutputOpts::default();
    let e = output_effect(&m, &saes, &neuron(latent), &opts, &AtomicBool::new(false)).unwrap();
    assert_eq!(e.neuron, format!("2_{latent}"));
    assert_eq!(e.hook, "blocks.2.hook_mlp_out");
    assert_eq!(e.strength, "4x");
    let store = safe_sail::store::Store::open(&sample().join("stores").join(SAE)).unwrap();
    let f = store.feature(latent).unwrap();
    assert!(
        (e.value - 4.0 * f.max_act as f64).abs() < 1e-4,
        "{}",
        e.value
    );
    // The promoted / suppressed tokens are the store's own lists (same lens).
    let names = |v: &[safe_sail::explain::output::LensToken]| -> Vec<String> {
        v.iter().map(|t| t.token.clone()).collect()
    };
    assert_eq!(names(&e.promoted), f.top_logit_tokens);
    assert_eq!(names(&e.suppressed), f.bottom_logit_tokens);
    assert_eq!(e.rises.len(), 10);
    assert_eq!(e.falls.len(), 10);
    assert!(e
        .rises
        .windows(2)
        .all(|w| w[0].delta_logprob >= w[1].delta_logprob));
    assert!(e
        .falls
        .windows(2)
        .all(|w| w[0].delta_logprob <= w[1].delta_logprob));
    assert!(e.rises[0].delta_logprob > 0.0 && e.falls[0].delta_logprob < 0.0);
    // The lens's Δ is the same measurement as the rising list's.
    let full =
        mean_logprob_shift(&m, &saes, &neuron(latent), opts.strength, &opts.prompts).unwrap();
    for t in e.rises.iter().take(3) {
        assert!((full[t.id as usize] - t.delta_logprob).abs() < 1e-9);
    }
    assert!(e.mean_kl > 0.0);
    assert_eq!(e.prompts.len(), opts.prompts.len());
    assert_eq!(e.example.prompt, opts.prompts[0]);
    assert_ne!(e.example.default, e.example.steered);
    // A zero strength changes nothing.
    let zero = OutputOpts {
        strength: Amount::Abs(0.0),
        ..OutputOpts::default()
    };
    let z = output_effect(&m, &saes, &neuron(latent), &zero, &AtomicBool::new(false)).unwrap();
    assert_eq!(z.example.default, z.example.steered);
    assert!(z.mean_kl.abs() < 1e-9);
    assert!(z.rises.iter().all(|t| t.delta_logprob.abs() < 1e-6));
}

#[test]
fn bad_input_is_a_clear_error() {
    let m = model();
    let saes = [slot(true)];
    let run = |n: NeuronRef, o: &OutputOpts, s: &[SaeSlot]| {
        format!(
            "{:#}",
            output_effect(&m, s, &n, o, &AtomicBool::new(false)).unwrap_err()
        )
    };
    let d = OutputOpts::default();
    let e = run(neuron(5000), &d, &saes);
    assert!(e.contains("out of range") && e.contains("0..1023"), "{e}");
    let e = run(
        NeuronRef {
            sae: None,
            layer: 7,
            latent: 1,
        },
        &d,
        &saes,
    );
    assert!(e.contains("no SAE hooks layer 7"), "{e}");
    let e = format!("{:#}", Amount::parse("NaN", "--strength").unwrap_err());
    assert!(e.contains("not finite"), "{e}");
    // `4x` needs the store's max activation; an absolute strength does not.
    let bare = [slot(false)];
    let e = run(neuron(1), &d, &bare);
    assert!(e.contains("--store"), "{e}");
    let abs = OutputOpts {
        strength: Amount::Abs(5.0),
        prompts: vec!["The weather today is".into()],
        max_new_tokens: 2,
        ..OutputOpts::default()
    };
    assert!(output_effect(&m, &bare, &neuron(1), &abs, &AtomicBool::new(false)).is_ok());
    let none = OutputOpts {
        prompts: vec!["  ".into()],
        ..OutputOpts::default()
    };
    let e = run(neuron(1), &none, &saes);
    assert!(e.contains("no neutral prompts"), "{e}");
    let cancelled = output_effect(&m, &saes, &neuron(1), &d, &AtomicBool::new(true));
    assert!(format!("{:#}", cancelled.unwrap_err()).contains("cancelled"));
}

#[test]
fn the_command_prints_json_and_refuses_a_nan_strength() {
    let s = sample();
    let latent = busy_latents(1)[0];
    let prompts = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        prompts.path(),
        "The weather today is\n\nIn the library, the students\n",
    )
    .unwrap();
    let out = bin()
        .args(["explain-output", "--model"])
        .arg(s.join("model"))
        .arg("--sae")
        .arg(s.join("saes").join(SAE))
        .arg("--store")
        .arg(s.join("stores").join(SAE))
        .args(["--neuron", &format!("2_{latent}"), "--max-new-tokens", "4"])
        .arg("--prompts")
        .arg(prompts.path())
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["neuron"], format!("2_{latent}"));
    assert_eq!(v["prompts"].as_array().unwrap().len(), 2);
    assert_eq!(v["promoted"].as_array().unwrap().len(), 10);
    assert!(v["rises"][0]["delta_logprob"].as_f64().unwrap() > 0.0);

    let out = bin()
        .args(["explain-output", "--model"])
        .arg(s.join("model"))
        .arg("--sae")
        .arg(s.join("saes").join(SAE))
        .args(["--neuron", "2_1", "--strength", "NaN"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--strength") && err.contains("not finite"),
        "{err}"
    );
    let out = bin()
        .args(["explain-output", "--model"])
        .arg(s.join("model"))
        .arg("--sae")
        .arg(s.join("saes").join(SAE))
        .args(["--neuron", "2_x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown neuron id `2_x`"), "{err}");
}
