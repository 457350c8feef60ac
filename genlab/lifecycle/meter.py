"""Per-stage wall time and peak memory: RSS sampled in a thread, since the process high-water mark spans every stage."""

from __future__ import annotations

import threading
import time

from genlab.runtime import current_rss_mb


class Meter:
    """``with Meter() as m: ...`` then ``m.seconds``, ``m.peak_rss_mb``, ``m.peak_gpu_mb``."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.seconds = 0.0
        self.peak_rss_mb = 0.0
        self.peak_gpu_mb: float | None = None
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_rss_mb = max(self.peak_rss_mb, current_rss_mb() or 0.0)

    def __enter__(self) -> "Meter":
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self.peak_rss_mb = current_rss_mb() or 0.0
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        import torch

        self._stop.set()
        self._thread.join()
        self.peak_rss_mb = max(self.peak_rss_mb, current_rss_mb() or 0.0)
        self.seconds = time.perf_counter() - self._t0
        if torch.cuda.is_available():
            self.peak_gpu_mb = torch.cuda.max_memory_allocated() / 2**20
