"""Structured outputs: JSON mode, a JSON schema, a regular expression or one of fixed choices, enforced token by
token with llguidance (the grammar engine vLLM and SGLang use).

The fields, as OpenAI and vLLM name them (at most one per request):

* ``response_format``: ``{"type": "json_object"}`` (any JSON object), ``{"type": "json_schema", "json_schema":
  {"name", "schema", "strict"}}`` (what ``client.chat.completions.parse(response_format=Model)`` sends), or
  ``{"type": "text"}`` (no constraint);
* vLLM's ``guided_json`` (a schema, or a JSON string of one), ``guided_regex``, ``guided_choice`` (strings), and
  its newer ``structured_outputs: {json | regex | choice}``.

JSON is laid out as ``json.dumps`` does (``", "`` and ``": "``, no other whitespace). Each choice of a request gets
its own matcher. Its mask is applied after the other logit edits (``LogitRules``) and
before the greedy pick or the draw, so every token keeps the output a prefix of something valid. A finished structure
ends the choice (``finish_reason: "stop"``); ``max_tokens`` may cut it first (``"length"``), as with OpenAI.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import torch

from genlab.serving.protocol import bad

GUIDED = ("guided_json", "guided_regex", "guided_choice")
# json.dumps' layout and no other whitespace: a model cannot stall in blank space before the structure is done
# (a schema's own "x-guidance" options override this)
JSON_LAYOUT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
_SHIFTS = torch.arange(32, dtype=torch.int32)


@dataclass(frozen=True)
class Constraint:
    """A request's structure, as llguidance grammar text (checked when the request is parsed)."""

    kind: str  # "json" | "regex" | "choice"
    grammar: str


def constraint_of(body: dict) -> Constraint | None:
    """The request's structured-output field as a ``Constraint``; None for free text; a 400 for a bad one."""
    given = [name for name in ("response_format", *GUIDED, "structured_outputs")
             if body.get(name) is not None and not (name == "response_format" and _is_text(body[name]))]
    if len(given) > 1:
        raise bad(f"give one structured-output field, not {', '.join(given)}", given[1])
    if not given:
        return None
    name, value = given[0], body[given[0]]
    if name == "response_format":
        return _response_format(value)
    if name == "structured_outputs":
        if not isinstance(value, dict) or len(set(value) & {"json", "regex", "choice"}) != 1:
            raise bad("'structured_outputs' takes one of json, regex or choice", name)
        key = next(k for k in ("json", "regex", "choice") if k in value)
        return _guided(f"guided_{key}", value[key], f"{name}.{key}")
    return _guided(name, value, name)


def constraint(*, schema: dict | str | None = None, regex: str | None = None,
               choices: list[str] | None = None) -> Constraint | None:
    """The same outside a request (``genlab generate --schema/--regex/--choice``): a ConfigError when bad.
    ``schema="object"`` is JSON mode: any JSON object."""
    from genlab.errors import ConfigError
    from genlab.serving.protocol import APIError

    body = {"guided_json": {"type": "object"} if schema == "object" else schema, "guided_regex": regex,
            "guided_choice": choices}
    flags = {"guided_json": "--schema", "guided_regex": "--regex", "guided_choice": "--choice"}
    try:
        return constraint_of(body)
    except APIError as e:
        message = e.message
        for field, flag in flags.items():
            message = message.replace(f"'{field}'", flag).replace(field, flag)
        hint = "--schema takes a JSON schema (a file or inline JSON) or 'object'" if e.param == "guided_json" else None
        raise ConfigError(message, hint=hint) from None


def _is_text(fmt) -> bool:
    return isinstance(fmt, dict) and fmt.get("type") == "text"


def _response_format(fmt) -> Constraint:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        return _json({"type": "object"}, "response_format")
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), dict):
            raise bad("response_format json_schema needs 'json_schema': {name, schema}",
                      "response_format.json_schema")
        return _json(spec.get("schema") or {"type": "object"}, "response_format.json_schema.schema")
    raise bad("response_format 'type' must be text, json_object or json_schema", "response_format.type")


def _guided(name: str, value, param: str) -> Constraint:
    from llguidance import LLMatcher

    if name == "guided_json":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as e:
                raise bad(f"'{param}' is not valid JSON: {e.msg} at column {e.colno}", param) from None
        if not isinstance(value, dict):
            raise bad(f"'{param}' must be a JSON schema object", param)
        return _json(value, param)
    if name == "guided_regex":
        if not isinstance(value, str) or not value:
            raise bad(f"'{param}' must be a non-empty regular expression", param)
        return _checked("regex", LLMatcher.grammar_from_regex(value), param)
    if not isinstance(value, list) or not value or not all(isinstance(c, str) and c for c in value):
        raise bad(f"'{param}' must be a non-empty array of non-empty strings", param)
    lark = "start: " + " | ".join(json.dumps(c, ensure_ascii=False) for c in value)
    return _checked("choice", LLMatcher.grammar_from_lark(lark), param)


def _json(schema: dict, param: str) -> Constraint:
    from llguidance import LLMatcher

    try:
        grammar = LLMatcher.grammar_from_json_schema(schema, defaults=JSON_LAYOUT)
    except Exception as e:  # a schema llguidance cannot read
        raise bad(f"'{param}': {e}", param) from None
    return _checked("json", grammar, param)


def _checked(kind: str, grammar: str, param: str) -> Constraint:
    from llguidance import LLMatcher

    error = LLMatcher.validate_grammar(grammar)
    if error:
        raise bad(f"'{param}' cannot be enforced: {error.strip().splitlines()[0]}", param)
    return Constraint(kind, grammar)


class GrammarTokenizer:
    """llguidance's view of the served tokenizer, built once (about 0.3 s for a 49k vocabulary) when first needed."""

    def __init__(self, tokenizer):
        self.tokenizer, self._ll, self._lock = tokenizer, None, threading.Lock()

    def matcher(self, constraint: Constraint) -> Matcher:
        with self._lock:
            if self._ll is None:
                import llguidance.hf

                self._ll = llguidance.hf.from_tokenizer(self.tokenizer)
        return Matcher(self._ll, constraint)


class Matcher:
    """One choice's place in its grammar: which tokens may come next, and whether the structure is complete."""

    def __init__(self, ll_tokenizer, constraint: Constraint):
        from llguidance import LLMatcher

        self.vocab = ll_tokenizer.vocab_size
        self.eos = ll_tokenizer.eos_token
        self.m = LLMatcher(ll_tokenizer, constraint.grammar)
        self.bits = torch.zeros(1, (self.vocab + 31) // 32, dtype=torch.int32)

    def mask(self, row: torch.Tensor) -> None:
        """Set the logit of every token the grammar forbids next to -inf, in place (one row, (V,))."""
        from llguidance.torch import fill_next_token_bitmask

        fill_next_token_bitmask(self.m, self.bits, 0)
        allowed = ((self.bits[0, :, None] >> _SHIFTS) & 1).flatten()[:min(self.vocab, row.shape[0])].bool()
        if not allowed.any():  # the matcher is in error (cannot happen while every token came from its mask)
            allowed[self.eos] = True
        row[:allowed.shape[0]].masked_fill_(~allowed.to(row.device), float("-inf"))
        row[allowed.shape[0]:] = float("-inf")

    def consume(self, token: int) -> bool:
        """Advance past ``token``; True when the structure is complete (nothing but the end may follow)."""
        self.m.consume_token(token)
        return self.m.is_stopped()
