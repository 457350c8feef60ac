"""``genlab inspect``: next-token probabilities, attention maps, embedding similarity."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from genlab.cli.common import ModelOpt, TrustOpt, help_when_bare, load_model

inspect_app = typer.Typer(help="See the transformer's steps: next-token choice, attention, embeddings.",
                          invoke_without_command=True, callback=help_when_bare)


def register(app: typer.Typer) -> None:
    app.add_typer(inspect_app, name="inspect")


@inspect_app.command("next-token")
def next_token(text: str = typer.Argument(..., help='Text to continue, e.g. "The cat sat on the".'),
               model: str = ModelOpt,
               temperature: float = typer.Option(1.0, "--temperature", "-T", help="Divides the logits."),
               top_k: int = typer.Option(0, "--top-k", help="0 = off."),
               top_p: float = typer.Option(1.0, "--top-p", help="1 = off."),
               show: int = typer.Option(15, "--show", help="How many candidates to list."),
               png: Optional[Path] = typer.Option(None, "--png", help="Also save a bar chart here."),
               trust_remote_code: bool = TrustOpt) -> None:
    """Top next-token candidates before/after temperature, and which survive top-k and top-p."""
    from genlab.generation import GenerationConfig
    from genlab.inspect import next_token_table
    from genlab.ui import console, table

    GenerationConfig(do_sample=True, temperature=temperature, top_k=top_k, top_p=top_p)  # validates
    lm = load_model(model, trust_remote_code, precision="fp32")  # exact probabilities
    rows = next_token_table(lm, text, temperature=temperature, top_k=top_k, top_p=top_p, show=show)
    yes = lambda b: "[green]yes[/]" if b else "[red]no[/]"  # noqa: E731
    console.print(table(f"next token after {text!r} (T={temperature}, top-k={top_k or 'off'}, top-p={top_p})",
                        ["token", "id", "logit", "p (T=1)", f"p (T={temperature})", "top-k", "top-p", "p sampled"],
                        [(repr(r.token), r.token_id, r.logit, r.p_raw, r.p_temp, yes(r.in_top_k), yes(r.in_top_p),
                          r.p_final) for r in rows]))
    if png:
        from genlab.inspect.plots import next_token_chart

        next_token_chart(rows, png, title=f"next token after {text!r}")
        console.print(f"chart: {png}")


@inspect_app.command("attention")
def attention(text: str = typer.Argument(...), model: str = ModelOpt,
              layer: int = typer.Option(-1, "--layer", help="Layer index (negative counts from the end)."),
              head: Optional[int] = typer.Option(None, "--head", help="Head index (default: mean over heads)."),
              png: Path = typer.Option(Path("attention.png"), "--png", help="Where to save the heat map."),
              trust_remote_code: bool = TrustOpt) -> None:
    """Heatmap of self-attention weights for one layer and head (or the mean over heads)."""
    from genlab.inspect import attention_map
    from genlab.inspect.plots import heatmap
    from genlab.ui import console

    lm = load_model(model, trust_remote_code, precision="fp32")  # exact probabilities
    weights, tokens, n_layers, n_heads = attention_map(lm, text, layer=layer, head=head)
    which = (f"layer {layer % n_layers} (of 0-{n_layers - 1}), "
             + (f"head {head}" if head is not None else f"mean of {n_heads} heads"))
    heatmap(weights.numpy(), tokens, tokens, png, title=f"self-attention, {which}\nrow attends to column")
    for line in attention_summary(weights, tokens):
        console.print(f"  {line}", highlight=False)
    console.print(f"heatmap ({which}): {png}")


def attention_summary(weights, tokens: list[str]) -> list[str]:
    """Per token: the other token it attends to most, with the weight; a causal model's first
    token sees only itself, and a token may attend to nothing else at all."""
    lines = []
    for i, t in enumerate(tokens):
        row = weights[i].clone()
        own = float(row[i])
        row[i] = 0
        j = int(row.argmax())
        if i == 0 and float(row.sum()) == 0:
            lines.append(f"{t!r:>14} sees only itself (the first token)")
        elif float(row[j]) == 0:
            lines.append(f"{t!r:>14} attends only to itself ({own:.2f})")
        else:
            lines.append(f"{t!r:>14} attends most to {tokens[j]!r} ({float(row[j]):.2f}; to itself {own:.2f})")
    return lines


@inspect_app.command("similarity")
def similarity(words: list[str] = typer.Argument(..., help="Two or more words or phrases."),
               model: str = ModelOpt,
               source: str = typer.Option("auto", "--source", help="embedding | hidden | auto."),
               png: Optional[Path] = typer.Option(Path("similarity.png"), "--png", help="Where to save the heat map."),
               trust_remote_code: bool = TrustOpt) -> None:
    """Cosine-similarity matrix of the words' embedding vectors."""
    from genlab.inspect import embedding_similarity
    from genlab.inspect.plots import heatmap
    from genlab.ui import console, table

    lm = load_model(model, trust_remote_code, precision="fp32")  # exact probabilities
    sim, used = embedding_similarity(lm, words, source=source)
    console.print(table(f"cosine similarity ({used} vectors, {lm.name})", [""] + words,
                        [[w] + [f"{float(v):.3f}" for v in sim[i]] for i, w in enumerate(words)]))
    if png:
        heatmap(sim.numpy(), words, words, png, title=f"cosine similarity ({used})", cmap="RdBu_r",
                vmin=-1, vmax=1, annotate=True)
        console.print(f"heatmap: {png}")
