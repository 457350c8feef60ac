"""GPU smoke check of the training loop (run on a CUDA machine): methods train on the GPU in bf16,
peak GPU memory is recorded, and a SmolLM2-135M-shaped random model gives a tokens/s figure.

    python bench/tune_gpu_check.py
"""

from __future__ import annotations

import json
import random
import tempfile
import time

import torch

from genlab.testing import tiny_model
from genlab.tuning import TrainConfig, methods, train
from genlab.tuning.data import Example


def synthetic(n: int, prompt_len: int, target_len: int, vocab: int, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p = [rng.randrange(5, vocab) for _ in range(rng.randint(prompt_len // 2, prompt_len))]
        t = [rng.randrange(5, vocab) for _ in range(target_len)]
        out.append(Example(p + t, [-100] * len(p) + t))
    return out


def tiny_methods() -> list[dict]:
    rows = []
    for name, opts in [("lora", {"r": 4}), ("adapter", {"bottleneck": 8}), ("prompt-tuning", {"num_virtual_tokens": 4}),
                       ("full", {})]:
        model, tok = tiny_model("causal", initializer_range=0.3)
        model = methods.apply(name, model, opts)
        ex = synthetic(64, 24, 8, len(tok))
        res = train(model, tok, "causal", ex, ex[:8], TrainConfig(lr=2e-2, max_steps=20, batch_size=8, precision="bf16"),
                    tempfile.mkdtemp())
        losses = [r["loss"] for r in res.history if "loss" in r]
        rows.append({"method": name, "device": str(next(model.parameters()).device), "first": losses[0],
                     "last": losses[-1], "peak_gpu_mb": res.peak_gpu_mb})
    return rows


def smollm_shaped(steps: int = 30, batch: int = 8) -> dict:
    from transformers import AutoModelForCausalLM, LlamaConfig

    cfg = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                      num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=2048, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = methods.apply("lora", AutoModelForCausalLM.from_config(cfg), {"r": 8})

    class Tok:
        pad_token_id = 0
    ex = synthetic(steps * batch, 256, 48, cfg.vocab_size)
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    res = train(model, Tok(), "causal", ex, [], TrainConfig(lr=2e-4, max_steps=steps, batch_size=batch,
                                                            precision="bf16", save_every=10_000), tempfile.mkdtemp())
    return {"model": "SmolLM2-135M-shaped (random), LoRA r=8 q,v", "steps": res.steps, "tokens_per_s": res.tokens_per_s,
            "wall_s": round(time.perf_counter() - t0, 1), "peak_gpu_mb": res.peak_gpu_mb, "final_loss": res.final_loss}


if __name__ == "__main__":
    print(json.dumps({"cuda": torch.cuda.is_available(), "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}))
    for row in tiny_methods():
        print(json.dumps(row))
    print(json.dumps(smollm_shaped()))
