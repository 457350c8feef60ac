"""Saving an adapter folder: the method's tensors in its format, plus ``manifest.json``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from genlab.adapters import registry
from genlab.adapters.manifest import write_manifest


def save_adapter(model, out_dir: str | Path, *, method: str, method_cfg: Any, base_name: str, base_hash: str,
                 base_kind: str, extra: dict | None = None) -> Path:
    """Write the trained part of ``model`` and its manifest to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kind = registry.kind_of(method)
    registry.format_of(kind.format).save(model, out)
    cfg = dataclasses.asdict(method_cfg) if dataclasses.is_dataclass(method_cfg) else dict(method_cfg or {})
    write_manifest(out, method=method, method_config=cfg, saved_by=kind.format, mergeable=kind.mergeable,
                   base_name=base_name, base_hash=base_hash, base_kind=base_kind, extra=extra)
    return out


def stored_params(folder: str | Path) -> int:
    """Parameters stored in a saved adapter (or model) folder's ``.safetensors`` files: what its training
    changed, for the leaderboard's "trainable params" of stages that save an adapter without a tune result."""
    from math import prod

    from safetensors import safe_open

    total = 0
    for file in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as f:
            total += sum(prod(f.get_slice(key).get_shape()) for key in f.keys())
    return total
