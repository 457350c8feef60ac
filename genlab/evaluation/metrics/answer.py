"""Answer accuracy for numeric answers: extract the number a model gave, compare with a tolerance.

The extraction follows the GSM8K / chain-of-thought convention (Wei et al. 2022,
"The answer is X"): the number after the last "answer is" / "answer:" when there is
one, else the last number in the text. ``$``, thousands separators and a trailing
period are ignored. A prediction with no number scores 0.
"""

from __future__ import annotations

import math
import re
from typing import Any

from genlab.evaluation.metrics.base import MeanMetric, as_refs

_NUMBER = r"-?\$?\s?-?\d[\d,]*(?:\.\d+)?|-?\$?\.\d+"
_NUM = re.compile(_NUMBER)
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*:?\s*(?:about\s+)?(" + _NUMBER + ")", re.IGNORECASE)


def parse_number(text: str) -> float | None:
    """``"$1,234.50"`` -> 1234.5; None when ``text`` is not a number."""
    cleaned = text.replace("$", "").replace(",", "").replace(" ", "").rstrip(".")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def extract_number(text: str) -> float | None:
    """The model's numeric answer: after the last "answer is", else the last number; None if none."""
    if not text:
        return None
    marked = _ANSWER_IS.findall(text)
    candidates = marked or _NUM.findall(text)
    for raw in reversed(candidates):
        value = parse_number(raw)
        if value is not None:
            return value
    return None


def numbers_match(pred: float | None, gold: float | None, abs_tol: float = 0.01, rel_tol: float = 0.0) -> bool:
    if pred is None or gold is None:
        return False
    return math.isclose(pred, gold, abs_tol=abs_tol, rel_tol=rel_tol)


class AnswerAccuracy(MeanMetric):
    """1 when the extracted number is within ``abs_tol`` (or ``rel_tol``) of the reference's number."""

    name = "answer_accuracy"
    reference = "GSM8K-style numeric answer extraction (last 'answer is' number, else last number)"

    def __init__(self, abs_tol: float = 0.01, rel_tol: float = 0.0):
        if abs_tol < 0 or rel_tol < 0:
            raise ValueError("abs_tol and rel_tol must be >= 0")
        self.abs_tol, self.rel_tol = float(abs_tol), float(rel_tol)

    def score(self, prediction: Any, references: Any) -> float:
        pred = extract_number(str(prediction))
        return max(float(numbers_match(pred, extract_number(ref), self.abs_tol, self.rel_tol))
                   for ref in as_refs(references))

    def signature(self) -> str:
        return f"extract:answer-is|last-number|abs_tol:{self.abs_tol:g}|rel_tol:{self.rel_tol:g}"
