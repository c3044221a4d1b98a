//! An SAE as named on the command line or in a workspace: `PATH[,key=value...]`; keys:
//! `hook`, `activation` (`relu`, `topk:K`, `jumprelu`), `k` (`k=K` is `activation=topk:K`),
//! `threshold` (a JumpReLU with this threshold on every latent), `component`, `format`, `scale`,
//! `allow_nonfinite` (`true`: load weights holding NaN or ±Inf instead of refusing them).

use super::format::{self, Format};
use super::Activation;
use crate::hooks::HookPoint;
use anyhow::{anyhow, bail, Context, Result};
use std::path::PathBuf;

/// An SAE as named on the command line or in a workspace: a path plus options.
#[derive(Debug, Clone, PartialEq)]
pub struct SaeSpec {
    pub path: PathBuf,
    pub hook: Option<HookPoint>,
    pub activation: Option<Activation>,
    pub component: usize,
    /// The checkpoint format (`None`: detected from what is at the path).
    pub format: Option<&'static dyn Format>,
    pub scale: Option<f64>,
    /// `threshold=T`: every latent's JumpReLU threshold is T (BatchTopK dictionaries record
    /// one such threshold; this overrides an SAE's own).
    pub threshold: Option<f64>,
    /// Load weights that hold NaN or ±Inf (by default such a checkpoint is an error).
    pub allow_nonfinite: bool,
}

/// The spec key that lets an SAE with non-finite weights load.
pub const ALLOW_NONFINITE: &str = "allow_nonfinite";

/// `spec` with `allow_nonfinite=true` added: what `--allow-nonfinite` does to each SAE.
pub fn allowing_nonfinite(spec: &str) -> String {
    format!("{spec},{ALLOW_NONFINITE}=true")
}

impl std::str::FromStr for SaeSpec {
    type Err = anyhow::Error;

    /// Parses `PATH[,key=value...]`.
    fn from_str(s: &str) -> Result<Self> {
        let mut parts = s.split(',');
        let path = parts.next().unwrap_or("").trim();
        if path.is_empty() {
            bail!("SAE `{s}`: the path is empty");
        }
        let mut spec = SaeSpec {
            path: PathBuf::from(path),
            hook: None,
            activation: None,
            component: 0,
            format: None,
            scale: None,
            threshold: None,
            allow_nonfinite: false,
        };
        for kv in parts {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| anyhow!("SAE `{s}`: option `{kv}` is not key=value"))?;
            let (k, v) = (k.trim(), v.trim());
            match k {
                "hook" => spec.hook = Some(v.parse()?),
                "activation" => spec.activation = Some(Activation::parse(v)?),
                "component" => {
                    spec.component = v.parse().with_context(|| format!("SAE `{s}`: component `{v}` is not a number"))?
                }
                "format" => {
                    spec.format = Some(format::by_name(v).ok_or_else(|| {
                        anyhow!("SAE `{s}`: unknown format `{v}` ({})", format::names())
                    })?)
                }
                "scale" => {
                    let x: f64 = v.parse().with_context(|| format!("SAE `{s}`: scale `{v}` is not a number"))?;
                    if !(x.is_finite() && x > 0.0) {
                        bail!("SAE `{s}`: scale `{v}` must be a positive finite number");
                    }
                    spec.scale = Some(x)
                }
                "k" => {
                    let k = Activation::parse(&format!("topk:{v}")).with_context(|| format!("SAE `{s}`: k `{v}`"))?;
                    if spec.activation.is_some_and(|a| a != k) {
                        bail!("SAE `{s}`: k={v} contradicts the activation option");
                    }
                    spec.activation = Some(k);
                }
                "threshold" => {
                    let t: f64 = v.parse().with_context(|| format!("SAE `{s}`: threshold `{v}` is not a number"))?;
                    if !t.is_finite() {
                        bail!("SAE `{s}`: threshold `{v}` is not a finite number");
                    }
                    spec.threshold = Some(t);
                }
                ALLOW_NONFINITE => {
                    spec.allow_nonfinite = match v {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => bail!("SAE `{s}`: {ALLOW_NONFINITE} `{v}` is not true or false"),
                    }
                }
                _ => bail!("SAE `{s}`: unknown option `{k}` (known: hook, activation, k, threshold, component, format, scale, {ALLOW_NONFINITE})"),
            }
        }
        match spec.activation {
            // A threshold makes the activation a JumpReLU.
            Some(Activation::JumpRelu { .. }) if spec.threshold.is_some() => spec.activation = None,
            Some(a) if spec.threshold.is_some() => {
                bail!("SAE `{s}`: threshold= sets a JumpReLU threshold, which contradicts activation {}", a.describe())
            }
            _ => {}
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spec_options() {
        let s: SaeSpec =
            "ckpt_layer17.pt,hook=blocks.17.hook_mlp_out,activation=topk:200,component=1"
                .parse()
                .unwrap();
        assert_eq!(s.path, PathBuf::from("ckpt_layer17.pt"));
        assert_eq!(s.hook.unwrap().to_string(), "blocks.17.hook_mlp_out");
        assert_eq!(s.activation, Some(Activation::TopK(200)));
        assert_eq!(s.component, 1);
        assert!("x.pt,colour=red".parse::<SaeSpec>().is_err());
        assert!("x.pt,hook".parse::<SaeSpec>().is_err());
        assert!(",hook=blocks.1.hook_mlp_out".parse::<SaeSpec>().is_err());
        assert!(!s.allow_nonfinite);
        let s: SaeSpec = "x.pt,allow_nonfinite=true".parse().unwrap();
        assert!(s.allow_nonfinite);
        assert!("x.pt,allow_nonfinite=maybe".parse::<SaeSpec>().is_err());
        for bad in ["nan", "inf", "0", "-2"] {
            let err = format!("x.pt,scale={bad}").parse::<SaeSpec>().unwrap_err();
            assert!(err.to_string().contains("scale"), "{err}");
        }
    }

    #[test]
    fn k_and_threshold_options() {
        let s: SaeSpec = "ae,k=32".parse().unwrap();
        assert_eq!(s.activation, Some(Activation::TopK(32)));
        let s: SaeSpec = "ae,activation=topk:32,k=32".parse().unwrap();
        assert_eq!(s.activation, Some(Activation::TopK(32)));
        assert!("ae,activation=relu,k=32".parse::<SaeSpec>().is_err());
        assert!("ae,k=0".parse::<SaeSpec>().is_err());
        let s: SaeSpec = "ae,threshold=0.25".parse().unwrap();
        assert_eq!((s.threshold, s.activation), (Some(0.25), None));
        let s: SaeSpec = "ae,activation=jumprelu,threshold=0.25".parse().unwrap();
        assert_eq!((s.threshold, s.activation), (Some(0.25), None));
        assert!("ae,threshold=0.25,k=8".parse::<SaeSpec>().is_err());
        assert!("ae,threshold=x".parse::<SaeSpec>().is_err());
        assert!("ae,threshold=inf".parse::<SaeSpec>().is_err());
    }
}
