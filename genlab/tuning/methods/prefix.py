"""``prefix``: trained key/value prefixes in every layer (Li & Liang 2021, https://arxiv.org/abs/2101.00190), via peft."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.tuning.methods import peft_task_type, register


@dataclass
class PrefixSettings:
    num_virtual_tokens: int = 20
    prefix_projection: bool = False


@register("prefix", PrefixSettings)
def apply(model, cfg: PrefixSettings, tokenizer=None):
    """Prefix tuning: virtual key/value tokens per layer (peft)."""
    from peft import PrefixTuningConfig, get_peft_model

    pc = PrefixTuningConfig(task_type=peft_task_type(model), num_virtual_tokens=cfg.num_virtual_tokens,
                            prefix_projection=cfg.prefix_projection)
    return get_peft_model(model, pc)
