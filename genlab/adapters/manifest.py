"""``manifest.json``: what an adapter folder holds and which base it belongs to.

    {"format": "genlab-adapter/1", "method": "lora", "method_config": {...}, "saved_by": "peft",
     "base_model": {"name": ..., "hash": ..., "kind": ...}, "task": ..., "head": ..., "labels": ...,
     "train_config": {...}, "metrics": {...}, "created": ...}
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError
from genlab.io import atomic_write_json, read_json

MANIFEST, WEIGHTS, FORMAT = "manifest.json", "weights.safetensors", "genlab-adapter/1"


def write_manifest(out: Path, *, method: str, method_config: dict, saved_by: str, mergeable: bool,
                   base_name: str, base_hash: str, base_kind: str, extra: dict | None = None) -> None:
    atomic_write_json(Path(out) / MANIFEST, {
        "format": FORMAT, "method": method, "method_config": method_config, "saved_by": saved_by,
        "mergeable": mergeable, "base_model": {"name": base_name, "hash": base_hash, "kind": base_kind},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(extra or {})})


def update_manifest(path: str | Path, **fields) -> None:
    m = read_manifest(path)
    atomic_write_json(Path(path) / MANIFEST, {**m, **fields})


def read_manifest(path: str | Path) -> dict:
    f = Path(path) / MANIFEST
    if not f.is_file():
        raise GenlabError(f"{path} is not a genlab adapter folder (no {MANIFEST})", where=str(path),
                          hint="pass the adapter/ folder of a `genlab tune` run")
    m = read_json(f)
    if m.get("format") != FORMAT:
        raise GenlabError(f"unknown adapter format {m.get('format')!r}", where=str(f), hint=f"expected {FORMAT}")
    return m


def check_base(lm, manifest: dict, path) -> None:
    want = manifest["base_model"]
    if want.get("hash") is None:
        return  # a foreign adapter (plain peft) records no hash: its config names the base only
    if want["hash"] != lm.model_hash:
        raise GenlabError(
            f"adapter was trained on base model {want['name']!r} (hash {want['hash'][:12]}), "
            f"but the loaded model is {lm.name!r} (hash {str(lm.model_hash)[:12]}); refusing to apply it",
            where=str(Path(path) / MANIFEST),
            hint=f"load the matching base first: genlab.models.load({want['name']!r}), or `-m {want['name']}`")


@dataclass(frozen=True)
class AdapterInfo:
    """One loaded adapter as results and titles name it."""

    name: str  # the name it is loaded under (set_adapter(lm, name))
    path: str
    method: str
    task: str | None
    base: str | None  # the base model the adapter was trained on
    saved_by: str

    @classmethod
    def from_manifest(cls, name: str, path: str | Path, manifest: dict[str, Any]) -> AdapterInfo:
        task = manifest.get("task")
        return cls(name=name, path=str(path), method=manifest["method"],
                   task=task if isinstance(task, str) or task is None else str(task),
                   base=manifest.get("base_model", {}).get("name"), saved_by=manifest["saved_by"])

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "method": self.method, "task": self.task, "base": self.base}


def describe(adapter: dict[str, Any]) -> str:
    """``lora on support-summary (runs/lora/adapter)`` for an ``AdapterInfo.to_json()`` record."""
    task = f" on {adapter['task']}" if adapter.get("task") else ""
    return f"{adapter.get('method')}{task} ({adapter.get('path')})"


def short_name(path: str | Path) -> str:
    """``run`` for ``runs/run/adapter`` (genlab tune's layout), else the folder's own name."""
    p = Path(path)
    return p.parent.name if p.name == "adapter" and p.parent.name else p.name
