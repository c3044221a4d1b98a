#!/usr/bin/env python3
"""PyTorch side of the paper-scale benchmark (`safe-sail bench --preset qwen2.5-3b --torch PY`).

Reads the folder the benchmark wrote (DIR/model: a Qwen2.5-3B-shaped model with random bf16
weights; DIR/sae_L{layer}: SAELens-layout TopK SAEs in f32, or DIR/ckpt_layer{layer}.pt: the
same as Safe-SAIL `.pt` state dicts) and measures, as safe-sail does:

- load_s: `Qwen2ForCausalLM.from_pretrained(DIR/model, torch_dtype=...)` plus the SAEs'
  safetensors (`safetensors.torch.load_file`) or `.pt` files (`torch.load(mmap=True)`);
- peak_rss_gb: the process's peak resident memory (ru_maxrss), Python and torch included;
- first_analysis_s: the first (untimed-in-analysis) pass, which also pays for weights loaded
  lazily; load_and_first_analysis_s = load_s + first_analysis_s;
- analysis: the prompt ids through all decoder layers (no unembedding), the MLP outputs of
  the SAE layers captured by forward hooks, each SAE encoding in f32:
  (x - b_dec) @ W_enc + b_enc -> top-k -> ReLU. Mean of --iters passes after one untimed;
- ttft_s: a forward pass over the prompt with a KV cache and logits for the last position,
  then argmax (greedy);
- decode: --decode-tokens more tokens, one forward pass each with the cache, greedy.

Prints ONE JSON line. Usage (normally run by safe-sail):
  python tools/bench_torch_paper.py --dir DIR --layers 0,8,17,26,35 --ids 1,2,3 [--dtype bf16]
      [--threads 2] [--iters 2] [--decode-tokens 16] [--k 200] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import torch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--layers", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--dtype", choices=["f32", "bf16", "f16"], default="bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--decode-tokens", type=int, default=16)
    ap.add_argument("--k", type=int, default=200)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    import transformers
    from safetensors.torch import load_file
    from transformers import Qwen2ForCausalLM

    transformers.logging.set_verbosity_error()
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[args.dtype]
    dev = torch.device(args.device)
    layers = [int(x) for x in args.layers.split(",")]
    ids = torch.tensor([[int(x) for x in args.ids.split(",")]], device=dev)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    model = Qwen2ForCausalLM.from_pretrained(
        os.path.join(args.dir, "model"), torch_dtype=dtype, attn_implementation="sdpa"
    ).to(dev).eval()
    saes = []
    for layer in layers:
        pt = os.path.join(args.dir, f"ckpt_layer{layer}.pt")
        if os.path.exists(pt):
            # The Safe-SAIL release's format: a torch.save state dict, component 0; mapped as
            # torch.load can (mmap=True), the encoder used transposed in place.
            sd = torch.load(pt, map_location=str(dev), mmap=dev.type == "cpu", weights_only=True)
            saes.append((layer, sd["encoder.weight"][0].T, sd["encoder.bias"][0],
                         sd["pre_encoder_bias._bias_reference"][0]))
        else:
            w = load_file(os.path.join(args.dir, f"sae_L{layer}", "sae_weights.safetensors"),
                          device=str(dev))
            saes.append((layer, w["W_enc"], w["b_enc"], w["b_dec"]))
    sync()
    load_s = time.perf_counter() - t0

    captured = {}

    def hook_for(layer):
        def hook(mod, inp, out):
            captured[layer] = out
        return hook

    handles = [model.model.layers[layer].mlp.register_forward_hook(hook_for(layer))
               for layer in layers]

    def analyse():
        captured.clear()
        model.model(input_ids=ids, use_cache=False)
        out = []
        for layer, w_enc, b_enc, b_dec in saes:
            x = captured[layer][0].float()
            pre = (x - b_dec) @ w_enc + b_enc
            vals, idx = torch.topk(pre, args.k, dim=-1)
            out.append((vals.relu(), idx))
        sync()
        return out

    with torch.inference_mode():
        t_first = time.perf_counter()
        analyse()
        first_analysis_s = time.perf_counter() - t_first
        t1 = time.perf_counter()
        for _ in range(max(args.iters, 1)):
            analyse()
        analysis_s = (time.perf_counter() - t1) / max(args.iters, 1)
        for h in handles:
            h.remove()

        t2 = time.perf_counter()
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        _ = nxt.item()
        ttft = time.perf_counter() - t2
        past = out.past_key_values
        t3 = time.perf_counter()
        for _ in range(args.decode_tokens):
            out = model(input_ids=nxt, past_key_values=past, use_cache=True)
            past = out.past_key_values
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            _ = nxt.item()
        decode_s = time.perf_counter() - t3

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({
        "impl": "pytorch eager",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": args.device,
        "dtype": args.dtype,
        "threads": args.threads,
        "prompt_tokens": ids.shape[1],
        "load_s": round(load_s, 3),
        "peak_rss_gb": round(peak / 1e9, 3),
        "first_analysis_s": round(first_analysis_s, 3),
        "load_and_first_analysis_s": round(load_s + first_analysis_s, 3),
        "cuda_peak_gb": round(torch.cuda.max_memory_allocated() / 1e9, 3)
        if dev.type == "cuda" else None,
        "analysis_s": round(analysis_s, 4),
        "analysis_tokens_per_s": round(ids.shape[1] / analysis_s, 2),
        "ttft_s": round(ttft, 4),
        "decode_tokens": args.decode_tokens,
        "decode_tokens_per_s": round(args.decode_tokens / decode_s, 3) if decode_s > 0 else None,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
