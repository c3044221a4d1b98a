//! Interventions and tripwires as a person writes them (`8_123=4:add`, `sae_a:8_123=2x:clamp`,
//! `dir.npy,hook=blocks.8.hook_resid_post,op=cap,c=3`, `violence>0.8:stop`), parsed and checked
//! for form only; [`super::Resolver`] turns them into operations on one model and its SAEs.

use crate::hooks::HookPoint;
use anyhow::{anyhow, bail, Context, Result};
use std::path::PathBuf;

/// A neuron as everywhere: `LAYER_INDEX`, or `NAME:LAYER_INDEX` when two SAEs share a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronRef {
    /// The SAE's name (its store name: folder or file name), when given.
    pub sae: Option<String>,
    pub layer: usize,
    pub latent: u32,
}

impl std::fmt::Display for NeuronRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sae {
            Some(n) => write!(f, "{n}:{}_{}", self.layer, self.latent),
            None => write!(f, "{}_{}", self.layer, self.latent),
        }
    }
}

impl std::str::FromStr for NeuronRef {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let (sae, id) = match s.rsplit_once(':') {
            Some((n, id)) if !n.trim().is_empty() => (Some(n.trim().to_string()), id),
            Some((_, _)) => bail!("neuron `{s}`: the SAE name before `:` is empty"),
            None => (None, s),
        };
        let (layer, latent) = crate::db::parse_neuron_id(id).with_context(|| {
            format!(
                "unknown neuron id `{s}` (expected LAYER_INDEX or NAME:LAYER_INDEX, e.g. 8_123)"
            )
        })?;
        Ok(Self { sae, layer, latent })
    }
}

/// A strength: absolute, or a multiple of the neuron's largest activation in its feature store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    Abs(f64),
    /// `3x`: 3 × the neuron's `max_act` from its feature store.
    TimesMax(f64),
}

impl Amount {
    /// Parses `4`, `-2.5` or `3x`; NaN and infinities are refused.
    pub fn parse(s: &str, what: &str) -> Result<Self> {
        let t = s.trim();
        let (num, times) = match t.strip_suffix(['x', 'X']) {
            Some(n) => (n, true),
            None => (t, false),
        };
        let v: f64 = num
            .trim()
            .parse()
            .map_err(|_| anyhow!("{what}: `{s}` is not a number (e.g. 4, -2.5, or 3x for 3 × the neuron's max activation)"))?;
        if !v.is_finite() {
            bail!("{what}: the strength `{s}` is not finite (NaN and infinities are refused)");
        }
        Ok(if times {
            Amount::TimesMax(v)
        } else {
            Amount::Abs(v)
        })
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Amount::Abs(v) => write!(f, "{v}"),
            Amount::TimesMax(v) => write!(f, "{v}x"),
        }
    }
}

/// What is done to a neuron's latent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NeuronMode {
    /// Add `c · W_dec[i]` to the activation (as if the latent were `c` higher).
    Add,
    /// Set the latent to a value, keeping the SAE's error: `x' = x + (v − f_i) · W_dec[i]`.
    Clamp,
    /// Clamp to 0.
    Ablate,
}

/// `L_I=VALUE[:add|clamp|ablate]` (or `L_I=ablate`).
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronSet {
    pub neuron: NeuronRef,
    pub amount: Amount,
    pub mode: NeuronMode,
}

impl std::str::FromStr for NeuronSet {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let what = format!("intervention `{s}`");
        let (id, rest) = s.split_once('=').ok_or_else(|| {
            anyhow!("{what}: expected L_I=VALUE[:add|clamp|ablate] (e.g. 8_123=4:add)")
        })?;
        let neuron: NeuronRef = id.parse().with_context(|| what.clone())?;
        let rest = rest.trim();
        if rest.eq_ignore_ascii_case("ablate") {
            return Ok(Self {
                neuron,
                amount: Amount::Abs(0.0),
                mode: NeuronMode::Ablate,
            });
        }
        let (value, mode) = match rest.rsplit_once(':') {
            Some((v, m)) => (v, m.trim().to_ascii_lowercase()),
            None => (rest, "add".to_string()),
        };
        let mode = match mode.as_str() {
            "add" => NeuronMode::Add,
            "clamp" => NeuronMode::Clamp,
            "ablate" => NeuronMode::Ablate,
            m => bail!("{what}: unknown mode `{m}` (add, clamp or ablate)"),
        };
        let amount = Amount::parse(value, &what)?;
        if mode == NeuronMode::Ablate && amount != Amount::Abs(0.0) {
            bail!("{what}: ablate sets the latent to 0 and takes no value (write {id}=ablate)");
        }
        Ok(Self {
            neuron,
            amount,
            mode,
        })
    }
}

impl std::fmt::Display for NeuronSet {
    /// The `--set` syntax it parses from: `8_123=4:add`, `NAME:8_1=2x:clamp`, `8_1=ablate`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.mode {
            NeuronMode::Ablate => write!(f, "{}=ablate", self.neuron),
            NeuronMode::Add => write!(f, "{}={}:add", self.neuron, self.amount),
            NeuronMode::Clamp => write!(f, "{}={}:clamp", self.neuron, self.amount),
        }
    }
}

/// What is done with a raw direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DirOp {
    /// Add `c · v` (the vector as given, not normalised).
    Add(f64),
    /// Remove the component along `v̂`: `x − (x·v̂) v̂`.
    Project,
    /// Cap the projection on `v̂` at `c`: where `x·v̂ > c`, `x − (x·v̂ − c) v̂`.
    Cap(f64),
}

/// Where a raw direction comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum DirSource {
    /// A `.npy` or `.safetensors` file holding one vector of the model's width (`key` names the
    /// tensor in a safetensors file with several).
    File { path: PathBuf, key: Option<String> },
    /// A neuron's decoder row (at its SAE's hook unless another is given).
    Neuron(NeuronRef),
}

/// `SOURCE[,hook=HOOK][,op=add|project|cap][,c=C][,key=NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectionSet {
    pub source: DirSource,
    pub hook: Option<HookPoint>,
    pub op: DirOp,
}

impl std::str::FromStr for DirectionSet {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let what = format!("direction `{s}`");
        let mut parts = s.split(',');
        let src = parts.next().unwrap_or("").trim();
        if src.is_empty() {
            bail!("{what}: the vector file or neuron id is empty");
        }
        let (mut hook, mut op, mut c, mut key) = (None, "add".to_string(), None, None);
        for kv in parts {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| anyhow!("{what}: option `{kv}` is not key=value"))?;
            match k.trim() {
                "hook" => hook = Some(v.parse::<HookPoint>().with_context(|| what.clone())?),
                "op" => op = v.trim().to_ascii_lowercase(),
                "c" => {
                    let a = Amount::parse(v, &what)?;
                    let Amount::Abs(x) = a else {
                        bail!("{what}: c must be an absolute number for a raw direction");
                    };
                    c = Some(x)
                }
                "key" => key = Some(v.trim().to_string()),
                k => bail!("{what}: unknown option `{k}` (hook, op, c, key)"),
            }
        }
        let op = match (op.as_str(), c) {
            ("add", Some(c)) => DirOp::Add(c),
            ("add", None) => bail!("{what}: add needs a coefficient c=C"),
            ("project", None) => DirOp::Project,
            ("project", Some(_)) => bail!("{what}: project takes no coefficient"),
            ("cap", Some(c)) => DirOp::Cap(c),
            ("cap", None) => bail!("{what}: cap needs the largest projection c=C"),
            (o, _) => bail!("{what}: unknown op `{o}` (add, project or cap)"),
        };
        let looks_like_file = src.ends_with(".npy") || src.ends_with(".safetensors");
        let source = if looks_like_file {
            DirSource::File {
                path: PathBuf::from(src),
                key,
            }
        } else {
            if key.is_some() {
                bail!("{what}: key= is for safetensors files");
            }
            DirSource::Neuron(src.parse().with_context(|| {
                format!("{what}: `{src}` is neither a .npy / .safetensors file nor a neuron id")
            })?)
        };
        Ok(Self { source, hook, op })
    }
}

impl std::fmt::Display for DirectionSet {
    /// The `--direction` syntax it parses from: `SOURCE[,hook=HOOK],op=OP[,c=C][,key=NAME]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            DirSource::File { path, .. } => write!(f, "{}", path.display())?,
            DirSource::Neuron(n) => write!(f, "{n}")?,
        }
        if let Some(h) = &self.hook {
            write!(f, ",hook={h}")?;
        }
        match self.op {
            DirOp::Add(c) => write!(f, ",op=add,c={c}")?,
            DirOp::Project => write!(f, ",op=project")?,
            DirOp::Cap(c) => write!(f, ",op=cap,c={c}")?,
        }
        if let DirSource::File { key: Some(k), .. } = &self.source {
            write!(f, ",key={k}")?;
        }
        Ok(())
    }
}

/// One intervention of either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum InterventionSpec {
    Neuron(NeuronSet),
    Direction(DirectionSet),
}

impl std::fmt::Display for InterventionSpec {
    /// The `--set` or `--direction` syntax.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InterventionSpec::Neuron(n) => n.fmt(f),
            InterventionSpec::Direction(d) => d.fmt(f),
        }
    }
}

impl std::str::FromStr for InterventionSpec {
    type Err = anyhow::Error;

    /// `--set` syntax (`L_I=VALUE[:mode]`), else `--direction` syntax (as saved in a
    /// workspace's intervention sets). When neither parses, the error is the `--direction` one
    /// if the text names a vector file or has `,op=` / `,hook=`, else the `--set` one.
    fn from_str(s: &str) -> Result<Self> {
        let neuron = s.parse::<NeuronSet>();
        if let Ok(n) = neuron {
            return Ok(InterventionSpec::Neuron(n));
        }
        let direction = s.parse::<DirectionSet>();
        if let Ok(d) = direction {
            return Ok(InterventionSpec::Direction(d));
        }
        let looks_like_direction = [".npy", ".safetensors", ",op=", ",hook="]
            .iter()
            .any(|k| s.contains(k));
        if looks_like_direction {
            direction.map(InterventionSpec::Direction)
        } else {
            neuron.map(InterventionSpec::Neuron)
        }
    }
}

/// What a tripwire watches.
#[derive(Debug, Clone, PartialEq)]
pub enum Watch {
    Neuron(NeuronRef),
    /// Every verified neuron tagged with this domain (or `domain/sub-category`) in the database.
    Domain(String),
}

/// What a tripwire does when it fires.
#[derive(Debug, Clone, PartialEq)]
pub enum TripAction {
    Stop,
    /// Switch these interventions on for the rest of the answer.
    Steer(Vec<NeuronSet>),
}

/// `DOMAIN_OR_ID>THRESHOLD[:stop|:steer=L_I=VALUE[:mode][;L_I=...]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TripwireSpec {
    pub watch: Watch,
    /// In normalized units (activation ÷ the neuron's 0.999 quantile).
    pub threshold: f64,
    pub action: TripAction,
}

impl std::str::FromStr for TripwireSpec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let what = format!("tripwire `{s}`");
        let (target, rest) = s.split_once('>').ok_or_else(|| {
            anyhow!("{what}: expected DOMAIN_OR_ID>THRESHOLD[:stop|:steer=L_I=VALUE[:mode]] (e.g. violence>0.8:stop)")
        })?;
        let target = target.trim();
        if target.is_empty() {
            bail!("{what}: no neuron or domain before `>`");
        }
        let (thr, action) = match rest.split_once(':') {
            Some((t, a)) => (t, Some(a.trim())),
            None => (rest, None),
        };
        let threshold: f64 = thr
            .trim()
            .parse()
            .map_err(|_| anyhow!("{what}: threshold `{thr}` is not a number"))?;
        if !threshold.is_finite() {
            bail!("{what}: the threshold is not finite");
        }
        let action = match action {
            None | Some("stop") => TripAction::Stop,
            Some(a) => match a.strip_prefix("steer=") {
                Some(list) => TripAction::Steer(
                    list.split(';')
                        .map(|x| x.parse::<NeuronSet>())
                        .collect::<Result<_>>()
                        .with_context(|| what.clone())?,
                ),
                None => bail!("{what}: unknown action `{a}` (stop or steer=L_I=VALUE[:mode])"),
            },
        };
        let looks_like_id = target
            .rsplit(':')
            .next()
            .is_some_and(|id| id.contains('_') && id.starts_with(|c: char| c.is_ascii_digit()));
        let watch = if looks_like_id {
            Watch::Neuron(target.parse().with_context(|| what.clone())?)
        } else {
            let tag = crate::domains::taxonomy()
                .check_tag(target)
                .with_context(|| what.clone())?;
            match tag {
                crate::domains::Tag::Free(t) => bail!(
                    "{what}: `{t}` is neither a neuron id (LAYER_INDEX) nor a safety domain ({})",
                    crate::domains::taxonomy().domain_names().join(", ")
                ),
                _ => Watch::Domain(target.to_lowercase()),
            }
        };
        Ok(Self {
            watch,
            threshold,
            action,
        })
    }
}

/// Which positions an intervention touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Positions {
    /// The prompt's tokens only.
    Prompt,
    /// The answer's tokens only (the first answer token is predicted from the prompt, so it
    /// can change only when the prompt is steered too).
    Generated,
    /// Both.
    #[default]
    All,
}

impl std::str::FromStr for Positions {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "prompt" => Ok(Positions::Prompt),
            "generated" => Ok(Positions::Generated),
            "all" => Ok(Positions::All),
            o => bail!("unknown positions `{o}` (prompt, generated or all)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_neuron_sets() {
        let s: NeuronSet = "8_123=4".parse().unwrap();
        assert_eq!(s.neuron.layer, 8);
        assert_eq!(s.neuron.latent, 123);
        assert_eq!(s.mode, NeuronMode::Add);
        assert_eq!(s.amount, Amount::Abs(4.0));
        let s: NeuronSet = "sae_a:8_1=2.5x:clamp".parse().unwrap();
        assert_eq!(s.neuron.sae.as_deref(), Some("sae_a"));
        assert_eq!(s.amount, Amount::TimesMax(2.5));
        assert_eq!(s.mode, NeuronMode::Clamp);
        let s: NeuronSet = "8_1=ablate".parse().unwrap();
        assert_eq!(s.mode, NeuronMode::Ablate);
        let s: NeuronSet = "8_1=0:ablate".parse().unwrap();
        assert_eq!(s.mode, NeuronMode::Ablate);
        for text in [
            "L1 topk8 256 (SAELens):1_7=-2.5x:clamp",
            "8_1=ablate",
            "3_4=0.5:add",
        ] {
            let s: NeuronSet = text.parse().unwrap();
            assert_eq!(s.to_string(), text);
            assert_eq!(s.to_string().parse::<NeuronSet>().unwrap(), s);
        }
        for (bad, says) in [
            ("8_1=nan", "not finite"),
            ("8_1=inf:clamp", "not finite"),
            ("8_1=-inf", "not finite"),
            ("8_1=3:twist", "unknown mode"),
            ("8x1=3", "unknown neuron id"),
            ("8_1", "expected L_I=VALUE"),
            ("8_1=5:ablate", "takes no value"),
            ("8_1=abc", "not a number"),
        ] {
            let e = format!("{:#}", bad.parse::<NeuronSet>().unwrap_err());
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn parses_directions_and_tripwires() {
        let d: DirectionSet = "v.npy,hook=blocks.1.hook_resid_post,op=cap,c=2"
            .parse()
            .unwrap();
        assert_eq!(d.op, DirOp::Cap(2.0));
        assert!(matches!(d.source, DirSource::File { .. }));
        let d: DirectionSet = "1_5,op=project".parse().unwrap();
        assert!(matches!(d.source, DirSource::Neuron(_)));
        assert!("v.npy,op=add".parse::<DirectionSet>().is_err());
        for text in [
            "v.npy,hook=blocks.1.hook_resid_post,op=cap,c=2",
            "NAME:1_5,op=project",
            "1_5,hook=blocks.2.hook_mlp_out,op=add,c=-3.5",
            "w.safetensors,hook=blocks.0.hook_resid_post,op=add,c=1,key=refusal",
        ] {
            let d: DirectionSet = text.parse().unwrap();
            assert_eq!(d.to_string(), text);
            let any: InterventionSpec = text.parse().unwrap();
            assert_eq!(any, InterventionSpec::Direction(d));
        }
        for text in [
            "NAME:1_5=2x:clamp",
            "L0 relu (SAELens, legacy cfg):0_145=ablate",
        ] {
            let any: InterventionSpec = text.parse().unwrap();
            assert!(matches!(any, InterventionSpec::Neuron(_)), "{text}");
            assert_eq!(any.to_string(), text);
        }
        let e = format!(
            "{:#}",
            "1_5,op=twist".parse::<InterventionSpec>().unwrap_err()
        );
        assert!(e.contains("unknown op"), "{e}");
        let e = format!(
            "{:#}",
            "1_5=3:twist".parse::<InterventionSpec>().unwrap_err()
        );
        assert!(e.contains("unknown mode"), "{e}");
        assert!("v.npy,op=add,c=nan".parse::<DirectionSet>().is_err());
        let t: TripwireSpec = "violence>0.8".parse().unwrap();
        assert_eq!(t.watch, Watch::Domain("violence".into()));
        assert_eq!(t.action, TripAction::Stop);
        let t: TripwireSpec = "1_7>0.5:steer=1_7=ablate;1_9=-3".parse().unwrap();
        assert!(matches!(t.watch, Watch::Neuron(_)));
        assert!(matches!(&t.action, TripAction::Steer(v) if v.len() == 2));
        assert!("kittens>0.5".parse::<TripwireSpec>().is_err());
        assert!("1_7>nan".parse::<TripwireSpec>().is_err());
        assert!("1_7>0.5:explode".parse::<TripwireSpec>().is_err());
    }
}
