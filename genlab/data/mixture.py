"""Multi-task mixtures (FLAN style): explicit weights, or proportional with an examples cap.

Proportional mixing with a cap (Raffel et al. 2020, "examples-proportional
mixing"; Chung et al. 2022 for FLAN) samples each task in proportion to
``min(size, cap)``, so one huge task cannot drown the small ones. Every example
is rendered with a template sampled for it, and the whole mixture is a pure
function of its seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Sequence

from genlab.errors import ConfigError

# render(row, rng) -> (prompt, target, template_name)
RenderFn = Callable[[dict, random.Random], tuple[str, str, str]]


@dataclass
class MixtureSource:
    name: str
    rows: Sequence[dict]
    render: RenderFn
    weight: float | None = None


def mixture_rates(sources: Sequence[MixtureSource], *, cap: int | None = None) -> dict[str, float]:
    """Sampling rate of each source: its explicit weight, or ``min(size, cap)``; normalized to sum to 1."""
    explicit = [s.weight is not None for s in sources]
    if any(explicit) and not all(explicit):
        raise ConfigError("give a weight to every task in the mixture, or to none (proportional mixing)")
    raw = {s.name: float(s.weight) if s.weight is not None else float(min(len(s.rows), cap or len(s.rows)))
           for s in sources}
    if any(v < 0 for v in raw.values()) or sum(raw.values()) <= 0:
        raise ConfigError(f"mixture weights must be non-negative with a positive sum, got {raw}")
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}


def mix(sources: Sequence[MixtureSource], n: int, *, cap: int | None = None, seed: int = 0) -> list[dict]:
    """``n`` examples drawn by ``mixture_rates``; within a task, rows cycle through a seeded permutation."""
    if not sources:
        raise ConfigError("a mixture needs at least one task")
    for s in sources:
        if not s.rows:
            raise ConfigError(f"task {s.name!r} has no examples to mix")
    rates = mixture_rates(sources, cap=cap)
    rng = random.Random(f"mixture:{seed}")
    orders = {s.name: rng.sample(range(len(s.rows)), len(s.rows)) for s in sources}
    cursor = {s.name: 0 for s in sources}
    by_name = {s.name: s for s in sources}
    names = list(rates)
    out = []
    for name in rng.choices(names, weights=[rates[k] for k in names], k=n):
        src = by_name[name]
        row = src.rows[orders[name][cursor[name] % len(src.rows)]]
        cursor[name] += 1
        prompt, target, template = src.render(row, rng)
        out.append(dict(task=name, prompt=prompt, target=target, template=template, raw=dict(row)))
    return out
