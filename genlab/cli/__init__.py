"""The ``genlab`` command. Thin: parse arguments, call the library, print.

Each area lives in its own module with a ``register(app)`` function; adding an
area is one module plus one line in ``AREAS``. ``main`` turns every way a
command can end into one message and an exit code (``genlab.cli.exits``): a
usage mistake or a genlab error prints one line and a hint, never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from genlab import __version__
from genlab.cli.common import help_when_bare

app = typer.Typer(
    name="genlab",
    help="Carry a language model through the generative-AI lifecycle.",
    add_completion=False,
    pretty_exceptions_enable=False,
    invoke_without_command=True,
)


def _print_version(value: bool) -> None:
    if value:
        print(f"genlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(ctx: typer.Context,
          version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                       help="Print genlab's version and exit.")) -> None:
    help_when_bare(ctx)


AREAS = [
    "genlab.cli.models",
    "genlab.cli.generate",
    "genlab.cli.inspect",
    "genlab.cli.quickstart",
    "genlab.cli.run",
    "genlab.cli.data",
    "genlab.cli.eval",
    "genlab.cli.tune",
    "genlab.cli.bench",
    "genlab.cli.align",
    "genlab.cli.reason",
    "genlab.cli.feedback",
    "genlab.cli.pretrain",
    "genlab.cli.rag",
    "genlab.cli.agent",
    "genlab.cli.serve",
    "genlab.cli.optimize",
]

for _name in AREAS:
    importlib.import_module(_name).register(app)


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code (0 ok, 2 usage or genlab error, 130 interrupted)."""
    import warnings

    from genlab.cli.exits import exit_code_for, exit_code_of_return, show_warning
    from genlab.ui import show_library_logs

    # library deprecation notices are for genlab's developers, not its users
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.showwarning = show_warning
    show_library_logs()
    # transformers' load report (missing/unexpected keys, e.g. a new classification head) and
    # its info logs are for developers; genlab says what matters itself. Set before it is imported.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="genlab")
    except BaseException as e:  # noqa: BLE001 - exits.exit_code_for re-raises what it does not know
        return exit_code_for(e)
    return exit_code_of_return(rv)


if __name__ == "__main__":
    sys.exit(main())
