"""Holistic benchmark: HELM's seven metric families over built-in and standard scenarios.

    from genlab.holistic import run_suite
    run_suite(["smollm2-135m-instruct"], [None], n=100, out_dir="runs/bench")

One module per family: ``calibration``, ``bias``, ``toxicity``, ``efficiency``;
``perturbations`` feeds robustness and fairness; ``scenarios`` lists what is run
(``support_qa`` generates the yes/no scenario); ``variants`` renders original and
perturbed instances and scores them, ``aggregate`` turns those into the seven families
and win rates, ``runner`` drives the models and ``report`` writes the leaderboard and
HTML page (Liang et al. 2022, "Holistic Evaluation of Language Models").
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
