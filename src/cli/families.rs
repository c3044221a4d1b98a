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

#[derive(Args)]
pub struct MapArgs {
    /// The SAE (`PATH[,key=value...]`, as everywhere).
    #[arg(long)]
    sae: String,
    /// Its feature store: the map is cached there as `map2d.safetensors` (else in the user's
    /// data folder, under `maps/`).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Also write the map to this file (safetensors: `points` `[d_sae, 2]`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seeds the layout: the same seed gives the same map.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Neighbours per latent in the graph the layout keeps.
    #[arg(long, default_value_t = 15)]
    neighbours: usize,
    /// Epochs of the layout (default: 200 above 10,000 latents, else 500).
    #[arg(long)]
    epochs: Option<usize>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn map_cmd(a: MapArgs) -> Result<()> {
    use safe_sail::families::map::{sae_map, MapOpts, MapSource};
    use std::sync::atomic::AtomicBool;
    let sae = load_sae(&a.sae.parse()?, &Device::Cpu)?;
    let opts = MapOpts {
        seed: a.seed,
        neighbours: a.neighbours,
        epochs: a.epochs,
    };
    use safe_sail::progress::Progress;
    let bar = crate::cli::progress::Bar::new("{spinner} {msg} {wide_bar} {pos}%");
    bar.set_len(100);
    let progress = |step: &str, f: f32| {
        bar.message(step);
        bar.set_pos((f * 100.0) as u64);
    };
    let start = std::time::Instant::now();
    let (map, source) = sae_map(
        &sae,
        a.store.as_deref(),
        &opts,
        &progress,
        &AtomicBool::new(false),
    )?;
    drop(bar);
    let seconds = start.elapsed().as_secs_f64();
    if let Some(out) = &a.out {
        map.save(out)?;
    }
    let (cached, file) = match &source {
        MapSource::Cached(p) => (true, Some(p.clone())),
        MapSource::Computed(p) => (false, p.clone()),
    };
    if a.json {
        let v = serde_json::json!({
            "latents": map.points.len(),
            "decoder_hash": map.decoder_hash,
            "seed": a.seed,
            "neighbours": a.neighbours,
            "cached": cached,
            "cache": file.as_ref().map(|p| p.display().to_string()),
            "out": a.out.as_ref().map(|p| p.display().to_string()),
            "seconds": seconds,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        match &source {
            MapSource::Cached(p) => println!(
                "map of {} latents read from the cache {}",
                map.points.len(),
                p.display()
            ),
            MapSource::Computed(Some(p)) => println!(
                "map of {} latents computed in {seconds:.1} s, cached at {}",
                map.points.len(),
                p.display()
            ),
            MapSource::Computed(None) => println!(
                "map of {} latents computed in {seconds:.1} s (no place to cache it)",
                map.points.len()
            ),
        }
        if let Some(out) = &a.out {
            println!("written to {}", out.display());
        }
    }
    Ok(())
}
