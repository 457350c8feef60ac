"""Efficiency: what a request costs on this machine (HELM section 4.9, "denoised" runtime aside).

Measured around the model calls of one scenario run (only work actually done: generations
served from the cache are not counted):

* ``seconds_per_request`` = wall time / requests computed;
* ``generated_tokens_per_s`` = new tokens / wall time (generation scenarios);
* ``prompt_tokens_per_s`` = prompt tokens processed / wall time;
* ``peak_memory_mib`` = peak GPU memory allocated during the run on CUDA, else the process's
  peak resident set size (``ru_maxrss``; a high-water mark for the whole process).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from genlab.runtime import peak_rss_mb


@dataclass
class Meter:
    """``with meter.measure(): ...`` around model calls; ``add(...)`` the work they did."""

    device: str = "cpu"
    seconds: float = 0.0
    requests: int = 0
    prompt_tokens: int = 0
    new_tokens: int = 0
    _gpu_peak: float = field(default=0.0, repr=False)

    def measure(self):
        return _Timer(self)

    def add(self, *, requests: int = 0, prompt_tokens: int = 0, new_tokens: int = 0) -> None:
        self.requests += requests
        self.prompt_tokens += prompt_tokens
        self.new_tokens += new_tokens

    def summary(self, generated: bool = True) -> dict:
        s = self.seconds
        if self.requests == 0 or s <= 0:
            return {"skipped": "nothing was computed (every request came from the cache)"}
        out = {"seconds_per_request": s / self.requests, "prompt_tokens_per_s": self.prompt_tokens / s,
               "requests": self.requests, "seconds": s, "peak_memory_mib": self._peak()}
        if generated:
            out["generated_tokens_per_s"] = self.new_tokens / s
        return out

    def _peak(self) -> float | None:
        return self._gpu_peak if self.device.startswith("cuda") else peak_rss_mb()


class _Timer:
    def __init__(self, meter: Meter):
        self.meter = meter

    def __enter__(self):
        if self.meter.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats()
        self.t0 = time.perf_counter()
        return self.meter

    def __exit__(self, *exc):
        self.meter.seconds += time.perf_counter() - self.t0
        if self.meter.device.startswith("cuda"):
            import torch

            self.meter._gpu_peak = max(self.meter._gpu_peak, torch.cuda.max_memory_allocated() / 2**20)
        return False


__all__ = ["Meter"]
