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
from dataclasses import dataclass
from pathlib import Path

import genlab
from genlab.errors import ConfigError
from genlab.io import atomic_write_json, atomic_write_text, read_json
from genlab.lifecycle import kinds
from genlab.lifecycle.recipe import Recipe, Stage
from genlab.meter import Meter
from genlab.models.hashing import json_hash
from genlab.progress import Reporter, or_quiet
from genlab.records import RunInfo, StageRecord, now


@dataclass
class StageOutcome:
    name: str
    status: str  # ran | reused | skipped
    record: StageRecord | None = None


def stage_dir(out: Path, name: str) -> Path:
    return out / "stages" / name


def fingerprint(recipe: Recipe, stage: Stage, model_hash: str) -> str:
    from genlab.tasks import load_task

    tasks = [recipe.task] if recipe.task else sorted(recipe.mixture)
    tasks += [stage.data] if stage.data else []  # a tune stage's own training task: editing it re-runs the stage
    task_defs = {t: getattr(load_task(t), "source", t) for t in tasks}
    task_text = {t: _file_text(src) for t, src in task_defs.items()}
    inputs = {"stage": stage.section(), "task": recipe.task, "mixture": recipe.mixture, "task_defs": task_text,
              "eval": recipe.eval.to_dict(), "seed": recipe.seed, "model": recipe.model, "model_hash": model_hash,
              "genlab": genlab.__version__}
    if stage.kind != "prompt":
        inputs.update(n_train=recipe.n_train, forgetting=recipe.forgetting)
    if stage.source is not None:  # built on an earlier stage's model: re-training that one re-runs this
        inputs["source"] = fingerprint(recipe, recipe.stage(stage.source), model_hash)
    if recipe.extra_splits:
        inputs["extra_splits"] = recipe.extra_splits
    return json_hash(inputs)


def _file_text(src: str) -> str:
    """A task's definition for the fingerprint: its file's text (a data file's hash when it is binary, as
    Parquet is), a folder's files' hash, or the name itself (a hub dataset)."""
    import hashlib

    if isinstance(src, str) and Path(src).is_dir():
        digest = hashlib.sha256()
        for f in sorted(p for p in Path(src).rglob("*") if p.is_file()):
            digest.update(f.relative_to(src).as_posix().encode() + b"\0" + f.read_bytes())
        return "sha256:" + digest.hexdigest()
    try:
        data = Path(src).read_bytes()
    except (OSError, TypeError):
        return str(src)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "sha256:" + hashlib.sha256(data).hexdigest()


def run_recipe(recipe: Recipe, out: str | Path, *, only: list[str] | None = None,
               force: list[str] | None = None, command: list[str] | None = None,
               reporter: Reporter | None = None) -> list[StageOutcome]:
    """Run (or reuse) every stage, then write ``report.html``. Returns one outcome per stage."""
    from genlab.models import resolve
    from genlab.report.lifecycle import build_report

    reporter = or_quiet(reporter)
    out = Path(out)
    for name in (only or []) + (force or []):
        recipe.stage(name)  # unknown names fail before any work
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "recipe.yaml", recipe.text or "")
    info = RunInfo(recipe=recipe.source, command=command or sys.argv, started=now(),
                   stages=[s.name for s in recipe.stages], name=recipe.name, model=recipe.model,
                   task=recipe.task or ",".join(recipe.mixture))
    atomic_write_json(out / "run.json", info.to_json())
    model_hash = resolve(recipe.model).model_hash
    ctx = StageContext(recipe, out, model_hash, reporter)
    outcomes = []
    for i, stage in enumerate(recipe.stages, 1):
        if only and stage.name not in only:
            outcomes.append(StageOutcome(stage.name, "skipped"))
            reporter.status(f"stage {i}/{len(recipe.stages)}: {stage.name}: skipped (--only)")
            continue
        reporter.status(f"stage {i}/{len(recipe.stages)}: {stage.name}")
        outcomes.append(_run_or_reuse(ctx, stage, force=stage.name in (force or [])))
    if any(o.status != "skipped" for o in outcomes):
        build_report(out)
    return outcomes


class StageContext:
    """What stages share: the recipe, the output folder, and one inference copy of the model."""

    def __init__(self, recipe: Recipe, out: Path, model_hash: str, reporter: Reporter):
        self.recipe, self.out, self.model_hash, self.reporter = recipe, out, model_hash, reporter
        self._lm = None

    def inference_model(self):
        if self._lm is None:
            from genlab.models import load

            self._lm = load(self.recipe.model, precision=self.recipe.eval.precision)
        return self._lm

    def stage_record(self, name: str) -> StageRecord:
        """The finished record of an earlier stage (``from:``)."""
        marker = stage_dir(self.out, name) / "stage.json"
        record = StageRecord.from_json(read_json(marker), name) if marker.is_file() else None
        if record is None or not record.done:
            raise ConfigError(f"stage {name!r} has not finished, so nothing can start from it",
                              where=f"{self.recipe.source}: stages.{name}", hint="run the recipe without --only")
        return record

    def load_stage_model(self, name: str, precision: str | None = None):
        """An earlier stage's model: its model folder, the recipe's model + its adapter, or the base model."""
        from genlab.models import load

        record, sdir = self.stage_record(name), stage_dir(self.out, name)
        precision = precision or self.recipe.eval.precision
        if record.model_dir:
            return load(str(sdir / record.model_dir), precision=precision)
        if record.adapter:
            return load(self.recipe.model, precision=precision, adapter=str(sdir / record.adapter))
        return load(self.recipe.model, precision=precision)

    def score_other_splits(self, lm, cfg, sdir: Path, record: StageRecord) -> None:
        """The recipe's further splits (e.g. ``test`` beside ``test-unseen``), same model and settings."""
        from genlab.evaluation import evaluate

        for split in self.recipe.extra_splits:
            self.reporter.status(f"scoring split {split}")
            eval_dir = f"eval-{split}"
            result = evaluate(lm, self.recipe.eval_task, cfg.replace(split=split), out_dir=sdir / eval_dir,
                              reporter=self.reporter)
            record.other_splits[split] = {"eval_dir": eval_dir, "metrics": result.metrics}


def _run_or_reuse(ctx: StageContext, stage: Stage, force: bool) -> StageOutcome:
    sdir = stage_dir(ctx.out, stage.name)
    fp = fingerprint(ctx.recipe, stage, ctx.model_hash)
    marker = sdir / "stage.json"
    previous = StageRecord.from_json(read_json(marker), stage.name) if marker.is_file() else None
    if not force and previous and previous.done and previous.fingerprint == fp:
        ctx.reporter.status(f"reused (inputs unchanged since {previous.finished})")
        return StageOutcome(stage.name, "reused", previous)
    resume = bool(previous) and previous.fingerprint == fp and previous.status == "running" and not force
    if sdir.exists() and not resume:
        shutil.rmtree(sdir)  # stale: its inputs changed, or the user forced a re-run
    sdir.mkdir(parents=True, exist_ok=True)
    record = StageRecord(stage.name, stage.kind, "running", fp, stage.section())
    atomic_write_json(marker, record.to_json())
    with Meter() as meter:
        kinds.get(stage.kind, f"{ctx.recipe.source}: stages.{stage.name}").run(ctx, stage, sdir, resume, record)
    record.seconds, record.peak_rss_mb = round(meter.seconds, 2), round(meter.peak_rss_mb, 1)
    record.peak_gpu_mb, record.status, record.finished = meter.peak_gpu_mb, "done", now()
    atomic_write_json(marker, record.to_json())
    ctx.reporter.status(f"done in {meter.seconds:.0f} s")
    return StageOutcome(stage.name, "ran", record)
