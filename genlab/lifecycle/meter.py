"""Per-stage wall time and peak memory (RSS sampled in a thread; ru_maxrss is process-lifetime)."""

from __future__ import annotations

import threading
import time


def current_rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
            self.peak_rss_mb = max(self.peak_rss_mb, current_rss_mb())

    def __enter__(self) -> "Meter":
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self.peak_rss_mb = current_rss_mb()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        import torch

        self._stop.set()
        self._thread.join()
        self.peak_rss_mb = max(self.peak_rss_mb, current_rss_mb())
        self.seconds = time.perf_counter() - self._t0
        if torch.cuda.is_available():
            self.peak_gpu_mb = torch.cuda.max_memory_allocated() / 2**20
