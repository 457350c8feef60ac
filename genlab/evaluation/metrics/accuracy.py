"""Multiple-choice accuracy from per-choice log-likelihoods (lm-evaluation-harness definitions).

Reference: lm-eval 0.4 ``ConfigurableTask.process_results`` for ``multiple_choice``:

    acc      = [argmax_i  loglik_i                == gold]
    acc_norm = [argmax_i  loglik_i / len(choice_i) == gold]   (length in characters)

``len(choice_i)`` is the character length of the choice text without the target
delimiter, as in lm-eval (``completion_len = [len(c) for c in choices]``); ties go
to the first choice (``np.argmax``). The prediction is a ``ChoiceScores``; the
reference is the gold index (or a list of acceptable indices).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genlab.evaluation.metrics.base import MeanMetric


@dataclass
class ChoiceScores:
    """Log-likelihoods of each choice given the prompt, kept for calibration metrics."""

    logprobs: list[float]  # sum over the choice's tokens of log p(token | prompt, previous tokens)
    choices: list[str]
    num_tokens: list[int] = field(default_factory=list)
    is_greedy: list[bool] = field(default_factory=list)

    @property
    def probs(self) -> list[float]:
        """Softmax over choices (normalized probabilities, for calibration)."""
        lp = np.asarray(self.logprobs, dtype=np.float64)
        p = np.exp(lp - lp.max())
        return (p / p.sum()).tolist()

    def prediction(self, normalize: bool = False) -> int:
        lp = np.asarray(self.logprobs, dtype=np.float64)
        if normalize:
            lp = lp / np.array([float(len(c)) for c in self.choices])
        return int(np.argmax(lp))


def _golds(references: Any) -> set[int]:
    if isinstance(references, (list, tuple)):
        return {int(r) for r in references}
    return {int(references)}


class Accuracy(MeanMetric):
    name = "acc"
    input_kind = "choices"
    reference = "lm-eval 0.4 multiple_choice acc"
    normalize = False

    def score(self, prediction: ChoiceScores, references: Any) -> float:
        if not isinstance(prediction, ChoiceScores):
            raise TypeError(f"{self.name} scores multiple-choice log-likelihoods (ChoiceScores), "
                            f"not {type(prediction).__name__}: use it with output_type multiple_choice")
        return float(prediction.prediction(self.normalize) in _golds(references))


class AccuracyNorm(Accuracy):
    name = "acc_norm"
    reference = "lm-eval 0.4 multiple_choice acc_norm (loglik / choice length in characters)"
    normalize = True


class MacroF1(Accuracy):
    """F1 of each class (the gold and the predicted choice index), averaged over the classes that occur as gold or
    prediction: scikit-learn's ``f1_score(golds, preds, average="macro")``. For classification, where a class that
    is rare in the data counts as much as a common one. Per sample: ``[tp_k, fp_k, fn_k]`` for k < ``MAX_CLASSES``,
    summed before the ratio, so bootstrap intervals resample examples."""

    name = "macro_f1"
    reference = "scikit-learn f1_score(average='macro') over gold vs predicted choice"
    MAX_CLASSES = 128

    def sample_stats(self, prediction: ChoiceScores, references: Any) -> np.ndarray:
        self.score(prediction, references)  # the type check
        pred, gold = prediction.prediction(), min(_golds(references))
        if max(pred, gold) >= self.MAX_CLASSES:
            raise ValueError(f"{self.name} scores up to {self.MAX_CLASSES} classes, got choice {max(pred, gold)}")
        stats = np.zeros((self.MAX_CLASSES, 3))  # tp, fp, fn per class
        if pred == gold:
            stats[gold, 0] = 1
        else:
            stats[pred, 1], stats[gold, 2] = 1, 1
        return stats.ravel()

    def from_stats(self, stats: np.ndarray) -> np.ndarray:
        s = np.asarray(stats, dtype=np.float64).reshape(*np.shape(stats)[:-1], self.MAX_CLASSES, 3)
        tp, fp, fn = s[..., 0], s[..., 1], s[..., 2]
        seen = (tp + fp + fn) > 0
        f1 = np.where(seen, 2 * tp / np.maximum(2 * tp + fp + fn, 1e-300), 0.0)
        return f1.sum(axis=-1) / np.maximum(seen.sum(axis=-1), 1)
