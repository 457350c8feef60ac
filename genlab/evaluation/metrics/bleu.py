"""BLEU, identical to sacrebleu with its defaults (13a tokenizer, exp smoothing, mixed case).

Reference: ``sacrebleu.metrics.BLEU`` (Post, 2018, "A Call for Clarity in Reporting
BLEU Scores"). Per-sample sufficient statistics are sacrebleu's own
``[sys_len, ref_len, correct_1..4, total_1..4]`` (from ``BLEUScore.counts`` and
``.totals``), so corpus BLEU of summed stats is sacrebleu's ``corpus_score``.

* ``sentence_score`` = ``sacrebleu.sentence_bleu`` (effective order on);
* ``corpus_score`` = ``sacrebleu.corpus_bleu`` (effective order off);
* scores are on sacrebleu's 0-100 scale; ``signature()`` gives sacrebleu's string,
  e.g. ``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0``.

Bootstrap resamples use a numpy transcription of ``BLEU.compute_bleu`` (exp
smoothing) so 1000 resamples are one matrix product; the point estimate always
goes through sacrebleu itself.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np

from genlab.evaluation.metrics.base import Metric, as_refs

ORDER = 4


@functools.cache
def _sentence_bleu():
    from sacrebleu.metrics import BLEU

    return BLEU(effective_order=True)


def _corpus_bleu():
    from sacrebleu.metrics import BLEU

    return BLEU()


def ref_streams(references: Sequence[Any]) -> list[list[str | None]]:
    """Per-sample reference lists -> sacrebleu's streams (``None`` pads a missing reference)."""
    per_sample = [as_refs(r) for r in references]
    width = max(len(r) for r in per_sample)
    return [[r[j] if j < len(r) else None for r in per_sample] for j in range(width)]


def bleu_from_stats_np(stats: np.ndarray) -> np.ndarray:
    """Vectorized ``BLEU.compute_bleu`` (exp smoothing, effective order off). ``stats``: (..., 10)."""
    sys_len, ref_len = stats[..., 0], stats[..., 1]
    correct, total = stats[..., 2:2 + ORDER], stats[..., 2 + ORDER:2 + 2 * ORDER]
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(sys_len < ref_len, np.where(sys_len > 0, np.exp(1 - ref_len / sys_len), 0.0), 1.0)
        halvings = np.cumsum(correct == 0, axis=-1)  # exp smoothing: 1/2, 1/4, ... per zero order
        prec = np.where(correct > 0, 100.0 * correct / total, 100.0 / (2.0 ** halvings * total))
        score = bp * np.exp(np.log(prec).sum(axis=-1) / ORDER)
    # sacrebleu: no matches at all, or an order with no n-grams, gives 0
    zero = (correct.sum(axis=-1) == 0) | (total[..., -1] == 0)
    return np.where(zero, 0.0, score)


class Bleu(Metric):
    name = "bleu"
    reference = "sacrebleu BLEU (13a, exp smoothing)"

    def __init__(self):
        self._signature: str | None = None

    def sample_stats(self, prediction: str, references: Any) -> np.ndarray:
        s = _sentence_bleu().sentence_score(prediction, as_refs(references))
        return np.array([s.sys_len, s.ref_len, *s.counts, *s.totals], dtype=np.float64)

    def sentence_score(self, prediction: str, references: Any) -> float:
        return float(_sentence_bleu().sentence_score(prediction, as_refs(references)).score)

    def row_score(self, stats_row: np.ndarray, prediction: str, references: Any) -> float:
        return self.sentence_score(prediction, references)  # sentence BLEU (effective order)

    def corpus_score(self, predictions: Sequence[str], references: Sequence[Any]) -> float:
        bleu = _corpus_bleu()
        score = bleu.corpus_score(list(predictions), ref_streams(references))
        self._signature = str(bleu.get_signature())
        return float(score.score)

    def stats_matrix(self, predictions: Sequence[str], references: Sequence[Any]) -> np.ndarray:
        nrefs = {len(as_refs(r)) for r in references}
        self._signature = self._default_signature(nrefs.pop() if len(nrefs) == 1 else "var")
        return super().stats_matrix(predictions, references)

    def from_stats(self, stats: np.ndarray) -> np.ndarray:
        stats = np.asarray(stats, dtype=np.float64)
        if stats.ndim == 1:  # the point estimate: sacrebleu's own arithmetic
            s = [int(round(x)) for x in stats]
            return np.float64(_corpus_bleu().compute_bleu(
                correct=s[2:2 + ORDER], total=s[2 + ORDER:], sys_len=s[0], ref_len=s[1],
                smooth_method="exp").score)
        return bleu_from_stats_np(stats)

    def signature(self) -> str:
        """sacrebleu's signature for the last corpus scored (``nrefs:var`` for mixed counts)."""
        return self._signature or self._default_signature(1)

    @staticmethod
    def _default_signature(nrefs: int | str) -> str:
        import sacrebleu

        return f"nrefs:{nrefs}|case:mixed|eff:no|tok:13a|smooth:exp|version:{sacrebleu.__version__}"
