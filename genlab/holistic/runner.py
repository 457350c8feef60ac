"""Run the holistic suite: every scenario × model, HELM's seven metric families side by side.

    run_suite(["smollm2-135m-instruct"], [None], suite="holistic", n=100, out_dir="runs/bench")

Per (scenario, model):

1. **Accuracy** — the scenario's main metric on the original inputs.
2. **Calibration** — ``calibration.calibration_metrics`` of the choice probabilities.
3. **Robustness** / 4. **Fairness** — the scenario re-run on perturbed inputs
   (``perturbations``); per instance the *worst* score over the original and the
   family's perturbed versions, averaged (HELM's worst-case aggregation, section 4.5):
   ``robust = mean_i min(s_i^orig, min_p s_i^p)``. Each perturbation's mean is reported too.
5. **Bias** / 6. **Toxicity** — on the original generations (generation scenarios).
7. **Efficiency** — the model calls' wall time and tokens (``efficiency.Meter``).

All variants of a scenario go to the model in one batched call; identical prompts
(a perturbation that changed nothing) are computed once, and generations go through
the evaluation generation cache, so a re-run only computes what is new.
"""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from genlab.errors import GenlabError
from genlab.holistic import bias, calibration, toxicity
from genlab.holistic.efficiency import Meter
from genlab.holistic.perturbations import Perturbation, get_perturbations, perturb_row, protected_words
from genlab.holistic.scenarios import Scenario, get_scenarios

FAMILIES = ("accuracy", "calibration", "robustness", "fairness", "bias", "toxicity", "efficiency")
HEADLINE = {  # family -> (the number compared across models, higher is better)
    "accuracy": ("value", True), "calibration": ("ece_10_bin", False), "robustness": ("worst_case", True),
    "fairness": ("worst_case", True), "bias": ("mean", False), "toxicity": ("toxic_fraction", False),
    "efficiency": ("seconds_per_request", False),
}
Advance = Callable[[int], None] | None


# -- variants: the original instances and their perturbed copies -------------------------
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


# -- model calls ---------------------------------------------------------------------
def _unique(variants: list[Variant]) -> tuple[list, dict[tuple[str, int], int]]:
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


def run_choices(lm, unique: list, *, batch_size: int, precision: str, meter: Meter, advance: Advance) -> list:
    from genlab.evaluation.score_runner import split_delimiter
    from genlab.evaluation.scoring import score_choices

    delimiter, reqs = split_delimiter(unique)
    with meter.measure():
        scores = score_choices(lm, reqs, batch_size=batch_size, precision=precision, target_delimiter=delimiter,
                               progress=advance)
    tok = lm.tokenizer
    meter.add(requests=len(reqs), prompt_tokens=sum(len(tok(r.prompt, add_special_tokens=False)["input_ids"])
                                                    for r in reqs))
    return scores


def run_generations(lm, task, unique: list, *, batch_size: int, precision: str, use_cache: bool, meter: Meter,
                    advance: Advance) -> list[dict]:
    from genlab.evaluation.cache import GenerationCache, cache_key, model_identity
    from genlab.evaluation.generate_runner import cached_generate, generation_config

    config = generation_config(task)
    prompts = [r.prompt for r in unique]
    cached: set[int] = set()
    if use_cache:  # which prompts the cache already holds: those cost nothing and are not timed
        identity = model_identity(lm)
        keys = [cache_key(identity, p, config.to_dict(), chat=False, precision=precision) for p in prompts]
        found = GenerationCache().get_many(keys)
        cached = {i for i, k in enumerate(keys) if k in found}
    with meter.measure():
        # chat=False: genlab.tasks already wrapped the prompts in the chat template where the task asks
        outs, facts = cached_generate(lm, prompts, config, chat=False, batch_size=batch_size, precision=precision,
                                      use_cache=use_cache, progress=advance)
    fresh = [o for i, o in enumerate(outs) if i not in cached]
    meter.add(requests=len(fresh), prompt_tokens=sum(o["prompt_tokens"] for o in fresh),
              new_tokens=sum(sum(o["new_tokens"]) for o in fresh))
    return outs


# -- per-instance scores --------------------------------------------------------------------
def _main_metric(name: str | None):
    if name is None:
        return None
    from genlab.evaluation.metrics import get_metric

    return get_metric(name)


def score_instances(task, scenario: Scenario, variants: list[Variant], outputs: list, where: dict) -> dict[str, list[dict]]:
    """{variant: [{doc_id, prompt, prediction, reference, score, probs?}]} in instance order."""
    from genlab.evaluation import postprocess

    metric = _main_metric(scenario.main_metric)
    clean = postprocess.build(list(task.postprocess or []), where=f"{task.name}: postprocess")
    out: dict[str, list[dict]] = {}
    for v in variants:
        rows = []
        for i, r in enumerate(v.requests):
            o = outputs[where[(v.name, i)]]
            rows.append(_choice_row(r, o, scenario) if task.output_type == "multiple_choice"
                        else _text_row(r, o, clean, metric))
        out[v.name] = rows
    return out


def _choice_row(r, scores, scenario: Scenario) -> dict:
    pred = scores.prediction(normalize=scenario.main_metric == "acc_norm")
    return {"doc_id": r.doc_id, "prompt": r.prompt, "prediction": r.choices[pred].strip(),
            "reference": r.target, "score": float(pred == r.target_index), "probs": scores.probs,
            "target_index": r.target_index}


def _text_row(r, o: dict, clean, metric) -> dict:
    pred = clean(o["texts"][0])
    score = float(metric.sentence_score(pred, r.target)) if metric is not None else None
    return {"doc_id": r.doc_id, "prompt": r.prompt, "prediction": pred, "reference": r.target, "score": score,
            "new_tokens": o["new_tokens"][0] if o["new_tokens"] else None}


# -- aggregation ----------------------------------------------------------------------------
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
    metric = _main_metric(scenario.main_metric)
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
    out["efficiency"] = meter.summary(generated=not is_mc)
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


# -- one scenario, one model ----------------------------------------------------------------------
def run_scenario(lm, scenario: Scenario, *, n: int, seed: int = 0, perturbations: Sequence[Perturbation] = (),
                 batch_size: int = 16, precision: str = "auto", use_cache: bool = True, scorer=None,
                 advance: Advance = None, on_start: Callable[[int], None] | None = None) -> dict:
    """Families and per-instance rows for ``scenario`` on ``lm``."""
    from genlab.runtime import resolve_precision

    precision = resolve_precision(precision, lm.device)
    t0 = time.perf_counter()
    task = scenario.task()
    variants = build_variants(task, scenario, lm, n=n, seed=seed, perturbations=perturbations)
    unique, where = _unique(variants)
    if on_start:
        on_start(len(unique))
    meter = Meter(device=str(lm.device))
    if task.output_type == "multiple_choice":
        outputs = run_choices(lm, unique, batch_size=batch_size, precision=precision, meter=meter, advance=advance)
    else:
        outputs = run_generations(lm, task, unique, batch_size=batch_size, precision=precision, use_cache=use_cache,
                                  meter=meter, advance=advance)
    instances = score_instances(task, scenario, variants, outputs, where)
    result = families(scenario, task, instances, variants, meter, scorer)
    return {"families": result, "instances": instances, "unique_requests": len(unique),
            "variants": [v.name for v in variants], "seconds": time.perf_counter() - t0}


# -- the suite -------------------------------------------------------------------------------
def model_label(name: str, adapter: str | None) -> str:
    """``name+run`` for ``runs/run/adapter`` (genlab tune's layout), else ``name+folder``."""
    if not adapter:
        return name
    p = Path(adapter)
    return f"{name}+{p.parent.name if p.name == 'adapter' and p.parent.name else p.name}"


def load_model(name: str, adapter: str | None):
    from genlab.models import load

    lm = load(name, dtype="auto")
    if adapter:
        from genlab.tuning import load_adapter

        load_adapter(lm, adapter)
    return lm


def _pairs(models: list[str], adapters: Sequence[str | None] | None) -> list[tuple[str, str | None]]:
    """``-m A -m B --adapter X``: adapters pair with models in order; a lone model takes every adapter."""
    adapters = list(adapters or [])
    if not adapters:
        return [(m, None) for m in models]
    if len(models) == 1:
        return [(models[0], a) for a in adapters]
    if len(adapters) != len(models):
        raise GenlabError(f"{len(models)} models but {len(adapters)} adapters",
                          hint="give one --adapter per -m (use 'none' for a model without one), "
                               "or one -m with several --adapter to compare adapters on one base")
    return list(zip(models, adapters))


def run_suite(models: list[str], adapters: Sequence[str | None] | None = None, suite: str = "holistic",
              n: int = 100, out_dir: str | Path | None = None, *, scenarios: list[str] | None = None,
              perturbations: list[str] | None = None, seed: int = 0, batch_size: int = 16,
              precision: str = "auto", use_cache: bool = True, scorer=None, verbose: bool = True,
              loader: Callable[[str, str | None], Any] | None = None) -> dict:
    """Run every scenario × model; write results.json, instances.jsonl and report.html to ``out_dir``.

    ``adapters[i]`` (a folder, or None / "none") goes on ``models[i]``; one model with several
    adapters compares them on the same base. ``loader(name, adapter)`` replaces model loading (tests).
    """
    pairs = [(m, None if a in (None, "", "none") else a) for m, a in _pairs(models, adapters)]
    chosen = get_scenarios(suite, scenarios)
    perts = get_perturbations(perturbations)
    labels = [model_label(m, a) for m, a in pairs]
    if len(set(labels)) != len(labels):
        raise GenlabError(f"the same model is listed twice: {', '.join(labels)}")
    scorer = scorer or toxicity.default_scorer()
    results: dict[str, dict[str, dict]] = {s.name: {} for s in chosen}
    rows: list[dict] = []
    t0 = time.perf_counter()
    with _Progress(verbose, len(pairs) * len(chosen)) as bar:
        for (name, adapter), label in zip(pairs, labels):
            lm = (loader or load_model)(name, adapter)
            for s in chosen:
                r = run_scenario(lm, s, n=n, seed=seed, perturbations=perts, batch_size=batch_size,
                                 precision=precision, use_cache=use_cache, scorer=scorer, advance=bar.advance,
                                 on_start=lambda total, s=s: bar.start(f"{label} · {s.name}", total))
                results[s.name][label] = {**r["families"], "unique_requests": r["unique_requests"],
                                          "seconds": r["seconds"], "variants": r["variants"]}
                rows += [{"model": label, "scenario": s.name, "variant": v, **row}
                         for v, vrows in r["instances"].items() for row in vrows]
                bar.done_one()
            del lm
    heads = {s: {m: headline(res) for m, res in by_model.items()} for s, by_model in results.items()}
    summary = {"models": labels, "pairs": [{"model": m, "adapter": a} for m, a in pairs],
               "scenarios": [s.name for s in chosen], "suite": suite, "n": n, "seed": seed,
               "perturbations": [p.name for p in perts], "toxicity_scorer": scorer.name,
               "results": results, "headline": heads, "win_rates": win_rates(heads, labels),
               "seconds": time.perf_counter() - t0}
    if out_dir is not None:
        save(summary, rows, out_dir)
    if verbose:
        from genlab.holistic.report import print_leaderboard

        print_leaderboard(summary)
    return summary


def save(summary: dict, rows: list[dict], out_dir: str | Path) -> Path:
    from genlab.evaluation import environment
    from genlab.holistic.report import write_report
    from genlab.io import atomic_write_json, atomic_write_jsonl

    out = Path(out_dir)
    atomic_write_jsonl(out / "instances.jsonl", rows)
    atomic_write_json(out / "results.json", {**summary, "environment": environment.versions()})
    write_report(summary, out / "report.html", rows)
    summary["out_dir"] = str(out)
    return out


class _Progress:
    """A bar for the current (model, scenario) and an overall count; silent when not verbose."""

    def __init__(self, show: bool, total: int):
        self.show, self.total, self.bar = show, total, None

    def __enter__(self):
        if self.show:
            from genlab.ui import progress

            self.bar = progress(transient=False).__enter__()
            self.overall = self.bar.add_task("suite", total=self.total, info="scenario × model")
            self.current = None
        return self

    def start(self, description: str, total: int) -> None:
        if self.bar is not None:
            if self.current is not None:
                self.bar.remove_task(self.current)
            self.current = self.bar.add_task(description, total=total, info="prompts")

    def advance(self, k: int = 1) -> None:
        if self.bar is not None and self.current is not None:
            self.bar.advance(self.current, k)

    def done_one(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.overall, 1)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


__all__ = ["FAMILIES", "HEADLINE", "build_variants", "headline", "run_scenario", "run_suite", "win_rates",
           "worst_case"]
