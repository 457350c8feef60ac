"""``plan``: memory estimate for fine-tuning, before spending the memory.

    weights     = P · bytes(weight dtype)
    gradients   = P_train · bytes(weight dtype)
    optimizer   = 2 · P_train · bytes(weight dtype)                    (AdamW: m and v)
    activations = L · s·b·h · (34 + 5·a·s/h) · bytes(act)/2          (Korthikanti et al. 2022, no recompute)
    logits      = b · s · V · (bytes(act) + 4) · completion fraction  (logits + fp32 loss upcast)

The model is built on the meta device (no weights read) and the method applied
to it, so the trainable count is the method's real one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# name: (weight bytes, activation bytes)
DTYPES = {"fp32": (4, 4), "bf16-autocast": (4, 2), "bf16": (2, 2)}


@dataclass
class MemoryPlan:
    model: str
    method: str
    params: int
    trainable: int
    batch: int
    seq: int
    rows: dict[str, dict[str, float]]  # dtype -> component -> GiB


def plan(model_name: str, method: str = "lora", batch: int = 4, seq: int = 512, method_cfg: dict | None = None,
         completion_fraction: float = 0.25, trust_remote_code: bool = False) -> MemoryPlan:
    from genlab.tuning import methods

    model, config = _meta_model(model_name, trust_remote_code)
    model = methods.apply(method, model, method_cfg)
    rep = methods.param_report(model)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    h = getattr(text, "hidden_size", None) or text.d_model
    layers = getattr(text, "num_hidden_layers", None) or text.num_layers * (2 if config.is_encoder_decoder else 1)
    heads = getattr(text, "num_attention_heads", None) or text.num_heads
    vocab = text.vocab_size
    rows = {}
    for name, (wb, ab) in DTYPES.items():
        act = layers * seq * batch * h * (34 + 5 * heads * seq / h) * ab / 2
        logits = batch * seq * vocab * (ab + 4) * completion_fraction
        parts = {"weights": rep.total * wb, "gradients": rep.trainable * wb, "optimizer": 2 * rep.trainable * wb,
                 "activations": act, "logits": logits}
        parts["total"] = sum(parts.values())
        rows[name] = {k: v / 2**30 for k, v in parts.items()}
    return MemoryPlan(model_name, method, rep.total, rep.trainable, batch, seq, rows)


def _meta_model(model_name: str, trust_remote_code: bool = False):
    from transformers import (AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM)

    from genlab.models import resolve
    from genlab.models.registry import model_kind

    config = AutoConfig.from_pretrained(resolve(model_name).path, trust_remote_code=trust_remote_code)
    auto = {"causal": AutoModelForCausalLM, "seq2seq": AutoModelForSeq2SeqLM, "encoder": AutoModel}[model_kind(config)]
    with torch.device("meta"):
        return auto.from_config(config, trust_remote_code=trust_remote_code), config
