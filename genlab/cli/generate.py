"""``genlab generate``: one prompt streamed, or many from a file written as JSONL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from genlab.cli.common import AdapterOpt, Fp32Opt, ModelOpt, PrecisionOpt, TrustOpt, load_model, precision_of
from genlab.errors import DataError
from genlab.generation.config import GenerationConfig, implied_sampling
from rich.markup import escape

_D = GenerationConfig()  # the defaults, shown in --help


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_cmd)


def generate_cmd(
    prompt: Optional[str] = typer.Argument(None, help="The prompt (or use --file)."),
    model: str = ModelOpt,
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Prompts: .jsonl with a 'prompt' (or "
                                        "'messages': a conversation to answer) field, or .txt one per line."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write results as JSONL here."),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON lines (default: plain text; "
                                                       "always JSONL with --out)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file with generation settings; flags override it."),
    chat: Optional[bool] = typer.Option(None, "--chat/--no-chat", help="Wrap with the chat template (default: when the model has one)."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens",
                                                 help=f"Most tokens to generate per prompt [default: {_D.max_new_tokens}]."),
    sample: Optional[bool] = typer.Option(None, "--sample/--greedy", help="Sample instead of greedy decoding "
                                                                          "[default: greedy, or sampling when "
                                                                          "-T > 0, --top-k or --top-p is given]."),
    temperature: Optional[float] = typer.Option(None, "--temperature", "-T",
                                                help=f"Sampling temperature [default: {_D.temperature}]."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Sample from the K most likely tokens "
                                                              f"[default: {_D.top_k} = off]."),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="Sample from the smallest set with this much "
                                                                f"probability mass [default: {_D.top_p} = off]."),
    repetition_penalty: Optional[float] = typer.Option(None, "--repetition-penalty",
                                                       help=f"> 1 discourages repeats [default: {_D.repetition_penalty}]."),
    stop: Optional[list[str]] = typer.Option(None, "--stop", help="Stop string (repeatable)."),
    seed: Optional[int] = typer.Option(None, "--seed", help=f"Sampling seed [default: {_D.seed}]."),
    num_return_sequences: Optional[int] = typer.Option(None, "--num-return-sequences",
                                                       help="Texts per prompt (needs --sample) [default: 1]."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Prompts decoding at once."),
    batch_invariant: bool = typer.Option(False, "--batch-invariant",
                                         help="Each answer is what its prompt alone would give, whatever "
                                              "--batch-size and the other prompts (bf16 greedy text then does "
                                              "not move with the batch; ~0.85x the speed at batch 16)."),
    precision: str = PrecisionOpt,
    fp32: bool = Fp32Opt,
    truncate: bool = typer.Option(False, "--truncate", help="Keep the end of over-long prompts instead of failing."),
    schema: Optional[str] = typer.Option(None, "--schema", help="Answer in JSON that follows this JSON schema (a "
                                         "file or inline JSON); 'object' for any JSON object."),
    regex: Optional[str] = typer.Option(None, "--regex", help="Answer with text matching this regular expression."),
    choice: Optional[list[str]] = typer.Option(None, "--choice", help="Answer with exactly one of these (repeatable)."),
    adapter: Optional[str] = AdapterOpt,
    trust_remote_code: bool = TrustOpt,
) -> None:
    """Generate text with a chosen configuration."""
    from genlab.generation import generate
    from genlab.ui import console

    flags = dict(max_new_tokens=max_new_tokens, do_sample=sample, temperature=temperature, top_k=top_k,
                 top_p=top_p, repetition_penalty=repetition_penalty, stop=_unescape(stop), seed=seed,
                 num_return_sequences=num_return_sequences)
    flags, implied = implied_sampling({k: v for k, v in flags.items() if v is not None})
    cfg = build_config(config, flags)
    if implied:
        from genlab.ui import err_console

        err_console.print(f"[dim]{implied}[/]", highlight=False)
    structure = _structure(schema, regex, choice)
    prompts = _prompts(prompt, file)
    precision = precision_of(precision, fp32)
    lm = load_model(model, trust_remote_code, adapter, precision=precision)
    use_chat = lm.has_chat_template if chat is None else chat
    kw = dict(chat=use_chat, batch_size=batch_size, precision=precision,
              on_overflow="truncate" if truncate else "error", structure=structure, batch_invariant=batch_invariant)
    if len(prompts) == 1 and not out and not as_json and cfg.num_return_sequences == 1:
        outs = generate(lm, prompts, cfg, on_text=lambda piece: print(piece, end="", flush=True), **kw)
        print()
        _say_if_cut(outs, cfg)
        return
    outs = _generate_with_progress(lm, prompts, cfg, kw)
    rows = [{"prompt": o.prompt, "output": o.text if len(o.texts) == 1 else o.texts,
             "prompt_tokens": o.prompt_tokens, "new_tokens": o.new_tokens,
             "finish_reason": o.finish_reasons[0] if len(o.texts) == 1 else o.finish_reasons} for o in outs]
    if out:
        from genlab.io import atomic_write_jsonl

        atomic_write_jsonl(out, rows)
        console.print(f"wrote {len(rows)} results to {out}")
    elif as_json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
    else:
        _print_plain(outs, many_prompts=len(prompts) > 1)
    _say_if_cut(outs, cfg)


def _structure(schema: Optional[str], regex: Optional[str], choices: Optional[list[str]]):
    """--schema (a file, inline JSON or 'object'), --regex, --choice: what every answer is held to (or None)."""
    from genlab.serving.structured import constraint

    if schema is not None and schema != "object" and Path(schema).is_file():
        schema = Path(schema).read_text(encoding="utf-8")
    return constraint(schema=schema, regex=regex, choices=choices or None)


def _print_plain(outs, many_prompts: bool) -> None:
    """Texts as text: numbered when a prompt has several, each under its prompt when there are several."""
    from genlab.ui import console

    for o in outs:
        if many_prompts:
            console.rule(o.prompt[:70], align="left", style="dim")
        for i, text in enumerate(o.texts, 1):
            label = f"[bold]{i}.[/] " if len(o.texts) > 1 else ""
            console.print(f"{label}{escape(text.strip())}", highlight=False)
            if len(o.texts) > 1:
                console.print()


def _say_if_cut(outs, cfg) -> None:
    """Say so when a text ended because it reached --max-new-tokens, not because it was done."""
    from genlab.ui import err_console

    cut = sum(r == "length" for o in outs for r in o.finish_reasons)
    total = sum(len(o.texts) for o in outs)
    if cut:
        which = "the text" if total == 1 else f"{cut} of {total} texts"
        err_console.print(f"\n[yellow]note:[/] {which} stopped at the token limit ({cfg.max_new_tokens} new tokens); "
                          "raise --max-new-tokens for longer output", highlight=False)


def _unescape(stops: Optional[list[str]]) -> Optional[list[str]]:
    """``--stop '\\n'`` typed in a shell means a newline."""
    if not stops:
        return None
    return [s.replace("\\n", "\n").replace("\\t", "\t") for s in stops]


def build_config(path: Optional[Path], flags: dict):
    """YAML file (if any) overridden by the flags the user actually passed."""
    import yaml

    from genlab.generation import GenerationConfig

    base: dict = {}
    if path:
        try:
            base = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise DataError(f"cannot read generation config: {e}", where=str(path)) from None
        if not isinstance(base, dict):
            raise DataError("expected a mapping of generation settings", where=str(path))
    base.update({k: v for k, v in flags.items() if v is not None})
    return GenerationConfig.from_dict(base, where=str(path) if path else "command line")


def _prompts(prompt: Optional[str], file: Optional[Path]) -> list[str]:
    from genlab.errors import GenlabError

    if (prompt is None) == (file is None):
        raise GenlabError("give either a prompt or --file", hint='genlab generate "Why is the sky blue?"')
    if prompt is not None:
        return [prompt]
    return read_prompt_file(file)


def read_prompt_file(path: Path) -> list[str | list[dict]]:
    """Prompts from .jsonl ({"prompt": ...}, {"messages": [...]} or a JSON string per line) or .txt (one per
    line)."""
    if not path.is_file():
        raise DataError("file not found", where=str(path))
    prompts = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise DataError(f"not valid UTF-8 (byte {e.start})", where=f"{path}:{n}",
                                hint="re-save the file as UTF-8") from None
            if not line.strip():
                continue
            prompts.append(_parse_prompt_line(line, path, n) if path.suffix == ".jsonl" else line)
    if not prompts:
        raise DataError("no prompts in file", where=str(path))
    return prompts


def _parse_prompt_line(line: str, path: Path, n: int) -> str:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"malformed JSON: {e.msg} at column {e.colno}", where=f"{path}:{n}") from None
    if isinstance(row, str):
        return row
    if isinstance(row, dict) and isinstance(row.get("prompt"), str):
        return row["prompt"]
    for name in ("prompt", "messages"):  # a conversation to answer (TRL's conversational rows)
        if isinstance(row, dict) and isinstance(row.get(name), list):
            from genlab.prompts.templates import chat_turns

            return chat_turns(row[name], name, f"{path}:{n}")
    raise DataError('expected a JSON string, or an object with a "prompt" (a text or turns) or "messages" field',
                    where=f"{path}:{n}")


def _generate_with_progress(lm, prompts, cfg, kw):
    from genlab.generation import generate
    from genlab.ui import progress

    with progress() as bar:
        task = bar.add_task("generating", total=len(prompts), info="")
        return generate(lm, prompts, cfg, progress=lambda n: bar.advance(task, n), **kw)
