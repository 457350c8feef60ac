"""Prompt templates: promptsource-style Jinja (``input ||| target``) and FLAN-style pattern lists.

Both kinds answer one question, ``render(row) -> (input, target)``, so the
few-shot builder, evaluate() and the training loop never care which
kind a task uses.

Jinja templates run in ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``:
a template is user input, and must not reach Python internals (``{{ ''.__class__ }}``)
nor silently render a missing field as an empty string. FLAN patterns use a
tiny ``{field}`` substitution of our own rather than ``str.format``, because
``str.format`` follows ``{field.__class__}`` attribute paths.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from genlab.data.rows import where_of
from genlab.errors import ConfigError, DataError, GenlabError

SEPARATOR = "|||"
_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _missing(row: dict, fields: set[str]) -> list[str]:
    return sorted(f for f in fields if f not in row or row[f] is None)


def _missing_error(template: str, fields: list[str], row: dict, where: str | None) -> DataError:
    names = ", ".join(f'"{f}"' for f in fields)
    return DataError(f"missing field {names} used by template {template!r}", where=where_of(row, where),
                     hint=f"the row has fields: {', '.join(sorted(map(str, row))) or '(none)'}; "
                          "fix the data or map a column onto that name (column mapping)")


@dataclass
class JinjaTemplate:
    """promptsource style: ``"<input> ||| <target>"``, with optional ``answer_choices``.

    ``answer_choices`` is a list, a string like ``"1 ||| 2 ||| 3"`` whose pieces
    are themselves templates (so choices may use row fields), or ``{field: NAME}``:
    each row's own list of choices in column NAME (MMLU, ARC, HellaSwag rows).
    """

    name: str
    jinja: str
    answer_choices: list[str] | str | dict | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        mapping = isinstance(self.answer_choices, dict)
        column = self.answer_choices.get("field") if mapping else None
        if mapping and (set(self.answer_choices) != {"field"} or not isinstance(column, str)):
            raise ConfigError(f"template {self.name!r}: answer_choices as a mapping is {{field: COLUMN}} (a column "
                              f"holding each row's list of choices), got {self.answer_choices!r}")
        try:
            self._compiled = _ENV.from_string(self.jinja)
            self._fields = meta.find_undeclared_variables(_ENV.parse(self.jinja)) - {"answer_choices"}
            if column:
                self._fields |= {column}
        except TemplateSyntaxError as e:
            raise ConfigError(f"template {self.name!r} is not valid Jinja: {e.message} (line {e.lineno})") from e
        if SEPARATOR not in self.jinja:
            raise ConfigError(f"template {self.name!r} has no {SEPARATOR!r} separating input from target",
                              hint='write it as "<prompt text> ||| <target text>"')

    @property
    def fields(self) -> set[str]:
        """Row fields the template reads (what a column mapping must provide)."""
        return set(self._fields)

    @property
    def input_fields(self) -> set[str]:
        """Fields read before ``|||`` (the prompt side)."""
        source = self.jinja.split(SEPARATOR)[0]
        return meta.find_undeclared_variables(_ENV.parse(source)) - {"answer_choices"}

    def choices(self, row: dict, where: str | None = None) -> list[str] | None:
        if self.answer_choices is None:
            return None
        if isinstance(self.answer_choices, dict):
            value = row.get(self.answer_choices["field"])
            listed = choice_list(value)
            if listed is None or len(listed) < 2:
                raise DataError(f'template {self.name!r}: field "{self.answer_choices["field"]}" must be a list of '
                                f"at least 2 choices, got {value!r}"[:300], where=where_of(row, where))
            return [str(c) for c in listed]
        if isinstance(self.answer_choices, str):
            pieces = [p.strip() for p in self.answer_choices.split(SEPARATOR)]
            return [_render(_ENV.from_string(p), row, self.name, where) for p in pieces]
        return [str(c) for c in self.answer_choices]

    def render(self, row: dict, *, where: str | None = None, rng: random.Random | None = None) -> tuple[str, str]:
        missing = _missing(row, self._fields)
        if missing:
            raise _missing_error(self.name, missing, row, where)
        context = dict(row)
        choices = self.choices(row, where)
        if choices is not None:
            context["answer_choices"] = choices
        text = _render(self._compiled, context, self.name, where_of(row, where))
        source, _, target = text.partition(SEPARATOR)
        return source.strip(), target.strip()


def choice_list(value) -> list | None:
    """A row's own choices: a list, a CSV cell holding a JSON list, or ARC's ``{"text": [...], "label": [...]}``;
    None when ``value`` is none of these."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if isinstance(value, dict) and isinstance(value.get("text"), list):
        value = value["text"]
    return value if isinstance(value, list) else None


def _render(compiled, context: dict, name: str, where: str | None) -> str:
    try:
        return compiled.render(**context)
    except SecurityError as e:
        raise GenlabError(f"template {name!r} tried something the sandbox forbids: {e}",
                          where=where, hint="templates may read row fields only, not Python internals") from e
    except UndefinedError as e:
        if "unsafe" in str(e):
            raise GenlabError(f"template {name!r} tried something the sandbox forbids: {e}", where=where,
                              hint="templates may read row fields only, not Python internals") from e
        raise DataError(f"template {name!r}: {e}", where=where,
                        hint="a field or index the template uses is missing in this row") from e
    except (TypeError, ValueError, IndexError, KeyError) as e:
        raise DataError(f"template {name!r} failed on this row: {type(e).__name__}: {e}", where=where) from e


def substitute(pattern: str, row: dict, name: str, where: str | None = None) -> str:
    """Fill ``{field}`` placeholders (``{{``/``}}`` are literal braces); fields only, no attribute paths."""
    def repl(m: re.Match) -> str:
        if m.group(0) in ("{{", "}}"):
            return m.group(0)[0]
        key = m.group(1)
        if not _FIELD.match(key):
            raise GenlabError(f"template {name!r}: placeholder {{{key}}} is not a plain field name",
                              where=where, hint="use {field} with letters, digits and underscores only")
        if key not in row or row[key] is None:
            raise _missing_error(name, [key], row, where)
        return str(row[key])

    return _PLACEHOLDER.sub(repl, pattern)


def pattern_fields(pattern: str) -> set[str]:
    return {m.group(1) for m in _PLACEHOLDER.finditer(pattern) if m.group(1)}


@dataclass
class FlanTemplate:
    """FLAN style: several ``(input_pattern, target_pattern)`` phrasings of one instruction.

    ``render`` uses phrasing ``index`` when given, else samples one with ``rng``
    (seeded by the caller), else the first: sampling per example is how
    instruction data is augmented (Chung et al. 2022).
    """

    name: str
    patterns: list[tuple[str, str]]
    answer_choices: list[str] | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.patterns:
            raise ConfigError(f"template {self.name!r} has no patterns")
        self.patterns = [tuple(p) for p in self.patterns]
        for p in self.patterns:
            if len(p) != 2:
                raise ConfigError(f"template {self.name!r}: each pattern is [input, target], got {list(p)!r}")

    @property
    def fields(self) -> set[str]:
        return set().union(*(pattern_fields(i) | pattern_fields(t) for i, t in self.patterns))

    @property
    def input_fields(self) -> set[str]:
        return set().union(*(pattern_fields(i) for i, _ in self.patterns))

    def choices(self, row: dict, where: str | None = None) -> list[str] | None:
        return None if self.answer_choices is None else [str(c) for c in self.answer_choices]

    def render(self, row: dict, *, where: str | None = None, rng: random.Random | None = None,
               index: int | None = None) -> tuple[str, str]:
        if index is None:
            index = rng.randrange(len(self.patterns)) if rng is not None else 0
        source, target = self.patterns[index % len(self.patterns)]
        where = where_of(row, where)
        return substitute(source, row, self.name, where), substitute(target, row, self.name, where)


CHAT_ROLES = ("system", "developer", "user", "assistant")  # OpenAI's "developer" is read as "system"
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def _sharegpt(turn):
    """A ShareGPT turn (``{"from": "human" | "gpt" | "system", "value": ...}``, as LLaMA-Factory and Axolotl
    read them) as ``{role, content}``; anything else unchanged."""
    if isinstance(turn, dict) and "from" in turn and "value" in turn and "role" not in turn:
        return {"role": SHAREGPT_ROLES.get(turn["from"], turn["from"]), "content": turn["value"]}
    return turn


def chat_turns(turns, column: str, where: str | None) -> list[dict[str, str]]:
    """``turns`` (TRL's ``{role, content}`` or ShareGPT's ``{from, value}``) checked and normalized to
    ``{role, content}``, a ``developer`` turn read as ``system``; a DataError naming the bad turn otherwise."""
    if not isinstance(turns, list) or not turns:
        raise DataError(f'field "{column}" must be a non-empty list of {{"role", "content"}} turns, got '
                        f"{type(turns).__name__}", where=where,
                        hint='e.g. [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]')
    out = []
    for i, t in enumerate(map(_sharegpt, turns)):
        if not isinstance(t, dict) or t.get("role") not in CHAT_ROLES or not isinstance(t.get("content"), str):
            raise DataError(f'{column}[{i}]: a turn needs "role" ({", ".join(CHAT_ROLES)}) and a string '
                            f'"content", got {t!r}'[:300], where=where)
        out.append({"role": "system" if t["role"] == "developer" else t["role"], "content": t["content"]})
    return out


@dataclass
class ConversationTemplate:
    """Rows whose ``column`` holds a whole conversation, as TRL's conversational datasets do:
    ``[{"role": "system" | "user" | "assistant", "content": "..."}, ...]`` (or ShareGPT's
    ``{"from": "human" | "gpt", "value": ...}`` turns). The last turn is the assistant's
    answer (the target); the turns before it are the prompt (the chat template lays them out; without one,
    a ``User: ... Assistant:`` transcript)."""

    name: str
    column: str = "messages"
    answer_choices: None = None
    metadata: dict = field(default_factory=dict)

    @property
    def fields(self) -> set[str]:
        return {self.column}

    @property
    def input_fields(self) -> set[str]:
        return {self.column}

    def choices(self, row: dict, where: str | None = None) -> None:
        return None

    def render(self, row: dict, *, where: str | None = None, rng: random.Random | None = None
               ) -> tuple[list[dict], str]:
        where = where_of(row, where)
        shape = f'field "{self.column}" must be a list of {{"role", "content"}} turns ending with the assistant\'s'
        raw = row.get(self.column)
        if isinstance(raw, list) and len(raw) == 1:
            raise DataError(f"{shape} answer, got 1 turn", where=where,
                            hint='e.g. [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]')
        turns = chat_turns(raw, self.column, where)
        if turns[-1]["role"] != "assistant" or not any(t["role"] == "user" for t in turns[:-1]):
            raise DataError(f"{shape} answer after at least one user turn", where=where,
                            hint="the last assistant turn is what the model learns to say and is scored on")
        return turns[:-1], turns[-1]["content"]

    def turn_rows(self, row: dict, *, where: str | None = None) -> list[dict]:
        """One row per assistant turn that follows a user turn, each cut after that turn: training on these
        learns every answer of a conversation, as TRL's ``assistant_only_loss`` does, not only the last."""
        from genlab.data.rows import Row

        where = where_of(row, where)
        raw = row.get(self.column)
        if not isinstance(raw, list) or len(raw) < 2:
            return [row]  # render() says what is wrong with it
        turns = chat_turns(raw, self.column, where)
        ends = [k for k, t in enumerate(turns) if t["role"] == "assistant"
                and any(u["role"] == "user" for u in turns[:k])]
        return [Row.at({**row, self.column: raw[:k + 1]}, where) for k in ends[:-1]] + [row]


Template = JinjaTemplate | FlanTemplate | ConversationTemplate
