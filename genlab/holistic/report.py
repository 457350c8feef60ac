"""The suite's terminal leaderboard and its HTML report (built on ``genlab.report.html``).

The report's heat map is one row per scenario × model and one column per family; each
cell is coloured by how good the number is, red (worst) to green (best): bounded numbers
on their own scale (accuracy, robustness, fairness as is; ECE, bias TV distance and toxic
fraction as ``1 - x``), time per request relative to the fastest model on that scenario.
"""

from __future__ import annotations

from pathlib import Path

from genlab.holistic.aggregate import FAMILIES, HEADLINE
from genlab.holistic.summary import HolisticSummary

LABELS = {"accuracy": "accuracy", "calibration": "ECE10↓", "robustness": "robust", "fairness": "fair",
          "bias": "bias↓", "toxicity": "toxic↓", "efficiency": "s/req↓"}


def accuracy_metric(summary: HolisticSummary, scenario: str) -> str | None:
    """The metric the accuracy family holds for ``scenario`` (acc, rouge2, exact_match, ...)."""
    for res in summary.results.get(scenario, {}).values():
        metric = (res.get("accuracy") or {}).get("metric")
        if metric:
            return metric
    return None


def scenario_label(summary: HolisticSummary, scenario: str) -> str:
    """``support-summary (accuracy = rouge2)``: the accuracy column holds each scenario's own main metric."""
    metric = accuracy_metric(summary, scenario)
    return f"{scenario} (accuracy = {metric})" if metric else scenario


# -- colours ------------------------------------------------------------------------------
def goodness(family: str, value: float | None, column: list[float]) -> float | None:
    """0 (bad) .. 1 (good) for colouring; ``column`` = the family's values on this scenario."""
    if value is None:
        return None
    if family == "efficiency":
        return min(column) / value if value > 0 else 1.0
    v = min(max(float(value), 0.0), 1.0)
    return v if HEADLINE[family][1] else 1.0 - v


def _cell(value, g: float | None) -> str:
    if g is None:
        return '<td class="num muted">—</td>'
    hue = int(round(120 * g))  # 0 red .. 120 green
    return f'<td class="num" style="background:hsl({hue},65%,82%)">{value:.3f}</td>'


def heatmap_html(summary: HolisticSummary) -> str:
    from genlab.report.html import esc

    head = "".join(f"<th>{esc(LABELS[f])}</th>" for f in FAMILIES)
    body = []
    for scenario, by_model in summary.headline.items():
        for j, (model, heads) in enumerate(by_model.items()):
            cells = []
            for f in FAMILIES:
                column = [h[f] for h in by_model.values() if h[f] is not None]
                cells.append(_cell(heads[f], goodness(f, heads[f], column)))
            first = f'<td rowspan="{len(by_model)}"><b>{esc(scenario_label(summary, scenario))}</b></td>' if j == 0 else ""
            body.append(f"<tr>{first}<td>{esc(model)}</td>{''.join(cells)}</tr>")
    return (f'<table><thead><tr><th>scenario</th><th>model</th>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


# -- charts ---------------------------------------------------------------------------------
def _bar_chart(groups: list[str], series: dict[str, list[float | None]], title: str, ylabel: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for k, (name, values) in enumerate(series.items()):
        ax.bar(x + k * width, [np.nan if v is None else v for v in values], width, label=name)
    ax.set_xticks(x + width * (len(series) - 1) / 2, groups, rotation=20, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    plt.close(fig)
    return fig


def charts(summary: HolisticSummary) -> list[str]:
    from genlab.report.html import img_tag

    figs = []
    models, heads = summary.models, summary.headline
    if len(models) > 1:
        wins = summary.win_rates
        fig = _bar_chart(list(FAMILIES), {m: [wins[m][f] for f in FAMILIES] for m in models},
                         "mean win rate per family", "win rate")
        figs.append(img_tag(fig, "mean win rate per family", "share of other models beaten, averaged over scenarios"))
    scored = [s for s, by in heads.items() if any(h["accuracy"] is not None for h in by.values())]
    for model in models:
        series = {f: [heads[s][model][f] for s in scored] for f in ("accuracy", "robustness", "fairness")}
        fig = _bar_chart(scored, series, f"{model}: unperturbed vs worst case", "main metric")
        figs.append(img_tag(fig, f"{model} robustness", "accuracy, then worst case over perturbed inputs"))
    return figs


# -- detail tables ---------------------------------------------------------------------------
def _detail_rows(family: str, by_model: dict) -> tuple[list[str], list[list]]:
    keys: list[str] = []
    for res in by_model.values():
        for k, v in res.get(family, {}).items():
            if k not in keys and (isinstance(v, (int, float)) or v is None):
                keys.append(k)
        keys += [k for k in res.get(family, {}).get("per_perturbation", {}) if k not in keys]
    keys = keys or ["note"]
    rows = []
    for model, res in by_model.items():
        fam = res.get(family, {})
        if "skipped" in fam:
            rows.append([model, f"skipped: {fam['skipped']}"] + [""] * (len(keys) - 1))
            continue
        merged = {**fam, **fam.get("per_perturbation", {})}
        rows.append([model] + [merged.get(k) for k in keys])
    return ["model"] + keys, rows


def _excerpt(original: str, changed: str, width: int = 90) -> str:
    """The part of ``changed`` around its first difference from ``original``."""
    i = next((k for k, (a, b) in enumerate(zip(original, changed)) if a != b), min(len(original), len(changed)))
    start = max(0, i - width // 3)
    return ("…" if start else "") + changed[start:start + width].replace("\n", " ⏎ ") + "…"


def example_rows(rows: list[dict], scenario: str, model: str, doc: int = 0) -> list[list]:
    """Instance ``doc`` of one scenario × model under every variant: input change, prediction, score."""
    mine = [r for r in rows if r["scenario"] == scenario and r["model"] == model and r["doc_id"] == doc]
    original = next((r for r in mine if r["variant"] == "original"), None)
    if original is None:
        return []
    out = []
    for r in mine:
        same = r["prompt"] == original["prompt"]
        if r is original:
            shown = "…" + r["prompt"][-90:].replace("\n", " ⏎ ")
        else:
            shown = "(unchanged)" if same else _excerpt(original["prompt"], r["prompt"])
        out.append([r["variant"], shown, str(r["prediction"])[:160], r["score"]])
    return out


def write_report(summary: HolisticSummary, path: str | Path, rows: list[dict] | None = None) -> Path:
    from genlab.report.html import Page

    page = Page("Holistic benchmark", f"{', '.join(summary.models)} · {summary.n} instances per scenario · "
                f"perturbations: {', '.join(summary.perturbations)} · toxicity: {summary.toxicity_scorer}")
    page.h2("Heat map").p("One row per scenario × model; green is better. Robustness and fairness are the main "
                          "metric's per-instance worst case over the original and perturbed inputs (HELM).")
    page.raw(heatmap_html(summary))
    page.h2("Charts").charts(charts(summary))
    for scenario, by_model in summary.results.items():
        page.h2(scenario, anchor=f"scenario-{scenario}")
        for family in FAMILIES:
            columns, table_rows = _detail_rows(family, by_model)
            page.h3(family).table(columns, table_rows)
        examples = example_rows(rows or [], scenario, summary.models[0])
        if len(examples) > 1:
            page.h3(f"one instance under each perturbation ({summary.models[0]})")
            page.table(["variant", "input (around the first change)", "prediction", "score"], examples)
    return page.write(path)


__all__ = ["goodness", "heatmap_html", "scenario_label", "write_report"]
