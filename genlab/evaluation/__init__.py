"""Evaluation: metrics with reference parity, log-likelihood scoring, the eval runner, comparisons.

    from genlab.evaluation import evaluate
    result = evaluate("smollm2-135m-instruct", "support-summary", shots=3, n=100, out_dir="runs/3shot")
    result.metrics["rougeL"]  # {"value": ..., "ci_low": ..., "ci_high": ...}

Public API (imported on first use, so torch loads only when needed):

- ``evaluate(model, task, ...)`` — a model (name or loaded) on a task: metrics with 95% bootstrap
  intervals, ``results.json`` and ``samples.jsonl``; returns ``EvalResult``.
- ``EvalResult`` — the result (``.metrics``, ``.samples``, ``.table()``, ``EvalResult.load(run_dir)``).
- ``compare_runs(run_dirs)`` — paired-bootstrap deltas between eval runs.
- ``score_choices``, ``score_rolling`` — log-likelihood of choices / of whole texts.
"""

from genlab._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "evaluate": "genlab.evaluation.runner",
    "EvalResult": "genlab.evaluation.runner",
    "compare_runs": "genlab.evaluation.compare",
    "score_choices": "genlab.evaluation.scoring",
    "score_rolling": "genlab.evaluation.scoring",
})
