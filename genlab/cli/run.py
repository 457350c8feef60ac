"""``genlab run RECIPE`` and ``genlab report``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("report")(report)


# the built-in recipes' names, read from the package folder (importing genlab.lifecycle would load torch for --help)
_BUILTIN = ", ".join(sorted(p.stem for p in (Path(__file__).parent.parent / "lifecycle" / "recipes").glob("*.yaml")))


def run(recipe: str = typer.Argument(..., help=f"Recipe .yaml, or a built-in recipe name ({_BUILTIN})."),
        out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default runs/<recipe name>)."),
        only: Optional[list[str]] = typer.Option(None, "--only", help="Run only this stage (repeatable)."),
        force: Optional[list[str]] = typer.Option(None, "--force", help="Re-run this stage even if unchanged (repeatable).")) -> None:
    """Run every stage of a recipe (reusing unchanged ones), then print the leaderboard and write report.html."""
    run_and_report(recipe, out, only=only, force=force)


def run_and_report(recipe_name: str, out: Optional[Path], *, only=None, force=None) -> Path:
    import time

    from genlab.lifecycle import load_recipe, run_recipe
    from genlab.ui import RichReporter, console

    t0 = time.perf_counter()
    recipe = load_recipe(recipe_name)
    out = out or Path("runs") / recipe.name
    console.print(f"[bold]{recipe.name}[/]: {recipe.model} on {recipe.task or recipe.mixture}, "
                  f"{len(recipe.stages)} stages → {out}")
    outcomes = run_recipe(recipe, out, only=only, force=force, command=["genlab"] + sys.argv[1:],
                          reporter=RichReporter())
    path = out / "report.html"  # run_recipe writes it
    print_leaderboard(out)
    ran = sum(o.status == "ran" for o in outcomes)
    reused = sum(o.status == "reused" for o in outcomes)
    console.print(f"{ran} stage(s) ran, {reused} reused, in {time.perf_counter() - t0:.0f} s")
    console.print(f"report: [bold]{path.resolve()}[/]")
    return path


def print_leaderboard(run_dir: Path) -> None:
    from genlab.report.lifecycle import collect, leaderboard, paired_vs_baseline
    from genlab.ui import console, table

    data = collect(run_dir)
    cols, rows = leaderboard(data)
    cost = 3 + len(data.other_splits) + len(data.metric_names) - 1  # first cost column: trainable params
    # stage, how, the main metric on every split, params, train time, stage time, RSS
    keep = [0, 1, 2, *range(3, 3 + len(data.other_splits)), cost, cost + 1, cost + 2, cost + 3]
    title = f"leaderboard (ranked on the {data.split!r} split" + \
        (f"; also scored on {', '.join(data.other_splits)})" if data.other_splits else ")")
    console.print(table(title, [cols[i] for i in keep], [[r[i] for i in keep] for r in rows]))
    if len(data.stages) > 1:
        console.print(table(f"paired bootstrap vs {data.stages[0].name}", *paired_vs_baseline(data)))


def report(run_dir: Optional[Path] = typer.Argument(None, help="A run folder written by `genlab run`."),
           compare: Optional[list[Path]] = typer.Option(None, "--compare", help="Two run folders to compare."),
           out: Optional[Path] = typer.Option(None, "--out", help="Where to write the HTML.")) -> None:
    """Rebuild a run's report.html, or compare two runs (--compare A --compare B)."""
    from genlab.errors import GenlabError
    from genlab.report.lifecycle import build_compare, build_report, collect, compare_rows
    from genlab.ui import console, table

    if compare:
        if len(compare) != 2 or run_dir is not None:
            raise GenlabError("--compare takes exactly two run folders",
                              hint="genlab report --compare runs/a --compare runs/b")
        a, b = collect(compare[0]), collect(compare[1])
        warn_if_sizes_differ(a, b)
        cols, rows = compare_rows(a, b)
        console.print(table("runs compared", cols, rows))
        path = build_compare(compare[0], compare[1], out or Path("compare.html"))
    else:
        if run_dir is None:
            raise GenlabError("give a run folder", hint="genlab report runs/quickstart")
        path = build_report(run_dir, out)
        print_leaderboard(run_dir)
    console.print(f"report: [bold]{path.resolve()}[/]")


def example_counts(data) -> set[int]:
    """How many test examples the run's stages were scored on."""
    return {len(st.samples) for st in data.stages}


def warn_if_sizes_differ(a, b) -> str | None:
    """Runs scored on different numbers of examples differ by sampling noise, not only by method."""
    na, nb = example_counts(a), example_counts(b)
    if na == nb:
        return None
    from genlab.ui import err_console

    show = lambda ns: "/".join(str(n) for n in sorted(ns))  # noqa: E731
    text = (f"{a.path} was scored on {show(na)} test examples, {b.path} on {show(nb)}: the deltas mix "
            "the method's effect with different samples; compare runs with the same eval n")
    err_console.print(f"[yellow]warning:[/] {text}", highlight=False)
    return text
