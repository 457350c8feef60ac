"""``genlab quickstart`` (what ``make demo`` runs) and ``genlab tour`` (a one-minute generation tour)."""

from __future__ import annotations

from pathlib import Path

import typer

from genlab.cli.common import ModelOpt, TrustOpt


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)
    app.command("tour")(tour)


def quickstart(fast: bool = typer.Option(False, "--fast",
                                         help="A smaller run for a first look (~4 minutes with fast bf16, ~7 in fp32)."),
               out: Path = typer.Option(None, "--out", help="Run folder (default runs/quickstart[-fast]).")) -> None:
    """The lifecycle on the embedded model: zero-shot, few-shot, LoRA and IA3 on support-summary, with a report."""
    from genlab.cli.run import run_and_report

    run_and_report("quickstart-fast" if fast else "quickstart", out)


FEW_SHOT = """Classify the sentiment of each review as positive or negative.

Review: The blender broke after two days.
Sentiment: negative

Review: Fast delivery and the headphones sound great.
Sentiment: positive

Review: {review}
Sentiment:"""

ZERO_SHOT = "Classify the sentiment of this review as positive or negative.\n\nReview: {review}\nSentiment:"
REVIEW = "I love this kettle, it boils water in a minute and looks lovely on the counter."


def tour(model: str = ModelOpt, fast: bool = typer.Option(False, "--fast", help="Shorter tour."),
         trust_remote_code: bool = TrustOpt) -> None:
    """Zero-shot vs few-shot prompting, then greedy vs sampled output."""
    import time

    from rich.panel import Panel

    from genlab.cli.common import load_model
    from genlab.generation import GenerationConfig, generate
    from genlab.ui import console, table

    t0 = time.perf_counter()
    lm = load_model(model, trust_remote_code)
    console.print(f"[bold]model[/] {lm.name}: {lm.num_parameters() / 1e6:.0f}M parameters, "
                  f"context {lm.context_window} tokens, loaded in {time.perf_counter() - t0:.1f} s")

    console.rule("1. in-context learning: zero-shot vs few-shot")
    short = GenerationConfig(max_new_tokens=5, stop=["\n"])
    prompts = {"zero-shot": ZERO_SHOT.format(review=REVIEW), "few-shot (2 examples)": FEW_SHOT.format(review=REVIEW)}
    outs = generate(lm, list(prompts.values()), short, chat=False)
    for (label, prompt), out in zip(prompts.items(), outs):
        console.print(Panel(f"{prompt}[bold green]{out.text}[/]", title=label, expand=False))

    console.rule("2. generation config: greedy vs sampled")
    question = "Write one sentence inviting a friend to a picnic."
    configs = {"greedy": GenerationConfig(max_new_tokens=40)}
    temps = [0.7] if fast else [0.7, 1.3]
    for t in temps:
        configs[f"sample T={t} top-p=0.9 (x2)"] = GenerationConfig(
            max_new_tokens=40, do_sample=True, temperature=t, top_p=0.9, seed=1, num_return_sequences=2)
    rows = []
    for label, cfg in configs.items():
        for text in generate(lm, [question], cfg, chat=lm.has_chat_template)[0].texts:
            rows.append((label, text.strip()))
    console.print(table(f"prompt: {question!r}", ["config", "output"], rows))
    console.print(f"done in {time.perf_counter() - t0:.1f} s. Next: `genlab inspect next-token -m {lm.name} "
                  "\"The cat sat on the\" --temperature 0.7 --top-k 5`")
