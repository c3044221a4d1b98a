//! Feature stores: for every SAE latent its activation statistics, top-activating and
//! quantile-sampled examples and the tokens its decoder direction promotes and suppresses,
//! collected once over a corpus ([`collect`]) and kept as Parquet files any data tool reads.
//!
//! Layout of a store folder: `store.json` (model, SAE, hook, corpus, tokens seen, settings,
//! program version), `features.parquet` (one row per latent) and `examples.parquet` (one row
//! per example).

pub mod collect;
pub mod run;

use anyhow::{bail, Context, Result};
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Fixed, log-spaced histogram edges shared by every store (so shards add up).
pub const HIST_BINS: usize = 64;
pub const HIST_MIN: f32 = 1e-4;
pub const HIST_MAX: f32 = 1e4;

/// The histogram edges (`HIST_BINS + 1` values; the first bin also takes smaller values,
/// the last larger ones).
pub fn hist_edges() -> Vec<f32> {
    let (a, b) = (HIST_MIN.ln(), HIST_MAX.ln());
    (0..=HIST_BINS)
        .map(|i| (a + (b - a) * i as f32 / HIST_BINS as f32).exp())
        .collect()
}

/// The histogram bin of a positive activation.
pub fn hist_bin(v: f32) -> usize {
    let (a, b) = (HIST_MIN.ln(), HIST_MAX.ln());
    let x = ((v.max(HIST_MIN).ln() - a) / (b - a) * HIST_BINS as f32).floor();
    (x.max(0.0) as usize).min(HIST_BINS - 1)
}

/// `store.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreMeta {
    pub program: String,
    pub version: String,
    pub model: String,
    pub sae: String,
    pub hook: String,
    pub d_sae: usize,
    pub corpus: Vec<String>,
    pub shard: Option<String>,
    pub documents: u64,
    pub bad_rows: u64,
    pub contexts: u64,
    /// Tokens whose activations were counted (special tokens excluded unless asked).
    pub tokens: u64,
    pub settings: serde_json::Value,
    /// How each column was computed.
    pub definitions: serde_json::Value,
}

/// One latent's statistics.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureRow {
    pub latent: u32,
    pub count: u64,
    pub density: f64,
    pub mean_act: f64,
    pub max_act: f32,
    pub q999: f32,
    pub q9999: f32,
    pub hist_edges: Vec<f32>,
    pub hist_counts: Vec<u64>,
    pub top_logit_tokens: Vec<String>,
    pub top_logit_values: Vec<f32>,
    pub bottom_logit_tokens: Vec<String>,
    pub bottom_logit_values: Vec<f32>,
}

/// A token's text without the `\xE5\xBF` escapes that stores written by earlier versions hold
/// for a character cut off by the context's edge (bytes ≥ 0x80 that are no character on their
/// own; see [`crate::model::tokenizer::Tok::display_strings`]): such a token shows "" (part of
/// a character) as a newly collected one does.
pub fn without_byte_escapes(text: String) -> String {
    if !text.contains("\\x") {
        return text;
    }
    let b = text.as_bytes();
    let is_escape = |i: usize| {
        i + 4 <= b.len()
            && &b[i..i + 2] == b"\\x"
            && matches!(b[i + 2], b'8'..=b'9' | b'A'..=b'F')
            && b[i + 3].is_ascii_hexdigit()
            && !b[i + 3].is_ascii_lowercase()
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if is_escape(i) {
            i += 4;
            continue;
        }
        let c = text[i..].chars().next().expect("in range");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// One example context of a latent.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleRow {
    pub latent: u32,
    /// `top` or `quantile`.
    pub kind: String,
    /// Quantile bin (0 = weakest); 0 for top examples.
    pub bin: u32,
    /// Rank within its kind and bin (0 = strongest).
    pub rank: u32,
    pub doc: u64,
    /// Token offset of the context inside its document.
    pub offset: u32,
    pub token_ids: Vec<u32>,
    pub tokens: Vec<String>,
    pub acts: Vec<f32>,
    pub max_act: f32,
}

/// An opened store, ready for the explorer.
/// Examples are read lazily: opening indexes them by latent, and a latent's rows are
/// decoded from `examples.parquet` (small row groups) when first asked for, then cached.
#[derive(Debug)]
pub struct Store {
    pub meta: StoreMeta,
    pub features: Vec<FeatureRow>,
    by_latent: HashMap<u32, usize>,
    examples_file: std::path::PathBuf,
    /// latent → (first row, rows) in `examples.parquet` (rows are grouped by latent).
    example_rows: HashMap<u32, (usize, usize)>,
    cache: std::sync::Mutex<HashMap<u32, std::sync::Arc<Vec<ExampleRow>>>>,
}

/// Latents whose decoded examples stay cached.
const CACHE_LATENTS: usize = 256;

fn list_col(name: &str, rows: impl Iterator<Item = Series>) -> Column {
    let v: Vec<Series> = rows.collect();
    Series::new(name.into(), v).into_column()
}

/// The values of a string series (nulls as "").
fn str_list(s: &Series) -> Result<Vec<String>> {
    let ca = s.str()?;
    Ok((0..ca.len())
        .map(|i| ca.get(i).unwrap_or("").to_string())
        .collect())
}

/// Writes a data frame as Parquet atomically.
fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<()> {
    crate::fsutil::write_atomic_with(path, |f| {
        // Small row groups, so one latent's examples decode without reading the whole file.
        ParquetWriter::new(f)
            .with_row_group_size(Some(2048))
            .finish(df)?;
        Ok(())
    })
}

impl Store {
    /// Writes a store folder (files replaced atomically; `store.json` last).
    pub fn write(
        dir: &Path,
        meta: &StoreMeta,
        features: &[FeatureRow],
        examples: &[ExampleRow],
    ) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let f = features;
        let mut df = DataFrame::new_infer_height(vec![
            Series::new(
                "latent".into(),
                f.iter().map(|r| r.latent).collect::<Vec<_>>(),
            )
            .into_column(),
            Series::new(
                "count".into(),
                f.iter().map(|r| r.count).collect::<Vec<_>>(),
            )
            .into_column(),
            Series::new(
                "density".into(),
                f.iter().map(|r| r.density).collect::<Vec<_>>(),
            )
            .into_column(),
            Series::new(
                "mean_act".into(),
                f.iter().map(|r| r.mean_act).collect::<Vec<_>>(),
            )
            .into_column(),
            Series::new(
                "max_act".into(),
                f.iter().map(|r| r.max_act).collect::<Vec<_>>(),
            )
            .into_column(),
            Series::new("q999".into(), f.iter().map(|r| r.q999).collect::<Vec<_>>()).into_column(),
            Series::new(
                "q9999".into(),
                f.iter().map(|r| r.q9999).collect::<Vec<_>>(),
            )
            .into_column(),
            list_col(
                "hist_edges",
                f.iter().map(|r| Series::new("".into(), &r.hist_edges)),
            ),
            list_col(
                "hist_counts",
                f.iter().map(|r| Series::new("".into(), &r.hist_counts)),
            ),
            list_col(
                "top_logit_tokens",
                f.iter()
                    .map(|r| Series::new("".into(), &r.top_logit_tokens)),
            ),
            list_col(
                "top_logit_values",
                f.iter()
                    .map(|r| Series::new("".into(), &r.top_logit_values)),
            ),
            list_col(
                "bottom_logit_tokens",
                f.iter()
                    .map(|r| Series::new("".into(), &r.bottom_logit_tokens)),
            ),
            list_col(
                "bottom_logit_values",
                f.iter()
                    .map(|r| Series::new("".into(), &r.bottom_logit_values)),
            ),
        ])?;
        write_parquet(&mut df, &dir.join("features.parquet"))?;
        let e = examples;
        let mut df = DataFrame::new_infer_height(vec![
            Series::new(
                "latent".into(),
                e.iter().map(|r| r.latent).collect::<Vec<_>>(),
            )
            .into_column(),
            Series::new(
                "kind".into(),
                e.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(),
            )
            .into_column(),
            Series::new("bin".into(), e.iter().map(|r| r.bin).collect::<Vec<_>>()).into_column(),
            Series::new("rank".into(), e.iter().map(|r| r.rank).collect::<Vec<_>>()).into_column(),
            Series::new("doc".into(), e.iter().map(|r| r.doc).collect::<Vec<_>>()).into_column(),
            Series::new(
                "offset".into(),
                e.iter().map(|r| r.offset).collect::<Vec<_>>(),
            )
            .into_column(),
            list_col(
                "token_ids",
                e.iter().map(|r| Series::new("".into(), &r.token_ids)),
            ),
            list_col(
                "tokens",
                e.iter().map(|r| Series::new("".into(), &r.tokens)),
            ),
            list_col("acts", e.iter().map(|r| Series::new("".into(), &r.acts))),
            Series::new(
                "max_act".into(),
                e.iter().map(|r| r.max_act).collect::<Vec<_>>(),
            )
            .into_column(),
        ])?;
        write_parquet(&mut df, &dir.join("examples.parquet"))?;
        crate::fsutil::write_atomic(
            &dir.join("store.json"),
            serde_json::to_string_pretty(meta)?.as_bytes(),
        )?;
        Ok(())
    }

    /// Opens a store folder.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_inner(dir)
            .with_context(|| format!("cannot open feature store {}", dir.display()))
    }

    fn open_inner(dir: &Path) -> Result<Self> {
        let meta_path = dir.join("store.json");
        if !meta_path.exists() {
            bail!(
                "{} is missing: not a feature store (made by `safe-sail collect`)",
                meta_path.display()
            );
        }
        let meta: StoreMeta = serde_json::from_str(&std::fs::read_to_string(&meta_path)?)
            .with_context(|| format!("{} is not valid", meta_path.display()))?;
        let read = |name: &str| -> Result<DataFrame> {
            let p = dir.join(name);
            let f =
                std::fs::File::open(&p).with_context(|| format!("cannot open {}", p.display()))?;
            ParquetReader::new(f)
                .finish()
                .map_err(|e| anyhow::anyhow!("{} is not a readable Parquet file: {e}", p.display()))
        };
        let df = read("features.parquet")?;
        let u32s = |df: &DataFrame, c: &str| -> Result<Vec<u32>> {
            Ok(df.column(c)?.u32()?.into_no_null_iter().collect())
        };
        let u64s = |df: &DataFrame, c: &str| -> Result<Vec<u64>> {
            Ok(df.column(c)?.u64()?.into_no_null_iter().collect())
        };
        let f32s = |df: &DataFrame, c: &str| -> Result<Vec<f32>> {
            Ok(df.column(c)?.f32()?.into_no_null_iter().collect())
        };
        let f64s = |df: &DataFrame, c: &str| -> Result<Vec<f64>> {
            Ok(df.column(c)?.f64()?.into_no_null_iter().collect())
        };
        let lists = |df: &DataFrame, c: &str| -> Result<Vec<Series>> {
            let ca = df.column(c)?.list()?.clone();
            Ok((0..ca.len())
                .map(|i| ca.get_as_series(i).unwrap_or_default())
                .collect())
        };
        let to_f32 =
            |s: &Series| -> Result<Vec<f32>> { Ok(s.f32()?.into_no_null_iter().collect()) };
        let to_str = str_list;
        let latents = u32s(&df, "latent")?;
        let (count, density, mean, max, q3, q4) = (
            u64s(&df, "count")?,
            f64s(&df, "density")?,
            f64s(&df, "mean_act")?,
            f32s(&df, "max_act")?,
            f32s(&df, "q999")?,
            f32s(&df, "q9999")?,
        );
        let (he, hc, tt, tv, bt, bv) = (
            lists(&df, "hist_edges")?,
            lists(&df, "hist_counts")?,
            lists(&df, "top_logit_tokens")?,
            lists(&df, "top_logit_values")?,
            lists(&df, "bottom_logit_tokens")?,
            lists(&df, "bottom_logit_values")?,
        );
        let mut features = Vec::with_capacity(latents.len());
        for i in 0..latents.len() {
            features.push(FeatureRow {
                latent: latents[i],
                count: count[i],
                density: density[i],
                mean_act: mean[i],
                max_act: max[i],
                q999: q3[i],
                q9999: q4[i],
                hist_edges: to_f32(&he[i])?,
                hist_counts: hc[i].u64()?.into_no_null_iter().collect(),
                top_logit_tokens: to_str(&tt[i])?,
                top_logit_values: to_f32(&tv[i])?,
                bottom_logit_tokens: to_str(&bt[i])?,
                bottom_logit_values: to_f32(&bv[i])?,
            });
        }
        let examples_file = dir.join("examples.parquet");
        let f = std::fs::File::open(&examples_file)
            .with_context(|| format!("cannot open {}", examples_file.display()))?;
        let lat = ParquetReader::new(f)
            .with_columns(Some(vec!["latent".into()]))
            .finish()
            .map_err(|e| {
                anyhow::anyhow!(
                    "{} is not a readable Parquet file: {e}",
                    examples_file.display()
                )
            })?;
        let lat = u32s(&lat, "latent")?;
        let mut example_rows: HashMap<u32, (usize, usize)> = HashMap::new();
        for (i, l) in lat.iter().enumerate() {
            let e = example_rows.entry(*l).or_insert((i, 0));
            if e.0 + e.1 != i {
                bail!(
                    "{}: examples are not grouped by latent",
                    examples_file.display()
                );
            }
            e.1 += 1;
        }
        let by_latent = features
            .iter()
            .enumerate()
            .map(|(i, f)| (f.latent, i))
            .collect();
        Ok(Self {
            meta,
            features,
            by_latent,
            examples_file,
            example_rows,
            cache: Default::default(),
        })
    }

    fn load_examples(&self, latent: u32) -> Result<Vec<ExampleRow>> {
        let Some(&(start, len)) = self.example_rows.get(&latent) else {
            return Ok(vec![]);
        };
        let f = std::fs::File::open(&self.examples_file)?;
        let df = ParquetReader::new(f)
            .with_slice(Some((start, len)))
            .finish()?;
        let col = |c: &str| df.column(c).map(|c| c.as_materialized_series().clone());
        let (lat, bin, rank, off) = (col("latent")?, col("bin")?, col("rank")?, col("offset")?);
        let (doc, maxa, kind) = (col("doc")?, col("max_act")?, col("kind")?);
        let (ids, toks, acts) = (col("token_ids")?, col("tokens")?, col("acts")?);
        let (ids, toks, acts) = (ids.list()?, toks.list()?, acts.list()?);
        let (kind, lat, bin, rank, off, doc, maxa) = (
            kind.str()?,
            lat.u32()?,
            bin.u32()?,
            rank.u32()?,
            off.u32()?,
            doc.u64()?,
            maxa.f32()?,
        );
        let strs = |s: Series| str_list(&s);
        let mut out = Vec::with_capacity(len);
        for i in 0..df.height() {
            out.push(ExampleRow {
                latent: lat.get(i).unwrap_or(0),
                kind: kind.get(i).unwrap_or("").to_string(),
                bin: bin.get(i).unwrap_or(0),
                rank: rank.get(i).unwrap_or(0),
                doc: doc.get(i).unwrap_or(0),
                offset: off.get(i).unwrap_or(0),
                token_ids: ids
                    .get_as_series(i)
                    .map(|s| s.u32().map(|c| c.into_no_null_iter().collect()))
                    .transpose()?
                    .unwrap_or_default(),
                tokens: toks
                    .get_as_series(i)
                    .map(strs)
                    .transpose()?
                    .unwrap_or_default()
                    .into_iter()
                    .map(without_byte_escapes)
                    .collect(),
                acts: acts
                    .get_as_series(i)
                    .map(|s| s.f32().map(|c| c.into_no_null_iter().collect()))
                    .transpose()?
                    .unwrap_or_default(),
                max_act: maxa.get(i).unwrap_or(0.0),
            });
        }
        Ok(out)
    }

    /// Per latent, the tokens where it is active (> 0) inside its top examples, as sorted
    /// `(document, position in the document)` pairs: what co-activation is measured on
    /// ([`crate::families::CoActivation`]). Reads the whole examples file once (only the
    /// columns it needs).
    pub fn top_active_tokens(&self) -> Result<HashMap<u32, Vec<(u64, u32)>>> {
        let f = std::fs::File::open(&self.examples_file)
            .with_context(|| format!("cannot open {}", self.examples_file.display()))?;
        let df = ParquetReader::new(f)
            .with_columns(Some(vec![
                "latent".into(),
                "kind".into(),
                "doc".into(),
                "offset".into(),
                "acts".into(),
            ]))
            .finish()
            .map_err(|e| {
                anyhow::anyhow!(
                    "{} is not a readable Parquet file: {e}",
                    self.examples_file.display()
                )
            })?;
        let col = |c: &str| df.column(c).map(|c| c.as_materialized_series().clone());
        let (lat, kind, doc, off, acts) = (
            col("latent")?,
            col("kind")?,
            col("doc")?,
            col("offset")?,
            col("acts")?,
        );
        let (lat, kind, doc, off, acts) = (
            lat.u32()?,
            kind.str()?,
            doc.u64()?,
            off.u32()?,
            acts.list()?,
        );
        let mut out: HashMap<u32, Vec<(u64, u32)>> = HashMap::new();
        for i in 0..df.height() {
            if kind.get(i) != Some("top") {
                continue;
            }
            let (Some(l), Some(d), Some(o)) = (lat.get(i), doc.get(i), off.get(i)) else {
                continue;
            };
            let set = out.entry(l).or_default();
            if let Some(a) = acts.get_as_series(i) {
                for (p, v) in a.f32()?.into_no_null_iter().enumerate() {
                    if v > 0.0 {
                        set.push((d, o + p as u32));
                    }
                }
            }
        }
        for v in out.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        Ok(out)
    }

    /// Whether token positions of this store and `other` name the same tokens: both were
    /// collected over the same corpus files, cut into contexts the same way.
    pub fn same_tokens_as(&self, other: &Store) -> bool {
        let key = |s: &Store| {
            (
                s.meta.corpus.clone(),
                s.meta.settings.get("context").cloned(),
                s.meta.settings.get("chat").cloned(),
                s.meta.settings.get("text_field").cloned(),
                s.meta.shard.clone(),
            )
        };
        key(self) == key(other)
    }

    /// One latent's statistics.
    pub fn feature(&self, latent: u32) -> Option<&FeatureRow> {
        self.by_latent.get(&latent).map(|&i| &self.features[i])
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        self.examples_file.parent().unwrap_or(Path::new("."))
    }

    /// The model the store was collected with, as a path that works from here (see
    /// [`crate::fsutil::resolve_recorded`]) or its hub id.
    pub fn model_path(&self) -> String {
        crate::fsutil::resolve_recorded(self.dir(), &self.meta.model)
    }

    /// The SAE the store was collected with, as a path that works from here.
    pub fn sae_path(&self) -> String {
        crate::fsutil::resolve_recorded(self.dir(), &self.meta.sae)
    }

    /// One latent's examples, as written: top ones by rank, then the quantile bins.
    /// Decoded on first use and cached; an unreadable file gives no examples (and a log line).
    pub fn examples(&self, latent: u32) -> std::sync::Arc<Vec<ExampleRow>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = cache.get(&latent) {
            return v.clone();
        }
        let v = std::sync::Arc::new(self.load_examples(latent).unwrap_or_else(|e| {
            tracing::warn!("cannot read examples of latent {latent}: {e:#}");
            vec![]
        }));
        if cache.len() >= CACHE_LATENTS {
            cache.clear();
        }
        cache.insert(latent, v.clone());
        v
    }

    /// The number of quantile bins the store was made with.
    pub fn settings_bins(&self) -> usize {
        self.meta
            .settings
            .get("quantile_bins")
            .and_then(|v| v.as_u64())
            .unwrap_or(10) as usize
    }

    /// Per latent, the activation that counts as 1.0 when normalizing (its 0.999 quantile).
    pub fn q999_map(&self) -> HashMap<u32, f32> {
        self.features.iter().map(|f| (f.latent, f.q999)).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn byte_escapes_of_older_stores_are_left_out() {
        let f = |s: &str| super::without_byte_escapes(s.to_string());
        assert_eq!(f("家\\xE5\\xBF"), "家");
        assert_eq!(f("\\x8C"), "");
        // Text that merely looks like an escape stays: ASCII bytes, lower-case hex.
        assert_eq!(f("\\x41 and \\xe5"), "\\x41 and \\xe5");
        assert_eq!(f("炸弹"), "炸弹");
    }

    use super::*;

    #[test]
    fn histogram_bins_cover_the_range() {
        let e = hist_edges();
        assert_eq!(e.len(), HIST_BINS + 1);
        assert!((e[0] - HIST_MIN).abs() < 1e-9 && (e[HIST_BINS] / HIST_MAX - 1.0).abs() < 1e-4);
        assert_eq!(hist_bin(1e-9), 0);
        assert_eq!(hist_bin(1e9), HIST_BINS - 1);
        for v in [0.001f32, 0.5, 3.0, 70.0] {
            let b = hist_bin(v);
            assert!(
                e[b] <= v * 1.0001 && v <= e[b + 1] * 1.0001,
                "{v} in bin {b}"
            );
        }
    }

    #[test]
    fn write_and_open_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let meta = StoreMeta {
            program: "safe-sail".into(),
            version: "0".into(),
            model: "m".into(),
            sae: "s".into(),
            hook: "blocks.1.hook_mlp_out".into(),
            d_sae: 2,
            corpus: vec![],
            shard: None,
            documents: 1,
            bad_rows: 0,
            contexts: 1,
            tokens: 3,
            settings: serde_json::json!({}),
            definitions: serde_json::json!({}),
        };
        let f = FeatureRow {
            latent: 1,
            count: 2,
            density: 0.5,
            mean_act: 1.5,
            max_act: 2.0,
            q999: 2.0,
            q9999: 2.0,
            hist_edges: hist_edges(),
            hist_counts: vec![0; HIST_BINS],
            top_logit_tokens: vec!["a".into(), "中".into()],
            top_logit_values: vec![1.0, 0.5],
            bottom_logit_tokens: vec!["z".into()],
            bottom_logit_values: vec![-1.0],
        };
        let e = ExampleRow {
            latent: 1,
            kind: "top".into(),
            bin: 0,
            rank: 0,
            doc: 7,
            offset: 64,
            token_ids: vec![1, 2, 3],
            tokens: vec!["a".into(), "b".into(), "c".into()],
            acts: vec![0.0, 2.0, 1.0],
            max_act: 2.0,
        };
        Store::write(
            dir.path(),
            &meta,
            std::slice::from_ref(&f),
            std::slice::from_ref(&e),
        )
        .unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.meta, meta);
        assert_eq!(s.feature(1), Some(&f));
        assert_eq!(s.examples(1).as_slice(), &[e]);
        assert!(s.feature(0).is_none());
        let err = format!("{:#}", Store::open(&dir.path().join("nope")).unwrap_err());
        assert!(err.contains("not a feature store"), "{err}");
    }
}
