"""Typed dataclass fields from YAML values and from ``key=value`` text.

One place that knows how a config dataclass's annotations (``int``, ``float``,
``bool``, ``str``, ``list[str]``, ``X | None``) read a value, so ``TrainConfig``
from YAML and a method's options from ``genlab tune -o key=value`` fail the same
way: ``cfg.yaml: lr: expected a number, got 'fast'``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from genlab.errors import ConfigError

_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}
_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


def field_types(cls) -> dict[str, Any]:
    """``{field: annotation}`` of a dataclass, with string annotations resolved."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _split_optional(tp) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True
    return tp, False


def describe(tp) -> str:
    base, optional = _split_optional(tp)
    if typing.get_origin(base) is list:
        text = "a list (comma-separated, or a YAML list)"
    else:
        text = _NAMES.get(base, getattr(base, "__name__", str(base)))
    return text + (" or null" if optional else "")


def check_value(name: str, value: Any, tp, where: str) -> Any:
    """A YAML/JSON/Python value for field ``name``: returned (ints widened to float, a comma-separated
    string split into a list) or a ConfigError naming the field and the type it expects."""
    base, optional = _split_optional(tp)
    if value is None:
        if optional:
            return None
    elif typing.get_origin(base) is list:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
    elif base is bool:
        if isinstance(value, bool):
            return value
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif base is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads `2e-4` (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif base is str:
        if isinstance(value, str):
            return value
    else:
        return value  # a type this helper does not check: the dataclass validates it
    raise ConfigError(f"{name}: expected {describe(tp)}, got {value!r}", where=where)


def parse_text(name: str, text: str, tp, where: str) -> Any:
    """``text`` typed on a command line (``-o r=8``, ``-o target_modules=q,v``) read as field ``name``."""
    base, optional = _split_optional(tp)
    low = text.strip().lower()
    if optional and low in ("none", "null", ""):
        return None
    try:
        if base is bool:
            if low in _TRUE | _FALSE:
                return low in _TRUE
            raise ValueError
        if base is int:
            return int(text)
        if base is float:
            return float(text)
    except ValueError:
        raise ConfigError(f"{name}: expected {describe(tp)}, got {text!r}", where=where) from None
    if typing.get_origin(base) is list:
        return [v.strip() for v in text.split(",") if v.strip()]
    return text


def check_fields(cls, data: dict[str, Any], where: str) -> dict[str, Any]:
    """``data`` checked against ``cls``'s fields: unknown keys and wrongly typed values are errors."""
    types_ = field_types(cls)
    unknown = sorted(set(data) - set(types_))
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(unknown)}", where=where,
                          hint=f"{cls.__name__} fields: {', '.join(sorted(types_))}")
    return {k: check_value(k, v, types_[k], where) for k, v in data.items()}
