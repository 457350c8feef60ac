"""Yes/no reading comprehension over the built-in support dialogues ("what was agreed?").

Each dialogue from ``genlab.data.builtin.support`` gets one question whose answer follows
from the generator's own fields, so the gold label is right by construction:

* ``agreed`` — "In the end, did the agent <clause>?" The clause is the fix the dialogue
  ended with and the summary states (yes) or another fix of the same scenario (no; when the
  customer pushed back, often the very offer they turned down, a hard negative). Dialogues
  that end unresolved get a ``product`` or ``name`` question instead;
* ``product`` — "Was the conversation about <item>?" (the dialogue's item, or another of its kind);
* ``name`` — "Was the customer's name <name>?" (the customer's, or another full name).

Half the questions are answered yes, chosen by a seeded coin; deterministic given the seed.
"""

from __future__ import annotations

import random

from genlab.data.builtin import generate_support
from genlab.data.builtin._common import FIRST_NAMES, LAST_NAMES
from genlab.data.builtin._support_scenarios import INDUSTRIES
from genlab.data.builtin.support import fix_clauses  # the generator's own fixes, filled with a row's facts

KINDS = ("agreed", "agreed", "product", "name")  # what was agreed is asked twice as often


def agreed_clause(row: dict) -> tuple[int, str] | None:
    """(index of the agreed fix, the clause the summary states), or None when the dialogue ended unresolved."""
    if row.get("outcome_index") is None:
        return None
    return row["outcome_index"], row["outcome"]


def _agreed(row: dict, rng: random.Random, yes: bool) -> tuple[str, bool] | None:
    found = agreed_clause(row)
    if found is None:
        return None
    index, clause = found
    others = [c for j, c in enumerate(fix_clauses(row, rng)) if j != index and c != clause]
    if not others:
        return None
    if not yes:
        clause = rng.choice(others)
    return f"In the end, did the agent agree to this: the agent {clause}?", yes


def _product(row: dict, rng: random.Random, yes: bool) -> tuple[str, bool]:
    pool = INDUSTRIES[row["industry"]]["items"]
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
