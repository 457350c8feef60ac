"""``ModelOutputs``: what the model step of an eval (one per output type) hands to the metric step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ModelOutputs:
    predictions: list  # texts (generate), ChoiceScores (multiple_choice), RollingScores (rolling)
    references: list  # reference texts, target indices, or None per example
    samples: list[dict[str, Any]]  # one samples.jsonl row per example, before metric scores are added
    seconds: float  # model time, cache hits excluded
    throughput: dict[str, Any]  # examples_per_s, tokens_per_s, ... as measured
    cache: dict[str, Any]  # {"enabled", "hits", "misses"}
    generation: dict[str, Any] | None = None  # the GenerationConfig used (generate only)
    chat: bool | None = None  # whether prompts were in the chat template (generate only)
    groups: list[list] | None = None  # every sampled answer per example (generate, num_return_sequences > 1)
