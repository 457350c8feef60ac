"""OpenAI's Responses API (``POST /v1/responses``) over the chat path.

Newer clients speak it (``client.responses.create``, the Agents SDK). ``instructions``
and ``input`` become chat messages and the other fields map onto the chat ones, so
validation, adapters, batching and limits are the chat route's. The answer is one
``message`` output item; streaming sends the Responses events in order
(``response.created``, ``response.output_item.added``, ``response.content_part.added``,
``response.output_text.delta``..., the ``.done`` events, ``response.completed`` or
``response.incomplete``). Nothing is stored, so ``previous_response_id``,
``conversation`` and ``background`` are a 400, as are tools; ``text.format`` (JSON, a JSON schema) is
the chat route's ``response_format``.
"""

from __future__ import annotations

import json
import time
import uuid

from genlab.serving import protocol as P
from genlab.serving.protocol import APIError, Job
from genlab.serving.responses import usage as chat_usage
from genlab.serving.sequence import Delta, Finished

ROLES = {"user", "assistant", "system", "developer"}
TEXT_PARTS = {"input_text", "output_text", "text"}
# fields passed through to the chat route as they are (vLLM's extensions included)
SAME = ("model", "temperature", "top_p", "top_k", "min_p", "seed", "stop", "repetition_penalty", "presence_penalty",
        "frequency_penalty", "logit_bias", "min_tokens", "ignore_eos", "stream")
NOT_STORED = ("previous_response_id", "conversation", "background")


def chat_body(body: dict) -> dict:
    """The chat-completions body that asks the same thing, or a 400 naming the field."""
    for name in NOT_STORED:
        if body.get(name):
            raise P.bad(f"'{name}' is not supported: this server stores no responses; send the whole conversation "
                        "in 'input'", name, "unsupported_parameter")
    if body.get("tools"):
        raise P.bad("tools are not supported on /v1/responses; /v1/chat/completions calls a function that "
                    "tool_choice forces", "tools", "unsupported_parameter")
    fmt = _format(body)
    messages = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise P.bad("'instructions' must be a string", "instructions")
        if instructions:
            messages.append({"role": "system", "content": instructions})
    messages += _input_messages(body.get("input"))
    out = {k: body[k] for k in SAME if k in body}
    out["messages"] = messages
    if fmt.get("type") == "json_schema":  # the Responses API flattens what chat nests under json_schema
        out["response_format"] = {"type": "json_schema", "json_schema": {
            k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}}
    elif fmt.get("type") != "text":
        out["response_format"] = fmt
    if body.get("max_output_tokens") is not None:
        out["max_tokens"] = body["max_output_tokens"]
    return out


def _format(body: dict) -> dict:
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    return fmt if isinstance(fmt, dict) else {"type": "text"}


def chat_job(service, body: dict) -> Job:
    """The chat route's job for this body; its errors name the Responses fields (``max_output_tokens``,
    ``input[i]``) rather than the chat ones."""
    try:
        return service.job(chat_body(body), "chat")
    except APIError as e:
        shift = 1 if body.get("instructions") else 0
        param = e.param or ""
        if param == "max_tokens":
            e.param, e.message = "max_output_tokens", e.message.replace("'max_tokens'", "'max_output_tokens'")
        elif param.startswith("messages["):
            index, _, rest = param[len("messages["):].partition("]")
            if index.isdigit() and int(index) >= shift:
                e.param = f"input[{int(index) - shift}]{rest}"
                e.message = e.message.replace(f"messages[{index}]", e.param.split(".")[0])
        elif param == "messages":
            e.param = "input"
        elif param.startswith("response_format"):
            e.param = "text.format" + param[len("response_format"):].replace(".json_schema", "")
        raise


def _input_messages(items) -> list[dict]:
    if isinstance(items, str):
        if not items:
            raise P.bad("'input' must not be empty", "input")
        return [{"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise P.bad("'input' must be a string or a non-empty array of messages", "input")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or item.get("type", "message") != "message":
            kind = item.get("type") if isinstance(item, dict) else type(item).__name__
            raise P.bad(f"input[{i}]: only message items are supported, got {kind!r}", f"input[{i}]",
                        "unsupported_parameter")
        if item.get("role") not in ROLES:
            raise P.bad(f"input[{i}]: 'role' must be one of {', '.join(sorted(ROLES))}", f"input[{i}].role")
        content = item.get("content")
        if isinstance(content, list):
            if any(not isinstance(p, dict) or p.get("type") not in TEXT_PARTS or not isinstance(p.get("text"), str)
                   for p in content):
                raise P.bad(f"input[{i}]: only text content parts are supported", f"input[{i}].content",
                            "unsupported_parameter")
            content = "".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise P.bad(f"input[{i}]: 'content' must be a string or an array of text parts", f"input[{i}].content")
        out.append({"role": item["role"], "content": content})
    return out


def response_id() -> tuple[str, str]:
    hexa = uuid.uuid4().hex
    return f"resp_{hexa[:24]}", f"msg_{hexa[8:32]}"


def _part(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _item(msg_id: str, text: str | None, status: str) -> dict:
    return {"id": msg_id, "type": "message", "status": status, "role": "assistant",
            "content": [] if text is None else [_part(text)]}


def _response(body: dict, job: Job, ids: tuple[str, str], created: float, *, status: str, text: str | None = None,
              usage: dict | None = None) -> dict:
    return {
        "id": ids[0], "object": "response", "created_at": created, "status": status, "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {}, "model": job.model,
        "output": [] if text is None else [_item(ids[1], text, "completed" if status == "completed" else status)],
        "parallel_tool_calls": False, "temperature": body.get("temperature", 1.0), "top_p": body.get("top_p", 1.0),
        "tool_choice": "none", "tools": [], "text": {"format": _format(body)}, "truncation": "disabled",
        "store": False, "background": False, "usage": usage,
    }


def _usage(job: Job, used: int, cached: dict[int, int]) -> dict:
    u = chat_usage(job, used, cached)
    return {"input_tokens": u["prompt_tokens"], "input_tokens_details": u["prompt_tokens_details"],
            "output_tokens": used, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": u["total_tokens"]}


async def collect(body: dict, job: Job, events) -> dict:
    ids, created = response_id(), time.time()
    text, reason, used, cached = "", None, 0, {}
    async for ev in events:
        if isinstance(ev, Delta):
            text += ev.text
        elif isinstance(ev, Finished):
            reason, used, cached[ev.index] = ev.reason, ev.completion_tokens, ev.cached_tokens
    status = "incomplete" if reason == "length" else "completed"
    return _response(body, job, ids, created, status=status, text=text, usage=_usage(job, used, cached))


def stream(service, body: dict, job: Job, events):
    from sse_starlette.sse import EventSourceResponse

    return EventSourceResponse(_events(body, job, events), ping=15, shutdown_grace_period=service.config.drain_s)


async def _events(body: dict, job: Job, events):
    ids, created = response_id(), time.time()
    counter = iter(range(1 << 30))

    def event(kind: str, **data) -> dict:
        return {"event": kind, "data": json.dumps({"type": kind, "sequence_number": next(counter), **data})}

    where = {"item_id": ids[1], "output_index": 0, "content_index": 0}
    yield event("response.created", response=_response(body, job, ids, created, status="in_progress"))
    yield event("response.in_progress", response=_response(body, job, ids, created, status="in_progress"))
    yield event("response.output_item.added", output_index=0, item=_item(ids[1], None, "in_progress"))
    yield event("response.content_part.added", **where, part=_part(""))
    text, reason, used, cached = "", None, 0, {}
    try:
        async for ev in events:
            if isinstance(ev, Delta) and ev.text:
                text += ev.text
                yield event("response.output_text.delta", **where, delta=ev.text, logprobs=[])
            elif isinstance(ev, Finished):
                reason, used, cached[ev.index] = ev.reason, ev.completion_tokens, ev.cached_tokens
    except APIError as e:
        yield event("error", code=e.code, message=e.message, param=e.param)
        return
    status = "incomplete" if reason == "length" else "completed"
    yield event("response.output_text.done", **where, text=text, logprobs=[])
    yield event("response.content_part.done", **where, part=_part(text))
    yield event("response.output_item.done", output_index=0, item=_item(ids[1], text, status))
    yield event(f"response.{status}", response=_response(body, job, ids, created, status=status, text=text,
                                                         usage=_usage(job, used, cached)))
