"""``GET /metrics``: the server's counters in Prometheus' text format, as vLLM and TGI expose theirs.

Gauges read the engine when scraped (running and waiting sequences, KV-cache bytes); counters and histograms
are updated by the request handlers as requests finish. Names follow vLLM's with a ``genlab_`` prefix::

    genlab_requests_running / genlab_requests_waiting            gauges (sequences: a request with n=4 is 4)
    genlab_kv_cache_bytes                                         gauge
    genlab_request_success_total{model, finished_reason}          counter, per choice (stop | length | cancelled)
    genlab_request_errors_total{status}                           counter, per error response (400, 404, 429, ...)
    genlab_prompt_tokens_total{model} / genlab_generation_tokens_total{model} / genlab_prompt_tokens_cached_total
    genlab_time_to_first_token_seconds / genlab_e2e_request_latency_seconds   histograms, per request
"""

from __future__ import annotations

import threading
from collections import Counter

BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = BUCKETS_S):
        self.buckets, self.counts, self.sum, self.count = buckets, [0] * len(buckets), 0.0, 0

    def observe(self, value: float) -> None:
        for i, edge in enumerate(self.buckets):
            if value <= edge:
                self.counts[i] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str) -> list[str]:
        out = [f'{name}_bucket{{le="{edge:g}"}} {n}' for edge, n in zip(self.buckets, self.counts)]
        return out + [f'{name}_bucket{{le="+Inf"}} {self.count}', f"{name}_sum {self.sum:.6f}",
                      f"{name}_count {self.count}"]


def _read(fn, tries: int = 5) -> int:
    """An engine gauge read from the HTTP thread; the engine thread may resize its batches mid-read."""
    for _ in range(tries - 1):
        try:
            return fn()
        except RuntimeError:  # "dictionary changed size during iteration"
            continue
    return fn()


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """Thread-safe tallies; ``render(engine)`` is the scrape body."""

    def __init__(self):
        self._lock = threading.Lock()
        self.finished: Counter = Counter()  # (model, reason) -> choices
        self.errors: Counter = Counter()  # status -> responses
        self.prompt_tokens: Counter = Counter()  # model -> tokens
        self.generation_tokens: Counter = Counter()
        self.cached_tokens = 0
        self.ttft, self.e2e = Histogram(), Histogram()

    def request_done(self, model: str, prompt_tokens: int, cached_tokens: int, completion_tokens: int,
                     reasons: list[str], ttft_s: float | None, e2e_s: float) -> None:
        with self._lock:
            for reason in reasons:
                self.finished[(model, reason)] += 1
            self.prompt_tokens[model] += prompt_tokens
            self.generation_tokens[model] += completion_tokens
            self.cached_tokens += cached_tokens
            if ttft_s is not None:
                self.ttft.observe(ttft_s)
            self.e2e.observe(e2e_s)

    def error(self, status: int) -> None:
        with self._lock:
            self.errors[status] += 1

    def render(self, engine) -> str:
        running, waiting, kv = (_read(engine.running), _read(engine.queued), _read(engine.kv_bytes))
        with self._lock:
            lines = [
                "# HELP genlab_requests_running Sequences decoding now.", "# TYPE genlab_requests_running gauge",
                f"genlab_requests_running {running}",
                "# HELP genlab_requests_waiting Sequences waiting for a batch slot.",
                "# TYPE genlab_requests_waiting gauge", f"genlab_requests_waiting {waiting}",
                "# HELP genlab_kv_cache_bytes Bytes held by the running batches' key/value caches.",
                "# TYPE genlab_kv_cache_bytes gauge", f"genlab_kv_cache_bytes {kv}",
                "# HELP genlab_request_success_total Finished choices by reason.",
                "# TYPE genlab_request_success_total counter",
                *(f'genlab_request_success_total{{model="{_label(m)}",finished_reason="{r}"}} {n}'
                  for (m, r), n in sorted(self.finished.items())),
                "# HELP genlab_request_errors_total Error responses by HTTP status.",
                "# TYPE genlab_request_errors_total counter",
                *(f'genlab_request_errors_total{{status="{s}"}} {n}' for s, n in sorted(self.errors.items())),
                "# HELP genlab_prompt_tokens_total Prompt tokens of finished requests.",
                "# TYPE genlab_prompt_tokens_total counter",
                *(f'genlab_prompt_tokens_total{{model="{_label(m)}"}} {n}'
                  for m, n in sorted(self.prompt_tokens.items())),
                "# HELP genlab_generation_tokens_total Tokens generated for finished requests.",
                "# TYPE genlab_generation_tokens_total counter",
                *(f'genlab_generation_tokens_total{{model="{_label(m)}"}} {n}'
                  for m, n in sorted(self.generation_tokens.items())),
                "# HELP genlab_prompt_tokens_cached_total Prompt tokens read from the prefix store.",
                "# TYPE genlab_prompt_tokens_cached_total counter",
                f"genlab_prompt_tokens_cached_total {self.cached_tokens}",
                "# HELP genlab_time_to_first_token_seconds From a request's arrival to its first token.",
                "# TYPE genlab_time_to_first_token_seconds histogram",
                *self.ttft.lines("genlab_time_to_first_token_seconds"),
                "# HELP genlab_e2e_request_latency_seconds From a request's arrival to its last token.",
                "# TYPE genlab_e2e_request_latency_seconds histogram",
                *self.e2e.lines("genlab_e2e_request_latency_seconds"),
            ]
        return "\n".join(lines) + "\n"
