"""Wall time, peak memory and work done around a piece of work: the one meter (stages, scenarios, serving).

    meter = Meter()
    with meter:                       # several ``with meter:`` sections add up
        result = evaluate(...)
    meter.add(requests=8, prompt_tokens=900, new_tokens=120)
    meter.seconds, meter.peak_memory_mb, meter.requests

Peak RSS is sampled in a thread while a section runs, since the process's own
high-water mark (``ru_maxrss``) spans everything before it; on CUDA the peak
allocated GPU memory is read from torch and is what ``peak_memory_mb`` reports.
"""

from __future__ import annotations

import threading
import time

from genlab.runtime import current_rss_mb


class Meter:
    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.seconds = 0.0
        self.peak_rss_mb = 0.0
        self.peak_gpu_mb: float | None = None
        self.requests = self.prompt_tokens = self.new_tokens = 0
        self._stop = threading.Event()

    def add(self, *, requests: int = 0, prompt_tokens: int = 0, new_tokens: int = 0) -> None:
        """Count the work a section did (requests computed, tokens read and written)."""
        self.requests += requests
        self.prompt_tokens += prompt_tokens
        self.new_tokens += new_tokens

    @property
    def peak_memory_mb(self) -> float:
        return self.peak_gpu_mb if self.peak_gpu_mb is not None else self.peak_rss_mb

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_rss_mb = max(self.peak_rss_mb, current_rss_mb() or 0.0)

    def __enter__(self) -> "Meter":
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self.peak_rss_mb = max(self.peak_rss_mb, current_rss_mb() or 0.0)
        self._stop.clear()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        import torch

        self._stop.set()
        self._thread.join()
        self.peak_rss_mb = max(self.peak_rss_mb, current_rss_mb() or 0.0)
        self.seconds += time.perf_counter() - self._t0
        if torch.cuda.is_available():
            self.peak_gpu_mb = max(self.peak_gpu_mb or 0.0, torch.cuda.max_memory_allocated() / 2**20)
