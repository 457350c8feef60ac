"""Rewards for PPO: any callable ``reward(prompts, completions) -> list[float]`` with a ``name``.

Built in:

- ``RewardModelReward(path)`` — a trained reward model's scalar (``genlab.alignment.reward.RewardModel``);
- ``ToxicityReward()`` — ``−toxicity`` from the offline classifier (``alt-profanity-check``), for detoxifying;
- ``KeywordReward(words)`` — how often the completion uses the given words: a deliberately hackable
  proxy (the reward-hacking demonstration) and the toy reward of the tests.

``reward_from_spec("toxicity" | "keywords:thank,please" | "reward-model:PATH")`` builds one from a
recipe or command-line string.
"""

from __future__ import annotations

import re
from typing import Protocol, Sequence, runtime_checkable

from genlab.errors import ConfigError


@runtime_checkable
class Reward(Protocol):
    name: str

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]: ...


class KeywordReward:
    """``scale`` × occurrences of any of ``words`` (whole words, case-insensitive), capped at ``cap`` if set."""

    def __init__(self, words: Sequence[str], scale: float = 1.0, cap: float | None = None):
        words = [w.strip() for w in words if w and w.strip()]
        if not words:
            raise ConfigError("KeywordReward needs at least one word", where="reward",
                              hint="e.g. keywords:thank,please")
        self.words, self.scale, self.cap = words, scale, cap
        self._pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")", re.IGNORECASE)
        self.name = f"keywords:{','.join(words)}"

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        counts = [self.scale * len(self._pattern.findall(c)) for c in completions]
        return [min(c, self.cap) if self.cap is not None else c for c in counts]


class ToxicityReward:
    """``−toxicity(completion)`` in [−1, 0]: the offline classifier of ``genlab.holistic.toxicity`` by default."""

    def __init__(self, scorer=None):
        from genlab.holistic.toxicity import default_scorer

        self.scorer = scorer or default_scorer()
        self.name = f"-toxicity({self.scorer.name})"

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        return [-s for s in self.scorer.score(list(completions))]


class RewardModelReward:
    """The scalar of a reward model trained with ``genlab align reward`` (loaded once)."""

    def __init__(self, path: str):
        from genlab.alignment.reward import RewardModel

        self.model = RewardModel.load(path)
        self.name = f"reward-model:{path}"

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        return [float(s) for s in self.model.score(list(prompts), list(completions))]


def reward_from_spec(spec: str) -> Reward:
    kind, _, arg = spec.partition(":")
    if kind == "toxicity" and not arg:
        return ToxicityReward()
    if kind == "keywords" and arg:
        return KeywordReward(arg.split(","))
    if kind == "reward-model" and arg:
        return RewardModelReward(arg)
    raise ConfigError(f"unknown reward {spec!r}", where="reward",
                      hint="use toxicity, keywords:WORD,WORD or reward-model:PATH")
