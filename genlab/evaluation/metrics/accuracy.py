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
