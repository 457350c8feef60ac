"""Field-level F1 for JSON extraction.

Both prediction and reference are JSON objects (the prediction may be wrapped in
prose or a Markdown code fence: the first ``{...}`` block that parses is used).
Each object is flattened into a set of ``(path, value)`` fields — nested keys
joined with ``.``, list items indexed, values normalized (strings lowercased and
whitespace-collapsed; numbers as floats so ``5`` equals ``5.0``). Then

    P = |pred ∩ gold| / |pred|,  R = |pred ∩ gold| / |gold|,  F1 = 2PR / (P + R)

An unparseable prediction has no fields (F1 = 0 unless the reference is empty too;
two empty objects score 1). This is the micro-per-sample variant used by
information-extraction evaluations (e.g. CORD/SROIE field F1); corpus score is
the mean over samples, in [0, 1].
"""

from __future__ import annotations

import json
import re
from typing import Any

from genlab.evaluation.metrics.base import MeanMetric, as_refs
from genlab.evaluation.metrics.f1 import set_f1

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def parse_json_object(text: str) -> dict | None:
    """The first JSON object in ``text`` (bare, fenced or embedded in prose), else None."""
    if isinstance(text, dict):
        return text
    candidates = [text] + _FENCE.findall(text)
    decoder = json.JSONDecoder()
    for cand in candidates:
        for start in [m.start() for m in re.finditer(r"\{", cand)]:
            try:
                obj, _ = decoder.raw_decode(cand[start:])
            except ValueError:
                continue
            if isinstance(obj, dict):
                return obj
    return None


def _norm(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return " ".join(str(value).lower().split())


def flatten(obj: Any, prefix: str = "") -> set[tuple[str, Any]]:
    """``{"a": {"b": 1}, "c": ["x"]}`` -> ``{("a.b", 1.0), ("c.0", "x")}``."""
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list):
        items = ((str(i), v) for i, v in enumerate(obj))
    else:
        return {(prefix, _norm(obj))}
    fields: set[tuple[str, Any]] = set()
    for key, value in items:
        fields |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return fields


def field_f1(prediction: Any, reference: Any) -> float:
    gold_obj = parse_json_object(reference) if isinstance(reference, str) else reference
    if gold_obj is None:
        raise ValueError(f"field_f1: the reference is not a JSON object: {str(reference)[:80]!r}")
    gold, pred = flatten(gold_obj), flatten(parse_json_object(prediction) or {})
    if not gold and not pred:
        return 1.0
    return set_f1(gold, pred)


class FieldF1(MeanMetric):
    name = "field_f1"
    reference = "field-level F1 over flattened JSON (key path, normalized value) pairs"

    def score(self, prediction: str, references: Any) -> float:
        refs = [references] if isinstance(references, dict) else as_refs(references)
        return max(field_f1(prediction, ref) for ref in refs)
