"""Pre-packed bf16 linear layers for CPU inference.

A plain bf16 ``F.linear`` on CPU hands oneDNN a row-major weight, which it
re-lays out into its blocked format on every call. Packing each weight once
(``mkldnn._reorder_linear_weight``) and calling ``mkldnn._linear_pointwise``
skips that work: the results are bit-identical and decoding runs about 25%
faster on the embedded model (see ``bench/generate.py``).

The packed copies live only inside the ``with`` block (packing the embedded
model takes ~0.1 s), so weights changed in place between calls (a merged LoRA
adapter, a training step) are always packed afresh. They need one extra copy
of the linear weights in memory; when that does not fit, nothing is packed.
"""

from __future__ import annotations

import contextlib
import os

import torch


def can_pack(model: torch.nn.Module) -> bool:
    """Packing applies to all-bf16 CPU models, with oneDNN bf16 kernels and room for a second copy."""
    if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        return False
    params = [p for p in model.parameters() if p.is_floating_point()]
    if not params or any(p.device.type != "cpu" or p.dtype != torch.bfloat16 for p in params):
        return False
    return 2 * sum(p.numel() * p.element_size() for p in params) < _available_memory()


def _available_memory() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0


@contextlib.contextmanager
def packed_linears(model: torch.nn.Module):
    """Within the block, every ``nn.Linear`` of ``model`` runs on a packed weight.

    Does nothing when :func:`can_pack` is false. Inputs that are not bf16, or
    that need gradients, go through the module's own forward.
    """
    if not can_pack(model):
        yield
        return
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and "forward" not in m.__dict__]
    with torch.no_grad():
        for m in linears:
            m.forward = _packed_forward(m, torch.ops.mkldnn._reorder_linear_weight(m.weight.detach()))
    try:
        yield
    finally:
        for m in linears:
            del m.forward


def _packed_forward(m: torch.nn.Linear, packed: torch.Tensor):
    plain = type(m).forward.__get__(m)

    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.bfloat16 or (torch.is_grad_enabled() and x.requires_grad):
            return plain(x)
        return torch.ops.mkldnn._linear_pointwise(x, packed, m.bias, "none", [], "")

    return forward
