"""Token-set F1 (HELM ``f1_score``).

Reference: HELM ``evaluate_reference_metrics.f1_score``: ``nltk.metrics.scores.f_measure``
on the *sets* of tokens of ``normalize_text(gold)`` and ``normalize_text(pred)``,
0 when either side is empty after normalization. Best over references; corpus
score is the mean in [0, 1].

    P = |G ∩ S| / |S|,  R = |G ∩ S| / |G|,  F1 = 1 / (0.5/P + 0.5/R)   (nltk's form)
"""

from __future__ import annotations

from typing import Any

from genlab.evaluation.metrics.base import MeanMetric, as_refs
from genlab.evaluation.metrics.exact_match import normalize_text


def set_f1(gold: set, pred: set) -> float:
    """F1 of two sets; 0 when either is empty or they share nothing."""
    if not gold or not pred:
        return 0.0
    common = len(gold & pred)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 1.0 / (0.5 / precision + 0.5 / recall)  # nltk f_measure(alpha=0.5), same rounding


class TokenF1(MeanMetric):
    name = "f1"
    reference = "HELM f1_score (token sets after QuAC normalization)"

    def score(self, prediction: str, references: Any) -> float:
        pred = set(normalize_text(prediction).split())
        return max(set_f1(set(normalize_text(ref).split()), pred) for ref in as_refs(references))
