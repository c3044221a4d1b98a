//! Steering (issue #17) on the tiny fixture models: neutral interventions leave generation
//! byte-identical, clamping keeps the SAE error, a vector add matches PyTorch doing the same add
//! by hand (tools/make_fixtures.py `steer_refs`), tripwires fire and bad input is refused.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{bin, fixtures, load_refs, read_json};
use safe_sail::hooks::HookPoint;
use safe_sail::model::generate::{Flow, GenerateOpts};
use safe_sail::model::tokenizer::TokenInfo;
use safe_sail::model::{Hooks, Model};
use safe_sail::sae::{load_sae, Activation, Sae, SaeMatrix};
use safe_sail::steer::{
    self, Amount, DirectionSet, NeuronMode, NeuronRef, NeuronSet, Positions, Resolver, SaeSlot,
    SteerOpts, TripwireSpec,
};
use std::collections::HashMap;

fn model(name: &str) -> Model {
    Model::load_dir(
        &fixtures().join("models").join(name),
        &Device::Cpu,
        DType::F32,
    )
    .unwrap()
}

/// The saelens_topk fixture SAE (blocks.1.hook_mlp_out of qwen2, 256 latents, k 8).
fn topk_slot() -> SaeSlot {
    let spec = fixtures().join("saes/saelens_topk");
    SaeSlot::new(load_sae(&spec.display().to_string().parse().unwrap(), &Device::Cpu).unwrap())
}

fn tokens(m: &Model, ids: &[u32]) -> Vec<TokenInfo> {
    ids.iter()
        .map(|&id| TokenInfo {
            id,
            text: m.tok.token_display(id),
            start: 0,
            end: 0,
            special: m.tok.is_special(id),
        })
        .collect()
}

fn en_ids() -> Vec<u32> {
    read_json(&fixtures().join("refs/prompts.json"))["en"]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

fn set(layer: usize, latent: u32, amount: f64, mode: NeuronMode) -> NeuronSet {
    NeuronSet {
        neuron: NeuronRef {
            sae: None,
            layer,
            latent,
        },
        amount: Amount::Abs(amount),
        mode,
    }
}

/// Records the activation at one hook, every pass appended along the sequence.
struct Record {
    hook: HookPoint,
    rows: Vec<Tensor>,
}

impl Hooks for Record {
    fn at(&mut self, hook: HookPoint, x: &Tensor) -> anyhow::Result<Option<Tensor>> {
        if hook == self.hook {
            self.rows.push(x.get(0)?.to_dtype(DType::F32)?);
        }
        Ok(None)
    }
}

impl Record {
    fn all(&self) -> Tensor {
        Tensor::cat(&self.rows, 0).unwrap()
    }
}

fn sampled(seed: u64) -> GenerateOpts {
    GenerateOpts {
        max_new_tokens: 12,
        temperature: 1.0,
        top_p: 0.9,
        seed,
        stop_ids: vec![],
    }
}

#[test]
fn zero_strength_gives_generate_s_tokens() {
    let m = model("qwen2");
    let slots = vec![topk_slot()];
    let r = Resolver {
        model: &m,
        saes: &slots,
    };
    let ids = en_ids();
    let toks = tokens(&m, &ids);
    let add0 = r.neuron(&set(1, 5, 0.0, NeuronMode::Add), "1_5=0").unwrap();
    for gen in [GenerateOpts::default(), sampled(7)] {
        let plain = m
            .generate(&ids, &gen, &mut safe_sail::model::NoHooks, |_| {
                Flow::Continue
            })
            .unwrap();
        let opts = SteerOpts {
            gen: gen.clone(),
            ..Default::default()
        };
        let c = steer::compare(
            &m,
            &slots,
            &toks,
            std::slice::from_ref(&add0),
            &[],
            &opts,
            &mut |_, _| {},
        )
        .unwrap();
        let got: Vec<u32> = c.steered.tokens.iter().map(|t| t.id).collect();
        assert_eq!(got, plain, "steered with strength 0");
        let got: Vec<u32> = c.default.tokens.iter().map(|t| t.id).collect();
        assert_eq!(got, plain, "default");
        assert_eq!(c.first_divergence, None);
        assert!(c.per_token.iter().all(|t| t.kl == 0.0), "{:?}", c.per_token);
        assert_eq!(c.steered.text, c.default.text);
        assert_eq!(c.per_token.len(), plain.len());
        assert!(c
            .per_token
            .iter()
            .all(|t| t.top_default.len() == 5 && t.top_default == t.top_steered));
    }
}

#[test]
fn clamping_to_the_current_value_changes_nothing() {
    let m = model("qwen2");
    let slots = vec![topk_slot()];
    let hook = slots[0].sae.hook();
    // A one-token prompt: the prompt has one position, so one current value.
    let ids = vec![en_ids()[3]];
    let mut rec = Record { hook, rows: vec![] };
    let gen = sampled(3);
    let plain = m
        .generate_steps(
            &ids,
            &gen,
            &mut rec,
            None,
            |_| Flow::Continue,
            |_| Flow::Continue,
        )
        .unwrap();
    let f = slots[0]
        .sae
        .encode(&rec.rows[0])
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let (latent, v) = f[0]
        .iter()
        .enumerate()
        .fold((0, 0.0f32), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
    assert!(v > 0.0);
    let r = Resolver {
        model: &m,
        saes: &slots,
    };
    let clamp = r
        .neuron(&set(1, latent as u32, v as f64, NeuronMode::Clamp), "clamp")
        .unwrap();
    let opts = SteerOpts {
        gen,
        positions: Positions::Prompt,
        include_special: true,
        top_n: 5,
    };
    let d = steer::run(
        &m,
        &slots,
        &tokens(&m, &ids),
        &[],
        &[],
        &opts,
        None,
        &mut |_| {},
    )
    .unwrap();
    let s = steer::run(
        &m,
        &slots,
        &tokens(&m, &ids),
        &[clamp],
        &[],
        &opts,
        None,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(d.ids, plain);
    assert_eq!(s.ids, plain);
    assert_eq!(
        s.logprobs, d.logprobs,
        "log-probabilities must be bit-identical"
    );
}

#[test]
fn ablating_an_inactive_neuron_changes_nothing() {
    let m = model("qwen2");
    let slots = vec![topk_slot()];
    let hook = slots[0].sae.hook();
    let ids = en_ids();
    let gen = GenerateOpts {
        max_new_tokens: 10,
        ..Default::default()
    };
    let mut rec = Record { hook, rows: vec![] };
    let plain = m
        .generate_steps(
            &ids,
            &gen,
            &mut rec,
            None,
            |_| Flow::Continue,
            |_| Flow::Continue,
        )
        .unwrap();
    let f = slots[0]
        .sae
        .encode(&rec.all())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let inactive = (0..256)
        .find(|&i| f.iter().all(|row| row[i] == 0.0))
        .expect("some latent never fires");
    let active = (0..256)
        .find(|&i| f.iter().any(|row| row[i] > 0.0))
        .unwrap();
    let r = Resolver {
        model: &m,
        saes: &slots,
    };
    let opts = SteerOpts {
        gen,
        ..Default::default()
    };
    let toks = tokens(&m, &ids);
    let d = steer::run(&m, &slots, &toks, &[], &[], &opts, None, &mut |_| {}).unwrap();
    let ab = r
        .neuron(&set(1, inactive as u32, 0.0, NeuronMode::Ablate), "ablate")
        .unwrap();
    let s = steer::run(&m, &slots, &toks, &[ab], &[], &opts, None, &mut |_| {}).unwrap();
    assert_eq!(d.ids, plain);
    assert_eq!(s.ids, plain);
    assert_eq!(s.logprobs, d.logprobs);
    assert_eq!(s.applied_norm, 0.0);
    // Ablating an active one does change the distribution (the test can fail).
    let ab = r
        .neuron(&set(1, active as u32, 0.0, NeuronMode::Ablate), "ablate")
        .unwrap();
    let s = steer::run(&m, &slots, &toks, &[ab], &[], &opts, None, &mut |_| {}).unwrap();
    assert_ne!(s.logprobs, d.logprobs);
    assert!(s.applied_norm > 0.0);
}

/// Orthonormal rows (Gram–Schmidt on seeded random vectors).
fn orthonormal(n: usize, d: usize) -> Vec<Vec<f32>> {
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5
    };
    let mut rows: Vec<Vec<f64>> = vec![];
    while rows.len() < n {
        let mut v: Vec<f64> = (0..d).map(|_| next()).collect();
        for r in &rows {
            let p: f64 = v.iter().zip(r).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(r).for_each(|(a, b)| *a -= p * b);
        }
        let n: f64 = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        rows.push(v.into_iter().map(|a| a / n).collect());
    }
    rows.into_iter()
        .map(|r| r.into_iter().map(|a| a as f32).collect())
        .collect()
}

#[test]
fn clamp_reads_back_and_keeps_the_sae_error() {
    let m = model("qwen2");
    let hook: HookPoint = "blocks.1.hook_mlp_out".parse().unwrap();
    let mut rec = Record { hook, rows: vec![] };
    m.run(&en_ids(), &mut rec, Default::default()).unwrap();
    let x = rec.all(); // [t, 64]
    let t = x.dim(0).unwrap();

    // 1. The fixture TopK SAE: x' − decode(f with f_i := v) equals x − decode(f).
    let slots = vec![topk_slot()];
    let r = Resolver {
        model: &m,
        saes: &slots,
    };
    let sae = &slots[0].sae;
    let f = sae.encode(&x).unwrap();
    let fv = f.to_vec2::<f32>().unwrap();
    let latent = (0..256)
        .find(|&i| fv.iter().filter(|r| r[i] > 0.0).count() >= 2)
        .unwrap();
    let v = 3.25f32;
    let iv = r
        .neuron(&set(1, latent as u32, v as f64, NeuronMode::Clamp), "c")
        .unwrap();
    let xp = iv.patch(&x, &slots).unwrap();
    let mut f2 = fv.clone();
    f2.iter_mut().for_each(|row| row[latent] = v);
    let f2 = Tensor::new(f2, &Device::Cpu).unwrap();
    let err_before = (&x - sae.decode(&f).unwrap()).unwrap();
    let err_after = (&xp - sae.decode(&f2).unwrap()).unwrap();
    common::assert_close("SAE error kept (topk)", &err_after, &err_before, 1e-5);

    // 2. An SAE whose encoder inverts its decoder on its span (tied, orthonormal rows, ReLU):
    //    re-encoding the patched activation reads back f_i = v wherever i was active, and the
    //    error computed by re-encoding is unchanged.
    let (d, n) = (64usize, 16usize);
    let rows = orthonormal(n, d);
    let w_dec = Tensor::new(rows.clone(), &Device::Cpu).unwrap();
    let b_dec = Tensor::new(
        (0..d).map(|i| 0.01 * (i as f32 % 7.0)).collect::<Vec<_>>(),
        &Device::Cpu,
    )
    .unwrap();
    let tied = Sae {
        meta: safe_sail::sae::SaeMeta {
            path: "tied".into(),
            format: safe_sail::sae::format::FORMATS[0],
            d_in: d,
            d_sae: n,
            hook,
            model_name: None,
        },
        activation: Activation::Relu,
        w_enc: SaeMatrix::from(w_dec.t().unwrap().contiguous().unwrap()),
        b_enc: Tensor::zeros(n, DType::F32, &Device::Cpu).unwrap(),
        w_dec: Some(SaeMatrix::from(w_dec)),
        b_dec: Some(b_dec.clone()),
        input_bias: Some(b_dec),
        threshold: None,
        input_scale: 1.0,
    };
    let slots = vec![SaeSlot::new(tied)];
    let r = Resolver {
        model: &m,
        saes: &slots,
    };
    let sae = &slots[0].sae;
    let f = sae.encode(&x).unwrap().to_vec2::<f32>().unwrap();
    let mut checked = 0;
    for latent in 0..n {
        let iv = r
            .neuron(&set(1, latent as u32, v as f64, NeuronMode::Clamp), "c")
            .unwrap();
        let xp = iv.patch(&x, &slots).unwrap();
        let fp = sae.encode(&xp).unwrap();
        let err_before = (&x - sae.decode(&sae.encode(&x).unwrap()).unwrap()).unwrap();
        let err_after = (&xp - sae.decode(&fp).unwrap()).unwrap();
        let fp = fp.to_vec2::<f32>().unwrap();
        let eb = err_before.to_vec2::<f32>().unwrap();
        let ea = err_after.to_vec2::<f32>().unwrap();
        for p in 0..t {
            if f[p][latent] > 0.0 {
                assert!(
                    (fp[p][latent] - v).abs() < 1e-3,
                    "latent {latent} at {p}: {}",
                    fp[p][latent]
                );
                for j in 0..d {
                    assert!((ea[p][j] - eb[p][j]).abs() < 1e-4, "error moved at {p},{j}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "only {checked} active positions checked");
}

#[test]
fn vector_add_matches_pytorch_by_hand() {
    for name in ["qwen2", "llama"] {
        let m = model(name);
        let refs_path = fixtures()
            .join("refs")
            .join(name)
            .join("steer_add.safetensors");
        let refs = load_refs(&refs_path);
        let hook = {
            let f = std::fs::File::open(&refs_path).unwrap();
            let mm = unsafe { memmap2::Mmap::map(&f).unwrap() };
            let (_, meta) = safetensors::SafeTensors::read_metadata(&mm).unwrap();
            meta.metadata().as_ref().unwrap()["hook"].clone()
        };
        let c = refs["coefficient"].to_vec1::<f32>().unwrap()[0];
        let ids: Vec<u32> = refs["input_ids"]
            .to_vec1::<i64>()
            .unwrap()
            .iter()
            .map(|&i| i as u32)
            .collect();
        let want: Vec<u32> = refs["greedy_ids"]
            .to_vec1::<i64>()
            .unwrap()
            .iter()
            .map(|&i| i as u32)
            .collect();
        let want_default: Vec<u32> = refs["default_greedy_ids"]
            .to_vec1::<i64>()
            .unwrap()
            .iter()
            .map(|&i| i as u32)
            .collect();
        let npy = fixtures().join("refs").join(name).join("steer_vector.npy");
        let slots: Vec<SaeSlot> = vec![];
        let r = Resolver {
            model: &m,
            saes: &slots,
        };
        let opts = SteerOpts {
            gen: GenerateOpts {
                max_new_tokens: 12,
                ..Default::default()
            },
            include_special: true,
            ..Default::default()
        };
        let toks = tokens(&m, &ids);
        for spec in [
            format!("{},hook={hook},op=add,c={c}", npy.display()),
            format!(
                "{},hook={hook},op=add,c={c},key=vector",
                refs_path.display()
            ),
        ] {
            let iv = r
                .direction(&spec.parse::<DirectionSet>().unwrap(), &spec)
                .unwrap();
            let s = steer::run(&m, &slots, &toks, &[iv], &[], &opts, None, &mut |_| {}).unwrap();
            assert_eq!(s.ids, want, "{name}: steered greedy tokens ({spec})");
            // The first step's distribution against PyTorch's last prompt position.
            let logits = refs["logits"]
                .get(ids.len() - 1)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = logits.iter().map(|l| (l - max).exp()).sum::<f32>().ln() + max;
            let worst = logits
                .iter()
                .zip(&s.logprobs[0])
                .map(|(l, got)| ((l - lse) - got).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-3, "{name}: log-probabilities differ by {worst}");
        }
        let d = steer::run(&m, &slots, &toks, &[], &[], &opts, None, &mut |_| {}).unwrap();
        assert_eq!(d.ids, want_default, "{name}: default greedy tokens");
    }
}

#[test]
fn tripwires_stop_or_steer() {
    let m = model("qwen2");
    let mut slot = topk_slot();
    let hook = slot.sae.hook();
    let ids = en_ids();
    let gen = GenerateOpts {
        max_new_tokens: 10,
        ..Default::default()
    };
    let mut rec = Record { hook, rows: vec![] };
    let plain = m
        .generate_steps(
            &ids,
            &gen,
            &mut rec,
            None,
            |_| Flow::Continue,
            |_| Flow::Continue,
        )
        .unwrap();
    let f = slot
        .sae
        .encode(&rec.all())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    // A latent that first fires on an answer token after the first.
    let n = ids.len();
    let (latent, first) = (0..256usize)
        .filter_map(|i| {
            let first = (n..f.len()).find(|&p| f[p][i] > 0.0)?;
            (first > n).then_some((i, first - n))
        })
        .min_by_key(|p| p.1)
        .expect("a latent firing late in the answer");
    let spec: TripwireSpec = format!("1_{latent}>0.5").parse().unwrap();
    {
        let slots = vec![topk_slot()];
        let r = Resolver {
            model: &m,
            saes: &slots,
        };
        let e = format!("{:#}", r.tripwire(&spec, "t", None).unwrap_err());
        assert!(e.contains("feature store"), "{e}");
    }
    // Scales: make 1.0 normalized = half the activation it reaches there.
    let v = f[n + first][latent];
    slot.q999 = Some(HashMap::from([(latent as u32, v)]));
    let slots = vec![slot];
    let r = Resolver {
        model: &m,
        saes: &slots,
    };
    let opts = SteerOpts {
        gen,
        ..Default::default()
    };
    let toks = tokens(&m, &ids);
    let tw = r.tripwire(&spec, "stop", None).unwrap();
    let s = steer::run(&m, &slots, &toks, &[], &[tw], &opts, None, &mut |_| {}).unwrap();
    assert_eq!(s.events.len(), 1, "{:?}", s.events);
    let e = &s.events[0];
    assert_eq!(e.index, first);
    assert_eq!(e.neuron, format!("1_{latent}"));
    assert!((e.normalized - 1.0).abs() < 1e-5);
    assert!(s.stopped);
    assert_eq!(
        s.ids,
        plain[..=first].to_vec(),
        "stops right after the token that fired"
    );
    // A domain: the verified neurons with that tag in the database (unverified ones are not watched).
    let dir = std::env::temp_dir().join(format!("steer-db-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("neurons.json");
    let other = (latent + 1) % 256;
    std::fs::write(
        &db,
        serde_json::json!({"format": "safe-sail-explorer/neurons", "version": 1, "neurons": {
            format!("1_{latent}"): {"explanation": "x", "correlation_score": 0.5, "tag_list": ["violence"], "review_status": "verified"},
            format!("1_{other}"): {"explanation": "y", "correlation_score": 0.5, "tag_list": ["violence"]},
            "9_1": {"explanation": "z", "correlation_score": 0.5, "tag_list": ["violence"], "review_status": "verified"}
        }})
        .to_string(),
    )
    .unwrap();
    let dom: TripwireSpec = "violence>0.5".parse().unwrap();
    let e = format!("{:#}", r.tripwire(&dom, "violence>0.5", None).unwrap_err());
    assert!(e.contains("--db"), "{e}");
    let tw = r.tripwire(&dom, "violence>0.5", Some(&db)).unwrap();
    assert_eq!(tw.len(), 1, "only the verified neuron at a loaded layer");
    let s = steer::run(&m, &slots, &toks, &[], &[tw], &opts, None, &mut |_| {}).unwrap();
    assert_eq!(s.events.len(), 1);
    assert_eq!(s.events[0].neuron, format!("1_{latent}"));
    assert_eq!(s.ids, plain[..=first].to_vec());
    let pol: TripwireSpec = "politics>0.5".parse().unwrap();
    let e = format!(
        "{:#}",
        r.tripwire(&pol, "politics>0.5", Some(&db)).unwrap_err()
    );
    assert!(e.contains("no verified neuron tagged `politics`"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
    // A higher threshold never fires.
    let quiet: TripwireSpec = format!("1_{latent}>1000").parse().unwrap();
    let tw = r.tripwire(&quiet, "quiet", None).unwrap();
    let s = steer::run(&m, &slots, &toks, &[], &[tw], &opts, None, &mut |_| {}).unwrap();
    assert!(s.events.is_empty());
    assert_eq!(s.ids, plain);
    // steer=: a strong add switched on after the token that fired changes the rest only.
    let steer_spec: TripwireSpec = format!("1_{latent}>0.5:steer=1_{latent}=200:add")
        .parse()
        .unwrap();
    let tw = r.tripwire(&steer_spec, "steer", None).unwrap();
    let s = steer::run(&m, &slots, &toks, &[], &[tw], &opts, None, &mut |_| {}).unwrap();
    assert_eq!(s.events.len(), 1);
    assert_eq!(s.events[0].action, "steer");
    assert_eq!(s.ids[..=first], plain[..=first]);
    assert_ne!(
        s.ids, plain,
        "the intervention after the trip changes the answer"
    );
}

#[test]
fn bad_input_is_named() {
    let m = model("qwen2");
    let slots = vec![topk_slot()];
    let r = Resolver {
        model: &m,
        saes: &slots,
    };
    let err = |s: &str| -> String {
        let e = s
            .parse::<NeuronSet>()
            .and_then(|n| r.neuron(&n, s).map(|_| ()))
            .unwrap_err();
        format!("{e:#}")
    };
    assert!(
        err("1_256=1").contains("index 256 is out of range"),
        "{}",
        err("1_256=1")
    );
    assert!(
        err("2_3=1").contains("no SAE hooks layer 2"),
        "{}",
        err("2_3=1")
    );
    assert!(
        err("other:1_3=1").contains("no SAE is named `other`"),
        "{}",
        err("other:1_3=1")
    );
    assert!(err("1_3=NaN").contains("not finite"));
    assert!(err("1_3=inf:clamp").contains("not finite"));
    assert!(
        err("1-3=1").contains("unknown neuron id"),
        "{}",
        err("1-3=1")
    );
    assert!(err("1_3=2x").contains("feature store"), "{}", err("1_3=2x"));
    // Two SAEs at one layer need a name.
    let both = vec![topk_slot(), {
        let mut s = topk_slot();
        s.name = "second".into();
        s
    }];
    let r2 = Resolver {
        model: &m,
        saes: &both,
    };
    let e = format!(
        "{:#}",
        r2.neuron(&"1_3=1".parse().unwrap(), "1_3=1").unwrap_err()
    );
    assert!(e.contains("write NAME:1_3"), "{e}");
    assert!(r2.neuron(&"second:1_3=1".parse().unwrap(), "x").is_ok());
    // Vector files: wrong width, missing, non-finite.
    let dir = std::env::temp_dir().join(format!("steer-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let short = dir.join("short.npy");
    Tensor::zeros(10, DType::F32, &Device::Cpu)
        .unwrap()
        .write_npy(&short)
        .unwrap();
    let spec = format!(
        "{},hook=blocks.1.hook_resid_post,op=add,c=1",
        short.display()
    );
    let e = format!(
        "{:#}",
        r.direction(&spec.parse().unwrap(), &spec).unwrap_err()
    );
    assert!(
        e.contains("expected one vector of 64 values") && e.contains("short.npy"),
        "{e}"
    );
    let nan = dir.join("nan.npy");
    let mut v = vec![0.5f32; 64];
    v[7] = f32::NAN;
    Tensor::new(v, &Device::Cpu)
        .unwrap()
        .write_npy(&nan)
        .unwrap();
    let spec = format!("{},hook=blocks.1.hook_resid_post,op=project", nan.display());
    let e = format!(
        "{:#}",
        r.direction(&spec.parse().unwrap(), &spec).unwrap_err()
    );
    assert!(e.contains("value 7 is NaN"), "{e}");
    let spec = format!(
        "{},hook=blocks.9.hook_resid_post,op=project",
        short.display()
    );
    let e = format!(
        "{:#}",
        r.direction(&spec.parse().unwrap(), &spec).unwrap_err()
    );
    assert!(e.contains("out of range"), "{e}");
    let spec = "/nonexistent/v.npy,hook=blocks.1.hook_resid_post,op=project";
    let e = format!(
        "{:#}",
        r.direction(&spec.parse().unwrap(), spec).unwrap_err()
    );
    assert!(e.contains("/nonexistent/v.npy does not exist"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

fn run_cli(args: &[&str]) -> std::process::Output {
    bin().args(args).output().unwrap()
}

#[test]
fn cli_steer_matches_generate_and_reports() {
    let model = fixtures().join("models/qwen2").display().to_string();
    let sae = fixtures().join("saes/saelens_topk").display().to_string();
    let common = [
        "--model",
        &model,
        "--prompt",
        "The quick brown fox",
        "--max-new-tokens",
        "8",
        "--temperature",
        "0.8",
        "--seed",
        "5",
    ];
    let g = run_cli(&[&["generate"], &common[..]].concat());
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    let out = String::from_utf8(g.stdout).unwrap();
    let dir = std::env::temp_dir().join(format!("steer-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("iv.csv");
    let s = run_cli(
        &[
            &[
                "steer",
                "--sae",
                &sae,
                "--set",
                "1_5=0",
                "--set",
                "1_7=ablate",
                "--json",
            ],
            &common[..],
            &["--export-csv", csv.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let j: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(format!("{}\n", j["default"]["text"].as_str().unwrap()), out);
    for key in [
        "default",
        "steered",
        "per_token",
        "interventions",
        "first_divergence",
    ] {
        assert!(j.get(key).is_some(), "no {key} in {j}");
    }
    assert_eq!(j["interventions"].as_array().unwrap().len(), 2);
    assert_eq!(
        j["per_token"][0]["top_steered"].as_array().unwrap().len(),
        5
    );
    let csv = std::fs::read_to_string(&csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "loader,action,sparse_model,hookpoint,feature_index,steering_coefficient,sae_id,description"
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(row[0], "sae_lens");
    assert_eq!(row[1], "add");
    assert_eq!(row[3], "blocks.1.hook_mlp_out");
    assert_eq!(row[4], "5");
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!((row[1], row[5]), ("clamp", "0"));

    // Strength 0: the steered text is generate's too.
    let s = run_cli(
        &[
            &["steer", "--sae", &sae, "--set", "1_5=0", "--json"],
            &common[..],
        ]
        .concat(),
    );
    let j: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(format!("{}\n", j["steered"]["text"].as_str().unwrap()), out);
    assert!(j["first_divergence"].is_null());

    // Bad input: a clear error, no panic.
    for (set, says) in [
        ("1_999=1", "out of range"),
        ("4_1=1", "no SAE hooks layer 4"),
        ("1_1=nan", "not finite"),
    ] {
        let s = run_cli(&[&["steer", "--sae", &sae, "--set", set], &common[..]].concat());
        let e = String::from_utf8_lossy(&s.stderr);
        assert!(
            !s.status.success() && e.contains(says) && !e.contains("panicked"),
            "{set}: {e}"
        );
    }
    // A tripwire needs a store for its normalized threshold.
    let s = run_cli(
        &[
            &["generate", "--sae", &sae, "--tripwire", "1_3>0.5"],
            &common[..],
        ]
        .concat(),
    );
    let e = String::from_utf8_lossy(&s.stderr);
    assert!(!s.status.success() && e.contains("feature store"), "{e}");

    // steer-eval: Parquet with a row per intervention and per control.
    let prompts = dir.join("prompts.txt");
    std::fs::write(&prompts, "The quick brown fox\n\nHello there\n").unwrap();
    let neutral = dir.join("neutral.txt");
    std::fs::write(
        &neutral,
        "The weather today is mild and the market opens at nine.",
    )
    .unwrap();
    let pq = dir.join("eval.parquet");
    let s = run_cli(&[
        "steer-eval",
        "--model",
        &model,
        "--sae",
        &sae,
        "--set",
        "1_5=8",
        "--set",
        "1_7=ablate",
        "--prompts",
        prompts.to_str().unwrap(),
        "--neutral",
        neutral.to_str().unwrap(),
        "--max-new-tokens",
        "4",
        "--out",
        pq.to_str().unwrap(),
    ]);
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    use polars::prelude::*;
    let df = ParquetReader::new(std::fs::File::open(&pq).unwrap())
        .finish()
        .unwrap();
    assert_eq!(df.height(), 4);
    let ctl = df.column("control").unwrap().bool().unwrap();
    assert_eq!(
        (0..ctl.len()).map(|i| ctl.get(i)).collect::<Vec<_>>(),
        vec![Some(false), Some(true), Some(false), Some(true)]
    );
    let norm = df.column("applied_norm").unwrap().f64().unwrap();
    let n: Vec<f64> = (0..norm.len()).map(|i| norm.get(i).unwrap()).collect();
    assert!((n[0] - n[1]).abs() < 1e-9 && n[0] > 0.0, "{n:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Counts the steps a steer-eval reports and sets the cancel flag at the first one.
struct CancelAtFirst<'a> {
    flag: &'a std::sync::atomic::AtomicBool,
    steps: std::sync::atomic::AtomicU64,
}

impl safe_sail::progress::Progress for CancelAtFirst<'_> {
    fn inc(&self) {
        use std::sync::atomic::Ordering;
        self.steps.fetch_add(1, Ordering::SeqCst);
        self.flag.store(true, Ordering::SeqCst);
    }
}

/// The window's steer-eval: a cancel stops it at the next token with an error saying so, and a
/// run without one gives the same rows as `steer_eval`; the built-in neutral text gives a
/// finite capability cost, and the lm-eval CSV is written from resolved interventions.
#[test]
fn steer_eval_stops_when_cancelled_and_writes_lm_eval_csv() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let m = model("qwen2");
    let slots = vec![topk_slot()];
    let r = Resolver {
        model: &m,
        saes: &slots,
    };
    let iv = r
        .neuron(&set(1, 5, 8.0, NeuronMode::Add), "1_5=8:add")
        .unwrap();
    let prompts = vec![tokens(&m, &en_ids()), tokens(&m, &en_ids()[..3])];
    let neutral = m
        .tok
        .encode_ids(&steer::eval::default_neutral_text(), true)
        .unwrap();
    let opts = steer::eval::EvalOpts {
        steer: SteerOpts {
            gen: GenerateOpts {
                max_new_tokens: 6,
                ..Default::default()
            },
            ..Default::default()
        },
        window: 128,
        control_seed: 3,
    };
    let flag = AtomicBool::new(false);
    let sink = CancelAtFirst {
        flag: &flag,
        steps: AtomicU64::new(0),
    };
    let ivs = [iv.clone()];
    let e = steer::eval::steer_eval_cancellable(
        &m, &slots, &prompts, &neutral, &ivs, &opts, &sink, &flag,
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("cancelled"), "{e:#}");
    assert_eq!(
        sink.steps.load(Ordering::SeqCst),
        1,
        "it stopped in the second prompt's default answer, of 6 steps"
    );
    let never = AtomicBool::new(false);
    let a = steer::eval::steer_eval_cancellable(
        &m,
        &slots,
        &prompts,
        &neutral,
        &ivs,
        &opts,
        &safe_sail::progress::Silent,
        &never,
    )
    .unwrap();
    let b = steer::eval::steer_eval(
        &m,
        &slots,
        &prompts,
        &neutral,
        &ivs,
        &opts,
        &safe_sail::progress::Silent,
    )
    .unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 2);
    assert!(a
        .iter()
        .all(|r| r.delta_ce.is_finite() && r.ce_default > 0.0));

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("lm.csv");
    assert_eq!(steer::eval::write_lm_eval_csv(&ivs, &csv).unwrap(), 1);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        steer::eval::LM_EVAL_COLUMNS.join(",")
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        (row[0], row[1], row[4], row[5]),
        ("sae_lens", "add", "5", "8")
    );
    // A raw direction has no row there: an error, and no file is left behind.
    let d: DirectionSet = "1_5,op=project".parse().unwrap();
    let div = r.direction(&d, "1_5,op=project").unwrap();
    let csv2 = dir.path().join("lm2.csv");
    let e = steer::eval::write_lm_eval_csv(&[iv, div], &csv2).unwrap_err();
    assert!(format!("{e:#}").contains("raw direction"), "{e:#}");
    assert!(!csv2.exists());
}
