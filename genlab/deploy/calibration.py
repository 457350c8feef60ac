"""Calibration shared by pruning (Wanda's ‖X_j‖₂) and quantization (SmoothQuant's max |X_j|): which Linear
layers to touch, and per-input-channel statistics of their inputs over a few texts (one float pass)."""

from __future__ import annotations

import contextlib
import fnmatch
from typing import Iterator

import torch

from genlab.progress import Reporter, or_quiet

STATS = ("norm", "absmax")


def linear_layers(model, skip: list[str]) -> dict[str, torch.nn.Linear]:
    """Every ``nn.Linear`` by name, except those matching a ``skip`` pattern (fnmatch, e.g. ``lm_head``)."""
    return {n: m for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and not any(fnmatch.fnmatch(n, p) for p in skip)}


@contextlib.contextmanager
def _input_stats(modules: dict[str, torch.nn.Module], stat: str) -> Iterator[dict[str, torch.Tensor]]:
    """While open, accumulate per input channel of each module ``Σ x_j²`` (``stat="norm"``) or ``max |x_j|``
    (``"absmax"``) over all tokens; yields name → (in,) tensors."""
    acc: dict[str, torch.Tensor] = {}

    def hook(name):
        def fn(_m, args):
            x = args[0].detach().float().reshape(-1, args[0].shape[-1])
            if stat == "norm":
                acc[name] = acc.get(name, 0) + (x * x).sum(0)
            else:
                m = x.abs().amax(0)
                acc[name] = torch.maximum(acc[name], m) if name in acc else m
        return fn

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in modules.items()]
    try:
        yield acc
    finally:
        for h in handles:
            h.remove()


@torch.inference_mode()
def activation_stats(lm, modules: dict[str, torch.nn.Module], texts: list[str], max_length: int, stat: str,
                     reporter: Reporter | None = None) -> dict[str, torch.Tensor]:
    """Per input channel of every module, over the calibration ``texts``: ``‖X_j‖₂`` for ``stat="norm"``
    (Wanda), ``max |X_j|`` for ``"absmax"`` (SmoothQuant)."""
    if stat not in STATS:
        raise ValueError(f"stat must be one of {STATS}, not {stat!r}")
    with _input_stats(modules, stat) as acc, or_quiet(reporter).task("calibrate", total=len(texts)) as advance:
        for text in texts:
            ids = lm.tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length).input_ids
            lm.model(input_ids=ids.to(lm.device))
            advance(1)
    return acc if stat == "absmax" else {n: s.sqrt() for n, s in acc.items()}
