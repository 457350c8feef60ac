"""``genlab models`` and ``genlab tokenize``."""

from __future__ import annotations

import typer

from genlab.cli.common import ModelOpt, TrustOpt, load_model


def register(app: typer.Typer) -> None:
    app.command("models")(models)
    app.command("tokenize")(tokenize)


def models() -> None:
    """List built-in and cached models with parameter counts and sizes."""
    from genlab.models.listing import list_models
    from genlab.ui import console, table

    rows = [(m.name, m.kind, f"{m.params / 1e6:.1f}M" if m.params else "-",
             f"{m.size_bytes / 2**20:.0f} MiB" if m.size_bytes else "-", m.where) for m in list_models()]
    console.print(table("models", ["name", "kind", "params", "size", "where"], rows))
    console.print("Any hub id (e.g. HuggingFaceTB/SmolLM2-360M-Instruct, google/flan-t5-base), "
                  "local model folder or .gguf file also works with -m.")


def tokenize(text: str = typer.Argument(..., help="Text to split into tokens."),
             model: str = ModelOpt, trust_remote_code: bool = TrustOpt) -> None:
    """Show how the model's tokenizer turns text into tokens and ids (transformer step 1)."""
    from genlab.inspect import token_strings
    from genlab.ui import console, table

    from genlab.models import load_tokenizer

    tok = load_tokenizer(model, trust_remote_code=trust_remote_code)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    pieces = token_strings(tok, ids)
    raw = tok.convert_ids_to_tokens(ids)
    console.print(table(f"{len(ids)} tokens, {len(text)} characters ({len(text) / max(len(ids), 1):.2f} chars/token)",
                        ["#", "token", "raw piece", "id"],
                        [(i, repr(p), r, t) for i, (p, r, t) in enumerate(zip(pieces, raw, ids))]))
