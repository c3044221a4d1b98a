//! Hook points, named as in TransformerLens / SAELens: `blocks.{L}.hook_{site}`.

use anyhow::{bail, Result};
use std::fmt;
use std::str::FromStr;

/// Where inside a transformer block an activation is read (or replaced).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookSite {
    /// The residual stream entering block L.
    ResidPre,
    /// What the attention sub-block adds to the residual stream.
    AttnOut,
    /// What the MLP sub-block adds to the residual stream.
    MlpOut,
    /// The residual stream leaving block L (before any final norm).
    ResidPost,
}

impl HookSite {
    /// All sites, in the order the forward pass reaches them.
    pub const ALL: [HookSite; 4] = [
        HookSite::ResidPre,
        HookSite::AttnOut,
        HookSite::MlpOut,
        HookSite::ResidPost,
    ];

    /// The TransformerLens suffix, e.g. `hook_mlp_out`.
    pub fn name(self) -> &'static str {
        match self {
            HookSite::ResidPre => "hook_resid_pre",
            HookSite::AttnOut => "hook_attn_out",
            HookSite::MlpOut => "hook_mlp_out",
            HookSite::ResidPost => "hook_resid_post",
        }
    }
}

/// A hook point: a layer and a site, e.g. `blocks.17.hook_mlp_out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HookPoint {
    pub layer: usize,
    pub site: HookSite,
}

impl HookPoint {
    pub fn new(layer: usize, site: HookSite) -> Self {
        Self { layer, site }
    }
}

impl fmt::Display for HookPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blocks.{}.{}", self.layer, self.site.name())
    }
}

impl FromStr for HookPoint {
    type Err = anyhow::Error;

    /// Parses `blocks.{L}.hook_{site}`. Also accepts the Hugging Face module paths
    /// Safe-SAIL and sparsify use: `model.layers.{L}.mlp.down_proj` / `layers.{L}.mlp`
    /// (MLP output) and `layers.{L}` (block output).
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let hint = "expected blocks.{L}.hook_resid_pre|hook_attn_out|hook_mlp_out|hook_resid_post";
        let parse_layer = |l: &str| -> Result<usize> {
            l.parse::<usize>().map_err(|_| {
                anyhow::anyhow!("unknown hook point `{s}`: `{l}` is not a layer number ({hint})")
            })
        };
        if let Some(rest) = s.strip_prefix("blocks.") {
            let Some((layer, site)) = rest.split_once('.') else {
                bail!("unknown hook point `{s}` ({hint})");
            };
            let layer = parse_layer(layer)?;
            let site = match site {
                "hook_resid_pre" => HookSite::ResidPre,
                "hook_attn_out" => HookSite::AttnOut,
                "hook_mlp_out" => HookSite::MlpOut,
                "hook_resid_post" => HookSite::ResidPost,
                _ => bail!("unknown hook point `{s}`: unknown site `{site}` ({hint})"),
            };
            return Ok(HookPoint { layer, site });
        }
        let rest = s.strip_prefix("model.").unwrap_or(s);
        if let Some(rest) = rest.strip_prefix("layers.") {
            let (layer, tail) = rest.split_once('.').unwrap_or((rest, ""));
            let layer = parse_layer(layer)?;
            let site = match tail {
                "" => HookSite::ResidPost,
                "mlp" | "mlp.down_proj" => HookSite::MlpOut,
                "self_attn" | "self_attn.o_proj" => HookSite::AttnOut,
                _ => bail!("unknown hook point `{s}` ({hint})"),
            };
            return Ok(HookPoint { layer, site });
        }
        bail!("unknown hook point `{s}` ({hint})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_transformerlens_names() {
        for name in [
            "blocks.0.hook_resid_pre",
            "blocks.17.hook_mlp_out",
            "blocks.3.hook_attn_out",
            "blocks.35.hook_resid_post",
        ] {
            let h: HookPoint = name.parse().unwrap();
            assert_eq!(h.to_string(), name);
        }
    }

    #[test]
    fn accepts_module_paths() {
        let h: HookPoint = "model.layers.17.mlp.down_proj".parse().unwrap();
        assert_eq!(h, HookPoint::new(17, HookSite::MlpOut));
        let h: HookPoint = "layers.8".parse().unwrap();
        assert_eq!(h, HookPoint::new(8, HookSite::ResidPost));
        let h: HookPoint = "layers.8.mlp".parse().unwrap();
        assert_eq!(h, HookPoint::new(8, HookSite::MlpOut));
    }

    #[test]
    fn rejects_unknown_names_with_a_hint() {
        for bad in [
            "blocks.x.hook_mlp_out",
            "blocks.1.hook_z",
            "embed",
            "blocks.1",
        ] {
            let err = bad.parse::<HookPoint>().unwrap_err().to_string();
            assert!(err.contains("unknown hook point"), "{err}");
        }
    }
}
