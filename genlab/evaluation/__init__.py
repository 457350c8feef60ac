"""Evaluation: metrics with reference parity, log-likelihood scoring, the eval runner, comparisons.

    from genlab.evaluation import evaluate
    result = evaluate(lm, "support-summary", shots=3, n=100, out_dir="runs/3shot")
    result.metrics["rougeL"]  # {"value": ..., "ci_low": ..., "ci_high": ...}

Heavy imports (torch, transformers) happen on first use.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "evaluate": "genlab.evaluation.runner",
    "EvalResult": "genlab.evaluation.runner",
    "compare_runs": "genlab.evaluation.compare",
    "score_choices": "genlab.evaluation.scoring",
    "score_rolling": "genlab.evaluation.scoring",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genlab.evaluation' has no attribute {name!r}")


__all__ = list(_LAZY)
