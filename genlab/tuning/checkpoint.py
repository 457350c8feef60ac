"""Checkpoints: trainable tensors, optimizer, scheduler, RNG states and the step, written atomically.

The data order is a pure function of (seed, epoch), so the step number is the
position in the data: resuming at step s replays exactly the batches an
uninterrupted run would have seen next.
"""

from __future__ import annotations

import contextlib
import io
import random
import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.errors import GenlabError
from genlab.io import atomic_write_bytes

LAST, BEST = "last.pt", "best.pt"


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable(model, state: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    missing = sorted(set(state) - set(params))
    if missing:
        raise GenlabError(f"checkpoint has {len(missing)} tensor(s) this model lacks, e.g. {missing[0]}",
                          hint="resume with the same model, method and method options as the original run")
    with torch.no_grad():
        for n, t in state.items():
            params[n].copy_(t.to(params[n].device, params[n].dtype))


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: Path, obj: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise GenlabError(f"cannot read checkpoint {path}: {type(e).__name__}: {e}",
                          hint="delete the file to restart from the previous checkpoint or from scratch") from None


class UpdateInterrupted(KeyboardInterrupt):
    """A second Ctrl-C in the middle of an update: the weights may be half a step ahead of the
    bookkeeping, so nothing is saved (the last periodic checkpoint stays)."""


@contextlib.contextmanager
def interrupts_deferred():
    """Hold a Ctrl-C (SIGINT) until the block ends, then raise it: an optimizer update and its
    bookkeeping happen all or not at all, so the checkpoint written on interrupt is consistent.
    A second Ctrl-C inside the block raises at once (the caller then keeps the last checkpoint).
    Outside the main thread signals cannot be handled: the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum, frame):
        if pending:
            raise UpdateInterrupted
        pending.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt
