"""Terminal rendering of library results: the library returns records, the CLI draws them here."""

from __future__ import annotations

from rich.markup import escape
from rich.panel import Panel

from genlab.ui import console, fmt, table


# -- genlab eval -------------------------------------------------------------------
def eval_table(result, title: str | None = None):
    rows = [(name, m["value"], m["ci_low"], m["ci_high"]) for name, m in result.metrics.items()]
    from genlab.evaluation.environment import model_title
    from genlab.evaluation.task_eval import decoding_label, shots_label

    cfg = result.config
    decoding = decoding_label(cfg)
    title = title or (f"{result.task} · {model_title(result.model)} · {shots_label(cfg)} · "
                      f"n={len(result.samples)} · {cfg.get('precision')}" + (f" · {decoding}" if decoding else ""))
    return table(title, ["metric", "value", "95% CI low", "95% CI high"], rows)


def print_eval_result(result, title: str | None = None) -> None:
    console.print(eval_table(result, title))
    for name, m in result.metrics.items():
        if "signature" in m and name == "bleu":
            console.print(f"BLEU = {m['value']:.2f}  {m['signature']}", highlight=False)
    t = result.timings
    parts = []
    if t.get("tokens_per_s"):
        parts.append(f"{t['tokens_per_s']:.1f} new tokens/s")
    if t.get("examples_per_s"):
        parts.append(f"{t['examples_per_s']:.2f} examples/s")
    if t.get("cached"):
        parts.append(f"{t['cached']} generations from cache")
    where = f" · saved to {result.out_dir}" if result.out_dir else ""
    console.print(f"{len(result.samples)} examples in {t['total_s']:.1f}s"
                  + (f" ({', '.join(parts)})" if parts else "") + where, highlight=False)


# -- genlab prompt -----------------------------------------------------------------
def print_split_table(results: dict) -> None:
    """One row per metric, one column per split (``genlab eval --split test-unseen,test``)."""
    splits = list(results)
    first = results[splits[0]]
    names = [m for m in first.metrics if all(m in r.metrics for r in results.values())]
    cell = lambda m: f"{m['value']:.4f} [{m['ci_low']:.4f}, {m['ci_high']:.4f}]"  # noqa: E731
    sizes = ", ".join(f"{sp} n={len(r.samples)}" for sp, r in results.items())
    console.print(table(f"{first.task} · splits side by side ({sizes}) · 95% CIs", ["metric", *splits],
                        [[m, *(cell(r.metrics[m]) for r in results.values())] for m in names]))


def print_shot_table(task, results: dict) -> None:
    names = list(next(iter(results.values())).metrics)
    rows = []
    for k, r in results.items():
        shots_used = [s.get("shots_used", k) for s in r.samples]
        mean_used = sum(shots_used) / max(len(shots_used), 1)
        cells = [f"{fmt(r.metrics[m]['value'])} [{fmt(r.metrics[m]['ci_low'])}, {fmt(r.metrics[m]['ci_high'])}]"
                 for m in names]
        prompt_tokens = [s.get("prompt_tokens") for s in r.samples if s.get("prompt_tokens")]
        mean_tokens = sum(prompt_tokens) / len(prompt_tokens) if prompt_tokens else None
        rows.append([k, f"{mean_used:.2g}", *cells, fmt(mean_tokens), f"{r.timings['total_s']:.1f}s"])
    n = len(next(iter(results.values())).samples)
    console.print(table(f"{task.name} · {n} examples · 95% bootstrap CIs", ["shots", "shots used", *names,
                                                                           "prompt tokens", "time"], rows))


# -- genlab compare ----------------------------------------------------------------
def print_comparison(cmp, *, prompt_chars: int = 300) -> None:
    for w in cmp.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    base = cmp.labels[0]
    columns = ["metric", *cmp.labels] + [h for lab in cmp.labels[1:] for h in (f"Δ {lab}", "p")]
    rows = []
    for r in cmp.rows:
        cells = [f"{fmt(v)} [{fmt(lo)}, {fmt(hi)}]" for v, (lo, hi) in zip(r["values"], r["cis"])]
        for d, p in zip(r["deltas"], r["p_values"]):
            better = (d > 0) == r["higher_is_better"]
            colour = "green" if better and p < 0.05 and d != 0 else ("red" if p < 0.05 and d != 0 else "")
            cells += [f"[{colour}]{d:+.4g}[/]" if colour else f"{d:+.4g}", fmt(p)]
        rows.append([r["metric"], *cells])
    console.print(table(f"{cmp.shared} shared examples · paired bootstrap vs {base}", columns, rows))
    for ex in cmp.examples:
        body = [f"[bold]prompt[/] …{escape(ex['prompt'][-prompt_chars:])}",
                f"[bold]reference[/] {escape(str(ex['reference']))}"]
        for lab, out in ex["outputs"].items():
            body.append(f"[bold]{escape(lab)}[/] ({ex['metric']} {fmt(out['score'])}): {escape(str(out['prediction']))}")
        console.print(Panel("\n".join(body), title=f"doc {ex['doc_id']} · {ex['metric']} spread {ex['spread']:.3g}",
                            expand=True), highlight=False)


# -- genlab bench --------------------------------------------------------------------
def print_holistic_leaderboard(summary) -> None:  # a genlab.holistic.HolisticSummary
    from genlab.holistic.aggregate import FAMILIES
    from genlab.holistic.report import LABELS, scenario_label

    def cell(v) -> str:
        return "—" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    rows = []
    for scenario, by_model in summary.headline.items():
        for model, heads in by_model.items():
            rows.append([scenario_label(summary, scenario), model] + [cell(heads[f]) for f in FAMILIES])
    console.print(table(f"holistic leaderboard · n={summary.n} per scenario", ["scenario", "model"]
                        + [LABELS[f] for f in FAMILIES], rows))
    wins = summary.win_rates
    if len(summary.models) > 1:
        console.print(table("mean win rate across scenarios (share of other models beaten)", ["model"]
                            + list(FAMILIES), [[m] + [cell(wins[m][f]) for f in FAMILIES] for m in wins]))
    console.print(f"{len(summary.scenarios)} scenarios × {len(summary.models)} model(s) in "
                  f"{summary.seconds:.0f}s" + (f" · saved to {summary.out_dir}" if summary.out_dir else ""),
                  highlight=False)
