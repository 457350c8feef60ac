"""``genlab run RECIPE``: every stage into its own folder, reused while its inputs are unchanged.

A stage's inputs are fingerprinted: its recipe section (with the train defaults
merged in), the task and its definition, the eval settings, the model hash and
the genlab version. ``stage.json`` is written last, atomically, with that
fingerprint and ``status: done``; a later run reuses the stage only if both
match. A tuned stage interrupted mid-training resumes from its checkpoint.

    runs/NAME/recipe.yaml
    runs/NAME/stages/<stage>/stage.json
    runs/NAME/stages/<stage>/eval/{results.json,samples.jsonl}     (prompt stages)
    runs/NAME/stages/<stage>/{config.json,metrics.jsonl,adapter/,train_curves.png,eval/}  (tuned)
    runs/NAME/report.html
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import genlab
from genlab.errors import ConfigError
from genlab.io import atomic_write_json, atomic_write_text, read_json
from genlab.lifecycle.meter import Meter
from genlab.lifecycle.recipe import Recipe, Stage
from genlab.models.hashing import json_hash
from genlab.ui import console, err_console


@dataclass
class StageOutcome:
    name: str
    status: str  # ran | reused | skipped
    info: dict[str, Any] = field(default_factory=dict)


def stage_dir(out: Path, name: str) -> Path:
    return out / "stages" / name


def fingerprint(recipe: Recipe, stage: Stage, model_hash: str) -> str:
    from genlab.tasks import load_task

    tasks = [recipe.task] if recipe.task else sorted(recipe.mixture)
    task_defs = {t: getattr(load_task(t), "source", t) for t in tasks}
    task_text = {t: _file_text(src) for t, src in task_defs.items()}
    inputs = {"stage": stage.section(), "task": recipe.task, "mixture": recipe.mixture, "task_defs": task_text,
              "eval": recipe.eval, "seed": recipe.seed, "model": recipe.model, "model_hash": model_hash,
              "genlab": genlab.__version__}
    if stage.kind == "tune":
        inputs.update(n_train=recipe.n_train, forgetting=recipe.forgetting)
    return json_hash(inputs)


def _file_text(src: str) -> str:
    try:
        return Path(src).read_text(encoding="utf-8")
    except (OSError, TypeError):
        return str(src)


def run_recipe(recipe: Recipe, out: str | Path, *, only: list[str] | None = None,
               force: list[str] | None = None, command: list[str] | None = None) -> list[StageOutcome]:
    """Run (or reuse) every stage, then write the report. Returns one outcome per stage."""
    from genlab.models import resolve

    out = Path(out)
    for name in (only or []) + (force or []):
        recipe.stage(name)  # unknown names fail before any work
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "recipe.yaml", recipe.text or "")
    atomic_write_json(out / "run.json", {"recipe": recipe.source, "command": command or sys.argv,
                                         "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    model_hash = resolve(recipe.model).model_hash
    ctx = _Context(recipe, out, model_hash)
    outcomes = []
    for i, stage in enumerate(recipe.stages, 1):
        console.rule(f"stage {i}/{len(recipe.stages)}: {stage.name}")
        if only and stage.name not in only:
            outcomes.append(StageOutcome(stage.name, "skipped"))
            console.print("skipped (--only)")
            continue
        outcomes.append(_run_or_reuse(ctx, stage, force=stage.name in (force or [])))
    return outcomes


class _Context:
    """What stages share: the recipe, the output folder, and one inference copy of the model."""

    def __init__(self, recipe: Recipe, out: Path, model_hash: str):
        self.recipe, self.out, self.model_hash = recipe, out, model_hash
        self._lm = None

    def inference_model(self):
        if self._lm is None:
            from genlab.models import load

            self._lm = load(self.recipe.model, dtype="auto")
        return self._lm


def _run_or_reuse(ctx: _Context, stage: Stage, force: bool) -> StageOutcome:
    sdir = stage_dir(ctx.out, stage.name)
    fp = fingerprint(ctx.recipe, stage, ctx.model_hash)
    marker = sdir / "stage.json"
    previous = read_json(marker) if marker.is_file() else {}
    if not force and previous.get("status") == "done" and previous.get("fingerprint") == fp:
        console.print(f"[green]reused[/] (inputs unchanged since {previous.get('finished')})")
        return StageOutcome(stage.name, "reused", previous)
    resume = previous.get("fingerprint") == fp and previous.get("status") == "running" and not force
    if sdir.exists() and not resume:
        shutil.rmtree(sdir)  # stale: its inputs changed, or the user forced a re-run
    sdir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(marker, {"fingerprint": fp, "status": "running", "stage": stage.section()})
    with Meter() as meter:
        info = _run_prompt(ctx, stage, sdir) if stage.kind == "prompt" else _run_tune(ctx, stage, sdir, resume)
    info.update(seconds=round(meter.seconds, 2), peak_rss_mb=round(meter.peak_rss_mb, 1),
                peak_gpu_mb=meter.peak_gpu_mb)
    done = {"fingerprint": fp, "status": "done", "stage": stage.section(), **info,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_json(marker, done)
    console.print(f"[green]done[/] in {meter.seconds:.0f} s")
    return StageOutcome(stage.name, "ran", done)


def _run_prompt(ctx: _Context, stage: Stage, sdir: Path) -> dict[str, Any]:
    from genlab.evaluation import evaluate

    r = ctx.recipe
    lm = ctx.inference_model()
    # seed 0 picks the same test examples the tuned stages are scored on
    result = evaluate(lm, r.eval_task, split=r.eval["split"], shots=stage.shots, n=r.eval["n"], seed=0,
                      out_dir=sdir / "eval", batch_size=r.eval["batch_size"])
    return {"trainable_params": 0, "total_params": lm.num_parameters(), "eval_dir": "eval",
            "metrics": result.metrics, "eval_tokens_per_s": result.timings.get("tokens_per_s")}


def _run_tune(ctx: _Context, stage: Stage, sdir: Path, resume: bool) -> dict[str, Any]:
    from genlab.tuning import TrainConfig, tune

    r = ctx.recipe
    cfg = TrainConfig.from_dict({"seed": r.seed, **stage.train}, where=f"{r.source}: stages.{stage.name}.train")
    resume = resume and (sdir / "checkpoints" / "last.pt").is_file()  # interrupted before its first checkpoint
    if resume:
        err_console.print("resuming the interrupted training from its last checkpoint")
    result = tune(r.model, r.task, stage.method, stage.options, cfg, sdir, resume=resume, overwrite=not resume,
                  forgetting_suite=r.forgetting or None, mixture=r.mixture, n_train=r.n_train,
                  n_test=r.eval["n"])
    if result.test_metrics is None:
        raise ConfigError("the tuned stage produced no test metrics", where=f"{r.source}: stages.{stage.name}")
    metrics, eval_dir = result.test_metrics, "eval"
    if r.mixture:  # a mixture is scored per task as task/metric; the leaderboard shows the first task
        prefix = f"{r.eval_task}/"
        metrics = {k[len(prefix):]: v for k, v in metrics.items() if k.startswith(prefix)}
        eval_dir = f"eval/{r.eval_task}"
    return {"trainable_params": result.params.trainable, "total_params": result.params.total,
            "eval_dir": eval_dir, "metrics": metrics, "train": result.train.to_dict(),
            "forgetting": result.forgetting, "adapter": "adapter"}
