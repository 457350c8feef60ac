"""Terminal output: one console, tables and progress bars with ETA."""

from __future__ import annotations

import contextlib
import logging
from typing import Callable, Iterable, Iterator, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table


def _console(stderr: bool) -> Console:
    """Piped output (CI logs, `| tee`) gets 140 columns instead of rich's 80, so tables stay readable."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=140)


console = _console(stderr=False)
err_console = _console(stderr=True)


def progress(transient: bool = False) -> Progress:
    """A progress bar showing done/total, elapsed time, ETA and a free-text field ``info``."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=err_console,
        transient=transient,
    )


class RichReporter:
    """``genlab.progress.Reporter`` for the terminal: transient bars with ETA and status lines on stderr."""

    def status(self, text: str) -> None:
        err_console.print(text, highlight=False)

    @contextlib.contextmanager
    def task(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        with progress(transient=True) as bar:
            task = bar.add_task(label, total=total, info="")
            yield lambda n=1, info=None: bar.update(task, advance=n, **({} if info is None else {"info": info}))


class _ConsoleLog(logging.Handler):
    """genlab's log records (a model cache being built, a cache rebuilt) as lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        prefix = "[yellow]warning:[/] " if record.levelno >= logging.WARNING else ""
        err_console.print(prefix + escape(record.getMessage()), highlight=False)


def show_library_logs(level: int = logging.INFO) -> None:
    """Route the ``genlab`` logger to the console (the CLI does; the library alone stays quiet)."""
    log = logging.getLogger("genlab")
    if not any(isinstance(h, _ConsoleLog) for h in log.handlers):
        log.addHandler(_ConsoleLog())
    log.setLevel(level)
    log.propagate = False


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(str(c))
    for r in rows:
        t.add_row(*[fmt(v) for v in r])
    return t


def fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.3e}"
    return "" if v is None else str(v)
