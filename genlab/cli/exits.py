"""How a command ends: one message and an exit code, the same for every typer/click version.

typer < 0.2x raises ``click``'s exceptions; newer typer vendors click as
``typer._click`` with its own classes (and turns Ctrl-C into ``Exit(130)``, where
click raises ``Abort``). Both families are caught here, so a usage mistake
prints ``error: …`` plus a hint and exits 2, never a traceback.

Exit codes: 0 done, 1 aborted (end of input at a prompt), 2 usage or genlab
error, 130 interrupted (Ctrl-C, the shell's 128 + SIGINT).
"""

from __future__ import annotations

import importlib

from genlab.errors import GenlabError

INTERRUPTED = 130


def _classes(attr: str) -> tuple[type, ...]:
    """``attr`` (ClickException, Abort, Exit) from every click flavour importable here."""
    found = []
    for module in ("click.exceptions", "typer._click.exceptions", "typer.exceptions"):
        try:
            cls = getattr(importlib.import_module(module), attr, None)
        except ImportError:
            continue
        if isinstance(cls, type) and cls not in found:
            found.append(cls)
    return tuple(found)


CLICK_ERRORS = _classes("ClickException")
ABORTS = _classes("Abort")
EXITS = _classes("Exit")


def say_error(message: str, hint: str | None = None) -> None:
    from genlab.ui import err_console

    text = f"[bold red]error:[/] {_escape(message)}"
    if hint:
        text += f"\n  hint: {_escape(hint)}"
    err_console.print(text, highlight=False, soft_wrap=True)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings from genlab as one ``warning:`` line (others keep Python's format)."""
    from genlab.ui import err_console

    if not filename.replace("\\", "/").count("/genlab/"):
        import warnings

        err_console.print(warnings.formatwarning(message, category, filename, lineno, line).rstrip(),
                          highlight=False, markup=False)
        return
    err_console.print(f"[yellow]warning:[/] {_escape(str(message))}", highlight=False, soft_wrap=True)


def say_interrupted() -> int:
    from genlab.ui import err_console

    err_console.print("[yellow]interrupted[/] (finished work is saved; run the same command again to continue)",
                      highlight=False)
    return INTERRUPTED


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _usage(e) -> int:
    """A click usage error as one line plus a hint; a bare group (no command) prints its help."""
    ctx = getattr(e, "ctx", None)
    if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
        from genlab.ui import err_console

        err_console.print(ctx.get_help(), highlight=False, markup=False)
        return 2
    hint = f"{ctx.command_path} --help" if ctx is not None else "genlab --help"
    say_error(e.format_message().replace("\n", " "), f"see `{hint}`")
    return int(getattr(e, "exit_code", 2) or 2)


def exit_code_for(e: BaseException) -> int:
    """Print what ``e`` means to the user and return the exit code; re-raise what is a bug."""
    if isinstance(e, GenlabError):
        from genlab.ui import err_console

        err_console.print(f"[bold red]error:[/] {_escape(e.render())}", highlight=False, soft_wrap=True)
        return 2
    if isinstance(e, KeyboardInterrupt):
        return say_interrupted()
    if isinstance(e, CLICK_ERRORS):
        return _usage(e)
    if isinstance(e, ABORTS):  # click turns Ctrl-C (and end of input) into Abort
        return say_interrupted() if isinstance(e.__cause__ or e.__context__, KeyboardInterrupt) else 1
    if isinstance(e, EXITS):
        code = int(getattr(e, "exit_code", 0) or 0)
        return say_interrupted() if code == INTERRUPTED else code
    if isinstance(e, SystemExit):
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    raise e


def exit_code_of_return(rv) -> int:
    """typer >= 0.2x returns 130 (not raises) for Ctrl-C when not in standalone mode."""
    if isinstance(rv, int) and not isinstance(rv, bool):
        return say_interrupted() if rv == INTERRUPTED else rv
    return 0
