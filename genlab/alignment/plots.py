"""Pictures of alignment runs: reward-score distributions and DPO's curves (PNG, matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from genlab.io import atomic_save_figure


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    return atomic_save_figure(fig, path)


def plot_scores(chosen: Sequence[float], rejected: Sequence[float], path: Path, title: str = "reward scores") -> Path:
    """Histograms of the reward of chosen and of rejected completions, and of the per-pair margin."""
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    lo, hi = min(min(chosen), min(rejected)), max(max(chosen), max(rejected))
    bins = [lo + (hi - lo) * i / 30 for i in range(31)] if hi > lo else 10
    a.hist(rejected, bins=bins, alpha=0.6, label=f"rejected (mean {sum(rejected) / len(rejected):.2f})")
    a.hist(chosen, bins=bins, alpha=0.6, label=f"chosen (mean {sum(chosen) / len(chosen):.2f})")
    a.set_xlabel("reward")
    a.set_ylabel("completions")
    a.set_title(title)
    a.legend()
    margins = [c - r for c, r in zip(chosen, rejected)]
    acc = sum(m > 0 for m in margins) / len(margins)
    b.hist(margins, bins=30, color="gray")
    b.axvline(0, color="red", lw=1)
    b.set_xlabel("r(chosen) − r(rejected)")
    b.set_title(f"per-pair margin: {acc:.1%} of pairs ranked right")
    fig.tight_layout()
    return _save(fig, path)


def plot_dpo_curves(history: list[dict], path: Path, kto: bool = False) -> Path:
    """Loss; chosen and rejected log-probs (policy − reference) side by side; reward margin and accuracy.

    Both log-probs usually fall during DPO: what matters is that rejected falls faster
    (the margin grows). A falling chosen log-prob alone is not degeneration. With ``kto`` the rows are
    desirable and undesirable replies, and the KL estimate z0 they are measured against is drawn too.
    """
    good, bad = ("desirable", "undesirable") if kto else ("chosen", "rejected")
    plt = _pyplot()
    rows = [r for r in history if "loss" in r]
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    axes[0].plot(steps, [r["loss"] for r in rows], lw=1, label="train loss")
    val = [(r["step"], r["val_loss"]) for r in history if "val_loss" in r]
    if val:
        axes[0].plot(*zip(*val), "o-", label="val loss")
    axes[0].set_title("KTO loss" if kto else "DPO loss")
    for key, label in (("logps_chosen", good), ("logps_rejected", bad)):
        pts = [(r["step"], r[key]) for r in rows if key in r]
        if pts:
            axes[1].plot(*zip(*pts), lw=1, label=f"log π(y_{label}|x) − log π_ref")
    z0 = [(r["step"], r["kl"]) for r in rows if "kl" in r] if kto else []
    if z0:
        axes[1].plot(*zip(*z0), "--", lw=1, color="gray", label="z0 (KL estimate)")
    axes[1].axhline(0, color="gray", lw=0.5)
    axes[1].set_title("log-prob change vs reference (both may fall)")
    for key, label in (("reward_margin", f"β·(r̄_{good} − r̄_{bad})" if kto else "reward margin β·Δ"),
                       ("reward_accuracy", "share on their side of z0" if kto else "reward accuracy")):
        pts = [(r["step"], r[key]) for r in rows if key in r]
        if pts:
            axes[2].plot(*zip(*pts), lw=1, label=label)
    axes[2].set_title("implicit reward")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend()
    fig.tight_layout()
    return _save(fig, path)
