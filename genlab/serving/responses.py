"""Engine events -> OpenAI response bodies and stream chunks."""

from __future__ import annotations

import json
import time

from genlab.serving import protocol as P
from genlab.serving.protocol import APIError, Job
from genlab.serving.sequence import Delta, Finished, PromptLogprobs, TokenLogprob


def model_list(service) -> dict:
    base = {"id": service.base_name, "object": "model", "created": service.created, "owned_by": "genlab",
            "root": str(service.lm.path), "parent": None}
    adapters = [{"id": name, "object": "model", "created": service.created, "owned_by": "genlab",
                 "root": _adapter_path(service.lm, name), "parent": service.base_name} for name in service.lm.adapters]
    embedding = [service.embeddings.model_card(service.created)] if service.embeddings else []
    return {"object": "list", "data": [base, *adapters, *embedding]}


def _adapter_path(lm, name: str) -> str | None:
    from genlab.adapters import loaded_adapters

    return next((a.path for a in loaded_adapters(lm) if a.name == name), None)


def usage(job: Job, completion_tokens: int, cached: dict[int, int] | None = None) -> dict:
    """OpenAI's usage; ``cached`` maps a choice index to its prompt tokens read from the prefix store (a prompt's
    choices share one count, as they share its ``prompt_tokens``)."""
    prompt = sum(len(p) for p in job.prompts)
    per_prompt: dict[int, int] = {}
    for index, tokens in (cached or {}).items():
        per_prompt[index // job.n] = max(per_prompt.get(index // job.n, 0), tokens)
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens, "total_tokens": prompt + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": sum(per_prompt.values())}}


async def collect(service, job: Job, rid: str, events) -> dict:
    """One JSON body for a non-streaming request."""
    n = len(job.prompts) * job.n
    texts, tokens, reasons = [""] * n, [[] for _ in range(n)], [None] * n
    prompt_lp: dict[int, list] = {}
    used, cached = 0, {}
    async for ev in events:
        if isinstance(ev, Delta):
            texts[ev.index] += ev.text
            tokens[ev.index] += ev.tokens
        elif isinstance(ev, PromptLogprobs):
            prompt_lp[ev.index] = ev.tokens
        elif isinstance(ev, Finished):
            reasons[ev.index], used, cached[ev.index] = ev.reason, used + ev.completion_tokens, ev.cached_tokens
    head = {"id": rid, "created": int(time.time()), "model": job.model, "system_fingerprint": None}
    if job.kind == "chat":
        choices = [{"index": i, "message": {"role": "assistant", "content": texts[i]},
                    "logprobs": chat_logprobs(tokens[i]) if job.logprobs is not None else None,
                    "finish_reason": reasons[i]} for i in range(n)]
        for choice in choices if job.tool_choice is not None else []:
            _as_tool_calls(job, choice, choice["message"]["content"])
        return {**head, "object": "chat.completion", "choices": choices, "usage": usage(job, used, cached)}
    choices = []
    for i in range(n):
        prompt_ids = job.prompts[i // job.n]
        prefix = service.tokenizer.decode(prompt_ids) if job.echo else ""
        lp = None
        if job.logprobs is not None:
            lp = completion_logprobs((prompt_lp.get(i) or []) + tokens[i])
        choices.append({"index": i, "text": prefix + texts[i], "logprobs": lp, "finish_reason": reasons[i]})
    return {**head, "object": "text_completion", "choices": choices, "usage": usage(job, used, cached)}


def _as_tool_calls(job: Job, choice: dict, text: str) -> None:
    """A tool choice's text -> ``message.tool_calls`` (content null), or an ``"auto"`` reply in text -> ``content``,
    when the answer is whole."""
    answer = job.tool_choice.answer(text) if choice["finish_reason"] == "stop" else None
    if answer is None:
        partial = job.tool_choice.reply_so_far(text)
        if partial is not None:  # an "auto" reply cut short: its text so far, as a plain answer would be
            choice["message"] = {"role": "assistant", "content": partial}
        return
    content, calls = answer
    if calls is None:  # "auto" and the model replied in text
        choice["message"] = {"role": "assistant", "content": content}
        return
    choice["message"] = {"role": "assistant", "content": content, "tool_calls": calls}
    choice["finish_reason"] = "stop" if job.tool_choice.name else "tool_calls"


def chat_logprobs(tokens: list[TokenLogprob]) -> dict:
    def entry(text: str, lp: float) -> dict:
        return {"token": text, "logprob": lp, "bytes": list(text.encode("utf-8"))}

    return {"content": [{**entry(t.text, t.logprob), "top_logprobs": [entry(s, v) for s, v in t.top]}
                        for t in tokens]}


def completion_logprobs(tokens: list[TokenLogprob]) -> dict:
    """The legacy completions shape: parallel lists; ``None`` for echo's first prompt token (nothing predicts it)."""
    out = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
    offset = 0
    for t in tokens:
        out["tokens"].append(t.text)
        out["token_logprobs"].append(t.logprob)
        out["top_logprobs"].append(dict(t.top) if t.logprob is not None else None)
        out["text_offset"].append(offset)
        offset += len(t.text)
    return out


def stream(service, job: Job, rid: str, events):
    """Server-Sent Events in OpenAI's chunk format, a usage chunk when asked for, then ``[DONE]``."""
    from sse_starlette.sse import EventSourceResponse

    # on SIGTERM, streams in flight keep going for up to drain_s (uvicorn waits as long), then are cut
    return EventSourceResponse(_chunks(job, rid, events), ping=15, shutdown_grace_period=service.config.drain_s)


async def _chunks(job: Job, rid: str, events):
    created, n = int(time.time()), len(job.prompts) * job.n
    chat = job.kind == "chat"
    head = {"id": rid, "object": "chat.completion.chunk" if chat else "text_completion", "created": created,
            "model": job.model, "system_fingerprint": None}

    def chunk(index: int, text: str | None = None, reason: str | None = None, role: bool = False, lp=None) -> dict:
        if chat:
            delta = {"role": "assistant", "content": ""} if role else ({"content": text} if text is not None else {})
            choice = {"index": index, "delta": delta, "logprobs": lp, "finish_reason": reason}
        else:
            choice = {"index": index, "text": text or "", "logprobs": lp, "finish_reason": reason}
        return {"data": json.dumps({**head, "choices": [choice]})}

    used, cached = 0, {}
    try:
        if chat:
            for i in range(n):
                yield chunk(i, role=True)
        held: dict[int, str] = {}  # a tool choice's text: calls are sent whole, as tool_calls, when they end
        shown: dict[int, int] = {}  # characters of an "auto" text reply sent so far
        async for ev in events:
            if isinstance(ev, Delta) and job.tool_choice is not None:
                held[ev.index] = text = held.get(ev.index, "") + ev.text
                reply = job.tool_choice.reply_so_far(text)
                if reply is not None and len(reply) > shown.get(ev.index, 0):
                    yield chunk(ev.index, reply[shown.get(ev.index, 0):])
                    shown[ev.index] = len(reply)
            elif isinstance(ev, Delta):
                lp = None
                if job.logprobs is not None:
                    lp = chat_logprobs(ev.tokens) if chat else completion_logprobs(ev.tokens)
                yield chunk(ev.index, ev.text, lp=lp)
            elif isinstance(ev, Finished):
                used, cached[ev.index] = used + ev.completion_tokens, ev.cached_tokens
                reason = ev.reason
                if job.tool_choice is not None:
                    choice = {"message": {}, "finish_reason": reason}
                    _as_tool_calls(job, choice, held.get(ev.index, ""))
                    calls, reason = choice["message"].get("tool_calls"), choice["finish_reason"]
                    text = choice["message"].get("content", held.get(ev.index, "")) or ""
                    rest = text[shown.get(ev.index, 0):]
                    deltas = [{"content": rest}] if rest else []  # text before a native call comes first
                    deltas += [{"tool_calls": [{"index": k, **c} for k, c in enumerate(calls)]}] if calls else []
                    for delta in deltas:
                        yield {"data": json.dumps({**head, "choices": [{"index": ev.index, "delta": delta,
                                                                         "logprobs": None, "finish_reason": None}]})}
                yield chunk(ev.index, None if chat else "", reason=reason)
    except APIError as e:
        yield {"data": json.dumps(e.body())}
    else:
        if job.include_usage:
            yield {"data": json.dumps({**head, "choices": [], "usage": usage(job, used, cached)})}
    yield {"data": "[DONE]"}


def tokenize(service, body: dict) -> dict:
    tok = service.tokenizer
    if "messages" in body:
        ids = service.chat_ids(body, service.tool_choice(body))
    else:
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise P.bad("'prompt' must be a string (or send 'messages')", "prompt")
        ids = tok(prompt, add_special_tokens=bool(body.get("add_special_tokens", True)))["input_ids"]
    out = {"count": len(ids), "max_model_len": service.context, "tokens": ids}
    if body.get("return_token_strs"):
        out["token_strs"] = tok.convert_ids_to_tokens(ids)
    return out


def detokenize(service, body: dict) -> dict:
    ids = body.get("tokens")
    vocab = len(service.tokenizer)
    if not isinstance(ids, list) or not all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < vocab
                                            for t in ids):
        raise P.bad(f"'tokens' must be an array of token ids (0..{vocab - 1})", "tokens")
    return {"prompt": service.tokenizer.decode(ids)}
