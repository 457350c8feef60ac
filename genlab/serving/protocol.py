"""OpenAI request bodies -> a typed ``Job``; every mistake -> an ``APIError`` in OpenAI's shape.

Unknown fields are ignored (clients send many); fields genlab cannot honour
(tool_choice "auto", best_of > 1, suffix, audio output) give a 400 rather than a
silently different answer. Structured outputs (``response_format``, vLLM's ``guided_*``) are
``genlab.serving.structured``'s; forced tool calls ``genlab.serving.tools``'.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from genlab.errors import ConfigError
from genlab.generation import GenerationConfig
from genlab.serving.sequence import NO_RULES, LogitRules

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}


class APIError(Exception):
    """An error the client sees as ``{"error": {"message", "type", "param", "code"}}`` with ``status``."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str = "invalid_request_error", headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass
class Limits:
    max_tokens_cap: int = 1024  # most new tokens one choice may ask for
    max_n: int = 8
    max_stop: int = 16  # OpenAI takes 4, vLLM any number; lm-eval's local-completions sends all its stop strings


@dataclass
class Job:
    """One request, parsed: what to generate and how to answer."""

    kind: str  # "chat" | "completion"
    model: str
    adapter: str | None
    prompts: list[list[int]]  # one per prompt (chat: one)
    config: GenerationConfig
    n: int = 1
    logprobs: int | None = None  # None: off; else the number of alternatives per token
    echo: bool = False
    prompt_only: bool = False  # max_tokens=0 (with echo): score the prompt only
    stream: bool = False
    include_usage: bool = False
    seeds: list[int] = field(default_factory=list)
    rules: LogitRules = NO_RULES
    constraint: Any = None  # a structured.Constraint: JSON, a schema, a regex or choices
    tool_choice: Any = None  # a tools.ToolChoice: the answer is a forced function call


def bad(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def _field(body: dict, name: str, types: type | tuple, default: Any = None, *, what: str | None = None) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise bad(f"'{name}' must be {what or _name(types)}, not a boolean", name)
    if not isinstance(value, types):
        raise bad(f"'{name}' must be {what or _name(types)}, got {type(value).__name__}", name)
    return value


def _name(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join({int: "an integer", float: "a number", str: "a string", bool: "a boolean", list: "an array",
                        dict: "an object"}.get(t, t.__name__) for t in types)


def refuse_unsupported(body: dict) -> None:
    if body.get("functions"):
        raise bad("the legacy 'functions' field is not supported; send 'tools' with a forced 'tool_choice'",
                  "functions", "unsupported_parameter")
    if body.get("best_of") not in (None, 1):
        raise bad("'best_of' is not supported; use n", "best_of", "unsupported_parameter")
    if body.get("suffix"):
        raise bad("'suffix' (insertion) is not supported", "suffix", "unsupported_parameter")
    if body.get("audio") or any(m != "text" for m in body.get("modalities") or []):
        raise bad("this server answers in text only", "modalities", "unsupported_parameter")
    if body.get("web_search_options") is not None:
        raise bad("web search is not supported by this server", "web_search_options", "unsupported_parameter")


def sampling(body: dict, limits: Limits, max_tokens: int, n_prompt_max: int) -> tuple[GenerationConfig, int, list[int]]:
    """GenerationConfig, n and one seed per choice from the common fields."""
    temperature = float(_field(body, "temperature", (int, float), 1.0))
    if not 0 <= temperature <= 2:
        raise bad(f"'temperature' must be between 0 and 2, got {temperature}", "temperature")
    top_p = float(_field(body, "top_p", (int, float), 1.0))
    top_k = _field(body, "top_k", int, 0)
    top_k = 0 if top_k == -1 else top_k  # vLLM spells "off" as -1
    repetition_penalty = float(_field(body, "repetition_penalty", (int, float), 1.0))  # extension, as vLLM's
    n = _field(body, "n", int, 1)
    if not 1 <= n <= limits.max_n:
        raise bad(f"'n' must be between 1 and {limits.max_n}, got {n}", "n")
    stop = _stops(body.get("stop"), limits)
    seed = _field(body, "seed", int, None)
    seed = secrets.randbelow(2**31) if seed is None else seed
    try:
        cfg = GenerationConfig(max_new_tokens=max(1, max_tokens), do_sample=temperature > 0,
                               temperature=temperature if temperature > 0 else 1.0, top_k=top_k, top_p=top_p,
                               repetition_penalty=repetition_penalty, stop=stop, seed=seed)
    except ConfigError as e:
        param = e.message.split(":")[0]
        raise bad(e.message, {"max_new_tokens": "max_tokens"}.get(param, param)) from None
    return cfg, n, [seed + i for i in range(n * n_prompt_max)]


def logit_rules(body: dict, vocab: int, max_tokens: int) -> LogitRules:
    """OpenAI's penalties and ``logit_bias``, vLLM's ``min_p``, ``min_tokens`` and ``ignore_eos``, checked."""
    def number(name: str, low: float, high: float) -> float:
        value = float(_field(body, name, (int, float), 0.0))
        if not low <= value <= high:
            raise bad(f"'{name}' must be between {low:g} and {high:g}, got {value:g}", name)
        return value

    bias = _field(body, "logit_bias", dict, {}) or {}
    pairs = []
    for key, value in bias.items():
        token = int(key) if isinstance(key, str) and key.strip().lstrip("-").isdigit() else None
        if token is None or not 0 <= token < vocab:
            raise bad(f"'logit_bias' keys must be token ids between 0 and {vocab - 1} (as strings), got {key!r}",
                      "logit_bias")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not -100 <= value <= 100:
            raise bad(f"'logit_bias' values must be numbers between -100 and 100, got {value!r} for token {key}",
                      "logit_bias")
        pairs.append((token, float(value)))
    min_tokens = _field(body, "min_tokens", int, 0)
    if not 0 <= min_tokens <= max_tokens:
        raise bad(f"'min_tokens' must be between 0 and max_tokens ({max_tokens}), got {min_tokens}", "min_tokens")
    return LogitRules(tuple(pairs), number("presence_penalty", -2, 2), number("frequency_penalty", -2, 2),
                      number("min_p", 0, 1), min_tokens, _field(body, "ignore_eos", bool, False))


def _stops(stop, limits: Limits) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise bad("'stop' must be a non-empty string or an array of non-empty strings", "stop")
    if len(stops) > limits.max_stop:
        raise bad(f"'stop' takes at most {limits.max_stop} strings, got {len(stops)}", "stop")
    return stops


def max_tokens_of(body: dict, limits: Limits, default: int | None, *, allow_zero: bool) -> int | None:
    """The asked-for completion length, checked against the cap (``None``: fill the context up to the cap)."""
    value = body.get("max_completion_tokens")
    name = "max_completion_tokens" if value is not None else "max_tokens"
    value = _field(body, name, int, default)
    if value is None:
        return None
    if value < (0 if allow_zero else 1):
        raise bad(f"'{name}' must be at least {0 if allow_zero else 1}, got {value}", name)
    if value > limits.max_tokens_cap:
        raise bad(f"'{name}' is {value}, above this server's limit of {limits.max_tokens_cap} tokens per choice",
                  name, "max_tokens_exceeded")
    return value


def check_context(prompt_len: int, max_tokens: int | None, context: int, limits: Limits, param: str) -> int:
    """Completion length that fits; a prompt past the context window is a 400 naming the limit."""
    if max_tokens is None:
        max_tokens = min(limits.max_tokens_cap, context - prompt_len)
    if prompt_len + max(max_tokens, 1) > context:
        raise bad(f"This model's maximum context length is {context} tokens. However, you requested "
                  f"{prompt_len + max_tokens} tokens ({prompt_len} in the prompt, {max_tokens} for the completion). "
                  "Please reduce the prompt or the completion length.", param, "context_length_exceeded")
    return max_tokens


def chat_messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("'messages' must be a non-empty array of {role, content} objects", "messages")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise bad(f"messages[{i}]: 'role' must be one of {', '.join(ROLES)}", f"messages[{i}].role")
        content = m.get("content")
        if content is None and m["role"] == "assistant":
            content = ""  # OpenAI allows a null assistant turn (it had only tool calls)
        turn = {"role": ROLES[m["role"]], "content": _content(content, i)}
        if m["role"] == "assistant" and m.get("tool_calls"):
            turn["tool_calls"] = _tool_calls(m["tool_calls"], i)
        if m["role"] == "tool" and isinstance(m.get("tool_call_id"), str):
            turn["tool_call_id"] = m["tool_call_id"]
        out.append(turn)
    return out


def _tool_calls(calls, i: int) -> list[dict]:
    """An earlier assistant turn's calls, for the chat template: arguments as objects, as templates expect them."""
    if not isinstance(calls, list) or not all(isinstance(c, dict) and isinstance(c.get("function"), dict)
                                              for c in calls):
        raise bad(f"messages[{i}]: 'tool_calls' must be an array of {{id, type, function: {{name, arguments}}}}",
                  f"messages[{i}].tool_calls")
    out = []
    for c in calls:
        args = c["function"].get("arguments", "{}")
        try:
            args = json.loads(args) if isinstance(args, str) else args
        except json.JSONDecodeError:
            raise bad(f"messages[{i}]: a tool call's 'arguments' is not JSON", f"messages[{i}].tool_calls") from None
        out.append({"id": c.get("id"), "type": "function",
                    "function": {"name": c["function"].get("name"), "arguments": args}})
    return out


# apply_chat_template's own arguments: chat_template_kwargs only adds variables for the template
_TEMPLATE_ARGS = {"conversation", "tools", "documents", "chat_template", "add_generation_prompt",
                  "continue_final_message", "tokenize", "padding", "truncation", "max_length", "return_tensors",
                  "return_dict", "return_assistant_tokens_mask", "tokenizer_kwargs", "messages"}


def chat_template_options(body: dict, messages: list[dict]) -> dict:
    """vLLM's chat-template fields: ``add_generation_prompt``, ``continue_final_message``, ``chat_template_kwargs``.

    ``continue_final_message`` leaves the last (assistant) turn open for the model to continue, and then a
    generation prompt is off unless asked for (vLLM refuses both; so do we when both are sent)."""
    cont = _field(body, "continue_final_message", bool, False)
    add = _field(body, "add_generation_prompt", bool, not cont)
    if cont and add:
        raise bad("'continue_final_message' and 'add_generation_prompt' cannot both be true",
                  "continue_final_message")
    if cont and messages[-1]["role"] != "assistant":
        raise bad("'continue_final_message' continues the last message, which must be the assistant's",
                  "continue_final_message")
    extra = _field(body, "chat_template_kwargs", dict, {}) or {}
    if clash := sorted(set(extra) & _TEMPLATE_ARGS):
        raise bad(f"'chat_template_kwargs' may not set {', '.join(clash)}: use the request's own fields",
                  "chat_template_kwargs")
    return {**extra, "add_generation_prompt": add, "continue_final_message": cont}


def _content(content, i: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        if any(p.get("type") != "text" or not isinstance(p.get("text"), str) for p in content):
            raise bad(f"messages[{i}]: only text content parts are supported", f"messages[{i}].content")
        return "".join(p["text"] for p in content)
    raise bad(f"messages[{i}]: 'content' must be a string or an array of text parts", f"messages[{i}].content")


def completion_prompts(body: dict, tokenizer, vocab: int) -> list[list[int]]:
    """``prompt`` as a string, a list of strings, a list of token ids, or a list of token-id lists."""
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        prompt = [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
        prompt = [prompt]
    if not isinstance(prompt, list) or not prompt:
        raise bad("'prompt' must be a string, an array of strings, an array of token ids, "
                  "or an array of token-id arrays", "prompt")
    rows = []
    for p in prompt:
        if isinstance(p, str):
            row = tokenizer(p)["input_ids"]
        elif isinstance(p, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in p):
            if any(not 0 <= t < vocab for t in p):
                raise bad(f"'prompt' holds a token id outside the vocabulary (0..{vocab - 1})", "prompt")
            row = list(p)
        else:
            raise bad("'prompt' must not mix strings and token ids", "prompt")
        if not row:
            raise bad("'prompt' must not be empty", "prompt")
        rows.append(row)
    return rows


def logprobs_of(body: dict, kind: str) -> int | None:
    if kind == "chat":
        if not _field(body, "logprobs", bool, False):
            if body.get("top_logprobs"):
                raise bad("'top_logprobs' needs 'logprobs': true", "top_logprobs")
            return None
        k = _field(body, "top_logprobs", int, 0)
        if not 0 <= k <= 20:
            raise bad(f"'top_logprobs' must be between 0 and 20, got {k}", "top_logprobs")
        return k
    k = _field(body, "logprobs", int, None)
    if k is not None and not 0 <= k <= 20:
        raise bad(f"'logprobs' must be between 0 and 20, got {k}", "logprobs")
    return k


def streaming(body: dict) -> tuple[bool, bool]:
    stream = _field(body, "stream", bool, False)
    opts = _field(body, "stream_options", dict, {}) or {}
    if opts and not stream:
        raise bad("'stream_options' is only allowed with 'stream': true", "stream_options")
    return stream, bool(opts.get("include_usage", False))
