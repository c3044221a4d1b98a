use super::*;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

/// Sparse combinations of `n_true` random unit directions in `d` dimensions, `active` per
/// row, plus an offset so that `b_dec` matters.
struct Synthetic {
    d: usize,
    dirs: Vec<Vec<f32>>,
    active: usize,
    rng: rand::rngs::StdRng,
}

impl Synthetic {
    fn new(d: usize, n_true: usize, active: usize, seed: u64) -> Self {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut dirs: Vec<Vec<f32>> = (0..n_true)
            .map(|_| (0..d).map(|_| rng.random::<f32>() - 0.5).collect())
            .collect();
        for v in &mut dirs {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= n);
        }
        Self {
            d,
            dirs,
            active,
            rng,
        }
    }

    fn batch(&mut self, n: usize) -> Tensor {
        let d = self.d;
        let mut data = vec![0f32; n * d];
        for r in 0..n {
            for c in 0..d {
                data[r * d + c] = 0.3;
            }
            for _ in 0..self.active {
                let j = self.rng.random_range(0..self.dirs.len());
                let a = 0.5 + self.rng.random::<f32>();
                for c in 0..d {
                    data[r * d + c] += a * self.dirs[j][c];
                }
            }
        }
        Tensor::from_vec(data, (n, d), &Device::Cpu).unwrap()
    }
}

fn config(arch: SaeArch) -> TrainConfig {
    TrainConfig {
        lr: 3e-3,
        warmup_steps: 20,
        seed: 1,
        ..TrainConfig::new(32, 96, arch)
    }
}

/// Trains `steps` steps; returns the trainer and every step's stats.
fn train(
    arch: SaeArch,
    steps: usize,
    tweak: impl Fn(&mut TrainConfig),
) -> (SaeTrainer, Vec<StepStats>) {
    let mut data = Synthetic::new(32, 48, 3, 3);
    let mut cfg = config(arch);
    tweak(&mut cfg);
    let mut t = SaeTrainer::new(cfg, &data.batch(512)).unwrap();
    let stats = (0..steps)
        .map(|_| t.train_step(&data.batch(256)).unwrap())
        .collect();
    (t, stats)
}

/// A copy of `t` (its state as a checkpoint would hold it) under `cfg`.
fn restored(t: &SaeTrainer, cfg: TrainConfig) -> SaeTrainer {
    let tensors: HashMap<String, Tensor> = t.state_tensors("").into_iter().collect();
    SaeTrainer::restore(
        cfg,
        &tensors,
        "",
        t.step,
        t.since_fired().to_vec(),
        &Device::Cpu,
    )
    .unwrap()
}

fn mean(s: &[StepStats], f: impl Fn(&StepStats) -> f32) -> f32 {
    s.iter().map(f).sum::<f32>() / s.len() as f32
}

#[test]
fn geometric_median_by_hand() {
    // On a line the geometric median is the median, whatever the outlier.
    let x = [0f32, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 100.0, 100.0];
    let m = geometric_median(&x, 2, 200, 1e-7).unwrap();
    assert!(
        (m[0] - 2.0).abs() < 1e-3 && (m[1] - 2.0).abs() < 1e-3,
        "{m:?}"
    );
    // The vertices of a square: its centre (= the mean).
    let x = [0f32, 0.0, 2.0, 0.0, 0.0, 2.0, 2.0, 2.0];
    let m = geometric_median(&x, 2, 200, 1e-7).unwrap();
    assert!(
        (m[0] - 1.0).abs() < 1e-5 && (m[1] - 1.0).abs() < 1e-5,
        "{m:?}"
    );
    // A triangle with an angle ≥ 120°: the Fermat point is that vertex.
    let x = [0f32, 0.0, 10.0, 0.0, -10.0, 0.5];
    let m = geometric_median(&x, 2, 500, 1e-7).unwrap();
    assert!(m[0].abs() < 1e-2 && m[1].abs() < 1e-2, "{m:?}");
    assert!(
        geometric_median(&x, 2, 0, 1e-7).is_none(),
        "no iterations: no convergence"
    );
    assert!(geometric_median(&[1.0, 2.0, 3.0], 2, 10, 1e-7).is_none());
}

#[test]
fn learning_rate_warms_up_and_decays() {
    let cfg = TrainConfig {
        lr: 1.0,
        warmup_steps: 10,
        total_steps: 100,
        ..TrainConfig::new(4, 8, SaeArch::TopK { k: 2 })
    };
    assert!((cfg.lr_at(0) - 0.1).abs() < 1e-12);
    assert_eq!(cfg.lr_at(9), 1.0);
    assert_eq!(cfg.lr_at(79), 1.0);
    assert!((cfg.lr_at(90) - 0.5).abs() < 1e-12);
    assert!(cfg.lr_at(99) > 0.0 && cfg.lr_at(99) <= 0.05 + 1e-12);
    assert_eq!(cfg.lr_at(100), 0.0);
}

/// Data made of sparse combinations of known unit directions: a TopK SAE recovers them.
#[test]
fn recovers_sparse_ground_truth_directions() {
    let mut data = Synthetic::new(32, 48, 3, 3);
    let cfg = TrainConfig {
        warmup_steps: 50,
        ..config(SaeArch::TopK { k: 3 })
    };
    let mut t = SaeTrainer::new(cfg, &data.batch(512)).unwrap();
    let mut last = StepStats::default();
    for _ in 0..1500 {
        last = t.train_step(&data.batch(256)).unwrap();
    }
    assert!(last.mse < 0.02, "mse {}", last.mse);
    assert!(last.explained_variance > 0.9, "{last:?}");
    assert!(last.l0 <= 3.0 + 1e-6, "{last:?}");
    // For each true direction, the best cosine among decoder rows.
    let dec = t.decoder().to_vec2::<f32>().unwrap();
    let recovered = data
        .dirs
        .iter()
        .filter(|g| {
            dec.iter()
                .map(|r| r.iter().zip(g.iter()).map(|(a, b)| a * b).sum::<f32>())
                .fold(f32::MIN, f32::max)
                >= 0.9
        })
        .count();
    assert!(
        recovered as f64 >= 0.8 * data.dirs.len() as f64,
        "recovered {recovered} of {} directions",
        data.dirs.len()
    );
    // Decoder rows stay at unit norm.
    for r in &dec {
        let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-4, "row norm {n}");
    }
}

#[test]
fn every_architecture_learns() {
    for arch in [
        SaeArch::TopK { k: 4 },
        SaeArch::Relu { l1: 0.05 },
        SaeArch::JumpRelu { l0_coeff: 0.01 },
    ] {
        let (_, s) = train(arch, 300, |_| {});
        let (head, tail) = (
            mean(&s[..10], |s| s.loss),
            mean(&s[s.len() - 10..], |s| s.loss),
        );
        assert!(tail < 0.5 * head, "{arch:?}: loss {head} → {tail}");
        let ev = mean(&s[s.len() - 10..], |s| s.explained_variance);
        assert!(ev > 0.6, "{arch:?}: explained variance {ev}");
        assert!(s.iter().all(|s| s.loss.is_finite()));
    }
}

#[test]
fn l1_penalty_makes_relu_sparser() {
    let l0 = |l1| {
        let (_, s) = train(SaeArch::Relu { l1 }, 300, |_| {});
        mean(&s[s.len() - 20..], |s| s.l0)
    };
    let (dense, sparse) = (l0(0.0), l0(0.3));
    assert!(sparse < 0.5 * dense, "L0 {dense} without L1, {sparse} with");
}

#[test]
fn jumprelu_thresholds_train() {
    let (t0, _) = train(SaeArch::JumpRelu { l0_coeff: 0.01 }, 0, |_| {});
    let before = t0.thresholds().unwrap().unwrap().to_vec1::<f32>().unwrap();
    assert!(before
        .iter()
        .all(|&v| v > 0.0 && (v - before[0]).abs() < 1e-9));
    // One step: the thresholds get a non-zero (pseudo-)gradient, so Adam moves them.
    let (t1, _) = train(SaeArch::JumpRelu { l0_coeff: 0.01 }, 1, |_| {});
    let after = t1.thresholds().unwrap().unwrap().to_vec1::<f32>().unwrap();
    let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    assert!(moved > 0, "no threshold moved after a step");
    // A stronger L0 penalty raises the thresholds and lowers L0.
    let run = |c| {
        let (t, s) = train(SaeArch::JumpRelu { l0_coeff: c }, 300, |_| {});
        let th = t.thresholds().unwrap().unwrap().to_vec1::<f32>().unwrap();
        (
            th.iter().sum::<f32>() / th.len() as f32,
            mean(&s[s.len() - 20..], |s| s.l0),
        )
    };
    let ((th_lo, l0_lo), (th_hi, l0_hi)) = (run(0.001), run(0.05));
    assert!(th_hi > th_lo, "thresholds {th_lo} vs {th_hi}");
    assert!(l0_hi < l0_lo, "L0 {l0_lo} vs {l0_hi}");
}

#[test]
fn auxk_trains_dead_latents_only() {
    // Many latents, small k: many lose the TopK competition and count as dead.
    let mut data = Synthetic::new(32, 48, 3, 3);
    let mut cfg = config(SaeArch::TopK { k: 2 });
    cfg.d_sae = 256;
    cfg.dead_tokens = 512;
    let mut t = SaeTrainer::new(cfg, &data.batch(512)).unwrap();
    for _ in 0..30 {
        t.train_step(&data.batch(256)).unwrap();
    }
    let dead: Vec<bool> = t.since_fired().iter().map(|&s| s >= 512).collect();
    assert!(dead.iter().any(|&d| d), "no latent died");
    // The same step from the same state, with and without AuxK.
    let x = data.batch(256);
    let step = |aux: f64| {
        let mut cfg = t.cfg.clone();
        cfg.aux_coeff = aux;
        let mut u = restored(&t, cfg);
        let s = u.train_step(&x).unwrap();
        (u.decoder().to_vec2::<f32>().unwrap(), s)
    };
    let ((with, s_with), (without, s_without)) = (step(1.0 / 32.0), step(0.0));
    assert!(
        s_with.loss > s_without.loss,
        "the AuxK term adds to the loss"
    );
    let changed: Vec<usize> = (0..256).filter(|&i| with[i] != without[i]).collect();
    assert!(!changed.is_empty(), "AuxK changed no decoder row");
    assert!(
        changed.iter().all(|&i| dead[i]),
        "AuxK touched the decoder rows of live latents"
    );
}

/// One step of each TopK kernel from the same state and batch (after a few dense steps, so
/// that Adam's moments are not zero): the same loss, stats, parameters, moments and dead
/// counters, up to float rounding; with dead latents, AuxK included.
#[test]
fn sparse_topk_step_matches_dense() {
    for (dead_tokens, warm_steps) in [(u64::MAX, 3), (64, 12)] {
        let mut data = Synthetic::new(16, 24, 3, 7);
        let cfg = TrainConfig {
            lr: 3e-3,
            warmup_steps: 5,
            seed: 2,
            dead_tokens,
            kernel: TopKKernel::Dense,
            ..TrainConfig::new(16, 64, SaeArch::TopK { k: 4 })
        };
        let mut t = SaeTrainer::new(cfg, &data.batch(64)).unwrap();
        for _ in 0..warm_steps {
            t.train_step(&data.batch(32)).unwrap();
        }
        let dead = t.dead_count();
        assert_eq!(dead > 0, dead_tokens == 64, "{dead} dead latents");
        let x = data.batch(32);
        let step = |kernel| {
            let cfg = TrainConfig {
                kernel,
                ..t.cfg.clone()
            };
            let mut u = restored(&t, cfg);
            let s = u.train_step(&x).unwrap();
            (s, u)
        };
        let ((sd, d), (ss, sp)) = (step(TopKKernel::Dense), step(TopKKernel::Sparse));
        if dead > 0 {
            // AuxK took part: the loss without it is lower.
            let mut cfg = t.cfg.clone();
            cfg.aux_coeff = 0.0;
            let mut u = restored(&t, cfg);
            assert!(u.train_step(&x).unwrap().loss < ss.loss, "AuxK did not run");
        }
        let rel = |a: f32, b: f32| (a - b).abs() / a.abs().max(1e-12);
        assert!(rel(sd.loss, ss.loss) < 1e-5, "loss {sd:?} vs {ss:?}");
        assert!(rel(sd.mse, ss.mse) < 1e-5, "mse {sd:?} vs {ss:?}");
        assert_eq!(sd.l0, ss.l0);
        assert_eq!(sd.dead_fraction, ss.dead_fraction);
        assert_eq!(d.since_fired(), sp.since_fired());
        for ((name, a), (_, b)) in d.state_tensors("").iter().zip(sp.state_tensors("")) {
            let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
            let diff = a
                .iter()
                .zip(&b)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(
                diff <= 1e-5 * scale.max(1e-30),
                "{dead} dead latents: {name} differs by {diff} (largest value {scale})"
            );
        }
    }
}

#[test]
fn restored_trainer_continues_bit_for_bit() {
    for arch in [
        SaeArch::TopK { k: 4 },
        SaeArch::Relu { l1: 0.05 },
        SaeArch::JumpRelu { l0_coeff: 0.01 },
    ] {
        let mut data = Synthetic::new(32, 48, 3, 5);
        let mut cfg = config(arch);
        cfg.dead_tokens = 256;
        let mut a = SaeTrainer::new(cfg, &data.batch(256)).unwrap();
        let batches: Vec<Tensor> = (0..40).map(|_| data.batch(128)).collect();
        for b in &batches[..20] {
            a.train_step(b).unwrap();
        }
        let tensors: HashMap<String, Tensor> = a.state_tensors("t0.").into_iter().collect();
        let mut b = SaeTrainer::restore(
            a.cfg.clone(),
            &tensors,
            "t0.",
            a.step,
            a.since_fired().to_vec(),
            &Device::Cpu,
        )
        .unwrap();
        for x in &batches[20..] {
            let (sa, sb) = (a.train_step(x).unwrap(), b.train_step(x).unwrap());
            assert_eq!(sa.loss.to_bits(), sb.loss.to_bits());
        }
        for ((na, ta), (_, tb)) in a.state_tensors("").iter().zip(b.state_tensors("")) {
            assert_eq!(
                ta.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                tb.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                "{arch:?} {na}"
            );
        }
    }
}
