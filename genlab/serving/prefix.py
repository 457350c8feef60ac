"""Prefix caching: prompts that begin alike reuse the keys and values already computed for that beginning.

A chat template's system prompt, a task's instruction, few-shot examples: requests to one server often
share their first tokens (33 of the ~200 in each support-summary chat prompt). Like vLLM's automatic
prefix caching, the engine keeps the KV of recent prompts (``PrefixStore``: per adapter, least recently
used first out, bounded in bytes) and a prefill run computes only what follows the first ``P`` tokens when
each adapter's rows in it begin with ``P >= MIN_TOKENS`` tokens of a prompt stored for that adapter. Two
or more rows sharing such a beginning that nothing stored matches compute it once (one row) and store it.

The run's rows are left-padded to end together (width ``W``, as in a plain prefill) and cut at column
``P``: columns before ``P`` come from the stored KV, columns from ``P`` on are fed to the model. A row
with ``a`` pads holds ``prefix[:P-a]`` in the cache part and ``prefix[P-a:] + rest`` in the fed part
(all pads in the cache part when ``a >= P``):

    row with a pads:  [pad]*a + prefix[:P-a] | prefix[P-a:] + rest
                      <------ cache: P ----->  <---- fed: W - P ---->

Keys and values at a position depend only on the tokens up to it, so this is the same computation as
prefilling whole prompts; only the rounding differs (another batch shape).
"""

from __future__ import annotations

from collections import OrderedDict

import torch

MIN_TOKENS = 16  # shorter shared beginnings are prefilled with the rest
BUDGET_BYTES = 256 * 2**20  # stored KV, over all adapters
MAX_TOKENS = 1024  # tokens of one prompt kept


class PrefixStore:
    def __init__(self, budget_bytes: int = BUDGET_BYTES, min_tokens: int = MIN_TOKENS) -> None:
        self.budget, self.min_tokens = budget_bytes, min_tokens
        self.entries: OrderedDict[tuple, list[tuple[torch.Tensor, torch.Tensor]]] = OrderedDict()
        self.reused_tokens = 0  # prompt tokens not prefilled thanks to the store (or a shared run)
        self._bytes = 0  # of the entries, kept as they come and go

    def clear(self) -> None:
        self.entries.clear()
        self._bytes = 0

    def nbytes(self) -> int:
        return self._bytes

    def match(self, adapter: str | None, prompts: list[list[int]]) -> tuple[int, list] | None:
        """The longest stored beginning every prompt shares (at least ``min_tokens``, and leaving each prompt
        one token to feed): ``(P, per-layer (keys, values) of 1 row and >= P positions)``, or None."""
        cap = min(map(len, prompts)) - 1
        best, hit = 0, None
        for key in self.entries:
            adapter_of, ids = key
            if adapter_of != adapter:
                continue
            p = min(min(common_length(ids, t) for t in prompts), cap)
            if p > best:
                best, hit = p, key
        if hit is None or best < self.min_tokens:
            return None
        self.entries.move_to_end(hit)
        return best, self.entries[hit]

    def add(self, adapter: str | None, ids: list[int], kv: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Keep the KV of ``ids`` (1 row, ``len(ids)`` positions; at most ``MAX_TOKENS`` are kept). A tensor that
        is a view of a larger one (rows of a batch's cache) is copied, so that the store does not hold the rest;
        one that is all of its storage (a beginning prefilled alone) is kept as it is: nobody writes into a
        cache's tensors (a decode step writes into buffers of its own, ``genlab.generation.kv_room``)."""
        n = min(len(ids), MAX_TOKENS)
        if n < self.min_tokens:
            return
        kv = [(_own(k[:1, :, :n]), _own(v[:1, :, :n])) for k, v in kv]
        size = _nbytes(kv)
        if size > self.budget:
            return
        key = (adapter, tuple(ids[:n]))
        for old in [k for k in self.entries if k[0] == adapter and len(k[1]) <= n and key[1][:len(k[1])] == k[1]]:
            self._bytes -= _nbytes(self.entries.pop(old))  # the new prompt extends it (a conversation's next turn)
        if key in self.entries:
            self._bytes -= _nbytes(self.entries.pop(key))
        self.entries[key] = kv
        self._bytes += size
        while self._bytes > self.budget:
            self._bytes -= _nbytes(self.entries.popitem(last=False)[1])


def common_length(a, b) -> int:
    """How many tokens ``a`` and ``b`` share from the start."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def shared_beginning(prompts: list[list[int]]) -> int:
    """Tokens every prompt shares from the start, leaving each at least one."""
    first = prompts[0]
    return min(min(common_length(first, t) for t in prompts), min(map(len, prompts)) - 1)


def rows_cache(kv_rows: list[list[tuple[torch.Tensor, torch.Tensor]]], mask: torch.Tensor, length: int):
    """A transformers cache holding the first ``length`` columns of each left-padded row of ``mask`` (B, W):
    row ``i``'s real tokens there are the first ``length - pads_i`` positions of ``kv_rows[i]`` (its adapter's
    beginning; per layer (keys, values) of 1 row), right-aligned. Pad columns copy the beginning's first
    position (finite values under a zero mask)."""
    from transformers.cache_utils import DynamicCache

    b = mask.shape[0]
    pads = (mask.shape[1] - mask.sum(1)).clamp(max=length)  # (B,)
    src = (torch.arange(length, device=mask.device)[None, :] - pads[:, None]).clamp(min=0)  # (B, length)
    distinct = {id(kv): kv for kv in kv_rows}
    layers = []
    for i in range(len(kv_rows[0])):
        if len(distinct) == 1:
            k, v = (t[:, :, :length].expand(b, -1, -1, -1) for t in kv_rows[0][i])
        else:
            k, v = (torch.cat([kv[i][j][:, :, :length] for kv in kv_rows]) for j in (0, 1))
        idx = src[:, None, :, None].expand(b, k.shape[1], length, k.shape[3])
        layers.append((k.gather(2, idx), v.gather(2, idx)))
    return DynamicCache(ddp_cache_data=layers)


def plain_layers(cache) -> bool:
    """Whether every layer of ``cache`` is a plain full-attention one (no sliding window, no quantization)."""
    from transformers.cache_utils import DynamicLayer

    return all(type(layer) is DynamicLayer and layer.is_initialized for layer in cache.layers)


def _own(t: torch.Tensor) -> torch.Tensor:
    """``t``, copied unless it is contiguous and the whole of its storage."""
    size = t.numel() * t.element_size()
    return t if t.is_contiguous() and t.storage_offset() == 0 and t.untyped_storage().nbytes() == size else t.clone()


def _nbytes(kv) -> int:
    return sum(t.numel() * t.element_size() for pair in kv for t in pair)
