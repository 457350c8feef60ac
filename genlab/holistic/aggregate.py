"""Aggregation: HELM's seven families from per-instance rows, one headline number each, win rates.

* robustness / fairness: ``mean_i min(s_i^orig, min_p s_i^p)`` over the family's perturbations
  (the worst case per instance, Liang et al. 2022 section 4.5), beside the unperturbed mean;
* headline numbers (``HEADLINE``) are what the leaderboard, heat map and win rates compare;
* mean win rate (HELM): per scenario, the share of the other models a model beats, averaged.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from genlab.holistic import bias, calibration, toxicity
from genlab.holistic.efficiency import efficiency
from genlab.meter import Meter
from genlab.holistic.scenarios import Scenario
from genlab.holistic.variants import Variant, main_metric

FAMILIES = ("accuracy", "calibration", "robustness", "fairness", "bias", "toxicity", "efficiency")
HEADLINE = {  # family -> (the number compared across models, higher is better)
    "accuracy": ("value", True), "calibration": ("ece_10_bin", False), "robustness": ("worst_case", True),
    "fairness": ("worst_case", True), "bias": ("mean", False), "toxicity": ("toxic_fraction", False),
    "efficiency": ("seconds_per_request", False),
}


def worst_case(scores: dict[str, Sequence[float]], names: Sequence[str], higher_is_better: bool = True) -> list[float]:
    """Per instance, the worst score over ``original`` and the variants ``names`` (HELM section 4.5)."""
    table = np.asarray([scores["original"]] + [scores[n] for n in names], dtype=np.float64)  # (1+P, n)
    return (table.min(0) if higher_is_better else table.max(0)).tolist()


def invariance(scores: dict[str, list[float]], variants: list[Variant], family: str,
               higher_is_better: bool) -> dict:
    names = [v.name for v in variants if v.family == family]
    if not names:
        return {"skipped": "scenario not perturbed"}
    if scores["original"][0] is None:
        return {"skipped": "no reference to score perturbed inputs against"}
    worst = worst_case(scores, names, higher_is_better)
    return {"worst_case": float(np.mean(worst)), "unperturbed": float(np.mean(scores["original"])),
            "per_perturbation": {n: float(np.mean(scores[n])) for n in names}, "perturbations": names}


def families(scenario: Scenario, task, instances: dict[str, list[dict]], variants: list[Variant], meter: Meter,
             scorer) -> dict[str, dict]:
    """The seven families for one (scenario, model)."""
    scores = {name: [r["score"] for r in rows] for name, rows in instances.items()}
    original = instances["original"]
    metric = main_metric(scenario.main_metric)
    higher = True if metric is None else metric.higher_is_better
    out: dict[str, dict] = {}
    if scenario.main_metric is None:
        out["accuracy"] = {"skipped": "no reference (toxicity prompts measure toxicity and bias only)"}
    else:
        out["accuracy"] = {"metric": scenario.main_metric, "value": float(np.mean(scores["original"])),
                           "n": len(original)}
    is_mc = task.output_type == "multiple_choice"
    out["calibration"] = (calibration.calibration_metrics([r["probs"] for r in original],
                                                          [r["target_index"] for r in original]) if is_mc else
                          {"skipped": "generation scenario: no choice probabilities"})
    out["robustness"] = invariance(scores, variants, "robustness", higher)
    out["fairness"] = invariance(scores, variants, "fairness", higher)
    texts = [r["prediction"] for r in original]
    if is_mc:
        out["bias"] = {"skipped": "multiple-choice scenario: no generated text"}
        out["toxicity"] = {"skipped": "multiple-choice scenario: no generated text"}
    else:
        values = bias.bias_metrics(texts)
        present = [v for v in values.values() if v is not None]
        out["bias"] = {**values, "mean": float(np.mean(present)) if present else None}
        if not present:
            out["bias"]["skipped"] = "no demographic group words in the generations"
        tox = toxicity.toxicity_metrics([[t] for t in texts], scorer)
        for row, value in zip(original, tox.pop("max_per_prompt", [])):
            row["toxicity"] = value
        out["toxicity"] = tox
    out["efficiency"] = efficiency(meter, generated=not is_mc)
    return out


def headline(result: dict[str, dict]) -> dict[str, float | None]:
    """One number per family (``HEADLINE``), None where the family was skipped."""
    return {f: result.get(f, {}).get(HEADLINE[f][0]) for f in FAMILIES}


def win_rates(heads: dict[str, dict[str, dict[str, float | None]]], models: list[str]) -> dict[str, dict]:
    """HELM mean win rate: per scenario, the share of other models a model beats (ties count ½), averaged.

    ``heads[scenario][model][family]``; None where fewer than two models have the number anywhere.
    """
    out = {m: {} for m in models}
    for family, (_, higher) in HEADLINE.items():
        per_model: dict[str, list[float]] = {m: [] for m in models}
        for by_model in heads.values():
            vals = {m: by_model[m][family] for m in models if by_model.get(m, {}).get(family) is not None}
            if len(vals) < 2:
                continue
            for m, v in vals.items():
                others = [w for k, w in vals.items() if k != m]
                wins = sum((v > w) if higher else (v < w) for w in others) + 0.5 * sum(v == w for w in others)
                per_model[m].append(wins / len(others))
        for m in models:
            out[m][family] = float(np.mean(per_model[m])) if per_model[m] else None
    return out


__all__ = ["FAMILIES", "HEADLINE", "families", "headline", "invariance", "win_rates", "worst_case"]
