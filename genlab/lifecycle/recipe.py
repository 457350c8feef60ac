"""A recipe: one model, one task (or mixture), the stages to compare. YAML wires; code decides.

    name: support-summary
    model: smollm2-135m-instruct
    task: support-summary          # or  mixture: {support-summary: 1, chat-summary: 0.5}
    seed: 0
    eval: {split: test, n: 100, batch_size: 16}   # EvalConfig fields, for every stage alike
    splits: [test-unseen, test]    # optional: score every stage on each; the first is the leaderboard's
    n_train: 300                   # training examples (default: the whole train split)
    train: {epochs: 1, lr: 3e-4}   # TrainConfig defaults for every tuned stage
    forgetting: [chat-summary]     # optional: tasks evaluated before/after tuning
    stages:
      - zero-shot                  # shorthand for {name: zero-shot, kind: prompt, shots: 0}
      - {kind: few-shot, shots: [1, 3]}        # expands to 1-shot, 3-shot
      - {name: lora, kind: tune, method: lora, options: {r: 8}, train: {lr: 5e-4}}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genlab.errors import ConfigError
from genlab.evaluation.config import EvalConfig

TOP_KEYS = {"name", "model", "task", "mixture", "seed", "eval", "splits", "n_train", "train", "forgetting",
            "stages", "description"}


@dataclass
class Stage:
    name: str
    kind: str  # prompt | tune | a registered kind (genlab.lifecycle.kinds)
    shots: int = 0
    method: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)  # merged with the recipe's train defaults
    source: str | None = None  # ``from:`` an earlier stage whose model this one starts from
    data: str | None = None  # tune: train on this task instead of the recipe's (scored on the recipe's all the same)

    def section(self) -> dict[str, Any]:
        """What defines this stage's result (for the stage cache)."""
        data = dataclasses.asdict(self)
        for key in ("source", "data"):
            if data[key] is None:
                del data[key]  # fingerprints of stages without from:/data: stay as before
        return data


@dataclass
class Recipe:
    name: str
    model: str
    task: str | None
    mixture: dict[str, float] | None
    seed: int
    eval: EvalConfig  # how every stage is scored; a prompt stage sets only its shots
    n_train: int | None
    forgetting: list[str]
    stages: list[Stage]
    source: str = "<recipe>"
    text: str = ""
    extra_splits: list[str] = field(default_factory=list)  # scored beside eval.split, same examples count

    @property
    def splits(self) -> list[str]:
        """Every split each stage is scored on; the first (``eval.split``) ranks the leaderboard."""
        return [self.eval.split, *self.extra_splits]

    @property
    def eval_task(self) -> str:
        return self.task or next(iter(self.mixture))

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise ConfigError(f"no stage named {name!r}", where=self.source,
                          hint=f"stages: {', '.join(s.name for s in self.stages)}")


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    if not path.is_file():
        from genlab.lifecycle.builtin import builtin_recipe_path

        builtin = builtin_recipe_path(str(path))
        if builtin is None:
            raise ConfigError("recipe file not found", where=str(path),
                              hint="pass a recipe .yaml, or a built-in recipe name (see genlab/lifecycle/recipes/)")
        path = builtin
    text = path.read_text(encoding="utf-8")
    return _tasks_near(recipe_from_yaml(text, source=str(path)), path.parent)


def _tasks_near(recipe: Recipe, base: Path) -> Recipe:
    """Task paths (a task YAML, a data file or folder) are read beside the recipe when they are there, as a task YAML's
    own data paths are read beside it; built-in names, ``hf:`` datasets and other paths are kept."""
    def near(name: str) -> str:
        if name.startswith("hf:") or Path(name).is_absolute() or "/" not in name and "." not in name:
            return name
        candidate = base / name
        return str(candidate) if candidate.exists() else name  # a file, or a folder of data files

    recipe.task = near(recipe.task) if recipe.task else recipe.task
    if recipe.mixture:
        recipe.mixture = {near(k): v for k, v in recipe.mixture.items()}
    recipe.forgetting = [near(t) for t in recipe.forgetting]
    for stage in recipe.stages:
        if getattr(stage, "data", None):
            stage.data = near(stage.data)
    return recipe


def recipe_from_yaml(text: str, source: str = "<recipe>") -> Recipe:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"not valid YAML: {getattr(e, 'problem', e)}", where=where) from None
    if not isinstance(data, dict):
        raise ConfigError("a recipe is a mapping (model:, task:, stages:, ...)", where=source)
    return recipe_from_dict(data, source=source, text=text)


def recipe_from_dict(d: dict[str, Any], source: str = "<recipe>", text: str = "") -> Recipe:
    _known(d, TOP_KEYS, source)
    model = _required(d, "model", str, source)
    task, mixture = d.get("task"), d.get("mixture")
    if (task is None) == (mixture is None):
        raise ConfigError("give exactly one of task: or mixture:", where=f"{source}: task",
                          hint="e.g. task: support-summary")
    if task is not None and not isinstance(task, str):
        raise ConfigError("must be a task name or path", where=f"{source}: task")
    if mixture is not None and (not isinstance(mixture, dict) or not mixture):
        raise ConfigError("must map task names to weights", where=f"{source}: mixture",
                          hint="e.g. mixture: {support-summary: 1.0, chat-summary: 0.5}")
    ev, extra_splits = _splits(d.get("splits"), _eval_config(d.get("eval") or {}, f"{source}: eval"), source)
    if mixture is not None and extra_splits:
        raise ConfigError("splits: scores one task on several splits; a mixture is scored per task",
                          where=f"{source}: splits", hint="drop splits:, or use task: instead of mixture:")
    train_defaults = d.get("train") or {}
    stages = _stages(d.get("stages"), train_defaults, source)
    forgetting = d.get("forgetting") or []
    if not isinstance(forgetting, list):
        raise ConfigError("must be a list of task names", where=f"{source}: forgetting")
    return Recipe(name=str(d.get("name") or Path(source).stem), model=model, task=task, mixture=mixture,
                  seed=int(d.get("seed", 0)), eval=ev,
                  n_train=d.get("n_train"), forgetting=forgetting, stages=stages, source=source, text=text,
                  extra_splits=extra_splits)


def _splits(raw, ev: EvalConfig, source: str) -> tuple[EvalConfig, list[str]]:
    """``splits: [main, other, ...]`` sets ``eval.split`` to the first and scores the rest beside it."""
    if raw is None:
        return ev, []
    where = f"{source}: splits"
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) and x for x in raw):
        raise ConfigError("must be a list of split names, the leaderboard's first", where=where,
                          hint="e.g. splits: [test-unseen, test]")
    if len(set(raw)) != len(raw):
        raise ConfigError(f"a split is listed twice: {raw}", where=where)
    if ev.split not in (raw[0], EvalConfig().split):
        raise ConfigError(f"eval.split is {ev.split!r} but splits: starts with {raw[0]!r}", where=where,
                          hint="drop eval.split: the first entry of splits: is the main split")
    return ev.replace(split=raw[0]), list(raw[1:])


def _eval_config(ev, where: str) -> EvalConfig:
    if not isinstance(ev, dict):
        raise ConfigError("must be a mapping of EvalConfig fields", where=where, hint="e.g. eval: {n: 100}")
    if "shots" in ev:
        raise ConfigError("shots is set per stage, not in eval:", where=f"{where}.shots",
                          hint="e.g. stages: [zero-shot, {kind: few-shot, shots: [3]}]")
    if "shots_seed" in ev:
        raise ConfigError("shots_seed is gone: eval.seed picks the few-shot examples (and the test examples)",
                          where=f"{where}.shots_seed", hint="write seed: instead")
    return EvalConfig.from_dict({"n": 100, **ev}, where=where)


def _stages(raw, train_defaults: dict, source: str) -> list[Stage]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("list at least one stage", where=f"{source}: stages",
                          hint="e.g. stages: [zero-shot, {kind: few-shot, shots: [3]}, {kind: tune, method: lora}]")
    stages: list[Stage] = []
    for i, item in enumerate(raw):
        stages.extend(_stage(item, train_defaults, f"{source}: stages[{i}]"))
    names = [s.name for s in stages]
    for i, s in enumerate(stages):
        if s.source is not None and s.source not in names[:i]:
            raise ConfigError(f"stage {s.name!r} starts from {s.source!r}, which is not an earlier stage",
                              where=f"{source}: stages.{s.name}.from", hint=f"earlier stages: {', '.join(names[:i]) or 'none'}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"duplicate stage name(s): {', '.join(dupes)}", where=f"{source}: stages",
                          hint="give each stage a distinct name:")
    return stages


def _stage(item, train_defaults: dict, where: str) -> list[Stage]:
    from genlab.lifecycle import kinds

    if item in ("zero-shot", "zero_shot"):
        return [Stage("zero-shot", "prompt", 0)]
    if not isinstance(item, dict):
        raise ConfigError(f"a stage is `zero-shot` or a mapping, not {item!r}", where=where)
    name = item.get("kind", "tune" if "method" in item else None)
    kind = kinds.get(name, where)
    _known(item, {"name", "kind", *kind.keys}, where)
    if "from" in item and not isinstance(item["from"], str):
        raise ConfigError("from: names an earlier stage", where=f"{where}.from", hint="e.g. from: lora")
    stages = kind.parse(item, train_defaults, where)
    for s in stages:
        s.source = item.get("from")
    return stages


def numbers(d: dict) -> dict:
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; users mean a number."""
    out = {}
    for k, v in d.items():
        if isinstance(v, str):
            try:
                v = float(v) if any(c in v.lower() for c in ".e") else int(v)
            except ValueError:
                pass
        out[k] = v
    return out


def _known(d: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ConfigError(f"unknown key(s): {', '.join(unknown)}", where=where,
                          hint=f"allowed: {', '.join(sorted(allowed))}")


def _required(d: dict, key: str, kind: type, where: str):
    if key not in d:
        raise ConfigError(f"missing required key {key!r}", where=where)
    if not isinstance(d[key], kind):
        raise ConfigError(f"must be a {kind.__name__}", where=f"{where}: {key}")
    return d[key]
