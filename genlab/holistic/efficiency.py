"""Efficiency: what a request costs on this machine (HELM section 4.9, "denoised" runtime aside).

Measured over the model step of one scenario run (only work actually done: generations
served from the cache are not counted):

* ``seconds_per_request`` = model time / requests computed;
* ``generated_tokens_per_s`` = new tokens / model time (generation scenarios);
* ``prompt_tokens_per_s`` = prompt tokens processed / model time;
* ``peak_memory_mib`` = peak GPU memory allocated during the run on CUDA, else the peak
  resident set size sampled while it ran (``genlab.meter.Meter``).
"""

from __future__ import annotations

from genlab.meter import Meter


def efficiency(meter: Meter, generated: bool = True) -> dict:
    """The efficiency family from a ``Meter`` whose ``seconds`` are model time and whose counts are work done."""
    s = meter.seconds
    if meter.requests == 0 or s <= 0:
        return {"skipped": "nothing was computed (every request came from the cache)"}
    out = {"seconds_per_request": s / meter.requests, "prompt_tokens_per_s": meter.prompt_tokens / s,
           "requests": meter.requests, "seconds": s, "peak_memory_mib": meter.peak_memory_mb}
    if generated:
        out["generated_tokens_per_s"] = meter.new_tokens / s
    return out


__all__ = ["efficiency"]
