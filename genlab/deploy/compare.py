"""``genlab optimize compare``: measure several models the same way; a table and a scatter.

The first model is the reference: every other model's task metric gets a paired-bootstrap
delta against it on the same examples. ``MODEL@fp32`` / ``MODEL@bf16`` pick a model's compute
precision (default: the config's), so one command can set fp32, bf16 and int8 side by side.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from genlab.deploy.tradeoff import MeasureConfig, TradeOff, measure_isolated
from genlab.errors import ConfigError
from genlab.io import atomic_save_figure, atomic_write_json, read_json
from genlab.progress import Reporter, or_quiet

RECORDS = "tradeoffs.json"
PICTURE = "tradeoff.png"


def parse_spec(spec: str, default: str) -> tuple[str, str]:
    """``path@precision`` → (path, precision)."""
    model, sep, precision = spec.rpartition("@")
    if sep and precision in ("auto", "bf16", "fp32"):
        return model, precision
    return spec, default


def label_of(model: str, precision: str) -> str:
    return re.sub(r"[^\w.+-]", "_", f"{Path(model.rstrip('/')).name}@{precision}")


def compare_models(specs: list[str], out_dir: str | os.PathLike, cfg: MeasureConfig | None = None, *,
                   reuse: bool = True, reporter: Reporter | None = None) -> list[TradeOff]:
    """Measure every model (one process each), add deltas vs the first, write records and a picture."""
    cfg = cfg or MeasureConfig()
    if not specs:
        raise ConfigError("compare needs at least one model", hint="genlab optimize compare MODEL [MODEL ...]")
    out = Path(out_dir)
    records = []
    reporter = or_quiet(reporter)
    with reporter.task("measure", total=len(specs)) as advance:
        for spec in specs:
            model, precision = parse_spec(spec, cfg.precision)
            mcfg = dataclasses.replace(cfg, precision=precision)
            label = label_of(model, precision)
            reporter.status(f"measuring {label}")
            records.append(_measured(model, mcfg, out / label, label, reuse))
            advance(1)
    add_deltas(records)
    atomic_write_json(out / RECORDS, [r.to_json() for r in records])
    scatter(records, out / PICTURE)
    return records


def _measured(model: str, cfg: MeasureConfig, folder: Path, label: str, reuse: bool) -> TradeOff:
    """A stored record when the same model was measured with the same settings, else a new measurement."""
    saved = folder / "tradeoff.json"
    key = {"model": model, "cfg": dataclasses.asdict(cfg)}
    if reuse and saved.is_file() and (folder / "measured-with.json").is_file() \
            and read_json(folder / "measured-with.json") == key:
        return TradeOff.load(saved)
    rec = measure_isolated(model, cfg, folder, label)
    atomic_write_json(folder / "measured-with.json", key)
    return rec


def add_deltas(records: list[TradeOff]) -> None:
    """Paired bootstrap of the task metric of each record against the first (same examples by doc_id)."""
    from genlab.evaluation import compare_runs

    ref = records[0]
    ref.reference, ref.delta, ref.delta_ci = ref.name, 0.0, [0.0, 0.0]
    for r in records[1:]:
        comp = compare_runs([ref.eval_dir, r.eval_dir])
        row = next(x for x in comp.rows if x["metric"] == ref.metric)
        r.reference, r.delta, r.delta_ci = ref.name, row["deltas"][0], list(row["delta_cis"][0])
        r.save(Path(r.eval_dir) / "tradeoff.json")


def scatter(records: list[TradeOff], path: Path) -> Path:
    """Quality vs decode speed (batch 1); point area ∝ size on disk. Left: task metric, right: perplexity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    biggest = max(r.size_mb for r in records) or 1.0
    for ax, (field, label) in zip(axes, [("metric_value", records[0].metric), ("perplexity", "perplexity (lower is better)")]):
        for r in records:
            ax.scatter(r.decode_tok_s_b1, getattr(r, field), s=60 + 1200 * r.size_mb / biggest, alpha=0.5)
            ax.annotate(f"{r.name}\n{r.size_mb:.0f} MB", (r.decode_tok_s_b1, getattr(r, field)), fontsize=8,
                        ha="center", va="center")
        ax.set_xlabel("decode tokens/s, batch 1")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_title(f"{records[0].task} ({records[0].metric}) vs speed; area = size on disk")
    axes[1].set_title("held-out perplexity vs speed")
    fig.tight_layout()
    return atomic_save_figure(fig, path)


def load_records(out_dir: str | os.PathLike) -> list[TradeOff]:
    return [TradeOff.from_json(d) for d in read_json(Path(out_dir) / RECORDS)]
