"""Built-in data generators: pure Python, deterministic by seed, no downloads.

``GENERATORS[name](n, seed) -> list[dict]``. Example ``i`` depends only on
``(seed, i)``, so asking for more examples never changes the first ones.
"""

from __future__ import annotations

from typing import Callable

from genlab.data.builtin.chat import generate_chat
from genlab.data.builtin.reviews import generate_reviews
from genlab.data.builtin.support import generate_support

GENERATORS: dict[str, Callable[[int, int], list[dict]]] = {
    "support": generate_support,
    "chat": generate_chat,
    "reviews": generate_reviews,
}


def generate(name: str, n: int, seed: int = 0) -> list[dict]:
    from genlab.errors import ConfigError

    if name not in GENERATORS:
        raise ConfigError(f"unknown built-in generator {name!r}", hint=f"choose one of {', '.join(GENERATORS)}")
    return GENERATORS[name](n, seed)


__all__ = ["GENERATORS", "generate", "generate_chat", "generate_reviews", "generate_support"]
