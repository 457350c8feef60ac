"""Pre-packed linear layers for CPU inference.

A plain bf16 ``F.linear`` on CPU hands oneDNN a row-major weight, which it
re-lays out into its blocked format on every call. Packing each weight once
(``mkldnn._reorder_linear_weight``) and calling ``mkldnn._linear_pointwise``
skips that work: the results are bit-identical and decoding runs about 25%
faster on the embedded model (see ``bench/generate.py``).

fp32 models are packed too, for CPUs without fast bf16 (where ``auto`` is fp32):
an fp32 ``F.linear`` goes to MKL, which is slow at the few rows of a batch
decode step, so calls of 4-48 rows (``FP32_ROWS``) use oneDNN's packed fp32
kernel instead (same fp32 arithmetic, summed in another order: results differ
by rounding) and the rest keep the plain path.

The packed copies live only inside the ``with`` block (packing the embedded
model takes ~0.1 s), so weights changed in place between calls (a merged LoRA
adapter, a training step) are always packed afresh. They need one extra copy
of the linear weights in memory; when that does not fit, nothing is packed.
"""

from __future__ import annotations

import contextlib
import os

import torch

# fp32 inputs with this many rows (tokens in the call) run packed: a batch of 4-48 sequences decoding. Measured on a
# 2-core Xeon without AMX (one layer of the embedded model, fp32): MKL's F.linear vs oneDNN's packed kernel, 1.6x
# slower at 4-8 rows and 2.2x at 32, equal from 64 rows up (prefill, training), and 2x faster at 1-2 rows.
FP32_ROWS = (4, 48)


def can_pack(model: torch.nn.Module) -> bool:
    """Packing applies to all-bf16 CPU models with oneDNN bf16 kernels, and to all-fp32 CPU models with oneDNN,
    when there is room for a second copy."""
    params = [p for p in model.parameters() if p.is_floating_point()]
    if not params or any(p.device.type != "cpu" for p in params):
        return False
    dtypes = {p.dtype for p in params}
    if dtypes == {torch.bfloat16}:
        if not _bf16_kernels():
            return False
    elif dtypes != {torch.float32} or not torch.backends.mkldnn.is_available():
        return False
    return 2 * sum(p.numel() * p.element_size() for p in params) < _available_memory()


def _available_memory() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0


@contextlib.contextmanager
def packed_linears(model: torch.nn.Module, rows: int | None = None):
    """Within the block, every ``nn.Linear`` of ``model`` runs on a packed weight.

    Does nothing when :func:`can_pack` is false, or for an fp32 model when ``rows`` (the most sequences a
    decode step will carry, if known) is below ``FP32_ROWS``: packing it (~0.3 s for the embedded model)
    would buy nothing. Inputs of another dtype than the weights, or that need gradients, go through the
    module's own forward, and so do fp32 calls outside ``FP32_ROWS`` or under autocast.
    """
    fp32 = next((p.dtype for p in model.parameters() if p.is_floating_point()), None) == torch.float32
    if not can_pack(model) or fp32 and rows is not None and rows < FP32_ROWS[0]:
        yield
        return
    with _packed([m for m in model.modules() if isinstance(m, torch.nn.Linear)]):
        yield


@contextlib.contextmanager
def packed_frozen_linears(model: torch.nn.Module, *, backward: bool = False):
    """Within the block, the frozen bf16 ``nn.Linear`` layers of a partly trainable model run on packed weights
    when they need no gradient (rollouts, reference and old-policy log-probs of PPO): the base layers under a
    LoRA policy whose frozen weights ``tuning.loop.frozen_linears_in_bf16`` holds in bf16. An fp32 input under
    bf16 autocast is cast as autocast would cast it. The weights must not change inside the block.

    ``backward``: inputs that need a gradient (the layers above a trainable adapter, in a training step) run
    packed too, with the input's gradient from a second packed copy holding the transposed weight.

    Frozen fp32 layers (a run in fp32, where the CPU has no fast bf16) are packed for the decode-sized calls
    without gradient that ``FP32_ROWS`` names (the sampling steps of a rollout); their other calls stay plain."""
    frozen = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and not m.weight.requires_grad
              and m.weight.device.type == "cpu"]
    bf16 = [m for m in frozen if m.weight.dtype == torch.bfloat16] if _bf16_kernels() else []
    fp32 = [m for m in frozen if m.weight.dtype == torch.float32] if torch.backends.mkldnn.is_available() else []
    bf16_copies = 3 if backward else 2  # the weight, packed (and transposed); fp32: the weight and packed
    size = sum(m.weight.numel() * m.weight.element_size() * (bf16_copies if m.weight.dtype == torch.bfloat16 else 2)
               for m in bf16 + fp32)
    if not (bf16 or fp32) or size >= _available_memory():
        yield
        return
    with _packed(bf16, backward), _packed(fp32):
        yield


@contextlib.contextmanager
def _packed(linears: list, backward: bool = False):
    linears = [m for m in linears if "forward" not in m.__dict__]  # not packed already
    with torch.no_grad():
        for m in linears:
            w = m.weight.detach()
            m.forward = _packed_forward(m, _pack(w), _pack(w.t().contiguous()) if backward else None)
    try:
        yield
    finally:
        for m in linears:
            del m.forward


def _bf16_kernels() -> bool:
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def _pack(w: torch.Tensor) -> torch.Tensor:
    return torch.ops.mkldnn._reorder_linear_weight(w)


def _packed_forward(m: torch.nn.Linear, packed: torch.Tensor, packed_t: torch.Tensor | None = None):
    plain = type(m).forward.__get__(m)
    if m.weight.dtype == torch.float32:
        return _packed_fp32_forward(plain, packed, m.bias)
    bias = None if m.bias is None else m.bias.detach().to(torch.bfloat16)

    def forward(x: torch.Tensor) -> torch.Tensor:
        grad = torch.is_grad_enabled() and x.requires_grad
        if grad and packed_t is None:
            return plain(x)
        if x.dtype != torch.bfloat16:
            if not (torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16):
                return plain(x)
            x = x.to(torch.bfloat16)  # what autocast does to a linear's input
        if grad:
            return _FrozenLinear.apply(x, packed, packed_t, bias)
        return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")

    return forward


def _packed_fp32_forward(plain, packed: torch.Tensor, bias: torch.Tensor | None):
    bias = None if bias is None else bias.detach()

    def forward(x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // max(x.shape[-1], 1)
        if (x.dtype != torch.float32 or not FP32_ROWS[0] <= rows <= FP32_ROWS[1] or torch.is_autocast_enabled("cpu")
                or torch.is_grad_enabled() and x.requires_grad):
            return plain(x)
        return _onednn_linear(x, packed, bias)

    return forward


def _onednn_linear(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


class _FrozenLinear(torch.autograd.Function):
    """y = x Wᵀ + b with W frozen: the only gradient is the input's, dy W (a linear with weight Wᵀ)."""

    @staticmethod
    def forward(ctx, x, packed, packed_t, bias):
        ctx.packed_t = packed_t
        return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")

    @staticmethod
    def backward(ctx, dy):
        dx = torch.ops.mkldnn._linear_pointwise(dy.contiguous().to(torch.bfloat16), ctx.packed_t, None, "none", [], "")
        return dx, None, None, None
