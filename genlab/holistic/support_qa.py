"""Yes/no reading comprehension over the built-in support dialogues ("what was agreed?").

Each dialogue from ``genlab.data.builtin.support`` gets one question whose answer follows
from the generator's own fields, so the gold label is right by construction:

* ``agreed`` — "In the end, did the agent <clause>?" The clause is the resolution the
  summary states (yes) or another resolution of the same scenario (no; when the customer
  pushed back, often the very offer they turned down, a hard negative);
* ``product`` — "Was the conversation about <item>?" (the dialogue's item, or another of its kind);
* ``name`` — "Was the customer's name <name>?" (the customer's, or another full name).

Half the questions are answered yes, chosen by a seeded coin; deterministic given the seed.
"""

from __future__ import annotations

import random
import re

from genlab.data.builtin import generate_support
from genlab.data.builtin._common import FIRST_NAMES, LAST_NAMES
from genlab.data.builtin._support_scenarios import POOLS, SCENARIOS
from genlab.data.builtin.support import _slots  # the generator's slot values, whatever slots it adds

_BY_KEY = {s["key"]: s for s in SCENARIOS}
_SLOT = re.compile(r"\{(\w+)\}")
KINDS = ("agreed", "agreed", "product", "name")  # what was agreed is asked twice as often


def _clause_regex(template: str) -> re.Pattern:
    parts = _SLOT.split(template)  # literal, slot, literal, slot, ...
    rx = "".join(re.escape(p) if i % 2 == 0 else rf"(?P<{p}>.+?)" for i, p in enumerate(parts))
    if not parts[-1]:  # a slot ends the clause: it runs to the sentence's end ("$316.29.")
        rx += r"(?=\.(?:\s|$)|$)"
    return re.compile(rx)


def agreed_clause(row: dict) -> tuple[int, str, dict] | None:
    """(resolution index, the clause as the summary states it, its slot values), else None."""
    for i, (_, template) in enumerate(_BY_KEY[row["scenario"]]["resolutions"]):
        m = _clause_regex(template).search(row["summary"])
        if m:
            return i, m.group(0), m.groupdict()
    return None


def _fill(template: str, known: dict, row: dict, rng: random.Random) -> str:
    """``template`` with the slots the agreed clause showed, and fresh values (drawn by the
    support generator's own slot table, so new slots work) for the rest."""
    fresh = _slots(rng, _BY_KEY[row["scenario"]])
    return template.format(**{**fresh, "product": row["product"], **{k: v for k, v in known.items() if v}})


def _agreed(row: dict, rng: random.Random, yes: bool) -> tuple[str, bool] | None:
    found = agreed_clause(row)
    resolutions = _BY_KEY[row["scenario"]]["resolutions"]
    if found is None or len(resolutions) < 2:
        return None
    index, clause, slots = found
    if not yes:
        other = rng.choice([r for j, r in enumerate(resolutions) if j != index])[1]
        clause = _fill(other, slots, row, rng)
    return f"In the end, did the agent agree to this: the agent {clause}?", yes


def _product(row: dict, rng: random.Random, yes: bool) -> tuple[str, bool]:
    pool = next(items for items in POOLS.values() if row["product"] in items)
    item = row["product"] if yes else rng.choice([p for p in pool if p not in row["dialogue"]])
    return f"Was the conversation about the customer's {item}?", yes


def _name(row: dict, rng: random.Random, yes: bool) -> tuple[str, bool]:
    name = row["customer_name"]
    if not yes:
        while name == row["customer_name"] or name.split()[0] in row["dialogue"]:
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    return f"Was the customer's name {name}?", yes


def support_qa_row(row: dict, rng: random.Random) -> dict:
    yes = rng.random() < 0.5
    kind = rng.choice(KINDS)
    made = _agreed(row, rng, yes) if kind == "agreed" else None
    if made is None:
        kind = "product" if kind == "agreed" else kind
        made = (_product if kind == "product" else _name)(row, rng, yes)
    question, answer = made
    return dict(id=row["id"].replace("support", "support-qa"), dialogue=row["dialogue"], question=question,
                answer="yes" if answer else "no", label=0 if answer else 1, kind=kind, scenario=row["scenario"])


def generate_support_qa(n: int, seed: int = 0) -> list[dict]:
    """``n`` questions over the first ``n`` support dialogues of ``seed``; row i depends on (seed, i) only."""
    return [support_qa_row(row, random.Random(f"support-qa:{seed}:{i}"))
            for i, row in enumerate(generate_support(n, seed))]


__all__ = ["agreed_clause", "generate_support_qa", "support_qa_row"]
