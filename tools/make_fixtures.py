#!/usr/bin/env python3
"""Build the tiny reference fixtures in tests/fixtures/.

Everything here is random-weight and tiny (hidden 64, vocab ~600) so that the Rust
test-suite can compare its own model / tokenizer / SAE implementations against
Hugging Face `transformers` + PyTorch without any network access.

Run from the repository root:

    tools/.venv/bin/python tools/make_fixtures.py

The script is deterministic (fixed seeds, single-threaded torch) and rewrites
tests/fixtures/ from scratch each time (tests/fixtures/README.md, the hand-made
tests/fixtures/workspace/ and the crashers written by tests/fuzz.rs are kept).
`--only qwen3,dictionary_learning` rebuilds just those sets (issue #15) and touches nothing else
but their entries at the end of saes/manifest.json. With `--release-only` it rewrites only
tests/fixtures/release (the Safe-SAIL release layout).
See tests/fixtures/README.md for a description of every file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    Gemma2Config,
    Gemma2ForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

torch.set_num_threads(1)  # determinism + the dev machines have 2 cores
transformers.logging.set_verbosity_error()

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
TOK_DIR = FIX / "tokenizer"
MODELS = FIX / "models"
REFS = FIX / "refs"
SAES = FIX / "saes"

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TARGET_VOCAB = 600  # including the 3 special tokens

HIDDEN = 64
N_HEADS = 4
N_KV = 2
HEAD_DIM = 16
INTER = 128
MAX_POS = 256
EPS = 1e-6

# --------------------------------------------------------------------------------------
# 1. Tokenizer
# --------------------------------------------------------------------------------------

CORPUS = [
    # English: neutral topics
    "The quick brown fox jumps over the lazy dog. The lazy dog sleeps in the warm sun.",
    "Today the weather is very good, so we are going to the park for a walk.",
    "The park is quiet in the morning. Children play, birds sing, and the river flows.",
    "A good answer is clear and honest. A helpful assistant explains the answer step by step.",
    "How do elections work? Citizens register, candidates campaign, and people vote on election day.",
    "In an election, every vote is counted. The results are reported by the election commission.",
    "Politics is the process of making decisions for a group. Democracy depends on free and fair elections.",
    "The government passed a new law about schools, hospitals, roads and the environment.",
    "She reads books about history, science, music and cooking. He likes football and chess.",
    "The model was trained on text. The tokenizer splits text into tokens, and each token has an id.",
    "Please write a short story about a cat, a dog and a bird who become friends.",
    "The weather today is sunny with a light wind. Tomorrow it will rain in the afternoon.",
    "Water boils at one hundred degrees. Ice melts when the temperature rises above zero.",
    "The computer program reads the input, computes the answer, and prints the output.",
    "Language models predict the next token. Sparse autoencoders find features inside the model.",
    "Safety research studies how models behave, which features fire, and why they refuse harmful requests.",
    # English: safety-ish
    "Violence is never the answer. Violence hurts people and communities.",
    "The attack on the city was condemned. An attack on civilians is a crime.",
    "A weapon can be dangerous. Weapons, guns and explosives are strictly controlled.",
    "Terrorism and terrorist attacks spread fear. The police stopped the attack before it started.",
    "Hate speech, threats and harassment are not allowed. Report violence to the police.",
    "The assistant refuses to help build a weapon or plan an attack, and suggests peaceful options instead.",
    "Political violence threatens democracy. Election fraud, extremism and propaganda are serious problems.",
    "Drugs, fraud, hacking and stealing are illegal. Do not help with crime.",
    # Chinese
    "今天天气很好，我们去公园散步吧。",
    "今天天气很好，公园里有很多人，我们一起去散步。",
    "暴力不是解决问题的办法。暴力会伤害别人，也会伤害自己。",
    "政治是管理国家的事情。选举如何进行？公民投票，选出代表。",
    "武器很危险，不能随便使用。恐怖主义和恐怖袭击让人害怕。",
    "我们应该用和平的办法解决问题，而不是用暴力。",
    "这个模型可以回答问题，也可以写文章。它是一个有帮助的助手。",
    "选举的结果由选举委员会公布。每一张选票都很重要。",
    "请写一个关于猫和狗的故事。猫和狗成为了好朋友。",
    "科学、历史、音乐和体育都是有趣的话题。",
    "恐怖分子的攻击被警察阻止了。政治暴力威胁社会安全。",
    "你好，世界！今天我们学习语言模型和稀疏自编码器。",
    # mixed / misc
    "Hello 世界! Hello world! 你好 world.",
    "Numbers: 1 2 3 10 42 100 2024. Symbols: ( ) [ ] { } < > | / \\ - _ + = * & ^ % $ # @ !",
    "  two  spaces\n\nnew line \n\tTab and    many spaces.\n",
    "user assistant system: You are a helpful assistant. You are a careful assistant.",
]
# repeat the corpus a little so frequent pairs clearly beat rare ones
CORPUS = CORPUS * 3


QWEN_STYLE_CHAT_TEMPLATE = (
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    "    {%- else %}\n"
    "        {{- 'You are a helpful assistant.' }}\n"
    "    {%- endif %}\n"
    "    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n"
    "You are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n"
    "    {%- for tool in tools %}\n"
    "        {{- \"\\n\" }}\n"
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    "    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, "
    "\\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n"
    "{%- else %}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "    {%- else %}\n"
    "        {{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or "
    "(message.role == \"assistant\" and not message.tool_calls) %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    "    {%- elif message.role == \"assistant\" %}\n"
    "        {{- '<|im_start|>' + message.role }}\n"
    "        {%- if message.content %}\n"
    "            {{- '\\n' + message.content }}\n"
    "        {%- endif %}\n"
    "        {%- for tool_call in message.tool_calls %}\n"
    "            {%- if tool_call.function is defined %}\n"
    "                {%- set tool_call = tool_call.function %}\n"
    "            {%- endif %}\n"
    "            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n"
    "            {{- tool_call.name }}\n"
    "            {{- '\", \"arguments\": ' }}\n"
    "            {{- tool_call.arguments | tojson }}\n"
    "            {{- '}\\n</tool_call>' }}\n"
    "        {%- endfor %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"tool\" %}\n"
    "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n"
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {{- message.content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n"
)

TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]


def build_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=TARGET_VOCAB - len(SPECIALS),
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    # Specials are appended after the BPE vocab, like Qwen2 (ids = vocab.len() + i).
    tok.add_special_tokens(
        [AddedToken(s, special=True, normalized=False, lstrip=False, rstrip=False, single_word=False) for s in SPECIALS]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        model_max_length=256,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
        errors="replace",
        chat_template=QWEN_STYLE_CHAT_TEMPLATE,
    )
    return fast


def save_tokenizer(fast: PreTrainedTokenizerFast, out: Path, style: str = "hub") -> None:
    """style="hub": files shaped like a real Qwen2.5-Instruct repo (transformers 4.x era):
    tokenizer_config.json with inline `chat_template`, `added_tokens_decoder`,
    `additional_special_tokens`, tokenizer_class PreTrainedTokenizerFast.
    style="v5": exactly what transformers 5 writes (chat_template.jinja next to a
    tokenizer_config.json without chat_template, `extra_special_tokens`, TokenizersBackend)."""
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out))
    if style == "v5":
        return
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    jinja = out / "chat_template.jinja"
    template = cfg.pop("chat_template", None)
    if template is None:
        template = jinja.read_text() if jinja.exists() else QWEN_STYLE_CHAT_TEMPLATE
    if jinja.exists():
        jinja.unlink()
    tj = json.loads((out / "tokenizer.json").read_text())
    added = {
        str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
        for t in tj["added_tokens"]
    }
    extra = cfg.pop("extra_special_tokens", None) or cfg.pop("additional_special_tokens", None) or []
    cfg.pop("backend", None)
    new = {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "additional_special_tokens": extra,
        "bos_token": None,
        "chat_template": template,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 256,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": None,
    }
    for k, v in cfg.items():
        new.setdefault(k, v)
    cfg_path.write_text(json.dumps(new, indent=2, ensure_ascii=False) + "\n")


def tokenizer_refs(tok_dir: Path) -> dict:
    raw = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    hf = AutoTokenizer.from_pretrained(str(tok_dir))
    enc_cases = [
        ("english", "The quick brown fox jumps over the lazy dog. Violence is never the answer."),
        ("chinese", "今天天气很好，我们去公园散步吧。"),
        ("mixed_emoji", "Hello 世界 🙂!"),
        ("spaces_newlines", "  two  spaces\n\nnew line "),
        ("literal_special", "<|im_start|>user\nhi<|im_end|>"),
        ("empty", ""),
        ("safety_zh", "暴力和恐怖袭击，政治与武器。"),
    ]
    encode = []
    for name, text in enc_cases:
        e = raw.encode(text, add_special_tokens=False)
        ids_hf = hf(text, add_special_tokens=False).input_ids
        assert list(e.ids) == list(ids_hf), (name, e.ids, ids_hf)
        # round trip
        assert raw.decode(e.ids, skip_special_tokens=False) == text, name
        encode.append(
            {
                "name": name,
                "text": text,
                "ids": list(e.ids),
                "tokens": list(e.tokens),
                "offsets": [list(o) for o in e.offsets],
            }
        )
    chat_cases = [
        ("user_only_gen", [{"role": "user", "content": "Hello, who are you?"}], True),
        ("user_only_nogen", [{"role": "user", "content": "Hello, who are you?"}], False),
        (
            "system_user_assistant",
            [
                {"role": "system", "content": "You are a careful assistant."},
                {"role": "user", "content": "Is violence ever the answer?"},
                {"role": "assistant", "content": "No. Violence is never the answer."},
            ],
            False,
        ),
        ("chinese_user", [{"role": "user", "content": "选举如何进行？暴力不是解决问题的办法。"}], True),
    ]
    chat = []
    for name, messages, gen in chat_cases:
        rendered = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
        ids = hf(rendered, add_special_tokens=False).input_ids
        ids2 = hf.apply_chat_template(messages, tokenize=True, add_generation_prompt=gen)
        if not isinstance(ids2, list):  # transformers 5 returns a BatchEncoding by default
            ids2 = ids2["input_ids"]
        assert list(ids2) == list(ids), name
        chat.append({"name": name, "messages": messages, "add_generation_prompt": gen, "rendered": rendered, "ids": ids})
    return {"encode": encode, "chat": chat}


# --------------------------------------------------------------------------------------
# 2. Models
# --------------------------------------------------------------------------------------


def classic_config(path: Path, keep_v5_keys: bool = False) -> None:
    """Rewrite a transformers-5 config.json into the classic hub format.

    transformers 5 writes `rope_parameters` (incl. rope_theta) and `dtype`. Real hub
    checkpoints (Qwen2.5, Llama-3.x, gemma-2, gpt2) use `rope_theta` + `rope_scaling` and
    `torch_dtype`. transformers 5 still reads the classic keys (checked by reloading).
    """
    cfg = json.loads(path.read_text())
    if keep_v5_keys:
        # keep transformers-5 `rope_parameters` / `dtype`, but also state `torch_dtype`
        # (what every pre-5 checkpoint uses), so either dtype key can be read.
        if "dtype" in cfg:
            cfg["torch_dtype"] = cfg["dtype"]
        path.write_text(json.dumps(dict(sorted(cfg.items())), indent=2) + "\n")
        return
    rp = cfg.pop("rope_parameters", None)
    if rp is not None:
        rp = dict(rp)
        cfg["rope_theta"] = rp.pop("rope_theta")
        if rp.get("rope_type", "default") == "default":
            cfg["rope_scaling"] = None
        else:
            cfg["rope_scaling"] = rp
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg.pop("dtype")
    path.write_text(json.dumps(dict(sorted(cfg.items())), indent=2) + "\n")


def rerandomize(model: torch.nn.Module, arch: str, seed: int, qk_std: float | None = None,
                embed_std: float = 1.0) -> None:
    g = torch.Generator().manual_seed(seed)

    def normal(shape, mean, std):
        return torch.randn(shape, generator=g, dtype=torch.float32) * std + mean

    seen = set()
    with torch.no_grad():
        for name, p in model.named_parameters(remove_duplicate=True):
            if id(p) in seen:
                continue
            seen.add(id(p))
            is_norm = any(s in name for s in ("norm", "ln_")) and p.ndim == 1
            if name.endswith("embed_tokens.weight"):
                new = normal(p.shape, 0.0, embed_std)
            elif name.endswith("wte.weight") or name.endswith("wpe.weight"):
                new = normal(p.shape, 0.0, 0.3)
            elif is_norm and name.endswith("weight"):
                new = normal(p.shape, 0.0, 0.1) if arch == "gemma2" else normal(p.shape, 1.0, 0.1)
            elif is_norm and name.endswith("bias"):
                new = normal(p.shape, 0.0, 0.1)
            elif p.ndim == 2:
                std = 0.15
                if qk_std is not None and (name.endswith("q_proj.weight") or name.endswith("k_proj.weight")):
                    std = qk_std
                new = normal(p.shape, 0.0, std)
            elif p.ndim == 1:
                new = normal(p.shape, 0.0, 0.1)
            else:
                raise ValueError(name)
            p.copy_(new.to(p.dtype))


def common_ids(tok) -> dict:
    return dict(
        bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
    )


def make_config(arch: str, vocab: int, ids: dict, n_layers: int = 3, tie: bool = True):
    if arch == "qwen2":
        return Qwen2Config(
            vocab_size=vocab, hidden_size=HIDDEN, num_hidden_layers=3, num_attention_heads=N_HEADS,
            num_key_value_heads=N_KV, intermediate_size=INTER, max_position_embeddings=MAX_POS,
            rms_norm_eps=EPS, tie_word_embeddings=True, rope_theta=1000000.0, use_sliding_window=False,
            hidden_act="silu", max_window_layers=3, **ids,
        )
    if arch == "llama":
        return LlamaConfig(
            vocab_size=vocab, hidden_size=HIDDEN, num_hidden_layers=3, num_attention_heads=N_HEADS,
            num_key_value_heads=N_KV, head_dim=HEAD_DIM, intermediate_size=INTER, max_position_embeddings=MAX_POS,
            rms_norm_eps=EPS, tie_word_embeddings=False, rope_theta=500000.0,
            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 64},
            attention_bias=False, mlp_bias=False, hidden_act="silu", **ids,
        )
    if arch == "gemma2":
        return Gemma2Config(
            vocab_size=vocab, hidden_size=HIDDEN, num_hidden_layers=4, num_attention_heads=N_HEADS,
            num_key_value_heads=N_KV, head_dim=HEAD_DIM, intermediate_size=INTER, max_position_embeddings=MAX_POS,
            rms_norm_eps=EPS, query_pre_attn_scalar=24, attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
            sliding_window=4, hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True, rope_theta=10000.0,
            **ids,
        )
    if arch == "qwen3":
        return Qwen3Config(
            vocab_size=vocab, hidden_size=HIDDEN, num_hidden_layers=n_layers, num_attention_heads=N_HEADS,
            num_key_value_heads=N_KV, head_dim=QWEN3_HEAD_DIM, intermediate_size=INTER,
            max_position_embeddings=MAX_POS, rms_norm_eps=EPS, tie_word_embeddings=tie, rope_theta=1000000.0,
            attention_bias=False, use_sliding_window=False, max_window_layers=n_layers, hidden_act="silu", **ids,
        )
    if arch == "gpt2":
        return GPT2Config(
            vocab_size=vocab, n_embd=HIDDEN, n_layer=3, n_head=N_HEADS, n_positions=MAX_POS, n_inner=INTER,
            activation_function="gelu_new", layer_norm_epsilon=EPS, tie_word_embeddings=True, **ids,
        )
    raise ValueError(arch)


MODEL_CLASSES = {"qwen2": Qwen2ForCausalLM, "llama": LlamaForCausalLM, "gemma2": Gemma2ForCausalLM, "gpt2": GPT2LMHeadModel,
                 "qwen3": Qwen3ForCausalLM}


def copy_tokenizer(dst: Path, src: Path = TOK_DIR) -> None:
    for f in TOKENIZER_FILES:
        if (src / f).exists():
            shutil.copy(src / f, dst / f)


def greedy_manual(arch, sd, mcfg, prompt_ids, n=12):
    """Greedy decoding with the float64 re-implementation: (new ids, smallest top1-top2 gap)."""
    seq, gaps = list(prompt_ids), []
    for _ in range(n):
        logits = manual_forward(arch, sd, mcfg, seq)["logits"][-1]
        top = torch.topk(logits, 2)
        gaps.append(float(top.values[0] - top.values[1]))
        seq.append(int(top.indices[0]))
    return seq[len(prompt_ids):], min(gaps)


def flat_config(model) -> dict:
    mcfg = model.config.to_dict()
    if "rope_parameters" in mcfg or "rope_theta" in mcfg:
        rp = mcfg.get("rope_parameters") or {}
        mcfg["rope_theta"] = rp.get("rope_theta", mcfg.get("rope_theta"))
        mcfg["rope_scaling"] = rp if rp.get("rope_type", "default") != "default" else None
    return mcfg


def build_model(name: str, arch: str, seed: int, tok, prompt_ids, dtype=torch.float32, qk_std=None,
                embed_std=1.0, keep_v5_keys=False, fast=None, n_layers=3, tie=True, tok_src=TOK_DIR):
    """Pick the first seed >= `seed` whose greedy continuation of `prompt_ids` is varied and
    has clear argmax margins (so float rounding in another implementation cannot flip it)."""
    vocab = len(tok)
    cfg = make_config(arch, vocab, common_ids(tok), n_layers=n_layers, tie=tie)
    for s in range(seed, seed + 40):
        torch.manual_seed(s)
        model = MODEL_CLASSES[arch](cfg)
        rerandomize(model, arch, s, qk_std=qk_std, embed_std=embed_std)
        model.eval()
        if dtype != torch.float32:
            model = model.to(dtype)
        sd = {k: v.float() for k, v in model.state_dict().items()}
        new, gap = greedy_manual(arch, sd, flat_config(model), prompt_ids)
        if gap >= 0.05 and len(set(new)) >= 4:
            break
        print(f"  {name}: seed {s} rejected (greedy {new}, min gap {gap:.4f})")
    else:
        raise RuntimeError(f"no good seed for {name}")
    out = MODELS / name
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    classic_config(out / "config.json", keep_v5_keys=keep_v5_keys)
    if keep_v5_keys:
        save_tokenizer(fast, out, style="v5")  # config AND tokenizer files exactly as transformers 5 writes them
    else:
        copy_tokenizer(out, tok_src)
    return out, s


def load_ref_model(path: Path):
    m = AutoModelForCausalLM.from_pretrained(str(path), attn_implementation="eager", dtype=torch.float32)
    m.eval()
    return m


def safetensors_keys(path: Path) -> dict:
    with safe_open(str(path), "pt") as f:
        return {k: (str(f.get_slice(k).get_dtype()), f.get_slice(k).get_shape()) for k in f.keys()}


# --------------------------------------------------------------------------------------
# Independent re-implementation (float64) used only to cross-check transformers.
# --------------------------------------------------------------------------------------


def default_inv_freq(theta: float, dim: int) -> torch.Tensor:
    return 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))


def llama3_inv_freq(theta, dim, factor, low, high, orig):
    inv = default_inv_freq(theta, dim)
    low_wl = orig / low
    high_wl = orig / high
    wl = 2 * math.pi / inv
    out = torch.where(wl > low_wl, inv / factor, inv)
    smooth = (orig / wl - low) / (high - low)
    smoothed = (1 - smooth) * out / factor + smooth * out
    medium = (wl >= high_wl) & (wl <= low_wl)
    return torch.where(medium, smoothed, out)


def rope(x, pos, inv):  # x [T, H, D] non-interleaved (rotate_half)
    freqs = pos[:, None].double() * inv[None, :]
    emb = torch.cat([freqs, freqs], -1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    d = x.shape[-1] // 2
    rot = torch.cat([-x[..., d:], x[..., :d]], -1)
    return x * cos + rot * sin


def attention(q, k, v, scale, softcap=None, window=None):
    # q [T,H,D], k/v [T,KV,D]
    T, H, _ = q.shape
    rep = H // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    s = torch.einsum("thd,shd->hts", q, k) * scale
    if softcap is not None:
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        _ATTN_LOGIT_MAX.append(float(s[:, causal].abs().max()))
        s = torch.tanh(s / softcap) * softcap
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    allowed = j <= i
    if window is not None:
        allowed = allowed & (j > i - window)  # a window of `window` keys incl. the query itself
    s = s.masked_fill(~allowed[None], float("-inf"))
    p = torch.softmax(s, -1)
    return torch.einsum("hts,shd->thd", p, v).reshape(T, -1)


_ATTN_LOGIT_MAX: list = []


def attn_logit_absmax(sd, cfg, ids):
    """Largest |q.k * scale| before soft-capping over all Gemma2 layers (for the README)."""
    _ATTN_LOGIT_MAX.clear()
    manual_forward("gemma2", sd, cfg, ids)
    return max(_ATTN_LOGIT_MAX)


def manual_forward(arch: str, sd: dict, cfg: dict, ids: list[int]) -> dict:
    W = {k: v.double() for k, v in sd.items()}
    T = len(ids)
    pos = torch.arange(T)
    ids_t = torch.tensor(ids)
    acts = {}

    def lin(x, p, bias=True):
        y = x @ W[p + ".weight"].T
        if bias and (p + ".bias") in W:
            y = y + W[p + ".bias"]
        return y

    if arch == "gpt2":
        def ln(x, p):
            mu = x.mean(-1, keepdim=True)
            var = ((x - mu) ** 2).mean(-1, keepdim=True)
            return (x - mu) / torch.sqrt(var + cfg["layer_norm_epsilon"]) * W[p + ".weight"] + W[p + ".bias"]

        def gelu_new(x):
            return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))

        pre = "transformer."
        x = W[pre + "wte.weight"][ids_t] + W[pre + "wpe.weight"][pos]
        nh = cfg["n_head"]
        hd = cfg["n_embd"] // nh
        for L in range(cfg["n_layer"]):
            p = f"{pre}h.{L}."
            acts[f"blocks.{L}.hook_resid_pre"] = x
            h = ln(x, p + "ln_1")
            qkv = h @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]  # Conv1D: [in, out]
            q, k, v = qkv.split(cfg["n_embd"], -1)
            a = attention(q.view(T, nh, hd), k.view(T, nh, hd), v.view(T, nh, hd), 1 / math.sqrt(hd))
            a = a @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
            acts[f"blocks.{L}.hook_attn_out"] = a
            x = x + a
            h = ln(x, p + "ln_2")
            m = gelu_new(h @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"])
            m = m @ W[p + "mlp.c_proj.weight"] + W[p + "mlp.c_proj.bias"]
            acts[f"blocks.{L}.hook_mlp_out"] = m
            x = x + m
            acts[f"blocks.{L}.hook_resid_post"] = x
        x = ln(x, pre + "ln_f")
        acts["logits"] = x @ W[pre + "wte.weight"].T
        return acts

    gemma = arch == "gemma2"
    eps = cfg["rms_norm_eps"]

    def rms(x, p):
        y = x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)
        w = W[p + ".weight"]
        return y * (1 + w) if gemma else y * w

    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or cfg["hidden_size"] // nh
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type") == "llama3":
        inv = llama3_inv_freq(cfg["rope_theta"], hd, rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"],
                              rs["original_max_position_embeddings"])
    else:
        inv = default_inv_freq(cfg["rope_theta"], hd)
    x = W["model.embed_tokens.weight"][ids_t]
    if gemma:
        x = x * torch.tensor(cfg["hidden_size"] ** 0.5, dtype=torch.float32).double()
    layer_types = cfg.get("layer_types") or (
        ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(cfg["num_hidden_layers"])]
        if gemma else ["full_attention"] * cfg["num_hidden_layers"])
    for L in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{L}."
        acts[f"blocks.{L}.hook_resid_pre"] = x
        h = rms(x, p + "input_layernorm")
        q = lin(h, p + "self_attn.q_proj").view(T, nh, hd)
        k = lin(h, p + "self_attn.k_proj").view(T, nkv, hd)
        v = lin(h, p + "self_attn.v_proj").view(T, nkv, hd)
        if p + "self_attn.q_norm.weight" in W:  # Qwen3: RMS norm over each head's queries / keys
            q, k = rms(q, p + "self_attn.q_norm"), rms(k, p + "self_attn.k_norm")
        q, k = rope(q, pos, inv), rope(k, pos, inv)
        if gemma:
            scale = cfg["query_pre_attn_scalar"] ** -0.5
            window = cfg["sliding_window"] if layer_types[L] == "sliding_attention" else None
            a = attention(q, k, v, scale, softcap=cfg["attn_logit_softcapping"], window=window)
        else:
            a = attention(q, k, v, hd**-0.5)
        a = lin(a, p + "self_attn.o_proj")
        if gemma:
            a = rms(a, p + "post_attention_layernorm")
        acts[f"blocks.{L}.hook_attn_out"] = a
        x = x + a
        h = rms(x, p + ("pre_feedforward_layernorm" if gemma else "post_attention_layernorm"))
        gate = lin(h, p + "mlp.gate_proj")
        if gemma:
            act = 0.5 * gate * (1 + torch.tanh(math.sqrt(2 / math.pi) * (gate + 0.044715 * gate**3)))
        else:
            act = gate * torch.sigmoid(gate)
        m = lin(act * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
        if gemma:
            m = rms(m, p + "post_feedforward_layernorm")
        acts[f"blocks.{L}.hook_mlp_out"] = m
        x = x + m
        acts[f"blocks.{L}.hook_resid_post"] = x
    x = rms(x, "model.norm")
    head = W["lm_head.weight"] if "lm_head.weight" in W else W["model.embed_tokens.weight"]
    logits = x @ head.T
    if gemma and cfg.get("final_logit_softcapping"):
        c = cfg["final_logit_softcapping"]
        logits = torch.tanh(logits / c) * c
    acts["logits"] = logits
    return acts


# --------------------------------------------------------------------------------------
# 3. Reference activations
# --------------------------------------------------------------------------------------


def layers_of(model, arch):
    return model.transformer.h if arch == "gpt2" else model.model.layers


def hook_modules(layer, arch):
    if arch == "gpt2":
        return layer.attn.c_proj, layer.mlp.c_proj
    if arch == "gemma2":
        return layer.post_attention_layernorm, layer.post_feedforward_layernorm
    return layer.self_attn.o_proj, layer.mlp.down_proj


def capture(model, arch: str, ids: list[int], attention_mask: list[int] | None = None) -> dict:
    acts = {}
    handles = []
    first = lambda o: o[0] if isinstance(o, (tuple, list)) else o  # noqa: E731
    for L, layer in enumerate(layers_of(model, arch)):
        def pre_hook(mod, args, kwargs, L=L):
            h = args[0] if args else kwargs["hidden_states"]
            acts[f"blocks.{L}.hook_resid_pre"] = h[0].detach().clone()

        def post_hook(mod, args, out, L=L):
            acts[f"blocks.{L}.hook_resid_post"] = first(out)[0].detach().clone()

        handles.append(layer.register_forward_pre_hook(pre_hook, with_kwargs=True))
        handles.append(layer.register_forward_hook(post_hook))
        attn_m, mlp_m = hook_modules(layer, arch)
        handles.append(attn_m.register_forward_hook(
            lambda m, a, o, L=L: acts.__setitem__(f"blocks.{L}.hook_attn_out", o[0].detach().clone())))
        handles.append(mlp_m.register_forward_hook(
            lambda m, a, o, L=L: acts.__setitem__(f"blocks.{L}.hook_mlp_out", o[0].detach().clone())))
    try:
        with torch.no_grad():
            kw = {} if attention_mask is None else {"attention_mask": torch.tensor([attention_mask])}
            out = model(input_ids=torch.tensor([ids]), use_cache=False, **kw)
    finally:
        for h in handles:
            h.remove()
    acts["logits"] = out.logits[0].detach().clone()
    return acts


def check_residual_identities(acts: dict, n_layers: int, name: str) -> None:
    for L in range(n_layers):
        pre, post = acts[f"blocks.{L}.hook_resid_pre"], acts[f"blocks.{L}.hook_resid_post"]
        s = pre + acts[f"blocks.{L}.hook_attn_out"] + acts[f"blocks.{L}.hook_mlp_out"]
        err = (s - post).abs().max().item()
        assert err < 1e-4 * max(1.0, post.abs().max().item()), (name, L, err)
        if L + 1 < n_layers:
            assert torch.equal(post, acts[f"blocks.{L + 1}.hook_resid_pre"]), (name, L)


def compare(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).abs().max() / max(1.0, b.double().abs().max().item())).item()


def greedy_check(model, prompt_ids, new_ids) -> float:
    """Recompute each greedy step without KV cache; return the smallest top1-top2 logit gap."""
    seq = list(prompt_ids)
    min_gap = float("inf")
    with torch.no_grad():
        for t in new_ids:
            logits = model(input_ids=torch.tensor([seq]), use_cache=False).logits[0, -1]
            top = torch.topk(logits, 2)
            assert int(top.indices[0]) == t, ("cached generate disagrees with uncached argmax", seq, t)
            min_gap = min(min_gap, float(top.values[0] - top.values[1]))
            seq.append(t)
    return min_gap


# --------------------------------------------------------------------------------------
# 4. SAEs
# --------------------------------------------------------------------------------------

D_IN = 64
D_SAE = 256
K = 8


def unit_rows(w: torch.Tensor) -> torch.Tensor:
    return w / w.norm(dim=-1, keepdim=True)


TOPK_MARGIN = 2e-3  # min gap between the k-th and (k+1)-th pre-activation, every row
THRESH_MARGIN = 2e-3  # min |pre - threshold| for JumpReLU latents, every row


def topk_margin(pre: torch.Tensor, k: int) -> float:
    """Smallest gap between the k-th and (k+1)-th largest value over rows."""
    v = torch.topk(pre, k + 1, dim=-1).values
    return float((v[:, k - 1] - v[:, k]).min())


def thresh_margin(pre: torch.Tensor, th: torch.Tensor) -> float:
    return float((pre - th).abs().min())


def fix_thresholds(g, pre: torch.Tensor, th: torch.Tensor) -> torch.Tensor:
    """Re-draw (from the same U(0.05, 0.3)) every threshold that some row's pre-activation lies
    within THRESH_MARGIN of, so that no reference sits on a JumpReLU discontinuity."""
    th = th.clone()
    for j in range(th.shape[0]):
        for _ in range(1000):
            if (pre[:, j] - th[j]).abs().min() >= THRESH_MARGIN:
                break
            th[j] = torch.rand((), generator=g) * 0.25 + 0.05
        else:
            raise RuntimeError("could not place threshold")
    return th


def pick_seed(gen_fn, check_fn, base_seed: int, min_margin=TOPK_MARGIN, tries=200):
    for s in range(base_seed, base_seed + tries):
        params = gen_fn(torch.Generator().manual_seed(s))
        m = check_fn(params)
        if m >= min_margin:
            return s, params, m
    raise RuntimeError("could not find well-separated SAE weights")


def saelens_params(g, arch):
    W_enc = torch.randn(D_IN, D_SAE, generator=g) * 0.2
    b_enc = torch.randn(D_SAE, generator=g) * 0.1 - 0.1
    W_dec = unit_rows(torch.randn(D_SAE, D_IN, generator=g))
    b_dec = torch.randn(D_IN, generator=g) * 0.1
    p = {"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": b_dec}
    if arch == "jumprelu":
        p["threshold"] = torch.rand(D_SAE, generator=g) * 0.25 + 0.05
    return p


def saelens_encode(p, x, arch, apply_b_dec):
    sae_in = x - p["b_dec"] if apply_b_dec else x
    pre = sae_in @ p["W_enc"] + p["b_enc"]
    if arch == "topk":
        v, i = torch.topk(pre, K, dim=-1)
        acts = torch.zeros_like(pre).scatter(-1, i, v.relu())
    elif arch == "jumprelu":
        acts = torch.relu(pre) * (pre > p["threshold"]).to(pre.dtype)
    else:
        acts = torch.relu(pre)
    return pre, acts, acts @ p["W_dec"] + p["b_dec"]


def safesail_params(g, jump):
    C = 2
    b = torch.randn(C, D_IN, generator=g) * 0.1
    enc_w = torch.randn(C, D_SAE, D_IN, generator=g) * 0.2
    enc_b = torch.randn(C, D_SAE, generator=g) * 0.1 - 0.1
    dec = torch.randn(C, D_IN, D_SAE, generator=g)
    dec = dec / dec.norm(dim=1, keepdim=True)  # unit-norm columns (one column per latent)
    p = {"bias": b, "encoder.weight": enc_w, "encoder.bias": enc_b, "decoder.weight": dec}
    if jump:
        p["encoder.theta"] = torch.rand(C, D_SAE, generator=g) * 0.25 + 0.05
    return p


def safesail_encode(p, x, c, jump):
    pre = (x - p["bias"][c]) @ p["encoder.weight"][c].T + p["encoder.bias"][c]
    if jump:
        acts = pre * (pre > p["encoder.theta"][c]).to(pre.dtype)
    else:
        kth = torch.topk(pre, K, dim=-1).values.min(dim=-1, keepdim=True).values
        acts = torch.relu(torch.where(pre < kth, torch.zeros_like(pre), pre))
    recon = acts @ p["decoder.weight"][c].T + p["bias"][c]
    return pre, acts, recon


def gemmascope_params(g):
    return {
        "W_enc": (torch.randn(D_IN, D_SAE, generator=g) * 0.2),
        "W_dec": unit_rows(torch.randn(D_SAE, D_IN, generator=g)),
        "b_enc": torch.randn(D_SAE, generator=g) * 0.1 - 0.1,
        "b_dec": torch.randn(D_IN, generator=g) * 0.1,
        "threshold": torch.rand(D_SAE, generator=g) * 0.25 + 0.05,
    }


def gemmascope_encode(p, x):
    pre = x @ p["W_enc"] + p["b_enc"]
    acts = torch.relu(pre) * (pre > p["threshold"]).to(pre.dtype)
    return pre, acts, acts @ p["W_dec"] + p["b_dec"]


def sparsify_params(g):
    return {
        "encoder.weight": torch.randn(D_SAE, D_IN, generator=g) * 0.2,
        "encoder.bias": torch.randn(D_SAE, generator=g) * 0.1 - 0.1,
        "W_dec": unit_rows(torch.randn(D_SAE, D_IN, generator=g)),
        "b_dec": torch.randn(D_IN, generator=g) * 0.1,
    }


def sparsify_encode(p, x):
    pre = torch.relu((x - p["b_dec"]) @ p["encoder.weight"].T + p["encoder.bias"])
    v, i = torch.topk(pre, K, dim=-1)
    acts = torch.zeros_like(pre).scatter(-1, i, v)
    return pre, acts, acts @ p["W_dec"] + p["b_dec"]


def build_saes(hook_inputs: dict) -> list:
    """hook_inputs[(model, hook)] -> f32 [seq, 64] activations for the `en` prompt."""
    SAES.mkdir(parents=True, exist_ok=True)
    (REFS / "saes").mkdir(parents=True, exist_ok=True)
    manifest = []

    def write_ref(name, x, acts, recon):
        path = REFS / "saes" / f"{name}.safetensors"
        save_file({"input": x.contiguous(), "acts": acts.contiguous(), "recon": recon.contiguous()}, str(path))
        frac = (acts > 0).float().mean().item()
        l0 = (acts > 0).float().sum(-1).mean().item()
        print(f"  sae {name:28s} L0={l0:6.2f} firing={frac:.3f} recon_max={recon.abs().max():.3f}")
        return str(path.relative_to(FIX))

    # --- SAELens v6 -------------------------------------------------------------------
    saelens_specs = [
        ("saelens_topk", "topk", True, ("qwen2", "blocks.1.hook_mlp_out"), 1001),
        ("saelens_jumprelu", "jumprelu", False, ("qwen2", "blocks.2.hook_resid_post"), 1101),
        ("saelens_standard_legacy", "standard", False, ("qwen2", "blocks.0.hook_mlp_out"), 1201),
    ]
    for name, arch, apply_b_dec, (model, hook), seed in saelens_specs:
        x = hook_inputs[(model, hook)]
        if arch == "topk":
            s, p, m = pick_seed(lambda g: saelens_params(g, arch),
                                lambda p: topk_margin(saelens_encode(p, x, arch, apply_b_dec)[0], K), seed)
        else:  # relu is continuous; jumprelu thresholds are moved off the data
            s, g = seed, torch.Generator().manual_seed(seed)
            p = saelens_params(g, arch)
            pre = saelens_encode(p, x, arch, apply_b_dec)[0]
            if arch == "jumprelu":
                p["threshold"] = fix_thresholds(g, pre, p["threshold"])
                m = thresh_margin(pre, p["threshold"])
            else:
                m = float(pre.abs().min())
        d = SAES / name
        d.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in p.items()}, str(d / "sae_weights.safetensors"))
        if arch == "standard":
            cfg = {  # pre-6.0 flat config (SAELens 3.x/4.x style)
                "model_name": "tiny-qwen2",
                "model_class_name": "HookedTransformer",
                "hook_point": hook,
                "hook_point_layer": 0,
                "hook_point_head_index": None,
                "d_in": D_IN,
                "d_sae": D_SAE,
                "activation_fn_str": "relu",
                "apply_b_dec_to_input": apply_b_dec,
                "finetuning_scaling_factor": False,
                "context_size": 128,
                "dataset_path": "tiny/dataset",
                "prepend_bos": False,
                "normalize_activations": "none",
                "dtype": "float32",
                "device": "cpu",
                "sae_lens_training_version": "3.13.0",
            }
            options = {}  # the legacy cfg records the hook as `hook_point`
        else:
            cfg = {
                "d_in": D_IN,
                "d_sae": D_SAE,
                "dtype": "float32",
                "device": "cpu",
                "apply_b_dec_to_input": apply_b_dec,
                "normalize_activations": "none",
                "reshape_activations": "none",
                "metadata": {
                    "sae_lens_version": "6.54.12",
                    "sae_lens_training_version": "6.54.12",
                    "model_name": "tiny-qwen2",
                    "hook_name": hook,
                    "hook_head_index": None,
                    "prepend_bos": False,
                    "context_size": 128,
                },
            }
            if arch == "topk":
                cfg["k"] = K
                cfg["rescale_acts_by_decoder_norm"] = False
            cfg["architecture"] = arch
            options = {}
        (d / "cfg.json").write_text(json.dumps(cfg, indent=2) + "\n")
        _, acts, recon = saelens_encode(p, x, arch, apply_b_dec)
        ref = write_ref(name, x, acts, recon)
        manifest.append({"name": name, "path": str(d.relative_to(FIX)), "format": "saelens", "model": model,
                         "hook": hook, "options": options, "ref": ref, "seed": s, "margin": m})

    # --- Safe-SAIL (ai-safety-foundation sparse_autoencoder state dicts) ---------------
    for fname, jump, hook, seed in [("safesail_topk.pt", False, "blocks.1.hook_mlp_out", 2001),
                                    ("safesail_jumprelu.pt", True, "blocks.2.hook_mlp_out", 2101)]:
        x = hook_inputs[("qwen2", hook)]

        if jump:
            s, g = seed, torch.Generator().manual_seed(seed)
            p = safesail_params(g, True)
            ms = []
            for c in range(2):
                pre = safesail_encode(p, x, c, True)[0]
                p["encoder.theta"][c] = fix_thresholds(g, pre, p["encoder.theta"][c])
                ms.append(thresh_margin(pre, p["encoder.theta"][c]))
            m = min(ms)
        else:
            s, p, m = pick_seed(lambda g: safesail_params(g, False),
                                lambda p: min(topk_margin(safesail_encode(p, x, c, False)[0], K) for c in range(2)),
                                seed)
        tied = p["bias"].clone()
        sd = {
            # One Parameter registered three times in the library; torch.save stores one storage.
            "tied_bias": tied,
            "pre_encoder_bias._bias_reference": tied,
            "encoder.weight": p["encoder.weight"].contiguous(),
            "encoder.bias": p["encoder.bias"].contiguous(),
        }
        if jump:
            sd["encoder.theta"] = p["encoder.theta"].contiguous()
        sd["decoder.weight"] = p["decoder.weight"].contiguous()
        sd["post_decoder_bias._bias_reference"] = tied
        torch.save(sd, str(SAES / fname))
        for c in range(2):
            _, acts, recon = safesail_encode(p, x, c, jump)
            name = f"{fname[:-3]}_c{c}"
            ref = write_ref(name, x, acts, recon)
            opts = {"hook": hook, "component": str(c)}
            if not jump:
                opts["activation"] = f"topk:{K}"
            manifest.append({"name": name, "path": f"saes/{fname}", "format": "safesail", "model": "qwen2",
                             "hook": hook, "options": opts, "ref": ref, "seed": s, "margin": m})
        # component 0 and 1 must really differ
        a0 = safesail_encode(p, x, 0, jump)[1]
        a1 = safesail_encode(p, x, 1, jump)[1]
        assert not torch.allclose(a0, a1)

    # --- Gemma Scope npz -----------------------------------------------------------------
    hook = "blocks.1.hook_mlp_out"
    x = hook_inputs[("gemma2", hook)]
    s, g = 3001, torch.Generator().manual_seed(3001)
    p = gemmascope_params(g)
    pre = gemmascope_encode(p, x)[0]
    p["threshold"] = fix_thresholds(g, pre, p["threshold"])
    m = thresh_margin(pre, p["threshold"])
    arrays = {k: p[k].numpy().astype(np.float32) for k in ["W_enc", "W_dec", "b_enc", "b_dec", "threshold"]}
    d = SAES / "gemmascope" / "layer_1" / "width_256" / "average_l0_20"
    d.mkdir(parents=True, exist_ok=True)
    np.savez(str(d / "params.npz"), **arrays)
    dc = SAES / "gemmascope_compressed"
    dc.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(str(dc / "params.npz"), **arrays)
    _, acts, recon = gemmascope_encode(p, x)
    ref = write_ref("gemmascope", x, acts, recon)
    for name, path in [("gemmascope", d / "params.npz"), ("gemmascope_compressed", dc / "params.npz")]:
        manifest.append({"name": name, "path": str(path.relative_to(FIX)), "format": "gemmascope", "model": "gemma2",
                         "hook": hook, "options": {"hook": hook}, "ref": ref, "seed": s, "margin": m})

    # --- EleutherAI sparsify --------------------------------------------------------------
    for sub, hook, num_latents, seed in [("layers.1.mlp", "blocks.1.hook_mlp_out", 256, 4001),
                                         ("layers.2", "blocks.2.hook_resid_post", 0, 4101)]:
        x = hook_inputs[("llama", hook)]
        raw = lambda p: (x - p["b_dec"]) @ p["encoder.weight"].T + p["encoder.bias"]  # noqa: E731
        s, p, m = pick_seed(sparsify_params, lambda p: topk_margin(raw(p), K), seed)
        d = SAES / "sparsify" / sub
        d.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in p.items()}, str(d / "sae.safetensors"))
        cfg = {"activation": "topk", "expansion_factor": 4, "normalize_decoder": True, "num_latents": num_latents,
               "k": K, "multi_topk": False, "skip_connection": False, "transcode": False, "d_in": D_IN}
        (d / "cfg.json").write_text(json.dumps(cfg) + "\n")
        _, acts, recon = sparsify_encode(p, x)
        name = "sparsify_" + sub.replace(".", "_")
        ref = write_ref(name, x, acts, recon)
        manifest.append({"name": name, "path": str(d.relative_to(FIX)), "format": "sparsify", "model": "llama",
                         "hook": hook, "options": {"hook": hook}, "ref": ref, "seed": s, "margin": m})

    for e in manifest:
        e["margin"] = round(e["margin"], 6)
    (SAES / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# --------------------------------------------------------------------------------------
# 6. Qwen3 models (issue #15): per-head q/k RMS norms, an explicit head_dim, Qwen3's chat template
# --------------------------------------------------------------------------------------

QWEN3_HEAD_DIM = 32  # differs from HIDDEN / N_HEADS = 16, as in the real Qwen3 configs (all head_dim 128)

# The chat template of the Qwen3 hybrid-thinking releases (tokenizer_config.json `chat_template` of
# Qwen3-0.6B ... Qwen3-235B-A22B): <think> handling of the history, tool calls, and the
# `enable_thinking` switch, verbatim.
QWEN3_CHAT_TEMPLATE = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = '' %}
    {%- endif %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}"""

QWEN3_THINK_TOKENS = ["<think>", "</think>"]  # added, not special (as in Qwen3): ids 600 and 601

_HELLO = {"role": "user", "content": "Hello, who are you?"}
QWEN3_CHAT_CASES = [
    # name, messages, add_generation_prompt, enable_thinking (None: not passed)
    ("user_gen", [_HELLO], True, None),
    ("user_gen_thinking_true", [_HELLO], True, True),
    ("user_gen_thinking_false", [_HELLO], True, False),
    ("system_user_nogen", [{"role": "system", "content": "You are a careful assistant."}, _HELLO], False, None),
    ("history_reasoning_dropped_nothink", [
        _HELLO,
        {"role": "assistant", "content": "<think>\nThe user greets me.\n</think>\n\nHello! I am an assistant."},
        {"role": "user", "content": "选举如何进行？"},
    ], True, False),
    ("last_assistant_keeps_reasoning", [
        {"role": "user", "content": "Is violence ever the answer?"},
        {"role": "assistant", "content": "<think>\nViolence hurts people.\n</think>\n\nNo. Violence is never the answer."},
    ], False, None),
    ("last_assistant_without_reasoning", [
        {"role": "user", "content": "Is violence ever the answer?"},
        {"role": "assistant", "content": "No."},
    ], False, None),
    ("tool_responses_and_late_system", [
        {"role": "user", "content": "How is the weather today?"},
        {"role": "assistant", "content": "Let me check."},
        {"role": "tool", "content": "sunny, 20 degrees"},
        {"role": "tool", "content": "light wind"},
        {"role": "system", "content": "Answer briefly."},
    ], True, None),
]

QWEN3_SPECS = [
    # name, seed, dtype, extra build_model arguments
    ("qwen3", 66, torch.float32, {"tie": True}),  # tied, classic hub config keys
    ("qwen3_bf16", 77, torch.bfloat16, {"tie": False, "n_layers": 2, "keep_v5_keys": True}),  # untied, bf16, transformers-5 files
]


def build_qwen3_tokenizer() -> PreTrainedTokenizerFast:
    """The fixture tokenizer plus Qwen3's `<think>` / `</think>` (added, not special), with Qwen3's template."""
    tok = Tokenizer.from_file(str(TOK_DIR / "tokenizer.json"))
    tok.add_tokens([AddedToken(s, special=False, normalized=False, lstrip=False, rstrip=False, single_word=False)
                    for s in QWEN3_THINK_TOKENS])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None, unk_token=None,
        model_max_length=256, additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        clean_up_tokenization_spaces=False, split_special_tokens=False, errors="replace",
        chat_template=QWEN3_CHAT_TEMPLATE,
    )


def render(tok, messages, gen, thinking):
    kw = {} if thinking is None else {"enable_thinking": thinking}
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen, **kw)
    ids = tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=gen, **kw)
    if not isinstance(ids, list):  # transformers 5 returns a BatchEncoding
        ids = ids["input_ids"]
    assert list(ids) == tok(text, add_special_tokens=False).input_ids
    return text, list(ids)


def build_qwen3() -> dict:
    """models/qwen3*, refs/qwen3*/: the Qwen3 fixture models, their references, and the chat
    template references. Needs the tokenizer and refs/prompts.json written before."""
    base = json.loads((REFS / "prompts.json").read_text())
    fast = build_qwen3_tokenizer()
    scratch = Path(tempfile.mkdtemp())
    summary = {}
    try:
        save_tokenizer(fast, scratch, style="hub")
        tok = AutoTokenizer.from_pretrained(str(scratch))
        assert [tok.convert_tokens_to_ids(s) for s in QWEN3_THINK_TOKENS] == [600, 601]
        prompts = {k: {"text": base[k]["text"], "ids": tok(base[k]["text"], add_special_tokens=False).input_ids}
                   for k in ("en", "zh")}
        for k in ("en", "zh"):
            assert prompts[k]["ids"] == base[k]["ids"], "the added tokens change nothing in plain text"
        chat_text, chat_ids = render(tok, CHAT_MESSAGES, True, False)
        assert chat_text.endswith("<think>\n\n</think>\n\n")
        prompts["chat"] = {"text": chat_text, "messages": CHAT_MESSAGES, "add_generation_prompt": True,
                           "enable_thinking": False, "ids": chat_ids}
        eos, pad = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
        for name, seed, dtype, extra in QWEN3_SPECS:
            path, used_seed = build_model(name, "qwen3", seed, tok, prompts["en"]["ids"], dtype=dtype, fast=fast,
                                          tok_src=scratch, **extra)
            mtok = AutoTokenizer.from_pretrained(str(path))
            assert render(mtok, CHAT_MESSAGES, True, False) == (chat_text, chat_ids)
            for case in QWEN3_CHAT_CASES:
                assert render(mtok, *case[1:]) == render(tok, *case[1:]), (name, case[0])
            model = load_ref_model(path)
            sd = {k: v.float() for k, v in load_file(str(path / "model.safetensors")).items()}
            keys = safetensors_keys(path / "model.safetensors")
            mcfg = flat_config(model)
            n_layers = mcfg["num_hidden_layers"]
            out_dir = REFS / name
            out_dir.mkdir(parents=True, exist_ok=True)
            errs = {}
            for pname, pdata in prompts.items():
                ids = pdata["ids"]
                acts = capture(model, "qwen3", ids)
                check_residual_identities(acts, n_layers, f"{name}/{pname}")
                man = manual_forward("qwen3", sd, mcfg, ids)
                errs[pname] = max(compare(acts[k], man[k]) for k in man)
                assert errs[pname] < 1e-4, (name, pname, errs[pname])
                tensors = {"input_ids": torch.tensor(ids, dtype=torch.int64)}
                tensors.update({k: v.float().contiguous() for k, v in sorted(acts.items())})
                save_file(tensors, str(out_dir / f"{pname}.safetensors"))
            # The per-head q/k norms matter for these prompts.
            ids = prompts["en"]["ids"]
            no_norm = {k: v for k, v in sd.items() if "q_norm" not in k and "k_norm" not in k}
            effect = compare(manual_forward("qwen3", no_norm, mcfg, ids)["logits"], capture(model, "qwen3", ids)["logits"])
            assert effect > 1e-3
            with torch.no_grad():
                gen = model.generate(
                    input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                    do_sample=False, max_new_tokens=12, eos_token_id=eos, pad_token_id=pad,
                )
            new = gen[0, len(ids):].tolist()
            gap = greedy_check(model, ids, new)
            (out_dir / "generate.json").write_text(json.dumps(
                {"prompt_ids": ids, "greedy_ids": new, "eos_token_id": eos, "pad_token_id": pad}) + "\n")
            summary[name] = {"seed": used_seed, "manual_vs_hf_max_rel_err": errs, "greedy": new,
                             "min_greedy_logit_gap": round(gap, 4), "effect_of_qk_norm_en": effect,
                             "n_keys": len(keys), "has_lm_head": "lm_head.weight" in keys,
                             "dtypes": sorted({d for d, _ in keys.values()}), "head_dim": mcfg["head_dim"]}
            print(f"model {name}: {summary[name]}")
        (REFS / "qwen3" / "prompts.json").write_text(json.dumps(prompts, indent=1, ensure_ascii=False) + "\n")
        chat = []
        for cname, messages, gen, thinking in QWEN3_CHAT_CASES:
            text, ids = render(tok, messages, gen, thinking)
            case = {"name": cname, "messages": messages, "add_generation_prompt": gen}
            if thinking is not None:
                case["enable_thinking"] = thinking
            chat.append({**case, "rendered": text, "ids": ids})
        (REFS / "qwen3" / "chat_template.json").write_text(json.dumps(chat, indent=1, ensure_ascii=False) + "\n")
    finally:
        shutil.rmtree(scratch)
    return summary


# --------------------------------------------------------------------------------------
# 7. dictionary_learning SAEs (issue #15), made with the real `dictionary-learning` package
# --------------------------------------------------------------------------------------

DL_D_SAE = 128
DL_DIR = SAES / "dictionary_learning"


def dl_buffer_config(io: str) -> dict:
    """What ActivationBuffer.config records (the buffer needs an nnsight model, so it is written here)."""
    return {"d_submodule": D_IN, "io": io, "n_ctxs": 3000, "ctx_len": 128, "refresh_batch_size": 32,
            "out_batch_size": 8192, "device": "cpu"}


def dl_linear_params(g, unit_decoder: bool = True) -> dict:
    """encoder.weight [d_sae, d_in], encoder.bias, decoder.weight [d_in, d_sae] (unit columns, or
    columns of norm 0.5 .. 1.5), and a bias [d_in]."""
    dec = torch.randn(D_IN, DL_D_SAE, generator=g)
    dec = dec / dec.norm(dim=0, keepdim=True)
    if not unit_decoder:
        dec = dec * (torch.rand(DL_D_SAE, generator=g) + 0.5)
    return {
        "encoder.weight": torch.randn(DL_D_SAE, D_IN, generator=g) * 0.2,
        "encoder.bias": torch.randn(DL_D_SAE, generator=g) * 0.1 - 0.1,
        "decoder.weight": dec,
        "bias": torch.randn(D_IN, generator=g) * 0.1,
    }


def scalar_threshold(post_relu: torch.Tensor, target_l0: int) -> tuple[float, float]:
    """A threshold (4 decimals) that keeps about `target_l0` latents per row, in the widest gap
    between the active values near that rank; returns (threshold, margin)."""
    vals = torch.sort(post_relu.flatten(), descending=True).values
    n = target_l0 * post_relu.shape[0]
    best = None
    for i in range(n - post_relu.shape[0], n + post_relu.shape[0]):
        t = round(float((vals[i] + vals[i + 1]) / 2), 4)
        margin = float((post_relu - t).abs().min())
        if t > 0 and (best is None or margin > best[1]):
            best = (t, margin)
    assert best[1] >= THRESH_MARGIN, best
    return best


def dl_save(name: str, trainer, io: str) -> Path:
    """Writes ae.pt and config.json as dictionary_learning's trainSAE does."""
    d = DL_DIR / name
    d.mkdir(parents=True, exist_ok=True)
    config = {"trainer": trainer.config, "buffer": dl_buffer_config(io)}
    with open(d / "config.json", "w") as f:
        json.dump(config, f, indent=4)
    final = {k: v.cpu() for k, v in trainer.ae.state_dict().items()}
    torch.save(final, str(d / "ae.pt"))
    return d


def build_dictionary_learning() -> list:
    """saes/dictionary_learning/*, refs/saes/dl_*: SAEs of every dictionary class of the
    `dictionary-learning` package that we read, on the qwen3 fixture model's `en` activations.
    The weights are drawn here and put into the package's own classes; config.json is its
    trainers' `config`; the references come from loading ae.pt back with the package."""
    import dictionary_learning
    from dictionary_learning.dictionary import AutoEncoder, JumpReluAutoEncoder
    from dictionary_learning.trainers.batch_top_k import BatchTopKSAE, BatchTopKTrainer
    from dictionary_learning.trainers.jumprelu import JumpReluTrainer
    from dictionary_learning.trainers.matryoshka_batch_top_k import MatryoshkaBatchTopKSAE, MatryoshkaBatchTopKTrainer
    from dictionary_learning.trainers.standard import StandardTrainerAprilUpdate
    from dictionary_learning.trainers.top_k import AutoEncoderTopK, TopKTrainer

    print(f"dictionary_learning {dictionary_learning.__version__}")
    refs = load_file(str(REFS / "qwen3" / "en.safetensors"))
    lm = "tiny-qwen3"
    common = {"steps": 30000, "activation_dim": D_IN, "dict_size": DL_D_SAE, "lm_name": lm, "seed": 0, "device": "cpu"}
    manifest = []

    def entry(name, d, hook, options, x, ae, seed, margin, **encode_kw):
        with torch.no_grad():
            acts = ae.encode(x, **encode_kw)
            recon = ae.decode(acts)
        path = REFS / "saes" / f"{name}.safetensors"
        save_file({"input": x.contiguous(), "acts": acts.contiguous(), "recon": recon.contiguous()}, str(path))
        l0 = (acts > 0).float().sum(-1).mean().item()
        print(f"  sae {name:28s} L0={l0:6.2f} recon_max={recon.abs().max():.3f} margin={margin:.4g}")
        manifest.append({"name": name, "path": str(d.relative_to(FIX)), "format": "dictionary_learning",
                         "model": "qwen3", "hook": hook, "options": options,
                         "ref": str(path.relative_to(FIX)), "seed": seed, "margin": round(margin, 6)})

    def relu_pre(p, x):
        return torch.relu((x - p["bias"]) @ p["encoder.weight"].T + p["encoder.bias"])

    def set_linear(ae, p, bias_name):
        with torch.no_grad():
            ae.encoder.weight.copy_(p["encoder.weight"])
            ae.encoder.bias.copy_(p["encoder.bias"])
            ae.decoder.weight.copy_(p["decoder.weight"])
            getattr(ae, bias_name).copy_(p["bias"])

    # BatchTopK: at inference, the threshold the trainer calibrated (the package's default
    # encode); and the same weights as per-token TopK (`k=8`), as the package's AutoEncoderTopK.
    hook = "blocks.1.hook_resid_post"
    x = refs[hook]
    s, p, m_topk = pick_seed(dl_linear_params, lambda p: topk_margin(relu_pre(p, x), K), 5001)
    th, m_th = scalar_threshold(relu_pre(p, x), K)
    tr = BatchTopKTrainer(k=K, layer=1, submodule_name="resid_post_layer_1", **common)
    set_linear(tr.ae, p, "b_dec")
    tr.ae.threshold.fill_(th)
    d = dl_save("batchtopk", tr, "out")
    entry("dl_batchtopk", d, hook, {}, x, BatchTopKSAE.from_pretrained(str(d / "ae.pt"), k=K, device="cpu"), s, m_th)
    entry("dl_batchtopk_as_topk", d, hook, {"k": str(K)}, x,
          AutoEncoderTopK.from_pretrained(str(d / "ae.pt"), k=K, device="cpu"), s, m_topk)

    # TopK (per token, the package's default encode), and its calibrated threshold as `threshold=`.
    hook = "blocks.2.hook_mlp_out"
    x = refs[hook]
    s, p, m_topk = pick_seed(dl_linear_params, lambda p: topk_margin(relu_pre(p, x), K), 5101)
    th, m_th = scalar_threshold(relu_pre(p, x), K)
    tr = TopKTrainer(k=K, layer=2, submodule_name="model.layers.2.mlp", **common)
    set_linear(tr.ae, p, "b_dec")
    tr.ae.threshold.fill_(th)
    d = dl_save("topk", tr, "out")
    ae = AutoEncoderTopK.from_pretrained(str(d / "ae.pt"), k=K, device="cpu")
    entry("dl_topk", d, hook, {}, x, ae, s, m_topk)
    entry("dl_topk_as_threshold", d, hook, {"threshold": str(th)}, x, ae, s, m_th, use_threshold=True)

    # JumpReLU: per-latent thresholds, kept off the data.
    hook = "blocks.1.hook_attn_out"
    x = refs[hook]
    s, g = 5201, torch.Generator().manual_seed(5201)
    tr = JumpReluTrainer(layer=1, submodule_name="attn_out_layer_1", **common)
    q = dl_linear_params(g)
    w_enc, b_enc = q["encoder.weight"].T.contiguous(), q["encoder.bias"]
    pre = x @ w_enc + b_enc
    theta = fix_thresholds(g, pre, torch.rand(DL_D_SAE, generator=g) * 0.25 + 0.05)
    with torch.no_grad():
        tr.ae.W_enc.copy_(w_enc)
        tr.ae.b_enc.copy_(b_enc)
        tr.ae.W_dec.copy_(q["decoder.weight"].T)
        tr.ae.b_dec.copy_(q["bias"])
        tr.ae.threshold.copy_(theta)
    d = dl_save("jumprelu", tr, "out")
    entry("dl_jumprelu", d, hook, {}, x, JumpReluAutoEncoder.from_pretrained(str(d / "ae.pt"), device="cpu"), s,
          thresh_margin(pre, theta))

    # Standard ReLU (AutoEncoder, April-update trainer: decoder columns not of unit norm, so the
    # package's from_pretrained folds their norms into the encoder). No submodule_name: the
    # config records the layer only, so the hook is an option.
    hook = "blocks.0.hook_mlp_out"
    x = refs[hook]
    s, g = 5301, torch.Generator().manual_seed(5301)
    p = dl_linear_params(g, unit_decoder=False)
    tr = StandardTrainerAprilUpdate(layer=0, submodule_name=None, **common)
    set_linear(tr.ae, p, "bias")
    d = dl_save("standard", tr, "out")
    ae = AutoEncoder.from_pretrained(str(d / "ae.pt"), device="cpu")
    with torch.no_grad():
        m = float(((x - ae.bias) @ ae.encoder.weight.T + ae.encoder.bias).abs().min())
    entry("dl_standard", d, hook, {"hook": hook}, x, ae, s, m)

    # Matryoshka BatchTopK (W_enc / W_dec parameters, nested groups), at its threshold.
    hook = "blocks.2.hook_resid_post"
    x = refs[hook]

    def mat_params(g):
        q = dl_linear_params(g)
        return {"W_enc": q["encoder.weight"].T.contiguous(), "b_enc": q["encoder.bias"],
                "W_dec": q["decoder.weight"].T.contiguous(), "b_dec": q["bias"]}

    def mat_relu_pre(p):
        return torch.relu((x - p["b_dec"]) @ p["W_enc"] + p["b_enc"])

    s, g = 5401, torch.Generator().manual_seed(5401)
    p = mat_params(g)
    th, m_th = scalar_threshold(mat_relu_pre(p), K)
    tr = MatryoshkaBatchTopKTrainer(k=K, layer=2, group_fractions=[0.25, 0.25, 0.5], submodule_name="model.layers.2",
                                    **common)
    with torch.no_grad():
        for k_, v in p.items():
            getattr(tr.ae, k_).copy_(v)
        tr.ae.threshold.fill_(th)
    d = dl_save("matryoshka_batchtopk", tr, "out")
    entry("dl_matryoshka_batchtopk", d, hook, {}, x,
          MatryoshkaBatchTopKSAE.from_pretrained(str(d / "ae.pt"), k=K, device="cpu"), s, m_th)
    return manifest


def write_new_manifest_entries(entries: list) -> None:
    """Appends the dictionary_learning entries to saes/manifest.json (replacing earlier ones), so
    every entry before them keeps its bytes."""
    path = SAES / "manifest.json"
    manifest = [e for e in json.loads(path.read_text()) if e["format"] != "dictionary_learning"]
    path.write_text(json.dumps(manifest + entries, indent=2) + "\n")


def build_new(only: set[str]) -> None:
    """The fixtures of issue #15; with --only, nothing else is touched."""
    summary_path = FIX / "generation_summary_qwen3_dl.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if "qwen3" in only:
        for p in list(MODELS.glob("qwen3*")) + list(REFS.glob("qwen3*")):
            shutil.rmtree(p)
        summary["qwen3"] = build_qwen3()
    if "dictionary_learning" in only:
        if DL_DIR.exists():
            shutil.rmtree(DL_DIR)
        for p in (REFS / "saes").glob("dl_*.safetensors"):
            p.unlink()
        entries = build_dictionary_learning()
        write_new_manifest_entries(entries)
        summary["dictionary_learning"] = {"sae_count": len(entries)}
    import dictionary_learning
    summary["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__,
                           "tokenizers": __import__("tokenizers").__version__, "numpy": np.__version__,
                           "dictionary_learning": dictionary_learning.__version__,
                           "python": sys.version.split()[0]}
    summary_path.write_text(json.dumps(dict(sorted(summary.items())), indent=1) + "\n")


# --------------------------------------------------------------------------------------
# The Safe-SAIL release layout (run alone with --release-only)
# --------------------------------------------------------------------------------------

RELEASE = FIX / "release"
RELEASE_LAYERS = [0, 2]
RELEASE_N = 1250  # activations each quantile file was taken over (the release: 200,000)
RELEASE_K = 50  # top / bottom values kept (the release: 10,000)
RELEASE_Q = 0.999


def q_from_top(top_asc: list, n: int, q: float):
    """The q-quantile of n values from their k largest, ascending: value j (1-based) sits at
    cumulative probability (n - k + j) / n, linear in between (written here from that
    definition; the Rust side has its own implementation)."""
    k = len(top_asc)
    x = q * n - (n - k)
    if abs(x - round(x)) < 1e-6:
        x = round(x)
    if x < 1:
        return None
    j = min(int(math.floor(x)), k)
    if j == k:
        return float(top_asc[-1])
    lo, hi = float(top_asc[j - 1]), float(top_asc[j])
    return lo + (x - j) * (hi - lo)


def build_release() -> None:
    """tests/fixtures/release: the layout of HF `OysterAI/Qwen2.5-3B-Instruct-SAEs` / the
    Safe-SAIL repository at tiny sizes, for the qwen2 fixture model (d_model 64, 3 layers):
    data/sae_checkpoints/ckpt_layer{L}.pt (one component, 256 latents, used with TopK k=200),
    data/activation/indices/indices_layer{L}.pt (int64 ids, unsorted, with repeats),
    data/activation/quantiles/quantile_layer{L}.pt ({bottom,top}_neuron_activations
    [k, n_selected]: layer 0 ascending f32, layer 2 descending bf16, as torch.topk would give),
    data/neuron_db/{en,cn}_db.json, and expected.json (the 0.999 quantile per column)."""
    if RELEASE.exists():
        shutil.rmtree(RELEASE)
    ck = RELEASE / "data" / "sae_checkpoints"
    ix = RELEASE / "data" / "activation" / "indices"
    qd = RELEASE / "data" / "activation" / "quantiles"
    db = RELEASE / "data" / "neuron_db"
    for d in [ck, ix, qd, db]:
        d.mkdir(parents=True, exist_ok=True)
    expected = {"n": RELEASE_N, "k": RELEASE_K, "q": RELEASE_Q, "layers": {}}
    en, cn = {}, {}
    tags_cycle = [["violence"], [], ["politics"], ["pornography", "violence"], [], ["terror"], []]
    for L in RELEASE_LAYERS:
        g = torch.Generator().manual_seed(7000 + L)
        b = torch.randn(1, D_IN, generator=g) * 0.1
        sd = {
            "pre_encoder_bias._bias_reference": b,
            "encoder.weight": torch.randn(1, D_SAE, D_IN, generator=g) * 0.2,
            "encoder.bias": torch.randn(1, D_SAE, generator=g) * 0.1 - 0.1,
            "decoder.weight": torch.nn.functional.normalize(torch.randn(1, D_IN, D_SAE, generator=g), dim=1),
            "post_decoder_bias._bias_reference": b.clone(),
        }
        torch.save(sd, str(ck / f"ckpt_layer{L}.pt"))
        unique = torch.randperm(D_SAE, generator=g)[:20].tolist()
        repeats = [unique[3], unique[7], unique[3], unique[12]]
        ids = unique[:10] + repeats[:2] + unique[10:] + repeats[2:]
        torch.save(torch.tensor(ids, dtype=torch.int64), str(ix / f"indices_layer{L}.pt"))
        # One sample of N activations per neuron (zeros where it does not fire), shared by
        # its repeated columns.
        samples = {}
        for i in unique:
            active = torch.rand(RELEASE_N, generator=g) < 0.4
            vals = torch.exp(torch.randn(RELEASE_N, generator=g) * 0.8) * active
            samples[i] = torch.sort(vals).values
        top = torch.stack([samples[i][-RELEASE_K:] for i in ids], dim=1)  # [k, n_sel] ascending
        bottom = torch.stack([samples[i][:RELEASE_K] for i in ids], dim=1)
        if L == 2:
            top, bottom = torch.flip(top, [0]).bfloat16(), torch.flip(bottom, [0]).bfloat16()
        torch.save({"bottom_neuron_activations": bottom.contiguous(), "top_neuron_activations": top.contiguous()},
                   str(qd / f"quantile_layer{L}.pt"))
        q = []
        for c, i in enumerate(ids):
            col = sorted(top[:, c].float().tolist())
            v = q_from_top(col, RELEASE_N, RELEASE_Q)
            if L == 0:  # the top k suffice: the same from every value
                full = q_from_top(samples[i].tolist(), RELEASE_N, RELEASE_Q)
                assert abs(v - full) < 1e-6, (v, full)
            q.append(v)
        expected["layers"][str(L)] = {"ids": ids, "q999": q,
                                      "order": "ascending f32" if L == 0 else "descending bf16"}
        for n, i in enumerate(unique[:7]):
            tags = tags_cycle[n]
            score = round(0.2 + 0.05 * n + 0.001 * L, 4) + 1e-9
            en[f"{L}_{i}"] = {"explanation": "***" if "politics" in tags else f"fixture neuron {L}_{i}: words about {' and '.join(tags) or 'nothing in particular'}",
                              "correlation_score": score, "tag_list": tags}
            cn[f"{L}_{i}"] = {"explanation": "***" if "politics" in tags else f"测试神经元 {L}_{i}",
                              "correlation_score": score, "tag_list": tags}
    first = next(iter(en))
    en[first]["explanation"] = None
    cn[first]["explanation"] = None
    (db / "en_db.json").write_text(json.dumps(en))
    (db / "cn_db.json").write_text(json.dumps(cn))
    (RELEASE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    total = sum(f.stat().st_size for f in RELEASE.rglob("*") if f.is_file())
    print(f"release fixture: {total / 1e3:.0f} kB in {RELEASE}")


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

PROMPTS = {
    "en": "The quick brown fox jumps over the lazy dog. Violence is never the answer.",
    "zh": "今天天气很好，我们去公园散步吧。暴力不是解决问题的办法。",
}
CHAT_MESSAGES = [
    {"role": "system", "content": "You are a careful assistant."},
    {"role": "user", "content": "How do elections work? 选举如何进行？"},
]

MODEL_SPECS = [
    # name, arch, seed, dtype, extra
    ("qwen2", "qwen2", 11, torch.float32, {}),
    ("llama", "llama", 22, torch.float32, {}),
    ("llama_bf16", "llama", 33, torch.bfloat16, {"keep_v5_keys": True}),
    ("gemma2", "gemma2", 44, torch.float32, {"qk_std": 0.35, "embed_std": 0.1}),
    ("gpt2", "gpt2", 55, torch.float32, {}),
]


NEW_PARTS = ("qwen3", "dictionary_learning")
KEPT = ("README.md", "workspace", "crashers")  # not made by this script


def main() -> None:
    ap = argparse.ArgumentParser(description="Build tests/fixtures/ (everything, or with --only some new sets).")
    ap.add_argument("--only", metavar="SETS",
                    help="comma-separated sets to rebuild alone, leaving every other file as it is: "
                         + ", ".join(NEW_PARTS))
    ap.add_argument("--release-only", action="store_true",
                    help="rewrite only tests/fixtures/release (the Safe-SAIL release layout)")
    args = ap.parse_args()
    print(f"torch {torch.__version__}  transformers {transformers.__version__}")
    if args.release_only:
        # Only tests/fixtures/release (the other fixtures stay byte for byte as they are).
        build_release()
        return
    if args.only:
        only = set(args.only.split(","))
        if only - set(NEW_PARTS):
            ap.error(f"unknown sets {sorted(only - set(NEW_PARTS))} (known: {', '.join(NEW_PARTS)})")
        build_new(only)
        print(f"done: {', '.join(sorted(only))} in {FIX}")
        return
    # README.md and the hand-made stand-in workspace (workspace/) are kept, the rest rebuilt.
    kept = Path(tempfile.mkdtemp())
    for name in KEPT:
        if (FIX / name).exists():
            shutil.move(str(FIX / name), str(kept / name))
    if FIX.exists():
        shutil.rmtree(FIX)
    FIX.mkdir(parents=True)
    for name in KEPT:
        if (kept / name).exists():
            shutil.move(str(kept / name), str(FIX / name))
    shutil.rmtree(kept)

    # 1. tokenizer ---------------------------------------------------------------------
    fast = build_tokenizer()
    save_tokenizer(fast, TOK_DIR)
    tok = AutoTokenizer.from_pretrained(str(TOK_DIR))
    print(f"tokenizer: {len(tok)} tokens (BPE vocab {tok.backend_tokenizer.get_vocab_size(with_added_tokens=False)}), "
          f"specials {[(s, tok.convert_tokens_to_ids(s)) for s in SPECIALS]}")
    trefs = tokenizer_refs(TOK_DIR)
    (FIX / "tokenizer_refs.json").write_text(json.dumps(trefs, indent=1, ensure_ascii=False) + "\n")

    # prompts ----------------------------------------------------------------------------
    prompts = {k: {"text": v, "ids": tok(v, add_special_tokens=False).input_ids} for k, v in PROMPTS.items()}
    chat_ids = tok.apply_chat_template(CHAT_MESSAGES, add_generation_prompt=True, tokenize=True)
    if not isinstance(chat_ids, list):
        chat_ids = chat_ids["input_ids"]
    chat_text = tok.apply_chat_template(CHAT_MESSAGES, add_generation_prompt=True, tokenize=False)
    assert tok(chat_text, add_special_tokens=False).input_ids == list(chat_ids)
    prompts["chat"] = {"text": chat_text, "messages": CHAT_MESSAGES, "add_generation_prompt": True,
                       "ids": list(chat_ids)}
    REFS.mkdir(parents=True, exist_ok=True)
    (REFS / "prompts.json").write_text(json.dumps(prompts, indent=1, ensure_ascii=False) + "\n")
    print("prompt lengths:", {k: len(v["ids"]) for k, v in prompts.items()})

    # llama3 rope: show which frequencies the scaling changed ----------------------------
    base = default_inv_freq(500000.0, HEAD_DIM)
    scaled = llama3_inv_freq(500000.0, HEAD_DIM, 8.0, 1.0, 4.0, 64)
    for i, (b, s) in enumerate(zip(base.tolist(), scaled.tolist())):
        wl = 2 * math.pi / b
        kind = "unchanged (wavelen<16)" if wl < 16 else ("/8 (wavelen>64)" if wl > 64 else "smoothed")
        print(f"  llama3 rope i={i} wavelen={wl:10.2f} inv_freq {b:.6g} -> {s:.6g}  {kind}")

    # 2 + 3. models and references --------------------------------------------------------
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    pad = tok.convert_tokens_to_ids("<|endoftext|>")
    hook_inputs = {}
    summary = {}
    for name, arch, seed, dtype, extra in MODEL_SPECS:
        path, used_seed = build_model(name, arch, seed, tok, prompts["en"]["ids"], dtype=dtype, fast=fast, **extra)
        # the tokenizer files in the model folder must behave exactly like tests/fixtures/tokenizer
        mtok = AutoTokenizer.from_pretrained(str(path))
        for pdata in prompts.values():
            if "messages" in pdata:
                assert mtok.apply_chat_template(pdata["messages"], tokenize=False, add_generation_prompt=True) == pdata["text"]
            assert mtok(pdata["text"], add_special_tokens=False).input_ids == pdata["ids"]
        keys = safetensors_keys(path / "model.safetensors")
        model = load_ref_model(path)
        cfg_json = json.loads((path / "config.json").read_text())
        # manual float64 re-implementation works on the f32 (possibly bf16-rounded) weights
        sd = {k: v.float() for k, v in load_file(str(path / "model.safetensors")).items()}
        mcfg = flat_config(model)
        n_layers = mcfg.get("num_hidden_layers", mcfg.get("n_layer"))
        out_dir = REFS / name
        out_dir.mkdir(parents=True, exist_ok=True)
        errs = {}
        for pname, pdata in prompts.items():
            ids = pdata["ids"]
            acts = capture(model, arch, ids)
            check_residual_identities(acts, n_layers, f"{name}/{pname}")
            man = manual_forward(arch, sd, mcfg, ids)
            errs[pname] = max(compare(acts[k], man[k]) for k in man)
            assert errs[pname] < 1e-4, (name, pname, errs[pname])
            tensors = {"input_ids": torch.tensor(ids, dtype=torch.int64)}
            tensors.update({k: v.float().contiguous() for k, v in sorted(acts.items())})
            save_file(tensors, str(out_dir / f"{pname}.safetensors"))
            if pname == "en":
                for k, v in acts.items():
                    hook_inputs[(name, k)] = v.float()
        # architecture-specific sanity checks
        if arch == "gemma2":
            lt = model.config.layer_types
            sliding = [i for i, t in enumerate(lt) if t == "sliding_attention"]
            summary["gemma2_sliding_layers"] = sliding
            # sliding window and soft-capping must both matter for these prompts
            ids = prompts["en"]["ids"]
            man_full = manual_forward(arch, sd, {**mcfg, "layer_types": ["full_attention"] * n_layers}, ids)
            man_nocap = manual_forward(arch, sd, {**mcfg, "attn_logit_softcapping": 1e9}, ids)
            man_nofinalcap = manual_forward(arch, sd, {**mcfg, "final_logit_softcapping": None}, ids)
            ref = capture(model, arch, ids)["logits"]
            summary["gemma2_effect_of_sliding_window"] = compare(man_full["logits"], ref)
            summary["gemma2_effect_of_attn_softcap"] = compare(man_nocap["logits"], ref)
            summary["gemma2_effect_of_final_softcap"] = compare(man_nofinalcap["logits"], ref)
            summary["gemma2_attn_logit_absmax_en"] = attn_logit_absmax(sd, mcfg, ids)
            assert summary["gemma2_effect_of_sliding_window"] > 1e-3
            assert summary["gemma2_effect_of_final_softcap"] > 1e-3
            assert summary["gemma2_effect_of_attn_softcap"] > 1e-3
        if arch == "llama" and name == "llama":
            ids = prompts["chat"]["ids"]
            man_norope = manual_forward(arch, sd, {**mcfg, "rope_scaling": None}, ids)
            summary["llama_effect_of_llama3_rope_scaling_chat"] = compare(man_norope["logits"], capture(model, arch, ids)["logits"])
            assert summary["llama_effect_of_llama3_rope_scaling_chat"] > 1e-3
            summary["llama3_inv_freq"] = {"default": [float(v) for v in default_inv_freq(500000.0, HEAD_DIM)],
                                          "llama3": [float(v) for v in llama3_inv_freq(500000.0, HEAD_DIM, 8.0, 1.0, 4.0, 64)]}
        # generate
        pids = prompts["en"]["ids"]
        with torch.no_grad():
            gen = model.generate(
                input_ids=torch.tensor([pids]), attention_mask=torch.ones(1, len(pids), dtype=torch.long),
                do_sample=False, max_new_tokens=12, eos_token_id=eos, pad_token_id=pad,
            )
        new = gen[0, len(pids):].tolist()
        gap = greedy_check(model, pids, new)
        (out_dir / "generate.json").write_text(json.dumps(
            {"prompt_ids": pids, "greedy_ids": new, "eos_token_id": eos, "pad_token_id": pad}) + "\n")
        summary[name] = {"seed": used_seed, "manual_vs_hf_max_rel_err": errs, "greedy": new, "min_greedy_logit_gap": round(gap, 4),
                         "n_keys": len(keys), "has_lm_head": "lm_head.weight" in keys,
                         "dtypes": sorted({d for d, _ in keys.values()}),
                         "logit_std_en": float(capture(model, arch, pids)["logits"].std())}
        print(f"model {name}: {summary[name]}")

    # qwen2_sharded: same tensors as qwen2, two shards + index ------------------------------
    src = MODELS / "qwen2"
    dst = MODELS / "qwen2_sharded"
    dst.mkdir(parents=True, exist_ok=True)
    sd = load_file(str(src / "model.safetensors"))
    names = list(sd.keys())  # order as stored (sorted)
    half = len(names) // 2
    shards = [names[:half], names[half:]]
    weight_map = {}
    total = 0
    for i, part in enumerate(shards):
        fn = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: sd[k].contiguous() for k in part}, str(dst / fn), metadata={"format": "pt"})
        for k in part:
            weight_map[k] = fn
            total += sd[k].numel() * sd[k].element_size()
    (dst / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, indent=2) + "\n")
    for f in ["config.json", "generation_config.json"]:
        shutil.copy(src / f, dst / f)
    copy_tokenizer(dst)
    m1, m2 = load_ref_model(src), load_ref_model(dst)
    ids = prompts["en"]["ids"]
    with torch.no_grad():
        assert torch.equal(m1(torch.tensor([ids])).logits, m2(torch.tensor([ids])).logits)

    # gpt2_noprefix: hub-style keys (no `transformer.` prefix, no lm_head) ------------------
    src = MODELS / "gpt2"
    dst = MODELS / "gpt2_noprefix"
    dst.mkdir(parents=True, exist_ok=True)
    sd = load_file(str(src / "model.safetensors"))
    nsd = {k[len("transformer."):]: v.contiguous() for k, v in sd.items() if k.startswith("transformer.")}
    save_file(nsd, str(dst / "model.safetensors"), metadata={"format": "pt"})
    for f in ["config.json", "generation_config.json"]:
        shutil.copy(src / f, dst / f)
    copy_tokenizer(dst)
    m1, m2 = load_ref_model(src), load_ref_model(dst)
    with torch.no_grad():
        assert torch.equal(m1(torch.tensor([ids])).logits, m2(torch.tensor([ids])).logits)

    # 4. SAEs -------------------------------------------------------------------------------
    manifest = build_saes(hook_inputs)

    summary["sae_count"] = len(manifest)
    build_release()
    (FIX / "generation_summary.json").write_text(json.dumps(
        {"torch": torch.__version__, "transformers": transformers.__version__,
         "tokenizers": __import__("tokenizers").__version__, "numpy": np.__version__, **summary}, indent=1) + "\n")

    # 6 + 7. Qwen3 and dictionary_learning (issue #15; `--only` rebuilds them alone) ----------
    build_new(set(NEW_PARTS))
    total = sum(f.stat().st_size for f in FIX.rglob("*") if f.is_file())
    print(f"done: {total / 1e6:.2f} MB in {FIX}")
    mask_special_attention_refs()
    steer_refs()
    attribution_refs()


def mask_special_attention_refs() -> None:
    """refs/qwen2/chat_masked.safetensors: the qwen2 fixture model on the chat prompt with
    attention_mask 0 on <|im_start|> / <|im_end|> (what the Safe-SAIL authors' demo does before
    reading activations) under `masked.*`, and with a mask of ones under `unmasked.*`; only
    hook_mlp_out, hook_resid_post and the logits. Appended: the other fixtures are unchanged,
    and `make_fixtures.py mask-special-attention` writes this file alone."""
    prompts = json.loads((REFS / "prompts.json").read_text())
    ids = prompts["chat"]["ids"]
    tok = AutoTokenizer.from_pretrained(str(TOK_DIR))
    hidden = [tok.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>")]
    mask = [0 if i in hidden else 1 for i in ids]
    assert 0 in mask and mask[-1] == 1
    model = load_ref_model(MODELS / "qwen2")
    tensors = {"input_ids": torch.tensor(ids, dtype=torch.int64),
               "attention_mask": torch.tensor(mask, dtype=torch.int64)}
    keep = [i for i, m in enumerate(mask) if m == 1]
    runs = {}
    for name, m in (("masked", mask), ("unmasked", [1] * len(ids))):
        acts = capture(model, "qwen2", ids, m)
        runs[name] = acts
        for k, v in sorted(acts.items()):
            if k == "logits" or k.endswith("hook_mlp_out") or k.endswith("hook_resid_post"):
                tensors[f"{name}.{k}"] = v.float().contiguous()
    # The mask must matter at the positions that are compared (the attended ones).
    effect = compare(runs["masked"]["logits"][keep], runs["unmasked"]["logits"][keep])
    assert effect > 1e-3, effect
    save_file(tensors, str(REFS / "qwen2" / "chat_masked.safetensors"))
    print(f"chat_masked: {len(ids)} tokens, {len(ids) - len(keep)} masked, effect on logits {effect:.3g}")


# --------------------------------------------------------------------------------------
# 8. Steering (issue #17): a vector added by hand on the residual stream / MLP output
# --------------------------------------------------------------------------------------

STEER_CASES = [
    # model, arch, hook module ("resid_post" = the block's output, "mlp_out" = mlp.down_proj), layer, coefficient, seed
    ("qwen2", "qwen2", "resid_post", 1, 3.0, 1701),
    ("llama", "llama", "mlp_out", 0, -2.5, 1702),
]


def steer_refs() -> None:
    """refs/<model>/steer_add.safetensors + steer_vector.npy: the fixture model on the `en` prompt
    with c·v added by hand (a PyTorch forward hook) at one hook point on every position, prompt
    and answer: `vector` (v, float32 [hidden]), `coefficient`, `input_ids`, `logits` (the steered
    prompt pass, no cache), `greedy_ids` (12 steered greedy tokens through HF generate with its
    KV cache, the hook still adding) and `default_greedy_ids` (the same without the hook). Appended:
    every other fixture keeps its bytes; `make_fixtures.py steer` writes these files alone."""
    prompts = json.loads((REFS / "prompts.json").read_text())
    ids = prompts["en"]["ids"]
    tok = AutoTokenizer.from_pretrained(str(TOK_DIR))
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    pad = tok.convert_tokens_to_ids("<|endoftext|>")
    for name, arch, site, layer, c, seed in STEER_CASES:
        model = load_ref_model(MODELS / name)
        g = torch.Generator().manual_seed(seed)
        v = torch.randn(HIDDEN, generator=g, dtype=torch.float32)
        block = layers_of(model, arch)[layer]
        module = block if site == "resid_post" else hook_modules(block, arch)[1]

        def add(mod, args, out):
            if isinstance(out, (tuple, list)):
                return (out[0] + c * v,) + tuple(out[1:])
            return out + c * v

        def run_generate():
            with torch.no_grad():
                gen = model.generate(
                    input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                    do_sample=False, max_new_tokens=12, eos_token_id=eos, pad_token_id=pad)
            return gen[0, len(ids):].tolist()

        default = run_generate()
        h = module.register_forward_hook(add)
        try:
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
            steered = run_generate()
        finally:
            h.remove()
        with torch.no_grad():
            plain = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
        effect = compare(logits, plain)
        assert effect > 1e-3, (name, effect)
        assert steered != default, (name, steered, default)
        out = REFS / name
        save_file({"vector": v.contiguous(), "coefficient": torch.tensor([c], dtype=torch.float32),
                   "input_ids": torch.tensor(ids, dtype=torch.int64), "logits": logits.float().contiguous(),
                   "greedy_ids": torch.tensor(steered, dtype=torch.int64),
                   "default_greedy_ids": torch.tensor(default, dtype=torch.int64)},
                  str(out / "steer_add.safetensors"), metadata={"hook": f"blocks.{layer}.hook_{site}"})
        np.save(out / "steer_vector.npy", v.numpy())
        print(f"steer {name}: blocks.{layer}.hook_{site} c={c}: effect on logits {effect:.3g}, "
              f"greedy {default} -> {steered}")



# --------------------------------------------------------------------------------------
# 9. Attribution (issue #18): gradients of a metric to SAE latents and error terms
# --------------------------------------------------------------------------------------

# The SAEs spliced in on every model (all read width 64; each model's hooks of the same name).
ATTR_SAES = [
    # name (saes/<name>), SAELens architecture, apply_b_dec_to_input, hook module, layer
    ("saelens_standard_legacy", "standard", False, "mlp_out", 0),
    ("saelens_topk", "topk", True, "mlp_out", 1),
    ("saelens_jumprelu", "jumprelu", False, "resid_post", 2),
]
ATTR_CONTEXT = 12  # the first tokens of the `en` prompt are the context
ATTR_MODELS = [
    # model, arch, metrics (logprob / logit-diff on token ids, continuation = the prompt's next 3 tokens)
    ("qwen2", "qwen2", ("logprob", "logit_diff", "continuation")),
    ("llama", "llama", ("logit_diff",)),
    ("gemma2", "gemma2", ("logit_diff",)),
    ("gpt2", "gpt2", ("continuation",)),
    ("qwen3", "qwen3", ("logprob",)),
]
ATTR_TOKENS = (101, 202)  # metric tokens (ids)


def attribution_refs() -> None:
    """refs/attribution/<model>.safetensors + cases.json: torch autograd reference for
    `src/attribute`. The three SAELens fixture SAEs are spliced into each model at their hooks
    with the error term kept, by PyTorch forward hooks: x -> x + (x_hat - x_hat.detach()) +
    (e - e.detach()) with f = encode(x) and e = x - x_hat as leaves (value unchanged; the
    gradient flows to f, to e and on to x). Stored: `input_ids` (the context), per SAE
    `acts.<sae>` [T, 256] (T = context plus continuation for the continuation metric: the
    acts of the logprob run), and per metric `<metric>.value`, `<metric>.grad.<sae>` (dm/df,
    [T, 256]), `<metric>.err_attr.<sae>` (sum_d e * dm/de, [T]). Appended: every other fixture
    keeps its bytes; `make_fixtures.py attribution` writes these files alone."""
    out_dir = REFS / "attribution"
    out_dir.mkdir(parents=True, exist_ok=True)
    cases = {"context_tokens": ATTR_CONTEXT, "tokens": list(ATTR_TOKENS), "saes": [], "models": {}}
    params = {}
    for name, kind, apply_b_dec, site, layer in ATTR_SAES:
        params[name] = {k: v.float() for k, v in load_file(str(SAES / name / "sae_weights.safetensors")).items()}
        cases["saes"].append({"name": name, "path": f"saes/{name}", "hook": f"blocks.{layer}.hook_{site}"})
    for mname, arch, metrics in ATTR_MODELS:
        prompts = json.loads(((REFS / "qwen3") if arch == "qwen3" else REFS).joinpath("prompts.json").read_text())
        all_ids = prompts["en"]["ids"]
        context = all_ids[:ATTR_CONTEXT]
        cont = all_ids[ATTR_CONTEXT:ATTR_CONTEXT + 3]
        model = load_ref_model(MODELS / mname)
        layers = layers_of(model, arch)
        tensors = {"input_ids": torch.tensor(context, dtype=torch.int64),
                   "continuation_ids": torch.tensor(cont, dtype=torch.int64)}
        margins = {}

        def run(ids, metric, splice=True):
            leaves, handles = {}, []
            for name, kind, apply_b_dec, site, layer in ATTR_SAES:
                p = params[name]
                module = layers[layer] if site == "resid_post" else hook_modules(layers[layer], arch)[1]

                def fn(mod, args, out, name=name, kind=kind, apply_b_dec=apply_b_dec, p=p):
                    x = out[0] if isinstance(out, (tuple, list)) else out
                    xs = x[0].detach()
                    pre, f, _ = saelens_encode(p, xs, kind, apply_b_dec)
                    if kind == "topk":
                        margins[name] = min(margins.get(name, 1e9), topk_margin(pre, K))
                    elif kind == "jumprelu":
                        margins[name] = min(margins.get(name, 1e9), thresh_margin(pre, p["threshold"]))
                    f = f.detach().requires_grad_(True)
                    recon = f @ p["W_dec"] + p["b_dec"]
                    err = (xs - recon.detach()).requires_grad_(True)
                    new = x + ((recon - recon.detach()) + (err - err.detach())).unsqueeze(0)
                    leaves[name] = (f, err)
                    if isinstance(out, tuple):
                        return (new,) + tuple(out[1:])
                    return new
                if splice:
                    handles.append(module.register_forward_hook(fn))
            try:
                logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0].float()
            finally:
                for h in handles:
                    h.remove()
            lp = torch.log_softmax(logits, -1)
            if metric == "logprob":
                m = lp[-1, ATTR_TOKENS[0]]
            elif metric == "logit_diff":
                m = lp[-1, ATTR_TOKENS[0]] - lp[-1, ATTR_TOKENS[1]]
            else:
                n = len(cont)
                m = sum(lp[len(ids) - n - 1 + j, t] for j, t in enumerate(cont))
            return m, logits, leaves

        for metric in metrics:
            ids = context + cont if metric == "continuation" else context
            m, logits, leaves = run(ids, metric)
            with torch.no_grad():
                _, plain, _ = run(ids, metric, splice=False)
            # the splice keeps the output exactly
            assert torch.equal(logits, plain), (mname, metric)
            m.backward()
            tensors[f"{metric}.value"] = m.detach().reshape(1).float()
            for name, (f, err) in leaves.items():
                tensors[f"{metric}.grad.{name}"] = f.grad.float().contiguous()
                tensors[f"{metric}.err_attr.{name}"] = (err.detach() * err.grad).sum(-1).float().contiguous()
                tensors[f"{metric}.acts.{name}"] = f.detach().float().contiguous()
            top = max(float((f.detach() * f.grad).abs().max()) for f, _ in leaves.values())
            print(f"attribution {mname}/{metric}: value {float(m.detach()):.4f}, largest |attribution| {top:.4g}")
        assert all(v > 2e-4 for v in margins.values()), (mname, margins)
        save_file(tensors, str(out_dir / f"{mname}.safetensors"))
        cases["models"][mname] = {"metrics": list(metrics), "margins": {k: round(v, 6) for k, v in margins.items()}}
    (out_dir / "cases.json").write_text(json.dumps(cases, indent=1) + "\n")
    total = sum(f.stat().st_size for f in out_dir.iterdir())
    print(f"attribution refs: {total / 1e3:.0f} kB in {out_dir}")


if __name__ == "__main__":
    if sys.argv[1:] == ["mask-special-attention"]:
        sys.exit(mask_special_attention_refs())
    if sys.argv[1:] == ["steer"]:
        sys.exit(steer_refs())
    if sys.argv[1:] == ["attribution"]:
        sys.exit(attribution_refs())
    sys.exit(main())
