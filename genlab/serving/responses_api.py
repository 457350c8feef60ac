"""OpenAI's Responses API (``POST /v1/responses``) over the chat path.

Newer clients speak it (``client.responses.create``, the Agents SDK). ``instructions``
and ``input`` become chat messages and the other fields map onto the chat ones, so
validation, adapters, batching and limits are the chat route's. The answer is one
``message`` output item; streaming sends the Responses events in order
(``response.created``, ``response.output_item.added``, ``response.content_part.added``,
``response.output_text.delta``..., the ``.done`` events, ``response.completed`` or
``response.incomplete``). Nothing is stored, so ``previous_response_id``,
``conversation`` and ``background`` are a 400; ``text.format`` (JSON, a JSON schema) is
the chat route's ``response_format``.

Function tools (``{"type": "function", "name", "parameters"}``) and ``tool_choice`` are the chat route's
(``genlab.serving.tools``): calls come back as ``function_call`` output items, streamed with the
``response.function_call_arguments.*`` events when the answer ends (a text reply streams as it comes);
``function_call`` and ``function_call_output`` input items are the earlier calls and their results. Hosted
tools (web search, file search, ...) are a 400.
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
        "frequency_penalty", "logit_bias", "min_tokens", "ignore_eos", "stream", "parallel_tool_calls")
NOT_STORED = ("previous_response_id", "conversation", "background")


def chat_body(body: dict) -> tuple[dict, list[int | None]]:
    """The chat-completions body that asks the same thing, or a 400 naming the field; and for each chat message,
    the ``input`` item it came from (None for ``instructions``)."""
    for name in NOT_STORED:
        if body.get(name):
            raise P.bad(f"'{name}' is not supported: this server stores no responses; send the whole conversation "
                        "in 'input'", name, "unsupported_parameter")
    fmt = _format(body)
    messages, origin = [], []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise P.bad("'instructions' must be a string", "instructions")
        if instructions:
            messages.append({"role": "system", "content": instructions})
            origin.append(None)
    turns, where = _input_messages(body.get("input"))
    messages, origin = messages + turns, origin + where
    out = {k: body[k] for k in SAME if k in body}
    out["messages"] = messages
    if body.get("tools") is not None:
        out["tools"] = _chat_tools(body["tools"])
    if "tool_choice" in body:
        choice = body["tool_choice"]
        named = isinstance(choice, dict) and choice.get("type") == "function" and "name" in choice
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}} if named else choice
    if fmt.get("type") == "json_schema":  # the Responses API flattens what chat nests under json_schema
        out["response_format"] = {"type": "json_schema", "json_schema": {
            k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}}
    elif fmt.get("type") != "text":
        out["response_format"] = fmt
    if body.get("max_output_tokens") is not None:
        out["max_tokens"] = body["max_output_tokens"]
    return out, origin


def _chat_tools(tools) -> list:
    """Responses' flat function tools -> chat's ``{"type": "function", "function": {...}}``."""
    if not isinstance(tools, list):
        raise P.bad("'tools' must be an array of {\"type\": \"function\", \"name\", \"parameters\"}", "tools")
    out = []
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else type(tool).__name__
        if kind != "function":
            raise P.bad(f"tools[{i}]: only function tools are supported here, got {kind!r}", "tools",
                        "unsupported_parameter")
        out.append({"type": "function", "function": {k: tool[k] for k in ("name", "description", "parameters")
                                                      if k in tool}})
    return out


def _format(body: dict) -> dict:
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    return fmt if isinstance(fmt, dict) else {"type": "text"}


def chat_job(service, body: dict) -> Job:
    """The chat route's job for this body; its errors name the Responses fields (``max_output_tokens``,
    ``input[i]``) rather than the chat ones."""
    chat, origin = chat_body(body)
    try:
        return service.job(chat, "chat")
    except APIError as e:
        param = e.param or ""
        if param == "max_tokens":
            e.param, e.message = "max_output_tokens", e.message.replace("'max_tokens'", "'max_output_tokens'")
        elif param.startswith("messages["):
            index, _, rest = param[len("messages["):].partition("]")
            if index.isdigit() and int(index) < len(origin) and origin[int(index)] is not None:
                e.param = f"input[{origin[int(index)]}]{rest}"
                e.message = e.message.replace(f"messages[{index}]", e.param.split(".")[0])
        elif param == "messages":
            e.param = "input"
        elif param.startswith("response_format"):
            e.param = "text.format" + param[len("response_format"):].replace(".json_schema", "")
        raise


def _input_messages(items) -> tuple[list[dict], list[int]]:
    """Chat messages from ``input``, and the item each came from: consecutive ``function_call`` items are one
    assistant turn's ``tool_calls``; a ``function_call_output`` is a ``tool`` turn."""
    if isinstance(items, str):
        if not items:
            raise P.bad("'input' must not be empty", "input")
        return [{"role": "user", "content": items}], [0]
    if not isinstance(items, list) or not items:
        raise P.bad("'input' must be a string or a non-empty array of messages", "input")
    out, origin = [], []
    for i, item in enumerate(items):
        kind = item.get("type", "message") if isinstance(item, dict) else type(item).__name__
        if kind in ("function_call", "function_call_output"):
            turn = _call_turn(item, i, out[-1] if out and origin[-1] == i - 1 else None)
            if turn is not None:
                out.append(turn)
                origin.append(i)
            else:
                origin[-1] = i
            continue
        if kind != "message":
            raise P.bad(f"input[{i}]: only message, function_call and function_call_output items are supported, "
                        f"got {kind!r}", f"input[{i}]", "unsupported_parameter")
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
        origin.append(i)
    return out, origin


def _call_turn(item: dict, i: int, last: dict | None) -> dict | None:
    """A ``function_call`` (added to ``last`` when that is the assistant turn just before it, then None) or a
    ``function_call_output`` item as a chat turn."""
    if not isinstance(item.get("call_id"), str):
        raise P.bad(f"input[{i}]: 'call_id' must be a string", f"input[{i}].call_id")
    if item["type"] == "function_call_output":
        output = item.get("output")
        if isinstance(output, list) and all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in output):
            output = "".join(p["text"] for p in output)
        if not isinstance(output, str):
            raise P.bad(f"input[{i}]: 'output' must be a string", f"input[{i}].output")
        return {"role": "tool", "tool_call_id": item["call_id"], "content": output}
    if not isinstance(item.get("name"), str) or not isinstance(item.get("arguments"), str):
        raise P.bad(f"input[{i}]: a function_call needs 'name' and 'arguments' (a JSON string)", f"input[{i}]")
    call = {"id": item["call_id"], "type": "function",
            "function": {"name": item["name"], "arguments": item["arguments"]}}
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
        return None
    return {"role": "assistant", "content": "", "tool_calls": [call]}


def response_id() -> tuple[str, str]:
    hexa = uuid.uuid4().hex
    return f"resp_{hexa[:24]}", f"msg_{hexa[8:32]}"


def _part(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _item(msg_id: str, text: str | None, status: str) -> dict:
    return {"id": msg_id, "type": "message", "status": status, "role": "assistant",
            "content": [] if text is None else [_part(text)]}


def _call_item(call: dict) -> dict:
    """A chat ``tool_calls`` entry as a ``function_call`` output item."""
    return {"id": "fc_" + call["id"].removeprefix("call_"), "type": "function_call", "call_id": call["id"],
            "name": call["function"]["name"], "arguments": call["function"]["arguments"], "status": "completed"}


def _output(job: Job, ids: tuple[str, str], text: str, reason: str | None) -> list[dict]:
    """The output items: one message, or a tool choice's ``function_call`` items."""
    answer = job.tool_choice.answer(text) if job.tool_choice is not None and reason == "stop" else None
    if answer is not None and answer[1] is not None:  # the text before native calls, if any, as a message first
        return [_item(ids[1], answer[0], "completed")] * bool(answer[0]) + [_call_item(call) for call in answer[1]]
    auto = job.tool_choice is not None and job.tool_choice.auto
    partial = job.tool_choice.reply_so_far(text) if answer is None and auto else None  # an "auto" reply cut short
    text = answer[0] if answer is not None else partial if partial is not None else text
    return [_item(ids[1], text, "incomplete" if reason == "length" else "completed")]


def _response(body: dict, job: Job, ids: tuple[str, str], created: float, *, status: str,
              output: list[dict] | None = None, usage: dict | None = None) -> dict:
    tools = body.get("tools") or []
    return {
        "id": ids[0], "object": "response", "created_at": created, "status": status, "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {}, "model": job.model, "output": output or [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True) if tools else False,
        "temperature": body.get("temperature", 1.0), "top_p": body.get("top_p", 1.0),
        "tool_choice": body.get("tool_choice", "auto") if tools else "none", "tools": tools,
        "text": {"format": _format(body)}, "truncation": "disabled", "store": False, "background": False,
        "usage": usage,
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
    return _response(body, job, ids, created, status=status, output=_output(job, ids, text, reason),
                     usage=_usage(job, used, cached))


def stream(service, body: dict, job: Job, events):
    from sse_starlette.sse import EventSourceResponse

    return EventSourceResponse(_events(body, job, events), ping=15, shutdown_grace_period=service.config.drain_s)


async def _events(body: dict, job: Job, events):
    """The Responses events; a tool choice's answer (calls, or text) is sent whole when it ends, as its text is
    JSON until then."""
    ids, created = response_id(), time.time()
    counter = iter(range(1 << 30))

    def event(kind: str, **data) -> dict:
        return {"event": kind, "data": json.dumps({"type": kind, "sequence_number": next(counter), **data})}

    where = {"item_id": ids[1], "output_index": 0, "content_index": 0}
    tools = job.tool_choice
    yield event("response.created", response=_response(body, job, ids, created, status="in_progress"))
    yield event("response.in_progress", response=_response(body, job, ids, created, status="in_progress"))
    opened = False  # the message item has been announced

    def open_message():
        yield event("response.output_item.added", output_index=0, item=_item(ids[1], None, "in_progress"))
        yield event("response.content_part.added", **where, part=_part(""))

    if tools is None:  # text streams as it comes; an "auto" reply once it shows it is one
        opened = True
        for e in open_message():
            yield e
    text, shown, reason, used, cached = "", 0, None, 0, {}
    try:
        async for ev in events:
            if isinstance(ev, Delta) and ev.text:
                text += ev.text
                reply = text if tools is None else tools.reply_so_far(text)
                if reply is not None and len(reply) > shown:
                    if not opened:
                        opened = True
                        for e in open_message():
                            yield e
                    yield event("response.output_text.delta", **where, delta=reply[shown:], logprobs=[])
                    shown = len(reply)
            elif isinstance(ev, Finished):
                reason, used, cached[ev.index] = ev.reason, ev.completion_tokens, ev.cached_tokens
    except APIError as e:
        yield event("error", code=e.code, message=e.message, param=e.param)
        return
    status = "incomplete" if reason == "length" else "completed"
    output = _output(job, ids, text, reason)
    for index, item in enumerate(output):
        if item["type"] == "function_call":
            yield event("response.output_item.added", output_index=index, item={**item, "arguments": "",
                                                                                "status": "in_progress"})
            at = {"item_id": item["id"], "output_index": index}
            yield event("response.function_call_arguments.delta", **at, delta=item["arguments"])
            yield event("response.function_call_arguments.done", **at, name=item["name"], arguments=item["arguments"])
            yield event("response.output_item.done", output_index=index, item=item)
            continue
        text = item["content"][0]["text"]
        if not opened:
            for e in open_message():
                yield e
        if text[shown:]:
            yield event("response.output_text.delta", **where, delta=text[shown:], logprobs=[])
        yield event("response.output_text.done", **where, text=text, logprobs=[])
        yield event("response.content_part.done", **where, part=_part(text))
        yield event("response.output_item.done", output_index=0, item=item)
    yield event(f"response.{status}", response=_response(body, job, ids, created, status=status, output=output,
                                                         usage=_usage(job, used, cached)))
