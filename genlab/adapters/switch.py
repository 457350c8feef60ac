"""Several named adapters on one base: load, switch per request, ask which is active.

    load_adapter(lm, "runs/a/adapter", "a"); load_adapter(lm, "runs/b/adapter", "b")
    set_adapter(lm, "a"); ...; set_adapter(lm, BASE)  # the base model alone

The base stays in memory once; each format keeps its own tensors beside it
(peft: one PeftModel holding every peft adapter; bottleneck: one module per
site and adapter; weights: the changed tensors, swapped in on activation).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab.adapters import registry
from genlab.adapters.foreign import read_any_manifest
from genlab.adapters.manifest import AdapterInfo, check_base, read_manifest
from genlab.errors import GenlabError

BASE = None  # set_adapter(lm, BASE): the base model alone


@dataclass
class AdapterState:
    """The adapters loaded on one LoadedModel (``lm.adapter_state``)."""

    base: Any  # the raw base model, never a peft wrapper
    peft: Any = None  # the PeftModel around ``base`` once a peft adapter is loaded
    loaded: dict[str, AdapterInfo] = field(default_factory=dict)  # by name, in load order
    active: str | None = None
    # weights format: changed tensors per adapter name; the base's originals under None
    weights: dict[str | None, dict[str, Any]] = field(default_factory=dict)
    # ... and the base parameters they go into, held by reference: peft renames modules it wraps
    weight_params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, lm) -> AdapterState:
        """``lm``'s state, created on first use (a model that is already a PeftModel keeps its wrapper)."""
        if lm.adapter_state is None:
            peft = sys.modules.get("peft")  # not imported: the model cannot be a PeftModel (and peft stays out)
            wrapped = peft is not None and isinstance(lm.model, peft.PeftModel)
            lm.adapter_state = cls(base=lm.model.get_base_model() if wrapped else lm.model,
                                   peft=lm.model if wrapped else None)
        return lm.adapter_state


def load_adapter(lm, path: str | Path, name: str | None = None):
    """Load the adapter at ``path`` onto ``lm`` (a LoadedModel) under ``name`` and make it active.

    Several adapters can be loaded on one base; ``set_adapter(lm, name)`` switches
    between them (``None``: the base model) without reloading the base.
    """
    manifest = read_any_manifest(path)
    check_base(lm, manifest, path)
    if manifest.get("head") and lm.adapter_state is None:
        from genlab.adapters.heads import with_head

        lm.model = with_head(lm, manifest["head"], manifest["labels"]).model
    state = AdapterState.of(lm)
    name = name or Path(path).resolve().name
    if name in state.loaded:
        raise GenlabError(f"an adapter named {name!r} is already loaded", hint="pass another name=")
    kind = registry.kind_of(manifest["method"], manifest, where=str(path))
    registry.format_of(kind.format).load(state, Path(path), name, manifest)
    state.loaded[name] = AdapterInfo.from_manifest(name, path, manifest)
    lm.adapters.append(name)
    set_adapter(lm, name)
    return lm


def set_adapter(lm, name: str | None) -> None:
    """Make adapter ``name`` active for the next requests (``None``: base model alone)."""
    state = AdapterState.of(lm)
    if name is not None and name not in state.loaded:
        raise GenlabError(f"no adapter named {name!r} is loaded", hint=f"loaded: {', '.join(state.loaded) or 'none'}")
    active_format = state.loaded[name].saved_by if name is not None else None
    lm.model = state.base
    for fmt in registry.FORMATS.values():  # every format switches off except the active one's
        fmt.activate(state, name if fmt.name == active_format else None)
    if active_format == "peft":
        lm.model = state.peft
    state.active = name


def active_adapter(lm) -> str | None:
    return lm.adapter_state.active if lm.adapter_state is not None else None


def loaded_adapters(lm) -> list[AdapterInfo]:
    """What is loaded on ``lm``, in load order (empty for a bare base)."""
    state = getattr(lm, "adapter_state", None)
    return list(state.loaded.values()) if state is not None else []


def adapter_records(lm) -> list[dict]:
    """The loaded adapters as results.json records them: path, method, task, base, name, active."""
    active = active_adapter(lm) if getattr(lm, "adapter_state", None) is not None else None
    return [{**a.to_json(), "active": a.name == active} for a in loaded_adapters(lm)]
