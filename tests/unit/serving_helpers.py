"""A real server on a free port over a tiny random model (fp32), for the serving tests."""

from __future__ import annotations

import contextlib

from genlab.models import load


@contextlib.contextmanager
def tiny_server(model_dir, adapters: dict | None = None, *, embedding_model: str | None = None,
                precision: str = "fp32", **config):
    """Yields (base URL, service); the engine thread and uvicorn stop after the block."""
    from genlab.serving import ServeConfig, build_service, running

    service = build_service(load(str(model_dir), precision=precision), adapters or {}, ServeConfig(**config),
                            name="tiny", embedding_model=embedding_model)
    try:
        with running(service) as url:
            yield url, service
    finally:
        service.engine.stop(drain=False, timeout=10)


def client(url: str, **kw):
    import openai

    return openai.OpenAI(base_url=url + "/v1", api_key=kw.pop("api_key", "unused"), max_retries=0, **kw)


def async_client(url: str, **kw):
    import openai

    return openai.AsyncOpenAI(base_url=url + "/v1", api_key=kw.pop("api_key", "unused"), max_retries=0, **kw)


def settles(engine, timeout: float = 5.0) -> bool:
    """True once the engine runs nothing and holds no KV cache (it drops finished rows right after they end)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if engine.running() == 0 and engine.kv_bytes() == 0 and engine.queued() == 0:
            return True
        time.sleep(0.01)
    return False
