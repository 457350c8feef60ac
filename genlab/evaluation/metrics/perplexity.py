"""Perplexity and bits per byte of a corpus (``loglikelihood_rolling`` tasks).

Reference: lm-eval 0.4 ``loglikelihood_rolling`` metrics: the whole text is scored
token by token; the corpus statistics are pooled, not averaged per document:

    perplexity    = exp( Σ_docs NLL / Σ_docs tokens )          (token-level)
    bits_per_byte = Σ_docs NLL / (ln 2 · Σ_docs UTF-8 bytes)

with NLL in nats. Per-sample stats: ``[nll, tokens, bytes]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from genlab.evaluation.metrics.base import Metric


@dataclass
class RollingScore:
    """The log-likelihood of a whole text: ``loglik`` (nats, ≤ 0) over ``num_tokens`` tokens."""

    loglik: float
    num_tokens: int
    num_bytes: int


class _Rolling(Metric):
    input_kind = "rolling"

    def sample_stats(self, prediction: RollingScore, references: Any = None) -> np.ndarray:
        if not isinstance(prediction, RollingScore):
            raise TypeError(f"{self.name} needs a RollingScore (output_type loglikelihood_rolling), "
                            f"not {type(prediction).__name__}")
        return np.array([-prediction.loglik, prediction.num_tokens, prediction.num_bytes], dtype=np.float64)


class Perplexity(_Rolling):
    name = "perplexity"
    higher_is_better = False
    reference = "lm-eval 0.4 loglikelihood_rolling (token perplexity)"

    def from_stats(self, stats: np.ndarray) -> np.ndarray:
        stats = np.asarray(stats, dtype=np.float64)
        return np.exp(stats[..., 0] / np.maximum(stats[..., 1], 1))


class BitsPerByte(_Rolling):
    name = "bits_per_byte"
    higher_is_better = False
    reference = "lm-eval 0.4 bits_per_byte"

    def from_stats(self, stats: np.ndarray) -> np.ndarray:
        stats = np.asarray(stats, dtype=np.float64)
        return stats[..., 0] / (math.log(2) * np.maximum(stats[..., 2], 1))
