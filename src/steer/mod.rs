//! Steering: interventions on SAE neurons and raw directions during generation, tripwires that
//! watch neurons while the model answers, and the comparison of a steered answer with the
//! untouched one (same seed and sampling settings).
//!
//! Operations at a hook with activation `x` (per steered position):
//! * neuron **add**: `x + c · d_i`, where `d_i = W_dec[i] / s` is what one unit of latent `i`
//!   adds to the SAE's reconstruction (`s` the SAE's input scale, usually 1);
//! * neuron **clamp** to `v`: `x + (v − f_i(x)) · d_i` (the SAE's error `x − x̂` is kept), and
//!   **ablate** = clamp to 0;
//! * raw direction `v` (a vector file or a decoder row): **add** `x + c · v`, **project** out
//!   `x − (x·v̂) v̂`, **cap** `x − max(0, x·v̂ − c) v̂`.
//!
//! Interventions at one hook apply in the order given; they touch the prompt's positions, the
//! answer's, or both, and skip special tokens (chat-template markers, BOS/EOS) unless asked.
//!
//! The comparison ([`compare`]) generates the default answer (no hooks) and the steered one
//! with the same [`GenerateOpts`], then teacher-forces the steered answer through the unsteered
//! model. Per steered token `t` it reports the top log-probabilities of the steered model
//! (its own run) and of the unsteered model on the same prefix (prompt + steered tokens `< t`),
//! and `KL(P_default ‖ P_steered) = Σ_v p_d(v) (ln p_d(v) − ln p_s(v))` in nats between those two
//! next-token distributions (softmax of the raw logits, temperature 1). Up to the first
//! divergence the prefixes are the default answer's own.

pub mod eval;
pub mod spec;

pub use spec::{
    Amount, DirOp, DirSource, DirectionSet, InterventionSpec, NeuronMode, NeuronRef, NeuronSet,
    Positions, TripAction, TripwireSpec, Watch,
};

use crate::db::editable::{EditableDb, ReviewStatus};
use crate::hooks::HookPoint;
use crate::model::generate::{Flow, GenerateOpts};
use crate::model::tokenizer::{hex_bytes, split_utf8, TokenInfo};
use crate::model::{Hooks, Model, NoHooks};
use crate::sae::Sae;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, D};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

/// An SAE with the name neurons are written with (`NAME:L_I`) and, when a feature store is
/// given, its neurons' largest activations and 0.999 quantiles.
pub struct SaeSlot {
    pub name: String,
    pub sae: Sae,
    /// latent → `max_act` from the feature store.
    pub max_act: Option<HashMap<u32, f32>>,
    /// latent → 0.999 quantile (what counts as 1.0 in normalized units), from the feature store
    /// or a Safe-SAIL quantile file.
    pub q999: Option<HashMap<u32, f32>>,
}

impl SaeSlot {
    /// An SAE named by its store name ([`crate::store::run::sae_store_name`]), without a store.
    pub fn new(sae: Sae) -> Self {
        Self {
            name: crate::store::run::sae_store_name(&sae),
            sae,
            max_act: None,
            q999: None,
        }
    }

    /// Takes max activations and quantiles from a feature store folder.
    pub fn with_store(self, dir: &Path) -> Result<Self> {
        let store = crate::store::Store::open(dir)?;
        self.with_open_store(&store, dir)
    }

    /// [`SaeSlot::with_store`] from a store already open (read from `dir`, named in errors).
    pub fn with_open_store(mut self, store: &crate::store::Store, dir: &Path) -> Result<Self> {
        if let Some(f) = store
            .features
            .iter()
            .find(|f| f.latent as usize >= self.sae.d_sae())
        {
            bail!(
                "feature store {} has latent {} but SAE {} has {} latents: not its store",
                dir.display(),
                f.latent,
                self.name,
                self.sae.d_sae()
            );
        }
        self.max_act = Some(
            store
                .features
                .iter()
                .map(|f| (f.latent, f.max_act))
                .collect(),
        );
        self.q999 = Some(store.q999_map());
        Ok(self)
    }
}

/// Attaches feature stores to the SAEs they belong to: the only SAE, else the SAE whose path
/// the store names, else the SAE whose name is the store folder's name.
pub fn attach_stores(slots: Vec<SaeSlot>, dirs: &[std::path::PathBuf]) -> Result<Vec<SaeSlot>> {
    let mut slots: Vec<Option<SaeSlot>> = slots.into_iter().map(Some).collect();
    let mut which = vec![];
    for dir in dirs {
        let store = crate::store::Store::open(dir)?;
        let canon = |p: &Path| std::fs::canonicalize(p).ok();
        let sp = canon(Path::new(&store.sae_path()));
        let folder = dir.file_name().map(|n| n.to_string_lossy().to_string());
        let i = if slots.len() == 1 {
            Some(0)
        } else {
            slots
                .iter()
                .position(|s| {
                    s.as_ref()
                        .is_some_and(|s| sp.is_some() && canon(&s.sae.meta.path) == sp)
                })
                .or_else(|| {
                    slots
                        .iter()
                        .position(|s| s.as_ref().is_some_and(|s| Some(&s.name) == folder.as_ref()))
                })
        };
        let Some(i) = i else {
            bail!(
                "feature store {} matches none of the SAEs (it names SAE {}; SAEs: {})",
                dir.display(),
                store.sae_path(),
                slots
                    .iter()
                    .flatten()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        if which.contains(&i) {
            bail!(
                "feature store {}: SAE #{i} already has a store",
                dir.display()
            );
        }
        which.push(i);
        let slot = slots[i].take().expect("present");
        slots[i] = Some(slot.with_store(dir)?);
    }
    Ok(slots.into_iter().map(|s| s.expect("present")).collect())
}

/// What an intervention is, for reports (JSON, Parquet, the CSV export).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InterventionDesc {
    /// `neuron` or `direction`.
    pub kind: &'static str,
    /// add, clamp, ablate, project or cap.
    pub action: String,
    pub hook: String,
    /// The SAE's name (neuron interventions and decoder-row directions).
    pub sae: Option<String>,
    /// The SAE's checkpoint path and format tag (e.g. `SaeLens`).
    pub sae_path: Option<String>,
    pub sae_format: Option<String>,
    /// `LAYER_INDEX` of the neuron.
    pub neuron: Option<String>,
    pub latent: Option<u32>,
    /// The vector file of a raw direction.
    pub file: Option<String>,
    /// As written (`3x` for a multiple of the max activation).
    pub strength: String,
    /// The strength in activation units, as applied.
    pub value: f64,
    /// What was written, e.g. `8_123=3x:clamp`.
    pub spec: String,
}

/// The operation an intervention does at its hook.
#[derive(Debug, Clone)]
enum Op {
    Add {
        delta: Tensor,
    },
    Clamp {
        sae: usize,
        latent: usize,
        value: f64,
        dir: Tensor,
    },
    Project {
        unit: Tensor,
    },
    Cap {
        unit: Tensor,
        max: f64,
    },
}

/// An intervention checked against one model and its SAEs, ready to apply.
#[derive(Debug, Clone)]
pub struct Intervention {
    pub hook: HookPoint,
    op: Op,
    pub desc: InterventionDesc,
}

impl Intervention {
    /// A random direction of the given norm added at this intervention's hook: the control of
    /// [`eval`]. `seed` makes it reproducible.
    pub fn random_control(&self, norm: f64, seed: u64) -> Result<Self> {
        let d = self.width();
        let v = random_unit(d, seed);
        let delta = (Tensor::from_vec(v, d, &Device::Cpu)? * norm)?;
        Ok(Self {
            hook: self.hook,
            op: Op::Add { delta },
            desc: InterventionDesc {
                kind: "direction",
                action: "add".into(),
                hook: self.hook.to_string(),
                sae: None,
                sae_path: None,
                sae_format: None,
                neuron: None,
                latent: None,
                file: Some(format!("random(seed={seed})")),
                strength: format!("{norm}"),
                value: norm,
                spec: format!("control of {}", self.desc.spec),
            },
        })
    }

    /// The intervention applied at every position of `x` (`[t, d]` or `[b, t, d]`), in f32.
    pub fn patch(&self, x: &Tensor, saes: &[SaeSlot]) -> Result<Tensor> {
        let x3 = if x.rank() == 2 {
            x.unsqueeze(0)?
        } else {
            x.clone()
        };
        let t = x3.dim(1)?;
        let mask = Tensor::ones(t, DType::F32, &Device::Cpu)?;
        let y = self.apply(&x3.to_dtype(DType::F32)?, &mask, saes)?;
        Ok(if x.rank() == 2 { y.squeeze(0)? } else { y })
    }

    fn width(&self) -> usize {
        let t = match &self.op {
            Op::Add { delta } => delta,
            Op::Clamp { dir, .. } => dir,
            Op::Project { unit } | Op::Cap { unit, .. } => unit,
        };
        t.dim(0).unwrap_or(0)
    }

    /// Applies the operation to `x` (`[b, t, d]`) where `mask` (`[t]`, 0/1) is 1; returns the
    /// new activation (f32) and the norm of the change at each position.
    fn apply(&self, x: &Tensor, mask: &Tensor, saes: &[SaeSlot]) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let dev = x.device();
        let m = mask.reshape((1, t, 1))?.to_device(dev)?;
        let along = |dir: &Tensor, coef: &Tensor| -> Result<Tensor> {
            // coef [b, t, 1] (already masked) × dir [d].
            Ok(coef.broadcast_mul(&dir.to_device(dev)?.reshape((1, 1, d))?)?)
        };
        let out = match &self.op {
            Op::Add { delta } => {
                x.broadcast_add(&m.broadcast_mul(&delta.to_device(dev)?.reshape((1, 1, d))?)?)?
            }
            Op::Clamp {
                sae,
                latent,
                value,
                dir,
            } => {
                let f = saes[*sae].sae.encode(&x.reshape((b * t, d))?)?;
                let fi = f
                    .narrow(1, *latent, 1)?
                    .to_device(dev)?
                    .reshape((b, t, 1))?;
                let coef = (fi.affine(-1.0, *value)?).broadcast_mul(&m)?;
                (x + along(dir, &coef)?)?
            }
            Op::Project { unit } => {
                let u = unit.to_device(dev)?;
                let p = x
                    .broadcast_mul(&u.reshape((1, 1, d))?)?
                    .sum_keepdim(D::Minus1)?;
                (x - along(&u, &p.broadcast_mul(&m)?)?)?
            }
            Op::Cap { unit, max } => {
                let u = unit.to_device(dev)?;
                let p = x
                    .broadcast_mul(&u.reshape((1, 1, d))?)?
                    .sum_keepdim(D::Minus1)?;
                let excess = (p - *max)?.relu()?;
                (x - along(&u, &excess.broadcast_mul(&m)?)?)?
            }
        };
        Ok(out)
    }
}

/// A random unit vector (Gaussian, Box–Muller) from a seed.
fn random_unit(d: usize, seed: u64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v: Vec<f64> = (0..d)
        .map(|_| {
            let u1: f64 = rng.random::<f64>().max(1e-300);
            let u2: f64 = rng.random::<f64>();
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-30);
    v.iter_mut().for_each(|x| *x /= n);
    v.into_iter().map(|x| x as f32).collect()
}

/// Turns specs into [`Intervention`]s and tripwires for one model and its SAEs.
pub struct Resolver<'a> {
    pub model: &'a Model,
    pub saes: &'a [SaeSlot],
}

impl Resolver<'_> {
    /// The SAE a neuron id names: by name, else the one SAE at its layer.
    pub fn sae_of(&self, n: &NeuronRef) -> Result<usize> {
        let names = || {
            self.saes
                .iter()
                .map(|s| format!("{} (layer {})", s.name, s.sae.hook().layer))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.saes.is_empty() {
            bail!("neuron {n}: no SAE is loaded (give --sae)");
        }
        let i = match &n.sae {
            Some(name) => {
                let i = self
                    .saes
                    .iter()
                    .position(|s| &s.name == name)
                    .with_context(|| {
                        format!("neuron {n}: no SAE is named `{name}` (SAEs: {})", names())
                    })?;
                let layer = self.saes[i].sae.hook().layer;
                if layer != n.layer {
                    bail!(
                        "neuron {n}: SAE `{name}` reads layer {layer}, not {}",
                        n.layer
                    );
                }
                i
            }
            None => {
                let at: Vec<usize> = (0..self.saes.len())
                    .filter(|&i| self.saes[i].sae.hook().layer == n.layer)
                    .collect();
                match at.as_slice() {
                    [] => bail!(
                        "neuron {n}: no SAE hooks layer {} (SAEs: {})",
                        n.layer,
                        names()
                    ),
                    [i] => *i,
                    many => bail!(
                        "neuron {n}: {} SAEs read layer {} ({}): write NAME:{}_{}",
                        many.len(),
                        n.layer,
                        many.iter()
                            .map(|&i| self.saes[i].name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        n.layer,
                        n.latent
                    ),
                }
            }
        };
        let d_sae = self.saes[i].sae.d_sae();
        if n.latent as usize >= d_sae {
            bail!(
                "neuron {n}: index {} is out of range, SAE `{}` has latents 0..{}",
                n.latent,
                self.saes[i].name,
                d_sae - 1
            );
        }
        Ok(i)
    }

    /// `d_i = W_dec[i] / s` of a neuron, f32 `[d_in]` on the CPU.
    fn decoder_dir(&self, sae: usize, latent: u32) -> Result<Tensor> {
        let s = &self.saes[sae];
        let w = s.sae.w_dec.as_ref().with_context(|| {
            format!(
                "SAE `{}` has no decoder weights: its neurons cannot be steered",
                s.name
            )
        })?;
        let row = w
            .narrow_rows(latent as usize, 1)?
            .to_dtype(DType::F32)?
            .to_device(&Device::Cpu)?
            .reshape(s.sae.d_in())?;
        Ok((row / s.sae.input_scale)?)
    }

    fn amount(&self, sae: usize, latent: u32, a: Amount, what: &str) -> Result<f64> {
        Ok(match a {
            Amount::Abs(v) => v,
            Amount::TimesMax(k) => {
                let s = &self.saes[sae];
                let m = s.max_act.as_ref().with_context(|| {
                    format!("{what}: `{a}` is a multiple of the neuron's max activation, which needs SAE `{}`'s feature store (--store)", s.name)
                })?;
                let max = m.get(&latent).copied().unwrap_or(0.0) as f64;
                if max <= 0.0 {
                    bail!("{what}: the feature store of `{}` has no activation of latent {latent}, so `{a}` means nothing", s.name);
                }
                k * max
            }
        })
    }

    /// One neuron intervention.
    pub fn neuron(&self, set: &NeuronSet, spec: &str) -> Result<Intervention> {
        let what = format!("intervention `{spec}`");
        let sae = self.sae_of(&set.neuron).with_context(|| what.clone())?;
        let latent = set.neuron.latent;
        let value = self.amount(sae, latent, set.amount, &what)?;
        let dir = self.decoder_dir(sae, latent)?;
        let hook = self.saes[sae].sae.hook();
        self.model.hook_width(hook)?;
        let op = match set.mode {
            NeuronMode::Add => Op::Add {
                delta: (&dir * value)?,
            },
            NeuronMode::Clamp | NeuronMode::Ablate => Op::Clamp {
                sae,
                latent: latent as usize,
                value,
                dir,
            },
        };
        Ok(Intervention {
            hook,
            op,
            desc: InterventionDesc {
                kind: "neuron",
                action: format!("{:?}", set.mode).to_lowercase(),
                hook: hook.to_string(),
                sae: Some(self.saes[sae].name.clone()),
                sae_path: Some(self.saes[sae].sae.meta.path.display().to_string()),
                sae_format: Some(self.saes[sae].sae.meta.format.tag().to_string()),
                neuron: Some(crate::db::neuron_id(set.neuron.layer, latent)),
                latent: Some(latent),
                file: None,
                strength: set.amount.to_string(),
                value,
                spec: spec.to_string(),
            },
        })
    }

    /// One raw-direction intervention.
    pub fn direction(&self, set: &DirectionSet, spec: &str) -> Result<Intervention> {
        let what = format!("direction `{spec}`");
        let (v, sae, hook, file) = match &set.source {
            DirSource::File { path, key } => {
                let hook = set.hook.with_context(|| {
                    format!("{what}: a vector file needs the hook it is added at (hook=blocks.L.hook_resid_post)")
                })?;
                let width = self.model.hook_width(hook).with_context(|| what.clone())?;
                let v = read_vector(path, key.as_deref(), width)?;
                (v, None, hook, Some(path.display().to_string()))
            }
            DirSource::Neuron(n) => {
                let sae = self.sae_of(n).with_context(|| what.clone())?;
                let v = self.decoder_dir(sae, n.latent)?;
                (
                    v,
                    Some(sae),
                    set.hook.unwrap_or(self.saes[sae].sae.hook()),
                    None,
                )
            }
        };
        let width = self.model.hook_width(hook).with_context(|| what.clone())?;
        if v.dim(0)? != width {
            bail!(
                "{what}: the vector has {} values but {hook} has width {width}",
                v.dim(0)?
            );
        }
        let norm = v.sqr()?.sum_all()?.to_scalar::<f32>()?.sqrt() as f64;
        let unit = || -> Result<Tensor> {
            if norm <= 0.0 {
                bail!(
                    "{what}: the direction is the zero vector: it has no direction to project on"
                );
            }
            Ok((&v / norm)?)
        };
        let (op, action, value) = match set.op {
            DirOp::Add(c) => (Op::Add { delta: (&v * c)? }, "add", c),
            DirOp::Project => (Op::Project { unit: unit()? }, "project", 0.0),
            DirOp::Cap(c) => (
                Op::Cap {
                    unit: unit()?,
                    max: c,
                },
                "cap",
                c,
            ),
        };
        let neuron = match &set.source {
            DirSource::Neuron(n) => Some(n),
            _ => None,
        };
        Ok(Intervention {
            hook,
            op,
            desc: InterventionDesc {
                kind: "direction",
                action: action.into(),
                hook: hook.to_string(),
                sae: sae.map(|i| self.saes[i].name.clone()),
                sae_path: sae.map(|i| self.saes[i].sae.meta.path.display().to_string()),
                sae_format: sae.map(|i| self.saes[i].sae.meta.format.tag().to_string()),
                neuron: neuron.map(|n| crate::db::neuron_id(n.layer, n.latent)),
                latent: neuron.map(|n| n.latent),
                file,
                strength: format!("{value}"),
                value,
                spec: spec.to_string(),
            },
        })
    }

    /// A parsed intervention of either kind (`spec` is how it was written, for reports).
    pub fn resolve(&self, s: &InterventionSpec, spec: &str) -> Result<Intervention> {
        match s {
            InterventionSpec::Neuron(n) => self.neuron(n, spec),
            InterventionSpec::Direction(d) => self.direction(d, spec),
        }
    }

    /// A tripwire: its neurons (for a domain, every verified neuron with that tag in `db` at a
    /// loaded SAE's layer), their normalisation scales and, for `steer=`, its interventions.
    pub fn tripwire(&self, t: &TripwireSpec, spec: &str, db: Option<&Path>) -> Result<Tripwire> {
        let what = format!("tripwire `{spec}`");
        let mut neurons = vec![];
        match &t.watch {
            Watch::Neuron(n) => {
                neurons.push((self.sae_of(n).with_context(|| what.clone())?, n.latent))
            }
            Watch::Domain(tag) => {
                let db = db.with_context(|| {
                    format!("{what}: a domain tripwire needs the neuron database (--db)")
                })?;
                let edb = EditableDb::load(db)?;
                for id in edb.entries.keys() {
                    if edb.status(id) != ReviewStatus::Verified {
                        continue;
                    }
                    let Some(rec) = edb.record(id) else { continue };
                    if !rec.has_tag(tag) {
                        continue;
                    }
                    let Ok((layer, latent)) = crate::db::parse_neuron_id(id) else {
                        continue;
                    };
                    for (i, s) in self.saes.iter().enumerate() {
                        if s.sae.hook().layer == layer && (latent as usize) < s.sae.d_sae() {
                            neurons.push((i, latent));
                        }
                    }
                }
                if neurons.is_empty() {
                    bail!(
                        "{what}: {} has no verified neuron tagged `{tag}` at the layers of the loaded SAEs",
                        db.display()
                    );
                }
            }
        }
        let mut watched = vec![];
        for (sae, latent) in neurons {
            let s = &self.saes[sae];
            let q = s.q999.as_ref().with_context(|| {
                format!("{what}: thresholds are in normalized units, which needs SAE `{}`'s feature store (--store) or the Safe-SAIL release's quantile files (--release)", s.name)
            })?;
            let scale = q.get(&latent).copied().unwrap_or(0.0);
            if scale <= 0.0 {
                // Never active in the store's corpus: no scale; watched on its raw value.
                tracing::warn!("tripwire: {}_{latent} has no 0.999 quantile in its store or quantile file; watched unnormalized", s.sae.hook().layer);
            }
            watched.push(Watched {
                sae,
                latent,
                scale: if scale > 0.0 { scale } else { 1.0 },
            });
        }
        let then = match &t.action {
            TripAction::Stop => vec![],
            TripAction::Steer(sets) => sets
                .iter()
                .map(|s| self.neuron(s, spec))
                .collect::<Result<_>>()?,
        };
        Ok(Tripwire {
            spec: spec.to_string(),
            watched,
            threshold: t.threshold,
            stop: matches!(t.action, TripAction::Stop),
            then,
        })
    }
}

/// Reads one vector of width `d` from a `.npy` or `.safetensors` file (f32 `[d]` on the CPU).
pub fn read_vector(path: &Path, key: Option<&str>, d: usize) -> Result<Tensor> {
    let name = path.display();
    if !path.exists() {
        bail!("vector file {name} does not exist");
    }
    let t = match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => {
            Tensor::read_npy(path).with_context(|| format!("cannot read {name} as .npy"))?
        }
        Some("safetensors") => {
            let mut all = candle_core::safetensors::load(path, &Device::Cpu)
                .with_context(|| format!("cannot read {name} as safetensors"))?;
            match key {
                Some(k) => all.remove(k).with_context(|| {
                    let mut have: Vec<_> = all.keys().cloned().collect();
                    have.sort();
                    format!("{name} has no tensor `{k}` (it has {})", have.join(", "))
                })?,
                None if all.len() == 1 => all.into_values().next().expect("one tensor"),
                None => {
                    let mut have: Vec<_> = all.keys().cloned().collect();
                    have.sort();
                    bail!(
                        "{name} holds {} tensors ({}): name one with key=NAME",
                        have.len(),
                        have.join(", ")
                    )
                }
            }
        }
        _ => bail!("vector file {name}: expected a .npy or .safetensors file"),
    };
    let n = t.elem_count();
    if n != d || t.dims().iter().filter(|&&x| x != 1).count() > 1 {
        bail!(
            "vector file {name}: shape {:?}, expected one vector of {d} values (the model's width)",
            t.dims()
        );
    }
    let t = t.to_dtype(DType::F32)?.reshape(d)?;
    let v = t.to_vec1::<f32>()?;
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        bail!(
            "vector file {name}: value {i} is {} (NaN and infinities are refused)",
            v[i]
        );
    }
    Ok(t)
}

/// One neuron a tripwire watches.
#[derive(Debug, Clone)]
struct Watched {
    sae: usize,
    latent: u32,
    scale: f32,
}

/// A tripwire ready to watch generation.
#[derive(Debug, Clone)]
pub struct Tripwire {
    pub spec: String,
    watched: Vec<Watched>,
    pub threshold: f64,
    /// Stop generation when it fires (else switch `then` on).
    pub stop: bool,
    pub then: Vec<Intervention>,
}

impl Tripwire {
    /// How many neurons it watches.
    pub fn len(&self) -> usize {
        self.watched.len()
    }

    pub fn is_empty(&self) -> bool {
        self.watched.is_empty()
    }
}

/// A tripwire that fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TripEvent {
    pub tripwire: String,
    /// Index of the answer token it fired on.
    pub index: usize,
    pub token: String,
    pub neuron: String,
    pub sae: String,
    pub value: f32,
    /// `value` in normalized units (÷ the neuron's 0.999 quantile).
    pub normalized: f32,
    /// `stop` or `steer`.
    pub action: &'static str,
}

/// What the hooks and the generation loop share.
#[derive(Default)]
struct RunState {
    /// Per position so far: whether the token is special.
    special: Vec<bool>,
    /// Display text per position.
    text: Vec<String>,
    events: Vec<TripEvent>,
    stop: bool,
    /// Per tripwire: the first position its interventions apply at, once it fired.
    armed: Vec<Option<usize>>,
    /// Sum and count of `‖x' − x‖` over the (hook, position) pairs an intervention changed.
    norm_sum: f64,
    norm_n: usize,
}

/// The hooks of a steered run: interventions and tripwires.
pub struct SteerHooks<'a> {
    saes: &'a [SaeSlot],
    ivs: &'a [Intervention],
    tripwires: &'a [Tripwire],
    positions: Positions,
    include_special: bool,
    n_prompt: usize,
    seen: HashMap<HookPoint, usize>,
    state: Rc<RefCell<RunState>>,
}

impl Hooks for SteerHooks<'_> {
    fn at(&mut self, hook: HookPoint, x: &Tensor) -> Result<Option<Tensor>> {
        let (_, t, _) = x.dims3()?;
        let off = *self.seen.get(&hook).unwrap_or(&0);
        self.seen.insert(hook, off + t);
        self.watch(hook, x, off)?;
        let st = self.state.borrow();
        let allowed =
            |p: usize| self.include_special || !st.special.get(p).copied().unwrap_or(false);
        let base: Vec<f32> = (off..off + t)
            .map(|p| {
                let in_prompt = p < self.n_prompt;
                let pos_ok = match self.positions {
                    Positions::Prompt => in_prompt,
                    Positions::Generated => !in_prompt,
                    Positions::All => true,
                };
                f32::from(u8::from(pos_ok && allowed(p)))
            })
            .collect();
        let mut jobs: Vec<(&Intervention, Vec<f32>)> = vec![];
        for iv in self.ivs.iter().filter(|iv| iv.hook == hook) {
            jobs.push((iv, base.clone()));
        }
        for (tw, armed) in self.tripwires.iter().zip(&st.armed) {
            if let Some(from) = armed {
                let m: Vec<f32> = (off..off + t)
                    .map(|p| f32::from(u8::from(p >= *from && allowed(p))))
                    .collect();
                for iv in tw.then.iter().filter(|iv| iv.hook == hook) {
                    jobs.push((iv, m.clone()));
                }
            }
        }
        drop(st);
        jobs.retain(|(_, m)| m.iter().any(|&v| v > 0.0));
        if jobs.is_empty() {
            return Ok(None);
        }
        let mut any = vec![false; t];
        let x32 = x.to_dtype(DType::F32)?;
        let mut y = x32.clone();
        for (iv, m) in jobs {
            for (a, v) in any.iter_mut().zip(&m) {
                *a |= *v > 0.0;
            }
            let mask = Tensor::from_vec(m, t, &Device::Cpu)?;
            y = iv.apply(&y, &mask, self.saes)?;
        }
        let change = (&y - &x32)?
            .sqr()?
            .sum(D::Minus1)?
            .sqrt()?
            .to_device(&Device::Cpu)?
            .to_vec2::<f32>()?;
        let mut st = self.state.borrow_mut();
        for row in change {
            for (c, a) in row.into_iter().zip(&any) {
                if *a {
                    st.norm_sum += c as f64;
                    st.norm_n += 1;
                }
            }
        }
        Ok(Some(y.to_dtype(x.dtype())?))
    }
}

impl SteerHooks<'_> {
    /// Checks the tripwires watching `hook` on the answer's positions of `x` (the activation
    /// as it arrives, before any intervention there).
    fn watch(&mut self, hook: HookPoint, x: &Tensor, off: usize) -> Result<()> {
        let (_, t, d) = x.dims3()?;
        let start = self.n_prompt.max(off);
        if start >= off + t || self.tripwires.is_empty() {
            return Ok(());
        }
        let mut encoded: HashMap<usize, Vec<Vec<f32>>> = HashMap::new();
        for (k, tw) in self.tripwires.iter().enumerate() {
            if self.state.borrow().armed[k].is_some() {
                continue;
            }
            for w in tw
                .watched
                .iter()
                .filter(|w| self.saes[w.sae].sae.hook() == hook)
            {
                if let std::collections::hash_map::Entry::Vacant(e) = encoded.entry(w.sae) {
                    let rows = x.get(0)?.narrow(0, start - off, off + t - start)?;
                    let f = self.saes[w.sae].sae.encode(&rows.reshape(((), d))?)?;
                    e.insert(f.to_device(&Device::Cpu)?.to_vec2::<f32>()?);
                }
                let f = &encoded[&w.sae];
                let mut st = self.state.borrow_mut();
                for (j, row) in f.iter().enumerate() {
                    let p = start + j;
                    if st.special.get(p).copied().unwrap_or(false) {
                        continue;
                    }
                    let v = row[w.latent as usize];
                    let norm = v / w.scale;
                    if (norm as f64) > tw.threshold && st.armed[k].is_none() {
                        st.armed[k] = Some(p + 1);
                        st.stop |= tw.stop;
                        let token = st.text.get(p).cloned().unwrap_or_default();
                        st.events.push(TripEvent {
                            tripwire: tw.spec.clone(),
                            index: p - self.n_prompt,
                            token,
                            neuron: crate::db::neuron_id(hook.layer, w.latent),
                            sae: self.saes[w.sae].name.clone(),
                            value: v,
                            normalized: norm,
                            action: if tw.stop { "stop" } else { "steer" },
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// How a steered run is done.
#[derive(Debug, Clone)]
pub struct SteerOpts {
    pub gen: GenerateOpts,
    pub positions: Positions,
    /// Steer special tokens (chat-template markers, BOS/EOS) too.
    pub include_special: bool,
    /// Log-probabilities listed per token.
    pub top_n: usize,
}

impl Default for SteerOpts {
    fn default() -> Self {
        Self {
            gen: GenerateOpts::default(),
            positions: Positions::All,
            include_special: false,
            top_n: 5,
        }
    }
}

/// One answer's generation: ids, each step's log-softmax, and the tripwires that fired.
pub struct Run {
    pub ids: Vec<u32>,
    /// Per new token, the log-probabilities (temperature 1) of the distribution it came from.
    pub logprobs: Vec<Vec<f32>>,
    pub events: Vec<TripEvent>,
    /// A tripwire stopped the answer.
    pub stopped: bool,
    /// The mean `‖x' − x‖` the interventions made where they applied (0 when they never did).
    pub applied_norm: f64,
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = logits
        .iter()
        .map(|&l| ((l - max) as f64).exp())
        .sum::<f64>()
        .ln() as f32
        + max;
    logits.iter().map(|&l| l - lse).collect()
}

/// `KL(p ‖ q)` in nats from log-probabilities.
pub fn kl(logp: &[f32], logq: &[f32]) -> f64 {
    logp.iter()
        .zip(logq)
        .map(|(&a, &b)| {
            let pa = (a as f64).exp();
            if pa == 0.0 {
                0.0
            } else {
                pa * (a as f64 - b as f64)
            }
        })
        .sum::<f64>()
        .max(0.0)
}

/// Generates an answer with interventions and tripwires (none of either: the same tokens as
/// [`Model::generate`] with the same options). With `forced`, the answer's tokens are taken from
/// it (teacher forcing). `on_token` gets each new id.
#[allow(clippy::too_many_arguments)]
pub fn run(
    model: &Model,
    saes: &[SaeSlot],
    prompt: &[TokenInfo],
    ivs: &[Intervention],
    tripwires: &[Tripwire],
    opts: &SteerOpts,
    forced: Option<&[u32]>,
    on_token: &mut dyn FnMut(u32),
) -> Result<Run> {
    run_flow(
        model,
        saes,
        prompt,
        ivs,
        tripwires,
        opts,
        forced,
        &mut |id| {
            on_token(id);
            Flow::Continue
        },
    )
}

/// [`run`] whose `on_token` may stop the answer after any token (the window's Stop).
#[allow(clippy::too_many_arguments)]
pub fn run_flow(
    model: &Model,
    saes: &[SaeSlot],
    prompt: &[TokenInfo],
    ivs: &[Intervention],
    tripwires: &[Tripwire],
    opts: &SteerOpts,
    forced: Option<&[u32]>,
    on_token: &mut dyn FnMut(u32) -> Flow,
) -> Result<Run> {
    let ids: Vec<u32> = prompt.iter().map(|t| t.id).collect();
    let state = Rc::new(RefCell::new(RunState {
        special: prompt.iter().map(|t| t.special).collect(),
        text: prompt.iter().map(|t| t.text.clone()).collect(),
        armed: vec![None; tripwires.len()],
        ..Default::default()
    }));
    let mut logprobs = vec![];
    let plain = ivs.is_empty() && tripwires.is_empty();
    let mut hooks = SteerHooks {
        saes,
        ivs,
        tripwires,
        positions: opts.positions,
        include_special: opts.include_special,
        n_prompt: ids.len(),
        seen: HashMap::new(),
        state: state.clone(),
    };
    let mut no = NoHooks;
    let h: &mut dyn Hooks = if plain { &mut no } else { &mut hooks };
    let st2 = state.clone();
    let out = model.generate_steps(
        &ids,
        &opts.gen,
        h,
        forced,
        |logits| {
            if st2.borrow().stop {
                return Flow::Stop;
            }
            logprobs.push(log_softmax(logits));
            Flow::Continue
        },
        |id| {
            let mut st = state.borrow_mut();
            st.special.push(model.tok.is_special(id));
            st.text.push(model.tok.token_display(id));
            drop(st);
            on_token(id)
        },
    )?;
    let st = state.borrow();
    Ok(Run {
        ids: out,
        logprobs,
        events: st.events.clone(),
        stopped: st.stop,
        applied_norm: st.norm_sum / st.norm_n.max(1) as f64,
    })
}

/// A token with its log-probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub id: u32,
    pub token: String,
    pub logprob: f32,
}

/// One generated token of an answer, scored in its own run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerToken {
    pub id: u32,
    pub token: String,
    pub logprob: f32,
    pub special: bool,
    pub top: Vec<Scored>,
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// The answer as `generate` prints it (special tokens left out).
    pub text: String,
    pub tokens: Vec<AnswerToken>,
}

/// The comparison at one steered token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerToken {
    pub index: usize,
    /// The steered token.
    pub token: String,
    /// `KL(P_default ‖ P_steered)` in nats on the same prefix.
    pub kl: f64,
    /// The unsteered model's top tokens on the steered prefix.
    pub top_default: Vec<Scored>,
    /// The steered model's top tokens (its own run).
    pub top_steered: Vec<Scored>,
}

/// Default and steered answers side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub default: Answer,
    pub steered: Answer,
    pub per_token: Vec<PerToken>,
    /// The first answer index where the two answers' tokens differ (`None`: identical).
    pub first_divergence: Option<usize>,
    pub interventions: Vec<InterventionDesc>,
    pub tripwires: Vec<TripEvent>,
}

impl Comparison {
    /// Shows the answers' tokens as the inspector does ([`crate::model::tokenizer::Tok::display_strings`]):
    /// a character split over several tokens on the token that completes it ("" before), never
    /// raw bytes. The top-5 lists keep each token's own display.
    pub fn use_display_strings(&mut self, tok: &crate::model::tokenizer::Tok) {
        for a in [&mut self.default, &mut self.steered] {
            let ids: Vec<u32> = a.tokens.iter().map(|t| t.id).collect();
            for (t, s) in a.tokens.iter_mut().zip(tok.display_strings(&ids)) {
                t.token = s;
            }
        }
        for (p, t) in self.per_token.iter_mut().zip(&self.steered.tokens) {
            p.token = t.token.clone();
        }
    }
}

/// The text of an answer as `generate` prints it: special tokens left out (or shown), the
/// bytes of a character split across tokens joined, dangling bytes as `\xNN`.
pub fn answer_text(model: &Model, ids: &[u32], show_special: bool) -> String {
    let mut out = String::new();
    let mut pending: Vec<u8> = vec![];
    for &id in ids {
        if model.tok.is_special(id) {
            out += &hex_bytes(&pending);
            pending.clear();
            if show_special {
                out += &model.tok.token_display(id);
            }
        } else {
            pending.extend(model.tok.token_bytes(id));
            let (text, rest) = split_utf8(&pending);
            pending = rest;
            out += &text;
        }
    }
    out + &hex_bytes(&pending)
}

fn top(model: &Model, logp: &[f32], n: usize) -> Vec<Scored> {
    let mut idx: Vec<usize> = (0..logp.len()).collect();
    let n = n.min(idx.len());
    if n == 0 {
        return vec![];
    }
    idx.select_nth_unstable_by(n - 1, |&a, &b| logp[b].total_cmp(&logp[a]).then(a.cmp(&b)));
    idx.truncate(n);
    idx.sort_by(|&a, &b| logp[b].total_cmp(&logp[a]).then(a.cmp(&b)));
    idx.into_iter()
        .map(|i| Scored {
            id: i as u32,
            token: model.tok.token_display(i as u32),
            logprob: logp[i],
        })
        .collect()
}

fn answer(model: &Model, r: &Run, n: usize) -> Answer {
    Answer {
        text: answer_text(model, &r.ids, false),
        tokens: r
            .ids
            .iter()
            .zip(&r.logprobs)
            .map(|(&id, lp)| AnswerToken {
                id,
                token: model.tok.token_display(id),
                logprob: lp[id as usize],
                special: model.tok.is_special(id),
                top: top(model, lp, n),
            })
            .collect(),
    }
}

/// Which of the two answers a streamed token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Default,
    Steered,
}

/// Generates the default and the steered answer (same options), scores both and compares them
/// token by token (see the module docs for the KL's definition). Tripwires watch the steered
/// answer only. `on_token` gets each new token of either answer as it comes.
pub fn compare(
    model: &Model,
    saes: &[SaeSlot],
    prompt: &[TokenInfo],
    ivs: &[Intervention],
    tripwires: &[Tripwire],
    opts: &SteerOpts,
    on_token: &mut dyn FnMut(Side, u32),
) -> Result<Comparison> {
    compare_flow(
        model,
        saes,
        prompt,
        ivs,
        tripwires,
        opts,
        &mut |side, id| {
            on_token(side, id);
            Flow::Continue
        },
    )
}

/// [`compare`] whose `on_token` may stop either answer after any token: the answers are then
/// shorter, and the comparison covers what was generated.
pub fn compare_flow(
    model: &Model,
    saes: &[SaeSlot],
    prompt: &[TokenInfo],
    ivs: &[Intervention],
    tripwires: &[Tripwire],
    opts: &SteerOpts,
    on_token: &mut dyn FnMut(Side, u32) -> Flow,
) -> Result<Comparison> {
    let d = run_flow(model, saes, prompt, &[], &[], opts, None, &mut |id| {
        on_token(Side::Default, id)
    })?;
    Ok(
        compare_with_flow(model, saes, prompt, &d, ivs, tripwires, opts, &mut |id| {
            on_token(Side::Steered, id)
        })?
        .0,
    )
}

/// [`compare`] against a default answer already generated (by [`run`] without interventions,
/// with the same options); also returns the steered [`Run`].
#[allow(clippy::too_many_arguments)]
pub fn compare_with(
    model: &Model,
    saes: &[SaeSlot],
    prompt: &[TokenInfo],
    d: &Run,
    ivs: &[Intervention],
    tripwires: &[Tripwire],
    opts: &SteerOpts,
    on_token: &mut dyn FnMut(u32),
) -> Result<(Comparison, Run)> {
    compare_with_flow(model, saes, prompt, d, ivs, tripwires, opts, &mut |id| {
        on_token(id);
        Flow::Continue
    })
}

#[allow(clippy::too_many_arguments)]
fn compare_with_flow(
    model: &Model,
    saes: &[SaeSlot],
    prompt: &[TokenInfo],
    d: &Run,
    ivs: &[Intervention],
    tripwires: &[Tripwire],
    opts: &SteerOpts,
    on_token: &mut dyn FnMut(u32) -> Flow,
) -> Result<(Comparison, Run)> {
    let s = run_flow(model, saes, prompt, ivs, tripwires, opts, None, on_token)?;
    let first_divergence = d
        .ids
        .iter()
        .zip(&s.ids)
        .position(|(a, b)| a != b)
        .or_else(|| (d.ids.len() != s.ids.len()).then(|| d.ids.len().min(s.ids.len())));
    // The unsteered model on the steered prefix: the default run itself while the answers agree.
    let forced = match first_divergence {
        None => None,
        Some(_) => Some(run(
            model,
            saes,
            prompt,
            &[],
            &[],
            opts,
            Some(&s.ids),
            &mut |_| {},
        )?),
    };
    let dref = forced.as_ref().unwrap_or(d);
    let per_token = s
        .ids
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let ls = &s.logprobs[i];
            let ld = &dref.logprobs[i];
            PerToken {
                index: i,
                token: model.tok.token_display(id),
                kl: kl(ld, ls),
                top_default: top(model, ld, opts.top_n),
                top_steered: top(model, ls, opts.top_n),
            }
        })
        .collect();
    let mut interventions: Vec<InterventionDesc> = ivs.iter().map(|i| i.desc.clone()).collect();
    for tw in tripwires {
        interventions.extend(tw.then.iter().map(|i| i.desc.clone()));
    }
    let c = Comparison {
        default: answer(model, d, opts.top_n),
        steered: answer(model, &s, opts.top_n),
        per_token,
        first_divergence,
        interventions,
        tripwires: s.events.clone(),
    };
    Ok((c, s))
}

/// Mean next-token cross-entropy (nats) of the model on `ids` (cut into pieces of at most
/// `window` tokens) with the interventions applied at every position but special tokens, and
/// the mean `‖x' − x‖` they made.
pub fn cross_entropy(
    model: &Model,
    saes: &[SaeSlot],
    ids: &[u32],
    ivs: &[Intervention],
    window: usize,
) -> Result<(f64, f64)> {
    let window = window.clamp(2, model.cfg.max_position_embeddings.max(2));
    let (mut total, mut n) = (0.0f64, 0usize);
    let (mut nsum, mut nn) = (0.0f64, 0usize);
    for chunk in ids.chunks(window).filter(|c| c.len() >= 2) {
        let state = Rc::new(RefCell::new(RunState {
            special: chunk.iter().map(|&i| model.tok.is_special(i)).collect(),
            ..Default::default()
        }));
        let mut hooks = SteerHooks {
            saes,
            ivs,
            tripwires: &[],
            positions: Positions::All,
            include_special: false,
            n_prompt: chunk.len(),
            seen: HashMap::new(),
            state: state.clone(),
        };
        let logits = model
            .run(chunk, &mut hooks, Default::default())?
            .context("the forward pass returned no logits")?
            .to_dtype(DType::F32)?
            .to_device(&Device::Cpu)?
            .to_vec2::<f32>()?;
        for (t, row) in logits.iter().enumerate().take(chunk.len() - 1) {
            total -= log_softmax(row)[chunk[t + 1] as usize] as f64;
            n += 1;
        }
        let st = state.borrow();
        nsum += st.norm_sum;
        nn += st.norm_n;
    }
    if n == 0 {
        bail!("the text has fewer than 2 tokens: no next-token loss to measure");
    }
    Ok((total / n as f64, nsum / nn.max(1) as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_is_zero_on_equal_and_positive_on_different() {
        let a = log_softmax(&[1.0, 2.0, 3.0]);
        let b = log_softmax(&[3.0, 2.0, 1.0]);
        assert!(kl(&a, &a).abs() < 1e-12);
        assert!(kl(&a, &b) > 0.1);
        let s: f64 = a.iter().map(|&x| (x as f64).exp()).sum();
        assert!((s - 1.0).abs() < 1e-6);
    }

    #[test]
    fn random_units_are_unit_and_seeded() {
        let a = random_unit(64, 3);
        let n: f32 = a.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-5);
        assert_eq!(a, random_unit(64, 3));
        assert_ne!(a, random_unit(64, 4));
    }
}
