#!/usr/bin/env python3
"""Optional cross-check of the SAE fixtures against the real Python packages.

tools/make_fixtures.py computes most SAE references with its own few-line encoders. This
script loads the same files with `sae-lens` (SAELens v6) and `eai-sparsify` (EleutherAI
sparsify) and checks that they produce the same latents / reconstructions, and re-runs the
Safe-SAIL encoder exactly as Alibaba-AAIG/Safe-SAIL's `activation_function.py` writes it.
The dictionary_learning references are made with that package itself; here they are loaded
again through its high-level `utils.load_dictionary`, which reads config.json.

sae-lens and eai-sparsify are NOT needed to build the fixtures (dictionary-learning is). A
format whose package is not installed is skipped. To run the whole check:

    python3 -m venv /tmp/saecheck
    /tmp/saecheck/bin/pip install torch sae-lens eai-sparsify dictionary-learning
    /tmp/saecheck/bin/python tools/check_saes_with_packages.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import os

os.environ.setdefault("SPARSIFY_DISABLE_TRITON", "1")  # CPU: use sparsify's eager decoder

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

FIX = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def close(a, b, what):
    err = (a - b).abs().max().item()
    scale = max(1.0, b.abs().max().item())
    ok = err <= 1e-5 * scale
    print(f"  {'ok ' if ok else 'BAD'} {what}: max abs err {err:.2e}")
    return ok


def safesail_topk_relu(x, k):  # verbatim logic of Safe-SAIL activation_function.TopKReLU
    k_values, _ = torch.topk(x, k=k, sorted=False)
    x_threshold = k_values.min(dim=-1, keepdim=True)[0]
    output = torch.where(x < x_threshold, torch.tensor(0.0, device=x.device), x)
    return F.relu(output)


PACKAGES = {"saelens": "sae_lens", "sparsify": "sparsify", "dictionary_learning": "dictionary_learning.utils"}


def dictionary_learning_encode(e, x):
    """The SAE as `dictionary_learning.utils.load_dictionary` loads it, with the fixture's options."""
    from dictionary_learning.trainers.top_k import AutoEncoderTopK
    from dictionary_learning.utils import load_dictionary

    path = FIX / e["path"]
    ae, config = load_dictionary(str(path), device="cpu")
    print(f"  loaded as {type(ae).__name__}, submodule {config['trainer']['submodule_name']}")
    opts = e["options"]
    kw = {}
    if "k" in opts:  # per-token TopK on the same weights
        ae = AutoEncoderTopK.from_pretrained(str(path / "ae.pt"), k=int(opts["k"]), device="cpu")
    if "threshold" in opts:  # the checkpoint's own calibrated threshold
        assert abs(float(ae.threshold) - float(opts["threshold"])) < 1e-6
        kw["use_threshold"] = True
    with torch.no_grad():
        acts = ae.encode(x, **kw)
        return acts, ae.decode(acts)


def main() -> int:
    import importlib

    available = {}
    for fmt, module in PACKAGES.items():
        try:
            importlib.import_module(module)
            available[fmt] = True
        except ImportError as err:
            print(f"{fmt}: skipped ({err})")
            available[fmt] = False
    manifest = json.loads((FIX / "saes" / "manifest.json").read_text())
    all_ok = True
    for e in manifest:
        ref = load_file(str(FIX / e["ref"]))
        x = ref["input"]
        if not available.get(e["format"], True):
            continue
        print(f"{e['name']} ({e['format']})")
        if e["format"] == "saelens":
            from sae_lens import SAE

            sae = SAE.load_from_disk(str(FIX / e["path"]), device="cpu")
            print(f"  loaded as {type(sae).__name__}, hook {sae.cfg.metadata.hook_name}")
            with torch.no_grad():
                acts = sae.encode(x)
                recon = sae.decode(acts)
        elif e["format"] == "sparsify":
            from sparsify import SparseCoder

            sc = SparseCoder.load_from_disk(str(FIX / e["path"]), device="cpu")
            with torch.no_grad():
                top_acts, top_idx, _ = sc.encode(x)
                acts = torch.zeros(x.shape[0], sc.num_latents).scatter(-1, top_idx, top_acts)
                recon = sc.decode(top_acts, top_idx)
        elif e["format"] == "safesail":
            sd = torch.load(str(FIX / e["path"]), map_location="cpu", weights_only=True)
            c = int(e["options"]["component"])
            # Safe-SAIL sae.py: x - pre_encoder_bias, einsum with encoder.weight, + encoder.bias
            pre = (x - sd["pre_encoder_bias._bias_reference"][c]) @ sd["encoder.weight"][c].T + sd["encoder.bias"][c]
            if "encoder.theta" in sd:
                acts = pre * (pre > sd["encoder.theta"][c]).to(pre.dtype)
            else:
                acts = safesail_topk_relu(pre, int(e["options"]["activation"].split(":")[1]))
            # sparse_autoencoder UnitNormDecoder: weight [C, n_in, n_learned]; + post-decoder bias
            recon = acts @ sd["decoder.weight"][c].T + sd["post_decoder_bias._bias_reference"][c]
            assert sd["tied_bias"].data_ptr() == sd["pre_encoder_bias._bias_reference"].data_ptr()
        elif e["format"] == "gemmascope":
            z = np.load(str(FIX / e["path"]))
            p = {k: torch.from_numpy(z[k]) for k in z.files}
            # the reference JumpReLU from the Gemma Scope tutorial
            pre = x @ p["W_enc"] + p["b_enc"]
            acts = (pre > p["threshold"]) * F.relu(pre)
            recon = acts @ p["W_dec"] + p["b_dec"]
        elif e["format"] == "dictionary_learning":
            acts, recon = dictionary_learning_encode(e, x)
        else:
            raise ValueError(e["format"])
        all_ok &= close(acts, ref["acts"], "acts")
        all_ok &= close(recon, ref["recon"], "recon")
    print("ALL OK" if all_ok else "MISMATCH")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
