"""``full``: every weight trains (the baseline every other method is compared with)."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.tuning.methods import register


@dataclass
class FullConfig:
    pass


@register("full", FullConfig)
def apply(model, cfg: FullConfig, tokenizer=None):
    """All parameters train."""
    for p in model.parameters():
        p.requires_grad_(True)
    return model
