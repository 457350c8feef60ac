"""``TrainConfig``: one typed source of truth for the loop, read by the CLI, YAML and Python."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genlab.errors import ConfigError
from genlab.fields import check_fields

SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run. ``max_steps`` (optimizer steps) overrides ``epochs``."""

    lr: float = 2e-4
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 4  # examples per micro-batch, per process
    grad_accum: int = 1  # micro-batches per optimizer step
    warmup_ratio: float = 0.03
    schedule: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float | None = 1.0
    seed: int = 0
    eval_every: int | None = None  # optimizer steps; None: once per epoch
    save_every: int | None = None  # optimizer steps; None: once per epoch (and at the end)
    log_every: int = 1
    precision: str = "auto"
    early_stopping_patience: int | None = None  # evaluations without improvement before stopping
    max_seq_len: int = 512
    group_by_length: bool = True
    val_max_examples: int | None = 64  # validation subset size (loss and generation metric)
    val_generate: int = 16  # examples to generate for the validation metric (0: loss only)
    max_new_tokens: int = 64  # for the validation metric
    load_best: bool = True  # end with the weights of the best validation step
    compile: bool = False  # torch.compile each transformer block (dynamic shapes; slow first run, then cached)
    # deterministic kernels everywhere (torch.use_deterministic_algorithms); on CPU a fixed seed and thread
    # count already reproduce a run bit for bit, this covers GPU atomics, cuBLAS/cuDNN and inductor autotuning
    deterministic: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> "TrainConfig":
        positive = ("batch_size", "grad_accum", "max_seq_len", "log_every")
        for name in positive:
            if not getattr(self, name) > 0:
                _bad(name, getattr(self, name), "must be > 0")
        if not self.lr >= 0:  # lr 0 trains nothing: a check that the tuned path scores like the base
            _bad("lr", self.lr, "must be >= 0")
        for name in ("max_steps", "eval_every", "save_every", "early_stopping_patience", "val_max_examples"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v <= 0):
                _bad(name, v, "must be a positive integer or unset")
        if self.max_steps is None and not self.epochs > 0:
            _bad("epochs", self.epochs, "must be > 0 (or set max_steps)")
        if not 0 <= self.warmup_ratio < 1:
            _bad("warmup_ratio", self.warmup_ratio, "must be in [0, 1)")
        if self.schedule not in SCHEDULES:
            _bad("schedule", self.schedule, f"must be one of {', '.join(SCHEDULES)}")
        if self.precision not in PRECISIONS:
            _bad("precision", self.precision, f"must be one of {', '.join(PRECISIONS)}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            _bad("max_grad_norm", self.max_grad_norm, "must be > 0, or unset to disable clipping")
        if self.weight_decay < 0:
            _bad("weight_decay", self.weight_decay, "must be >= 0")
        return self

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "train config") -> "TrainConfig":
        """From YAML/JSON: unknown fields and wrongly typed values name the field (``lr: expected a number``)."""
        return cls(**check_fields(cls, dict(d), where))

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TrainConfig":
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise ConfigError(f"cannot read the train config: {e}", where=str(path)) from None
        if isinstance(data, dict) and isinstance(data.get("train"), dict):
            data = data["train"]  # a recipe may nest the loop settings under `train:`
        if not isinstance(data, dict):
            raise ConfigError("expected a mapping of TrainConfig fields, e.g. `lr: 2e-4`", where=str(path))
        return cls.from_dict(data, where=str(path))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


def _bad(name: str, value: Any, why: str) -> None:
    raise ConfigError(f"{name}={value!r} {why}", where=f"TrainConfig.{name}")
