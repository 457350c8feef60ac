"""Adapter kinds, registered by the module that knows how to load them.

A *format* says how an adapter's tensors sit in its folder and on the model
(``peft``: peft's own files; ``bottleneck``: genlab's bottleneck modules;
``weights``: changed base tensors). A *method* (``lora``, ``adapter``, ...) names
its format and whether it folds into the base weights. Each format module
registers itself and its methods, one line per method, so loading dispatches on
the manifest without a central table and without importing the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from genlab.errors import GenlabError

if TYPE_CHECKING:
    from genlab.adapters.switch import AdapterState


@dataclass(frozen=True)
class Format:
    name: str
    # put adapter ``name`` from the folder onto ``state``'s model (not yet active)
    load: Callable[[AdapterState, Path, str, dict], None]
    # make ``name`` active for this format, or switch this format off (None)
    activate: Callable[[AdapterState, str | None], None]
    # write the trained part of a model into a folder
    save: Callable[[Any, Path], None]


@dataclass(frozen=True)
class Kind:
    method: str
    format: str
    mergeable: bool  # folds into the base weights (no extra computation at inference)


FORMATS: dict[str, Format] = {}
KINDS: dict[str, Kind] = {}


def register_format(fmt: Format) -> Format:
    FORMATS[fmt.name] = fmt
    return fmt


def register_method(method: str, fmt: str, *, mergeable: bool) -> Kind:
    KINDS[method] = Kind(method, fmt, mergeable)
    return KINDS[method]


def kind_of(method: str, manifest: dict | None = None, where: str | None = None) -> Kind:
    """The method's kind; an unregistered method still loads by the format its manifest records."""
    if method in KINDS:
        return KINDS[method]
    fmt = (manifest or {}).get("saved_by")
    if fmt in FORMATS:
        return Kind(method, fmt, bool((manifest or {}).get("mergeable", False)))
    raise GenlabError(f"no adapter loader for method {method!r}", where=where,
                      hint=f"known methods: {', '.join(sorted(KINDS))}")


def format_of(name: str) -> Format:
    return FORMATS[name]
