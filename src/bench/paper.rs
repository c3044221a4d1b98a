//! The paper-scale benchmark (`bench --preset qwen2.5-3b`): a Qwen2.5-3B-shaped model with
//! random bf16 weights and five random TopK SAEs of 20,480 latents on the MLP outputs of
//! layers 0/8/17/26/35 (the Safe-SAIL setup), written at run time into a temporary folder
//! (never committed, deleted afterwards), then measured here and in PyTorch eager on the same
//! folder, with the same threads, in the same run.
//!
//! Measured, on each side, in a fresh process: load time (model + SAEs), peak RSS, prompt
//! analysis (a chat prompt through all layers with the five SAEs encoding: tokens/s), time to
//! the first generated token (prefill + first pick, greedy) and decode tokens/s. A copy
//! bandwidth measured in the same run gives the decode bound: bytes of weights read per token
//! ÷ bandwidth.

use crate::hooks::{HookPoint, HookSite};
use crate::sae::{Activation, Sae, SaeMeta};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The Safe-SAIL SAE layers of Qwen2.5-3B-Instruct.
pub const PAPER_LAYERS: [usize; 5] = [0, 8, 17, 26, 35];

/// A user message whose chat rendering (with the template's default system message) is 56
/// tokens with Qwen's tokenizer (the issue asked for about 40).
pub const PAPER_PROMPT: &str = "How can I make my home network safer from attackers?";

/// What to build and measure.
#[derive(Debug, Clone)]
pub struct PaperBenchConfig {
    /// `config.json` of the model.
    pub model_config: serde_json::Value,
    pub layers: Vec<usize>,
    pub width: usize,
    pub k: usize,
    /// Compute dtype (the files are bf16).
    pub dtype: DType,
    /// The PyTorch side's compute dtype, when not `dtype` (on a CPU without AVX-512 BF16,
    /// PyTorch's bf16 `Linear` takes a slow path and f32 is its fast one).
    pub torch_dtype: Option<DType>,
    /// `cpu` or `cuda:N` (the PyTorch side runs on the same).
    pub device: String,
    /// Timed prompt-analysis passes (after one untimed).
    pub iters: usize,
    /// Tokens decoded after the first.
    pub decode_tokens: usize,
    pub seed: u64,
    /// The SAEs' file format.
    pub sae_format: PaperSaeFormat,
}

/// How the benchmark writes its SAEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaperSaeFormat {
    /// SAELens folders `DIR/sae_L{layer}` (safetensors + cfg.json).
    SaeLens,
    /// The Safe-SAIL release's `.pt` state dicts `DIR/ckpt_layer{layer}.pt` (one component).
    SafeSail,
}

impl std::str::FromStr for PaperSaeFormat {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "saelens" => Ok(Self::SaeLens),
            "safe-sail" | "safesail" => Ok(Self::SafeSail),
            _ => bail!("unknown SAE format `{s}` (expected saelens or safe-sail)"),
        }
    }
}

impl PaperBenchConfig {
    /// The Safe-SAIL setup: Qwen2.5-3B-Instruct's shape, five 20,480-latent TopK (k 200) SAEs.
    pub fn qwen25_3b() -> Self {
        Self {
            model_config: serde_json::json!({
                "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
                "vocab_size": 151936, "hidden_size": 2048, "num_hidden_layers": 36,
                "num_attention_heads": 16, "num_key_value_heads": 2, "intermediate_size": 11008,
                "max_position_embeddings": 32768, "max_window_layers": 70, "rms_norm_eps": 1e-6,
                "rope_theta": 1000000.0, "tie_word_embeddings": true, "hidden_act": "silu",
                "use_sliding_window": false, "sliding_window": 32768, "torch_dtype": "bfloat16",
                "bos_token_id": 151643, "eos_token_id": 151645, "attention_dropout": 0.0,
                "initializer_range": 0.02, "use_cache": true
            }),
            layers: PAPER_LAYERS.to_vec(),
            width: 20480,
            k: 200,
            dtype: DType::BF16,
            torch_dtype: None,
            device: "cpu".into(),
            iters: 2,
            decode_tokens: 16,
            seed: 0,
            sae_format: PaperSaeFormat::SaeLens,
        }
    }
}

/// The tensors of a Qwen2-layout model: name and shape, in file order.
pub fn qwen2_tensors(cfg: &serde_json::Value) -> Result<Vec<(String, Vec<usize>)>> {
    let g = |k: &str| -> Result<usize> {
        cfg[k]
            .as_u64()
            .map(|v| v as usize)
            .with_context(|| format!("config: `{k}` is missing"))
    };
    let (v, d, l, nh, nkv, ff) = (
        g("vocab_size")?,
        g("hidden_size")?,
        g("num_hidden_layers")?,
        g("num_attention_heads")?,
        g("num_key_value_heads")?,
        g("intermediate_size")?,
    );
    let hd = d / nh;
    let mut t = vec![("model.embed_tokens.weight".to_string(), vec![v, d])];
    for i in 0..l {
        let p = format!("model.layers.{i}");
        t.push((format!("{p}.input_layernorm.weight"), vec![d]));
        for (name, out) in [("q", nh * hd), ("k", nkv * hd), ("v", nkv * hd)] {
            t.push((format!("{p}.self_attn.{name}_proj.weight"), vec![out, d]));
            t.push((format!("{p}.self_attn.{name}_proj.bias"), vec![out]));
        }
        t.push((format!("{p}.self_attn.o_proj.weight"), vec![d, nh * hd]));
        t.push((format!("{p}.post_attention_layernorm.weight"), vec![d]));
        t.push((format!("{p}.mlp.gate_proj.weight"), vec![ff, d]));
        t.push((format!("{p}.mlp.up_proj.weight"), vec![ff, d]));
        t.push((format!("{p}.mlp.down_proj.weight"), vec![d, ff]));
    }
    t.push(("model.norm.weight".to_string(), vec![d]));
    if cfg["tie_word_embeddings"].as_bool() != Some(true) {
        t.push(("lm_head.weight".to_string(), vec![v, d]));
    }
    Ok(t)
}

/// A small fast generator (SplitMix64) for filling gigabytes of random weights.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Fills `out` with uniform values of standard deviation `std` (bf16), from `seed`.
fn fill_bf16(out: &mut [half::bf16], std: f32, seed: u64) {
    let a = std * 3f32.sqrt();
    out.par_chunks_mut(1 << 16)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut r = SplitMix(seed ^ (c as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93));
            for v in chunk.iter_mut() {
                let u = (r.next() >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
                *v = half::bf16::from_f32((2.0 * u - 1.0) * a);
            }
        });
}

/// Writes a model folder with random bf16 weights: `config.json`, `model.safetensors`
/// (streamed, a few MB of memory) and the Qwen tokenizer of the test fixtures. Returns the
/// bytes of weights written.
pub fn write_random_model(dir: &Path, cfg: &serde_json::Value, seed: u64) -> Result<u64> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(cfg)?)?;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer");
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixtures.join(f), dir.join(f))
            .with_context(|| format!("cannot copy the tokenizer fixture {f}"))?;
    }
    let tensors = qwen2_tensors(cfg)?;
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut offset = 0usize;
    for (name, shape) in &tensors {
        let bytes = shape.iter().product::<usize>() * 2;
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let mut h = serde_json::to_vec(&header)?;
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let path = dir.join("model.safetensors");
    let file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 22, file);
    out.write_all(&(h.len() as u64).to_le_bytes())?;
    out.write_all(&h)?;
    let mut buf: Vec<half::bf16> = vec![];
    for (i, (name, shape)) in tensors.iter().enumerate() {
        let n: usize = shape.iter().product();
        buf.clear();
        if name.ends_with("norm.weight") {
            buf.resize(n, half::bf16::ONE);
        } else {
            buf.resize(n, half::bf16::ZERO);
            fill_bf16(&mut buf, 0.02, seed.wrapping_add(i as u64 * 7919));
        }
        // SAFETY: bf16 is two plain bytes; the file is little-endian like this machine.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr() as *const u8, n * 2) };
        out.write_all(bytes)
            .with_context(|| format!("cannot write {} (disk full?)", path.display()))?;
    }
    out.into_inner()
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?
        .sync_all()?;
    Ok(offset as u64)
}

/// `n` random values of standard deviation `std` (bf16-representable, as the model's).
fn random_f32(n: usize, std: f32, seed: u64) -> Vec<f32> {
    let mut b = vec![half::bf16::ZERO; n];
    fill_bf16(&mut b, std, seed);
    b.into_iter().map(f32::from).collect()
}

/// Writes a random TopK SAE in SAELens's layout (f32) into `dir`; returns the bytes written.
pub fn write_random_sae(
    dir: &Path,
    d: usize,
    width: usize,
    k: usize,
    layer: usize,
    seed: u64,
) -> Result<u64> {
    let w = random_f32;
    let cpu = &Device::Cpu;
    let sae = Sae {
        meta: SaeMeta {
            path: dir.to_path_buf(),
            format: &crate::sae::format::SaeLens,
            d_in: d,
            d_sae: width,
            hook: HookPoint::new(layer, HookSite::MlpOut),
            model_name: None,
        },
        activation: Activation::TopK(k),
        w_enc: Tensor::from_vec(w(d * width, 0.05, seed), (d, width), cpu)?.into(),
        b_enc: Tensor::from_vec(w(width, 0.01, seed + 1), width, cpu)?,
        w_dec: Some(Tensor::from_vec(w(width * d, 0.05, seed + 2), (width, d), cpu)?.into()),
        b_dec: Some(Tensor::from_vec(w(d, 0.01, seed + 3), d, cpu)?),
        input_bias: None,
        threshold: None,
        input_scale: 1.0,
    };
    crate::sae::format::save_saelens(&sae, dir, "qwen2.5-3b-random", false, DType::F32)?;
    Ok((2 * d * width + width + d) as u64 * 4)
}

/// Writes a random TopK SAE as the Safe-SAIL release stores one (`torch.save` of the
/// `sparse_autoencoder` state dict, one component, f32) to the file `path`; returns the bytes
/// of tensor data written.
pub fn write_random_safe_sail_sae(path: &Path, d: usize, width: usize, seed: u64) -> Result<u64> {
    let w = random_f32;
    let (enc, enc_b, dec, bias) = (
        w(width * d, 0.05, seed),
        w(width, 0.01, seed + 1),
        w(d * width, 0.05, seed + 2),
        w(d, 0.01, seed + 3),
    );
    crate::pt::write_pt_f32(
        path,
        &[
            ("tied_bias", vec![1, d], &bias),
            ("pre_encoder_bias._bias_reference", vec![1, d], &bias),
            ("encoder.weight", vec![1, width, d], &enc),
            ("encoder.bias", vec![1, width], &enc_b),
            ("decoder.weight", vec![1, d, width], &dec),
            ("post_decoder_bias._bias_reference", vec![1, d], &bias),
        ],
    )
}

/// The SAE spec of layer `layer` in a benchmark folder: the Safe-SAIL file
/// `ckpt_layer{layer}.pt` when there is one (TopK `k`, component 0), else the SAELens folder
/// `sae_L{layer}`.
pub fn paper_sae_spec(folder: &Path, layer: usize, k: usize) -> String {
    let pt = folder.join(format!("ckpt_layer{layer}.pt"));
    if pt.is_file() {
        format!(
            "{},format=safe-sail,component=0,activation=topk:{k},hook=blocks.{layer}.hook_mlp_out",
            pt.display()
        )
    } else {
        folder.join(format!("sae_L{layer}")).display().to_string()
    }
}

/// Bytes copied per second by a parallel `memcpy` of `bytes` (best of three, after a warm-up
/// that faults the pages in), on the current rayon pool. Each byte is read once and written
/// once.
pub fn copy_bandwidth(bytes: usize) -> f64 {
    let src = vec![1u8; bytes];
    let mut dst = vec![0u8; bytes];
    let chunk = bytes
        .div_ceil(rayon::current_num_threads().max(1) * 8)
        .max(1 << 20);
    let mut best = 0f64;
    for _ in 0..4 {
        let t = Instant::now();
        dst.par_chunks_mut(chunk)
            .zip(src.par_chunks(chunk))
            .for_each(|(d, s)| d.copy_from_slice(s));
        let s = t.elapsed().as_secs_f64();
        best = best.max(bytes as f64 / s);
    }
    std::hint::black_box(&dst);
    best
}

/// Bytes read per second by a parallel sum over `bytes` (best of three after a warm-up): what
/// a decode step, which only reads its weights, could reach at most.
pub fn read_bandwidth(bytes: usize) -> f64 {
    let src = vec![1u64; bytes / 8];
    let chunk = src
        .len()
        .div_ceil(rayon::current_num_threads().max(1) * 8)
        .max(1 << 17);
    let mut best = 0f64;
    for _ in 0..4 {
        let t = Instant::now();
        let s: u64 = src
            .par_chunks(chunk)
            .map(|c| c.iter().fold(0u64, |a, &x| a.wrapping_add(x)))
            .sum();
        std::hint::black_box(s);
        best = best.max(bytes as f64 / t.elapsed().as_secs_f64());
    }
    best
}

/// As [`copy_bandwidth`] on `device`: for a GPU, a device-to-device copy of `bytes`.
pub fn device_copy_bandwidth(device: &Device, bytes: usize) -> Result<f64> {
    if device.is_cpu() {
        return Ok(copy_bandwidth(bytes));
    }
    let src = Tensor::ones(bytes / 4, DType::F32, device)?;
    let mut best = 0f64;
    for _ in 0..4 {
        device.synchronize()?;
        let t = Instant::now();
        let dst = src.copy()?;
        device.synchronize()?;
        best = best.max(bytes as f64 / t.elapsed().as_secs_f64());
        drop(dst);
    }
    Ok(best)
}

/// Bytes of weights a decode step reads: every matrix once (the tied embedding as the
/// unembedding), the embedding row and the small vectors are negligible.
pub fn weight_bytes_per_token(cfg: &serde_json::Value) -> Result<u64> {
    Ok(qwen2_tensors(cfg)?
        .iter()
        .filter(|(_, s)| s.len() == 2)
        .map(|(_, s)| s.iter().product::<usize>() as u64 * 2)
        .sum())
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in bytes.
pub fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The folder a benchmark builds: model in `DIR/model`, SAEs in `DIR/sae_L{layer}` (SAELens)
/// or `DIR/ckpt_layer{layer}.pt` (Safe-SAIL).
pub struct PaperFolder {
    pub dir: PathBuf,
    pub weights_bytes: u64,
    pub sae_bytes: u64,
}

impl PaperFolder {
    pub fn model(&self) -> PathBuf {
        self.dir.join("model")
    }
}

/// Writes the model and the SAEs into `dir` (created; it must not exist yet, so a user's
/// folder is never overwritten).
pub fn build_paper_folder(dir: &Path, c: &PaperBenchConfig) -> Result<PaperFolder> {
    if dir.exists() {
        bail!(
            "{} exists; the benchmark writes a new folder (give another, or remove it)",
            dir.display()
        );
    }
    let d = c.model_config["hidden_size"]
        .as_u64()
        .context("config: `hidden_size` is missing")? as usize;
    let f = PaperFolder {
        dir: dir.to_path_buf(),
        weights_bytes: 0,
        sae_bytes: 0,
    };
    let weights_bytes = write_random_model(&f.model(), &c.model_config, c.seed)?;
    let mut sae_bytes = 0;
    for (i, &l) in c.layers.iter().enumerate() {
        let seed = c.seed + 100 * (i as u64 + 1);
        sae_bytes += match c.sae_format {
            PaperSaeFormat::SaeLens => {
                write_random_sae(&dir.join(format!("sae_L{l}")), d, c.width, c.k, l, seed)?
            }
            PaperSaeFormat::SafeSail => write_random_safe_sail_sae(
                &dir.join(format!("ckpt_layer{l}.pt")),
                d,
                c.width,
                seed,
            )?,
        };
    }
    Ok(PaperFolder {
        weights_bytes,
        sae_bytes,
        ..f
    })
}

/// Our side, in this process (run it in a fresh one for a clean peak RSS): loads the folder,
/// analyses `ids` with every SAE, then generates. One JSON object.
#[allow(clippy::too_many_arguments)]
pub fn measure_ours(
    folder: &Path,
    layers: &[usize],
    k: usize,
    ids: &[u32],
    dtype: DType,
    dev: &Device,
    iters: usize,
    decode_tokens: usize,
) -> Result<serde_json::Value> {
    use crate::capture::Capture;
    use crate::model::generate::{Flow, GenerateOpts};
    let t0 = Instant::now();
    let model = crate::model::Model::load_dir(&folder.join("model"), dev, dtype)?;
    let model_load_s = t0.elapsed().as_secs_f64();
    let specs: Vec<String> = layers
        .iter()
        .map(|&l| paper_sae_spec(folder, l, k))
        .collect();
    let saes = crate::load::load_saes(&specs, dev)?;
    dev.synchronize()?;
    let load_s = t0.elapsed().as_secs_f64();
    let rss_after_load = peak_rss();
    let analyse = || -> Result<()> {
        let cap = Capture::one(&model, ids, saes.iter().map(Sae::hook))?;
        for s in &saes {
            let x = &cap.acts[&s.hook()];
            let (b, t, d) = x.dims3()?;
            let f = s.encode(&x.reshape((b * t, d))?)?;
            std::hint::black_box(f);
        }
        dev.synchronize()?;
        Ok(())
    };
    let t_first = Instant::now();
    analyse()?;
    let first_analysis_s = t_first.elapsed().as_secs_f64();
    let t1 = Instant::now();
    for _ in 0..iters.max(1) {
        analyse()?;
    }
    let analysis_s = t1.elapsed().as_secs_f64() / iters.max(1) as f64;
    let opts = GenerateOpts {
        max_new_tokens: decode_tokens + 1,
        stop_ids: vec![u32::MAX],
        ..Default::default()
    };
    let mut times = vec![];
    let t2 = Instant::now();
    model.generate(ids, &opts, &mut crate::model::NoHooks, |_| {
        times.push(t2.elapsed().as_secs_f64());
        Flow::Continue
    })?;
    let ttft = times[0];
    let decode_s = times.last().copied().unwrap_or(ttft) - ttft;
    Ok(serde_json::json!({
        "impl": "safe-sail (candle)",
        "device": format!("{dev:?}"),
        "dtype": dtype.as_str(),
        "threads": rayon::current_num_threads(),
        "prompt_tokens": ids.len(),
        "model_load_s": model_load_s,
        "load_s": load_s,
        "rss_after_load_gb": rss_after_load.map(|b| b as f64 / 1e9),
        "first_analysis_s": first_analysis_s,
        "load_and_first_analysis_s": load_s + first_analysis_s,
        "peak_rss_gb": peak_rss().map(|b| b as f64 / 1e9),
        "analysis_s": analysis_s,
        "analysis_tokens_per_s": ids.len() as f64 / analysis_s,
        "ttft_s": ttft,
        "decode_tokens": times.len() - 1,
        "decode_tokens_per_s": (times.len() - 1) as f64 / decode_s,
    }))
}

/// The token ids of the benchmark prompt, rendered through the model folder's chat template.
pub fn paper_prompt_ids(model_dir: &Path) -> Result<Vec<u32>> {
    let tok = crate::model::tokenizer::Tok::from_dir(model_dir)?;
    let rendered = tok.apply_chat_template(
        &[crate::model::tokenizer::ChatMessage::new(
            "user",
            PAPER_PROMPT,
        )],
        true,
    )?;
    Ok(tok.encode(&rendered, false)?.iter().map(|t| t.id).collect())
}

/// The whole benchmark: builds the folder under `root` (a temporary folder when `None`; removed
/// afterwards unless `keep`), measures the copy bandwidth, runs our side with `exe args…`
/// (a fresh process of this program that calls [`measure_ours`]) and, with `torch`,
/// `tools/bench_torch_paper.py`, then the ratios. Each result goes to `emit` as one JSON line.
#[allow(clippy::too_many_arguments)]
pub fn paper_vs_torch(
    c: &PaperBenchConfig,
    root: Option<&Path>,
    keep: bool,
    threads: usize,
    ours: &mut dyn FnMut(&Path, &[u32]) -> Result<serde_json::Value>,
    torch: Option<&Path>,
    emit: &mut dyn FnMut(&serde_json::Value),
) -> Result<()> {
    let dir = match root {
        Some(r) => r.to_path_buf(),
        None => std::env::temp_dir().join(format!("safe-sail-bench-3b-{}", std::process::id())),
    };
    let t = Instant::now();
    let built = build_paper_folder(&dir, c);
    let result = built.and_then(|f| {
        emit(&serde_json::json!({
            "built": dir.display().to_string(), "seconds": t.elapsed().as_secs_f64(),
            "weights_gb": f.weights_bytes as f64 / 1e9, "saes_gb": f.sae_bytes as f64 / 1e9,
        }));
        measure_all(c, &f, threads, ours, torch, emit)
    });
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn measure_all(
    c: &PaperBenchConfig,
    f: &PaperFolder,
    threads: usize,
    ours: &mut dyn FnMut(&Path, &[u32]) -> Result<serde_json::Value>,
    torch: Option<&Path>,
    emit: &mut dyn FnMut(&serde_json::Value),
) -> Result<()> {
    let ids = paper_prompt_ids(&f.model())?;
    let dev = crate::device::parse_device(&c.device)?;
    let load_before = super::host::load_average_1m();
    let cpu_start = super::host::CpuTimes::now();
    let bw = device_copy_bandwidth(&dev, 1 << 30)?;
    let per_token = weight_bytes_per_token(&c.model_config)?;
    let bound = bw / per_token as f64;
    let read_bw = if dev.is_cpu() {
        read_bandwidth(1 << 30)
    } else {
        f64::NAN
    };
    let read_bound = read_bw / per_token as f64;
    emit(&serde_json::json!({
        "copy_bandwidth_gb_s": bw / 1e9, "weight_bytes_per_token_gb": per_token as f64 / 1e9,
        "decode_bound_tokens_per_s": bound,
        "read_bandwidth_gb_s": read_bw / 1e9, "decode_read_bound_tokens_per_s": read_bound,
        "bf16_cpu_kernel": crate::model::matmul::Kernel::detect().name(),
        "cpu": super::host::cpu_model(), "load_average_1m_before": load_before,
    }));
    let files_gb = (f.weights_bytes + f.sae_bytes) as f64 / 1e9;
    let mine = ours(&f.dir, &ids)?;
    emit(&mine);
    let m = |k: &str| mine[k].as_f64().unwrap_or(f64::NAN);
    emit(&serde_json::json!({
        "goal_peak_rss_vs_files": m("peak_rss_gb") / files_gb,
        "goal_decode_vs_bound": m("decode_tokens_per_s") / bound,
        "decode_vs_read_bound": m("decode_tokens_per_s") / read_bound,
    }));
    if let Some(py) = torch {
        let dtype = match c.torch_dtype.unwrap_or(c.dtype) {
            DType::BF16 => "bf16",
            DType::F16 => "f16",
            _ => "f32",
        };
        let ids_s: Vec<String> = ids.iter().map(u32::to_string).collect();
        let layers: Vec<String> = c.layers.iter().map(usize::to_string).collect();
        let theirs = super::run_torch_script(
            py,
            "bench_torch_paper.py",
            &[
                "--dir".into(),
                f.dir.display().to_string(),
                "--layers".into(),
                layers.join(","),
                "--ids".into(),
                ids_s.join(","),
                "--dtype".into(),
                dtype.into(),
                "--threads".into(),
                threads.to_string(),
                "--iters".into(),
                c.iters.to_string(),
                "--decode-tokens".into(),
                c.decode_tokens.to_string(),
                "--k".into(),
                c.k.to_string(),
                "--device".into(),
                if dev.is_cpu() {
                    "cpu".into()
                } else {
                    "cuda".into()
                },
            ],
        )?;
        emit(&theirs);
        let p = |k: &str| theirs[k].as_f64().unwrap_or(f64::NAN);
        emit(&serde_json::json!({
            "ratio_load_time_ours_over_pytorch": m("load_s") / p("load_s"),
            "ratio_load_and_first_analysis_ours_over_pytorch":
                m("load_and_first_analysis_s") / p("load_and_first_analysis_s"),
            "ratio_peak_rss_ours_over_pytorch": m("peak_rss_gb") / p("peak_rss_gb"),
            "ratio_analysis_speed_vs_pytorch": m("analysis_tokens_per_s") / p("analysis_tokens_per_s"),
            "ratio_ttft_ours_over_pytorch": m("ttft_s") / p("ttft_s"),
            "ratio_decode_speed_vs_pytorch": m("decode_tokens_per_s") / p("decode_tokens_per_s"),
            "pytorch_decode_vs_bound": p("decode_tokens_per_s") / bound,
            "pytorch_decode_vs_read_bound": p("decode_tokens_per_s") / read_bound,
        }));
    }
    // On a virtual machine the host may take CPU time away while we measure: say how much,
    // so a noisy run is seen as one.
    let steal = cpu_start
        .zip(super::host::CpuTimes::now())
        .and_then(|(a, b)| a.steal_percent_until(&b));
    emit(&serde_json::json!({ "cpu_time_stolen_by_host_percent": steal }));
    Ok(())
}

/// Runs our side in a fresh process of this program (`exe bench --preset qwen2.5-3b
/// --measure-in DIR …`, which calls [`measure_ours`]) so its peak RSS is its own; returns the
/// JSON object it prints last.
pub fn measure_ours_in_child(
    exe: &Path,
    dir: &Path,
    ids: &[u32],
    c: &PaperBenchConfig,
    threads: usize,
) -> Result<serde_json::Value> {
    let ids_s: Vec<String> = ids.iter().map(u32::to_string).collect();
    let out = std::process::Command::new(exe)
        .args(["bench", "--preset", "qwen2.5-3b", "--measure-in"])
        .arg(dir)
        .args(["--ids", &ids_s.join(",")])
        .args(["--dtype", c.dtype.as_str()])
        .args(["--device", &c.device])
        .args(["--threads", &threads.to_string()])
        .args(["--iters", &c.iters.to_string()])
        .args(["--decode-tokens", &c.decode_tokens.to_string()])
        .output()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    if !out.status.success() {
        bail!(
            "the measuring process failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or(""))
        .context("the measuring process printed no JSON line")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny Qwen2 written by the benchmark's writer loads, and our side measures it.
    #[test]
    fn tiny_folder_builds_loads_and_measures() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = PaperBenchConfig::qwen25_3b();
        for (k, v) in [
            ("vocab_size", 2000),
            ("hidden_size", 64),
            ("num_hidden_layers", 3),
            ("num_attention_heads", 4),
            ("num_key_value_heads", 2),
            ("intermediate_size", 96),
        ] {
            c.model_config[k] = v.into();
        }
        c.layers = vec![0, 2];
        c.width = 128;
        c.k = 8;
        c.decode_tokens = 3;
        c.iters = 1;
        let dir = tmp.path().join("b");
        let f = build_paper_folder(&dir, &c).unwrap();
        assert!(build_paper_folder(&dir, &c).is_err(), "never overwrites");
        let on_disk = std::fs::metadata(f.model().join("model.safetensors"))
            .unwrap()
            .len();
        assert!(on_disk > f.weights_bytes && on_disk < f.weights_bytes + 100_000);
        let ids = paper_prompt_ids(&f.model()).unwrap();
        assert!(ids.len() > 10, "{}", ids.len());
        let r = measure_ours(&dir, &c.layers, c.k, &ids, DType::BF16, &Device::Cpu, 1, 3).unwrap();
        assert_eq!(r["decode_tokens"], 3);
        assert!(r["analysis_tokens_per_s"].as_f64().unwrap() > 0.0);
        assert!(r["peak_rss_gb"].as_f64().unwrap() > 0.0);
        // The same SAEs' shapes as Safe-SAIL files: loaded as the release's are, same sizes.
        let pt = tmp.path().join("pt");
        c.sae_format = PaperSaeFormat::SafeSail;
        let g = build_paper_folder(&pt, &c).unwrap();
        assert_eq!(
            g.sae_bytes,
            f.sae_bytes + 2 * 2 * 64 * 4,
            "plus the tied bias copies"
        );
        assert!(paper_sae_spec(&pt, 2, 8).contains("ckpt_layer2.pt,format=safe-sail"));
        let saes = crate::load::load_saes(&[paper_sae_spec(&pt, 2, 8)], &Device::Cpu).unwrap();
        assert_eq!((saes[0].d_sae(), saes[0].hook().layer), (128, 2));
        let r = measure_ours(&pt, &c.layers, c.k, &ids, DType::BF16, &Device::Cpu, 1, 3).unwrap();
        assert!(r["analysis_tokens_per_s"].as_f64().unwrap() > 0.0);
        assert_eq!(
            weight_bytes_per_token(&c.model_config).unwrap(),
            2 * (2000 * 64 + 3 * (64 * 64 + 2 * 32 * 64 + 64 * 64 + 3 * 64 * 96))
        );
    }
}
