"""Measure this machine's matmul peak in bf16 and fp32 (the denominator of MFU).

    python bench/tune_matmul_peak.py
"""

from __future__ import annotations

import json
import time

import torch


def tflops(dtype: torch.dtype, n: int = 2048, seconds: float = 2.0) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12


def measure(sizes: tuple[int, ...] = (1024, 2048, 3072)) -> dict:
    """The best rate over a few square sizes (one size can hit a poor blocking on some CPUs)."""
    return {"bf16_tflops": round(max(tflops(torch.bfloat16, n, 1.0) for n in sizes), 3),
            "fp32_tflops": round(max(tflops(torch.float32, n, 1.0) for n in sizes), 3),
            "threads": torch.get_num_threads()}


if __name__ == "__main__":
    print(json.dumps(measure()))
