"""Function calling: ``tool_choice`` naming a function, ``"required"``, or ``"auto"`` (the default with tools).

Every call is generated under a grammar (``genlab.serving.structured``), so it works with any model and always
parses:

- a named function: its ``parameters`` schema holds the arguments (vLLM does the same);
- ``"required"``: a JSON array of ``{"name": one of the tools, "parameters": its schema}`` (one item with
  ``parallel_tool_calls: false``), as vLLM; the same call twice (same name and arguments, which small models
  repeat) is returned once;
- ``"auto"``: the model chooses, in llama.cpp's generic format for models without a tool-call parser: either
  ``{"tool_calls": [...]}`` (items as for ``"required"``) or ``{"response": "text for the user"}``. A system
  instruction lists the tools and the two shapes, since most templates (the embedded model's among them) do not
  show tools. An answer in text comes back as ``message.content``; calls as ``message.tool_calls``. A small model
  chooses poorly: the format is guaranteed, the choice is the model's.

The answer is OpenAI's ``message.tool_calls`` (``content`` null); ``finish_reason`` is ``"tool_calls"``
(``"stop"`` for a named function, as OpenAI answers), or ``"length"`` when ``max_tokens`` cut the call (then the
text is the content; an ``"auto"`` reply cut short is the reply's text so far). Streaming sends a call as one
delta when it ends, and an ``"auto"`` reply as its text comes (decoded from the JSON string as it grows).
``"none"`` answers in text. For a forced call the tools go to the chat template (``apply_chat_template(tools=
...)``) when it shows tools, and to a system instruction otherwise. Earlier assistant ``tool_calls`` and
``tool`` results go to the template as OpenAI sends them, and to a template that does not know tool calls as
the ``{"tool_calls": ...}`` text they were generated as.

Models trained to call tools in their own format get it for ``"auto"`` with the Hermes parser (``genlab serve
--tool-call-parser hermes``; ``auto``, the default, picks it when the chat template mentions ``<tool_call>``:
Qwen2.5, Hermes 2/3 and the models tuned like them). Then nothing holds the answer to a grammar: the tools go to
the template, the model writes text and/or ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks,
and the blocks become ``tool_calls`` (the text before them the ``content``), as vLLM's ``hermes`` parser does. A
block that is not JSON naming one of the tools leaves the whole answer as text. Forced calls keep the grammar.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from genlab.serving.protocol import bad


@dataclass(frozen=True)
class ToolChoice:
    tools: tuple[dict, ...]  # OpenAI's {"type": "function", "function": {name, description, parameters}}
    name: str | None  # the forced function, or None for "required" (any of them, one or more)
    parallel: bool = True  # several calls may come (OpenAI's parallel_tool_calls); else exactly one
    auto: bool = False  # "auto": a call or a text answer, the model's choice
    native: bool = False  # "auto" in the model's own format (Hermes' <tool_call> blocks), with no grammar

    @property
    def schema(self) -> dict:
        params = {t["function"]["name"]: t["function"].get("parameters") or {"type": "object"} for t in self.tools}
        if self.name is not None:
            return params[self.name]
        calls = [{"type": "object", "additionalProperties": False, "required": ["name", "parameters"],
                  "properties": {"name": {"enum": [name]}, "parameters": schema}} for name, schema in params.items()]
        array = {"type": "array", "minItems": 1, "items": calls[0] if len(calls) == 1 else {"anyOf": calls}}
        array = array if self.parallel else {**array, "maxItems": 1}
        if not self.auto:
            return array
        return {"anyOf": [_object("tool_calls", array), _object("response", {"type": "string"})]}

    def answer(self, text: str) -> tuple[str | None, list[dict] | None] | None:
        """``(content, tool_calls)`` from the generated text, one of them None (in the native format both may
        come); None when the text is not a whole answer (cut short)."""
        if self.native:
            return self._native_answer(text)
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        if self.auto and "response" in value:
            return value["response"], None
        if self.auto:
            value = value["tool_calls"]
        pairs = [(self.name, value)] if self.name is not None else [(c["name"], c["parameters"]) for c in value]
        return None, _calls(pairs)

    def _native_answer(self, text: str) -> tuple[str | None, list[dict] | None]:
        blocks = list(_TOOL_CALL.finditer(text))
        if not blocks:
            return text, None
        names, pairs = {t["function"]["name"] for t in self.tools}, []
        for block in blocks:
            try:
                call = json.loads(block.group(1))
            except json.JSONDecodeError:
                return text, None
            args = call.get("arguments", call.get("parameters", {})) if isinstance(call, dict) else None
            if not isinstance(call, dict) or call.get("name") not in names or not _is_arguments(args):
                return text, None
            pairs.append((call["name"], args))  # a JSON string stays as written
        before = text[:blocks[0].start()]
        return before if before.strip() else None, _calls(pairs if self.parallel else pairs[:1])

    def reply_so_far(self, text: str) -> str | None:
        """The text part of an ``"auto"`` answer being generated, as far as it is sure to be text (None: none)."""
        if self.native:  # up to a call's "<tool_call>" (or what may begin one); none while only white space
            cut = text.find(_OPEN)
            if cut < 0:
                cut = len(text) - next((k for k in range(min(len(_OPEN) - 1, len(text)), 0, -1)
                                        if _OPEN.startswith(text[-k:])), 0)
            return text[:cut] if text[:cut].strip() else None
        return reply_so_far(text) if self.auto else None

    @property
    def grammar(self) -> dict | None:
        """The JSON schema the answer is generated under; None in the native format."""
        return None if self.native else self.schema

    def instructed(self, messages: list[dict], template: str) -> list[dict]:
        """``messages`` with a system instruction (after the system turn's own text, or as a new first turn) that
        lists the tools and the answer's shape: always for ``"auto"``, whose shapes are genlab's own; for a forced
        call only when the chat template does not show ``tools`` (the embedded model's), since the grammar holds
        the answer to the schema but the model must still know what the fields are for."""
        if self.native:
            return messages  # the template shows the tools, in the format the model was trained on
        tools = json.dumps([t["function"] for t in self.tools], ensure_ascii=False, separators=(",", ":"))
        if self.auto:
            shape = ('Answer in JSON: {"tool_calls": [{"name": ..., "parameters": {...}}]} to call tools, or '
                     '{"response": "..."} to reply to the user, also once tool results answer the question.')
        elif "tools" in template:
            return messages
        elif self.name is not None:
            shape = f"Call {self.name}: answer with its parameters as JSON."
        else:
            shape = 'Answer with the calls as JSON: [{"name": ..., "parameters": {...}}].'
        rule = f"You can call these tools: {tools}\n{shape}"
        if messages[0]["role"] == "system":
            text = messages[0]["content"]
            return [{**messages[0], "content": f"{text}\n\n{rule}" if text else rule}, *messages[1:]]
        return [{"role": "system", "content": rule}, *messages]


def calls_as_text(messages: list[dict], template: str) -> list[dict]:
    """Earlier assistant calls as the ``{"tool_calls": [...]}`` text genlab generates them as, for a chat template
    that does not render ``tool_calls`` (it would drop them, and the model would not see what it called)."""
    if "tool_calls" in template:
        return messages
    out = []
    for m in messages:
        if m.get("tool_calls"):
            calls = [{"name": c["function"]["name"], "parameters": c["function"]["arguments"]} for c in m["tool_calls"]]
            text = json.dumps({"tool_calls": calls}, ensure_ascii=False)
            m = {k: v for k, v in m.items() if k != "tool_calls"} | {"content": f"{m['content']}{text}"}
        out.append(m)
    return out


_REPLY = re.compile(r'\{\s*"response"\s*:\s*"')  # how an "auto" text reply begins
_OPEN = "<tool_call>"
_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)  # Hermes' call block


def _calls(pairs) -> list[dict]:
    """OpenAI's ``tool_calls`` from ``(name, arguments)`` pairs; the same call twice comes once."""
    calls = dict.fromkeys((name, args if isinstance(args, str) else json.dumps(args, ensure_ascii=False))
                          for name, args in pairs)
    return [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function", "function": {"name": name, "arguments": args}}
            for name, args in calls]


def _is_arguments(args) -> bool:
    """A call's arguments: an object, or a string holding one."""
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return False
    return isinstance(args, dict)


def reply_so_far(text: str) -> str | None:
    """The text reply of an ``"auto"`` answer being generated, decoded as far as its JSON string is whole (an
    escape or a surrogate pair cut in two waits for its end); None when the answer is not a text reply."""
    start = _REPLY.match(text)
    if start is None:
        return None
    body, i, safe = text[start.end():], 0, 0
    while i < len(body) and body[i] != '"':
        if body[i] == "\\":
            width = 6 if body[i + 1:i + 2] == "u" else 2
            if width == 6 and 0xD800 <= _hex(body[i + 2:i + 6]) <= 0xDBFF:
                width = 12  # a high surrogate: its low half must come too
            if i + width > len(body):
                break
            i += width
        else:
            i += 1
        safe = i
    return json.loads(f'"{body[:safe]}"')


def _hex(digits: str) -> int:
    return int(digits, 16) if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits) else -1


def _object(key: str, schema: dict) -> dict:
    return {"type": "object", "additionalProperties": False, "required": [key], "properties": {key: schema}}


def native_tool_calls(parser: str, template) -> bool:
    """Whether ``"auto"`` answers in the model's own format: ``parser`` is ``hermes``, or ``auto`` and the chat
    template mentions ``<tool_call>``. A Hermes parser for a template that does not show tools is refused: the
    model would never see them."""
    from genlab.errors import ConfigError

    source = template if isinstance(template, str) else json.dumps(template or "")
    if parser not in ("auto", "json", "hermes"):
        raise ConfigError(f"unknown tool-call parser {parser!r}", where="--tool-call-parser",
                          hint="auto (from the chat template), json (genlab's grammar, any model) or hermes")
    if parser == "hermes" and "tools" not in source:
        raise ConfigError("hermes: this model's chat template does not show tools, so the model would never see them",
                          where="--tool-call-parser", hint="use json (the default for such models)")
    return parser == "hermes" or parser == "auto" and _OPEN in source and "tools" in source


def tool_choice_of(body: dict, native: bool = False) -> ToolChoice | None:
    """The request's forced function call, None when it answers in text; a 400 for what cannot be honoured.
    ``native``: an ``"auto"`` choice is answered in the model's own (Hermes) format."""
    tools = body.get("tools")
    if tools is None or tools == []:
        if body.get("tool_choice") not in (None, "none", "auto"):
            raise bad("'tool_choice' needs 'tools'", "tool_choice")
        return None
    if not isinstance(tools, list) or not all(_is_function(t) for t in tools):
        raise bad("'tools' must be an array of {\"type\": \"function\", \"function\": {\"name\", \"parameters\"}}",
                  "tools")
    names = [t["function"]["name"] for t in tools]
    if len(set(names)) != len(names):
        raise bad("two tools share a name", "tools")
    choice = body.get("tool_choice", "auto")
    if choice == "none":
        return None
    if choice in ("auto", "required"):
        return ToolChoice(tuple(tools), None, body.get("parallel_tool_calls") is not False, auto=choice == "auto",
                          native=native and choice == "auto")
    fn = choice.get("function") if isinstance(choice, dict) else None
    name = fn.get("name") if isinstance(fn, dict) else None
    if not isinstance(choice, dict) or choice.get("type") != "function" or name not in names:
        raise bad(f"'tool_choice' must be none, auto, required or {{\"type\": \"function\", \"function\": {{\"name\": "
                  f"one of {', '.join(names)}}}}}", "tool_choice")
    return ToolChoice(tuple(tools), name)


def _is_function(tool) -> bool:
    fn = tool.get("function") if isinstance(tool, dict) else None
    return (isinstance(fn, dict) and tool.get("type") == "function" and isinstance(fn.get("name"), str)
            and bool(fn["name"]) and isinstance(fn.get("parameters", {}), dict))
