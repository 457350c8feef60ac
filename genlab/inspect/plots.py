"""PNG charts for ``genlab inspect`` (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from genlab.io import atomic_write_bytes  # noqa: E402


def _save(fig, path: str | Path) -> Path:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def next_token_chart(rows, path, *, title: str) -> Path:
    labels = [repr(r.token) for r in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.6), 4))
    w = 0.28
    ax.bar([i - w for i in x], [r.p_raw for r in rows], w, label="p (T=1)", color="#9db4d3")
    ax.bar(list(x), [r.p_temp for r in rows], w, label="p (temperature)", color="#4a78b5")
    ax.bar([i + w for i in x], [r.p_final for r in rows], w, label="p after top-k/top-p", color="#d1603d")
    ax.set_xticks(list(x), labels, rotation=45, ha="right")
    ax.set_ylabel("probability")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def heatmap(matrix, row_labels, col_labels, path, *, title: str, cmap: str = "viridis",
            vmin=None, vmax=None, annotate: bool = False) -> Path:
    n = len(row_labels)
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * len(col_labels) + 2), max(3.5, 0.45 * n + 1.5)))
    im = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(col_labels)), [repr(t) for t in col_labels], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), [repr(t) for t in row_labels], fontsize=8)
    if annotate:
        for i in range(n):
            for j in range(len(col_labels)):
                ax.text(j, i, f"{float(matrix[i][j]):.2f}", ha="center", va="center", fontsize=7, color="white")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title)
    return _save(fig, path)
