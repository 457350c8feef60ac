"""``EvalConfig``: the one way to say how to evaluate, from CLI flags, recipe YAML and Python alike.

    cfg = EvalConfig(n=100, batch_size=16)                 # Python
    cfg = EvalConfig.from_dict(recipe["eval"], where=...)  # YAML
    evaluate(lm, "support-summary", cfg.replace(shots=3))

Every stage of a recipe, the tuned model, the forgetting suite before and after
tuning and ``genlab eval`` read the same fields, so their numbers compare like
with like: the same examples (``split``, ``n``, ``seed``), the same batching
(left padding moves logits), the same precision.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from genlab.errors import ConfigError

PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class EvalConfig:
    split: str = "test"
    n: int | None = None  # the first n examples (after the seeded order); None: the whole split
    shots: int | None = None  # None: the task's default_shots
    seed: int = 0  # picks the few-shot examples and seeds the bootstrap; same seed, same examples
    batch_size: int = 16
    batch_invariant: bool = False  # each answer as its prompt alone gives it (genlab.generation.invariant)
    precision: str = "auto"  # auto = bf16 where it is fast (AMX CPU, bf16 GPU), else fp32
    cache: bool = True  # reuse identical generations from the generation cache
    chat: bool | None = None  # None: the task's setting
    template: int | str = 0  # the task's prompt variant, by index or name
    generation: dict[str, Any] = field(default_factory=dict)  # overrides of the task's GenerationConfig
    n_resamples: int = 1000  # bootstrap resamples for the 95% intervals
    cot: bool = False  # chain-of-thought prompts and answer extraction (genlab.evaluation.reasoning)
    pal: bool = False  # program-aided: the model writes Python, run in the sandbox
    self_consistency: int = 1  # k > 1: k sampled answers per prompt, majority vote

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, where: str = "EvalConfig") -> "EvalConfig":
        def bad(name: str, msg: str, hint: str | None = None):
            raise ConfigError(f"{msg} (got {getattr(self, name)!r})", where=f"{where}.{name}", hint=hint)

        if not isinstance(self.split, str) or not self.split:
            bad("split", "must be a split name", "e.g. test, validation")
        if self.n is not None and (not _whole(self.n) or self.n < 1):
            bad("n", "must be a whole number >= 1, or left out for the whole split")
        if self.shots is not None and (not _whole(self.shots) or self.shots < 0):
            bad("shots", "must be a whole number >= 0")
        if not _whole(self.seed):
            bad("seed", "must be a whole number")
        if not _whole(self.batch_size) or self.batch_size < 1:
            bad("batch_size", "must be a whole number >= 1")
        if self.precision not in PRECISIONS:
            bad("precision", f"must be one of {', '.join(PRECISIONS)}")
        if not isinstance(self.cache, bool):
            bad("cache", "must be true or false")
        if not isinstance(self.batch_invariant, bool):
            bad("batch_invariant", "must be true or false")
        if self.chat is not None and not isinstance(self.chat, bool):
            bad("chat", "must be true, false, or left out for the task's setting")
        if not isinstance(self.template, (int, str)) or isinstance(self.template, bool):
            bad("template", "must be a variant index or name")
        if not isinstance(self.generation, dict):
            bad("generation", "must map GenerationConfig fields to values", "e.g. generation: {max_new_tokens: 64}")
        if self.generation:
            from genlab.generation import GenerationConfig

            GenerationConfig.from_dict(self.generation, where=f"{where}.generation")
        if not _whole(self.n_resamples) or self.n_resamples < 1:
            bad("n_resamples", "must be a whole number >= 1")
        for name in ("cot", "pal"):
            if not isinstance(getattr(self, name), bool):
                bad(name, "must be true or false")
        if self.cot and self.pal:
            bad("pal", "cannot be combined with cot: pick one way to reason", "cot: true, or pal: true")
        if not _whole(self.self_consistency) or self.self_consistency < 1:
            bad("self_consistency", "must be a whole number >= 1 (1: one answer, no vote)")
        if (self.generation or {}).get("num_return_sequences", 1) != 1 and (self.cot or self.pal
                                                                            or self.self_consistency > 1):
            bad("generation", "num_return_sequences (several answers, scored as their mean) cannot be combined "
                "with cot, pal or self_consistency", "sample several reasoned answers and vote with "
                "self_consistency: K instead")
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "EvalConfig") -> "EvalConfig":
        data = dict(data or {})
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(f"unknown eval setting(s): {', '.join(unknown)}", where=where,
                              hint=f"allowed: {', '.join(names)}")
        obj = cls.__new__(cls)  # validate under the caller's name for the error, not "EvalConfig"
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            object.__setattr__(obj, f.name, data.get(f.name, default))
        return obj.validate(where)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "EvalConfig":
        return dataclasses.replace(self, **changes)

    def template_key(self) -> int | str:
        """``"3"`` from a command line means variant 3; other text is a variant name."""
        t = self.template
        return int(t) if isinstance(t, str) and t.isdigit() else t


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
