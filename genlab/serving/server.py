"""Start the server: load the model and adapters, start the engine, run uvicorn.

    from genlab.serving import ServeConfig, build_service, serve
    service = build_service("smollm2-135m-instruct", {"support": "runs/lora/adapter"}, ServeConfig())
    serve(service)   # blocks; SIGTERM/Ctrl-C drains requests in flight, then returns

``running(service)`` runs the same server on a background thread (tests, notebooks).
"""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import socket
import threading
import time
from pathlib import Path

from genlab.errors import ConfigError, GenlabError
from genlab.serving.app import ServeConfig, Service, build_app, load_named_adapter
from genlab.serving.engine import Engine, EngineConfig


def check_bind(config: ServeConfig) -> None:
    """Anything but loopback needs an API key: the server runs a model for whoever reaches it."""
    if not _loopback(config.host) and not config.api_key:
        raise ConfigError(f"binding to {config.host} exposes the model beyond this machine without a key",
                          where="--host", hint="pass --api-key KEY (clients send 'Authorization: Bearer KEY'), "
                                               "or keep the default --host 127.0.0.1")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_service(model, adapters: dict[str, str | Path] | None = None, config: ServeConfig | None = None, *,
                  precision: str = "auto", trust_remote_code: bool = False, name: str | None = None,
                  start_engine: bool = True, embedding_model: str | None = None) -> Service:
    """Load ``model`` (a name or a loaded model) and its adapters; start the engine thread (``start_engine``),
    or leave the engine for ``serve`` to run in the thread that calls it.

    ``name``: the base model's id in the API (default: the name it was loaded by). ``embedding_model``: an
    encoder (e.g. ``minilm-l6``) that answers ``/v1/embeddings`` under that name."""
    from genlab.models import as_loaded

    config = config or ServeConfig()
    check_bind(config)
    lm = as_loaded(model, precision=precision, trust_remote_code=trust_remote_code)
    if lm.kind != "causal":
        raise GenlabError(f"{lm.name} is a {lm.kind} model; the server runs decoder-only models",
                          hint="serve a causal LM such as smollm2-135m-instruct")
    for adapter_name, path in (adapters or {}).items():
        if adapter_name == (name or lm.name):
            raise ConfigError(f"adapter name {adapter_name!r} is the base model's name", where="--adapter",
                              hint="pick another name: --adapter NAME=PATH")
        load_named_adapter(lm, path, adapter_name)
    embeddings = None
    if embedding_model is not None:
        from genlab.apps.encoder import load_encoder
        from genlab.serving.embeddings import Embeddings

        if embedding_model in (name or lm.name, *(adapters or {})):
            raise ConfigError(f"{embedding_model!r} already names the served model or an adapter",
                              where="--embedding-model")
        embeddings = Embeddings(load_encoder(embedding_model), embedding_model)
    engine = Engine(lm, EngineConfig(max_batch=config.max_batch, max_queue=config.max_queue,
                                     threads=config.threads, prefix_caching=config.prefix_caching,
                                     batch_invariant=config.batch_invariant))
    if start_engine:
        engine.start()
    service = Service(engine, config, base_name=name or lm.name)
    service.embeddings = embeddings
    return service


def serve(service: Service) -> None:
    """Run until SIGTERM/SIGINT; requests in flight finish (up to ``drain_s``) before it returns.

    A service built with ``start_engine=False`` (``genlab serve``) runs its engine here, on this (main)
    thread, and uvicorn on another; the signals then stop uvicorn, whose end stops the engine."""
    import uvicorn

    cfg = service.config
    server = uvicorn.Server(uvicorn.Config(build_app(service), host=cfg.host, port=cfg.port, log_level="warning",
                                           timeout_graceful_shutdown=int(cfg.drain_s) + 5, access_log=False))
    engine = service.engine
    if engine.alive:
        try:
            server.run()
        finally:
            engine.stop(drain=False, timeout=10)
        return

    failed: list[BaseException] = []
    caught: list[int] = []

    def http() -> None:
        try:
            server.run()
        except BaseException as e:  # noqa: BLE001 - e.g. uvicorn's SystemExit when the port is taken: re-raised below
            failed.append(e)
        finally:
            engine.stop(drain=False)

    def on_signal(signum, frame) -> None:
        caught.append(signum)
        if server.should_exit:  # a second Ctrl-C: stop now, as uvicorn's own handler would
            server.force_exit = True
        server.should_exit = True  # uvicorn stops taking requests, lets those in flight finish, then ends

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        threading.Thread(target=http, name="genlab-uvicorn", daemon=True).start()
        engine.run_in_this_thread()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        raise failed[0]
    for sig in caught[:1]:  # drained: end as the signal asked (uvicorn does the same)
        signal.raise_signal(sig)


@contextlib.contextmanager
def running(service: Service, port: int | None = None):
    """The server on a background thread for the block; yields its base URL (``http://127.0.0.1:PORT``)."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(service), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, name="genlab-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise GenlabError(f"the server did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
