"""evaluate(model, task, cfg): task -> requests -> generations or log-likelihoods -> metrics with intervals.

    result = evaluate(lm, "support-summary", EvalConfig(shots=3, n=100), out_dir="runs/3shot")

writes ``results.json`` (metrics with 95% bootstrap intervals, task and generation
config, model name/hash, versions, git hash, timings, throughput) and
``samples.jsonl`` (prompt, prediction, reference, per-sample scores and the
metric statistics ``genlab compare`` needs for paired tests), both atomically.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genlab.errors import ConfigError, GenlabError
from genlab.evaluation import environment, reasoning
from genlab.evaluation.config import EvalConfig
from genlab.evaluation.outputs import ModelOutputs
from genlab.evaluation.generate_outputs import run_generate
from genlab.evaluation.loglik_outputs import run_multiple_choice, run_rolling
from genlab.evaluation.metrics import bootstrap_ci, get_metric
from genlab.evaluation.metrics.base import Metric
from genlab.io import atomic_write_json, atomic_write_jsonl, read_json
from genlab.progress import Reporter, or_quiet
from genlab.provenance import Provenance

_MODEL_OUTPUTS = {"generate": run_generate, "multiple_choice": run_multiple_choice,
            "loglikelihood_rolling": run_rolling}
INPUT_KIND = {"generate": "text", "multiple_choice": "choices", "loglikelihood_rolling": "rolling"}


@dataclass
class EvalResult:
    task: str
    output_type: str
    model: dict[str, Any]
    metrics: dict[str, dict[str, Any]]  # name -> {"value", "ci_low", "ci_high", ...}
    config: dict[str, Any]
    timings: dict[str, Any]
    environment: dict[str, Any]
    samples: list[dict[str, Any]] = field(default_factory=list)
    out_dir: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Everything but the samples (those go to samples.jsonl)."""
        data = asdict(self)
        data.pop("samples")
        return data

    def save(self, out_dir: str | Path) -> Path:
        out = Path(out_dir)
        self.out_dir = str(out)
        atomic_write_jsonl(out / "samples.jsonl", self.samples)
        atomic_write_json(out / "results.json", self.to_json())
        return out

    @classmethod
    def load(cls, run_dir: str | Path) -> "EvalResult":
        run = Path(run_dir)
        if not (run / "results.json").is_file():
            raise GenlabError(f"{run} has no results.json, so it is not an eval run",
                              hint="pass a folder written by `genlab eval --out DIR`")
        data = read_json(run / "results.json")
        samples = []
        if (run / "samples.jsonl").is_file():
            import json

            samples = [json.loads(line) for line in (run / "samples.jsonl").read_text("utf-8").splitlines() if line]
        data["samples"], data["out_dir"] = samples, str(run)
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})


# -- metrics -------------------------------------------------------------------
def resolve_metrics(task) -> list[Metric]:
    """Instantiate the task's metrics; each must fit the task's output type."""
    origin = getattr(task, "source", None) or f"task {task.name}"
    where = f"{origin}: metrics"
    wanted = INPUT_KIND.get(task.output_type)
    if wanted is None:
        raise ConfigError(f"unknown output_type {task.output_type!r}", where=f"{origin}: output_type",
                          hint=f"use one of {', '.join(INPUT_KIND)}")
    if not task.metrics:
        raise ConfigError("the task lists no metrics", where=where, hint="add e.g. metrics: [rougeL]")
    metrics = []
    for i, spec in enumerate(task.metrics):
        name, opts = (spec, {}) if isinstance(spec, str) else next(iter(dict(spec).items()))
        metric = get_metric(name, where=f"{where}[{i}]", **(opts or {}))
        if metric.input_kind != wanted:
            fits = [k for k, v in INPUT_KIND.items() if v == metric.input_kind]
            raise ConfigError(f"metric {name!r} scores {fits[0]} outputs, but this task's output_type is "
                              f"{task.output_type!r}", where=f"{where}[{i}]",
                              hint=f"use {name} with output_type {fits[0]}, or pick a metric for {task.output_type}")
        metrics.append(metric)
    return metrics


def score_metrics(metrics: list[Metric], preds: list, refs: list, *, n_resamples: int, seed: int,
                  groups: list[list] | None = None):
    """Corpus value + bootstrap CI per metric, and per-sample scores/stats.

    With ``groups`` (several sampled answers per example), an example's stats are the sum over its answers:
    the corpus value is that of all answers together (HELM's ``num_outputs``, lm-eval's ``repeats`` averaged),
    the bootstrap still resamples examples, and an example's score is the mean of its answers' scores."""
    summary: dict[str, dict[str, Any]] = {}
    per_sample: list[dict[str, Any]] = [{"scores": {}, "stats": {}} for _ in preds]
    for metric in metrics:
        stats, each = (metric.stats_matrix(preds, refs), None) if groups is None else _group_stats(metric, groups, refs)
        low, high = bootstrap_ci(stats, metric.from_stats, n_resamples=n_resamples, seed=seed)
        entry = {"value": float(metric.from_stats(stats.sum(0))), "ci_low": low, "ci_high": high,
                 "higher_is_better": metric.higher_is_better, "reference": metric.reference}
        if metric.signature():
            entry["signature"] = metric.signature()
        summary[metric.name] = entry
        for i, row in enumerate(stats):
            per_sample[i]["scores"][metric.name] = metric.row_score(row, preds[i], refs[i]) if each is None \
                else float(np.mean(each[i]))
            per_sample[i]["stats"][metric.name] = row.tolist()
            if each is not None:
                per_sample[i].setdefault("scores_each", {})[metric.name] = each[i]
    return summary, per_sample


def _group_stats(metric: Metric, groups: list[list], refs: list) -> tuple[np.ndarray, list[list[float]]]:
    """Per-example stats summed over the example's answers, and each answer's own score."""
    flat_preds = [p for g in groups for p in g]
    flat_refs = [r for g, r in zip(groups, refs) for _ in g]
    flat = metric.stats_matrix(flat_preds, flat_refs)
    rows, each, at = [], [], 0
    for g in groups:
        part = flat[at:at + len(g)]
        rows.append(part.sum(0))
        each.append([metric.row_score(row, p, flat_refs[at]) for row, p in zip(part, g)])
        at += len(g)
    return np.stack(rows), each


# -- evaluate ------------------------------------------------------------------
def evaluate(model, task, cfg: EvalConfig | None = None, *, out_dir: str | Path | None = None,
             reporter: Reporter | None = None, **overrides: Any) -> EvalResult:
    """Evaluate ``model`` on ``task`` as ``cfg`` says; prints nothing (pass ``reporter`` for progress).

    ``model``: a ``genlab.models.LoadedModel``, or a model name loaded with ``genlab.models.load``
    at ``cfg.precision``. ``task``: a task name, YAML path or ``Task``. Keyword ``overrides`` are
    ``EvalConfig`` fields (``evaluate(lm, "reviews", n=8)``) and are validated the same way.
    The same ``cfg.seed`` picks the same examples; ``results.json`` records ``cfg`` and the
    precision that actually ran.
    """
    cfg = (cfg or EvalConfig()).replace(**overrides) if overrides else (cfg or EvalConfig())
    reporter = or_quiet(reporter)
    from genlab.models import as_loaded

    task = _load_task(task)
    metrics = resolve_metrics(task)
    lm = as_loaded(model, precision=cfg.precision)
    if lm.kind == "encoder":  # a classification head's scores are not per-character log-likelihoods
        metrics = [m for m in metrics if m.name != "acc_norm"] or metrics
    precision = effective_precision(lm.model, cfg.precision)
    shots = getattr(task, "default_shots", 0) if cfg.shots is None else cfg.shots
    t0 = time.perf_counter()
    reasoned = reasoning.is_reasoning(cfg)  # --cot / --pal / --self-consistency: prompts and answers change
    asked_task, task = task, reasoning.reasoning_task(task, cfg) if reasoned else task
    requests = task.requests(cfg.split, shots=shots, n=cfg.n, seed=cfg.seed, tokenizer=lm.tokenizer, chat=cfg.chat,
                             template=cfg.template_key(), context_window=lm.context_window)
    if reasoned:
        requests = reasoning.with_task_targets(asked_task, requests, cfg.template_key())
    if not requests:
        sizes = ", ".join(f"{name} {len(task.examples(name))}" for name in task.split_names())
        raise GenlabError(f"task {task.name} produced no examples for split {cfg.split!r}",
                          hint=f"examples per split: {sizes}; check -n and --shots (long few-shot prompts that "
                               "do not fit the context are dropped); a small file splits into small parts: set "
                               "dataset.splits in a task YAML, e.g. {test: 1.0} to evaluate on every row")
    t_build = time.perf_counter() - t0
    used = shots_used(requests, shots)
    if used["max"] < shots or used["min"] < shots:
        warnings.warn(FewerShots(f"asked for {shots} shots, used {_span(used)} per prompt (mean {used['mean']:.1f}): "
                                 f"only that many fit the context window or exist in the {getattr(task, 'fewshot_split', 'train')!r} "
                                 "split"), stacklevel=2)
    overlap = train_overlap(task, cfg.split, requests, cfg.template_key())
    if overlap["exact"]:
        warnings.warn(TrainOverlap(
            f"{overlap['exact']} of {overlap['of']} {cfg.split!r} examples have the same input as a train example "
            "(compared after normalizing case, punctuation and spaces): their scores measure recall of the "
            "training data, not generalization; `genlab data stats` lists the duplicates"), stacklevel=2)
    model_outputs = reasoning.run_reasoning if reasoned else _MODEL_OUTPUTS[task.output_type]
    run = model_outputs(lm, task, requests, cfg, precision["compute"], reporter)
    t1 = time.perf_counter()
    summary, per_sample = score_metrics(metrics, run.predictions, run.references,
                                        n_resamples=cfg.n_resamples, seed=cfg.seed, groups=run.groups)
    timings = {"build_requests_s": t_build, "model_s": run.seconds, "metrics_s": time.perf_counter() - t1,
               "total_s": time.perf_counter() - t0, **run.throughput}
    result = EvalResult(
        task=task.name, output_type=task.output_type, model=environment.model_info(lm),
        metrics=summary, config={**_run_config(task, cfg, shots, precision, run), "train_overlap": overlap},
        timings=timings, environment=Provenance.capture().to_json(),
        samples=[{**row, **extra} for row, extra in zip(run.samples, per_sample)])
    if out_dir is not None:
        result.save(out_dir)
    return result


class FewerShots(UserWarning):
    """Fewer demonstrations than asked fit a prompt (context window, or a small train split)."""


class TrainOverlap(UserWarning):
    """Evaluated examples whose input also occurs in the train split."""


def train_overlap(task, split: str, requests, template) -> dict[str, int]:
    """How many evaluated examples have an input (the fields the template reads before ``|||``) that a train
    example has too, after ``genlab.data.normalize``; ``{"exact": 0, "of": n}`` when there is no train split."""
    from genlab.data import normalize
    from genlab.data.hygiene import row_text

    names = task.split_names() if hasattr(task, "split_names") else []
    if split == "train" or "train" not in names or not requests:
        return {"exact": 0, "of": len(requests)}
    try:
        variant = task.variant(template if template != "sample" else 0)
        fields = sorted(getattr(variant.template, "input_fields", variant.template.fields))
    except Exception:  # noqa: BLE001 - a task without templates (a Python task object): nothing to compare
        return {"exact": 0, "of": len(requests)}
    cache = task.__dict__.setdefault("_train_inputs", {})  # validation during training asks again and again
    if tuple(fields) not in cache:
        cache[tuple(fields)] = {normalize(row_text(row, fields)) for row in task.examples("train")}
    seen = cache[tuple(fields)]
    hits = sum(normalize(row_text(r.raw, fields)) in seen for r in requests if r.raw)
    return {"exact": hits, "of": len(requests)}


def shots_used(items, asked: int) -> dict[str, float]:
    """min / max / mean demonstrations per prompt, from requests or samples (``shots_used``)."""
    used = [(r.get("shots_used", asked) if isinstance(r, dict) else getattr(r, "shots_used", asked)) for r in items]
    used = used or [asked]
    return {"min": min(used), "max": max(used), "mean": sum(used) / len(used)}


def _span(used: dict) -> str:
    return f"{used['min']}" if used["min"] == used["max"] else f"{used['min']}-{used['max']}"


def shots_label(config: dict) -> str:
    """``3-shot``, or ``32-33 of 40 shots`` when fewer fitted: the header says what was run."""
    asked, used = config.get("shots"), config.get("shots_used")
    if not used or asked is None or used["min"] >= asked:
        return f"{asked}-shot"
    return f"{_span(used)} of {asked} shots"


def decoding_label(config: dict) -> str | None:
    """``sampled T=0.7 top-p 0.9, 4 answers each (mean)`` for a sampled run's header; None for greedy runs."""
    gen = config.get("generation") or {}
    if not gen.get("do_sample") or config.get("self_consistency", 1) > 1:
        return None
    parts = [f"T={gen.get('temperature', 1.0):g}"]
    if gen.get("top_k"):
        parts.append(f"top-k {gen['top_k']}")
    if gen.get("top_p", 1.0) < 1:
        parts.append(f"top-p {gen['top_p']:g}")
    k = gen.get("num_return_sequences", 1)
    return "sampled " + " ".join(parts) + (f", {k} answers each (mean)" if k > 1 else "")


def effective_precision(model, requested: str) -> dict[str, str]:
    """What actually runs: weights already in bf16 compute in bf16 whatever was asked; fp32 weights
    compute in ``requested`` (bf16 through autocast where ``auto`` resolves to it)."""
    from genlab.runtime import resolve_precision

    dtypes = {str(p.dtype).removeprefix("torch.") for p in model.parameters() if p.is_floating_point()}
    names = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}
    weights = names.get(next(iter(dtypes)), "mixed") if len(dtypes) == 1 else "mixed"
    device = next(model.parameters()).device
    compute = weights if weights in ("bf16", "fp16") else resolve_precision(requested, device)
    return {"compute": compute, "weights": weights, "requested": requested}


def _load_task(task):
    if isinstance(task, (str, Path)):
        from genlab.tasks import load_task

        return load_task(str(task))
    return task


def _run_config(task, cfg: EvalConfig, shots: int, precision: dict[str, str], run: ModelOutputs) -> dict[str, Any]:
    return {**cfg.to_dict(), "task": task.name, "task_source": getattr(task, "source", None),
            "output_type": task.output_type, "shots": shots, "shots_used": shots_used(run.samples, shots), "num_examples": len(run.samples),
            "metrics": list(task.metrics), "generation": run.generation, "postprocess": list(task.postprocess or []),
            "chat": run.chat if run.chat is not None else cfg.chat, "precision": precision["compute"],
            "weights_dtype": precision["weights"], "requested_precision": precision["requested"],
            "bootstrap_resamples": cfg.n_resamples, "cache": run.cache}
