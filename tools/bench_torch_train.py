#!/usr/bin/env python3
"""PyTorch baseline for the "one TopK SAE training step" benchmark (`safe-sail bench-train`).

The same step as `SaeTrainer::train_step` (src/sae/train.rs) for a TopK candidate, in PyTorch
eager with autograd, on the same random activations shape:

  pre  = (x - b_dec) @ W_enc + b_enc                       [batch, width]
  f    = TopK(ReLU(pre)): torch.topk(pre, k), ReLU'd values scattered into a dense
         [batch, width] tensor (ours: a 0/1 mask of the same selection times relu(pre))
  x_hat = f @ W_dec + b_dec
  loss = sum((x_hat - x)^2) / sum((x - mean(x))^2)         (normalised MSE)
       + aux_coeff * AuxK       only when dead latents exist (a latent is dead after
                                10M tokens without firing: never within a benchmark run,
                                so AuxK runs on neither side in the timed steps)
  backward; the component of W_dec.grad parallel to each (unit) decoder row removed;
  Adam (torch.optim.Adam, betas 0.9/0.999, eps 1e-8) with the same linear warm-up
  (100 steps, so every benchmark step is in warm-up); decoder rows renormalised;
  per-latent firing counts and the "tokens since fired" counters updated; the step's stats
  (loss, MSE, L0, explained variance) read back as Python floats, as ours does.

Initialisation (not timed): decoder rows random unit vectors, W_enc = W_dec^T, b_enc = 0,
b_dec = the mean of the first batch (ours: the geometric median; the value does not change
the cost of a step). The activations are one random normal batch `[batch_tokens, d_in]`
(fixed seed) generated once, outside the timed region, and used for every step (the same
as ours).

Prints ONE JSON line, e.g.
  {"impl": "pytorch", "tokens_per_s": ..., "seconds_per_step": ..., "threads": 2, ...}

Usage: tools/.venv/bin/python tools/bench_torch_train.py [--d-in 896] [--width 16384]
       [--k 64] [--batch-tokens 4096] [--steps 3] [--warmup 1] [--threads 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--d-in", type=int, default=896)
    ap.add_argument("--width", type=int, default=16384)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup-steps", type=int, default=100)
    ap.add_argument("--dead-tokens", type=int, default=10_000_000)
    ap.add_argument("--aux-coeff", type=float, default=1.0 / 32.0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    d, width, k, n = args.d_in, args.width, args.k, args.batch_tokens
    g = torch.Generator().manual_seed(args.seed)
    x = torch.randn(n, d, generator=g)

    w = torch.randn(width, d, generator=g)
    w = w / w.norm(dim=1, keepdim=True)
    W_dec = torch.nn.Parameter(w.clone())
    W_enc = torch.nn.Parameter(w.t().contiguous())
    b_enc = torch.nn.Parameter(torch.zeros(width))
    b_dec = torch.nn.Parameter(x.mean(0))
    params = [W_enc, b_enc, W_dec, b_dec]
    opt = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    since_fired = torch.zeros(width, dtype=torch.int64)
    state = {"step": 0}

    def lr_at(step: int) -> float:
        return args.lr * min((step + 1) / max(args.warmup_steps, 1), 1.0)

    def train_step(x: torch.Tensor) -> dict:
        total_var = max(((x - x.mean(0, keepdim=True)) ** 2).sum().item(), 1e-12)
        pre = (x - b_dec) @ W_enc + b_enc
        vals, idx = torch.topk(pre, k, dim=-1)
        f = torch.zeros_like(pre).scatter(-1, idx, vals.relu())
        recon = f @ W_dec + b_dec
        err = recon - x
        sse = (err ** 2).sum()
        loss = sse / total_var
        dead_mask = since_fired >= args.dead_tokens
        dead = int(dead_mask.sum().item())
        if dead > 0:
            # AuxK: the k_aux largest pre-activations of the dead latents reconstruct the residual.
            k_aux = min(max(d // 2, 1), dead)
            offset = torch.where(dead_mask, 0.0, -1e30)
            aux_pre = pre.detach() + offset
            _, aidx = torch.topk(aux_pre, k_aux, dim=-1)
            aux_f = torch.zeros_like(pre).scatter(-1, aidx, pre.gather(-1, aidx).relu())
            e = (x - recon).detach()
            e_var = max(((e - e.mean(0, keepdim=True)) ** 2).sum().item(), 1e-12)
            aux = ((aux_f @ W_dec - e) ** 2).sum() / e_var
            loss = loss + args.aux_coeff * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            counts = (f.detach() > 0).sum(0)
            # Drop the gradient component parallel to each (unit) decoder row.
            gd = W_dec.grad
            gd -= W_dec * (gd * W_dec).sum(-1, keepdim=True)
            for group in opt.param_groups:
                group["lr"] = lr_at(state["step"])
            opt.step()
            W_dec.div_(W_dec.norm(dim=-1, keepdim=True) + 1e-8)
            since_fired.copy_(torch.where(counts > 0, 0, since_fired + n))
        state["step"] += 1
        sse_v = sse.item()
        return {
            "loss": loss.item(),
            "mse": sse_v / (n * d),
            "l0": counts.sum().item() / n,
            "dead_fraction": (since_fired >= args.dead_tokens).sum().item() / width,
            "explained_variance": 1.0 - sse_v / total_var,
        }

    for _ in range(args.warmup):
        train_step(x)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        stats = train_step(x)
    dt = (time.perf_counter() - t0) / max(args.steps, 1)

    print(json.dumps({
        "impl": "pytorch",
        "tokens_per_s": round(n / dt, 2),
        "seconds_per_step": round(dt, 4),
        "threads": args.threads,
        "torch": torch.__version__,
        "d_in": d,
        "width": width,
        "k": k,
        "batch_tokens": n,
        "steps": args.steps,
        "warmup": args.warmup,
        "last_loss": round(stats["loss"], 6) if args.steps else None,
        "last_l0": stats["l0"] if args.steps else None,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
