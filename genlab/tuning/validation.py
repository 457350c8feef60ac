"""What the loop measures on the validation split besides the loss: a generation metric or classifier accuracy.

These run inside training on the in-memory model (fp32 master weights under the
loop's autocast); the test-split numbers a run reports come from
``genlab.evaluation.evaluate`` on the saved adapter instead.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from genlab.runtime import autocast
from genlab.tuning.data import Example, collate


def metric_names(task) -> list[str]:
    """The task's metric names, whether listed as ``rougeL`` or ``{rougeL: {...options}}``."""
    names = []
    for m in getattr(task, "metrics", None) or []:
        names.append(m if isinstance(m, str) else next(iter(m)) if isinstance(m, dict) and m else None)
    return [n for n in names if n]


def generation_metric(lm, model_view, pairs: Sequence[tuple[str, str]], metric: str, max_new_tokens: int,
                      precision: str) -> Callable[[Any], dict[str, float]]:
    """A callable(model) -> {metric: value} generating greedily on ``pairs``."""
    from genlab.evaluation.metrics import get_metric
    from genlab.generation import GenerationConfig, generate

    scorer = get_metric(metric)
    prompts, refs = [p for p, _ in pairs], [t for _, t in pairs]

    def val_metric(model) -> dict[str, float]:
        gens = generate(model_view(model), prompts, GenerationConfig(max_new_tokens=max_new_tokens),
                        precision=precision, on_overflow="truncate")
        return {metric: scorer.corpus_score([g.texts[0].strip() for g in gens], refs)}

    return val_metric


def choice_metric(model_view, requests: Sequence, precision: str) -> Callable[[Any], dict[str, float]]:
    """A callable(model) -> {"acc": ...}: each multiple-choice request's choices scored by log-likelihood."""
    from genlab.evaluation.loglik import score_choices
    from genlab.evaluation.loglik_outputs import split_delimiter

    delimiter, requests = split_delimiter(requests)

    def val_metric(model) -> dict[str, float]:
        scores = score_choices(model_view(model), requests, precision=precision, target_delimiter=delimiter)
        return {"acc": sum(s.prediction() == r.target_index for s, r in zip(scores, requests)) / len(requests)}

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


def classifier_metric(examples, pad_id, precision) -> Callable[[Any], dict[str, float]]:
    golds = [e.labels for e in examples]
    return lambda model: {"acc": sum(p == g for p, g in zip(classify(model, examples, pad_id, precision), golds))
                          / max(len(golds), 1)}
