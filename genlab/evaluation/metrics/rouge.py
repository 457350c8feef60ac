"""ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum through Google's ``rouge-score`` package.

Reference: ``rouge_score.rouge_scorer.RougeScorer`` (rouge-score 0.1.2), which was
checked against the original ROUGE-1.5.5 Perl script. We call it directly so the
numbers are identical, including its tokenizer (lowercase, non-alphanumerics to
spaces, so non-ASCII letters are dropped), clipped n-gram counts, and the
multi-reference rule of ``score_multi`` (take the reference with the best F).

The corpus score is the mean of per-sample F-measures, as rouge-score's
``BootstrapAggregator`` reports as its ``mid`` value. Scores are in [0, 1].
ROUGE-Lsum treats newlines as sentence boundaries (summary-level LCS).
"""

from __future__ import annotations

import functools
from typing import Any

from genlab.evaluation.metrics.base import MeanMetric, as_refs

MEASURES = ("precision", "recall", "fmeasure")


@functools.cache
def _scorer(rouge_type: str, stem: bool):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([rouge_type], use_stemmer=stem)


class Rouge(MeanMetric):
    """One ROUGE variant. ``measure``: precision | recall | fmeasure; ``stem`` (or rouge-score's own
    name, ``use_stemmer``): Porter stemming."""

    reference = "rouge-score 0.1.2 RougeScorer"

    def __init__(self, rouge_type: str = "rougeL", *, stem: bool = False, measure: str = "fmeasure",
                 use_stemmer: bool | None = None):
        stem = stem if use_stemmer is None else bool(use_stemmer)
        if rouge_type not in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
            raise ValueError(f"unknown ROUGE type {rouge_type!r}; use rouge1, rouge2, rougeL or rougeLsum")
        if measure not in MEASURES:
            raise ValueError(f"ROUGE measure must be one of {', '.join(MEASURES)}, not {measure!r}")
        self.rouge_type, self.stem, self.measure = rouge_type, stem, measure
        suffix = "" if measure == "fmeasure" else f"_{measure}"
        self.name = rouge_type + suffix + ("_stem" if stem else "")

    def detail(self, prediction: str, references: Any) -> dict[str, float]:
        """Precision, recall and F-measure for one pair (best reference by F)."""
        refs = as_refs(references)
        scorer = _scorer(self.rouge_type, self.stem)
        if len(refs) == 1:
            s = scorer.score(refs[0], prediction)[self.rouge_type]
        else:
            s = scorer.score_multi(refs, prediction)[self.rouge_type]
        return {"precision": s.precision, "recall": s.recall, "fmeasure": s.fmeasure}

    def score(self, prediction: str, references: Any) -> float:
        return self.detail(prediction, references)[self.measure]

    def signature(self) -> str:
        return f"{self.rouge_type}|{self.measure}|stem:{'yes' if self.stem else 'no'}|rouge-score:0.1.2"
