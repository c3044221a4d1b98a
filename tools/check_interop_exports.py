#!/usr/bin/env python3
"""Checks what `safe-sail export neuronpedia` and `safe-sail export dashboard` write against
the committed JSON schemas (tests/fixtures/interop/*.schema.json) with the Python `jsonschema`
package (Draft 2020-12), the independent check beside the Rust one in tests/interop.rs.

Needs `pip install jsonschema`. Run from the repository root after building:

    safe-sail export neuronpedia --store sample_data/stores/L1-mlp_out-w1024-topk16 \\
        --db sample_data/neurons.json --out /tmp/np
    safe-sail export dashboard --store sample_data/stores/L1-mlp_out-w1024-topk16 \\
        --db sample_data/neurons.json --latents 0,5,17 --out /tmp/dash.json
    python tools/check_interop_exports.py --neuronpedia /tmp/np --dashboard /tmp/dash.json
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "tests" / "fixtures" / "interop"


def rows(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                yield i, json.loads(line)


def check_neuronpedia(out: Path) -> None:
    schema = json.loads((SCHEMAS / "neuronpedia.schema.json").read_text())
    counts = {}
    for kind in ("features", "activations", "explanations", "explanation_scores"):
        sub = {"$schema": schema["$schema"], "$defs": schema["$defs"],
               "$ref": f"#/$defs/{kind[:-1]}"}
        v = Draft202012Validator(sub)
        n = 0
        for f in sorted(out.glob(f"*/*/{kind}/batch-*.jsonl*")):
            for i, row in rows(f):
                errors = list(v.iter_errors(row))
                assert not errors, f"{f} line {i}: {errors[0].message}"
                n += 1
        assert n > 0 or kind in ("explanations", "explanation_scores"), f"no {kind} rows under {out}"
        counts[kind] = n
    print(f"neuronpedia export {out}: {counts} rows, all valid")


def check_dashboard(path: Path) -> None:
    schema = json.loads((SCHEMAS / "dashboard.schema.json").read_text())
    data = json.loads(path.read_text(encoding="utf-8"))
    errors = list(Draft202012Validator(schema).iter_errors(data))
    assert not errors, f"{path}: {errors[0].message} at {list(errors[0].path)}"
    print(f"dashboard {path}: {len(data['features'])} features, valid")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--neuronpedia", type=Path)
    p.add_argument("--dashboard", type=Path)
    a = p.parse_args()
    if a.neuronpedia:
        check_neuronpedia(a.neuronpedia)
    if a.dashboard:
        check_dashboard(a.dashboard)


if __name__ == "__main__":
    main()
