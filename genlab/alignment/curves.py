"""PPO curves as PNG: reward, KL, β, entropy, distinct-2, response length, losses by step.

``plot_ppo_curves(history, path)`` draws one run; ``plot_ppo_compare({label: history}, path)`` draws
several runs on the same axes (the β = 0 vs β > 0 reward-hacking picture).
"""

from __future__ import annotations

from pathlib import Path

from genlab.io import atomic_save_figure

PANELS = (("reward", "reward (score)"), ("kl", "KL to reference (nats / response)"), ("kl_coef", "β"),
          ("entropy", "entropy (nats / token)"), ("distinct_2", "distinct-2"), ("response_len", "response tokens"),
          ("value_loss", "value loss"), ("policy_loss", "policy loss"))


def plot_ppo_curves(history: list[dict], path: Path) -> Path:
    return plot_ppo_compare({"": history}, path)


def plot_ppo_compare(runs: dict[str, list[dict]], path: Path, panels=PANELS) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [(k, title) for k, title in panels if any(k in r for h in runs.values() for r in h)]
    cols = 4 if len(shown) > 4 else max(len(shown), 1)
    rows = -(-len(shown) // cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    for ax, (key, title) in zip(axes.flat, shown):
        for label, history in runs.items():
            pts = [(r["step"], r[key]) for r in history if isinstance(r.get(key), (int, float))]
            if pts:
                ax.plot(*zip(*pts), lw=1.2, label=label or None)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        if key == "kl" and any(label for label in runs):
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    fig.tight_layout()
    return atomic_save_figure(fig, path)
