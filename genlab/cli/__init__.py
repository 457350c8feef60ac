"""The ``genlab`` command. Thin: parse arguments, call the library, print.

Each area lives in its own module with a ``register(app)`` function; adding an
area is one module plus one line in ``AREAS``.
"""

from __future__ import annotations

import importlib
import sys

import typer

from genlab.errors import GenlabError

app = typer.Typer(
    name="genlab",
    help="Carry a language model through the generative-AI lifecycle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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
]

for _name in AREAS:
    importlib.import_module(_name).register(app)


def main(argv: list[str] | None = None) -> int:
    import warnings

    from genlab.ui import err_console

    # library deprecation notices are for genlab's developers, not its users
    warnings.filterwarnings("ignore", category=FutureWarning)

    try:
        app(args=argv, standalone_mode=False)
    except GenlabError as e:
        err_console.print(f"[bold red]error:[/] {e.render()}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        return 130
    except SystemExit as e:
        return int(e.code or 0)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.ClickException):
            e.show()
            return e.exit_code
        if isinstance(e, click.exceptions.Abort):
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
