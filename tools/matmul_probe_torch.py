#!/usr/bin/env python3
"""PyTorch side of `examples/matmul_probe.rs`'s bf16 part: `torch.nn.functional.linear` with
weights `[out, in]` at Qwen2.5-3B's shapes (the 56-token paper prompt and one decoded token).

Usage: python tools/matmul_probe_torch.py [bf16|f32] [--threads 2]
"""

import argparse
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dtype", nargs="?", choices=["bf16", "f32"], default="bf16")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dt = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    for m, k, n in [(56, 2048, 11008), (56, 11008, 2048), (56, 2048, 2048), (1, 2048, 11008), (1, 11008, 2048)]:
        x = torch.randn(m, k).to(dt)
        w = torch.randn(n, k).to(dt)
        torch.nn.functional.linear(x, w)
        reps = 50 if m == 1 else 10
        t = time.perf_counter()
        for _ in range(reps):
            torch.nn.functional.linear(x, w)
        s = (time.perf_counter() - t) / reps
        print(
            f"torch {args.dtype} {m}x{k}x{n}: {s * 1e3:.2f} ms, {2 * m * k * n / s / 1e9:.1f} GFLOP/s, "
            f"{n * k * x.element_size() / s / 1e9:.1f} GB/s of weights"
        )


if __name__ == "__main__":
    main()
