"""A generation cache: re-running an identical eval reuses its generations.

Key = sha256 of (model identity, prompt, generation config, chat flag, precision).
The model identity is the registry's ``model_hash`` plus a fingerprint of the
weights actually in memory (``weights_fingerprint``), so a model fine-tuned in place, or one carrying a
LoRA/bottleneck adapter, never reads the base model's generations.

Stored in one SQLite file under ``$GENLAB_HOME/cache/generations.sqlite``
(transactions make concurrent writers safe; a half-written row cannot exist).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from genlab.paths import cache_dir

SCHEMA = "CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def weights_fingerprint(model, sample: int = 8192) -> str:
    """Digest of every parameter and buffer: name, shape and the bytes of up to ``sample`` evenly
    strided elements (all of them for small tensors, so adapter weights are hashed whole).

    Training touches every element of the tensors it updates, so any fine-tune or
    adapter changes the digest; it costs milliseconds where hashing 135M floats
    takes seconds.
    """
    import torch

    h = hashlib.sha256()
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            flat = t.detach().reshape(-1)
            step = max(1, flat.numel() // sample)
            h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
            h.update(flat[::step].float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def model_identity(lm) -> str:
    """What decides the outputs: base hash, loaded adapters, active adapter, weights in memory."""
    parts = [str(lm.model_hash), ",".join(map(str, getattr(lm, "adapters", []) or [])),
             str(getattr(lm.model, "active_adapter", "")), weights_fingerprint(lm.model)]
    return "|".join(parts)


def cache_key(identity: str, prompt: str, config: dict[str, Any], *, chat: bool, precision: str,
              batch_invariant: bool = False) -> str:
    fields = {"model": identity, "prompt": prompt, "config": config, "chat": chat, "precision": precision}
    if batch_invariant:  # its own entries (keys made before the option are unchanged)
        fields["batch_invariant"] = True
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class GenerationCache:
    """``get_many(keys) -> {key: value}``, ``put_many({key: value})``; values are JSON objects."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else cache_dir("cache") / "generations.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        with self._connect() as db:
            for start in range(0, len(keys), 500):  # SQLite's parameter limit
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, value in db.execute(f"SELECT key, value FROM generations WHERE key IN ({marks})", chunk):
                    found[key] = json.loads(value)
        return found

    def put_many(self, items: dict[str, dict]) -> None:
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO generations (key, value) VALUES (?, ?)",
                           [(k, json.dumps(v, ensure_ascii=False)) for k, v in items.items()])

    def __len__(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]
