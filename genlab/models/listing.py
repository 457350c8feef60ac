"""What models are here: built-ins and genlab's cache, with sizes and parameter counts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from genlab.models.registry import BUILTINS
from genlab.paths import models_dir


@dataclass
class ModelInfo:
    name: str
    kind: str
    params: int | None
    size_bytes: int
    where: str
    note: str = ""


def count_params(folder: Path) -> int | None:
    """Parameters from safetensors headers (no weights are read)."""
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for f in files:
        with safe_open(str(f), framework="pt") as st:
            for key in st.keys():
                shape = st.get_slice(key).get_shape()
                n = 1
                for d in shape:
                    n *= d
                total += n
    return total


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def list_models() -> list[ModelInfo]:
    out: list[ModelInfo] = []
    cache = models_dir()
    for b in BUILTINS.values():
        cached = cache / b.name
        if b.name == "minilm-l6":
            folder = b.locate()
            out.append(ModelInfo(b.name, b.kind, count_params(folder), folder_size(folder), str(folder), b.description))
        elif (cached / "genlab-manifest.json").is_file():
            out.append(ModelInfo(b.name, b.kind, count_params(cached), folder_size(cached), str(cached), b.description))
        else:
            out.append(ModelInfo(b.name, b.kind, None, 0, "(not converted yet: first load ~30 s)", b.description))
    builtin_dirs = {cache / n for n in BUILTINS}
    for folder in sorted(cache.glob("*")) if cache.is_dir() else []:
        if folder in builtin_dirs or not folder.is_dir() or folder.name.startswith("."):
            continue
        out.append(ModelInfo(folder.name, _kind(folder), count_params(folder), folder_size(folder), str(folder),
                             _source(folder)))
    return out


def _kind(folder: Path) -> str:
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return "?"
    return "seq2seq" if cfg.get("is_encoder_decoder") else cfg.get("model_type", "?")


def _source(folder: Path) -> str:
    try:
        return "from " + json.loads((folder / "genlab-manifest.json").read_text())["source"]
    except (OSError, ValueError, KeyError):
        return ""
