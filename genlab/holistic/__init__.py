"""Holistic benchmark: HELM's seven metric families over built-in and standard scenarios.

    from genlab.holistic import run_suite
    run_suite(["smollm2-135m-instruct"], [None], n=100, out_dir="runs/bench")

One module per family: ``calibration``, ``bias``, ``toxicity``, ``efficiency``;
``perturbations`` feeds robustness and fairness; ``scenarios`` lists what is run
(``support_qa`` generates the yes/no scenario); ``variants`` renders original and
perturbed instances and scores them, ``aggregate`` turns those into the seven families
and win rates, ``suite`` drives the models and ``report`` writes the leaderboard and
HTML page (Liang et al. 2022, "Holistic Evaluation of Language Models").

Public API (imported on first use): ``run_suite(models, adapters, ...)`` (returns a
``HolisticSummary``, also ``HolisticSummary.load(out_dir)``), ``list_scenarios()``, ``PERTURBATIONS``.
"""

from genlab._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "run_suite": "genlab.holistic.suite",
    "HolisticSummary": "genlab.holistic.summary",
    "list_scenarios": "genlab.holistic.scenarios",
    "PERTURBATIONS": "genlab.holistic.perturbations",
})
