"""``genlab serve``: an OpenAI-compatible server for a model and its adapters."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from genlab.cli.common import ModelOpt, PrecisionOpt, TrustOpt, precision_of


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)


def serve_cmd(
    model: str = ModelOpt,
    adapter: Optional[list[str]] = typer.Option(None, "--adapter", help="NAME=PATH: an adapter folder clients pick "
                                                                         "with \"model\": NAME (repeatable)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback needs --api-key."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="GENLAB_API_KEY",
                                          help="Require 'Authorization: Bearer KEY' on the API (env GENLAB_API_KEY)."),
    served_name: Optional[str] = typer.Option(None, "--served-model-name",
                                              help="The base model's id in the API [default: the -m value]."),
    max_batch: int = typer.Option(16, "--max-batch", min=1, help="Sequences decoded together."),
    max_queue: int = typer.Option(64, "--max-queue", min=1, help="Sequences waiting for a slot before HTTP 429."),
    max_tokens: int = typer.Option(1024, "--max-tokens-cap", min=1, help="Most new tokens one request may ask for."),
    timeout: float = typer.Option(600.0, "--timeout", min=1, help="Seconds one request may take."),
    allow_dir: Optional[list[Path]] = typer.Option(None, "--allow-adapter-dir",
                                                   help="Allow POST /v1/load_lora_adapter from this folder (repeatable)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Torch threads for the engine "
                                                                         "[default: every core]."),
    prefix_caching: bool = typer.Option(True, "--prefix-caching/--no-prefix-caching",
                                        help="Reuse the keys/values of prompt beginnings seen before (a shared "
                                             "system prompt is prefilled once)."),
    batch_invariant: bool = typer.Option(False, "--batch-invariant",
                                         help="A request's answer does not depend on the requests decoding "
                                              "beside it (per-row attention; turns prefix caching off; "
                                              "~0.85x the throughput at 16 streams)."),
    allow_origin: Optional[list[str]] = typer.Option(None, "--allow-origin",
                                                     help="A web page origin (e.g. http://localhost:3000, or *) "
                                                          "whose browser scripts may call the API (CORS; repeatable)."),
    tool_call_parser: str = typer.Option("auto", "--tool-call-parser",
                                         help="How tool_choice auto is answered: json (a grammar holds genlab's JSON "
                                              "shapes; any model), hermes (the model's own <tool_call> blocks, as "
                                              "Qwen2.5/Hermes write them), auto (hermes when the chat template "
                                              "shows <tool_call>, else json)."),
    feedback_file: Optional[Path] = typer.Option(None, "--feedback-file",
                                                 help="Record users' thumbs-up/down (POST /v1/feedback, the "
                                                      "playground's buttons) in this JSONL file, for "
                                                      "genlab align dpo --loss kto."),
    embedding_model: Optional[str] = typer.Option(None, "--embedding-model", help="Also answer /v1/embeddings "
                                                  "with this encoder (e.g. minilm-l6), under its name."),
    precision: str = PrecisionOpt,
    trust_remote_code: bool = TrustOpt,
) -> None:
    """Serve a model and its adapters over an OpenAI-compatible HTTP API, with a playground at /."""
    from genlab.serving import ServeConfig, build_service, serve
    from genlab.ui import err_console

    adapters = parse_adapters(adapter or [])
    if feedback_file is not None:  # found unwritable now, not at a user's first vote
        from genlab.errors import ConfigError

        try:
            feedback_file.parent.mkdir(parents=True, exist_ok=True)
            open(feedback_file, "a").close()
        except OSError as e:
            raise ConfigError(f"cannot write the feedback file: {e.strerror}", where=str(feedback_file),
                              hint="give a path in a folder you can write to") from None
    config = ServeConfig(host=host, port=port, api_key=api_key, max_batch=max_batch, max_queue=max_queue,
                         max_tokens_cap=max_tokens, timeout_s=timeout,
                         allow_adapter_dirs=[str(d) for d in allow_dir or []], threads=threads,
                         prefix_caching=prefix_caching, allow_origins=list(allow_origin or []),
                         batch_invariant=batch_invariant, tool_call_parser=tool_call_parser,
                         feedback_file=str(feedback_file) if feedback_file else None)
    with err_console.status(f"loading {model}..."):
        service = build_service(model, adapters, config, precision=precision_of(precision),
                                trust_remote_code=trust_remote_code, name=served_name, start_engine=False,
                                embedding_model=embedding_model)
    url = f"http://{host}:{port}"
    err_console.print(f"serving [bold]{service.base_name}[/]"
                      + (f" with adapters {', '.join(adapters)}" if adapters else "")
                      + (f" and embeddings from {embedding_model}" if embedding_model else "")
                      + f" at {url}\n  OpenAI base URL: {url}/v1   playground: {url}/   Ctrl-C stops "
                        "(requests in flight finish first)"
                      + (f"\n  feedback (👍/👎) recorded in {feedback_file}" if feedback_file else ""),
                      highlight=False)
    serve(service)


def parse_adapters(items: list[str]) -> dict[str, str]:
    """``["support=runs/a", ...]`` -> ``{"support": "runs/a"}``; a malformed item is a usage error."""
    from genlab.errors import ConfigError

    out: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"expected NAME=PATH, got {item!r}", where="--adapter",
                              hint="e.g. --adapter support=runs/lora/adapter")
        if name in out:
            raise ConfigError(f"adapter name {name!r} given twice", where="--adapter")
        if not Path(path).is_dir():
            raise ConfigError(f"no adapter folder at {path}", where=f"--adapter {item}")
        out[name.strip()] = path
    return out
