//! Feature dashboards for a handful of latents: SAEDashboard-style feature JSON (the
//! Neuronpedia feature fields in snake_case, each with its `activations`) and one static,
//! self-contained HTML file (no script, no external resource, UTF-8) that anyone can open.

use super::{argmax, bin_range, histogram_bars, store_layer};
use crate::db::editable::EditableDb;
use crate::db::provenance::MethodScore;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// One example context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashActivation {
    /// `top` or `quantile`.
    pub kind: String,
    /// `-1` for top examples (as Neuronpedia); a quantile bin's lower edge.
    pub bin_min: f64,
    pub bin_max: f64,
    pub tokens: Vec<String>,
    pub values: Vec<f64>,
    /// The token with the largest activation.
    pub qualifying_token_index: usize,
}

/// One latent's dashboard data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashFeature {
    pub feature_index: u32,
    /// Our neuron id, `<layer>_<latent>`.
    pub neuron_id: String,
    pub max_act_approx: f64,
    pub frac_nonzero: f64,
    pub freq_hist_data_bar_heights: Vec<f64>,
    pub freq_hist_data_bar_values: Vec<f64>,
    pub neg_str: Vec<String>,
    pub neg_values: Vec<f64>,
    pub pos_str: Vec<String>,
    pub pos_values: Vec<f64>,
    pub explanation: Option<String>,
    pub correlation_score: Option<f64>,
    pub tags: Vec<String>,
    /// The neuron's scores by other methods than simulation (detection, fuzzing, embedding:
    /// the record's `method_scores`), in [`crate::db::provenance::METHOD_ORDER`].
    #[serde(default)]
    pub method_scores: Vec<MethodScore>,
    pub activations: Vec<DashActivation>,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    /// `safe-sail-explorer/dashboard`.
    pub format: String,
    pub version: u32,
    pub model: String,
    pub sae: String,
    pub hook_name: String,
    pub layer: usize,
    /// Tokens the store's statistics were counted over.
    pub tokens: u64,
    pub features: Vec<DashFeature>,
}

/// The `format` marker of the JSON.
pub const FORMAT: &str = "safe-sail-explorer/dashboard";

/// A neuron's scores by other methods, detection, fuzzing and embedding first.
fn method_scores(db: Option<&EditableDb>, id: &str) -> Vec<MethodScore> {
    use crate::db::provenance::METHOD_ORDER;
    let mut all = db
        .and_then(|d| d.entries.get(id))
        .map(MethodScore::all_of)
        .unwrap_or_default();
    let rank = |m: &str| {
        METHOD_ORDER
            .iter()
            .position(|x| *x == m)
            .unwrap_or(usize::MAX)
    };
    all.sort_by(|a, b| {
        rank(&a.method)
            .cmp(&rank(&b.method))
            .then(a.method.cmp(&b.method))
    });
    all
}

/// Collects the dashboard data of `latents` from a store (and their explanations from `db`).
/// A latent the store does not have is an error naming it.
pub fn build(store_dir: &Path, db: Option<&EditableDb>, latents: &[u32]) -> Result<Dashboard> {
    if latents.is_empty() {
        bail!("no latents asked for");
    }
    let store = Store::open(store_dir)?;
    let layer = store_layer(&store)?;
    let bins = store.settings_bins();
    let mut features = vec![];
    for &l in latents {
        let f = store.feature(l).with_context(|| {
            format!(
                "latent {l} is not in the store {} ({} latents)",
                store_dir.display(),
                store.meta.d_sae
            )
        })?;
        let (values, heights) = histogram_bars(f);
        let id = crate::db::neuron_id(layer, l);
        let method_scores = method_scores(db, &id);
        let rec = db.and_then(|d| d.record(&id));
        let activations = store
            .examples(l)
            .iter()
            .map(|e| {
                let (bin_min, bin_max) = bin_range(e, f.max_act, bins);
                DashActivation {
                    kind: e.kind.clone(),
                    bin_min,
                    bin_max,
                    tokens: e.tokens.clone(),
                    values: e.acts.iter().map(|&v| v as f64).collect(),
                    qualifying_token_index: argmax(&e.acts),
                }
            })
            .collect();
        features.push(DashFeature {
            feature_index: l,
            neuron_id: id,
            max_act_approx: f.max_act as f64,
            frac_nonzero: f.density,
            freq_hist_data_bar_heights: heights,
            freq_hist_data_bar_values: values,
            neg_str: f.bottom_logit_tokens.clone(),
            neg_values: f.bottom_logit_values.iter().map(|&v| v as f64).collect(),
            pos_str: f.top_logit_tokens.clone(),
            pos_values: f.top_logit_values.iter().map(|&v| v as f64).collect(),
            explanation: rec.as_ref().and_then(|r| r.explanation.clone()),
            correlation_score: rec.as_ref().and_then(|r| r.live_score()),
            tags: rec.as_ref().map(|r| r.tags()).unwrap_or_default(),
            method_scores,
            activations,
        });
    }
    Ok(Dashboard {
        format: FORMAT.into(),
        version: 1,
        model: store.meta.model.clone(),
        sae: store.meta.sae.clone(),
        hook_name: store.meta.hook.clone(),
        layer,
        tokens: store.meta.tokens,
        features,
    })
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A token as shown: visible spaces and line breaks, never empty.
fn shown_token(t: &str) -> String {
    if t.is_empty() {
        return "\u{2400}".into();
    }
    t.replace('\n', "\u{21b5}")
}

/// The dashboard as one HTML page: per latent its statistics, explanation, promoted and
/// suppressed tokens, histogram (inline bars) and every example with tokens shaded by
/// activation (relative to the latent's max; the value on hover).
pub fn to_html(d: &Dashboard) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>Safe-SAIL features: {hook}</title>\n<style>\n\
body{{font-family:system-ui,'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:1.5em;color:#222}}\n\
.feature{{border:1px solid #ccc;border-radius:6px;padding:1em;margin-bottom:1.5em}}\n\
.ex{{font-family:ui-monospace,'Noto Sans Mono CJK SC',monospace;white-space:pre-wrap;margin:.2em 0;line-height:1.7}}\n\
.tok{{border-radius:2px}}\n.stats td{{padding:0 1em 0 0}}\n\
.bars{{display:flex;align-items:flex-end;height:60px;gap:1px}}\n.bars div{{background:#4a7fd0;width:8px}}\n\
.pos{{color:#0a6b2a}}\n.neg{{color:#a3161a}}\n</style>\n</head>\n<body>\n\
<h1>{hook}</h1>\n<p>SAE <code>{sae}</code> on model <code>{model}</code>; statistics over {tokens} tokens. \
Written by safe-sail {version}.</p>\n",
        hook = escape(&d.hook_name),
        sae = escape(&d.sae),
        model = escape(&d.model),
        tokens = d.tokens,
        version = env!("CARGO_PKG_VERSION"),
    );
    for f in &d.features {
        let _ = write!(
            h,
            "<section class=\"feature\" id=\"latent-{l}\">\n<h2>Latent {l} <small>({id})</small></h2>\n",
            l = f.feature_index,
            id = escape(&f.neuron_id)
        );
        let _ = writeln!(
            h,
            "<p class=\"explanation\">{}</p>",
            f.explanation
                .as_deref()
                .map_or("<em>no explanation</em>".into(), escape)
        );
        let _ = writeln!(
            h,
            "<table class=\"stats\"><tr><td>max activation {:.4}</td><td>density {:.3e}</td><td>score {}</td><td>tags {}</td></tr></table>",
            f.max_act_approx,
            f.frac_nonzero,
            f.correlation_score.map_or("—".into(), |s| format!("{s:.3}")),
            escape(&f.tags.join(", ")),
        );
        if !f.method_scores.is_empty() {
            let _ = writeln!(
                h,
                "<p class=\"scores\">{}</p>",
                f.method_scores
                    .iter()
                    .map(|m| escape(&m.describe()))
                    .collect::<Vec<_>>()
                    .join("<br>")
            );
        }
        let peak = f
            .freq_hist_data_bar_heights
            .iter()
            .copied()
            .fold(0.0, f64::max);
        h.push_str("<div class=\"bars\" title=\"activation histogram (log-spaced bins)\">");
        for (v, c) in f
            .freq_hist_data_bar_values
            .iter()
            .zip(&f.freq_hist_data_bar_heights)
        {
            let pct = if peak > 0.0 { 100.0 * c / peak } else { 0.0 };
            let _ = write!(
                h,
                "<div style=\"height:{pct:.1}%\" title=\"≈{v:.4}: {c}\"></div>"
            );
        }
        h.push_str("</div>\n<p>");
        let list = |h: &mut String, class: &str, label: &str, s: &[String], v: &[f64]| {
            let _ = write!(h, "<span class=\"{class}\">{label}: ");
            let items: Vec<String> = s
                .iter()
                .zip(v)
                .map(|(t, x)| format!("<code>{}</code> {x:+.3}", escape(&shown_token(t))))
                .collect();
            h.push_str(&items.join(", "));
            h.push_str("</span><br>");
        };
        list(&mut h, "pos", "promotes", &f.pos_str, &f.pos_values);
        list(&mut h, "neg", "suppresses", &f.neg_str, &f.neg_values);
        h.push_str("</p>\n");
        let mut last_group = String::new();
        for a in &f.activations {
            let group = if a.kind == "top" {
                "Top examples".to_string()
            } else {
                format!("Quantile ({:.3}, {:.3}]", a.bin_min, a.bin_max)
            };
            if group != last_group {
                let _ = writeln!(h, "<h3>{}</h3>", escape(&group));
                last_group = group;
            }
            h.push_str("<div class=\"ex\">");
            for (t, &v) in a.tokens.iter().zip(&a.values) {
                let alpha = if f.max_act_approx > 0.0 {
                    (v / f.max_act_approx).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                if v > 0.0 {
                    let _ = write!(
                        h,
                        "<span class=\"tok\" style=\"background:rgba(255,120,0,{alpha:.3})\" title=\"{v:.4}\">{}</span>",
                        escape(&shown_token(t))
                    );
                } else {
                    h.push_str(&escape(t));
                }
            }
            h.push_str("</div>\n");
        }
        h.push_str("</section>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// Writes the dashboard of `latents` to `out`: HTML for `.html`/`.htm`, else JSON
/// (atomically). Returns the dashboard written.
pub fn export(
    store_dir: &Path,
    db: Option<&EditableDb>,
    latents: &[u32],
    out: &Path,
) -> Result<Dashboard> {
    let d = build(store_dir, db, latents)?;
    let html = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
    let bytes = if html {
        to_html(&d).into_bytes()
    } else {
        serde_json::to_string_pretty(&d)?.into_bytes()
    };
    crate::fsutil::write_atomic(out, &bytes)?;
    Ok(d)
}

/// Parses `1,2, 5-7` into latents.
pub fn parse_latents(s: &str) -> Result<Vec<u32>> {
    let mut v = vec![];
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |x: &str| -> Result<u32> {
            x.trim()
                .parse()
                .with_context(|| format!("`{x}` is not a latent number (e.g. 1,2,5-7)"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if b < a || b - a > 10_000 {
                    bail!("`{part}` is not a range of at most 10001 latents");
                }
                v.extend(a..=b);
            }
            None => v.push(num(part)?),
        }
    }
    if v.is_empty() {
        bail!("no latents in `{s}`");
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_parses_latent_lists() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(parse_latents("1, 3-5,9").unwrap(), [1, 3, 4, 5, 9]);
        assert!(parse_latents("x").is_err() && parse_latents("").is_err());
        assert!(parse_latents("5-3").is_err());
    }
}
