"""Answer post-processing named in a task's ``postprocess`` list, applied in order.

Steps: ``strip``, ``first_line``, ``lower``, ``first_sentence``, ``{"regex": PATTERN}``
(keep group 1 if the pattern has a group, else the whole match; no match keeps
the text unchanged, like lm-eval's ``regex`` filter fallback), and
``{"stop": [..]}`` (cut at the first stop string).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from genlab.errors import ConfigError

Step = Callable[[str], str]


def _first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0] if stripped else ""


def _first_sentence(text: str) -> str:
    match = re.match(r"\s*(.+?[.!?])(\s|$)", text, re.S)
    return match.group(1) if match else text.strip()


SIMPLE: dict[str, Step] = {
    "strip": str.strip,
    "first_line": _first_line,
    "lower": str.lower,
    "first_sentence": _first_sentence,
}


def _regex(pattern: str, where: str) -> Step:
    try:
        rx = re.compile(pattern, re.S)
    except re.error as e:
        raise ConfigError(f"bad regex {pattern!r}: {e}", where=where,
                          hint="check the pattern with Python's re module") from None

    def apply(text: str) -> str:
        m = rx.search(text)
        if not m:
            return text
        return m.group(1) if rx.groups else m.group(0)

    return apply


def _stop(stops: list[str]) -> Step:
    def apply(text: str) -> str:
        cut = min((text.find(s) for s in stops if s in text), default=-1)
        return text[:cut] if cut >= 0 else text

    return apply


def build(steps: list[Any] | None, where: str = "postprocess") -> Callable[[str], str]:
    """Compile the step list once; raises ConfigError naming the bad step."""
    fns: list[Step] = []
    for i, step in enumerate(steps or []):
        here = f"{where}[{i}]"
        if isinstance(step, str) and step in SIMPLE:
            fns.append(SIMPLE[step])
        elif isinstance(step, dict) and set(step) == {"regex"}:
            fns.append(_regex(str(step["regex"]), here))
        elif isinstance(step, dict) and set(step) == {"stop"}:
            stops = step["stop"]
            fns.append(_stop([stops] if isinstance(stops, str) else list(stops)))
        else:
            raise ConfigError(f"unknown post-processing step {step!r}", where=here,
                              hint=f"use one of {', '.join(SIMPLE)}, {{regex: PATTERN}} or {{stop: [..]}}")

    def apply(text: str) -> str:
        for fn in fns:
            text = fn(text)
        return text

    return apply
