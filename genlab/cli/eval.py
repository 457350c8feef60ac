"""``genlab eval``, ``genlab compare`` and ``genlab prompt``: measure, compare, try shot counts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from genlab.cli.common import AdapterOpt, ModelOpt, TrustOpt, load_model
from genlab.errors import GenlabError

TaskOpt = typer.Option(..., "--task", "-t", help="Built-in task name (genlab data tasks) or a task .yaml file.")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
    app.command("compare")(compare_cmd)
    app.command("prompt")(prompt_cmd)


def _default_out(task: str, shots: int, adapter: str | None = None) -> Path:
    """``runs/eval-TASK-Kshot[-ADAPTER]-TIME``; ADAPTER is the run's name for ``runs/NAME/adapter``."""
    from genlab.adapters import short_name

    tag = f"-{short_name(adapter)}" if adapter else ""
    return Path("runs") / f"eval-{Path(task).stem}-{shots}shot{tag}-{time.strftime('%Y%m%d-%H%M%S')}"


def eval_cmd(
    model: str = ModelOpt,
    task: str = TaskOpt,
    adapter: Optional[str] = AdapterOpt,
    shots: Optional[int] = typer.Option(None, "--shots", "-k", help="Few-shot examples per prompt (default: the task's)."),
    n: Optional[int] = typer.Option(None, "-n", help="Evaluate only the first N examples of the split."),
    split: str = typer.Option("test", "--split"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (default: runs/eval-TASK-Kshot[-ADAPTER]-TIME)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Regenerate even if identical generations are cached."),
    seed: int = typer.Option(0, "--seed", help="Seeds few-shot selection and the bootstrap."),
    batch_size: int = typer.Option(16, "--batch-size"),
    fp32: bool = typer.Option(False, "--fp32", help="fp32 weights and compute (default: bf16 where it is fast)."),
    chat: Optional[bool] = typer.Option(None, "--chat/--no-chat", help="Chat-format prompts (default: the task's setting)."),
    template: str = typer.Option("0", "--template", help="Prompt variant of the task: index or name."),
    trust_remote_code: bool = TrustOpt,
) -> None:
    """Evaluate a model on a task: metrics with 95% CIs, results.json and samples.jsonl."""
    from genlab.evaluation import evaluate
    from genlab.tasks import load_task

    spec = load_task(task)  # fail on a bad task before loading the model
    k = spec.default_shots if shots is None else shots
    lm = load_model(model, trust_remote_code, adapter, dtype="fp32" if fp32 else "auto")
    evaluate(lm, spec, split=split, shots=k, n=n, seed=seed, out_dir=out or _default_out(task, k, adapter),
             use_cache=not no_cache, batch_size=batch_size, precision="fp32" if fp32 else "auto", chat=chat,
             template=int(template) if template.isdigit() else template)


def compare_cmd(
    runs: list[Path] = typer.Argument(..., help="Two or more run folders; the first is the baseline."),
    examples: int = typer.Option(5, "--examples", "-e", help="Show this many examples where the runs differ most."),
    resamples: int = typer.Option(1000, "--resamples", help="Bootstrap resamples for the paired test."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Side by side: metrics, deltas vs the first run, paired-bootstrap p-values, differing examples."""
    from genlab.evaluation.compare import compare_runs, print_comparison

    print_comparison(compare_runs([str(r) for r in runs], examples=examples, n_resamples=resamples, seed=seed))


def _shot_list(text: str) -> list[int]:
    try:
        shots = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise GenlabError(f"--shots must be comma-separated integers, not {text!r}", hint="e.g. --shots 0,1,3") from None
    if not shots or min(shots) < 0:
        raise GenlabError(f"--shots needs non-negative counts, got {text!r}", hint="e.g. --shots 0,1,3")
    return shots


def prompt_cmd(
    model: str = ModelOpt,
    task: str = TaskOpt,
    shots: str = typer.Option("0,1,3", "--shots", "-k", help="Comma-separated shot counts to try."),
    n: int = typer.Option(50, "-n", help="Examples per shot count (the same examples each time)."),
    split: str = typer.Option("test", "--split"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Save each shot count's run under this folder."),
    adapter: Optional[str] = AdapterOpt,
    seed: int = typer.Option(0, "--seed"),
    batch_size: int = typer.Option(16, "--batch-size"),
    fp32: bool = typer.Option(False, "--fp32"),
    no_cache: bool = typer.Option(False, "--no-cache"),
    trust_remote_code: bool = TrustOpt,
) -> None:
    """Zero-, one- and few-shot on the same examples: one table of the task's metrics per shot count."""
    from genlab.evaluation.prompting import print_shot_table, shot_sweep
    from genlab.tasks import load_task

    counts = _shot_list(shots)
    spec = load_task(task)
    lm = load_model(model, trust_remote_code, adapter, dtype="fp32" if fp32 else "auto")
    results = shot_sweep(lm, spec, counts, n=n, split=split, seed=seed, out_dir=out, use_cache=not no_cache,
                         batch_size=batch_size, precision="fp32" if fp32 else "auto")
    print_shot_table(spec, results)
