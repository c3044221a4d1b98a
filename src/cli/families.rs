//! `match`: pair the latents of two SAEs by decoder (or encoder) cosine.

use anyhow::Result;
use candle_core::Device;
use clap::Args;
use safe_sail::families::{
    directions, match_decoders, split_parents, unit_decoder, write_parquet, By,
};
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
    /// A pair counts as partners when its cosine is at least this.
    #[arg(long, default_value_t = 0.7)]
    threshold: f32,
    /// Match by decoder directions, encoder directions, or both (the mean of the two cosines).
    #[arg(long, default_value = "decoder")]
    by: By,
    /// Write every pair (`a`, `b`, `cosine`) to this Parquet file; for two widths one row per
    /// latent of the wider SAE, with the narrower SAE's latent it splits from.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn match_cmd(a: MatchArgs) -> Result<()> {
    let sa = load_sae(&a.a.parse()?, &Device::Cpu)?;
    let sb = load_sae(&a.b.parse()?, &Device::Cpu)?;
    let m = match_decoders(&directions(&sa, a.by)?, &directions(&sb, a.by)?)?;
    // Splits are by decoder cosine whatever `--by` says.
    let parents = match (m.widths.0).cmp(&m.widths.1) {
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Greater => {
            Some(split_parents(&unit_decoder(&sa)?, &unit_decoder(&sb)?)?)
        }
        std::cmp::Ordering::Less => Some(split_parents(&unit_decoder(&sb)?, &unit_decoder(&sa)?)?),
    };
    if let Some(out) = &a.out {
        write_parquet(&m, parents.as_deref(), out)?;
    }
    let split_summary = parents.as_ref().map(|p| {
        let mut used: Vec<u32> = p.iter().map(|x| x.0).collect();
        used.sort_unstable();
        used.dedup();
        (
            used.len(),
            p.iter().map(|x| x.1).sum::<f32>() / p.len().max(1) as f32,
        )
    });
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
            "by": a.by.name(),
            "threshold": (a.threshold as f64 * 1e6).round() / 1e6,
            "partners_above_threshold": above,
            "fraction_above_threshold": above as f64 / n as f64,
            "mean_cosine": m.mean_cosine(),
            "out": a.out.as_ref().map(|p| p.display().to_string()),
            "split_parents": split_summary.map(|s| s.0),
            "mean_split_cosine": split_summary.map(|s| s.1),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{n} pairs between {} and {} latents ({method})\n\
             {above} of {n} ({:.1}%) have a partner with {} cosine ≥ {}; mean cosine {:.3}",
            m.widths.0,
            m.widths.1,
            100.0 * above as f64 / n as f64,
            a.by.name(),
            a.threshold,
            m.mean_cosine()
        );
        if let Some((used, mean)) = split_summary {
            println!(
                "each latent of the wider SAE splits from one of {used} latents of the narrower \
                 (highest decoder cosine; mean {mean:.3})"
            );
        }
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
