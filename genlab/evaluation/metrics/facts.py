"""Fact accuracy and fact recall: do the facts a summary states match the facts of its dialogue?

A *fact* is a typed value found in text by the rules below; the same rules read
the output and the source's slot values (the example's ``facts`` field, e.g.
``{"customer_name": "Maria Lopez", "ref": "482913", "amount": "$45.00",
"new_date": "the 3rd of March", "days": "5"}``), so formats do not matter:

* ``amount`` — ``$45``, ``$45.00``, ``45 dollars``, ``USD 45`` all read as 45.00;
* ``date`` — ``March 3``, ``3 March``, ``the 3rd of March``, ``Mar 3rd`` all read as (3, 3);
* ``time`` — ``9:30``;
* ``id`` — a token with 3+ digits, or of 5+ letters and digits run together
  (order, case and booking numbers: ``AB-12345`` = ``AB12345`` = ``#ab-12345``,
  ``RFG6T8``); ``7-day`` and ``2TB`` are not ids;
* ``number`` — a bare 1-2 digit number (``5 days``); it also counts as correct
  when it equals the value of any numeric fact (an amount said without ``$``);
* ``name`` — a capitalised word that is a name of the source's people, or any
  name of genlab's built-in name pools (so another customer's name is caught);
  other capitalised words are not checked.

Words like "five", company names and products are not checked.

* ``fact_accuracy`` (precision): of the facts the output states, the share that
  the source's facts contain; pooled over the corpus (stats ``[correct, stated]``).
  An output that states no fact adds nothing; a corpus that states none scores 0.
* ``fact_recall``: of the facts the *reference* summary states, the share the
  output states too (stats ``[found, key]``).

A reference must carry its facts (``genlab.tasks`` attaches the row's ``facts`` to
the target as ``Reference.facts``); without them both metrics raise an error.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from genlab.evaluation.metrics.base import Metric, Reference

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
_MONTH = r"(?P<{g}>" + "|".join(m[:3] + r"(?:" + m[3:] + r")?" if len(m) > 3 else m for m in MONTHS) + r")\.?"
_DAY = r"(?P<{g}>\d{{1,2}})(?:st|nd|rd|th)?"
_DATES = [re.compile(rf"\b{_MONTH.format(g='m')}\s+{_DAY.format(g='d')}\b", re.I),
          re.compile(rf"\b(?:the\s+)?{_DAY.format(g='d')}\s+(?:of\s+)?{_MONTH.format(g='m')}(?![a-z])", re.I)]
_AMOUNTS = [re.compile(r"(?:\$|USD\s?|US\$)\s?(?P<v>\d[\d,]*(?:\.\d{1,2})?)", re.I),
            re.compile(r"\b(?P<v>\d[\d,]*(?:\.\d{1,2})?)\s?(?:dollars|usd|bucks)\b", re.I)]
_TIME = re.compile(r"\b(?P<h>\d{1,2}):(?P<m>\d{2})\b")
_ORDINAL = re.compile(r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)\b", re.I)
_ID = re.compile(r"#?\b[A-Za-z0-9][A-Za-z0-9-]{2,}\b")
_NUMBER = re.compile(r"\b\d{1,2}\b")
_WORD = re.compile(r"\b[A-Z][a-z]+\b")


def _known_names() -> frozenset[str]:
    from genlab.data.builtin._common import AGENT_NAMES, FIRST_NAMES, LAST_NAMES

    return frozenset(FIRST_NAMES + LAST_NAMES + AGENT_NAMES)


KNOWN_NAMES = _known_names()


def _month(text: str) -> int:
    return next(i for i, m in enumerate(MONTHS, 1) if m.startswith(text.lower().rstrip(".")[:3]))


def _take(pattern: re.Pattern, text: str, make) -> tuple[set, str]:
    """Facts ``make(match)`` of every match, and ``text`` with the matches blanked (so no rule reads them twice)."""
    found = {make(m) for m in pattern.finditer(text)}
    return found, pattern.sub(" ", text)


def _is_id(token: str) -> bool:
    """Order, case and booking numbers: 3+ digits (``482913``, ``AB-12345``) or letters and digits run
    together (``RFG6T8``); not ``7-day`` or ``2TB``."""
    digits = sum(c.isdigit() for c in token)
    return digits >= 3 or (digits > 0 and "-" not in token and len(token.lstrip("#")) >= 5
                           and any(c.isalpha() for c in token))


def extract_facts(text: str, names: frozenset[str] = frozenset()) -> set[tuple]:
    """Typed facts in ``text``: ``("amount", 45.0)``, ``("date", 3, 3)``, ``("id", "AB12345")``, ..."""
    facts: set[tuple] = set()
    for pattern in _AMOUNTS:
        found, text = _take(pattern, text, lambda m: ("amount", round(float(m["v"].replace(",", "")), 2)))
        facts |= found
    for pattern in _DATES:
        found, text = _take(pattern, text, lambda m: ("date", _month(m["m"]), int(m["d"])))
        facts |= {f for f in found if 1 <= f[2] <= 31}
    found, text = _take(_TIME, text, lambda m: ("time", int(m["h"]), int(m["m"])))
    facts |= found
    found, text = _take(_ORDINAL, text, lambda m: ("number", int(m["d"])))
    facts |= found
    ids = set()
    for token in {m.group(0) for m in _ID.finditer(text)}:
        if _is_id(token):
            ids.add(("id", re.sub(r"[^A-Z0-9]", "", token.upper())))
            text = text.replace(token, " ")
    facts |= ids
    facts |= {("number", int(n)) for n in _NUMBER.findall(text)}
    facts |= {("name", w) for w in _WORD.findall(text) if w in names or w in KNOWN_NAMES}
    return facts


def source_facts(facts: dict) -> tuple[set[tuple], frozenset[str]]:
    """The typed facts of a ``facts`` dict, and the names of its people (every capitalised word of its values)."""
    values = [str(v) for v in facts.values() if v is not None]
    names = frozenset(w for v in values for w in _WORD.findall(v) if w.lower() not in MONTHS)
    return set().union(*(extract_facts(v, names) for v in values)) if values else set(), names


def _numeric(facts: set[tuple]) -> set[float]:
    """Every number a fact holds: a bare number in the output may say any of them (an amount without "$")."""
    out = set()
    for f in facts:
        if f[0] in ("amount", "number") or (f[0] == "id" and f[1].isdigit()):
            out.add(float(f[1]))
        elif f[0] in ("date", "time"):
            out.add(float(f[2] if f[0] == "date" else f[1]))
    return out


def _facts_of(reference: Any, metric: str) -> dict:
    facts = getattr(reference, "facts", None)
    if not isinstance(facts, dict):
        raise ValueError(f"{metric} needs the source's facts: give each example a 'facts' field (a mapping of "
                         "slot name to value, as the built-in support generator does)")
    return facts


def judge(prediction: str, facts: dict) -> tuple[set[tuple], set[tuple]]:
    """(correct, wrong) facts stated in ``prediction``, judged against ``facts``."""
    known, names = source_facts(facts)
    numbers = _numeric(known)
    correct, wrong = set(), set()
    for f in extract_facts(prediction, names):
        ok = f in known or (f[0] == "number" and float(f[1]) in numbers)
        (correct if ok else wrong).add(f)
    return correct, wrong


class FactAccuracy(Metric):
    name = "fact_accuracy"
    reference = "share of stated facts (names, ids, amounts, dates, times, numbers) found in the source's facts"

    def sample_stats(self, prediction: str, references: Any) -> np.ndarray:
        ref = references[0] if isinstance(references, (list, tuple)) else references
        correct, wrong = judge(str(prediction), _facts_of(ref, self.name))
        return np.array([len(correct), len(correct) + len(wrong)], dtype=np.float64)

    def from_stats(self, stats: np.ndarray) -> np.ndarray:
        stats = np.asarray(stats, dtype=np.float64)
        return stats[..., 0] / np.maximum(stats[..., 1], 1.0)


class FactRecall(Metric):
    name = "fact_recall"
    reference = "share of the reference summary's facts that the output states"

    def sample_stats(self, prediction: str, references: Any) -> np.ndarray:
        ref = references[0] if isinstance(references, (list, tuple)) else references
        _, names = source_facts(_facts_of(ref, self.name))
        key = extract_facts(str(ref), names)
        found = key & extract_facts(str(prediction), names)
        return np.array([len(found), len(key)], dtype=np.float64)

    def from_stats(self, stats: np.ndarray) -> np.ndarray:
        stats = np.asarray(stats, dtype=np.float64)
        return stats[..., 0] / np.maximum(stats[..., 1], 1.0)
