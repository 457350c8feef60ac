"""The metric contract: per-sample sufficient statistics and a function of their sum.

Every metric reduces a (prediction, references) pair to a small vector of
sufficient statistics (shape ``(k,)``) and defines ``from_stats`` that maps the
*sum* of those vectors to the corpus score. That one shape covers

* means of sentence scores (ROUGE, exact match, F1, accuracy): stats = ``[score, 1]``;
* ratio metrics computed on pooled counts (corpus BLEU, perplexity, bits per byte),

and lets the bootstrap resample a corpus by re-weighting rows of a stats matrix
(``counts @ stats``) instead of recomputing the metric 1000 times.

The user-facing pair mirrors sacrebleu's ``Metric``: ``sentence_score`` and
``corpus_score``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def as_refs(references: Any) -> list[str]:
    """Accept one reference or a list of references; always return a list of strings."""
    if isinstance(references, str):
        return [references]
    refs = list(references)
    if not refs:
        raise ValueError("at least one reference is required")
    return [str(r) for r in refs]


class Reference(str):
    """A reference text that also carries its source's facts (slot name -> value) for fact metrics.

    It is a ``str``, so every other metric, the samples file and the trainer use it as the text.
    """

    facts: dict | None = None

    def __new__(cls, text: str, facts: dict | None = None):
        obj = super().__new__(cls, text)
        obj.facts = facts
        return obj

    def __reduce__(self):
        return (Reference, (str(self), self.facts))


class Metric:
    """Base class. Subclasses set ``name`` and implement ``sample_stats`` and ``from_stats``."""

    name: str = ""
    higher_is_better: bool = True
    reference: str = ""  # the implementation whose numbers this metric reproduces
    # What a sample's ``prediction`` is: "text" (generated string), "choices"
    # (genlab.evaluation.loglik.ChoiceScores) or "rolling" (RollingScore).
    input_kind: str = "text"

    def sample_stats(self, prediction: Any, references: Any) -> np.ndarray:
        raise NotImplementedError

    def from_stats(self, stats: np.ndarray) -> np.ndarray:
        """Map summed stats ``(..., k)`` to scores ``(...)``. Must broadcast over leading axes."""
        raise NotImplementedError

    # -- the sacrebleu-like pair -------------------------------------------------
    def sentence_score(self, prediction: Any, references: Any) -> float:
        return float(self.from_stats(self.sample_stats(prediction, references)))

    def corpus_score(self, predictions: Sequence[Any], references: Sequence[Any]) -> float:
        return float(self.from_stats(self.stats_matrix(predictions, references).sum(axis=0)))

    def stats_matrix(self, predictions: Sequence[Any], references: Sequence[Any]) -> np.ndarray:
        """Per-sample stats, shape ``(n, k)``."""
        if len(predictions) != len(references):
            raise ValueError(f"{self.name}: {len(predictions)} predictions but {len(references)} references")
        rows = [self.sample_stats(p, r) for p, r in zip(predictions, references)]
        if not rows:
            raise ValueError(f"{self.name}: cannot score an empty corpus")
        return np.stack(rows).astype(np.float64)

    def row_score(self, stats_row: np.ndarray, prediction: Any, references: Any) -> float:
        """The per-sample score shown in samples.jsonl (defaults to ``from_stats`` of the row)."""
        return float(self.from_stats(stats_row))

    def signature(self) -> str | None:
        """A string naming the settings that produced the number (sacrebleu style), if any."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class MeanMetric(Metric):
    """A corpus score that is the mean of sentence scores: stats = ``[score, 1]``."""

    def score(self, prediction: Any, references: Any) -> float:
        raise NotImplementedError

    def sample_stats(self, prediction: Any, references: Any) -> np.ndarray:
        return np.array([self.score(prediction, references), 1.0])

    def from_stats(self, stats: np.ndarray) -> np.ndarray:
        stats = np.asarray(stats, dtype=np.float64)
        return stats[..., 0] / np.maximum(stats[..., 1], 1e-300)
