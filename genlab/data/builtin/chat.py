"""Friends' everyday chats with short summaries (the ``chat-summary`` task).

A different domain from the support dialogues on purpose (like SAMSum beside a
customer-service set), so a user can measure domain shift after fine-tuning on
one of them. ``part="unseen"`` uses scenarios, slot values and names that
``part="seen"`` never does (``_common.halves``).
"""

from __future__ import annotations

import random

from genlab.data.builtin._chat_scenarios import SCENARIOS, SLOTS
from genlab.data.builtin._common import FIRST, check_part, halves
from genlab.data.builtin._support_text import styled

PARTS = halves(SCENARIOS)
SLOT_PARTS = {k: halves(v) for k, v in SLOTS.items()}
STYLES = ["tidy", "casual", "casual", "casual", "fragments", "typos"]


def _casual(rng: random.Random, text: str) -> str:
    """Chats are sloppier than support logs: sometimes a filler word in front."""
    if rng.random() < 0.08:
        if not (text.startswith("I ") or text.startswith("I'")):
            text = text[:1].lower() + text[1:]
        text = rng.choice(["haha ", "ok so ", "lol ", "hmm ", "btw "]) + text
    return text


def chat_dialogue(rng: random.Random, part: str = "seen") -> dict:
    scenario = rng.choice(PARTS[part])
    a, b = rng.sample(FIRST[part], 2)
    slots = {k: rng.choice(v[part]) for k, v in SLOT_PARTS.items()}
    slots.update(A=a, B=b)
    protect = {str(v) for v in slots.values()}
    style = {a: rng.choice(STYLES), b: rng.choice(STYLES)}  # each friend writes in their own way
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
        for piece in styled(rng, _casual(rng, text.format(**slots)), style[name], protect):
            lines.append(f"{name}: {piece}")
    summary = rng.choice(scenario["summary"]).format(**slots)
    summary = summary[:1].upper() + summary[1:]
    facts = {k: v for k, v in slots.items() if v in "\n".join(lines) and k not in ("A", "B")}
    return dict(dialogue="\n".join(lines), summary=summary, scenario=scenario["key"], facts=facts)


def generate_chat(n: int, seed: int = 0, part: str = "seen") -> list[dict]:
    """``n`` chats, deterministic given ``seed`` and ``part``."""
    prefix = "chat" if check_part(part) == "seen" else "chat-unseen"
    return [dict(id=f"{prefix}-{seed}-{i}", **chat_dialogue(random.Random(f"{prefix}:{seed}:{i}"), part))
            for i in range(n)]
