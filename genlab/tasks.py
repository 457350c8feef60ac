"""Tasks: a YAML spec that wires a dataset, templates, output type and metrics (lm-eval style).

The YAML says *what* (data source, splits, templates, metrics, generation
settings); this module holds the logic, and hands evaluate() and
the training loop the same narrow thing: a list of ``Request`` objects.

A task's templates are flattened into *variants*: one per Jinja template and
one per FLAN phrasing. ``template=N`` picks variant N for every example;
``template="sample"`` samples one per example from the seed (instruction
augmentation for training).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from genlab.errors import ConfigError, GenlabError
from genlab.data import Row
from genlab.prompts import FewShotConfig, FlanTemplate, build_prompt, select_shots, templates_from, wrap_chat
from genlab.prompts.templates import ConversationTemplate, Template

OUTPUT_TYPES = ("generate", "multiple_choice", "loglikelihood_rolling")
TASK_KEYS = {"name", "description", "dataset", "output_type", "templates", "metrics", "generation", "postprocess",
             "chat", "default_shots", "fewshot", "fewshot_split", "tags"}
DATASET_KEYS = {"builtin", "n", "seed", "path", "files", "hf", "columns", "splits", "split_seed",
                "skip_bad_rows", "dedupe", "format", "unseen", "optional"}
FEWSHOT_KEYS = {"instruction", "separator", "target_prefix", "fit", "multiturn"}
BUILTIN_DIR = "genlab.data.tasks"


@dataclass
class Request:
    """One prompt for evaluate() or the trainer. ``choices`` are continuations for multiple_choice."""

    doc_id: int
    prompt: str
    target: str
    choices: list[str] | None = None
    target_index: int | None = None
    shots_used: int = 0
    raw: dict = field(default_factory=dict)


@dataclass
class Variant:
    name: str
    template: Template
    index: int | None  # FLAN phrasing index; None for Jinja

    def render(self, row: dict) -> tuple[str, str]:
        if isinstance(self.template, FlanTemplate):
            return self.template.render(row, index=self.index)
        return self.template.render(row)


@dataclass
class Task:
    name: str
    output_type: str
    templates: list[Template]
    metrics: list[str | dict[str, dict]]  # "rougeL" or {"rougeL": {"use_stemmer": true}}
    dataset: dict
    generation: dict = field(default_factory=dict)
    postprocess: list = field(default_factory=list)
    chat: bool = True
    default_shots: int = 0
    fewshot: FewShotConfig = field(default_factory=FewShotConfig)
    fewshot_split: str = "train"
    description: str = ""
    source: str = ""  # the YAML file, for error messages
    _splits: dict[str, list[Row]] | None = field(default=None, repr=False)
    loaded_files: list = field(default_factory=list, repr=False)  # genlab.data.Loaded per file read

    @property
    def bad_rows(self) -> list:
        """Rows skipped with ``dataset.skip_bad_rows`` (each with file:line and the problem)."""
        return [b for f in self.loaded_files for b in f.bad]

    # -- data ---------------------------------------------------------------
    def split_names(self) -> list[str]:
        return list(self._load())

    def examples(self, split: str) -> list[dict]:
        splits = self._load()
        if split not in splits:
            raise ConfigError(f"task {self.name!r} has no split {split!r}", where=self.source,
                              hint=f"splits: {', '.join(splits)}")
        return list(splits[split])  # a copy: callers may slice or shuffle it freely

    def _load(self) -> dict[str, list[Row]]:
        if self._splits is None:
            from genlab.data.sources import load_splits

            optional = self._optional()
            required = {f: f"template {t.name!r} ({self.source})" for t in self.templates for f in sorted(t.fields)
                        if f not in optional}
            self._splits = load_splits(self.dataset, task=self.name, source=self.source, required=required,
                                       skipped=self.loaded_files)
            for rows in self._splits.values():
                for row in rows:
                    for name in optional:
                        if row.get(name) is None:
                            row[name] = ""
            self.check_columns(next((r for rows in self._splits.values() for r in rows), None))
        return self._splits

    def _optional(self) -> set[str]:
        """``dataset.optional``: fields a row may lack or leave empty (read as "")."""
        optional = self.dataset.get("optional", [])
        if not isinstance(optional, list) or not all(isinstance(f, str) for f in optional):
            raise ConfigError(f"dataset.optional must be a list of field names, got {optional!r}",
                              where=f"{self.source}: dataset.optional", hint="e.g. optional: [input]")
        return set(optional)

    def check_columns(self, row: dict | None) -> None:
        """Every field a template reads must exist in the data: say which template, which field."""
        if row is None:
            raise ConfigError(f"task {self.name!r} has no examples", where=self.source)
        for t in self.templates:
            missing = sorted(t.fields - set(row) - self._optional())
            if missing:
                raise ConfigError(
                    f'template {t.name!r} uses field(s) {", ".join(missing)} that the data does not have',
                    where=f"{self.source}: templates", hint=f"data fields: {', '.join(sorted(row))}; "
                                                          "add a column mapping under dataset.columns")

    # -- templates ----------------------------------------------------------
    def variants(self) -> list[Variant]:
        out = []
        for t in self.templates:
            if isinstance(t, FlanTemplate):
                out += [Variant(f"{t.name}:{i}", t, i) for i in range(len(t.patterns))]
            else:
                out.append(Variant(t.name, t, None))
        return out

    def variant(self, template: int | str) -> Variant:
        variants = self.variants()
        if isinstance(template, int) and 0 <= template < len(variants):
            return variants[template]
        for v in variants:
            if template in (v.name, v.template.name):
                return v
        raise ConfigError(f"task {self.name!r} has no template {template!r}",
                          hint=f"use 0..{len(variants) - 1} or a name: {', '.join(v.name for v in variants)}")

    # -- requests -----------------------------------------------------------
    def requests(self, split: str, *, shots: int = 0, n: int | None = None, seed: int = 0, tokenizer=None,
                 template: int | str = 0, chat: bool | None = None, fit: str = "drop",
                 context_window: int | None = None, instruction: str | None = None,
                 separator: str | None = None, multiturn: bool | None = None,
                 every_turn: bool = False) -> list[Request]:
        """Prompts for ``split``; shots come from ``fewshot_split`` (train), never from ``split`` itself.

        ``context_window`` (the model's) bounds prompt + ``generation.max_new_tokens`` when a
        tokenizer is given; ``fit`` says what gives way: ``drop`` shots or ``truncate`` their
        longest field. ``instruction``/``separator``/``multiturn`` override the task's ``fewshot``
        block (``multiturn``: with chat, each demonstration is a user turn and an assistant turn).
        ``every_turn``: a conversation row gives one request per assistant answer (training), not only its last.
        """
        rows = self.examples(split)[:n] if n is not None else self.examples(split)
        use_chat = self._use_chat(chat, tokenizer)
        pool = self.examples(self.fewshot_split) if shots else []
        overrides = dict(instruction=instruction, separator=separator, multiturn=multiturn, fit=fit)
        cfg = dataclasses.replace(self.fewshot, **{k: v for k, v in overrides.items() if v is not None})
        budget = self._budget(tokenizer, context_window)
        rng = random.Random(f"requests:{self.name}:{seed}")
        out = []
        for i, row in enumerate(rows):
            v = self.variant(template) if template != "sample" else rng.choice(self.variants())
            picked = select_shots(pool, shots, seed=seed, doc_id=i,
                                  exclude=i if split == self.fewshot_split else None)
            turns = v.template.turn_rows(row) if every_turn and isinstance(v.template, ConversationTemplate) else [row]
            for r in turns:
                built = build_prompt(r, v.render, picked, config=cfg, tokenizer=tokenizer, max_tokens=budget,
                                     chat=use_chat, where=self._where(row, split, i), fields=v.template.fields)
                out.append(self._request(i, r, v, built, split))
        return out

    def training_pairs(self, split: str = "train", *, n: int | None = None, seed: int = 0, tokenizer=None,
                       chat: bool | None = None, template: int | str = "sample") -> list[Request]:
        """Zero-shot prompt/target pairs for fine-tuning, each with a seeded sampled template variant.

        Targets carry no EOS token: the training loop appends the tokenizer's own. A conversation gives a pair
        for each of its assistant answers (``n`` counts conversations).
        """
        return self.requests(split, shots=0, n=n, seed=seed, tokenizer=tokenizer, template=template, chat=chat,
                             every_turn=True)

    def _request(self, i: int, row: dict, v: Variant, built, split: str) -> Request:
        prompt, target, shots_used = built.prompt, built.target, built.shots_used
        if self.output_type == "loglikelihood_rolling":
            return Request(i, "", f"{prompt}{target}".strip(), shots_used=shots_used, raw=dict(row))
        if self.output_type == "multiple_choice":
            choices = v.template.choices(row)
            if not choices or target not in choices:
                hint = f"check answer_choices of template {v.name!r}"
                if not target and choices:  # GLUE's test splits: label -1 on every row
                    hint = f"this row has no label; if split {split!r} is unlabeled, evaluate another split (--split)"
                raise GenlabError(f"target {target!r} is not one of the answer choices {choices}",
                                  where=self._where(row, split, i), hint=hint)
            return Request(i, prompt, target, [" " + c for c in choices], choices.index(target), shots_used, dict(row))
        if isinstance(row.get("facts"), dict):  # for fact metrics: the reference knows its dialogue's facts
            from genlab.evaluation.metrics.base import Reference

            target = Reference(target, row["facts"])
        return Request(i, prompt, target, shots_used=shots_used, raw=dict(row))

    def _use_chat(self, chat: bool | None, tokenizer) -> bool:
        wanted = self.chat if chat is None else chat
        if not wanted or tokenizer is None or self.output_type == "loglikelihood_rolling":  # a document, not a turn
            return False
        if getattr(tokenizer, "chat_template", None):
            return True
        if chat:  # asked for explicitly, but impossible: say so
            wrap_chat(tokenizer, "")
        return False

    def _budget(self, tokenizer, context_window: int | None) -> int | None:
        if tokenizer is None:
            return None
        window = context_window or getattr(tokenizer, "model_max_length", None)
        if not window or window > 1_000_000:
            return None
        return window - int(self.generation.get("max_new_tokens", 0))

    def _where(self, row: dict, split: str, i: int) -> str:
        return getattr(row, "where", None) or f"task {self.name} [{split}] example {i}"


def mix_tasks(tasks: list[Task | str], n: int, *, weights: list[float] | None = None, cap: int | None = None,
              seed: int = 0, split: str = "train", tokenizer=None, chat: bool | None = None) -> list[dict]:
    """A multi-task training mixture (FLAN style): explicit ``weights`` or proportional with ``cap``.

    Each drawn example is rendered with a template variant sampled for it; the
    result (dicts with task, prompt, target, template, raw) depends only on the seed.
    """
    from genlab.data.mixture import MixtureSource, mix

    loaded = [load_task(t) if isinstance(t, str) else t for t in tasks]
    if weights is not None and len(weights) != len(loaded):
        raise ConfigError(f"{len(weights)} weights for {len(loaded)} tasks")

    def renderer(task: Task):
        use_chat = task._use_chat(chat, tokenizer)

        def render(row: dict, rng: random.Random) -> tuple[str, str, str]:
            v = rng.choice(task.variants())
            built = build_prompt(row, v.render, [], config=task.fewshot, tokenizer=tokenizer, chat=use_chat)
            return built.prompt, built.target, v.name
        return render

    sources = [MixtureSource(t.name, t.examples(split), renderer(t), weights[i] if weights else None)
               for i, t in enumerate(loaded)]
    return mix(sources, n, cap=cap, seed=seed)


# -- loading ---------------------------------------------------------------
def _builtin_files() -> dict[str, Any]:
    root = resources.files(BUILTIN_DIR)
    return {p.name[:-5]: p for p in root.iterdir() if p.name.endswith(".yaml")}


def list_tasks() -> list[str]:
    """Names of the built-in tasks."""
    return sorted(_builtin_files())


def load_task(name_or_path: str | Path) -> Task:
    """A built-in task by name, a user's task YAML by path, or a data file, a folder of them (split by their
    names, as ``datasets`` reads a folder) or an ``hf:`` hub dataset whose columns have a common shape
    (``genlab.data.infer``: messages, prompt/completion, instruction/output, ...)."""
    from genlab.data.infer import is_data_file, task_spec_for_file, task_spec_for_hub

    text_path = str(name_or_path)
    builtin = _builtin_files()
    if text_path in builtin:
        return task_from_yaml(builtin[text_path].read_text(encoding="utf-8"), source=f"{text_path} (built-in)")
    path = Path(text_path).expanduser()
    if is_data_file(path) and path.is_file():
        return task_from_dict(task_spec_for_file(path), source=str(path), base=path.parent)
    if text_path.startswith("hf:"):
        return task_from_dict(task_spec_for_hub(text_path), source=text_path)
    if path.is_dir():  # a folder of data files (train.jsonl, test.csv, data/train-00000-of-00002.parquet, ...)
        return task_from_dict(task_spec_for_hub(f"hf:{path}", label=text_path), source=text_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"task file {path} not found")
        return task_from_yaml(path.read_text(encoding="utf-8"), source=str(path), base=path.parent)
    raise ConfigError(f"unknown task {text_path!r}", hint=f"built-in tasks: {', '.join(sorted(builtin))}; "
                                                         "or give the path of a task .yaml file or of a data file "
                                                         "(.jsonl, .csv, .parquet) or a folder of them, "
                                                         "or hf:owner/name")


def task_from_yaml(text: str, *, source: str = "<task>", base: Path | None = None) -> Task:
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML: {e}", where=source) from e
    if not isinstance(spec, dict):
        raise ConfigError("a task file must be a mapping of keys (name, dataset, templates, ...)", where=source)
    return task_from_dict(spec, source=source, base=base)


def _check_keys(d: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)}", where=where,
                          hint=f"allowed: {', '.join(sorted(allowed))}")


def _typed(spec: dict, key: str, kind: type | tuple, default: Any, where: str) -> Any:
    value = spec.get(key, default)
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"field {key!r} must be {names}, got {value!r}", where=where)
    return value


def task_from_dict(spec: dict, *, source: str = "<task>", base: Path | None = None) -> Task:
    """Validate a task spec (unknown keys, types, output type) and build the Task."""
    _check_keys(spec, TASK_KEYS, source)
    name = _typed(spec, "name", str, Path(source).stem, source)
    output_type = spec.get("output_type", "generate")
    if output_type not in OUTPUT_TYPES:
        raise ConfigError(f"field 'output_type' must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}",
                          where=source)
    dataset = _typed(spec, "dataset", dict, None, source) if "dataset" in spec else None
    if dataset is None:
        raise ConfigError("missing field 'dataset'", where=source, hint="e.g. dataset: {path: data.jsonl}")
    _check_keys(dataset, DATASET_KEYS, f"{source}: dataset")
    if "templates" not in spec:
        raise ConfigError("missing field 'templates'", where=source)
    fewshot = _typed(spec, "fewshot", dict, {}, source)
    _check_keys(fewshot, FEWSHOT_KEYS, f"{source}: fewshot")
    metrics = [_metric_spec(m, f"{source}: metrics[{i}]") for i, m in enumerate(_typed(spec, "metrics", list, [], source))]
    return Task(
        name=name, output_type=output_type, metrics=metrics,
        templates=templates_from(spec["templates"], where=source, prefix=name),
        dataset={**dataset, "_base": str(base) if base else None},
        generation=_typed(spec, "generation", dict, {}, source),
        postprocess=_typed(spec, "postprocess", list, [], source),
        chat=_typed(spec, "chat", bool, True, source),
        default_shots=_typed(spec, "default_shots", int, 0, source),
        fewshot=FewShotConfig(**fewshot), fewshot_split=_typed(spec, "fewshot_split", str, "train", source),
        description=str(spec.get("description", "")), source=source)


def _metric_spec(m, where: str) -> str | dict[str, dict]:
    """A metric name, or a one-key mapping from the name to its options (checked when the eval builds it)."""
    if isinstance(m, str):
        return m
    if isinstance(m, dict) and len(m) == 1:
        (name, opts), = m.items()
        if isinstance(name, str) and isinstance(opts or {}, dict):
            return {name: dict(opts or {})}
    raise ConfigError(f"a metric is a name or {{name: {{option: value}}}}, not {m!r}", where=where,
                      hint="e.g. metrics: [rougeL, {rouge1: {use_stemmer: true}}]")


__all__ = ["OUTPUT_TYPES", "Request", "Task", "Variant", "list_tasks", "load_task", "mix_tasks", "task_from_dict",
           "task_from_yaml"]
