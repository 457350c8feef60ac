"""Matplotlib charts for run reports. Each function returns a figure (Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PALETTE = ["#4a78b5", "#d1603d", "#3a9e6f", "#8a63b8", "#c99a2e", "#5aa6c9", "#b5487a", "#6f7d8c"]


def metric_by_stage(stages: list, metric: str, split: str = "test", other_splits: dict | None = None):
    """Bars with 95% bootstrap intervals, one per stage; with ``other_splits`` ({split: [metric dict per
    stage]}) a group of bars per stage, the main split first (solid), the others hatched beside it."""
    series = {split: [s.metrics[metric] for s in stages], **(other_splits or {})}
    names = [s.name for s in stages]
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(5, (1.1 + 0.5 * (len(series) - 1)) * len(names) + 2), 3.8))
    colors = [PALETTE[0] if s.kind == "prompt" else PALETTE[1] for s in stages]
    top = 0.0
    for j, (sp, ms) in enumerate(series.items()):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(names))]
        vals = [m["value"] for m in ms]
        lo = [v - m["ci_low"] for v, m in zip(vals, ms)]
        hi = [m["ci_high"] - v for v, m in zip(vals, ms)]
        ax.bar(xs, vals, width=width * 0.95, yerr=[lo, hi], capsize=4, color=colors, label=sp,
               hatch=None if j == 0 else "//", alpha=1.0 if j == 0 else 0.55, edgecolor="white")
        for x, v, h in zip(xs, vals, hi):
            ax.text(x, v + h + 0.005, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
        top = max(top, max(v + h for v, h in zip(vals, hi)))
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel(metric)
    where = split if len(series) == 1 else " vs ".join(series)
    ax.set_title(f"{metric} on {where} by stage (95% bootstrap CI); blue = prompting, orange = tuned", fontsize=10)
    if len(series) > 1:
        ax.legend(title="split (hatched: not ranked)", fontsize=8)
    ax.set_ylim(0, top * 1.18 or 1)
    ax.tick_params(axis="x", rotation=20)
    return fig


def score_vs_params(stages: list, metric: str):
    """Score against trainable parameters (symmetric-log x, so prompting's 0 shows)."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for i, s in enumerate(stages):
        m = s.metrics[metric]
        x = s.record.trainable_params or 0
        ax.errorbar([x], [m["value"]], yerr=[[m["value"] - m["ci_low"]], [m["ci_high"] - m["value"]]],
                    fmt="o", color=PALETTE[i % len(PALETTE)], capsize=4, label=s.name)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("trainable parameters (0 = prompting only; log scale)")
    ax.set_ylabel(metric)
    ax.set_title("what each stage cost vs what it scored")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    return fig


def training_curves(curves: dict[str, list[dict]]):
    """Train loss, validation loss and validation metric per tuned stage, over optimizer steps."""
    metric_keys = sorted({k for rows in curves.values() for r in rows for k in r
                          if k.startswith("val_") and k != "val_loss"})
    n_panels = 2 + (1 if metric_keys else 0)
    fig, axes = plt.subplots(1, n_panels, figsize=(5 * n_panels, 3.6))
    for i, (name, rows) in enumerate(curves.items()):
        c = PALETTE[(i + 1) % len(PALETTE)]
        train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
        val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
        if train:
            axes[0].plot(*zip(*train), color=c, alpha=0.35, lw=1)
            axes[0].plot(*zip(*_smooth(train)), color=c, lw=2, label=name)
        if val:
            axes[1].plot(*zip(*val), "o-", color=c, label=name)
        if metric_keys:
            pts = [(r["step"], r[metric_keys[0]]) for r in rows if metric_keys[0] in r]
            if pts:
                axes[2].plot(*zip(*pts), "s-", color=c, label=name)
    axes[0].set_title("training loss (smoothed)")
    axes[1].set_title("validation loss")
    if metric_keys:
        axes[2].set_title(f"validation {metric_keys[0][4:]}")
    for ax in axes:
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _smooth(points: list[tuple[float, float]], alpha: float = 0.8):
    out, ema = [], None
    for x, y in points:
        ema = y if ema is None else alpha * ema + (1 - alpha) * y
        out.append((x, ema))
    return out


def forgetting_deltas(rows: list[dict]):
    """Per tuned stage and held-out task: after − before on each task's first metric, with intervals."""
    labels = [f"{r['stage']}\n{r['task']}·{r['metric']}" for r in rows]
    deltas = [r["delta"] for r in rows]
    err = [[r["delta"] - r.get("delta_low", r["delta"]) for r in rows], [r.get("delta_high", r["delta"]) - r["delta"] for r in rows]]
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(rows) + 2), 3.6))
    ax.bar(range(len(rows)), deltas, yerr=err, capsize=5, color=[PALETTE[2] if d >= 0 else PALETTE[1] for d in deltas])
    ax.axhline(0, color="#333", lw=0.8)
    ax.set_xticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylabel("after − before")
    ax.set_title("forgetting: change on held-out tasks after tuning (below 0 = forgot)")
    return fig


def tradeoff_scatter(points: list[dict], metric: str):
    """Deployment trade-offs: task metric vs decode speed at batch 1, point area ∝ size on disk; each
    optimized model joined to the model it came from by an arrow."""
    fig, ax = plt.subplots(figsize=(7, 4.6))
    biggest = max(p["size_mb"] for p in points) or 1.0
    where = {p["name"]: (p["decode_tok_s_b1"], p["metric"]) for p in points}
    for i, p in enumerate(points):
        x, y = where[p["name"]]
        ax.scatter([x], [y], s=60 + 1400 * p["size_mb"] / biggest, alpha=0.45,
                   color=PALETTE[0] if p.get("source_of") else PALETTE[1 + i % (len(PALETTE) - 1)])
        ax.annotate(f"{p['name']}\n{p['size_mb']:.0f} MB", (x, y), fontsize=8, ha="center", va="center")
        if p.get("source") in where:
            sx, sy = where[p["source"]]
            ax.annotate("", xy=(x, y), xytext=(sx, sy), arrowprops=dict(arrowstyle="->", color="#999", lw=0.8))
    ax.set_xlabel("decode tokens/s, batch 1")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.set_title(f"{metric} vs decode speed; area = size on disk; arrows: from the source model", fontsize=10)
    fig.tight_layout()
    return fig
