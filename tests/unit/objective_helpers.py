"""One batch through a loop objective, as the training loop runs it (attach, collate, loss, detach)."""

from __future__ import annotations


def one_batch(objective, lm, examples):
    """(batch, mean loss, weight) of ``examples`` as one micro-batch of ``lm``'s model."""
    objective.attach(lm.model)
    try:
        batch = objective.collate(examples, lm.tokenizer.pad_token_id)
        loss, weight = objective.loss(lm.model, batch)
    finally:
        objective.detach()
    return batch, loss, weight
