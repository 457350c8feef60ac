"""``tune()``: model + task + method + TrainConfig → a run folder with adapter, metrics and curves.

    from genlab.tuning import tune, TrainConfig
    r = tune("smollm2-135m-instruct", "support-summary", "lora", {"r": 8}, TrainConfig(epochs=1), "runs/lora")

The run folder: config.json (everything to reproduce: arguments, versions, git
hash), metrics.jsonl, results.json, adapter/ (with manifest.json), train_curves.png.
"""

from __future__ import annotations

import dataclasses
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genlab.adapters import save_adapter, update_manifest, with_head
from genlab.errors import ConfigError, GenlabError
from genlab.evaluation import environment
from genlab.io import atomic_write_json
from genlab.runtime import determinism_record
from genlab.tuning import methods, scoring
from genlab.tuning.config import TrainConfig
from genlab.tuning.data import encode, pairs_of
from genlab.tuning.loop import make_accelerator, train
from genlab.tuning.run import TrainResult


@dataclass
class TuneResult:
    out_dir: Path
    method: str
    params: methods.ParamReport
    train: TrainResult
    test_metrics: dict[str, dict] | None = None
    forgetting: list[dict] = field(default_factory=list)
    adapter_path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "method": self.method,
                "params": {"trainable": self.params.trainable, "total": self.params.total,
                           "percent": self.params.percent},
                "train": self.train.to_dict(), "test_metrics": self.test_metrics,
                "forgetting": self.forgetting, "adapter": str(self.adapter_path) if self.adapter_path else None}


def tune(model_name: Any, task_name: Any, method: str, method_cfg: dict | Any = None,
         train_cfg: TrainConfig | None = None, out_dir: str | Path = "runs/tune", resume: bool = False,
         forgetting_suite: list[str] | None = None, mixture: dict[str, float] | None = None,
         head: str | None = None, n_train: int | None = None, n_test: int | None = 100,
         evaluate_test: bool = True, overwrite: bool = False) -> TuneResult:
    """Fine-tune ``model_name`` (a name, or a model loaded with ``genlab.load``, which is then trained
    in place) on ``task_name`` (a task name or an object with ``training_pairs``).

    ``n_train`` limits the training examples (None: all); ``n_test`` the test examples scored
    after training and before/after for ``forgetting_suite`` (None: the whole split).
    ``out_dir`` must not hold a run already unless ``resume`` (continue from its last
    checkpoint) or ``overwrite`` (replace it). Ctrl-C saves a checkpoint of the last finished
    step and raises ``KeyboardInterrupt``; ``resume=True`` continues from there.
    """
    cfg = train_cfg or TrainConfig()
    acc = make_accelerator()
    out = Path(out_dir)
    mcfg = methods.make_config(method, method_cfg)  # fail on bad options before loading anything
    if acc.is_main_process:
        prepare_run_dir(out, resume=resume, overwrite=overwrite)
    lm = _load_model(model_name, acc.device)
    model_name = model_name if isinstance(model_name, str) else lm.name
    task = _load_task(task_name) if task_name is not None else None
    if mixture:
        train_pairs = _mixture_pairs(mixture, "train", n_train, cfg.seed, lm.tokenizer)
        val_pairs = _mixture_pairs(mixture, "validation", cfg.val_max_examples, cfg.seed, lm.tokenizer)
    else:
        if task is None:
            raise ConfigError("give a task or a mixture", where="tune", hint="tune(model, task_name, ...) or mixture={...}")
        train_pairs = _pairs(task, "train", n_train, cfg.seed, lm.tokenizer)
        val_pairs = _pairs(task, "validation", cfg.val_max_examples, cfg.seed, lm.tokenizer)
    labels = sorted({t for _, t in train_pairs + val_pairs}) if head == "classification" else None
    torch.manual_seed(cfg.seed)  # new weights (head, LoRA A, prompts): torch seeds itself randomly per process
    lm = with_head(lm, head, labels)
    kind = "classifier" if head == "classification" else lm.kind
    base_before = _forgetting_eval(lm, forgetting_suite, out / "forgetting" / "before", n_test) if acc.is_main_process else {}
    model = methods.apply(method, lm.model, mcfg, tokenizer=lm.tokenizer)
    report = methods.param_report(model)
    _say(acc, f"{method}: {report}")
    train_set = encode(train_pairs, lm.tokenizer, kind, cfg.max_seq_len, labels)
    val_set = encode(val_pairs, lm.tokenizer, kind, cfg.max_seq_len, labels)
    if acc.is_main_process:
        _write_config(out, model_name, lm, task_name, method, mcfg, cfg, head, mixture, forgetting_suite, labels)
    val_metric = _val_metric(lm, task, kind, val_pairs, val_set, cfg)
    result = train(model, lm.tokenizer, kind, train_set, val_set, cfg, out, resume=resume,
                   val_metric=val_metric, accelerator=acc)
    model = acc.unwrap_model(model)
    tuned = scoring.model_view(lm, model)
    test = forgetting = None
    adapter_path = None
    if acc.is_main_process:  # the adapter first: a failing evaluation must not lose the training
        adapter_path = save_adapter(model, out / "adapter", method=method, method_cfg=mcfg, base_name=lm.name,
                                    base_hash=lm.model_hash, base_kind=lm.kind, extra={
                                        "task": _task_label(task_name), "templates": _template_names(task),
                                        "mixture": mixture, "head": head, "labels": labels,
                                        "train_config": cfg.to_dict(), "metrics": {"best_val_loss": result.best_val_loss}})
        if evaluate_test:
            test = _test_eval(tuned, task or list(mixture), kind, labels, cfg, n_test, out, lm.tokenizer)
            update_manifest(adapter_path, metrics={"best_val_loss": result.best_val_loss, "test": test})
        after = _forgetting_eval(tuned, forgetting_suite, out / "forgetting" / "after", n_test)
        forgetting = (scoring.forgetting_rows(out / "forgetting" / "before", out / "forgetting" / "after",
                                              [t for t in forgetting_suite if base_before.get(t) and after.get(t)])
                      if forgetting_suite else [])
    res = TuneResult(out, method, report, result, test, forgetting or [], adapter_path)
    if acc.is_main_process:
        atomic_write_json(out / "results.json", res.to_dict())
    return res


# -- inputs ----------------------------------------------------------------------------------

RUN_FILES = ("config.json", "results.json", "metrics.jsonl", "checkpoints", "adapter", "eval", "forgetting",
             "train_curves.png")


def prepare_run_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to train into an earlier run by accident; ``overwrite`` removes that run's files."""
    if resume and overwrite:
        raise ConfigError("resume=True and overwrite=True contradict each other", where="tune",
                          hint="resume continues the run in out_dir; overwrite starts it again")
    if resume:
        if not (out / "checkpoints" / "last.pt").is_file():
            raise GenlabError(f"nothing to resume: {out} has no checkpoint (checkpoints/last.pt)",
                              hint="check the run folder, or start a new run there without resuming")
        return
    existing = [name for name in RUN_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise GenlabError(f"{out} already holds a run ({', '.join(existing[:3])})",
                          hint="resume it, overwrite it, or choose another output folder")
    for name in existing:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def _load_task(task_name):
    if not isinstance(task_name, str):
        return task_name  # already a task object (tests, notebooks)
    try:
        from genlab.tasks import load_task
    except ImportError:
        raise GenlabError("genlab.tasks is not available in this install", where="task_name",
                          hint="pass a task object with training_pairs(split, n, seed)") from None
    return load_task(task_name)


def _pairs(task, split: str, n: int | None, seed: int, tokenizer=None) -> list[tuple[str, str]]:
    """Prompts rendered as evaluation will render them (chat template when the task and tokenizer use one)."""
    try:
        items = task.training_pairs(split=split, n=n, seed=seed, tokenizer=tokenizer)
    except Exception as e:
        if split == "validation":
            return []  # a task without a validation split: train without validation
        raise GenlabError(f"could not read the {split} split: {e}", where=f"task {_task_label(task)}") from e
    return pairs_of(items)


def _mixture_pairs(mixture: dict[str, float], split: str, n: int | None, seed: int, tokenizer):
    """A FLAN-style mixture of tasks with the given rates (genlab.tasks.mix_tasks)."""
    from genlab.tasks import load_task, mix_tasks

    if any(r <= 0 for r in mixture.values()):
        raise ConfigError(f"mixture rates must be > 0: {mixture}", where="mixture")
    tasks = [load_task(name) for name in mixture]
    if n is None:
        n = sum(len(t.examples(split)) for t in tasks)
    try:
        rows = mix_tasks(tasks, n, weights=list(mixture.values()), seed=seed, split=split, tokenizer=tokenizer)
    except Exception:
        if split == "validation":
            return []
        raise
    return pairs_of(rows)


def _load_model(model, device):
    from genlab.models import as_loaded

    return as_loaded(model, device=str(device))


def _val_metric(lm, task, kind, val_pairs, val_set, cfg):
    if not val_pairs:
        return None
    if kind == "classifier":
        return scoring.classifier_metric(val_set, lm.tokenizer.pad_token_id or 0, cfg.precision)
    names = scoring.metric_names(task)
    if not names or cfg.val_generate == 0:
        return None
    return scoring.generation_metric(lm, val_pairs[:cfg.val_generate], names[0], cfg.max_new_tokens, cfg.precision)


# -- outputs ---------------------------------------------------------------------------------

def _test_eval(tuned, task, kind, labels, cfg, n_test, out, tokenizer):
    """Test-split metrics with intervals; for a mixture, each task's metrics as ``task/metric``."""
    if isinstance(task, list):
        per_task = {t: scoring.evaluate_task(tuned, t, "test", n_test, out / "eval" / t) or {} for t in task}
        return {f"{t}/{k}": v for t, ms in per_task.items() for k, v in ms.items()}
    if kind == "classifier":
        pairs = _pairs(task, "test", n_test, cfg.seed, tokenizer)
        ex = encode(pairs, tokenizer, kind, cfg.max_seq_len, labels)
        preds = scoring.classify(tuned.model, ex, tokenizer.pad_token_id or 0, cfg.precision)
        return {"acc": scoring.accuracy_with_ci(preds, [e.labels for e in ex])}
    return scoring.evaluate_task(tuned, task, "test", n_test, out / "eval")


def _template_names(task) -> list[str] | None:
    templates = getattr(task, "templates", None)
    return [getattr(t, "name", str(t)) for t in templates] if templates else None


def _forgetting_eval(lm, suite, out, n):
    return {t: scoring.evaluate_task(lm, t, "test", n, out / t) for t in suite or []}


def _write_config(out, model_name, lm, task_name, method, mcfg, cfg, head, mixture, suite, labels):
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", {
        "command": sys.argv, "model": model_name, "model_hash": lm.model_hash, "task": _task_label(task_name),
        "method": method, "method_config": dataclasses.asdict(mcfg), "train_config": cfg.to_dict(),
        "head": head, "labels": labels, "mixture": mixture, "forgetting_suite": suite,
        "determinism": determinism_record(cfg.seed, cfg.deterministic, lm.device),
        "versions": {"python": platform.python_version(), **environment.package_versions()},
        "git": environment.git_hash(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


def _task_label(task) -> str:
    return task if isinstance(task, str) else getattr(task, "name", type(task).__name__)


def _say(acc, text: str) -> None:
    if acc.is_main_process:
        from genlab.ui import err_console

        err_console.print(text, highlight=False)
