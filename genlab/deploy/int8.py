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
BUCKETS_PER_OCTAVE = 4  # prefill rows share an activation scale only within 2^(1/4) of each other


def _int32_accumulation() -> bool:
    """Whether the CPU has VNNI/AMX int8 dot products (int32 accumulation). Without them fbgemm sums u8·s8
    pairs in int16, which saturates at full 8-bit range: torch.ao then quantizes activations to 7 bits
    (``reduce_range``), twice as coarse. Measured on the embedded model with full 8 bits: see bench/deploy.py."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


REDUCE_RANGE = not _int32_accumulation()


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

    def __init__(self, qweight: torch.Tensor, bias: torch.Tensor | None, smooth_inv: torch.Tensor | None = None):
        super().__init__()
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

        out_features, in_features = qweight.shape
        self.in_features, self.out_features = in_features, out_features
        with _quiet():
            self.inner = DynamicLinear(in_features, out_features, bias_=bias is not None, dtype=torch.qint8)
            self.inner.set_weight_bias(qweight, None if bias is None else bias.detach().float())
        # SmoothQuant: x / s goes in, the weight holds W·diag(s) (None: no smoothing)
        self.register_buffer("smooth_inv", None if smooth_inv is None else smooth_inv.detach().float().contiguous())

    def _apply(self, fn, recurse=True):
        """``model.to(bf16)`` casts buffers too; the smoothing factors must stay fp32 (their rounding would
        not match the weights they were folded into), so only their device follows."""
        smooth = self.smooth_inv
        super()._apply(fn, recurse)
        if smooth is not None:
            self.smooth_inv = smooth.to(self.smooth_inv.device)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.float().reshape(-1, self.in_features)
        if self.smooth_inv is not None:
            rows = rows * self.smooth_inv
        y = self._by_scale(rows) if rows.shape[0] > 1 else self._matmul(rows)
        y = y.reshape(*x.shape[:-1], self.out_features)
        return y if x.dtype == torch.float32 else y.to(x.dtype)

    def _by_scale(self, rows: torch.Tensor) -> torch.Tensor:
        """fbgemm quantizes a call's whole input with one scale. A few tokens (the first one, some
        delimiters) carry activations 100x larger than the rest, and one scale for all would leave
        the others a handful of int8 levels (perplexity of the embedded model +150%). So rows go in
        groups whose max |x| lies within the same quarter of a power of two: every token is quantized
        with a scale at most 2^(1/4) ≈ 1.19x its own, close to what it gets when decoding (one row per
        call, its own scale)."""
        bucket = torch.floor(BUCKETS_PER_OCTAVE * torch.log2(rows.abs().amax(1).clamp(min=1e-12)))
        keys = bucket.unique()
        if len(keys) == 1:
            return self._matmul(rows)
        out = rows.new_empty(rows.shape[0], self.out_features)
        for key in keys:
            idx = (bucket == key).nonzero().squeeze(1)
            out[idx] = self._matmul(rows.index_select(0, idx))
        return out

    def _matmul(self, rows: torch.Tensor) -> torch.Tensor:
        """fbgemm's dynamic int8 GEMM; activations get the full 8 bits where the CPU accumulates in int32."""
        return torch.ops.quantized.linear_dynamic(rows, self.inner._packed_params._packed_params,
                                                  reduce_range=REDUCE_RANGE)

    def weight_int8(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(int8 weight (out, in), fp32 scale per output row)."""
        w = self.inner.weight()
        return w.int_repr(), w.q_per_channel_scales().float()

    def bias(self) -> torch.Tensor | None:
        return self.inner.bias()

    def dequantized(self) -> torch.Tensor:
        """The float weight this layer computes with (smoothing undone)."""
        w = self.inner.weight().dequantize()
        return w if self.smooth_inv is None else w * self.smooth_inv

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, int8 per-channel"
                + (", smoothed" if self.smooth_inv is not None else ""))


def scales_of(weight: torch.Tensor) -> torch.Tensor:
    """Per-output-row scale ``max|W_j| / 127`` (a zero row gets scale 1 so nothing divides by 0)."""
    amax = weight.detach().float().abs().amax(dim=1)
    return torch.where(amax > 0, amax / QMAX, torch.ones_like(amax))


def smoothing(act_absmax: torch.Tensor, weight: torch.Tensor, alpha: float) -> torch.Tensor:
    """SmoothQuant's per-input-channel factors (Xiao et al. 2023, arXiv:2211.10438):
    ``s_j = max|X_j|^α / max|W_:,j|^(1-α)``. Dividing the activations by ``s`` and multiplying the
    weight's columns by it leaves ``x Wᵀ`` unchanged but moves the outlier channels' range from the
    activations (quantized per token, where an outlier costs every other channel its levels) into the
    weights (quantized per output row)."""
    w_max = weight.detach().float().abs().amax(0).clamp(min=1e-5)
    s = act_absmax.float().clamp(min=1e-5) ** alpha / w_max ** (1 - alpha)
    return s.clamp(min=1e-5)


def from_linear(linear: nn.Linear, smooth: torch.Tensor | None = None) -> Int8Linear:
    """``smooth``: SmoothQuant factors per input channel (``smoothing``), or None."""
    w = linear.weight.detach().float()
    if smooth is not None:
        w = w * smooth
    scales = scales_of(w)
    with _quiet():
        q = torch.quantize_per_channel(w, scales.double(), torch.zeros(len(scales), dtype=torch.long), 0, torch.qint8)
    return Int8Linear(q, linear.bias, None if smooth is None else 1.0 / smooth)


def from_int8(weight: torch.Tensor, scales: torch.Tensor, bias: torch.Tensor | None,
              smooth_inv: torch.Tensor | None = None) -> Int8Linear:
    """Rebuild a layer from saved tensors (``weight_int8`` (out, in) int8, ``scales`` (out,), ``smooth_inv`` (in,))."""
    zeros = torch.zeros(len(scales), dtype=torch.long)
    with _quiet():
        q = torch._make_per_channel_quantized_tensor(weight.to(torch.int8), scales.double(), zeros, 0)
    return Int8Linear(q, bias, smooth_inv)
