"""Stage kinds: what a recipe stage does. ``prompt`` and ``tune`` are built in; other packages add theirs.

A kind is registered by a module listed in ``KIND_MODULES`` (imported on first use,
so a recipe of prompt stages never imports alignment or deployment code):

    register(StageKind(
        name="dpo",
        keys={"options", "train", "from"},      # recipe keys besides name/kind
        parse=parse_dpo,                        # (item, defaults, where) -> Stage; raise ConfigError(where=...)
        run=run_dpo,                            # (ctx, stage, sdir, resume, record) -> None
    ))

``run`` writes what it makes under ``sdir`` and fills ``record`` (a ``StageRecord``):
``metrics`` (through ``genlab.evaluation.evaluate`` with ``ctx.recipe.eval``, so every
stage is scored alike), ``eval_dir``, ``adapter`` (relative path of a peft/genlab
adapter on the recipe's model) or ``model_dir`` (a whole model folder, e.g. a
quantized or distilled one), params, ``train`` and ``extra`` (``label`` for the
leaderboard's "how" column, ``figures``: PNG paths relative to the stage folder that
the report shows, ``examples``: a list of {"title", "text"} shown under the stage).
``metrics.jsonl`` in the stage folder is drawn as curves.

A stage can start from an earlier stage's model: ``from: lora`` in the recipe sets
``Stage.source``; ``ctx.load_stage_model(name)`` loads it (base model, base + adapter,
or the stage's model folder) and the source stage's fingerprint becomes part of this
stage's, so re-training the source re-runs everything built on it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from genlab.errors import ConfigError

# kind modules outside the lifecycle package; each calls register() on import
KIND_MODULES: list[str] = ["genlab.alignment.stages", "genlab.deploy.stages"]


@dataclass(frozen=True)
class StageKind:
    name: str
    keys: frozenset[str] | set[str]
    parse: Callable[..., Any]  # (item: dict, train_defaults: dict, where: str) -> Stage
    run: Callable[..., None]  # (ctx, stage, sdir: Path, resume: bool, record: StageRecord) -> None
    aliases: tuple[str, ...] = field(default=())


_KINDS: dict[str, StageKind] = {}
_loaded = False


def register(kind: StageKind) -> None:
    for name in (kind.name, *kind.aliases):
        _KINDS[name] = kind


def kinds() -> dict[str, StageKind]:
    """Every registered kind by name (and alias), importing the kind modules once."""
    global _loaded
    if not _loaded:
        _loaded = True
        from genlab.lifecycle import stages  # noqa: F401 - registers prompt and tune

        for module in KIND_MODULES:
            importlib.import_module(module)
    return _KINDS


def get(name: str, where: str) -> StageKind:
    known = kinds()
    if name not in known:
        raise ConfigError(f"kind must be one of {', '.join(sorted(known))}, not {name!r}", where=f"{where}.kind")
    return known[name]
