"""Zero-, one- and few-shot on the same examples (``genlab prompt``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genlab.evaluation.runner import EvalResult, evaluate


def shot_sweep(lm, task, shot_counts: list[int], *, n: int | None = 50, split: str = "test", seed: int = 0,
               out_dir: str | Path | None = None, **kw: Any) -> dict[int, EvalResult]:
    """One eval per shot count on the first ``n`` examples of ``split`` (the same examples each time)."""
    results = {}
    for k in shot_counts:
        run_dir = Path(out_dir) / f"{k}shot" if out_dir else None
        results[k] = evaluate(lm, task, split=split, shots=k, n=n, seed=seed, out_dir=run_dir, verbose=False, **kw)
    return results


def print_shot_table(task, results: dict[int, EvalResult]) -> None:
    from genlab.ui import console, fmt, table

    names = list(next(iter(results.values())).metrics)
    rows = []
    for k, r in results.items():
        shots_used = [s.get("shots_used", k) for s in r.samples]
        mean_used = sum(shots_used) / max(len(shots_used), 1)
        cells = [f"{fmt(r.metrics[m]['value'])} [{fmt(r.metrics[m]['ci_low'])}, {fmt(r.metrics[m]['ci_high'])}]"
                 for m in names]
        prompt_tokens = [s.get("prompt_tokens") for s in r.samples if s.get("prompt_tokens")]
        mean_tokens = sum(prompt_tokens) / len(prompt_tokens) if prompt_tokens else None
        rows.append([k, f"{mean_used:.2g}", *cells, fmt(mean_tokens), f"{r.timings['total_s']:.1f}s"])
    n = len(next(iter(results.values())).samples)
    console.print(table(f"{task.name} · {n} examples · 95% bootstrap CIs", ["shots", "shots used", *names,
                                                                           "prompt tokens", "time"], rows))
