"""Friends' everyday chats with short summaries (the ``chat-summary`` task).

A different domain from the support dialogues on purpose (like SAMSum beside a
customer-service set), so a user can measure domain shift after fine-tuning on
one of them.
"""

from __future__ import annotations

import random

from genlab.data.builtin._chat_scenarios import SCENARIOS, SLOTS
from genlab.data.builtin._common import FIRST_NAMES


def _casual(rng: random.Random, text: str) -> str:
    """Chats are sloppier than support logs: sometimes lower-case, sometimes a filler word."""
    if rng.random() < 0.15:
        text = text[:1].lower() + text[1:]
    if rng.random() < 0.08:
        if not (text.startswith("I ") or text.startswith("I'")):
            text = text[:1].lower() + text[1:]
        text = rng.choice(["haha ", "ok so ", "lol ", "hmm "]) + text
    return text


def chat_dialogue(rng: random.Random) -> dict:
    scenario = rng.choice(SCENARIOS)
    a, b = rng.sample(FIRST_NAMES, 2)
    slots = {k: rng.choice(v) for k, v in SLOTS.items()}
    slots.update(A=a, B=b)
    lines, keep, prev_optional, shared = [], True, False, 0
    for speaker, options in scenario["turns"]:
        optional = speaker.startswith("?")
        if optional and not prev_optional:  # a run of optional turns is one exchange: keep all or none
            keep, shared = rng.random() < 0.5, rng.randrange(12)
        prev_optional = optional
        if optional and not keep:
            continue
        text = options[shared % len(options)] if optional else rng.choice(options)
        name = a if speaker.lstrip("?") == "A" else b
        lines.append(f"{name}: {_casual(rng, text.format(**slots))}")
    summary = rng.choice(scenario["summary"]).format(**slots)
    summary = summary[:1].upper() + summary[1:]
    return dict(dialogue="\n".join(lines), summary=summary, scenario=scenario["key"])


def generate_chat(n: int, seed: int = 0) -> list[dict]:
    """``n`` chats, deterministic given ``seed``."""
    return [dict(id=f"chat-{seed}-{i}", **chat_dialogue(random.Random(f"chat:{seed}:{i}"))) for i in range(n)]
