"""Scaling-law pictures: loss vs tokens per size, iso-FLOP curves with the optimum, fitted vs observed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genlab.io import atomic_save_figure


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    _plt()
    fig.tight_layout()
    return atomic_save_figure(fig, path)


def loss_vs_tokens(rows: list[dict], fit, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    sizes = sorted({r["size"]: r["N"] for r in rows}.items(), key=lambda item: item[1])  # smallest model first
    for k, (size, _) in enumerate(sizes):
        pts = sorted((r["D"], r["loss"], r["N"]) for r in rows if r["size"] == size)
        color = f"C{k}"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o", color=color, label=_label(size, pts[0][2]))
        if fit.law is not None:
            d = np.geomspace(min(p[0] for p in pts) / 2, max(p[0] for p in pts) * 4, 50)
            ax.plot(d, fit.law.loss(pts[0][2], d), "-", color=color, lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("training tokens D")
    ax.set_ylabel("held-out loss")
    ax.set_title("loss vs tokens per model size" + (" (lines: fitted law)" if fit.law else " (fit did not converge)"))
    ax.legend(fontsize=8)
    return _save(fig, path)


def _label(size: str, n: int) -> str:
    """``96x4 (N=639,840)``; a table's run, named by its N alone, once."""
    return size if size == f"N={n:,}" else f"{size} (N={n:,})"


def isoflop(rows: list[dict], fit, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    Cs = [r["C"] for r in rows]
    ax.scatter([r["N"] for r in rows], [r["loss"] for r in rows], c=np.log10(Cs), cmap="viridis", s=30,
               label="runs (colour: log10 FLOPs)")
    if fit.law is not None:
        for k, C in enumerate(np.geomspace(min(Cs), max(Cs) * 10, 4)):
            n = np.geomspace(min(r["N"] for r in rows) / 4, max(r["N"] for r in rows) * 8, 100)
            ax.plot(n, fit.law.loss(n, C / (6 * n)), "-", color=f"C{k}", lw=1, label=f"C = {C:.2g}")
            n_opt, d_opt = fit.law.optimal(C)
            ax.plot([n_opt], [fit.law.loss(n_opt, d_opt)], "*", color=f"C{k}", ms=12)
    ax.set_xscale("log")
    ax.set_yscale("log")  # far from the optimum the curves climb steeply; keep the runs and the minima readable
    losses = [r["loss"] for r in rows]
    ax.set_ylim(min(losses) / 4 if fit.law is not None else min(losses) * 0.8, max(losses) * 2)
    ax.set_xlabel("parameters N")
    ax.set_ylabel("held-out loss")
    ax.set_title("iso-FLOP curves (★ compute-optimal N)" if fit.law else "runs (fit did not converge)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def fitted_vs_observed(fit, holdout: dict | None, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5))
    obs = [p["loss"] for p in fit.points]
    pred = [p["predicted"] for p in fit.points]
    ax.plot(obs, pred, "o", label="fitted runs")
    if holdout and holdout.get("predicted") is not None:
        ax.plot([holdout["observed"]], [holdout["predicted"]], "r*", ms=14,
                label=f"held-out run ({100 * holdout['error']:+.1f}%)")
    lo, hi = min(obs + pred) * 0.97, max(obs + pred) * 1.03
    x = np.linspace(lo, hi, 10)
    ax.plot(x, x, "k-", lw=0.8)
    ax.fill_between(x, x * 0.95, x * 1.05, color="grey", alpha=0.15, label="±5%")
    ax.set_xlabel("observed held-out loss")
    ax.set_ylabel("law's prediction")
    ax.set_title("fitted vs observed" + ("" if fit.converged else " (NOT converged)"))
    ax.legend(fontsize=8)
    return _save(fig, path)


def draw_all(rows: list[dict], fit, holdout: dict | None, out: Path) -> list[Path]:
    return [loss_vs_tokens(rows, fit, out / "loss_vs_tokens.png"), isoflop(rows, fit, out / "isoflop.png"),
            fitted_vs_observed(fit, holdout, out / "fitted_vs_observed.png")]
