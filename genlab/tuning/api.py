"""``tune()``: model + task + method + TrainConfig → a run folder with adapter, metrics and curves.

    from genlab.tuning import tune, TrainConfig
    from genlab.evaluation import EvalConfig
    r = tune("smollm2-135m-instruct", "support-summary", "lora", {"r": 8}, TrainConfig(epochs=1), "runs/lora",
             eval_cfg=EvalConfig(n=100))

The run folder: config.json (everything to reproduce: arguments, versions, git
hash), metrics.jsonl, results.json, adapter/ (with manifest.json), train_curves.png.
Training ends with the adapter on disk; the test split and the forgetting suite are
then scored by ``genlab.evaluation.evaluate`` on base + that adapter, loaded as
``genlab eval --adapter`` loads it, at ``eval_cfg``'s precision, batch and examples.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genlab.adapters import save_adapter, update_manifest, with_head
from genlab.errors import ConfigError, GenlabError
from genlab.evaluation import EvalConfig, evaluate
from genlab.evaluation.tuned import forgetting
from genlab.io import atomic_write_json
from genlab.models import as_loaded, load
from genlab.progress import Reporter, or_quiet
from genlab.provenance import Provenance
from genlab.runtime import determinism_record
from genlab.tuning import methods, validation
from genlab.tuning.config import TrainConfig
from genlab.tuning.data import encode, pairs_of
from genlab.tuning.loop import make_accelerator, train
from genlab.tuning.bookkeeping import TrainResult


@dataclass
class TuneResult:
    out_dir: Path
    method: str
    params: methods.ParamReport
    train: TrainResult
    test_metrics: dict[str, dict] | None = None
    forgetting: list[dict] = field(default_factory=list)
    adapter_path: Path | None = None
    model: Any = field(default=None, repr=False)  # base + adapter as the test split was scored (None without eval)

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "method": self.method,
                "params": {"trainable": self.params.trainable, "total": self.params.total,
                           "percent": self.params.percent},
                "train": self.train.to_dict(), "test_metrics": self.test_metrics,
                "forgetting": self.forgetting, "adapter": str(self.adapter_path) if self.adapter_path else None}


def tune(model_name: Any, task_name: Any, method: str, method_cfg: dict | Any = None,
         train_cfg: TrainConfig | None = None, out_dir: str | Path = "runs/tune", resume: bool = False,
         forgetting_suite: list[str] | None = None, mixture: dict[str, float] | None = None,
         head: str | None = None, n_train: int | None = None, eval_cfg: EvalConfig | None = EvalConfig(),
         trust_remote_code: bool = False, reporter: Reporter | None = None, overwrite: bool = False) -> TuneResult:
    """Fine-tune ``model_name`` (a name, or a model loaded with ``genlab.load``, which is then trained
    in place) on ``task_name`` (a task name or an object with ``training_pairs``).

    ``n_train`` limits the training examples (None: all). ``eval_cfg`` says how the test split and
    the ``forgetting_suite`` are scored after training (``None`` skips both).
    ``out_dir`` must not hold a run already unless ``resume`` (continue from its last
    checkpoint) or ``overwrite`` (replace it). Ctrl-C saves a checkpoint of the last finished
    step and raises ``KeyboardInterrupt``; ``resume=True`` continues from there.
    """
    cfg = train_cfg or TrainConfig()
    reporter = or_quiet(reporter)
    acc = make_accelerator()
    out = Path(out_dir)
    mcfg = methods.make_config(method, method_cfg)  # fail on bad options before loading anything
    if acc.is_main_process:
        prepare_run_dir(out, resume=resume, overwrite=overwrite)
    # training keeps fp32 master weights; the loop computes under cfg.precision's autocast
    lm = as_loaded(model_name, precision="fp32", device=str(acc.device), trust_remote_code=trust_remote_code)
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
    model = methods.apply(method, lm.model, mcfg, tokenizer=lm.tokenizer)
    report = methods.param_report(model)
    if acc.is_main_process:
        reporter.status(f"{method}: {report}")
    train_set = encode(train_pairs, lm.tokenizer, kind, cfg.max_seq_len, labels)
    val_set = encode(val_pairs, lm.tokenizer, kind, cfg.max_seq_len, labels)
    if acc.is_main_process:
        _write_config(out, model_name, lm, task_name, method, mcfg, cfg, head, mixture, forgetting_suite, labels,
                      eval_cfg)
    val_metric = _val_metric(lm, task, kind, val_pairs, val_set, cfg)
    result = train(model, lm.tokenizer, kind, train_set, val_set, cfg, out, resume=resume,
                   val_metric=val_metric, accelerator=acc, reporter=reporter)
    model = acc.unwrap_model(model)
    res = TuneResult(out, method, report, result)
    if not acc.is_main_process:
        return res
    # the adapter first: a failing evaluation must not lose the training
    res.adapter_path = save_adapter(model, out / "adapter", method=method, method_cfg=mcfg, base_name=lm.name,
                                    base_hash=lm.model_hash, base_kind=lm.kind, extra={
                                        "task": _task_label(task_name), "templates": _template_names(task),
                                        "mixture": mixture, "head": head, "labels": labels,
                                        "train_config": cfg.to_dict(),
                                        "metrics": {"best_val_loss": result.best_val_loss}})
    if eval_cfg is not None:
        del model, lm  # the evaluation loads base + adapter (+ head) from disk, as `genlab eval --adapter` does
        res.model = load(model_name, precision=eval_cfg.precision, adapter=res.adapter_path,
                         trust_remote_code=trust_remote_code)
        res.test_metrics = _test_eval(res.model, task or list(mixture), eval_cfg, out, reporter)
        if forgetting_suite:
            res.forgetting = forgetting(model_name, res.adapter_path, forgetting_suite, eval_cfg,
                                        out / "forgetting", reporter=reporter, trust_remote_code=trust_remote_code)
        update_manifest(res.adapter_path, metrics={"best_val_loss": result.best_val_loss, "test": res.test_metrics})
    atomic_write_json(out / "results.json", res.to_dict())
    return res


# -- inputs ----------------------------------------------------------------------------------

RUN_FILES = ("config.json", "results.json", "metrics.jsonl", "checkpoints", "adapter", "eval", "forgetting",
             "train_curves.png")


def prepare_run_dir(out: Path, *, resume: bool, overwrite: bool, run_files: tuple[str, ...] = RUN_FILES,
                    where: str = "tune") -> None:
    """Refuse to train into an earlier run by accident; ``overwrite`` removes that run's ``run_files``."""
    if resume and overwrite:
        raise ConfigError("resume=True and overwrite=True contradict each other", where=where,
                          hint="resume continues the run in out_dir; overwrite starts it again")
    if resume:
        if not (out / "checkpoints" / "last.pt").is_file():
            raise GenlabError(f"nothing to resume: {out} has no checkpoint (checkpoints/last.pt)",
                              hint="check the run folder, or start a new run there without resuming")
        return
    existing = [name for name in run_files if (out / name).exists()]
    if existing and not overwrite:
        raise GenlabError(f"{out} already holds a run ({', '.join(existing[:3])})",
                          hint="resume it, overwrite it, or choose another output folder")
    for name in existing:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def _load_task(task_name):
    if not isinstance(task_name, str):
        return task_name  # already a task object (tests, notebooks)
    from genlab.tasks import load_task

    return load_task(task_name)


def _pairs(task, split: str, n: int | None, seed: int, tokenizer=None) -> list[tuple[str, str]]:
    """Prompts rendered as evaluation will render them (chat template when the task and tokenizer use one).

    A task without a validation split trains without validation; any other failure is an error.
    """
    if split == "validation" and not _has_split(task, split):
        return []
    return pairs_of(task.training_pairs(split=split, n=n, seed=seed, tokenizer=tokenizer))


def _has_split(task, split: str) -> bool:
    names = getattr(task, "split_names", None)
    return split in names() if callable(names) else True


def _mixture_pairs(mixture: dict[str, float], split: str, n: int | None, seed: int, tokenizer):
    """A FLAN-style mixture of tasks with the given rates (genlab.tasks.mix_tasks)."""
    from genlab.tasks import load_task, mix_tasks

    if any(r <= 0 for r in mixture.values()):
        raise ConfigError(f"mixture rates must be > 0: {mixture}", where="mixture")
    tasks = [load_task(name) for name in mixture]
    if split == "validation" and not all(_has_split(t, split) for t in tasks):
        return []
    if n is None:
        n = sum(len(t.examples(split)) for t in tasks)
    return pairs_of(mix_tasks(tasks, n, weights=list(mixture.values()), seed=seed, split=split, tokenizer=tokenizer))


def _val_metric(lm, task, kind, val_pairs, val_set, cfg):
    if not val_pairs:
        return None
    if kind == "classifier":
        return validation.classifier_metric(val_set, lm.tokenizer.pad_token_id or 0, cfg.precision)
    names = validation.metric_names(task)
    output_type = getattr(task, "output_type", "generate")
    if not names or cfg.val_generate == 0 or output_type == "loglikelihood_rolling":  # perplexity: val_loss is it
        return None
    view = lambda model: dataclasses.replace(lm, model=model)  # noqa: E731  (generate takes a LoadedModel)
    if output_type == "multiple_choice":  # the choices scored as evaluation scores them
        requests = task.training_pairs(split="validation", n=min(cfg.val_generate, len(val_pairs)), seed=cfg.seed,
                                       tokenizer=lm.tokenizer)
        return validation.choice_metric(view, requests, cfg.precision)
    return validation.generation_metric(lm, view, val_pairs[:cfg.val_generate], names[0], cfg.max_new_tokens,
                                        cfg.precision)


# -- outputs ---------------------------------------------------------------------------------

def _test_eval(tuned, task, eval_cfg: EvalConfig, out: Path, reporter) -> dict[str, dict]:
    """Test-split metrics with intervals; for a mixture, each task's metrics as ``task/metric``."""
    if isinstance(task, list):
        per_task = {t: evaluate(tuned, t, eval_cfg, out_dir=out / "eval" / t, reporter=reporter).metrics for t in task}
        return {f"{t}/{k}": v for t, ms in per_task.items() for k, v in ms.items()}
    return dict(evaluate(tuned, task, eval_cfg, out_dir=out / "eval", reporter=reporter).metrics)


def _template_names(task) -> list[str] | None:
    templates = getattr(task, "templates", None)
    return [getattr(t, "name", str(t)) for t in templates] if templates else None


def _write_config(out, model_name, lm, task_name, method, mcfg, cfg, head, mixture, suite, labels, eval_cfg):
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", {
        "model": model_name, "model_hash": lm.model_hash, "task": _task_label(task_name),
        "method": method, "method_config": dataclasses.asdict(mcfg), "train_config": cfg.to_dict(),
        "eval_config": eval_cfg.to_dict() if eval_cfg else None,
        "head": head, "labels": labels, "mixture": mixture, "forgetting_suite": suite,
        "determinism": determinism_record(cfg.seed, cfg.deterministic, lm.device),
        "provenance": Provenance.capture().to_json()})


def _task_label(task) -> str:
    """What names the task in config.json and the manifest: the name given, or for a task read from a data file
    or a hub dataset its source (``qa.jsonl``, ``hf:owner/name``), which loads it again."""
    if isinstance(task, str):
        return task
    from genlab.data.infer import is_data_source

    source = str(getattr(task, "source", ""))
    if source and is_data_source(source):
        return source
    return getattr(task, "name", type(task).__name__)
