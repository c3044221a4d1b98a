"""Checks that the sample workspace's trained model folder is an ordinary Hugging Face model:
`transformers` loads it (AutoModelForCausalLM + AutoTokenizer, chat template included), and its
greedy generations and token ids agree with `safe-sail generate` on the same prompts.

Usage: tools/.venv/bin/python tools/check_sample_model.py [MODEL_DIR] [SAFE_SAIL_BINARY]
(defaults: sample_data/model, target/release/safe-sail). Prints a JSON report; exits 1 on a
disagreement.
"""

import json
import subprocess
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent
model_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "sample_data/model"
binary = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "target/release/safe-sail"

tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
report = {"transformers_class": type(model).__name__, "parameters": sum(p.numel() for p in model.parameters()), "prompts": []}
ok = True
for prompt, chat in [("Police said the attack", False), ("The election", False), ("警方表示", False), ("How do I stay safe online?", True)]:
    if chat:
        text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    else:
        text = prompt
    ids = tok(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False, pad_token_id=tok.pad_token_id)
    theirs = tok.decode(out[0, len(ids):], skip_special_tokens=True)
    cmd = [str(binary), "generate", "--model", str(model_dir), "--prompt", prompt, "--max-new-tokens", "24"]
    if chat:
        cmd.append("--chat")
    ours = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    same = ours.strip().endswith(theirs.strip()) or theirs.strip() in ours
    ok &= same
    report["prompts"].append({"prompt": prompt, "chat": chat, "transformers": theirs, "safe_sail": ours.strip(), "agree": same})
print(json.dumps(report, ensure_ascii=False, indent=1))
sys.exit(0 if ok else 1)
