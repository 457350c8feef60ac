"""``genlab data show|stats``: look at a task's rendered prompts and its data health."""

from __future__ import annotations

from typing import Optional

import typer

from genlab.cli.common import TrustOpt, help_when_bare, note_inferred_task
from genlab.ui import console, table

data_app = typer.Typer(help="Inspect task data: rendered prompts, sizes, token lengths, duplicates, contamination.",
                       invoke_without_command=True, callback=help_when_bare)


def _template_arg(value: str) -> int | str:
    return int(value) if value.lstrip("-").isdigit() else value


def _load(task: str, skip_bad_rows: bool):
    from genlab.tasks import load_task

    t = load_task(task)
    note_inferred_task(t)
    if skip_bad_rows:
        t.dataset["skip_bad_rows"] = True
    return t


def _report_skipped(t) -> None:
    from genlab.ui import err_console

    for f in t.loaded_files:
        if f.bad:
            err_console.print(f"[yellow]skipped {len(f.bad)} bad row(s)[/]; report: {f.report}", highlight=False)


SKIP = typer.Option(False, "--skip-bad-rows", help="skip malformed rows (count + report file beside the data)")


def _first_clause(text: str, width: int = 48) -> str:
    import re

    head = re.split(r"[.;:(]\s", text.strip() + " ", maxsplit=1)[0].strip()
    return head if len(head) <= width else head[:width - 1].rstrip() + "…"


@data_app.command("tasks")
def tasks() -> None:
    """List the built-in tasks: output type, examples per split, metrics, default shots."""
    from genlab.tasks import list_tasks, load_task

    rows = []
    for name in list_tasks():
        t = load_task(name)
        if "hf" in t.dataset:  # listing must not download a hub dataset (nor fail offline)
            sizes = f"{t.dataset['hf']}, downloaded on first use"
        else:
            sizes = ", ".join(f"{split} {len(t.examples(split))}" for split in t.split_names())
        metrics = ", ".join(m if isinstance(m, str) else next(iter(m)) for m in t.metrics)
        rows.append([name, t.output_type, sizes, metrics, t.default_shots, _first_clause(t.description)])
    console.print(table("built-in tasks (use with --task NAME, or give a task .yaml file)",
                        ["task", "type", "examples", "metrics", "shots", "what"], rows))


@data_app.command("show")
def show(task: str = typer.Argument(..., help="built-in task name, a task .yaml, or a data file"),
         split: str = typer.Option("test", "--split", help="split to show"),
         n: int = typer.Option(3, "-n", min=1, help="number of examples"),
         template: str = typer.Option("0", "--template", help="template variant (index or name), or 'sample'"),
         shots: Optional[int] = typer.Option(None, "--shots", "-k", min=0,
                                             help="demonstrations from train (default: task's)"),
         model: Optional[str] = typer.Option(None, "-m", "--model",
                                             help="tokenizer for chat wrapping and context fitting"),
         chat: Optional[bool] = typer.Option(None, "--chat/--no-chat", help="wrap in the model's chat template"),
         fit: str = typer.Option("drop", "--fit", help="when shots overflow the context: drop | truncate"),
         multiturn: Optional[bool] = typer.Option(None, "--multiturn/--inline",
                                                  help="chat: shots as earlier user/assistant turns, or inline"),
         seed: int = typer.Option(0, "--seed", help="seeds the choice of demonstrations"),
         trust_remote_code: bool = TrustOpt,
         skip_bad_rows: bool = SKIP) -> None:
    """Print rendered prompts and targets of TASK."""
    from rich.panel import Panel

    t = _load(task, skip_bad_rows)
    from genlab.models import load_tokenizer

    tokenizer = load_tokenizer(model, trust_remote_code=trust_remote_code) if model else None
    k = t.default_shots if shots is None else shots
    reqs = t.requests(split, shots=k, n=n, seed=seed, tokenizer=tokenizer, template=_template_arg(template), chat=chat,
                      fit=fit, multiturn=multiturn)
    _report_skipped(t)
    for r in reqs:
        console.print(Panel(r.prompt, title=f"{t.name} [{split}] #{r.doc_id} · prompt · shots {r.shots_used}/{k}",
                            title_align="left", highlight=False), highlight=False)
        extra = f"   choices: {r.choices}  (index {r.target_index})" if r.choices else ""
        console.print(f"[bold]target:[/] {r.target}{extra}\n", highlight=False, markup=True)


@data_app.command("stats")
def stats(task: str = typer.Argument(..., help="built-in task name, a task .yaml, or a data file"),
          model: Optional[str] = typer.Option(None, "-m", "--model", help="tokenizer to count with (default model)"),
          threshold: float = typer.Option(0.8, "--threshold", help="13-gram overlap share that counts as contamination"),
          skip_bad_rows: bool = SKIP, trust_remote_code: bool = TrustOpt) -> None:
    """Sizes, token-length percentiles per split, duplicates and train/test contamination of TASK."""
    from genlab.data.stats import task_stats
    from genlab.models import DEFAULT_MODEL, load_tokenizer

    name = model or DEFAULT_MODEL
    t = _load(task, skip_bad_rows)
    s = task_stats(t, load_tokenizer(name, trust_remote_code=trust_remote_code), threshold=threshold)
    _report_skipped(t)
    cols = ["split", "examples", "prompt tokens p50/p90/p99/max", "target p50/p90/max", "dups exact/norm"]
    slash = lambda xs: "/".join(map(str, xs))  # noqa: E731
    console.print(table(f"{s['task']}: tokens by {name} (zero-shot, template 0, no chat)", cols,
                        [[r["split"], r["n"], slash(r["prompt"]), slash(r["target"]), f"{r['dup_exact']}/{r['dup_norm']}"]
                         for r in s["splits"]]))
    rows = [[c["split"], c["n"], c["exact"], c["ngram"], f"{100 * c['rate']:.1f}%", f"{c['mean_overlap']:.2f}"]
            for c in s["contamination"]]
    console.print(table(f"contamination vs train (exact text, or {s['n']}-gram overlap > {threshold:.0%})",
                        ["split", "examples", "exact", "13-gram", "flagged", "mean overlap"], rows))


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
