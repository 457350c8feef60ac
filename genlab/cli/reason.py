"""``genlab reason ask``: one problem, answered directly, step by step, by vote, or by a program."""

from __future__ import annotations

from typing import Optional

import typer

from genlab.cli.common import AdapterOpt, ModelOpt, PrecisionOpt, TrustOpt, help_when_bare, load_model, precision_of

reason_app = typer.Typer(help="Reason about a problem: direct, chain-of-thought, self-consistency, program-aided.",
                         invoke_without_command=True)


@reason_app.callback()
def _group(ctx: typer.Context) -> None:
    help_when_bare(ctx)


@reason_app.command("ask")
def ask_cmd(
    problem: str = typer.Argument(..., help="The problem, e.g. \"Ana buys 3 mugs at $4.50 each. Total?\""),
    method: str = typer.Option("cot", "--method", help="direct, cot (step by step), sc (cot + majority vote) "
                                                       "or pal (a Python program run in the sandbox)."),
    model: str = ModelOpt,
    adapter: Optional[str] = AdapterOpt,
    samples: int = typer.Option(5, "--samples", min=1, help="Sampled answers for --method sc."),
    shots: int = typer.Option(3, "--shots", "-k", min=0, help="Worked examples in the prompt."),
    task: str = typer.Option("word-math", "--task", "-t", help="Task whose train split gives the examples "
                                                                "(`genlab data tasks`)."),
    temperature: Optional[float] = typer.Option(None, "--temperature", "-T", help="Sampling temperature "
                                                                                "(default: greedy; 0.7 for sc)."),
    show_prompt: bool = typer.Option(False, "--show-prompt", help="Print the full prompt too."),
    precision: str = PrecisionOpt,
    trust_remote_code: bool = TrustOpt,
) -> None:
    """Answer one problem and show the reasoning, the program and the votes."""
    from genlab.apps.reason import ask, eval_options
    from genlab.ui import console

    eval_options(method, samples)  # a bad --method fails before the model loads
    prec = precision_of(precision)
    lm = load_model(model, trust_remote_code, adapter, precision=prec)
    generation = {} if temperature is None else {"temperature": temperature, "do_sample": temperature > 0}
    out = ask(lm, problem, method, samples=samples, shots=shots, task=task, precision=prec, generation=generation)
    if show_prompt:
        console.rule("prompt")
        console.print(out.prompt, markup=False, highlight=False)
    for i, g in enumerate(out.generations, 1):
        console.rule(f"generation {i}/{len(out.generations)}" if len(out.generations) > 1 else method)
        console.print(g.get("program") if method == "pal" else g["text"].strip(), markup=False, highlight=False)
        if method == "pal":
            status = "ok" if g.get("ok") else f"failed: {g.get('error')}"
            console.print(f"[dim]sandbox: {status}; printed answer: {g['answer']}[/dim]")
    console.rule()
    if out.votes and len(out.generations) > 1:
        console.print("votes: " + ", ".join(f"{k} x{v}" for k, v in sorted(out.votes.items(), key=lambda kv: -kv[1])))
    console.print(f"[bold]answer:[/bold] {out.answer if out.answer is not None else '(none)'}")


def register(app: typer.Typer) -> None:
    app.add_typer(reason_app, name="reason")
