"""``PretrainConfig``: what to pre-train on what (the loop's own settings stay in ``genlab.tuning.TrainConfig``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from genlab.errors import ConfigError
from genlab.pretraining.models import OBJECTIVES, parse_size

METHODS = ("full", "lora")


@dataclass
class PretrainConfig:
    """One pre-training run. ``from_model`` set: continued pre-training of that model (its tokenizer)."""

    objective: str = "causal"  # causal | masked | span
    size: str = "128x4"  # WIDTHxLAYERS of a new model (ignored with from_model)
    corpus: str = "builtin"  # builtin[:support,chat,reviews] | FILE | FOLDER | hf:NAME, comma-separated
    docs: int | None = 4000  # documents to read (the built-in corpus generates this many)
    text_field: str | None = None  # row field with the text (JSONL/CSV/Parquet/hub); None: found (corpus.TEXT_FIELDS)
    heldout: float = 0.05  # share of documents held out (by hash of the text)
    block_size: int = 128  # tokens per packed block
    tokenizer: str = "bpe:4096"  # bpe:SIZE trained on the corpus, or a model whose tokenizer is reused
    tokens: int | None = None  # training tokens (sets max_steps); None: TrainConfig.epochs over the corpus
    val_blocks: int = 128  # held-out blocks scored at each validation
    from_model: str | None = None  # continued pre-training: a model name/folder
    method: str = "full"  # full | lora (continued pre-training)
    lora_r: int = 16
    general: str | None = None  # continued: general text for the forgetting check (default: built-in reviews+chat)
    task: str | None = None  # continued: downstream task scored before/after
    n_task: int = 30  # its examples
    seed: int = 0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            _bad("objective", self.objective, f"must be one of {', '.join(OBJECTIVES)}")
        if self.from_model is None:
            parse_size(self.size)
        elif self.objective != "causal":
            _bad("objective", self.objective, "continued pre-training (--from) trains a decoder: use causal")
        if self.method not in METHODS:
            _bad("method", self.method, f"must be one of {', '.join(METHODS)}")
        if not 0 < self.heldout < 1:
            _bad("heldout", self.heldout, "must be between 0 and 1 (e.g. 0.05)")
        for name in ("block_size", "val_blocks", "lora_r", "n_task"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                _bad(name, getattr(self, name), "must be a whole number >= 1")
        if self.block_size < 8:
            _bad("block_size", self.block_size, "must be at least 8")
        for name in ("docs", "tokens"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                _bad(name, v, "must be a whole number >= 1, or unset")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "PretrainConfig":
        return dataclasses.replace(self, **changes)


def _bad(name: str, value: Any, why: str) -> None:
    raise ConfigError(f"{name}={value!r} {why}", where=f"PretrainConfig.{name}")
