//! Checks on what comes from files: weights must be floating point and finite, and a panic
//! inside a third-party reader becomes an error naming the file instead of a crash.

use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Storage, Tensor};
use rayon::prelude::*;
use std::cell::{Cell, RefCell};
use std::fmt::Display;

/// Whether the engine computes with `dtype` (f32, f16, bf16, f64).
pub fn is_float(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::F16 | DType::BF16 | DType::F64)
}

/// An error when tensor `name` of `file` is not floating point; `what` says whose weights
/// these are (`SAE`, `model`).
pub fn ensure_float(t: &Tensor, name: &str, file: &dyn Display, what: &str) -> Result<()> {
    if !is_float(t.dtype()) {
        bail!(
            "tensor `{name}` in {file} has dtype {}, but {what} weights must be floating point \
             (f32, f16, bf16 or f64)",
            t.dtype().as_str()
        );
    }
    Ok(())
}

/// An error when tensor `name` of `file` holds NaN or ±Inf, saying how many.
pub fn ensure_finite(t: &Tensor, name: &str, file: &dyn Display, hint: &str) -> Result<()> {
    let bad = count_nonfinite(t)?;
    if bad > 0 {
        bail!(
            "tensor `{name}` in {file} has {bad} non-finite value{} (NaN or ±Inf) of {}{hint}",
            if bad == 1 { "" } else { "s" },
            t.elem_count()
        );
    }
    Ok(())
}

/// An error when the bf16 values of tensor `name` of `file` hold NaN or ±Inf (as
/// [`ensure_finite`], for weights read in place).
pub fn ensure_finite_bf16(xs: &[half::bf16], name: &str, file: &dyn Display) -> Result<()> {
    let bad = count(xs, |x| x.to_bits() & 0x7F80 == 0x7F80);
    if bad > 0 {
        bail!(
            "tensor `{name}` in {file} has {bad} non-finite value{} (NaN or ±Inf) of {}",
            if bad == 1 { "" } else { "s" },
            xs.len()
        );
    }
    Ok(())
}

/// How many f32 values are NaN or ±Inf (in parallel for long slices; for weights read in
/// place).
pub fn count_nonfinite_f32(xs: &[f32]) -> usize {
    count(xs, |x| !x.is_finite())
}

/// How many values of a tensor are NaN or ±Inf (0 for integer tensors). One pass over the
/// data, in parallel for large tensors; CPU tensors are read in place.
pub fn count_nonfinite(t: &Tensor) -> Result<usize> {
    if !is_float(t.dtype()) {
        return Ok(0);
    }
    let t = if t.device().is_cpu() {
        t.contiguous()?
    } else {
        t.to_device(&Device::Cpu)?
    };
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        bail!("a tensor copied to the CPU is not on the CPU");
    };
    let (a, b) = layout
        .contiguous_offsets()
        .context("a contiguous tensor without contiguous offsets")?;
    // A value is NaN or ±Inf when its exponent bits are all set: a mask and a compare per
    // value, which the compiler vectorises.
    Ok(match t.dtype() {
        DType::F32 => count(&cpu.as_slice::<f32>()?[a..b], |x| {
            x.to_bits() & 0x7F80_0000 == 0x7F80_0000
        }),
        DType::F64 => count(&cpu.as_slice::<f64>()?[a..b], |x| {
            x.to_bits() & 0x7FF0_0000_0000_0000 == 0x7FF0_0000_0000_0000
        }),
        DType::F16 => count(&cpu.as_slice::<half::f16>()?[a..b], |x| {
            x.to_bits() & 0x7C00 == 0x7C00
        }),
        DType::BF16 => count(&cpu.as_slice::<half::bf16>()?[a..b], |x| {
            x.to_bits() & 0x7F80 == 0x7F80
        }),
        _ => 0,
    })
}

/// How many of `xs` are `bad`, in parallel chunks for large slices.
fn count<T: Copy + Sync>(xs: &[T], bad: impl Fn(T) -> bool + Sync) -> usize {
    const CHUNK: usize = 1 << 16;
    let chunk = |c: &[T]| c.iter().map(|&x| u32::from(bad(x))).sum::<u32>() as usize;
    if xs.len() <= CHUNK {
        chunk(xs)
    } else {
        xs.par_chunks(CHUNK).map(chunk).sum()
    }
}

/// The flat index of the first NaN or ±Inf in a tensor, if any.
pub fn first_nonfinite(t: &Tensor) -> Result<Option<usize>> {
    if !is_float(t.dtype()) {
        return Ok(None);
    }
    if !t.device().is_cpu() {
        // One reduction on the device: a finite sum of squares means every value is finite.
        let s = t
            .to_dtype(DType::F32)?
            .sqr()?
            .sum_all()?
            .to_scalar::<f32>()?;
        if s.is_finite() {
            return Ok(None);
        }
    }
    let v = t
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_device(&Device::Cpu)?
        .to_vec1::<f32>()?;
    Ok(v.iter().position(|x| !x.is_finite()))
}

thread_local! {
    /// Set while [`catch_panics`] runs: the panic hook then keeps the message here instead of
    /// printing it.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let payload = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                MESSAGE.with(|m| *m.borrow_mut() = Some(format!("{payload}{at}")));
            } else {
                previous(info)
            }
        }));
    });
}

/// Runs a reader of `file`, turning a panic inside it (third-party code on input it did not
/// expect) into an error naming the file; the panic prints nothing. Validate inputs first:
/// this is the last line of defence, and it cannot catch an allocation that aborts.
pub fn catch_panics<T>(file: &dyn Display, f: impl FnOnce() -> Result<T>) -> Result<T> {
    install_hook();
    let was = QUIET.with(|q| q.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    match result {
        Ok(r) => r,
        Err(payload) => {
            let message = MESSAGE
                .with(|m| m.borrow_mut().take())
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(anyhow!(
                "{file} could not be read: the reader panicked ({message}); the file is damaged \
                 in a way this program does not check yet (please report it)"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nonfinite_values_in_every_float_dtype() {
        let v = [1.0f32, f32::NAN, 2.0, f32::INFINITY, f32::NEG_INFINITY, 0.0];
        let t = Tensor::new(&v, &Device::Cpu).unwrap();
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            assert_eq!(count_nonfinite(&t.to_dtype(dtype).unwrap()).unwrap(), 3);
        }
        // A strided view, and a large tensor counted in parallel.
        let m = Tensor::new(&[[1.0f32, f32::NAN], [2.0, 3.0]], &Device::Cpu).unwrap();
        assert_eq!(count_nonfinite(&m.t().unwrap()).unwrap(), 1);
        let mut big = vec![0.5f32; 300_000];
        big[299_999] = f32::NAN;
        big[7] = f32::INFINITY;
        let big = Tensor::from_vec(big, 300_000, &Device::Cpu).unwrap();
        assert_eq!(count_nonfinite(&big).unwrap(), 2);
        assert_eq!(first_nonfinite(&big).unwrap(), Some(7));
        assert_eq!(first_nonfinite(&m.get(1).unwrap()).unwrap(), None);
        let ints = Tensor::new(&[1i64, 2], &Device::Cpu).unwrap();
        assert_eq!(count_nonfinite(&ints).unwrap(), 0);
    }

    #[test]
    fn a_panic_becomes_an_error_naming_the_file() {
        let r: Result<()> = catch_panics(&"x.bin", || {
            let v: Vec<u8> = vec![];
            let _ = v[std::hint::black_box(3)];
            Ok(())
        });
        let err = r.unwrap_err().to_string();
        assert!(err.starts_with("x.bin could not be read"), "{err}");
        assert!(err.contains("index out of bounds"), "{err}");
        assert_eq!(catch_panics(&"y", || Ok(5)).unwrap(), 5);
    }
}
