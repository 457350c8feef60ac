"""A progress bar with ETA (genlab.ui.progress) that yields an ``advance(n)`` callback."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator


@contextlib.contextmanager
def maybe_progress(show: bool, description: str, total: int) -> Iterator[Callable[[int], None] | None]:
    if not show:
        yield None
        return
    from genlab.ui import progress

    with progress(transient=True) as bar:
        task = bar.add_task(description, total=total, info="")
        yield lambda n=1: bar.advance(task, n)
