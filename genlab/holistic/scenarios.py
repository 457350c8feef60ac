"""Scenarios of the holistic suite: a task, the split to draw from, the main metric, the budget.

Built-in and offline (suite ``holistic``):

| scenario          | task                     | output           | main metric | max new tokens |
|-------------------|--------------------------|------------------|-------------|----------------|
| reviews           | ``reviews`` (1-5 stars)  | multiple choice  | acc         | -              |
| support-qa        | yes/no over support chats| multiple choice  | acc         | -              |
| support-summary   | ``support-summary``      | generate         | rouge2      | 64             |
| support-extract   | ``support-extract``      | generate         | field_f1    | 64             |
| toxicity-prompts  | sentence starts (72)     | generate         | (toxicity)  | 20             |

Standard ones (suite ``standard``), task YAMLs under ``genlab/holistic/tasks/`` that load
through the data layer's ``hf:`` loader when online: BoolQ, IMDB, XSum, MMLU (4 subsets),
HellaSwag, TruthfulQA (MC1, binary).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Callable

import yaml

from genlab.errors import ConfigError

TASKS_DIR = "genlab.holistic.tasks"


@dataclass
class Scenario:
    name: str
    build: Callable[[], object]  # -> genlab.tasks.Task
    main_metric: str | None  # a genlab.evaluation.metrics name; None: no reference (toxicity prompts)
    split: str = "test"
    max_new_tokens: int | None = None  # overrides the task's generation budget
    perturb: bool = True  # run robustness and fairness perturbations
    description: str = ""
    tags: list[str] = field(default_factory=list)

    def task(self):
        task = self.build()
        if self.max_new_tokens is not None:
            task.generation = {**(task.generation or {}), "max_new_tokens": self.max_new_tokens}
        return task


def _builtin(name: str) -> Callable[[], object]:
    def build():
        from genlab.tasks import load_task

        return load_task(name)
    return build


def _yaml_task(file: str) -> Callable[[], object]:
    def build():
        from genlab.tasks import task_from_yaml

        path = resources.files(TASKS_DIR).joinpath(file)
        return task_from_yaml(path.read_text(encoding="utf-8"), source=f"{file} (genlab.holistic)")
    return build


def _with_rows(file: str, rows: Callable[[], dict[str, list[dict]]]) -> Callable[[], object]:
    """A task YAML whose rows come from a generator in this package (not a genlab.data builtin)."""
    def build():
        from genlab.data.rows import Row

        task = _yaml_task(file)()
        task._splits = {split: [Row(r) for r in rs] for split, rs in rows().items()}
        return task
    return build


def _support_qa_rows() -> dict[str, list[dict]]:
    from genlab.data.splits import split_rows
    from genlab.holistic.support_qa import generate_support_qa

    return split_rows(generate_support_qa(2000, seed=0), (0.8, 0.1, 0.1), seed=0)


def toxicity_prompts() -> list[dict]:
    """The 72 prompt starts (``kind`` neutral or provocative), interleaved so any prefix mixes both."""
    text = resources.files("genlab.holistic").joinpath("toxicity_prompts.yaml").read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    neutral, provocative = spec["neutral"], spec["provocative"]
    rows = []
    for i in range(max(len(neutral), len(provocative))):
        for kind, pool in (("neutral", neutral), ("provocative", provocative)):
            if i < len(pool):
                rows.append({"id": f"toxicity-{kind}-{i}", "prompt": pool[i], "kind": kind})
    return rows


BUILTIN: dict[str, Scenario] = {s.name: s for s in [
    Scenario("reviews", _builtin("reviews"), "acc", description="product review star rating, 5-way multiple choice"),
    Scenario("support-qa", _with_rows("support-qa.yaml", _support_qa_rows), "acc",
             description="yes/no questions about what a support chat agreed"),
    Scenario("support-summary", _builtin("support-summary"), "rouge2", max_new_tokens=64,
             description="summarize a support chat in 1-3 sentences"),
    Scenario("support-extract", _builtin("support-extract"), "field_f1", max_new_tokens=64,
             description="extract name, order, product, action as JSON"),
    Scenario("toxicity-prompts", _with_rows("toxicity-prompts.yaml", lambda: {"test": toxicity_prompts()}), None,
             max_new_tokens=20, perturb=False, description="continue neutral and provocative sentence starts"),
]}
STANDARD: dict[str, Scenario] = {s.name: s for s in [
    Scenario("boolq", _yaml_task("boolq.yaml"), "acc", split="validation", tags=["hub"]),
    Scenario("imdb", _yaml_task("imdb.yaml"), "acc", tags=["hub"]),
    Scenario("xsum", _yaml_task("xsum.yaml"), "rouge2", max_new_tokens=64, tags=["hub"]),
    *[Scenario(f"mmlu-{s}", _yaml_task(f"mmlu-{s}.yaml"), "acc", tags=["hub"])
      for s in ("abstract_algebra", "college_chemistry", "computer_security", "us_foreign_policy")],
    Scenario("hellaswag", _yaml_task("hellaswag.yaml"), "acc_norm", split="validation", tags=["hub"]),
    Scenario("truthfulqa-mc", _yaml_task("truthfulqa-mc.yaml"), "acc", split="validation", perturb=True,
             tags=["hub"]),
]}
SUITES = {"holistic": list(BUILTIN), "standard": list(STANDARD), "all": list(BUILTIN) + list(STANDARD)}


def list_scenarios() -> list[str]:
    return list(BUILTIN) + list(STANDARD)


def get_scenarios(suite: str = "holistic", names: list[str] | None = None) -> list[Scenario]:
    """The suite's scenarios, or the ``names`` asked for (any suite)."""
    known = {**BUILTIN, **STANDARD}
    if names:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(f"unknown scenario(s) {', '.join(unknown)}", hint=f"known: {', '.join(known)}")
        return [known[n] for n in names]
    if suite not in SUITES:
        raise ConfigError(f"unknown suite {suite!r}", hint=f"suites: {', '.join(SUITES)}")
    return [known[n] for n in SUITES[suite]]


__all__ = ["BUILTIN", "STANDARD", "SUITES", "Scenario", "get_scenarios", "list_scenarios", "toxicity_prompts"]
