//! Choosing where (CPU, CUDA, Metal) and in which precision the model runs.

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};

/// Parses `cpu`, `cuda`, `cuda:N` or `metal[:N]` into a candle device.
///
/// CUDA and Metal need the crate built with the `cuda` / `metal` cargo feature; without
/// it the error says so.
pub fn parse_device(spec: &str) -> Result<Device> {
    let spec = spec.trim().to_ascii_lowercase();
    let (kind, ordinal) = match spec.split_once(':') {
        Some((k, n)) => (
            k.to_string(),
            n.parse::<usize>()
                .with_context(|| format!("device `{spec}`: `{n}` is not a device number"))?,
        ),
        None => (spec.clone(), 0),
    };
    match kind.as_str() {
        "cpu" => Ok(Device::Cpu),
        "cuda" | "gpu" => {
            if !candle_core::utils::cuda_is_available() {
                bail!(
                    "device `{spec}`: this build has no CUDA support; rebuild with `cargo build --release --features cuda`"
                );
            }
            Device::new_cuda(ordinal).with_context(|| format!("cannot open CUDA device {ordinal}"))
        }
        "metal" => {
            if !candle_core::utils::metal_is_available() {
                bail!(
                    "device `{spec}`: this build has no Metal support; rebuild with `cargo build --release --features metal`"
                );
            }
            Device::new_metal(ordinal)
                .with_context(|| format!("cannot open Metal device {ordinal}"))
        }
        _ => bail!("unknown device `{spec}` (expected cpu, cuda:N or metal)"),
    }
}

/// Parses a compute dtype: `f32`, `bf16` or `f16`.
pub fn parse_dtype(spec: &str) -> Result<DType> {
    match spec.trim().to_ascii_lowercase().as_str() {
        "f32" | "float32" | "float" => Ok(DType::F32),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        "f16" | "float16" | "half" => Ok(DType::F16),
        other => bail!("unknown dtype `{other}` (expected f32, bf16 or f16)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_dtypes() {
        assert!(parse_device("cpu").unwrap().is_cpu());
        assert_eq!(parse_dtype("bf16").unwrap(), DType::BF16);
        assert_eq!(parse_dtype("F32").unwrap(), DType::F32);
        assert!(parse_dtype("f8").is_err());
        assert!(parse_device("tpu").is_err());
        assert!(parse_device("cuda:x").is_err());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_feature_says_how_to_get_it() {
        let err = parse_device("cuda:0").unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
