"""What the loop minimizes: an ``Objective`` turns examples into batches and a batch into a loss.

The loop (``tuning/loop.py``) owns everything else — order, accumulation, the
optimizer, checkpoints, validation, logging, Ctrl-C — so fine-tuning, reward
models, DPO, distillation and pre-training share one loop and differ only here:

    class Objective(Protocol):
        def length(self, example) -> int          # for length-grouped batch order
        def collate(self, examples, pad_id) -> dict[str, Tensor]
        def loss(self, model, batch) -> (mean loss, weight)   # weight: tokens or pairs, for validation means
        def tokens(self, batch) -> int            # tokens processed, for tok/s
        def logs(self) -> dict[str, float]        # extra scalars of the last loss() call (margins, KL, ...)
        def attach(self, model) / detach()        # hooks around the run (e.g. the completion head)

``CompletionObjective`` is supervised fine-tuning's: cross-entropy on completion
tokens (or a classifier's labels). Other packages pass their own to ``train(...,
objective=...)``; the examples they put in ``train_set`` can be any objects their
objective can ``collate``.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import torch

from genlab.tuning.data import Example, collate
from genlab.tuning.loss import CompletionHead, completion_loss


class Objective(Protocol):
    def length(self, example) -> int: ...

    def collate(self, examples: Sequence, pad_id: int) -> dict[str, torch.Tensor]: ...

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]: ...

    def tokens(self, batch: dict[str, torch.Tensor]) -> int: ...

    def logs(self) -> dict[str, float]: ...

    def attach(self, model) -> None: ...

    def detach(self) -> None: ...


class BaseObjective:
    """Defaults for the optional parts: length = len(example), tokens = attention-mask sum, no extra logs."""

    def length(self, example) -> int:
        return len(example)

    def tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["attention_mask"].sum())

    def logs(self) -> dict[str, float]:
        return {}

    def attach(self, model) -> None:
        pass

    def detach(self) -> None:
        pass


class CompletionObjective(BaseObjective):
    """Cross-entropy on completion tokens (``causal`` / ``seq2seq``) or class labels (``classifier``)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._head: CompletionHead | None = None

    def collate(self, examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
        return collate(examples, pad_id, self.kind)

    def attach(self, model) -> None:
        if self.kind != "classifier":
            self._head = CompletionHead(model)

    def detach(self) -> None:
        if self._head is not None:
            self._head.remove()
            self._head = None

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        return completion_loss(model, batch, self.kind, self._head)


def mean_logs(rows: list[dict[str, float]]) -> dict[str, float]:
    """Average each extra scalar over a step's micro-batches."""
    keys = {k for r in rows for k in r}
    return {k: sum(r[k] for r in rows if k in r) / sum(1 for r in rows if k in r) for k in sorted(keys)}
