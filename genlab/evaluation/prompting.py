"""Zero-, one- and few-shot on the same examples (``genlab prompt``)."""

from __future__ import annotations

from pathlib import Path

from genlab.evaluation.config import EvalConfig
from genlab.evaluation.task_eval import EvalResult, evaluate
from genlab.progress import Reporter


def shot_sweep(lm, task, shot_counts: list[int], cfg: EvalConfig | None = None, *,
               out_dir: str | Path | None = None, reporter: Reporter | None = None) -> dict[int, EvalResult]:
    """One eval per shot count, ``cfg`` otherwise unchanged (the same examples each time)."""
    cfg = cfg or EvalConfig(n=50)
    results = {}
    for k in shot_counts:
        run_dir = Path(out_dir) / f"{k}shot" if out_dir else None
        results[k] = evaluate(lm, task, cfg.replace(shots=k), out_dir=run_dir, reporter=reporter)
    return results
