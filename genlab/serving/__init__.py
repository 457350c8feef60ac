"""Serving: an OpenAI-compatible HTTP server, one engine thread with continuous batching, per-request adapters, a playground.

Public API (imported on first use):

- ``ServeConfig`` — host, port, API key and the limits (batch, queue, max_tokens cap, body size, timeout).
- ``build_service(model, adapters, config)`` — load the model and adapters, start the engine thread.
- ``serve(service)`` — run the HTTP server until SIGTERM/Ctrl-C (requests in flight finish first).
- ``running(service)`` — the same server on a background thread, as a context manager yielding its URL.
- ``Engine``, ``EngineConfig`` — the engine alone (continuous batching over one model).
"""

from genlab._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "ServeConfig": "genlab.serving.app",
    "build_service": "genlab.serving.server",
    "serve": "genlab.serving.server",
    "running": "genlab.serving.server",
    "Engine": "genlab.serving.engine",
    "EngineConfig": "genlab.serving.engine",
})
