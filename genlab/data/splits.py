"""Deterministic train/validation/test splits by seed and ratios."""

from __future__ import annotations

import random
from typing import Sequence, TypeVar

from genlab.errors import ConfigError

T = TypeVar("T")
DEFAULT_NAMES = ("train", "validation", "test")


def split_sizes(n: int, ratios: Sequence[float]) -> list[int]:
    """Sizes that sum to ``n``; rounding leftovers go to the first (train) split."""
    if any(r < 0 for r in ratios) or not ratios or abs(sum(ratios) - 1.0) > 1e-6:
        raise ConfigError(f"split ratios must be non-negative and sum to 1, got {list(ratios)}",
                          hint="e.g. [0.8, 0.1, 0.1]")
    sizes = [int(n * r) for r in ratios]
    sizes[0] += n - sum(sizes)
    return sizes


def split_rows(rows: Sequence[T], ratios: Sequence[float] = (0.8, 0.1, 0.1), *, seed: int = 0,
               names: Sequence[str] = DEFAULT_NAMES) -> dict[str, list[T]]:
    """Shuffle indices with ``seed`` and cut them by ``ratios``; same inputs, same splits, disjoint."""
    if len(names) != len(ratios):
        raise ConfigError(f"{len(ratios)} split ratios but {len(names)} split names ({', '.join(names)})")
    order = list(range(len(rows)))
    random.Random(f"split:{seed}").shuffle(order)
    out, start = {}, 0
    for name, size in zip(names, split_sizes(len(rows), ratios)):
        out[name] = [rows[i] for i in sorted(order[start:start + size])]
        start += size
    return out
