"""Dropout on CPU with a cheaper random source: 16 random bits per element, four per 64-bit draw.

``nn.Dropout`` on CPU draws one Bernoulli sample per element (and inductor's
compiled dropout one Philox number per element, in a scalar loop); for LoRA's
input dropout that was the largest non-matmul cost of a training step on the
embedded model. Here one 64-bit Mersenne-Twister draw gives the keep/drop
decision for four elements: element i is kept when its 16 bits are at least
``round(p * 65536)``, so the drop probability is p to within 2**-17, and kept
values are scaled by the exact inverse keep probability (the layer stays
unbiased). The mask comes from torch's default generator, so ``torch.manual_seed``
and a resumed run's saved RNG state reproduce it.

The mask is filled in place by a custom op, so ``torch.compile`` treats it as a
side effect: it neither merges two masks for the same input (LoRA's q and v
dropouts see the same hidden states) nor recomputes one for the backward pass.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

_LEVELS = 1 << 16


def _threshold(p: float) -> int:
    return min(_LEVELS, round(p * _LEVELS))


@torch.library.custom_op("genlab::keep_mask_", mutates_args=("out",))
def keep_mask_(out: Tensor, p: float) -> None:
    """Fill the bool tensor ``out``: True (keep) with probability ``1 - p`` (p on a 2**-16 grid)."""
    n = out.numel()
    draws = torch.empty((n + 3) // 4, dtype=torch.int64, device=out.device).random_(-(1 << 63), (1 << 63) - 1)
    bits = draws.view(torch.int16)[:n].view(out.shape)
    torch.ge(bits, _threshold(p) - (1 << 15), out=out)  # uniform over [-2**15, 2**15): P = 1 - threshold / 2**16


def keep_mask(x: Tensor, p: float) -> Tensor:
    """A bool tensor shaped like ``x``, True with probability ``1 - p``; never merged or replayed by compile."""
    out = torch.empty(x.shape, dtype=torch.bool, device=x.device)
    keep_mask_(out, p)
    return out


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with the mask from :func:`keep_mask` on CPU (elsewhere, plain dropout)."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0 or x.device.type != "cpu" or self.inplace:
            return super().forward(x)
        kept = _LEVELS - _threshold(self.p)
        if kept == 0:
            return torch.zeros_like(x)
        return x * keep_mask(x, self.p) * (_LEVELS / kept)


@contextlib.contextmanager
def fast_dropout(model: nn.Module):
    """Swap every ``nn.Dropout`` (p > 0) in ``model`` for :class:`FastDropout` for the block; restore after."""
    swapped = []
    for module in model.modules():
        for name, child in module.named_children():
            if type(child) is nn.Dropout and child.p > 0:
                fast = FastDropout(child.p, child.inplace)
                fast.train(child.training)
                setattr(module, name, fast)
                swapped.append((module, name, child, fast))
    try:
        yield len(swapped)
    finally:
        for module, name, child, fast in swapped:
            child.train(fast.training)
            setattr(module, name, child)
