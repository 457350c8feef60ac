"""Instances and their perturbed variants, and per-instance scores (HELM's instance/perturbation model).

``build_variants`` renders the original instances and one copy per perturbation; only the
input fields are perturbed (``perturbations.perturb_row``) and the references are checked
to be unchanged. ``unique_requests`` keeps one request per distinct prompt, so a
perturbation that changed nothing costs nothing. ``score_instances`` maps model outputs
back to (variant, instance) and scores each with the scenario's main metric.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Sequence

from genlab.errors import GenlabError
from genlab.holistic.perturbations import Perturbation, perturb_row, protected_words
from genlab.holistic.scenarios import Scenario


@dataclasses.dataclass
class Variant:
    name: str  # "original" or a perturbation name
    family: str | None  # None for the original, else "robustness" / "fairness"
    requests: list


def _requests(task, split: str, rows: list, lm, seed: int) -> list:
    fixed = dataclasses.replace(task, _splits={split: rows})
    return fixed.requests(split, shots=0, seed=seed, tokenizer=lm.tokenizer, context_window=lm.context_window)


def pick_instances(rows: list, n: int, seed: int) -> list:
    """``n`` rows drawn with ``seed``, in their original order; a smaller ``n`` picks a subset of a larger one.

    Drawn rather than the first ``n``: hub splits are often sorted (IMDB's test split lists
    every negative review first).
    """
    order = list(range(len(rows)))
    random.Random(f"instances:{seed}").shuffle(order)
    return [rows[i] for i in sorted(order[:n])]


def build_variants(task, scenario: Scenario, lm, *, n: int, seed: int,
                   perturbations: Sequence[Perturbation]) -> list[Variant]:
    """Requests for the original rows and for each perturbation of their input fields.

    Only string fields the prompt reads are perturbed, and words the reference or the
    choices contain are protected; the references are checked to be unchanged.
    """
    rows = pick_instances(task.examples(scenario.split), n, seed)
    original = _requests(task, scenario.split, rows, lm, seed)
    variants = [Variant("original", None, original)]
    if not scenario.perturb:
        return variants
    fields = sorted(task.variant(0).template.input_fields)
    for p in perturbations:
        changed = [perturb_row(row, fields, p, seed=seed, key=i,
                               protect=protected_words(req.target, *(req.choices or [])))
                   for i, (row, req) in enumerate(zip(rows, original))]
        reqs = _requests(task, scenario.split, changed, lm, seed)
        _check_references(original, reqs, p.name, scenario.name)
        variants.append(Variant(p.name, p.family, reqs))
    return variants


def _check_references(original: list, perturbed: list, name: str, scenario: str) -> None:
    for a, b in zip(original, perturbed):
        if a.target != b.target or a.choices != b.choices:
            raise GenlabError(f"perturbation {name!r} changed the reference of {scenario} instance {a.doc_id}",
                              hint="a field the target reads is also in the prompt; perturbations must only "
                                   "change inputs")


def unique_requests(variants: list[Variant]) -> tuple[list, dict[tuple[str, int], int]]:
    """One request per distinct prompt, and (variant, instance) -> its index."""
    index: dict[str, int] = {}
    unique, where = [], {}
    for v in variants:
        for i, r in enumerate(v.requests):
            if r.prompt not in index:
                index[r.prompt] = len(unique)
                unique.append(r)
            where[(v.name, i)] = index[r.prompt]
    return unique, where


def main_metric(name: str | None):
    if name is None:
        return None
    from genlab.evaluation.metrics import get_metric

    return get_metric(name)


def score_instances(task, scenario: Scenario, variants: list[Variant], samples: list[dict],
                    where: dict) -> dict[str, list[dict]]:
    """{variant: [{doc_id, prompt, prediction, reference, score, probs?}]} in instance order.

    ``samples``: ``evaluate``'s per-request rows for the unique requests (``where`` maps
    (variant, instance) to one of them).
    """
    metric = main_metric(scenario.main_metric)
    out: dict[str, list[dict]] = {}
    for v in variants:
        rows = []
        for i, r in enumerate(v.requests):
            s = samples[where[(v.name, i)]]
            rows.append(_choice_row(r, s, scenario) if task.output_type == "multiple_choice"
                        else _text_row(r, s, metric))
        out[v.name] = rows
    return out


def _choice_row(r, s: dict, scenario: Scenario) -> dict:
    pred = s["pred_index_norm"] if scenario.main_metric == "acc_norm" else s["pred_index"]
    return {"doc_id": r.doc_id, "prompt": r.prompt, "prediction": r.choices[pred].strip(),
            "reference": r.target, "score": float(pred == r.target_index), "probs": s["probs"],
            "target_index": r.target_index}


def _text_row(r, s: dict, metric) -> dict:
    pred = s["prediction"]  # evaluate applied the task's postprocessing
    score = float(metric.sentence_score(pred, r.target)) if metric is not None else None
    return {"doc_id": r.doc_id, "prompt": r.prompt, "prediction": pred, "reference": r.target, "score": score,
            "new_tokens": s["new_tokens"]}


__all__ = ["Variant", "build_variants", "main_metric", "pick_instances", "score_instances", "unique_requests"]
