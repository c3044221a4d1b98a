#!/usr/bin/env python3
"""Our trained SAEs as SAELens reads them: loads three of the sample's SAEs (written by
`safe-sail train-sae`, one per architecture) with the real `sae-lens` package
(`SAE.load_from_disk`, float32), checks that it keeps their hook and model name, encodes fixed
random inputs, and writes inputs and latents to tests/fixtures/saelens_roundtrip/ for
tests/reference.rs, which encodes the same inputs with our loader (within 1e-4, same active
sets).

It also reads the `sparsity.safetensors` that `safe-sail export sparsity` wrote beside the
sample's SAEs that have a feature store, through SAELens's own loader
(`sae_lens_huggingface_loader`, with the Hub download pointed at the local folder), checks it
is log10(density + 1e-10) of the store's densities, and saves what SAELens read to
tests/fixtures/saelens_roundtrip/sparsity_read.safetensors (tests/reference.rs compares our
reader with it).

Needs `pip install sae-lens` (6.54 was used). Run from the repository root:

    python tools/make_saelens_roundtrip.py
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from safetensors.torch import save_file

warnings.filterwarnings("ignore")
from sae_lens import SAE, __version__  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "saelens_roundtrip"
SAES = [
    "L1-mlp_out-w512-topk16",
    "L1-mlp_out-w512-relu-l1_0.15",
    "L1-mlp_out-w512-jumprelu-l0_0.01",
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(20261201)
    tensors = {}
    meta = {"sae_lens_version": __version__, "saes": {}}
    x = None
    for name in SAES:
        path = ROOT / "sample_data" / "saes" / name
        sae = SAE.load_from_disk(str(path), device="cpu", dtype="float32")
        md = sae.cfg.metadata
        cfg = json.loads((path / "cfg.json").read_text())
        assert md.hook_name == cfg["metadata"]["hook_name"], (name, md.hook_name)
        assert md.model_name == cfg["metadata"]["model_name"], (name, md.model_name)
        if x is None:
            # Inputs on the scale of the SAE's training data: b_dec plus noise.
            x = sae.b_dec.detach() + torch.randn(8, sae.cfg.d_in, generator=g) * 0.5
            tensors["x"] = x.contiguous()
        with torch.no_grad():
            f = sae.encode(x)
        tensors[name] = f.contiguous()
        meta["saes"][name] = {
            "class": type(sae).__name__,
            "hook_name": md.hook_name,
            "model_name": md.model_name,
            "active": int((f > 0).sum()),
        }
    save_file(tensors, str(OUT / "latents.safetensors"))
    (OUT / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))


SPARSITY_SAES = [f"L{layer}-mlp_out-w1024-topk16" for layer in (1, 2, 3)]


def check_sparsity() -> None:
    """SAELens reads our sparsity.safetensors as the store's log10 densities."""
    import pyarrow.parquet as pq
    from sae_lens.constants import SPARSITY_FILENAME
    from sae_lens.loading import pretrained_sae_loaders as loaders

    saes = ROOT / "sample_data" / "saes"

    def local_download(repo_id: str, filename: str, **_kw) -> str:
        path = Path(repo_id) / filename
        if not path.exists():
            raise loaders.EntryNotFoundError(str(path))
        return str(path)

    loaders.hf_hub_download = local_download  # the loader's own reading code, on local files
    out = {}
    for name in SPARSITY_SAES:
        assert (saes / name / SPARSITY_FILENAME).exists(), name
        _cfg, _state, log_sparsity = loaders.sae_lens_huggingface_loader(str(saes), name)
        assert log_sparsity is not None, name
        feats = pq.read_table(
            str(ROOT / "sample_data" / "stores" / name / "features.parquet"),
            columns=["latent", "density"],
        ).to_pydict()
        want = torch.full((log_sparsity.shape[0],), -10.0, dtype=torch.float64)
        for latent, density in zip(feats["latent"], feats["density"]):
            want[latent] = torch.log10(torch.tensor(density + 1e-10, dtype=torch.float64))
        err = (log_sparsity.double() - want).abs().max().item()
        assert err < 1e-6, (name, err)
        # The SAE folder still loads with the file beside it.
        SAE.load_from_disk(str(saes / name), device="cpu", dtype="float32")
        out[name] = log_sparsity.float().contiguous()
        print(f"{name}: sparsity read by sae_lens, {log_sparsity.shape[0]} latents, max error {err:.1e}")
    save_file(out, str(OUT / "sparsity_read.safetensors"))


if __name__ == "__main__":
    main()
    check_sparsity()
