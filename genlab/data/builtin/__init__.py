"""Built-in data generators: pure Python, deterministic by seed, no downloads.

``GENERATORS[name](n, seed, part) -> list[dict]``. Example ``i`` depends only on
``(seed, part, i)``, so asking for more examples never changes the first ones.
``part="seen"`` feeds train, validation and test; ``part="unseen"`` draws from
held-out scenario types, name and item pools and phrasings (the ``test-unseen``
split), none of which ``seen`` ever uses.
"""

from __future__ import annotations

from typing import Callable

from genlab.data.builtin.chat import generate_chat
from genlab.data.builtin.preferences import generate_detox, generate_support_prefs
from genlab.data.builtin.handbook import generate_kb_qa
from genlab.data.builtin.orders import generate_orders_agent
from genlab.data.builtin.reviews import generate_reviews
from genlab.data.builtin.support import generate_support
from genlab.data.builtin.word_math import generate_word_math

GENERATORS: dict[str, Callable[[int, int, str], list[dict]]] = {
    "support": generate_support,
    "chat": generate_chat,
    "reviews": generate_reviews,
    "word-math": generate_word_math,
    "support-prefs": generate_support_prefs,
    "detox": generate_detox,
    "support-kb": generate_kb_qa,
    "orders-agent": generate_orders_agent,
}


def generate(name: str, n: int, seed: int = 0, part: str = "seen") -> list[dict]:
    from genlab.errors import ConfigError

    if name not in GENERATORS:
        raise ConfigError(f"unknown built-in generator {name!r}", hint=f"choose one of {', '.join(GENERATORS)}")
    if part not in ("seen", "unseen"):
        raise ConfigError(f"unknown part {part!r} of built-in generator {name!r}", hint="use seen or unseen")
    return GENERATORS[name](n, seed, part)


__all__ = ["GENERATORS", "generate", "generate_chat", "generate_reviews", "generate_support", "generate_word_math"]
