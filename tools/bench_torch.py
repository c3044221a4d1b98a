#!/usr/bin/env python3
"""PyTorch baseline for the "forward to layer L + SAE encode" benchmark.

Builds a Qwen2.5-0.5B-shaped Qwen2 with random weights from a config at run time (no
download): hidden 896, 24 layers, 14 heads, 2 KV heads, intermediate 4864, vocab 151936,
tied embeddings, rope_theta 1e6. Only layers 0..L are instantiated (the rest could never
run: the forward stops at `blocks.L.hook_mlp_out` = layer L's `mlp.down_proj` output), and
a TopK SAE (width 16384, k 64) encodes that activation.

Timed region, per batch of `--batch` x `--seq` random token ids: embeddings, decoder
layers 0..L-1, layer L up to and including mlp.down_proj (then an exception stops the
forward), SAE encode (x - b_dec) @ W_enc + b_enc -> top-k -> ReLU (values + indices).

Prints ONE JSON line, e.g.
  {"impl": "pytorch", "tokens_per_s": ..., "seconds_per_batch": ..., "threads": 2, "torch": "..."}

Usage: tools/.venv/bin/python tools/bench_torch.py [--layer 12] [--threads 2] [--iters 3]
       [--warmup 1] [--batch 8] [--seq 128] [--dtype f32|bf16] [--attn sdpa|eager]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch


class _Stop(Exception):
    pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layer", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--d-sae", type=int, default=16384)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    ap.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    import transformers
    from transformers import Qwen2Config, Qwen2ForCausalLM

    transformers.logging.set_verbosity_error()
    dtype = torch.float32 if args.dtype == "f32" else torch.bfloat16
    L = args.layer

    cfg = Qwen2Config(
        vocab_size=151936, hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, intermediate_size=4864, max_position_embeddings=32768,
        rms_norm_eps=1e-6, tie_word_embeddings=True, rope_theta=1000000.0, use_sliding_window=False,
        hidden_act="silu",
    )
    assert 0 <= L < cfg.num_hidden_layers
    # Only instantiate layers 0..L (what a model.model.layers[:L+1] slice would keep).
    cfg.num_hidden_layers = L + 1
    if getattr(cfg, "layer_types", None) is not None:
        cfg.layer_types = cfg.layer_types[: L + 1]
    cfg._attn_implementation = args.attn

    torch.manual_seed(args.seed)
    model = Qwen2ForCausalLM(cfg).to(dtype).eval()
    d = cfg.hidden_size
    g = torch.Generator().manual_seed(args.seed + 1)
    W_enc = (torch.randn(d, args.d_sae, generator=g) * d**-0.5).to(dtype)
    b_enc = torch.zeros(args.d_sae, dtype=dtype)
    b_dec = (torch.randn(d, generator=g) * 0.01).to(dtype)

    captured = {}

    def hook(mod, inp, out):
        captured["x"] = out
        raise _Stop()

    model.model.layers[L].mlp.down_proj.register_forward_hook(hook)
    ids = torch.randint(0, cfg.vocab_size, (args.batch, args.seq), generator=g)

    def step():
        try:
            model.model(input_ids=ids, use_cache=False)
        except _Stop:
            pass
        x = captured.pop("x")
        pre = (x - b_dec) @ W_enc + b_enc
        vals, idx = torch.topk(pre, args.k, dim=-1)
        return vals.relu(), idx

    with torch.inference_mode():
        for _ in range(args.warmup):
            step()
        t0 = time.perf_counter()
        for _ in range(args.iters):
            vals, idx = step()
        dt = (time.perf_counter() - t0) / args.iters

    tokens = args.batch * args.seq
    print(json.dumps({
        "impl": "pytorch",
        "tokens_per_s": round(tokens / dt, 2),
        "seconds_per_batch": round(dt, 4),
        "threads": args.threads,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "layer": L,
        "batch": args.batch,
        "seq": args.seq,
        "dtype": args.dtype,
        "attn": args.attn,
        "d_sae": args.d_sae,
        "k": args.k,
        "iters": args.iters,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
