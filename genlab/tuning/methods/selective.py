"""``selective``: train a chosen subset of the existing weights, freeze the rest.

Choices combine (a parameter trains if any choice selects it):
biases (BitFit, Ben Zaken et al. 2021, https://arxiv.org/abs/2106.10199),
normalization layers only, the last ``k`` blocks, or a name regex.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from genlab.errors import ConfigError
from genlab.tuning.methods import freeze, register

NORM = re.compile(r"(norm|ln_|layernorm|layer_norm)", re.I)
BLOCK = re.compile(r"\.(layers|layer|h|block|blocks)\.(\d+)\.")


@dataclass
class SelectiveConfig:
    biases: bool = False
    norms: bool = False
    last_k: int | None = None
    regex: str | None = None

    def __post_init__(self):
        if not (self.biases or self.norms or self.last_k or self.regex):
            raise ConfigError("selective needs at least one of biases, norms, last_k, regex",
                              where="method='selective'", hint="e.g. biases=true (BitFit) or last_k=2")
        if self.last_k is not None and self.last_k <= 0:
            raise ConfigError(f"last_k={self.last_k} must be > 0", where="SelectiveConfig.last_k")


@register("selective", SelectiveConfig)
def apply(model, cfg: SelectiveConfig, tokenizer=None):
    """Train biases / norms / last k blocks / names matching a regex."""
    freeze(model)
    names = [n for n, _ in model.named_parameters()]
    chosen = {n for n in names if _selected(n, cfg, _last_blocks(names, cfg.last_k))}
    if not chosen:
        raise ConfigError(f"selective ({_describe(cfg)}) matched no parameter of this {type(model).__name__}",
                          where="method='selective'",
                          hint="Llama-family models have no biases: try norms=true or last_k=2; "
                               "`genlab plan` lists parameter names")
    for n, p in model.named_parameters():
        p.requires_grad_(n in chosen)
    return model


def _selected(name: str, cfg: SelectiveConfig, last: set[tuple[str, int]]) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    return ((cfg.biases and leaf == "bias")
            or (cfg.norms and bool(NORM.search(name)))
            or _block_of(name) in last
            or (cfg.regex is not None and re.search(cfg.regex, name) is not None))


def _block_of(name: str) -> tuple[str, int] | None:
    """(stack, index) of the block holding ``name``: ("model.layers", 3), ("decoder.block", 1)."""
    m = BLOCK.search(name)
    return (name[:m.start()] + "." + m.group(1), int(m.group(2))) if m else None


def _last_blocks(names: list[str], k: int | None) -> set[tuple[str, int]]:
    """The last k blocks of every block stack (T5 has one stack per encoder and decoder)."""
    if not k:
        return set()
    stacks: dict[str, set[int]] = {}
    for b in filter(None, map(_block_of, names)):
        stacks.setdefault(b[0], set()).add(b[1])
    return {(s, i) for s, idx in stacks.items() for i in sorted(idx)[-k:]}


def _describe(cfg: SelectiveConfig) -> str:
    return ", ".join(f"{k}={v}" for k, v in vars(cfg).items() if v)
