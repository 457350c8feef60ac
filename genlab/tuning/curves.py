"""``train_curves.png``: train and validation loss by step, and the validation metric."""

from __future__ import annotations

from pathlib import Path

from genlab.io import atomic_save_figure


def plot_curves(history: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in history if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in history if "val_loss" in r]
    metric_keys = sorted({k for r in history for k in r if k.startswith("val_") and k != "val_loss"})
    fig, axes = plt.subplots(1, 2 if metric_keys else 1, figsize=(10 if metric_keys else 6, 4), squeeze=False)
    ax = axes[0][0]
    if train:
        ax.plot(*zip(*train), label="train loss", lw=1)
    if val:
        ax.plot(*zip(*val), "o-", label="val loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    for k in metric_keys:
        pts = [(r["step"], r[k]) for r in history if isinstance(r.get(k), (int, float))]
        if pts:
            axes[0][1].plot(*zip(*pts), "o-", label=k)
    if metric_keys:
        axes[0][1].set_xlabel("step")
        axes[0][1].legend()
    fig.tight_layout()
    return atomic_save_figure(fig, path)
