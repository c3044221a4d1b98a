//! Finding a model's files: a local Hugging Face folder or a hub id resolved from the
//! local Hugging Face cache, and its (possibly sharded) safetensors weights.

use anyhow::{anyhow, bail, Context, Result};
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Resolves `--model`: a folder on disk, or a hub id such as `Qwen/Qwen2.5-3B-Instruct`
/// looked up in the Hugging Face cache (`HF_HUB_CACHE`, `HF_HOME/hub`, `~/.cache/huggingface/hub`).
pub fn resolve_model_dir(spec: &str) -> Result<PathBuf> {
    let p = Path::new(spec);
    if p.is_dir() {
        return Ok(p.to_path_buf());
    }
    if p.exists() {
        bail!("model `{spec}` is a file; give the folder that holds config.json");
    }
    let looks_like_hub_id =
        spec.split('/').count() == 2 && !spec.starts_with('.') && !spec.starts_with('/');
    if !looks_like_hub_id {
        bail!("model folder `{spec}` does not exist");
    }
    let caches = hub_cache_dirs();
    let repo = format!("models--{}", spec.replace('/', "--"));
    for cache in &caches {
        if let Some(dir) = snapshot_in_cache(&cache.join(&repo)) {
            return Ok(dir);
        }
    }
    let where_ = caches
        .first()
        .map(|c| c.join(&repo).display().to_string())
        .unwrap_or_else(|| "~/.cache/huggingface/hub".into());
    bail!(
        "model `{spec}` is neither a local folder nor in the Hugging Face cache (looked in {}).\n\
         Download it on a machine with network access, e.g. `huggingface-cli download {spec}` \
         (it lands in {where_}), or give the path of a folder holding config.json, \
         model.safetensors (or model.safetensors.index.json and its shards), tokenizer.json \
         and tokenizer_config.json.",
        caches
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The local Hugging Face cache folders, in the order they are searched.
pub fn hub_cache_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![];
    if let Ok(c) = std::env::var("HF_HUB_CACHE") {
        dirs.push(PathBuf::from(c));
    }
    if let Ok(c) = std::env::var("HUGGINGFACE_HUB_CACHE") {
        dirs.push(PathBuf::from(c));
    }
    if let Ok(h) = std::env::var("HF_HOME") {
        dirs.push(PathBuf::from(h).join("hub"));
    }
    if let Ok(h) = std::env::var("HOME") {
        dirs.push(PathBuf::from(h).join(".cache/huggingface/hub"));
    }
    dirs
}

/// The snapshot folder of a cached repo: the one `refs/main` names, else the newest.
fn snapshot_in_cache(repo: &Path) -> Option<PathBuf> {
    snapshot_holding(repo, "config.json")
}

/// The snapshot folder of hub repo `spec` (`owner/name`) in the local Hugging Face cache that
/// holds `marker` (a path inside the repo): the one `refs/main` names, else the newest.
pub fn cached_snapshot(spec: &str, marker: &str) -> Option<PathBuf> {
    let repo = format!("models--{}", spec.replace('/', "--"));
    hub_cache_dirs()
        .iter()
        .find_map(|c| snapshot_holding(&c.join(&repo), marker))
}

fn snapshot_holding(repo: &Path, marker: &str) -> Option<PathBuf> {
    let snaps = repo.join("snapshots");
    if let Ok(rev) = std::fs::read_to_string(repo.join("refs/main")) {
        let d = snaps.join(rev.trim());
        if d.join(marker).exists() {
            return Some(d);
        }
    }
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for e in std::fs::read_dir(&snaps).ok()?.flatten() {
        let d = e.path();
        if d.join(marker).exists() {
            let t = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(bt, _)| t > *bt) {
                best = Some((t, d));
            }
        }
    }
    best.map(|(_, d)| d)
}

/// The safetensors files of a model folder: `model.safetensors`, or every shard named by
/// `model.safetensors.index.json` (all must exist).
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let text = std::fs::read_to_string(&index)
            .with_context(|| format!("cannot read {}", index.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", index.display()))?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .with_context(|| format!("{} has no `weight_map`", index.display()))?;
        let shards: BTreeSet<&str> = map.values().filter_map(|s| s.as_str()).collect();
        let mut files = vec![];
        for s in shards {
            let f = dir.join(s);
            if !f.exists() {
                bail!("shard `{s}` named by {} is missing", index.display());
            }
            files.push(f);
        }
        if files.is_empty() {
            bail!("{} names no shards", index.display());
        }
        return Ok(files);
    }
    let single = dir.join("model.safetensors");
    if single.exists() {
        return Ok(vec![single]);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    found.sort();
    if found.is_empty() {
        bail!(
            "no weights in {}: expected model.safetensors or model.safetensors.index.json",
            dir.display()
        );
    }
    Ok(found)
}

/// Memory-mapped safetensors weights, converted on access to the compute dtype and device.
pub struct Weights {
    st: MmapedSafetensors,
    files: Vec<PathBuf>,
    /// The file (index in `files`) that holds each tensor.
    file_of: HashMap<String, usize>,
    names: BTreeSet<String>,
    pub dtype: DType,
    pub device: Device,
}

/// Where the forward pass gets its weights: files on disk, or random values for benchmarks.
pub trait WeightSource {
    /// A tensor of exactly `shape`, in the compute dtype, on the compute device.
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor>;
    /// Whether a tensor of this name exists.
    fn contains(&self, name: &str) -> bool;
    fn dtype(&self) -> DType;
    fn device(&self) -> &Device;
}

/// Random weights for benchmarks: N(0, std²) everywhere, ones for norm weights.
pub struct RandomWeights {
    pub dtype: DType,
    pub device: Device,
    pub std: f64,
}

impl WeightSource for RandomWeights {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = if name.contains("norm") || name.contains("ln_") {
            Tensor::ones(shape, DType::F32, &self.device)?
        } else {
            Tensor::randn(0f32, self.std as f32, shape, &self.device)?
        };
        Ok(t.to_dtype(self.dtype)?)
    }
    fn contains(&self, name: &str) -> bool {
        !name.starts_with("lm_head") && !name.starts_with("transformer.")
    }
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn device(&self) -> &Device {
        &self.device
    }
}

impl Weights {
    /// Maps the files and indexes their tensor names. A corrupt file is an error naming it.
    pub fn open(files: &[PathBuf], dtype: DType, device: &Device) -> Result<Self> {
        let mut file_of = HashMap::new();
        for (i, f) in files.iter().enumerate() {
            // Validate each file alone first so the error names the broken one.
            // SAFETY: the files are only read; a file changed while mapped is the user's problem
            // in every tool that maps weights (as transformers and candle do).
            let one = crate::checks::catch_panics(&f.display(), || {
                unsafe { MmapedSafetensors::new(f) }
                    .map_err(|e| anyhow!("{} is not a valid safetensors file: {e}", f.display()))
            })?;
            for (name, _) in one.tensors() {
                file_of.entry(name).or_insert(i);
            }
        }
        // SAFETY: as above.
        let st = unsafe { MmapedSafetensors::multi(files) }
            .map_err(|e| anyhow!("cannot open weights: {e}"))?;
        let names = st.tensors().into_iter().map(|(n, _)| n).collect();
        Ok(Self {
            st,
            files: files.to_vec(),
            file_of,
            names,
            dtype,
            device: device.clone(),
        })
    }

    /// All tensor names in the files.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.names.iter()
    }

    fn where_(&self) -> String {
        match self.files.as_slice() {
            [one] => one.display().to_string(),
            many => format!(
                "{} shards in {}",
                many.len(),
                many[0].parent().unwrap_or(Path::new(".")).display()
            ),
        }
    }
}

impl WeightSource for Weights {
    /// Loads a tensor, checks its shape, that it is floating point and finite, and converts
    /// it to the compute dtype and device.
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        if !self.names.contains(name) {
            bail!("tensor `{name}` is missing from {}", self.where_());
        }
        let full = name;
        let t = crate::checks::catch_panics(&self.where_(), || {
            self.st
                .load(full, &Device::Cpu)
                .map_err(|e| anyhow!("cannot read tensor `{full}` from {}: {e}", self.where_()))
        })?;
        if t.dims() != shape {
            bail!(
                "tensor `{full}` in {} has shape {:?}, expected {:?} from config.json",
                self.where_(),
                t.dims(),
                shape
            );
        }
        let file = match self.file_of.get(full) {
            Some(&i) => self.files[i].display().to_string(),
            None => self.where_(),
        };
        crate::checks::ensure_float(&t, full, &file, "model")?;
        crate::checks::ensure_finite(&t, full, &file, "")?;
        Ok(t.to_dtype(self.dtype)?.to_device(&self.device)?)
    }

    fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    fn dtype(&self) -> DType {
        self.dtype
    }

    fn device(&self) -> &Device {
        &self.device
    }
}
