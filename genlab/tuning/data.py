"""Prompt–completion pairs → token ids with prompt positions masked, and length-grouped batches.

Causal LM: ``input = prompt + target + eos``, ``labels = [-100]*len(prompt) + target + eos``.
Seq2seq: ``input = prompt``, ``labels = target + eos`` (the decoder reads the shifted labels).
Classification: ``input = prompt``, ``label = class index``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch

from genlab.errors import DataError

IGNORE = -100


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int] | int  # token labels (-100 on the prompt) or a class index

    def __len__(self) -> int:
        return len(self.input_ids)


def pairs_of(items: Iterable) -> list[tuple[str, str]]:
    """Accept ``Request``-like objects (``.prompt``, ``.target``), dicts or (prompt, target) tuples."""
    out = []
    for i, it in enumerate(items):
        if isinstance(it, (tuple, list)):
            prompt, target = it
        elif isinstance(it, dict):
            prompt, target = it.get("prompt"), it.get("target")
        else:
            prompt, target = getattr(it, "prompt", None), getattr(it, "target", None)
        if not isinstance(prompt, str) or target is None:
            raise DataError(f"training pair {i} has no prompt/target text", where=f"pair {i}",
                            hint="each item needs .prompt (str) and .target (str)")
        out.append((prompt, target if isinstance(target, str) else str(target)))
    return out


def encode(pairs: Sequence[tuple[str, str]], tokenizer, kind: str, max_seq_len: int,
           labels: Sequence[str] | None = None) -> list[Example]:
    """Tokenize pairs for ``kind`` (causal | seq2seq | classifier); the prompt is cut from the left."""
    return [_encode_one(p, t, tokenizer, kind, max_seq_len, labels, i) for i, (p, t) in enumerate(pairs)]


def _encode_one(prompt, target, tok, kind, max_len, labels, i) -> Example:
    p = tok(prompt)["input_ids"]  # special tokens as generation will see them
    if kind == "classifier":
        if target not in labels:
            raise DataError(f"label {target!r} is not one of {list(labels)}", where=f"pair {i}")
        return Example(p[-max_len:], labels.index(target))
    eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
    t = tok(target, add_special_tokens=False)["input_ids"] + eos
    if kind == "seq2seq":
        return Example(p[-max_len:], t[:max_len])
    t = t[:max_len - 1]
    p = p[-(max_len - len(t)):]
    return Example(p + t, [IGNORE] * len(p) + t)


def batch_order(lengths: Sequence[int], batch_size: int, seed: int, epoch: int, group: bool = True) -> list[list[int]]:
    """Indices of each micro-batch for one epoch; a pure function of (seed, epoch) so resume can replay it.

    Length grouping (as in HF ``group_by_length``): shuffle, cut into mega-batches of
    50 batches, sort each by length, cut into batches, shuffle the batch order.
    Similar lengths share a batch, so padding wastes little compute.
    """
    rng = random.Random(seed * 100_003 + epoch)
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    if group:
        mega = 50 * batch_size
        idx = [j for k in range(0, len(idx), mega)
               for j in sorted(idx[k:k + mega], key=lambda j: -lengths[j])]
    batches = [idx[k:k + batch_size] for k in range(0, len(idx), batch_size)]
    if group:
        rng.shuffle(batches)
    return batches


def collate(examples: Sequence[Example], pad_id: int, kind: str) -> dict[str, torch.Tensor]:
    """Right-pad a micro-batch. Returns input_ids, attention_mask (B, T) and labels (B, T') or (B,)."""
    T = max(len(e) for e in examples)
    ids = torch.full((len(examples), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), T), dtype=torch.long)
    for i, e in enumerate(examples):
        ids[i, :len(e)] = torch.tensor(e.input_ids)
        mask[i, :len(e)] = 1
    if kind == "classifier":
        labels = torch.tensor([e.labels for e in examples], dtype=torch.long)
    else:
        L = max(len(e.labels) for e in examples)
        labels = torch.full((len(examples), L), IGNORE, dtype=torch.long)
        for i, e in enumerate(examples):
            labels[i, :len(e.labels)] = torch.tensor(e.labels)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
