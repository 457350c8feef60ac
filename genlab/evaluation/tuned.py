"""A tuned model evaluated like any other: base + adapter loaded from disk, then ``evaluate``.

The tuned model is scored exactly as ``genlab eval -m BASE --adapter ADAPTER`` would
score it (same loader, same precision, same batching, same examples), so a recipe's
tuned stages and its prompt stages compare like with like, and the adapter a run
leaves behind reproduces the run's numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from genlab.evaluation.config import EvalConfig
from genlab.evaluation.task_eval import EvalResult, evaluate
from genlab.progress import Reporter, or_quiet


def evaluate_adapter(base: str, adapter: str | Path, task, cfg: EvalConfig, *, out_dir: str | Path | None = None,
                     reporter: Reporter | None = None, trust_remote_code: bool = False) -> EvalResult:
    from genlab.models import load

    lm = load(base, precision=cfg.precision, adapter=adapter, trust_remote_code=trust_remote_code)
    return evaluate(lm, task, cfg, out_dir=out_dir, reporter=reporter)


def forgetting(base: str, adapter: str | Path, tasks: Sequence[str], cfg: EvalConfig, out_dir: str | Path, *,
               reporter: Reporter | None = None, trust_remote_code: bool = False) -> list[dict]:
    """Each held-out task before (base) and after (base + adapter) on the same examples, with paired deltas.

    Both sides load from disk, so "before" is the base as a user would load it, whatever
    training did to the in-memory copy.
    """
    from genlab.evaluation.compare import forgetting_rows
    from genlab.models import attach_adapter, load

    reporter = or_quiet(reporter)
    out = Path(out_dir)
    lm = load(base, precision=cfg.precision, trust_remote_code=trust_remote_code)
    for t in tasks:
        reporter.status(f"forgetting: {t} before tuning")
        evaluate(lm, t, cfg, out_dir=out / "before" / t, reporter=reporter)
    attach_adapter(lm, adapter)
    for t in tasks:
        reporter.status(f"forgetting: {t} after tuning")
        evaluate(lm, t, cfg, out_dir=out / "after" / t, reporter=reporter)
    return forgetting_rows(out / "before", out / "after", list(tasks))
