"""Glue to generation and evaluation: the validation metric, the test evaluation, forgetting deltas.

Uses ``genlab.generation`` / ``genlab.evaluation`` when present; without them the
run still trains and reports losses (the metric columns say why they are empty).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from genlab.runtime import autocast
from genlab.tuning.data import Example, collate


def metric_names(task) -> list[str]:
    names = []
    for m in getattr(task, "metrics", None) or []:
        names.append(m if isinstance(m, str) else (m.get("name") if isinstance(m, dict) else getattr(m, "name", None)))
    return [n for n in names if n]


def model_view(lm, model):
    """The LoadedModel ``lm`` with ``model`` in place of its weights (generation/eval take a LoadedModel)."""
    return dataclasses.replace(lm, model=model)


def generation_metric(lm, pairs: Sequence[tuple[str, str]], metric: str, max_new_tokens: int,
                      precision: str) -> Callable[[Any], dict[str, float]] | None:
    """A callable(model) -> {metric: value} generating on ``pairs``; None when the modules are missing."""
    try:
        from genlab.evaluation.metrics import get_metric
        from genlab.generation import GenerationConfig, generate
    except ImportError:
        return None
    scorer = get_metric(metric)
    prompts, refs = [p for p, _ in pairs], [t for _, t in pairs]

    def val_metric(model) -> dict[str, float]:
        gens = generate(model_view(lm, model), prompts, GenerationConfig(max_new_tokens=max_new_tokens),
                        precision=precision, on_overflow="truncate")
        return {metric: scorer.corpus_score([g.texts[0].strip() for g in gens], refs)}

    return val_metric


@torch.no_grad()
def classify(model, examples: Sequence[Example], pad_id: int, precision: str, batch_size: int = 32) -> list[int]:
    model.eval()
    device = next(model.parameters()).device
    preds: list[int] = []
    for k in range(0, len(examples), batch_size):
        batch = collate(examples[k:k + batch_size], pad_id, "classifier")
        with autocast(precision, device):
            logits = model(input_ids=batch["input_ids"].to(device),
                           attention_mask=batch["attention_mask"].to(device)).logits
        preds += logits.argmax(-1).tolist()
    return preds


def accuracy_with_ci(preds: Sequence[int], golds: Sequence[int]) -> dict[str, float]:
    import numpy as np

    from genlab.evaluation.metrics import bootstrap_ci

    stats = np.array([[float(p == g), 1.0] for p, g in zip(preds, golds)])
    ratio = lambda s: s[..., 0] / np.maximum(s[..., 1], 1)  # noqa: E731
    low, high = bootstrap_ci(stats, ratio)
    return {"value": float(ratio(stats.sum(0))), "ci_low": low, "ci_high": high}


def classifier_metric(examples, pad_id, precision) -> Callable[[Any], dict[str, float]]:
    golds = [e.labels for e in examples]
    return lambda model: {"acc": sum(p == g for p, g in zip(classify(model, examples, pad_id, precision), golds))
                          / max(len(golds), 1)}


def evaluate_task(lm, task, split: str = "test", n: int | None = None, out_dir=None) -> dict[str, dict] | None:
    """genlab.evaluation.evaluate on ``task``; None when the evaluation runner is not available."""
    try:
        from genlab.evaluation import evaluate
    except (ImportError, AttributeError):
        return None
    res = evaluate(lm, task, split=split, shots=0, n=n, seed=0, out_dir=out_dir, use_cache=False)
    return dict(res.metrics)


def forgetting_rows(before_dir: str | Path, after_dir: str | Path, tasks: Sequence[str]) -> list[dict]:
    """Per task and metric: before, after, and the delta with a paired-bootstrap 95% interval and p-value.

    ``before_dir/<task>`` and ``after_dir/<task>`` are eval runs on the same examples
    (``genlab.evaluation.evaluate`` output), so the test resamples examples jointly,
    as ``genlab compare`` does.
    """
    from genlab.evaluation.compare import compare_runs

    rows = []
    for task in tasks:
        cmp = compare_runs([Path(before_dir) / task, Path(after_dir) / task], examples=0)
        for r in cmp.rows:
            (low, high), = r["delta_cis"]
            rows.append({"task": task, "metric": r["metric"], "before": r["values"][0], "after": r["values"][1],
                         "delta": r["deltas"][0], "delta_low": low, "delta_high": high, "p_value": r["p_values"][0],
                         "n": cmp.shared})
    return rows
