"""Holistic benchmark: HELM's seven metric families over built-in and standard scenarios.

    from genlab.holistic import run_suite
    run_suite(["smollm2-135m-instruct"], [None], n=100, out_dir="runs/bench")

One module per family: ``calibration``, ``bias``, ``toxicity``, ``efficiency``;
``perturbations`` feeds robustness and fairness; ``scenarios`` lists what is run,
``runner`` runs it and ``report`` writes the HTML page (Liang et al. 2022, HELM).
"""

from __future__ import annotations

from typing import Any

_LAZY = {"run_suite": "genlab.holistic.runner", "list_scenarios": "genlab.holistic.scenarios",
         "PERTURBATIONS": "genlab.holistic.perturbations"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genlab.holistic' has no attribute {name!r}")


__all__ = list(_LAZY)
