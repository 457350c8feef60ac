"""The sampling filters, written out so ``genlab inspect next-token`` can show each step.

Given logits z over the vocabulary:
  temperature:  z' = z / T                       (T < 1 sharpens, T > 1 flattens)
  top-k:        keep the k largest z', set the rest to -inf
  top-p:        sort by probability, keep the smallest prefix whose mass reaches p
                (the first token is always kept), set the rest to -inf
The order (temperature, top-k, top-p) is transformers' warper order, and the
results equal its ``TemperatureLogitsWarper``/``TopKLogitsWarper``/``TopPLogitsWarper``.
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    return logits / temperature


def top_k_mask(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask (same shape as logits, (..., V)) of tokens kept by top-k; k=0 keeps all."""
    if k <= 0 or k >= logits.shape[-1]:
        return torch.ones_like(logits, dtype=torch.bool)
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits >= kth


def top_p_mask(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Boolean mask of tokens kept by nucleus sampling with mass ``p``; p=1 keeps all."""
    if p >= 1.0:
        return torch.ones_like(logits, dtype=torch.bool)
    # transformers' formulation: sort ascending, drop tokens whose cumulative mass <= 1 - p
    sorted_logits, sorted_idx = torch.sort(logits, descending=False, dim=-1)
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cum <= (1 - p)
    remove_sorted[..., -1:] = False  # always keep the most likely token
    remove = remove_sorted.scatter(-1, sorted_idx, remove_sorted)
    return ~remove


def min_p_mask(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Boolean mask of tokens at least ``min_p`` times as likely as the most likely one (Nguyen et al. 2024;
    transformers' ``MinPLogitsWarper``, vLLM's ``min_p``); 0 keeps all."""
    if min_p <= 0:
        return torch.ones_like(logits, dtype=torch.bool)
    probs = logits.softmax(dim=-1)
    return probs >= min_p * probs.amax(dim=-1, keepdim=True)


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0):
    """Apply temperature, then top-k, then top-p. Returns (filtered logits, kept-by-k, kept-by-p)."""
    z = apply_temperature(logits.float(), temperature)
    keep_k = top_k_mask(z, top_k)
    z = z.masked_fill(~keep_k, NEG_INF)
    keep_p = top_p_mask(z, top_p)
    z = z.masked_fill(~keep_p, NEG_INF)
    return z, keep_k, keep_p & keep_k
