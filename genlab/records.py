"""Typed records that cross module boundaries and live on disk: ``run.json``, ``stage.json``.

Writers (``genlab.lifecycle``) and readers (``genlab.report``) share these and nothing
else: a report is rebuilt from a run's records alone, without the recipe parser or the
trainer. ``from_json`` reads what older genlab versions wrote (missing fields get their
defaults, unknown fields are kept in ``extra``), so an old run's report still builds
after a config field changes.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _split(cls, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    return {k: v for k, v in data.items() if k in names}, {k: v for k, v in data.items() if k not in names}


@dataclass
class RunInfo:
    """``run.json``: how a lifecycle run was started, and its stages in recipe order."""

    recipe: str = ""
    command: list[str] | str = field(default_factory=list)
    started: str = ""
    stages: list[str] = field(default_factory=list)  # recipe order (absent before 0.2: report sorts by time)
    name: str = ""
    model: str = ""
    task: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {**data.pop("extra"), **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunInfo":
        known, extra = _split(cls, data)
        return cls(**known, extra=extra)


@dataclass
class StageRecord:
    """``stages/<name>/stage.json``: one stage's inputs fingerprint, status and results.

    Written with ``status: running`` when the stage starts and rewritten with
    ``status: done`` and the results when it ends; a stage is reused only when
    ``done`` and its fingerprint matches.
    """

    name: str
    kind: str = "prompt"  # prompt | tune | a registered kind (genlab.lifecycle.kinds)
    status: str = "running"  # running | done
    fingerprint: str = ""
    stage: dict[str, Any] = field(default_factory=dict)  # the recipe's stage section (name, kind, shots, method, ...)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {value, ci_low, ci_high, ...}
    eval_dir: str = "eval"  # relative to the stage folder
    eval_config: dict[str, Any] = field(default_factory=dict)  # the EvalConfig it was scored with
    split: str = ""  # the split ``metrics`` come from (eval_config's; empty in runs written before 0.2)
    other_splits: dict[str, dict[str, Any]] = field(default_factory=dict)  # split -> {"eval_dir", "metrics"}
    trainable_params: int = 0
    total_params: int = 0
    eval_tokens_per_s: float | None = None
    train: dict[str, Any] | None = None  # TrainResult.to_dict() for tuned stages
    forgetting: list[dict[str, Any]] = field(default_factory=list)
    adapter: str | None = None  # relative to the stage folder
    model_dir: str | None = None  # a whole model folder made by the stage (quantized, distilled...), relative
    seconds: float = 0.0
    peak_rss_mb: float | None = None
    peak_gpu_mb: float | None = None
    finished: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.extra.get("label"):
            return str(self.extra["label"])
        if self.kind == "prompt":
            return f"{self.stage.get('shots', 0)}-shot prompt"
        if self.kind == "tune":
            return f"tuned: {self.stage.get('method')}"
        return self.kind

    @property
    def done(self) -> bool:
        return self.status == "done"

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {**data.pop("extra"), **data}

    @classmethod
    def from_json(cls, data: dict[str, Any], name: str | None = None) -> "StageRecord":
        """``name`` (the folder) fills in files written before stage.json carried its own name."""
        known, extra = _split(cls, data)
        section = known.get("stage") or {}
        known.setdefault("name", name or section.get("name", "?"))
        known.setdefault("kind", section.get("kind", "prompt"))
        return cls(**known, extra=extra)
