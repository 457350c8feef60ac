"""Dynamic int8 ``Linear`` on CPU: the one module that touches ``torch.ao`` (deprecated upstream).

Weights are stored int8 per output channel, ``W ≈ s_j · q_j`` with ``s_j = max|W_j| / 127``
(symmetric, zero point 0, so ``|W - s·q| ≤ s/2`` element-wise); activations are quantized
per call (dynamic), and fbgemm's int8 GEMM does the matmul. On the embedded model this
decoded ~2.6x faster than fp32 at batch 1 (one thread). torchao's int8 configs replace
this upstream, but were slower than fp32 without ``torch.compile`` on this machine and are
not installed here; when ``torch.ao`` goes away, only this file changes.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings

import torch
from torch import nn

QMAX = 127


def unavailable_reason() -> str | None:
    """Why dynamic int8 cannot run here (None when it can)."""
    engines = [e for e in torch.backends.quantized.supported_engines if e in ("fbgemm", "x86", "onednn", "qnnpack")]
    if not engines:
        return f"this torch build ({torch.__version__}) has no quantized CPU engine (fbgemm/x86/onednn/qnnpack)"
    try:
        with _quiet():
            importlib.import_module("torch.ao.nn.quantized.dynamic")
    except ImportError:
        return f"torch {torch.__version__} no longer ships torch.ao.nn.quantized.dynamic"
    return None


@contextlib.contextmanager
def _quiet():
    """torch.ao warns on use that it is deprecated: said once in this module's docstring instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class Int8Linear(nn.Module):
    """``y = x Wᵀ + b`` on int8 weights. Inputs of any float dtype are computed in fp32 and cast back,
    so the layer also works inside bf16 autocast (where attention hands it bf16 activations)."""

    def __init__(self, qweight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

        out_features, in_features = qweight.shape
        self.in_features, self.out_features = in_features, out_features
        with _quiet():
            self.inner = DynamicLinear(in_features, out_features, bias_=bias is not None, dtype=torch.qint8)
            self.inner.set_weight_bias(qweight, None if bias is None else bias.detach().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.float().reshape(-1, self.in_features)
        y = self._by_scale(rows) if rows.shape[0] > 1 else self.inner(rows)
        y = y.reshape(*x.shape[:-1], self.out_features)
        return y if x.dtype == torch.float32 else y.to(x.dtype)

    def _by_scale(self, rows: torch.Tensor) -> torch.Tensor:
        """fbgemm quantizes a call's whole input with one scale. A few tokens (the first one, some
        delimiters) carry activations 100x larger than the rest, and one scale for all would leave
        the others a handful of int8 levels (perplexity of the embedded model +150%). So rows go in
        groups whose max |x| lies within the same power of two: every token is quantized with a
        scale at most 2x its own. Decoding (one row per call) makes one call."""
        bucket = torch.floor(torch.log2(rows.abs().amax(1).clamp(min=1e-12)))
        keys = bucket.unique()
        if len(keys) == 1:
            return self.inner(rows)
        out = rows.new_empty(rows.shape[0], self.out_features)
        for key in keys:
            idx = (bucket == key).nonzero().squeeze(1)
            out[idx] = self.inner(rows.index_select(0, idx))
        return out

    def weight_int8(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(int8 weight (out, in), fp32 scale per output row)."""
        w = self.inner.weight()
        return w.int_repr(), w.q_per_channel_scales().float()

    def bias(self) -> torch.Tensor | None:
        return self.inner.bias()

    def dequantized(self) -> torch.Tensor:
        return self.inner.weight().dequantize()

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per-channel"


def scales_of(weight: torch.Tensor) -> torch.Tensor:
    """Per-output-row scale ``max|W_j| / 127`` (a zero row gets scale 1 so nothing divides by 0)."""
    amax = weight.detach().float().abs().amax(dim=1)
    return torch.where(amax > 0, amax / QMAX, torch.ones_like(amax))


def from_linear(linear: nn.Linear) -> Int8Linear:
    w = linear.weight.detach().float()
    scales = scales_of(w)
    with _quiet():
        q = torch.quantize_per_channel(w, scales.double(), torch.zeros(len(scales), dtype=torch.long), 0, torch.qint8)
    return Int8Linear(q, linear.bias)


def from_int8(weight: torch.Tensor, scales: torch.Tensor, bias: torch.Tensor | None) -> Int8Linear:
    """Rebuild a layer from saved tensors (``weight_int8`` (out, in) int8, ``scales`` (out,))."""
    zeros = torch.zeros(len(scales), dtype=torch.long)
    with _quiet():
        q = torch._make_per_channel_quantized_tensor(weight.to(torch.int8), scales.double(), zeros, 0)
    return Int8Linear(q, bias)
