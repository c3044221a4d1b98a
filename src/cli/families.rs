//! `match`: pair the latents of two SAEs by decoder cosine.

use anyhow::Result;
use candle_core::Device;
use clap::Args;
use safe_sail::families::{match_decoders, unit_decoder, write_parquet};
use safe_sail::sae::load_sae;
use std::path::PathBuf;

#[derive(Args)]
pub struct MatchArgs {
    /// The first SAE (`PATH[,key=value...]`, as everywhere).
    #[arg(long)]
    a: String,
    /// The second SAE, reading a space of the same size (another width, seed or layer).
    #[arg(long)]
    b: String,
    /// A pair counts as partners when its decoder cosine is at least this.
    #[arg(long, default_value_t = 0.7)]
    threshold: f32,
    /// Write every pair (`a`, `b`, `cosine`) to this Parquet file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn match_cmd(a: MatchArgs) -> Result<()> {
    let sa = load_sae(&a.a.parse()?, &Device::Cpu)?;
    let sb = load_sae(&a.b.parse()?, &Device::Cpu)?;
    let m = match_decoders(&unit_decoder(&sa)?, &unit_decoder(&sb)?)?;
    if let Some(out) = &a.out {
        write_parquet(&m, out)?;
    }
    let above = m.partners_above(a.threshold);
    let n = m.pairs.len();
    let method = if m.exact {
        "optimal assignment (Hungarian, largest total cosine)"
    } else {
        "greedy on each latent's 32 best candidates (too large for the exact assignment)"
    };
    if a.json {
        let v = serde_json::json!({
            "widths": [m.widths.0, m.widths.1],
            "pairs": n,
            "exact": m.exact,
            "threshold": (a.threshold as f64 * 1e6).round() / 1e6,
            "partners_above_threshold": above,
            "fraction_above_threshold": above as f64 / n as f64,
            "mean_cosine": m.mean_cosine(),
            "out": a.out.as_ref().map(|p| p.display().to_string()),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{n} pairs between {} and {} latents ({method})\n\
             {above} of {n} ({:.1}%) have a partner with decoder cosine ≥ {}; mean cosine {:.3}",
            m.widths.0,
            m.widths.1,
            100.0 * above as f64 / n as f64,
            a.threshold,
            m.mean_cosine()
        );
        if let Some(out) = &a.out {
            println!("pairs written to {}", out.display());
        }
    }
    Ok(())
}
