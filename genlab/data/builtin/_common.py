"""Shared vocabulary for the built-in generators: names, dates, amounts, helpers.

Kept apart from the generators so each generator reads as structure (turn order,
who says what) while the word lists that give it variety live here.
"""

from __future__ import annotations

import random
from typing import Sequence

PARTS = ("seen", "unseen")

FIRST_NAMES = [
    "Maria", "James", "Aisha", "Tom", "Priya", "Daniel", "Sofia", "Liam", "Chen", "Olivia", "Mateo", "Hannah",
    "Kwame", "Emma", "Yuki", "Noah", "Fatima", "Lucas", "Grace", "Omar", "Isabel", "Ethan", "Leila", "Ben",
    "Nadia", "Samuel", "Chloe", "Raj", "Zoe", "Victor", "Mei", "Jonas", "Amara", "Diego", "Sara", "Felix",
    "Ines", "Marcus", "Anna", "Tariq", "Julia", "Kenji", "Rosa", "Adam", "Lena", "Hugo", "Ada", "Pablo",
    "Nora", "Malik", "Elena", "Oscar", "Ruth", "Ivan", "Lucy", "Andre", "Maya", "Peter", "Alina", "Sean",
]
LAST_NAMES = [
    "Lopez", "Smith", "Khan", "Nguyen", "Patel", "Muller", "Rossi", "Okafor", "Kim", "Johnson", "Garcia",
    "Brown", "Silva", "Tanaka", "Novak", "Dubois", "Haddad", "Walsh", "Costa", "Larsen", "Ahmed", "Fischer",
    "Moreau", "Ivanova", "Mensah", "Reyes", "Cohen", "Becker", "Sato", "Murphy", "Schmidt", "Jensen",
]
AGENT_NAMES = ["Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Dana", "Robin", "Chris", "Blake",
               "Avery", "Quinn", "Drew", "Reese"]

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def date(rng: random.Random, after: int | None = None) -> str:
    """A day people would write in a chat, e.g. 'March 3' or 'the 14th of June'."""
    return format_day(rng, day_of_year(rng, after))


def day_of_year(rng: random.Random, after: int | None = None) -> int:
    """0..335 (12 months of 28 days); ``after`` gives a day 2-20 days later, so a promised date follows the past one."""
    return rng.randrange(336) if after is None else (after + rng.randint(2, 20)) % 336


def format_day(rng: random.Random, doy: int) -> str:
    month, day = MONTHS[doy // 28], doy % 28 + 1
    return f"{month} {day}" if rng.random() < 0.7 else f"the {ordinal(day)} of {month}"


def amount(rng: random.Random, lo: float = 9, hi: float = 400) -> str:
    value = rng.uniform(lo, hi)
    cents = rng.choice([0, 0.99, 0.49, 0.95, round(rng.random(), 2)])
    return f"${int(value) + cents:.2f}"


def order_number(rng: random.Random) -> str:
    return str(rng.randint(100000, 999999)) if rng.random() < 0.6 else f"{rng.choice('ABCDEFGHKMNPRSTW')}{rng.choice('ABCDEFGHKMNPRSTW')}-{rng.randint(10000, 99999)}"


def halves(items: Sequence) -> dict[str, tuple]:
    """``{"seen": ..., "unseen": ...}``: every fourth item (and at least one) is kept for the ``test-unseen`` split.

    Train, validation and test draw only from ``seen``; ``test-unseen`` only from
    ``unseen``, so a model cannot have memorised an unseen name, product or phrasing.
    """
    items = tuple(items)
    unseen = tuple(x for i, x in enumerate(items) if i % 4 == 3) or items[-1:]
    return {"seen": tuple(x for x in items if x not in unseen), "unseen": unseen}


def check_part(part: str) -> str:
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    return part


FIRST = halves(FIRST_NAMES)
LAST = halves(LAST_NAMES)
AGENTS = halves(AGENT_NAMES)


def person(rng: random.Random, part: str = "seen") -> tuple[str, str]:
    """(first name, full name) from the ``part``'s half of the name pools."""
    first = rng.choice(FIRST[part])
    return first, f"{first} {rng.choice(LAST[part])}"


def pick(rng: random.Random, options, **slots) -> str:
    """Choose one phrasing and fill its {slots}."""
    return rng.choice(options).format(**slots)


def maybe(rng: random.Random, p: float, text: str) -> str:
    return text if rng.random() < p else ""


def sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text
