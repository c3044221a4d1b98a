use candle_core::{Device, Tensor};
use std::time::Instant;
fn main() -> anyhow::Result<()> {
    let d = Device::Cpu;
    for (m, k, n) in [
        (1024, 896, 4864),
        (1024, 4864, 896),
        (1024, 896, 896),
        (1024, 896, 128),
    ] {
        let a = Tensor::randn(0f32, 1.0, (m, k), &d)?;
        let b = Tensor::randn(0f32, 1.0, (k, n), &d)?;
        let _ = a.matmul(&b)?;
        let t = Instant::now();
        for _ in 0..5 {
            let _ = a.matmul(&b)?;
        }
        let s = t.elapsed().as_secs_f64() / 5.0;
        println!(
            "{m}x{k}x{n}: {:.1} ms, {:.1} GFLOP/s",
            s * 1e3,
            2.0 * (m * k * n) as f64 / s / 1e9
        );
    }
    // bf16 weights as stored ([out, in]) through safe_sail's kernel, at Qwen2.5-3B's shapes:
    // short batches (where the AVX2 kernel starts packing its weights), the paper prompt (56
    // tokens) and one decoded token. `SAFE_SAIL_BF16_KERNEL=avx2|portable`
    // measures a slower kernel; tools/matmul_probe_torch.py is the same in PyTorch.
    for (m, k, n) in [
        (2, 2048, 11008),
        (4, 2048, 11008),
        (6, 2048, 11008),
        (8, 2048, 11008),
        (12, 2048, 11008),
        (56, 2048, 11008),
        (56, 11008, 2048),
        (56, 2048, 2048),
        (1, 2048, 11008),
        (1, 11008, 2048),
    ] {
        let x = Tensor::randn(0f32, 1.0, (m, k), &d)?.to_dtype(candle_core::DType::BF16)?;
        let w = Tensor::randn(0f32, 1.0, (n, k), &d)?.to_dtype(candle_core::DType::BF16)?;
        let _ = safe_sail::model::matmul::linear_bf16(&x, &w)?;
        let reps = if m == 1 { 50 } else { 10 };
        let t = Instant::now();
        for _ in 0..reps {
            let _ = safe_sail::model::matmul::linear_bf16(&x, &w)?;
        }
        let s = t.elapsed().as_secs_f64() / reps as f64;
        println!(
            "bf16 rows {m}x{k}x{n}: {:.2} ms, {:.1} GFLOP/s, {:.1} GB/s of weights",
            s * 1e3,
            2.0 * (m * k * n) as f64 / s / 1e9,
            (2 * k * n) as f64 / s / 1e9
        );
    }
    let x = Tensor::randn(0f32, 1.0, (8, 14, 128, 64), &d)?;
    let kt = Tensor::randn(0f32, 1.0, (8, 14, 128, 64), &d)?;
    let t = Instant::now();
    for _ in 0..5 {
        let _ = x.matmul(&kt.t()?)?;
    }
    println!(
        "attn scores: {:.1} ms",
        t.elapsed().as_secs_f64() / 5.0 * 1e3
    );
    let big = Tensor::randn(0f32, 1.0, (1024, 4864), &d)?;
    let t = Instant::now();
    for _ in 0..5 {
        let _ = (big.silu()? * &big)?;
    }
    println!(
        "silu*mul 1024x4864: {:.1} ms",
        t.elapsed().as_secs_f64() / 5.0 * 1e3
    );
    Ok(())
}
