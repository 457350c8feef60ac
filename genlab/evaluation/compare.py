"""Compare eval runs: side by side, deltas, paired-bootstrap p-values, the examples that differ most.

    cmp = compare_runs(["runs/zero-shot", "runs/3-shot"])
    cmp.rows        # per metric: values, CIs, delta vs the first run, p-value
    cmp.examples    # the samples where the primary metric moved the most

The paired test resamples the *same* examples for both runs (Koehn 2004), using
the per-sample metric statistics each run stored in samples.jsonl, so corpus
metrics such as BLEU are recomputed exactly on every resample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from genlab.errors import ConfigError, GenlabError
from genlab.evaluation.metrics import get_metric, paired_bootstrap
from genlab.evaluation.task_eval import EvalResult


@dataclass
class Comparison:
    labels: list[str]
    runs: list[EvalResult]
    rows: list[dict[str, Any]]  # metric, values, cis, deltas, p_values
    examples: list[dict[str, Any]] = field(default_factory=list)
    shared: int = 0
    warnings: list[str] = field(default_factory=list)


def from_stats_for(name: str):
    """The metric's vectorized ``from_stats``; for names outside the registry, the mean of scores."""
    try:
        return get_metric(name).from_stats
    except ConfigError:
        return lambda s: np.asarray(s)[..., 0] / np.maximum(np.asarray(s)[..., 1], 1e-300)


def _by_doc(run: EvalResult) -> dict[Any, dict]:
    return {s["doc_id"]: s for s in run.samples}


def _labels(dirs: Sequence[str | Path]) -> list[str]:
    names = [Path(d).name or str(d) for d in dirs]
    return names if len(set(names)) == len(names) else [str(d) for d in dirs]


def _check(runs: list[EvalResult], labels: list[str]) -> list[str]:
    warnings = []
    tasks = {r.task for r in runs}
    if len(tasks) > 1:
        warnings.append(f"runs are on different tasks ({', '.join(sorted(tasks))}); deltas compare unlike things")
    splits = {r.config.get("split") for r in runs}
    if len(splits) > 1:
        warnings.append(f"runs use different splits ({', '.join(map(str, splits))})")
    return warnings


def compare_runs(run_dirs: Sequence[str | Path], *, examples: int = 5, n_resamples: int = 1000,
                 seed: int = 0) -> Comparison:
    """Load two or more runs; the first is the baseline every delta is measured against."""
    if len(run_dirs) < 2:
        raise GenlabError("compare needs at least two runs", hint="genlab compare RUN_A RUN_B [RUN_C ...]")
    runs = [EvalResult.load(d) for d in run_dirs]
    labels = _labels(run_dirs)
    warnings = _check(runs, labels)
    maps = [_by_doc(r) for r in runs]
    shared = [d for d in maps[0] if all(d in m for m in maps[1:])]
    if not shared:
        raise GenlabError("the runs share no examples (matched by doc_id)",
                          hint="compare runs of the same task and split, with the same -n and --seed")
    if any(len(m) != len(shared) for m in maps):
        warnings.append(f"only the {len(shared)} examples present in every run are compared")
    names = [m for m in runs[0].metrics if all(m in r.metrics for r in runs[1:])]
    if not names:
        raise GenlabError("the runs have no metric in common", hint="compare runs of the same task")
    rows = [_metric_row(name, runs, maps, shared, n_resamples, seed) for name in names]
    diffs = _most_different(names[0], labels, maps, shared, examples) if examples else []
    return Comparison(labels, runs, rows, diffs, len(shared), warnings)


def _stats(m: dict, shared: list, name: str) -> np.ndarray:
    return np.array([m[d]["stats"][name] for d in shared], dtype=np.float64)


def _metric_row(name: str, runs, maps, shared, n_resamples: int, seed: int) -> dict[str, Any]:
    fn = from_stats_for(name)
    base = _stats(maps[0], shared, name)
    values = [float(fn(_stats(m, shared, name).sum(0))) for m in maps]
    tests = [paired_bootstrap(base, _stats(m, shared, name), fn, n_resamples=n_resamples, seed=seed)
             for m in maps[1:]]
    return {"metric": name, "values": values,
            "cis": [(r.metrics[name]["ci_low"], r.metrics[name]["ci_high"]) for r in runs],
            "deltas": [t["delta"] for t in tests], "p_values": [t["p_value"] for t in tests],
            "delta_cis": [(t["ci_low"], t["ci_high"]) for t in tests],
            "higher_is_better": runs[0].metrics[name].get("higher_is_better", True)}


def _most_different(name: str, labels, maps, shared, k: int) -> list[dict[str, Any]]:
    """Examples with the largest spread of the primary metric's per-sample score across runs."""
    def spread(d) -> float:
        scores = [m[d]["scores"].get(name, 0.0) for m in maps]
        return max(scores) - min(scores)

    top = sorted(shared, key=lambda d: (-spread(d), str(d)))[:k]
    return [{"doc_id": d, "metric": name, "spread": spread(d), "prompt": maps[0][d].get("prompt", ""),
             "reference": maps[0][d].get("reference"),
             "outputs": {lab: {"prediction": m[d].get("prediction"), "score": m[d]["scores"].get(name)}
                         for lab, m in zip(labels, maps)}}
            for d in top]


def forgetting_rows(before_dir: str | Path, after_dir: str | Path, tasks: Sequence[str]) -> list[dict]:
    """Per task and metric: before, after, and the delta with a paired-bootstrap 95% interval and p-value.

    ``before_dir/<task>`` and ``after_dir/<task>`` are eval runs on the same examples,
    so the test resamples examples jointly, as ``genlab compare`` does.
    """
    rows = []
    for task in tasks:
        cmp = compare_runs([Path(before_dir) / task, Path(after_dir) / task], examples=0)
        for r in cmp.rows:
            (low, high), = r["delta_cis"]
            rows.append({"task": task, "metric": r["metric"], "before": r["values"][0], "after": r["values"][1],
                         "delta": r["deltas"][0], "delta_low": low, "delta_high": high, "p_value": r["p_values"][0],
                         "n": cmp.shared})
    return rows
