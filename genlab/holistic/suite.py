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
7. **Efficiency** — the model step's time, tokens and peak memory (``efficiency``, ``genlab.meter.Meter``).

All variants of a scenario go through ``genlab.evaluation.evaluate`` in one call (the
path ``genlab eval`` takes: batching, precision, output types, generation cache);
identical prompts (a perturbation that changed nothing) are sent once, and a re-run
only computes generations the cache does not hold.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

from genlab.errors import GenlabError
from genlab.evaluation.config import EvalConfig
from genlab.holistic import toxicity
from genlab.holistic.aggregate import FAMILIES, HEADLINE, families, headline, win_rates, worst_case
from genlab.holistic.perturbations import Perturbation, get_perturbations
from genlab.holistic.scenarios import Scenario, get_scenarios
from genlab.holistic.summary import HolisticSummary
from genlab.holistic.variants import build_variants, score_instances, unique_requests
from genlab.meter import Meter
from genlab.progress import Reporter, or_quiet
from genlab.provenance import Provenance


# -- the model step: evaluate() on the scenario's own requests ------------------------------
class PreparedTask:
    """``task`` with its requests already rendered (every variant, deduplicated): what ``evaluate`` scores.

    ``evaluate(model, task, cfg)`` asks the task for its requests; the scenario has built them
    itself (original and perturbed instances), so this hands those back and the rest of the
    task (output type, metrics, generation settings, postprocessing) unchanged.
    """

    def __init__(self, task, requests: list):
        self._task, self._requests = task, requests

    def __getattr__(self, name: str):
        return getattr(self._task, name)

    def requests(self, *args, **kwargs) -> list:
        return list(self._requests)


def count_work(meter: Meter, lm, result) -> None:
    """Model time and the work actually computed (cache hits excluded) into ``meter``, for efficiency."""
    meter.seconds = result.timings["model_s"]
    fresh = [s for s in result.samples if not s.get("cached", False)]
    if result.output_type == "generate":
        meter.add(requests=len(fresh), prompt_tokens=sum(s["prompt_tokens"] for s in fresh),
                  new_tokens=result.timings.get("new_tokens") or 0)
    else:
        tok = lm.tokenizer
        meter.add(requests=len(fresh),
                  prompt_tokens=sum(len(tok(s["prompt"], add_special_tokens=False)["input_ids"]) for s in fresh))


# -- one scenario, one model ----------------------------------------------------------------------
def run_scenario(lm, scenario: Scenario, *, n: int, cfg: EvalConfig | None = None,
                 perturbations: Sequence[Perturbation] = (), scorer=None, reporter: Reporter | None = None) -> dict:
    """Families and per-instance rows for ``scenario`` on ``lm``; ``cfg`` gives seed, batch, precision, cache.

    Every variant's requests go through ``genlab.evaluation.evaluate`` in one call (the one
    evaluation path: same batching, precision, cache and output types as ``genlab eval``).
    """
    from genlab.evaluation import evaluate

    cfg = (cfg or EvalConfig()).replace(shots=0, n=None, split=scenario.split)
    t0 = time.perf_counter()
    task = scenario.task()
    variants = build_variants(task, scenario, lm, n=n, seed=cfg.seed, perturbations=perturbations)
    unique, where = unique_requests(variants)
    meter = Meter()
    with meter:
        result = evaluate(lm, PreparedTask(task, unique), cfg, reporter=reporter)
    count_work(meter, lm, result)
    instances = score_instances(task, scenario, variants, result.samples, where)
    families_ = families(scenario, task, instances, variants, meter, scorer)
    return {"families": families_, "instances": instances, "unique_requests": len(unique),
            "variants": [v.name for v in variants], "seconds": time.perf_counter() - t0}


# -- the suite -------------------------------------------------------------------------------
def model_label(name: str, adapter: str | None) -> str:
    """``name+run`` for ``runs/run/adapter`` (genlab tune's layout), else ``name+folder``."""
    from genlab.adapters import short_name

    return f"{name}+{short_name(adapter)}" if adapter else name


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
              perturbations: list[str] | None = None, cfg: EvalConfig | None = None, scorer=None,
              reporter: Reporter | None = None, loader: Callable[[str, str | None], Any] | None = None,
              trust_remote_code: bool = False) -> HolisticSummary:
    """Run every scenario × model; write results.json, instances.jsonl and report.html to ``out_dir``.

    ``adapters[i]`` (a folder, or None / "none") goes on ``models[i]``; one model with several
    adapters compares them on the same base. ``cfg`` (seed, batch size, precision, cache) is the
    same ``EvalConfig`` ``genlab eval`` reads; models load through ``genlab.models.load`` at its
    precision. ``loader(name, adapter)`` replaces model loading (tests).
    """
    from genlab.models import load

    cfg = cfg or EvalConfig()
    reporter = or_quiet(reporter)
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
    done, total = 0, len(pairs) * len(chosen)
    for (name, adapter), label in zip(pairs, labels):
        lm = loader(name, adapter) if loader else load(name, precision=cfg.precision, adapter=adapter,
                                                       trust_remote_code=trust_remote_code)
        for s in chosen:
            reporter.status(f"[{done + 1}/{total}] {label} · {s.name}")
            r = run_scenario(lm, s, n=n, cfg=cfg, perturbations=perts, scorer=scorer, reporter=reporter)
            results[s.name][label] = {**r["families"], "unique_requests": r["unique_requests"],
                                      "seconds": r["seconds"], "variants": r["variants"]}
            rows += [{"model": label, "scenario": s.name, "variant": v, **row}
                     for v, vrows in r["instances"].items() for row in vrows]
            done += 1
        del lm
    heads = {s: {m: headline(res) for m, res in by_model.items()} for s, by_model in results.items()}
    summary = HolisticSummary(models=labels, pairs=[{"model": m, "adapter": a} for m, a in pairs],
                              scenarios=[s.name for s in chosen], suite=suite, n=n, seed=cfg.seed, eval=cfg.to_dict(),
                              perturbations=[p.name for p in perts], toxicity_scorer=scorer.name, results=results,
                              headline=heads, win_rates=win_rates(heads, labels), seconds=time.perf_counter() - t0,
                              environment=Provenance.capture().to_json())
    if out_dir is not None:
        save(summary, rows, out_dir)
    return summary


def save(summary: HolisticSummary, rows: list[dict], out_dir: str | Path) -> Path:
    from genlab.holistic.report import write_report
    from genlab.io import atomic_write_json, atomic_write_jsonl

    out = Path(out_dir)
    atomic_write_jsonl(out / "instances.jsonl", rows)
    atomic_write_json(out / "results.json", summary.to_json())
    write_report(summary, out / "report.html", rows)
    summary.out_dir = str(out)
    return out


__all__ = ["FAMILIES", "HEADLINE", "build_variants", "headline", "run_scenario", "run_suite", "win_rates",
           "worst_case"]
