"""Exact match and HELM's quasi exact match.

Reference: HELM ``src/helm/benchmark/metrics/evaluate_reference_metrics.py``:

* ``exact_match``: ``gold.strip() == pred.strip()``; an empty prediction scores 0;
* ``quasi_exact_match``: equality after ``normalize_text`` (lowercase, drop ASCII
  punctuation, drop the articles a/an/the, collapse whitespace — the SQuAD/QuAC
  normalization); an empty prediction scores 0.

With several references the sample scores the best of them (HELM takes the max
over references). The corpus score is the mean, in [0, 1].
"""

from __future__ import annotations

import re
import string
from typing import Any

from genlab.evaluation.metrics.base import MeanMetric, as_refs

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_text(text: str) -> str:
    """HELM/QuAC normalization: lowercase, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


class ExactMatch(MeanMetric):
    name = "exact_match"
    reference = "HELM exact_match"

    def match(self, gold: str, pred: str) -> float:
        return float(bool(pred) and gold.strip() == pred.strip())

    def score(self, prediction: str, references: Any) -> float:
        return max(self.match(ref, prediction) for ref in as_refs(references))


class QuasiExactMatch(ExactMatch):
    name = "quasi_exact_match"
    reference = "HELM quasi_exact_match"

    def match(self, gold: str, pred: str) -> float:
        return float(bool(pred) and normalize_text(gold) == normalize_text(pred))
