"""The running batch: sequences decoding together over one left-padded KV cache.

Rows join after their prefill (both caches are padded on the left to the same
length and concatenated along the batch) and leave when done (their rows are
dropped, then columns that are padding in every row are cut). Positions come
from the attention mask, so a row's rotary positions do not depend on how
much padding sits in front of it:

    mask      (B, L)     1 = a real token in the cache
    next_ids  (B, 1)     the token each row feeds next (sampled, not yet in the cache)
    cache     per layer keys/values (B, kv_heads, L, head_dim), written in place by a decode step
              (``genlab.generation.kv_room``)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.generation.kv_room import RoomyLayer, with_room


class Batch:
    def __init__(self) -> None:
        self.seqs: list = []
        self.cache = None  # transformers DynamicCache
        self.mask: torch.Tensor | None = None
        self.next_ids: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.seqs)

    def add(self, seqs: list, cache, mask: torch.Tensor, next_ids: torch.Tensor) -> None:
        """Join rows whose prefill made ``cache`` (padded on the left, like ``mask``)."""
        if not self.seqs:
            self.seqs, self.cache, self.mask, self.next_ids = list(seqs), with_room(cache), mask, next_ids
            return
        width = max(self.mask.shape[1], mask.shape[1])
        for old, new in zip(self.cache.layers, cache.layers):
            old.keys = torch.cat([_pad_left(old.keys, width), _pad_left(new.keys, width)])
            old.values = torch.cat([_pad_left(old.values, width), _pad_left(new.values, width)])
        self.mask = torch.cat([F.pad(self.mask, (width - self.mask.shape[1], 0)), F.pad(mask, (width - mask.shape[1], 0))])
        self.next_ids = torch.cat([self.next_ids, next_ids])
        self.seqs += list(seqs)

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows``, then cut the leading columns no kept row uses."""
        if not rows:
            self.__init__()
            return
        idx = torch.tensor(rows, device=self.mask.device)
        self.seqs = [self.seqs[i] for i in rows]
        self.mask, self.next_ids = self.mask[idx], self.next_ids[idx]
        start = int((self.mask.sum(0) > 0).nonzero()[0]) if self.mask.any() else self.mask.shape[1]
        self.mask = self.mask[:, start:]
        for layer in self.cache.layers:
            layer.keys, layer.values = layer.keys[idx, :, start:], layer.values[idx, :, start:]

    def kv_bytes(self) -> int:
        if self.cache is None:
            return 0
        return sum(layer.allocated_bytes() if isinstance(layer, RoomyLayer)
                   else sum(t.numel() * t.element_size() for t in (layer.keys, layer.values) if t is not None)
                   for layer in self.cache.layers)

    def step_inputs(self) -> dict:
        """Model inputs for one decode step: the pending token of every row at its own position."""
        positions = self.mask.sum(1, keepdim=True)
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        return dict(input_ids=self.next_ids, attention_mask=self.mask, position_ids=positions,
                    cache=self.cache, use_cache=True)


def _pad_left(t: torch.Tensor, width: int) -> torch.Tensor:
    """(B, H, L, D) -> (B, H, width, D), zeros in front."""
    return F.pad(t, (0, 0, width - t.shape[2], 0))


def prefill_inputs(rows: list[list[int]], pad_id: int, device) -> dict:
    """Left-padded prompts with positions counted from each row's first real token."""
    width = max(map(len, rows))
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], device=device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    return dict(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
