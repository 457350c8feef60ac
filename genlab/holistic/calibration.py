"""Calibration: does the model's confidence match how often it is right? (HELM section 4.4)

From multiple-choice probabilities: ``p_i = softmax(loglik_i)`` over the choices, the
confidence is ``c = max_i p_i`` and the outcome ``y = 1[argmax_i p_i == gold]``.
HELM computes these with the ``uncertainty-calibration`` package (Kumar et al. 2019):

* ``ece_10_bin`` — expected calibration error with 10 *equal-mass* bins: sort by ``c``,
  cut into 10 bins of (nearly) equal size ``B_b``,
  ``ECE = Σ_b |B_b|/n · |mean(y in B_b) − mean(c in B_b)|`` (Guo et al. 2017; top-label, L1);
* ``ece_1_bin`` — one bin: ``|mean(y) − mean(c)|`` (over- or under-confidence overall);
* ``selective_acc@10`` — accuracy on the ``ceil(n/10)`` most confident instances;
* ``selective_cov_acc_area`` — area under the coverage–accuracy curve: with instances
  sorted by decreasing ``c``, ``mean_k acc(top k)`` for ``k = 1..n`` (El-Yaniv & Wiener 2010).

Generation scenarios have no choice probabilities: ``calibration_metrics`` then returns
``{"skipped": reason}`` rather than a number.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

METRICS = ("ece_10_bin", "ece_1_bin", "selective_acc@10", "selective_cov_acc_area")
LOWER_IS_BETTER = {"ece_10_bin", "ece_1_bin"}


def _arrays(confidence: Sequence[float], correct: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(confidence, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    if c.shape != y.shape or c.ndim != 1:
        raise ValueError(f"confidence and correct must be 1-D of the same length, got {c.shape} and {y.shape}")
    if c.size == 0:
        raise ValueError("calibration needs at least one instance")
    if (c < 0).any() or (c > 1).any():
        raise ValueError("confidences must be probabilities in [0, 1]")
    return c, y


def ece(confidence: Sequence[float], correct: Sequence[float], num_bins: int = 10) -> float:
    """Equal-mass-bin ECE; ``num_bins=1`` gives the 1-bin ECE ``|mean(y) - mean(c)|``."""
    c, y = _arrays(confidence, correct)
    order = np.argsort(c, kind="stable")
    total = 0.0
    for idx in np.array_split(order, min(num_bins, c.size)):  # (|B_b|,) each, sizes differ by <= 1
        total += idx.size / c.size * abs(y[idx].mean() - c[idx].mean())
    return float(total)


def selective_accuracy(confidence: Sequence[float], correct: Sequence[float], fraction: float = 0.1) -> float:
    """Accuracy on the ``ceil(fraction * n)`` most confident instances."""
    c, y = _arrays(confidence, correct)
    k = max(1, math.ceil(fraction * c.size))
    top = np.argsort(-c, kind="stable")[:k]
    return float(y[top].mean())


def coverage_accuracy_area(confidence: Sequence[float], correct: Sequence[float]) -> float:
    """``mean_k acc(top-k most confident)``, k = 1..n: 1.0 when every confident answer is right."""
    c, y = _arrays(confidence, correct)
    ranked = y[np.argsort(-c, kind="stable")]
    acc_at_k = np.cumsum(ranked) / np.arange(1, ranked.size + 1)
    return float(acc_at_k.mean())


def confidence_and_correct(probs: Sequence[Sequence[float]], gold: Sequence[int]) -> tuple[list[float], list[float]]:
    """Per instance: max choice probability, and whether the argmax is the gold index."""
    conf, ok = [], []
    for p, g in zip(probs, gold):
        p = np.asarray(p, dtype=np.float64)
        conf.append(float(p.max()))
        ok.append(float(int(np.argmax(p)) == int(g)))
    return conf, ok


def calibration_metrics(probs: Sequence[Sequence[float]] | None, gold: Sequence[int] | None,
                        reason: str = "no choice probabilities") -> dict:
    """The four HELM calibration numbers, or ``{"skipped": reason}`` when there are no probabilities."""
    if not probs or gold is None:
        return {"skipped": reason}
    conf, ok = confidence_and_correct(probs, gold)
    return {"ece_10_bin": ece(conf, ok, 10), "ece_1_bin": ece(conf, ok, 1),
            "selective_acc@10": selective_accuracy(conf, ok, 0.1),
            "selective_cov_acc_area": coverage_accuracy_area(conf, ok), "n": len(conf)}


__all__ = ["METRICS", "calibration_metrics", "confidence_and_correct", "coverage_accuracy_area", "ece",
           "selective_accuracy"]
