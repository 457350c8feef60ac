"""``GenerationConfig``: one typed object for CLI flags, YAML and Python.

Validation raises ``ConfigError`` naming the field and the fix, e.g.
``temperature: must be > 0 when sampling (got 0); use --greedy for deterministic output``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from genlab.errors import ConfigError


@dataclass
class GenerationConfig:
    """How to turn logits into text.

    Greedy (``do_sample=False``) picks argmax each step. Sampling draws from
    ``softmax(logits / temperature)`` restricted to the ``top_k`` most likely
    tokens and to the smallest set whose probability mass reaches ``top_p``.
    ``repetition_penalty`` > 1 divides positive logits of already-seen tokens
    (CTRL, Keskar et al. 2019).
    """

    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0  # 0 = no top-k filtering
    top_p: float = 1.0  # 1.0 = no nucleus filtering
    repetition_penalty: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int = 0
    num_return_sequences: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            self.stop = [self.stop]
        self.validate()

    def validate(self, where: str | None = None) -> "GenerationConfig":
        def bad(name: str, msg: str, hint: str | None = None):
            raise ConfigError(f"{name}: {msg} (got {getattr(self, name)!r})", where=where, hint=hint)

        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            bad("max_new_tokens", "must be a whole number >= 1")
        if not isinstance(self.temperature, (int, float)) or self.temperature < 0:
            bad("temperature", "must be a number >= 0")
        if self.do_sample and self.temperature <= 0:
            bad("temperature", "must be > 0 when sampling",
                "use greedy decoding (do_sample=false / --greedy) for deterministic output, or a temperature like 0.7")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            bad("top_k", "must be a whole number >= 0 (0 turns top-k off)")
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            bad("top_p", "must be in (0, 1] (1 turns nucleus sampling off)")
        if not isinstance(self.repetition_penalty, (int, float)) or self.repetition_penalty <= 0:
            bad("repetition_penalty", "must be > 0 (1.0 means no penalty)")
        if not isinstance(self.num_return_sequences, int) or self.num_return_sequences < 1:
            bad("num_return_sequences", "must be a whole number >= 1")
        if self.num_return_sequences > 1 and not self.do_sample:
            bad("num_return_sequences", "greedy decoding returns the same text every time",
                "turn sampling on (do_sample=true / --sample) to get several different sequences")
        if not isinstance(self.seed, int):
            bad("seed", "must be a whole number")
        if not all(isinstance(s, str) and s for s in self.stop):
            bad("stop", "must be a list of non-empty strings")
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str | None = None) -> "GenerationConfig":
        """Build from a YAML/JSON mapping; unknown keys are an error, not ignored."""
        data = dict(data or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown generation setting(s): {', '.join(unknown)}", where=where,
                              hint=f"known settings: {', '.join(sorted(names))}")
        try:
            return cls(**data)
        except ConfigError as e:
            raise ConfigError(e.message, where=where, hint=e.hint) from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "GenerationConfig":
        return dataclasses.replace(self, **changes)

    def to_hf(self, tokenizer):
        """The equivalent ``transformers.GenerationConfig``."""
        from transformers import GenerationConfig as HFGenerationConfig

        kwargs: dict[str, Any] = dict(
            max_new_tokens=self.max_new_tokens,
            do_sample=self.do_sample,
            num_return_sequences=self.num_return_sequences,
            repetition_penalty=self.repetition_penalty,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        if self.do_sample:
            # top_k=0, not None: transformers fills an unset top_k with 50, which would truncate the
            # distribution that top_k=0 promises whole (and that PPO's log-probs assume)
            kwargs.update(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)
        else:
            kwargs.update(temperature=None, top_k=None, top_p=None)
        if self.stop:
            kwargs["stop_strings"] = list(self.stop)
        return HFGenerationConfig(**kwargs)


SAMPLING_FIELDS = ("temperature", "top_k", "top_p")


def implied_sampling(settings: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Settings typed on a command line, with ``do_sample`` filled in as OpenAI's API and vLLM read them:
    a temperature above 0, a ``top_k`` or a ``top_p`` below 1 without ``do_sample`` means sampling; temperature
    0 means greedy. (``GenerationConfig`` itself keeps ``do_sample`` explicit; transformers only warns that a
    temperature without ``do_sample`` is ignored.) Returns the settings and a line saying what was implied."""
    if "do_sample" in settings:
        return settings, None
    given = {k: settings[k] for k in SAMPLING_FIELDS if settings.get(k) is not None}
    if not given:
        return settings, None
    out = dict(settings)
    if given.get("temperature") == 0:
        out.pop("temperature")
        return {**out, "do_sample": False}, "temperature 0: greedy decoding"
    if "temperature" not in given and given.get("top_k", 0) == 0 and given.get("top_p", 1.0) == 1.0:
        return settings, None  # top_k=0 / top_p=1 only say "no filtering"
    named = ", ".join(f"{k}={v}" for k, v in given.items())
    return {**out, "do_sample": True}, f"sampling ({named} given without do_sample/--greedy)"
