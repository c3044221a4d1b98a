//! Fused CPU kernels for the elementwise work between matmuls, where candle's generic
//! (single-threaded) ops would cost a large share of a forward pass.

use super::config::Act;
use anyhow::Result;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use half::{bf16, f16};
use rayon::prelude::*;

const CHUNK: usize = 4096;

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // sqrt(2/π)
    0.5 * x * (1.0 + (C * (x + 0.044715 * x * x * x)).tanh())
}

/// `act(gate) * up` in one pass, computed in f32, on all cores.
struct GatedAct(fn(f32) -> f32);

fn fused<T: Copy + Send + Sync>(
    a: &[T],
    b: &[T],
    f: fn(f32) -> f32,
    to: impl Fn(T) -> f32 + Sync,
    from: impl Fn(f32) -> T + Sync,
) -> Vec<T> {
    let mut out = vec![from(0.0); a.len()];
    out.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(o, (a, b))| {
            for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                *o = from(f(to(a)) * to(b));
            }
        });
    out
}

impl CustomOp2 for GatedAct {
    fn name(&self) -> &'static str {
        "gated-act"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (Some((a0, a1)), Some((b0, b1))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("gated-act needs contiguous inputs");
        };
        if l1.shape() != l2.shape() {
            candle_core::bail!("gated-act shape mismatch {:?} {:?}", l1.shape(), l2.shape());
        }
        let f = self.0;
        let out = match (s1, s2) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => {
                CpuStorage::F32(fused(&a[a0..a1], &b[b0..b1], f, |x| x, |x| x))
            }
            (CpuStorage::BF16(a), CpuStorage::BF16(b)) => CpuStorage::BF16(fused(
                &a[a0..a1],
                &b[b0..b1],
                f,
                bf16::to_f32,
                bf16::from_f32,
            )),
            (CpuStorage::F16(a), CpuStorage::F16(b)) => {
                CpuStorage::F16(fused(&a[a0..a1], &b[b0..b1], f, f16::to_f32, f16::from_f32))
            }
            _ => candle_core::bail!("gated-act: unsupported dtype"),
        };
        Ok((out, l1.shape().clone()))
    }
}

/// `act(gate) * up`: fused on the CPU for SiLU and tanh-GELU, plain candle ops otherwise.
pub fn gated_act(act: Act, gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    let f = match act {
        Act::Silu => Some(silu as fn(f32) -> f32),
        Act::GeluTanh => Some(gelu_tanh as fn(f32) -> f32),
        _ => None,
    };
    match f {
        Some(f) if gate.device().is_cpu() => Ok(gate
            .contiguous()?
            .apply_op2_no_bwd(&up.contiguous()?, &GatedAct(f))?),
        _ => Ok((activate(act, gate)? * up)?),
    }
}

/// An activation with candle's own ops (any device).
pub fn activate(act: Act, x: &Tensor) -> Result<Tensor> {
    Ok(match act {
        Act::Silu => x.silu()?,
        Act::GeluTanh => x.gelu()?,
        Act::Gelu => x.gelu_erf()?,
        Act::Relu => x.relu()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn fused_matches_candle_ops() {
        let g = Tensor::randn(0f32, 2.0, (7, 33), &Device::Cpu).unwrap();
        let u = Tensor::randn(0f32, 1.0, (7, 33), &Device::Cpu).unwrap();
        for act in [Act::Silu, Act::GeluTanh] {
            let fast = gated_act(act, &g, &u).unwrap();
            let slow = (activate(act, &g).unwrap() * &u).unwrap();
            let err = crate::tensor_util::max_rel_diff(&fast, &slow).unwrap();
            assert!(err < 1e-5, "{act:?}: {err}");
            let fast16 = gated_act(
                act,
                &g.to_dtype(DType::BF16).unwrap(),
                &u.to_dtype(DType::BF16).unwrap(),
            )
            .unwrap();
            assert!(crate::tensor_util::max_rel_diff(&fast16, &slow).unwrap() < 2e-2);
        }
    }
}
