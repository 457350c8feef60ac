"""``lora``: low-rank adaptation via peft (Hu et al. 2021, https://arxiv.org/abs/2106.09685).

Each target linear layer becomes ``x ↦ W0 x + (α/r) B A x`` with ``A`` (r × d_in)
random, ``B`` (d_out × r) zero, so the model starts unchanged; only A and B train.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from genlab.tuning.methods import model_type, peft_task_type, register

# Attention query/value projections by architecture (the LoRA paper's choice).
DEFAULT_TARGETS = {
    "llama": ["q_proj", "v_proj"], "mistral": ["q_proj", "v_proj"], "qwen2": ["q_proj", "v_proj"],
    "qwen3": ["q_proj", "v_proj"], "gemma": ["q_proj", "v_proj"], "phi3": ["qkv_proj"],
    "t5": ["q", "v"], "mt5": ["q", "v"], "bert": ["query", "value"], "roberta": ["query", "value"],
    "gpt2": ["c_attn"],
}


@dataclass
class LoraSettings:
    r: int = 8
    alpha: float = 16
    dropout: float = 0.05
    target_modules: list[str] | None = field(default=None)  # None: DEFAULT_TARGETS for the architecture


def target_modules(model, wanted: list[str] | str | None) -> list[str] | str | None:
    if wanted:
        return [w.strip() for w in wanted.split(",")] if isinstance(wanted, str) else list(wanted)
    return DEFAULT_TARGETS.get(model_type(model))  # None: peft's own table


@register("lora", LoraSettings)
def apply(model, cfg: LoraSettings, tokenizer=None):
    """LoRA on the attention projections (peft)."""
    from peft import LoraConfig, get_peft_model

    pc = LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                    target_modules=target_modules(model, cfg.target_modules), task_type=peft_task_type(model))
    return get_peft_model(model, pc)
