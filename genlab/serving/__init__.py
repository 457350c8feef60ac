"""Serving: an OpenAI-compatible HTTP server, one engine thread with continuous batching, per-request adapters, a playground."""
