"""``ia3``: learned rescaling vectors (Liu et al. 2022, https://arxiv.org/abs/2205.05638), via peft.

Keys, values and the feed-forward input are multiplied element-wise by trained
vectors initialised to 1: ``x ↦ l ⊙ (W x)``. peft picks the modules per architecture.
"""

from __future__ import annotations

from dataclasses import dataclass

from genlab.tuning.methods import peft_task_type, register


@dataclass
class IA3Settings:
    target_modules: list[str] | None = None
    feedforward_modules: list[str] | None = None


@register("ia3", IA3Settings)
def apply(model, cfg: IA3Settings, tokenizer=None):
    """(IA)^3 scaling vectors (peft)."""
    from peft import IA3Config, get_peft_model

    pc = IA3Config(task_type=peft_task_type(model), target_modules=cfg.target_modules,
                   feedforward_modules=cfg.feedforward_modules)
    return get_peft_model(model, pc)
