//! Shared helpers for the integration tests.
#![allow(dead_code)]

use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `tests/fixtures` of this checkout.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `../shared/external/<name>`, or `None` (with a message) when `../shared` is absent.
pub fn shared_external(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/external")
        .join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (a fresh clone has no ../shared)",
            p.display()
        );
        None
    }
}

pub fn load_refs(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// The device the reference tests run on: `SAFE_SAIL_TEST_DEVICE` (e.g. `cuda:0`, which
/// needs a `--features cuda` build), else the CPU.
#[allow(dead_code)]
pub fn test_device() -> Device {
    match std::env::var("SAFE_SAIL_TEST_DEVICE") {
        Ok(d) if !d.trim().is_empty() => safe_sail::device::parse_device(&d)
            .unwrap_or_else(|e| panic!("SAFE_SAIL_TEST_DEVICE={d}: {e:#}")),
        _ => Device::Cpu,
    }
}

/// Asserts `max |a-b| / max |b| <= tol`.
pub fn assert_close(what: &str, a: &Tensor, b: &Tensor, tol: f32) {
    let err = safe_sail::tensor_util::max_rel_diff(a, b).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(err <= tol, "{what}: relative error {err:.3e} > {tol:.0e}");
}

/// The binary under test.
pub fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_safe-sail"))
}
