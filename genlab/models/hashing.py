"""Content hashes: a model's identity for caches, manifests and adapter checks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

CHUNK = 1 << 24


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def dir_fingerprint(path: str | Path) -> str:
    """Hash of a model folder: config plus every weight file's size and sha256.

    Weights dominate the cost (~0.4 s per 500 MB here); tokenizer files are
    included because a different tokenizer makes a different model.
    """
    path = Path(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.iterdir() if p.is_file()):
        if f.name.startswith(".") or f.name == "genlab-manifest.json":
            continue
        h.update(f.name.encode())
        if f.suffix in WEIGHT_SUFFIXES:
            h.update(file_sha256(f).encode())
        elif f.suffix == ".json" or f.suffix in (".model", ".txt"):
            h.update(f.read_bytes())
    return h.hexdigest()


def short(digest: str, n: int = 12) -> str:
    return digest[:n]


def json_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
