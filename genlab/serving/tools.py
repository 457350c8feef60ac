"""Function calling when the client forces it: ``tool_choice`` naming a function, or ``"required"``.

The call is generated under a grammar (``genlab.serving.structured``), as vLLM does for these two choices, so
it works with any model: a named function's ``parameters`` schema holds the arguments; ``"required"`` holds the
output to a JSON array of ``{"name": one of the tools, "parameters": its schema}`` (one item with
``parallel_tool_calls: false``). The answer is OpenAI's
``message.tool_calls`` (``content`` null); ``finish_reason`` is ``"tool_calls"`` (``"stop"`` for a named
function, as OpenAI answers), or ``"length"`` when ``max_tokens`` cut the call (then the text is the content).

``tool_choice: "auto"`` (the default when tools are given) needs a parser for each model's own tool-call format
and is a 400 that says to force a function; ``"none"`` answers in text. The tools go to the chat template
(``apply_chat_template(tools=...)``), which shows them to models whose template knows tools; earlier assistant
``tool_calls`` and ``tool`` results go to the template as OpenAI sends them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from genlab.serving.protocol import bad


@dataclass(frozen=True)
class ToolChoice:
    tools: tuple[dict, ...]  # OpenAI's {"type": "function", "function": {name, description, parameters}}
    name: str | None  # the forced function, or None for "required" (any of them, one or more)
    parallel: bool = True  # "required": several calls may come (OpenAI's parallel_tool_calls); else exactly one

    @property
    def schema(self) -> dict:
        params = {t["function"]["name"]: t["function"].get("parameters") or {"type": "object"} for t in self.tools}
        if self.name is not None:
            return params[self.name]
        calls = [{"type": "object", "additionalProperties": False, "required": ["name", "parameters"],
                  "properties": {"name": {"enum": [name]}, "parameters": schema}} for name, schema in params.items()]
        array = {"type": "array", "minItems": 1, "items": calls[0] if len(calls) == 1 else {"anyOf": calls}}
        return array if self.parallel else {**array, "maxItems": 1}

    def calls(self, text: str) -> list[dict] | None:
        """OpenAI's ``tool_calls`` from the generated text; None when it is not a whole call (cut short)."""
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        pairs = [(self.name, value)] if self.name is not None else [(c["name"], c["parameters"]) for c in value]
        return [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                 "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}} for name, args in pairs]


def tool_choice_of(body: dict) -> ToolChoice | None:
    """The request's forced function call, None when it answers in text; a 400 for what cannot be honoured."""
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
    if choice == "auto":
        raise bad("tool_choice 'auto' needs a parser for this model's own tool-call format, which this server does "
                  "not have; force a call with tool_choice 'required' or {\"type\": \"function\", \"function\": "
                  "{\"name\": ...}}, or pass 'none'", "tool_choice", "unsupported_parameter")
    if choice == "required":
        return ToolChoice(tuple(tools), None, body.get("parallel_tool_calls") is not False)
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
