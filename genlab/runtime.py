"""Devices and precision. bf16 autocast is the biggest speed lever on CPUs with AMX."""

from __future__ import annotations

import contextlib
import functools
from typing import Literal

import torch

Precision = Literal["auto", "bf16", "fp32"]


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True when the CPU advertises AMX or AVX512-BF16 (bf16 matmul faster than fp32)."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_precision(precision: Precision, device: torch.device | str | None = None) -> str:
    """Map ``auto`` to ``bf16`` where it is fast (AMX CPU, bf16-capable GPU), else ``fp32``."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, not {precision!r}")
    if precision != "auto":
        return precision
    device = torch.device(device or default_device())
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def autocast(precision: Precision, device: torch.device | str | None = None):
    """A context manager: bf16 autocast on the model's device, or nothing for fp32."""
    device = torch.device(device or default_device())
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
