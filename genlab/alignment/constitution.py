"""A constitution: a YAML list of principles a judge applies (Constitutional AI, Bai et al. 2022).

    name: support-assistant
    principles:
      - id: polite
        text: Choose the reply that is polite and respectful to the customer.
        check: {max_toxicity: 0.5}
      - id: faithful
        text: Choose the reply that states only facts from the conversation.
        check: {facts: true}

``text`` is what an LLM judge reads. ``check`` (optional) is what the offline rule judge
can verify: ``max_toxicity`` (alt-profanity-check probability), ``forbid`` (words or
phrases, case-insensitive), ``require_any``, ``max_words``, ``min_words``, ``facts``
(every fact the reply states is one of the example's facts; needs rows with ``facts``).
``weight`` (default 1) scales a principle's violations. Errors name the file, line and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab.errors import ConfigError

CHECKS = {"max_toxicity": float, "forbid": list, "require_any": list, "max_words": int, "min_words": int,
          "facts": bool}
PRINCIPLE_KEYS = {"id", "text", "check", "weight"}


@dataclass
class Principle:
    id: str
    text: str
    check: dict[str, Any] = field(default_factory=dict)
    weight: float = 1.0


@dataclass
class Constitution:
    name: str
    principles: list[Principle]
    source: str = "<constitution>"

    @property
    def checkable(self) -> list[Principle]:
        return [p for p in self.principles if p.check]


class _LineLoader:
    """A yaml SafeLoader whose mappings remember their line (``__line__``), for error messages."""

    @staticmethod
    def make():
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        def mapping(loader, node, deep=False):
            m = yaml.SafeLoader.construct_mapping(loader, node, deep=True)
            m["__line__"] = node.start_mark.line + 1
            return m

        Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
        return Loader


def load_constitution(path: str | Path) -> Constitution:
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the constitution: {e}", where=str(path)) from None
    try:
        data = yaml.load(text, Loader=_LineLoader.make())  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"not valid YAML: {getattr(e, 'problem', e)}", where=where) from None
    return constitution_from(data, str(path))


def constitution_from(data: Any, source: str = "<constitution>") -> Constitution:
    if isinstance(data, list):
        data = {"principles": data, "__line__": 1}
    if not isinstance(data, dict) or "principles" not in data:
        raise ConfigError("a constitution is a mapping with `principles:` (a list), or the list itself",
                          where=source, hint="e.g. principles: [{id: polite, text: Choose the polite reply.}]")
    items = data["principles"]
    if not isinstance(items, list) or not items:
        raise ConfigError("`principles` must be a non-empty list", where=f"{source}:{data.get('__line__', 1)}",
                          hint="each item: {id: ..., text: ..., check: {...}}")
    principles = [_principle(item, i, source) for i, item in enumerate(items)]
    ids = [p.id for p in principles]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"principle id {dupes[0]!r} is used twice", where=source, hint="give each principle its own id")
    return Constitution(str(data.get("name", Path(source).stem)), principles, source)


def _principle(item: Any, i: int, source: str) -> Principle:
    if not isinstance(item, dict):
        raise ConfigError(f"principles[{i}] must be a mapping, got {type(item).__name__}", where=source,
                          hint="write {id: ..., text: ...}")
    where = f"{source}:{item.get('__line__', '?')}"
    unknown = sorted(k for k in item if k not in PRINCIPLE_KEYS | {"__line__"})
    if unknown:
        raise ConfigError(f"principles[{i}] has unknown field {unknown[0]!r}", where=f"{where}: {unknown[0]}",
                          hint=f"fields: {', '.join(sorted(PRINCIPLE_KEYS))}")
    for key in ("id", "text"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise ConfigError(f"principles[{i}].{key} must be non-empty text", where=f"{where}: {key}")
    weight = item.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
        raise ConfigError(f"principles[{i}].weight must be a number > 0, got {weight!r}", where=f"{where}: weight")
    return Principle(item["id"], item["text"].strip(), _check(item.get("check") or {}, i, where), float(weight))


def _check(check: Any, i: int, where: str) -> dict[str, Any]:
    if not isinstance(check, dict):
        raise ConfigError(f"principles[{i}].check must be a mapping", where=f"{where}: check",
                          hint=f"keys: {', '.join(CHECKS)}")
    out = {}
    for key, value in check.items():
        if key == "__line__":
            continue
        if key not in CHECKS:
            raise ConfigError(f"principles[{i}].check has unknown rule {key!r}", where=f"{where}: check.{key}",
                              hint=f"rules the offline judge can check: {', '.join(CHECKS)}")
        want = CHECKS[key]
        ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
        if want is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
        if want is list:
            ok = ok and all(isinstance(v, str) and v.strip() for v in value)
        if not ok:
            expected = {float: "a probability in [0, 1]", list: "a list of words or phrases", int: "a whole number",
                        bool: "true or false"}[want]
            raise ConfigError(f"principles[{i}].check.{key} must be {expected}, got {value!r}",
                              where=f"{where}: check.{key}")
        out[key] = [v.lower() for v in value] if want is list else value
    return out


def violations(principle: Principle, text: str, *, toxicity: float | None = None, facts: dict | None = None) -> int:
    """How many of ``principle``'s checks ``text`` fails (0: it passes, or nothing is checkable)."""
    c, low, words = principle.check, text.lower(), len(text.split())
    failed = 0
    if "max_toxicity" in c and toxicity is not None and toxicity >= c["max_toxicity"]:
        failed += 1
    if "forbid" in c and any(re.search(rf"\b{re.escape(w)}\b", low) for w in c["forbid"]):
        failed += 1
    if "require_any" in c and not any(w in low for w in c["require_any"]):
        failed += 1
    if "max_words" in c and words > c["max_words"]:
        failed += 1
    if "min_words" in c and words < c["min_words"]:
        failed += 1
    if c.get("facts") and facts:
        from genlab.evaluation.metrics.facts import judge

        _, wrong = judge(text, facts)
        failed += bool(wrong)
    return failed
