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
