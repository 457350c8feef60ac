"""Shared helpers for the tuning tests: a toy task and tiny-model builders."""

from __future__ import annotations

from dataclasses import dataclass

WORDS = ["cat", "dog", "sun", "refund", "order", "late", "mat", "log", "four", "two"]


@dataclass
class Req:
    prompt: str
    target: str
    doc_id: int = 0


def toy_pairs(n: int = 24, seed: int = 0) -> list[tuple[str, str]]:
    """A learnable mapping: the answer repeats the question's word."""
    return [(f"Question: say {WORDS[(i + seed) % len(WORDS)]} twice. Answer:",
             f" {WORDS[(i + seed) % len(WORDS)]} {WORDS[(i + seed) % len(WORDS)]}") for i in range(n)]


class ToyTask:
    """Duck-typed like genlab.tasks' Task: training_pairs(split, n, seed) and metric names; the
    classification variant is a neg/pos multiple-choice task that ``evaluate`` scores through the head."""

    name = "toy"
    metrics = ["exact_match"]
    output_type = "generate_until"
    postprocess = None

    def __init__(self, n: int = 24, classification: bool = False):
        self.n, self.classification = n, classification
        if classification:
            self.output_type, self.metrics = "multiple_choice", ["acc"]

    def requests(self, split="test", *, n=None, **_):
        from genlab.tasks import Request

        labels = ["neg", "pos"]
        return [Request(r.doc_id, r.prompt, r.target, choices=[f" {c}" for c in labels],
                        target_index=labels.index(r.target)) for r in self.training_pairs(split, n)]

    def training_pairs(self, split="train", n=None, seed=0, **_):
        off = {"train": 0, "validation": 3, "test": 5}[split]
        pairs = toy_pairs(self.n, off)
        if self.classification:
            pairs = [(p, "pos" if i % 2 else "neg") for i, (p, _) in enumerate(pairs)]
        return [Req(p, t, i) for i, (p, t) in enumerate(pairs[:n])]
