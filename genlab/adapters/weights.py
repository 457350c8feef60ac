"""The ``weights`` format: the base tensors a method changed (``weights.safetensors``).

Full and selective fine-tuning change base weights in place, so switching
copies the adapter's tensors into the base and restores the originals for the
base alone (kept once, the first time an adapter touches a tensor).
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlab.adapters.manifest import WEIGHTS
from genlab.adapters.registry import Format, register_format, register_method
from genlab.errors import GenlabError


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous().clone() for k, v in tensors.items()}, str(path))


def _load(state, path: Path, name: str, manifest: dict) -> None:
    saved = load_tensors(path / WEIGHTS)
    params = dict(state.base.named_parameters())
    unknown = [k for k in saved if k not in params]
    if unknown:
        raise GenlabError(f"adapter holds tensor {unknown[0]!r} the base model lacks", where=str(path))
    originals = state.weights.setdefault(None, {})
    for k in saved:
        originals.setdefault(k, params[k].detach().clone())
        state.weight_params.setdefault(k, params[k])
    state.weights[name] = saved


def _activate(state, name: str | None) -> None:
    """Copy adapter ``name``'s tensors into the base (or restore the originals for ``None``)."""
    if not state.weights:
        return
    target = state.weights.get(name, {})
    with torch.no_grad():
        for k, original in state.weights[None].items():
            state.weight_params[k].copy_(target.get(k, original))


def _save(model, out: Path) -> None:
    save_tensors({n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad}, out / WEIGHTS)


register_format(Format("weights", _load, _activate, _save))
register_method("full", "weights", mergeable=True)
register_method("selective", "weights", mergeable=True)
