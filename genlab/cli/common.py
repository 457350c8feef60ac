"""Options and helpers shared by CLI commands."""

from __future__ import annotations

from typing import Optional

import typer

from genlab.models import DEFAULT_MODEL

ModelOpt = typer.Option(DEFAULT_MODEL, "--model", "-m",
                        help="Built-in name, local folder, .gguf file or hub id.")
TrustOpt = typer.Option(False, "--trust-remote-code",
                        help="Allow a hub model to run its own Python code (off by default).")
AdapterOpt = typer.Option(None, "--adapter", help="Trained adapter folder to load on the base model.")


# One grammar for every command (tests/unit/test_cli_grammar.py walks them all): -m model, -t task,
# -n number of examples, -k shots, -T temperature, -o method option (tune), --precision auto|bf16|fp32,
# --out without a short flag.
PRECISIONS = ("auto", "bf16", "fp32")
PrecisionOpt = typer.Option("auto", "--precision",
                            help="Weights and compute: auto (bf16 where the CPU/GPU is fast at it, else fp32), "
                                 "bf16 or fp32.")
Fp32Opt = typer.Option(False, "--fp32", hidden=True, help="Same as --precision fp32 (older spelling).")
TaskOpt = typer.Option(..., "--task", "-t", help="Built-in task name (`genlab data tasks`), a task .yaml file, or a "
                       "data file (.jsonl/.csv/.parquet) with prompt/completion, question/answer, ... columns.")
NoCacheOpt = typer.Option(False, "--no-cache", help="Generate again even where identical generations are cached "
                                                    "(same model, prompt, settings and precision).")


def inferred_or_name(task: str):
    """The loaded ``Task`` when ``--task`` is a data file or a hub dataset (read once, then handed on), else the
    name as given."""
    from genlab.data.infer import is_data_source

    if is_data_source(task):
        from genlab.tasks import load_task

        return load_task(task)
    return task


def note_inferred_task(task) -> None:
    """Say which columns were read as input and target when the task (a loaded ``Task``, or the ``--task``
    value) came from a data file or a hub dataset; a name is loaded only in that case."""
    from genlab.data.infer import is_data_source

    source = str(getattr(task, "source", task) or "")
    if source and is_data_source(source):
        from genlab.tasks import load_task
        from genlab.ui import err_console

        err_console.print(f"[dim]{(task if hasattr(task, 'source') else load_task(source)).description}[/dim]")


GenOpt = typer.Option(None, "--gen", metavar="KEY=VALUE",
                      help="Generation setting for the task's answers, repeatable or comma-separated, as "
                           "lm-eval's --gen_kwargs: --gen temperature=0.7,top_p=0.9 --gen num_return_sequences=4 "
                           "(a temperature > 0 samples; several samples per prompt score their mean).")


def key_values(items: Optional[list[str]], where: str, hint: str) -> dict:
    """``["a=1", "b=[x, y]"]`` as ``{"a": 1, "b": ["x", "y"]}``: each value read as YAML (as text where it is
    not YAML), ``-`` in a key read as ``_``; an item without ``=`` is an error naming ``where``."""
    import yaml

    from genlab.errors import ConfigError

    values: dict = {}
    for item in items or []:
        key, eq, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or not key:
            raise ConfigError(f"{item!r} is not KEY=VALUE", where=where, hint=hint)
        try:
            values[key] = yaml.safe_load(text) if text.strip() else text
        except yaml.YAMLError:
            values[key] = text
    return values


def generation_settings(items: Optional[list[str]], where: str = "--gen") -> dict:
    """``["temperature=0.7,top_p=0.9", "stop=['\\n\\n']"]`` as a dict of YAML-read values, checked against
    ``GenerationConfig``, with ``do_sample`` implied as ``genlab generate`` implies it. A comma splits only
    before another ``KEY=`` (``stop=a,b`` stays one value)."""
    import re

    from genlab.generation.config import GenerationConfig, implied_sampling

    parts = [part for item in items or []
             for part in re.split(r",+(?=\s*[A-Za-z_][A-Za-z0-9_]*\s*=)", item.strip().strip(","))]
    settings = key_values(parts, where, "e.g. --gen temperature=0.7,top_p=0.9 --gen max_new_tokens=128")
    settings, _ = implied_sampling(settings)
    if settings.get("stop") is not None and isinstance(settings["stop"], str):
        settings["stop"] = [settings["stop"]]
    GenerationConfig.from_dict(settings, where=where)  # names an unknown or bad setting now, before the model loads
    return settings


def precision_of(precision: str, fp32: bool = False) -> str:
    """The one precision a command runs at; ``--fp32`` is the older spelling of ``--precision fp32``."""
    from genlab.errors import ConfigError

    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}", where="--precision", hint="auto, bf16 or fp32")
    return "fp32" if fp32 else precision


def help_when_bare(ctx: typer.Context) -> None:
    """A command group called without a command prints its help and exits 2, as git does for a bare
    ``git``: nothing was done. Done here rather than with click's ``no_args_is_help``, whose exit code
    changed between click versions (0 in 8.1, 2 from 8.2)."""
    if ctx.invoked_subcommand is None and not ctx.resilient_parsing:
        from genlab.ui import err_console

        err_console.print(ctx.get_help(), highlight=False, markup=False)
        raise typer.Exit(2)


def load_model(name: str, trust_remote_code: bool = False, adapter: Optional[str] = None,
               precision: str = "auto"):
    """``genlab.models.load`` (the one loader, same default as Python) with a status line while it loads."""
    from genlab.models import load
    from genlab.ui import err_console

    with err_console.status(f"loading {name}..."):
        return load(name, precision=precision, trust_remote_code=trust_remote_code, adapter=adapter)
