"""How library code reports progress without printing: a ``Reporter`` the caller passes in.

    with reporter.task("generate", total=len(prompts)) as advance:
        ...; advance(len(batch))        # or advance(1, info="loss 0.41"): a short live note
    reporter.status("stage 2/4: lora")

The library's default is ``QUIET`` (nothing shown), so ``evaluate(...)`` in a
notebook prints nothing unless asked; the CLI passes ``genlab.ui.RichReporter``,
which draws progress bars with ETA on stderr. Warnings go through ``warnings``
or ``logging``, never through a reporter.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Protocol

Advance = Callable[..., None]  # advance(n=1, info=None)


class Reporter(Protocol):
    def status(self, text: str) -> None:
        """A one-line note on what is happening (a stage starts, a cache is reused)."""

    def task(self, label: str, total: int) -> contextlib.AbstractContextManager[Advance]:
        """A unit of work with ``total`` steps; the context yields ``advance(n=1, info=None)``
        (``info``: a short live note such as the training loss, shown beside the bar)."""


class Quiet:
    """Shows nothing."""

    def status(self, text: str) -> None:
        pass

    @contextlib.contextmanager
    def task(self, label: str, total: int) -> Iterator[Advance]:
        yield _ignore


def _ignore(n: int = 1, info: str | None = None) -> None:
    pass


QUIET: Reporter = Quiet()


def or_quiet(reporter: Reporter | None) -> Reporter:
    return QUIET if reporter is None else reporter
