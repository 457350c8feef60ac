"""Evaluation: metrics with reference parity, log-likelihood scoring, evaluate() on a task, comparisons.

    from genlab.evaluation import EvalConfig, evaluate
    result = evaluate(lm, "support-summary", EvalConfig(shots=3, n=100), out_dir="runs/3shot")
    result.metrics["rougeL"]  # {"value": ..., "ci_low": ..., "ci_high": ...}

``EvalConfig`` says how to evaluate (split, n, shots, seed, batch size, precision, cache,
chat, template, generation overrides, bootstrap resamples); ``evaluate`` prints nothing
unless given a ``reporter`` (``genlab.progress``).

Public API (imported on first use, so torch loads only when needed):

- ``EvalConfig`` — how to evaluate (the same fields from CLI flags, recipe YAML and Python).
- ``evaluate(model, task, cfg)`` — a model (name or loaded) on a task: metrics with 95% bootstrap
  intervals, ``results.json`` and ``samples.jsonl``; returns ``EvalResult``.
- ``evaluate_adapter(base, adapter, task, cfg)`` — base + a saved adapter, loaded as ``genlab eval --adapter``.
- ``EvalResult`` — the result (``.metrics``, ``.samples``, ``EvalResult.load(run_dir)``).
- ``compare_runs(run_dirs)`` — paired-bootstrap deltas between eval runs.
- ``score_choices``, ``score_rolling`` — log-likelihood of choices / of whole texts.
"""

from genlab._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "EvalConfig": "genlab.evaluation.config",
    "evaluate": "genlab.evaluation.task_eval",
    "evaluate_adapter": "genlab.evaluation.tuned",
    "EvalResult": "genlab.evaluation.task_eval",
    "compare_runs": "genlab.evaluation.compare",
    "score_choices": "genlab.evaluation.loglik",
    "score_rolling": "genlab.evaluation.loglik",
})
