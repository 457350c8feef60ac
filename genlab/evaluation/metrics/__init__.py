"""Metrics, registered by name. Adding a metric is one module plus one line in ``REGISTRY``.

Each entry maps a name to ``"module:factory"`` (imported on first use, so
``rouge_score``/``sacrebleu`` load only when asked for) and optional keyword
arguments. Every metric follows ``genlab.evaluation.metrics.base.Metric``:
``sentence_score(prediction, references)``, ``corpus_score(predictions, references)``,
per-sample ``sample_stats`` and a vectorized ``from_stats`` for bootstrap intervals.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from genlab.errors import ConfigError
from genlab.evaluation.metrics.base import Metric
from genlab.evaluation.metrics.bootstrap import bootstrap_ci, mean_with_ci, paired_bootstrap

_M = "genlab.evaluation.metrics"
REGISTRY: dict[str, tuple[str, dict[str, Any]]] = {
    "rouge1": (f"{_M}.rouge:Rouge", {"rouge_type": "rouge1"}),
    "rouge2": (f"{_M}.rouge:Rouge", {"rouge_type": "rouge2"}),
    "rougeL": (f"{_M}.rouge:Rouge", {"rouge_type": "rougeL"}),
    "rougeLsum": (f"{_M}.rouge:Rouge", {"rouge_type": "rougeLsum"}),
    "rouge1_stem": (f"{_M}.rouge:Rouge", {"rouge_type": "rouge1", "stem": True}),
    "rouge2_stem": (f"{_M}.rouge:Rouge", {"rouge_type": "rouge2", "stem": True}),
    "rougeL_stem": (f"{_M}.rouge:Rouge", {"rouge_type": "rougeL", "stem": True}),
    "rougeLsum_stem": (f"{_M}.rouge:Rouge", {"rouge_type": "rougeLsum", "stem": True}),
    "bleu": (f"{_M}.bleu:Bleu", {}),
    "exact_match": (f"{_M}.exact_match:ExactMatch", {}),
    "quasi_exact_match": (f"{_M}.exact_match:QuasiExactMatch", {}),
    "f1": (f"{_M}.f1:TokenF1", {}),
    "field_f1": (f"{_M}.field_f1:FieldF1", {}),
    "answer_accuracy": (f"{_M}.answer:AnswerAccuracy", {}),
    "acc": (f"{_M}.accuracy:Accuracy", {}),
    "acc_norm": (f"{_M}.accuracy:AccuracyNorm", {}),
    "macro_f1": (f"{_M}.accuracy:MacroF1", {}),
    "fact_accuracy": (f"{_M}.facts:FactAccuracy", {}),
    "fact_recall": (f"{_M}.facts:FactRecall", {}),
    "perplexity": (f"{_M}.perplexity:Perplexity", {}),
    "bits_per_byte": (f"{_M}.perplexity:BitsPerByte", {}),
    "toxic_fraction": (f"{_M}.toxicity:ToxicFraction", {}),
}


def list_metrics() -> list[str]:
    return list(REGISTRY)


def get_metric(name: str, *, where: str | None = None, **overrides: Any) -> Metric:
    """A fresh metric instance. ``overrides`` go to the factory (e.g. ``stem=True`` for ROUGE).

    Unknown names raise a ``ConfigError`` listing every known metric.
    """
    if name not in REGISTRY:
        import difflib

        squashed = {m.lower().replace("_", ""): m for m in REGISTRY}
        close = difflib.get_close_matches(name, list(REGISTRY), n=3, cutoff=0.6)
        if name.lower().replace("_", "") in squashed:
            close = [squashed[name.lower().replace("_", "")]] + [c for c in close if c != squashed[name.lower().replace("_", "")]]
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ConfigError(f"unknown metric {name!r}", where=where,
                          hint=f"{hint}known metrics: {', '.join(REGISTRY)}")
    target, kwargs = REGISTRY[name]
    module, attr = target.split(":")
    factory = getattr(importlib.import_module(module), attr)
    try:
        return factory(**{**kwargs, **overrides})
    except (TypeError, ValueError) as e:  # an unknown option or a bad value: say which, and what is allowed
        params = [p for p in inspect.signature(factory).parameters if p not in kwargs and p != "self"]
        raise ConfigError(f"metric {name!r}: {e}", where=where,
                          hint=f"options of {name}: {', '.join(params) or 'none'}") from None


__all__ = ["REGISTRY", "Metric", "bootstrap_ci", "get_metric", "list_metrics", "mean_with_ci", "paired_bootstrap"]
