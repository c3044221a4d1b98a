//! Finding a model's files: a local Hugging Face folder or a hub id resolved from the
//! local Hugging Face cache, and its (possibly sharded) safetensors weights.

use super::matmul::{MappedBf16, Matrix};
use anyhow::{anyhow, bail, Context, Result};
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whether `spec` reads as a hub id (`OWNER/NAME`) rather than a path.
pub fn looks_like_hub_id(spec: &str) -> bool {
    spec.split('/').count() == 2 && !spec.starts_with('.') && !spec.starts_with('/')
}

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
    if !looks_like_hub_id(spec) {
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

/// Safetensors weights, checked when opened and read tensor by tensor, converted on access to
/// the compute dtype and device.
///
/// Floating-point tensors are read straight from the file into the buffer the tensor keeps
/// (no mapping stays resident, no intermediate copy), so a model's peak memory is its size in
/// the compute dtype. Other dtypes go through candle's reader, which reports them.
pub struct Weights {
    st: MmapedSafetensors,
    /// Per file: the open file, where its data starts and its tensor table.
    direct: Vec<(std::fs::File, u64, safetensors::tensor::Metadata)>,
    /// Per file: a read-only map for weights used in place (mapped on first use).
    maps: Vec<std::sync::OnceLock<Option<Arc<memmap2::Mmap>>>>,
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
    /// A weight matrix of exactly `shape`: read in place where the source can (bf16 files
    /// computed in bf16 on the CPU), else as [`WeightSource::get`].
    fn get_matrix(&self, name: &str, shape: &[usize]) -> Result<Matrix> {
        Ok(Matrix::Tensor(self.get(name, shape)?))
    }
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
        let mut direct = Vec::with_capacity(files.len());
        for f in files {
            direct.push(read_table(f)?);
        }
        Ok(Self {
            st,
            maps: files.iter().map(|_| Default::default()).collect(),
            direct,
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

    /// Reads a floating-point tensor of the expected shape directly from its file, checked
    /// finite; `None` when the tensor needs candle's reader (another dtype, another shape: the
    /// slow path reports it).
    fn read_direct(&self, name: &str, shape: &[usize]) -> Result<Option<Tensor>> {
        use safetensors::Dtype as D;
        if cfg!(target_endian = "big") || cfg!(not(unix)) {
            return Ok(None);
        }
        let Some(&fi) = self.file_of.get(name) else {
            return Ok(None);
        };
        let (file, start, table) = &self.direct[fi];
        let Some(info) = table.info(name) else {
            return Ok(None);
        };
        if info.shape != shape {
            return Ok(None);
        }
        let n: usize = shape.iter().product();
        let offset = start + info.data_offsets.0 as u64;
        let path = &self.files[fi];
        let t = match info.dtype {
            D::BF16 => Tensor::from_vec(
                read_vec::<half::bf16>(file, offset, n, path, name)?,
                shape,
                &Device::Cpu,
            )?,
            D::F16 => Tensor::from_vec(
                read_vec::<half::f16>(file, offset, n, path, name)?,
                shape,
                &Device::Cpu,
            )?,
            D::F32 => Tensor::from_vec(
                read_vec::<f32>(file, offset, n, path, name)?,
                shape,
                &Device::Cpu,
            )?,
            D::F64 => Tensor::from_vec(
                read_vec::<f64>(file, offset, n, path, name)?,
                shape,
                &Device::Cpu,
            )?,
            _ => return Ok(None),
        };
        crate::checks::ensure_finite(&t, name, &path.display(), "")?;
        Ok(Some(t.to_dtype(self.dtype)?.to_device(&self.device)?))
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
        if let Some(t) = self.read_direct(name, shape)? {
            return Ok(t);
        }
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

    /// A bf16 matrix computed in bf16 on the CPU is used in place from the mapped file (checked
    /// finite on first use), so loading copies and reads nothing; anything else is read.
    fn get_matrix(&self, name: &str, shape: &[usize]) -> Result<Matrix> {
        if let Some(m) = self.mapped(name, shape)? {
            return Ok(Matrix::Mapped(Arc::new(m)));
        }
        Ok(Matrix::Tensor(self.get(name, shape)?))
    }

    fn dtype(&self) -> DType {
        self.dtype
    }

    fn device(&self) -> &Device {
        &self.device
    }
}

impl Weights {
    /// The bytes tensor `name` takes in its file (0 when unknown).
    pub fn tensor_bytes(&self, name: &str) -> u64 {
        let Some(&fi) = self.file_of.get(name) else {
            return 0;
        };
        self.direct[fi]
            .2
            .info(name)
            .map_or(0, |i| (i.data_offsets.1 - i.data_offsets.0) as u64)
    }

    /// The bytes of every tensor in the files.
    pub fn total_bytes(&self) -> u64 {
        self.direct
            .iter()
            .flat_map(|(_, _, t)| t.tensors())
            .map(|(_, i)| (i.data_offsets.1 - i.data_offsets.0) as u64)
            .sum()
    }

    /// The file (its name) that holds tensor `name`.
    pub fn file_name(&self, name: &str) -> String {
        self.file_of
            .get(name)
            .and_then(|&i| self.files[i].file_name())
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn mapped(&self, name: &str, shape: &[usize]) -> Result<Option<MappedBf16>> {
        if self.dtype != DType::BF16 || !self.device.is_cpu() || cfg!(target_endian = "big") {
            return Ok(None);
        }
        if !crate::mapped::enabled() {
            return Ok(None);
        }
        let &[rows, cols] = shape else {
            return Ok(None);
        };
        let Some(&fi) = self.file_of.get(name) else {
            return Ok(None);
        };
        let (_, start, table) = &self.direct[fi];
        let Some(info) = table.info(name) else {
            return Ok(None);
        };
        if info.dtype != safetensors::Dtype::BF16 || info.shape != shape {
            return Ok(None);
        }
        let path = &self.files[fi];
        // Not populated: loading touches no page; each is read (from the page cache, or the
        // disk) when first used.
        let map = self.maps[fi].get_or_init(|| crate::mapped::map_file(path, false).ok());
        let Some(map) = map else {
            return Ok(None);
        };
        let Some(m) = MappedBf16::new(
            map.clone(),
            *start as usize + info.data_offsets.0,
            rows,
            cols,
        ) else {
            return Ok(None);
        };
        // Checked finite on first use (see `MappedBf16`), so loading reads no weight.
        let m = m.checked_on_first_use(name, &path.display().to_string());
        Ok(Some(m))
    }
}

/// [`Weights`] that report each tensor they hand out to a progress sink: the position is the
/// bytes of the files handed out so far (the length [`Weights::total_bytes`]), the message
/// the file being read.
pub struct Reporting<'a> {
    pub inner: &'a Weights,
    pub progress: &'a dyn crate::progress::Progress,
    done: std::sync::atomic::AtomicU64,
    file: std::sync::Mutex<String>,
}

impl<'a> Reporting<'a> {
    pub fn new(inner: &'a Weights, progress: &'a dyn crate::progress::Progress) -> Self {
        progress.set_len(inner.total_bytes());
        progress.set_pos(0);
        Self {
            inner,
            progress,
            done: Default::default(),
            file: Default::default(),
        }
    }

    fn report(&self, name: &str) {
        use std::sync::atomic::Ordering;
        let file = self.inner.file_name(name);
        if let Ok(mut last) = self.file.lock() {
            if *last != file {
                self.progress.message(&file);
                *last = file;
            }
        }
        let b = self.inner.tensor_bytes(name);
        let done = self.done.fetch_add(b, Ordering::Relaxed) + b;
        self.progress.set_pos(done);
    }
}

impl WeightSource for Reporting<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self.inner.get(name, shape)?;
        self.report(name);
        Ok(t)
    }
    fn contains(&self, name: &str) -> bool {
        self.inner.contains(name)
    }
    fn get_matrix(&self, name: &str, shape: &[usize]) -> Result<Matrix> {
        let m = self.inner.get_matrix(name, shape)?;
        self.report(name);
        Ok(m)
    }
    fn dtype(&self) -> DType {
        self.inner.dtype()
    }
    fn device(&self) -> &Device {
        self.inner.device()
    }
}

/// Every tensor of a safetensors file, each read straight into the buffer it keeps (no whole-
/// file copy), on the CPU in its stored dtype; `None` when the file holds a dtype other than
/// f32/f16/bf16/f64 (read it with candle then, which reports it). Errors name the file.
pub(crate) fn read_float_safetensors(path: &Path) -> Result<Option<HashMap<String, Tensor>>> {
    use safetensors::Dtype as D;
    if cfg!(target_endian = "big") || cfg!(not(unix)) {
        return Ok(None);
    }
    // Validate the whole file first (header, offsets, sizes), as candle's reader does.
    crate::checks::catch_panics(&path.display(), || {
        unsafe { MmapedSafetensors::new(path) }
            .map(drop)
            .map_err(|e| anyhow!("{} is not a valid safetensors file: {e}", path.display()))
    })?;
    let (file, start, table) = read_table(path)?;
    let mut out = HashMap::new();
    for (name, info) in table.tensors() {
        let n: usize = info.shape.iter().product();
        let at = start + info.data_offsets.0 as u64;
        let shape = info.shape.clone();
        let t = match info.dtype {
            D::F32 => Tensor::from_vec(
                read_vec::<f32>(&file, at, n, path, &name)?,
                shape,
                &Device::Cpu,
            )?,
            D::BF16 => Tensor::from_vec(
                read_vec::<half::bf16>(&file, at, n, path, &name)?,
                shape,
                &Device::Cpu,
            )?,
            D::F16 => Tensor::from_vec(
                read_vec::<half::f16>(&file, at, n, path, &name)?,
                shape,
                &Device::Cpu,
            )?,
            D::F64 => Tensor::from_vec(
                read_vec::<f64>(&file, at, n, path, &name)?,
                shape,
                &Device::Cpu,
            )?,
            _ => return Ok(None),
        };
        out.insert(name, t);
    }
    Ok(Some(out))
}

/// A safetensors file's tensor table and where its data starts (the file has been validated).
fn read_table(f: &Path) -> Result<(std::fs::File, u64, safetensors::tensor::Metadata)> {
    use std::io::Read;
    let mut file =
        std::fs::File::open(f).with_context(|| format!("cannot open {}", f.display()))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .with_context(|| format!("cannot read {}", f.display()))?;
    let n = u64::from_le_bytes(len);
    // The file passed safetensors' own checks (header at most 100 MB, offsets in range).
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header)
        .with_context(|| format!("cannot read {}", f.display()))?;
    let table: safetensors::tensor::Metadata = serde_json::from_slice(&header)
        .map_err(|e| anyhow!("{} is not a valid safetensors file: {e}", f.display()))?;
    Ok((file, 8 + n, table))
}

/// `n` values of a plain little-endian type read from `file` at `offset`, straight into the
/// vector that will hold them.
#[cfg(unix)]
fn read_vec<T: Copy + Default>(
    file: &std::fs::File,
    offset: u64,
    n: usize,
    path: &Path,
    name: &str,
) -> Result<Vec<T>> {
    use std::os::unix::fs::FileExt;
    let mut v: Vec<T> = Vec::with_capacity(n);
    // SAFETY: T is a plain number type (bf16, f16, f32, f64) for which every bit pattern is a
    // value; the bytes are fully written by read_exact_at before set_len.
    unsafe {
        let bytes =
            std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, n * std::mem::size_of::<T>());
        file.read_exact_at(bytes, offset)
            .with_context(|| format!("cannot read tensor `{name}` from {}", path.display()))?;
        v.set_len(n);
    }
    Ok(v)
}

#[cfg(not(unix))]
fn read_vec<T: Copy + Default>(
    _: &std::fs::File,
    _: u64,
    _: usize,
    _: &Path,
    _: &str,
) -> Result<Vec<T>> {
    bail!("direct reads need a Unix system")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bf16 model computed in bf16 on the CPU loads without reading its weights; a NaN in one
    /// of them is an error naming the tensor and the file at the first forward pass, before
    /// any result is computed from it.
    #[test]
    fn mapped_weights_are_checked_finite_on_first_use() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/qwen2");
        let dir = tempfile::tempdir().unwrap();
        for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
            std::fs::copy(root.join(f), dir.path().join(f)).unwrap();
        }
        let mut all =
            candle_core::safetensors::load(root.join("model.safetensors"), &Device::Cpu).unwrap();
        let name = "model.layers.1.mlp.down_proj.weight";
        for (k, t) in all.iter_mut() {
            *t = t.to_dtype(DType::BF16).unwrap();
            if k == name {
                let mut v = t.flatten_all().unwrap().to_vec1::<half::bf16>().unwrap();
                v[5] = half::bf16::NAN;
                *t = Tensor::from_vec(v, t.dims(), &Device::Cpu).unwrap();
            }
        }
        let file = dir.path().join("model.safetensors");
        candle_core::safetensors::save(&all, &file).unwrap();
        let model = crate::model::Model::load_dir(dir.path(), &Device::Cpu, DType::BF16).unwrap();
        let prompt = crate::model::PromptSpec {
            text: "Hello world".into(),
            ..Default::default()
        };
        let hook = "blocks.2.hook_resid_post".parse().unwrap();
        let err = crate::capture::capture_prompt(&model, &prompt, &[hook], &[], true)
            .err()
            .expect("a NaN weight must fail the forward pass");
        let msg = format!("{err:#}");
        assert!(
            msg.contains(name) && msg.contains("model.safetensors") && msg.contains("non-finite"),
            "{msg}"
        );
    }
}
