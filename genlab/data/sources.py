"""Turn a task's ``dataset:`` block into named splits of rows.

Sources: ``builtin`` (a generator, ``n`` examples from ``seed``, cut by ratios,
plus ``unseen`` examples from the generator's held-out scenario types, names and
phrasings as the ``test-unseen`` split), ``path`` (one
file, split by ratios), ``files`` (one file per split) or ``hf`` (a hub
dataset's own splits, or its single split cut by ratios). Relative paths are
resolved against the task file's folder.
"""

from __future__ import annotations

from pathlib import Path

from genlab.data.builtin import generate
from genlab.data.hygiene import dedupe
from genlab.data.loading import load_file, load_hub
from genlab.data.splits import split_rows
from genlab.errors import ConfigError
from genlab.data.rows import Row

DEFAULT_RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}
UNSEEN_SPLIT = "test-unseen"


def _ratios(spec: dict, where: str) -> dict[str, float]:
    ratios = spec.get("splits", DEFAULT_RATIOS)
    if not isinstance(ratios, dict) or not all(isinstance(v, (int, float)) for v in ratios.values()):
        raise ConfigError("dataset.splits must map split names to ratios, e.g. {train: 0.8, test: 0.2}",
                          where=f"{where}: dataset.splits")
    return {str(k): float(v) for k, v in ratios.items()}


def _cut(rows: list, spec: dict, where: str, fields: list[str] | None = None) -> dict[str, list]:
    """Optionally drop duplicates (compared on the fields the templates read), then split by ratios."""
    if spec.get("dedupe"):
        rows, _ = dedupe(rows, fields or None)
    ratios = _ratios(spec, where)
    return split_rows(rows, list(ratios.values()), seed=int(spec.get("split_seed", 0)), names=list(ratios))


def _path(spec: dict, value: str) -> Path:
    path = Path(value).expanduser()
    base = spec.get("_base")
    return path if path.is_absolute() or not base else Path(base) / path


def _builtin(spec: dict, task: str, source: str, fields: list[str]) -> dict[str, list[Row]]:
    """Ratio splits of the generator's ``seen`` part, and ``test-unseen`` from its ``unseen`` part."""
    unseen = spec.get("unseen", 0)
    if not isinstance(unseen, int) or isinstance(unseen, bool) or unseen < 0:
        raise ConfigError(f"dataset.unseen must be a whole number of examples (0 for none), got {unseen!r}",
                          where=f"{source}: dataset.unseen")

    def rows(n: int, part: str) -> list[Row]:
        made = generate(spec["builtin"], n, int(spec.get("seed", 0)), part=part)
        label = "built-in" if part == "seen" else f"built-in, {UNSEEN_SPLIT}"
        return [Row.at(r, f"{task} ({label}) example {r.get('id', i)}") for i, r in enumerate(made)]

    splits = _cut(rows(int(spec.get("n", 1000)), "seen"), spec, source, fields)
    if unseen:
        held_out = rows(unseen, "unseen")
        splits[UNSEEN_SPLIT] = dedupe(held_out, fields or None)[0] if spec.get("dedupe") else held_out
    return splits


def load_splits(spec: dict, *, task: str, source: str, required: dict[str, str] | None = None,
                skipped: list | None = None) -> dict[str, list[Row]]:
    """Named splits of rows; ``required`` maps each field the templates read to the template that reads it.

    With ``skip_bad_rows``, each file's ``Loaded`` (bad rows and report path) is appended to ``skipped``.
    """
    skipped = skipped if skipped is not None else []
    kinds = [k for k in ("builtin", "path", "files", "hf") if k in spec]
    if len(kinds) != 1:
        raise ConfigError("dataset needs exactly one of builtin, path, files or hf", where=f"{source}: dataset",
                          hint="e.g. dataset: {path: data/train.jsonl, splits: {train: 0.9, test: 0.1}}")
    kind = kinds[0]
    if "unseen" in spec and kind != "builtin":
        raise ConfigError("dataset.unseen only applies to built-in generators", where=f"{source}: dataset.unseen",
                          hint="give your own held-out file as a split under dataset.files instead")
    columns = spec.get("columns") or {}
    opts = dict(columns=columns, required=dict(required or {}), skip_bad_rows=bool(spec.get("skip_bad_rows")))
    if kind == "builtin":
        return _builtin(spec, task, source, sorted(required or {}))
    if kind == "path":
        loaded = load_file(_path(spec, spec["path"]), fmt=spec.get("format"), **opts)
        skipped.append(loaded)
        return _cut(loaded.rows, spec, source, sorted(required or {}))
    if kind == "files":
        if not isinstance(spec["files"], dict):
            raise ConfigError("dataset.files must map split names to files", where=f"{source}: dataset.files")
        files = {split: load_file(_path(spec, f), fmt=spec.get("format"), **opts) for split, f in spec["files"].items()}
        skipped.extend(files.values())
        return {split: v.rows for split, v in files.items()}
    loaded = load_hub(spec["hf"], **opts)
    skipped.extend(loaded.values())
    if len(loaded) == 1 and "splits" in spec:
        return _cut(next(iter(loaded.values())).rows, spec, source, sorted(required or {}))
    return {split: v.rows for split, v in loaded.items()}
