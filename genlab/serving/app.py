"""The HTTP side: FastAPI routes in OpenAI's shapes over one ``Engine``.

Handlers parse and tokenize, hand sequences to the engine, and turn the events
that come back into JSON or Server-Sent Events. They never call the model.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from starlette.requests import Request  # module level: FastAPI resolves the handlers' string annotations here

from genlab.serving import protocol as P
from genlab.serving import responses as R
from genlab.serving.engine import Engine, QueueFull, ShuttingDown
from genlab.serving.protocol import APIError, Job, Limits
from genlab.serving.structured import GrammarTokenizer, constraint_of
from genlab.serving.tools import ToolChoice, calls_as_text, native_tool_calls, tool_choice_of
from genlab.serving.metrics import Metrics
from genlab.serving.sequence import Delta, Failed, Finished, Sequence


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    max_batch: int = 16
    max_queue: int = 64
    max_tokens_cap: int = 1024
    max_n: int = 8
    max_body_bytes: int = 2_000_000
    timeout_s: float = 600.0  # per request, from arrival to the last token
    drain_s: float = 60.0  # on SIGTERM: how long requests in flight may still run
    allow_adapter_dirs: list[str] = field(default_factory=list)  # runtime adapter loading only from these
    threads: int | None = None
    prefix_caching: bool = True  # reuse the KV of prompt beginnings seen before (genlab.serving.prefix)
    batch_invariant: bool = False  # answers independent of the batch (genlab.generation.invariant)
    allow_origins: list[str] = field(default_factory=list)  # CORS: web origins whose scripts may call (none)
    tool_call_parser: str = "auto"  # "auto" tool choice: json (genlab's grammar) | hermes | auto (from the template)
    feedback_file: str | None = None  # POST /v1/feedback appends users' votes here (genlab.serving.feedback)

    def limits(self) -> Limits:
        return Limits(max_tokens_cap=self.max_tokens_cap, max_n=self.max_n)


class Service:
    """What the routes share: the engine, the model's names and limits."""

    def __init__(self, engine: Engine, config: ServeConfig, base_name: str):
        self.engine, self.config, self.base_name = engine, config, base_name
        self.lm = engine.lm
        self.tokenizer = engine.lm.tokenizer
        self.created = int(time.time())
        self.metrics = Metrics()
        self.grammars = GrammarTokenizer(self.tokenizer)
        self.embeddings = None  # genlab.serving.embeddings.Embeddings, with --embedding-model
        self.native_tools = native_tool_calls(config.tool_call_parser, getattr(self.tokenizer, "chat_template", None))

    @property
    def context(self) -> int:
        return self.lm.context_window

    def model_ids(self) -> list[str]:
        return [self.base_name, *self.lm.adapters]

    def adapter_for(self, model) -> str | None:
        if model is None:  # as vLLM: a request without 'model' goes to the base model
            return None
        if not isinstance(model, str) or not model:
            raise P.bad("'model' must name the base model or a loaded adapter: "
                        + ", ".join(self.model_ids()), "model")
        if model == self.base_name:
            return None
        if model in self.lm.adapters:
            return model
        raise APIError(404, f"The model '{model}' does not exist. Models here: {', '.join(self.model_ids())}",
                       param="model", code="model_not_found")

    # -- parsing ------------------------------------------------------------------------------------------------
    def job(self, body: dict, kind: str) -> Job:
        P.refuse_unsupported(body)
        if kind != "chat" and body.get("tools"):
            raise P.bad("tools are for /v1/chat/completions", "tools", "unsupported_parameter")
        tools = self.tool_choice(body) if kind == "chat" else None  # before the template sees the tools
        constraint = constraint_of(body)
        if tools is not None:
            if constraint is not None:
                raise P.bad("tools and a structured-output field cannot go together", "tool_choice")
            constraint = constraint_of({"guided_json": tools.grammar}) if tools.grammar is not None else None
        adapter = self.adapter_for(body.get("model"))
        limits = self.config.limits()
        stream, usage = P.streaming(body)
        logprobs = P.logprobs_of(body, kind)
        echo = kind == "completion" and P._field(body, "echo", bool, False)
        if echo and stream:
            raise P.bad("'echo' is not supported with 'stream'; ask without streaming", "echo")
        if kind == "chat":
            if P._field(body, "echo", bool, False):  # vLLM's chat echo: not here, rather than ignored
                raise P.bad("'echo' is for /v1/completions; in chat, send the turn to continue with "
                            "continue_final_message", "echo", "unsupported_parameter")
            prompts = [self.chat_ids(body, tools)]
            max_tokens = P.max_tokens_of(body, limits, None, allow_zero=False)
        else:
            prompts = P.completion_prompts(body, self.tokenizer, len(self.tokenizer))
            max_tokens = P.max_tokens_of(body, limits, 16, allow_zero=echo)
        param = "messages" if kind == "chat" else "prompt"
        fitted = min(P.check_context(len(p), max_tokens, self.context, limits, param) for p in prompts)
        cfg, n, seeds = P.sampling(body, limits, fitted, len(prompts))
        rules = P.logit_rules(body, len(self.tokenizer), fitted)
        return Job(kind, body.get("model") or self.base_name, adapter, prompts, cfg, n, logprobs, echo, fitted == 0,
                   stream, usage, seeds, rules, constraint, tools)

    def tool_choice(self, body: dict) -> ToolChoice | None:
        return tool_choice_of(body, native=self.native_tools)

    def chat_ids(self, body: dict, tools: ToolChoice | None = None) -> list[int]:
        """The request's messages through the model's chat template (and vLLM's chat-template fields); ``tools``
        is the request's ``self.tool_choice(body)``."""
        messages = P.chat_messages(body)
        options = P.chat_template_options(body, messages)
        template = getattr(self.tokenizer, "chat_template", None)
        if not template:
            raise P.bad("this model has no chat template; use /v1/completions", "messages")
        source = template if isinstance(template, str) else json.dumps(template)
        if tools is not None:
            if not tools.auto or tools.native:
                options["tools"] = body["tools"]  # shown by templates that know tools
            messages = tools.instructed(messages, source)
        messages = calls_as_text(messages, source)
        try:
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, **options)
        except Exception as e:  # the template's own checks (roles must alternate, ...) are the client's to fix
            raise P.bad(f"the model's chat template refused these messages: {type(e).__name__}: {e}",
                        "messages") from None
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    # -- running ------------------------------------------------------------------------------------------------
    def sequences(self, job: Job, emit) -> list[Sequence]:
        seqs = []
        for p, ids in enumerate(job.prompts):
            for i in range(job.n):
                index = p * job.n + i
                cfg = job.config.replace(seed=job.seeds[index])
                seqs.append(Sequence(ids, cfg, job.adapter, emit, index=index, logprobs=job.logprobs,
                                     echo=job.echo and job.logprobs is not None, prompt_only=job.prompt_only,
                                     context_window=self.context, rules=job.rules,
                                     grammar=self.grammars.matcher(job.constraint) if job.constraint else None,
                                     # a model may write <tool_call> as a special token (vLLM's hermes parser
                                     # keeps them too)
                                     skip_special=not (job.tool_choice is not None and job.tool_choice.native)))
        return seqs

    def run(self, job: Job, is_disconnected=None):
        """Submit the job's sequences now (a full queue is a 429 before any response starts) and return
        an async iterator over their events, which cancels what is left when it ends early."""
        loop = asyncio.get_running_loop()
        q: asyncio.Queue = asyncio.Queue()
        seqs = self.sequences(job, lambda ev: loop.call_soon_threadsafe(q.put_nowait, ev))
        try:
            self.engine.submit(seqs)
        except QueueFull as e:
            raise APIError(429, f"the server is busy: {e}; retry shortly", code="queue_full",
                           type="rate_limit_error", headers={"Retry-After": "1"}) from None
        except ShuttingDown as e:
            raise APIError(503, str(e), code="shutting_down", type="server_error") from None
        return self._events(job, seqs, q, time.monotonic() + self.config.timeout_s, is_disconnected)

    async def _events(self, job: Job, seqs: list[Sequence], q: asyncio.Queue, deadline: float, is_disconnected):
        left, t0, first, reasons, used, cached = len(seqs), time.monotonic(), None, [], 0, {}
        try:
            while left:
                try:
                    ev = await asyncio.wait_for(q.get(), timeout=min(0.5, max(0.01, deadline - time.monotonic())))
                except asyncio.TimeoutError:
                    ev = None
                if time.monotonic() >= deadline:
                    raise APIError(504, f"the request took longer than the server's limit of "
                                        f"{self.config.timeout_s:g} s", code="timeout", type="timeout")
                if ev is None:
                    if is_disconnected is not None and await is_disconnected():
                        return
                    continue
                if isinstance(ev, (Finished, Failed)):
                    left -= 1
                if isinstance(ev, Failed):
                    raise APIError(500, ev.message, type="server_error", code="generation_failed")
                if first is None and isinstance(ev, Delta):
                    first = time.monotonic() - t0
                if isinstance(ev, Finished):
                    reasons.append(ev.reason)
                    used, cached[ev.index // job.n] = used + ev.completion_tokens, ev.cached_tokens
                yield ev
        finally:
            for s in seqs:
                s.cancelled = True  # no-op for finished ones; frees the slot of the rest
            if reasons:
                self.metrics.request_done(job.model, sum(len(p) for p in job.prompts), sum(cached.values()), used,
                                          reasons + ["cancelled"] * (len(seqs) - len(reasons)), first,
                                          time.monotonic() - t0)


async def read_json(request, limit: int) -> dict:
    """The request body as a JSON object, read up to ``limit`` bytes."""
    size = request.headers.get("content-length")
    if size and size.isdigit() and int(size) > limit:
        raise APIError(413, f"the request body is {size} bytes; this server takes at most {limit}", code="body_too_large")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise APIError(413, f"the request body is over this server's limit of {limit} bytes", code="body_too_large")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise P.bad(f"could not parse the JSON body: {e}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise P.bad("the JSON body must be an object", code="invalid_json")
    return body


def build_app(service: Service):
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.exceptions import HTTPException

    app = FastAPI(title="genlab serve", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service

    @app.exception_handler(APIError)
    async def _api_error(request, e: APIError):
        service.metrics.error(e.status)
        return JSONResponse(e.body(), status_code=e.status, headers=e.headers)

    @app.exception_handler(HTTPException)
    async def _http_error(request, e: HTTPException):
        return JSONResponse(APIError(e.status_code, str(e.detail), code=str(e.status_code)).body(),
                            status_code=e.status_code)

    @app.middleware("http")
    async def _auth(request: Request, call_next):
        key = service.config.api_key
        if key and request.url.path not in ("/", "/health") and request.headers.get("authorization") != f"Bearer {key}":
            e = APIError(401, "Incorrect or missing API key: send 'Authorization: Bearer <key>'",
                         code="invalid_api_key")
            return JSONResponse(e.body(), status_code=401)
        return await call_next(request)

    if service.config.allow_origins:  # off by default: any page a user visits could otherwise call a local server
        from starlette.middleware.cors import CORSMiddleware

        # added last, so outermost: preflights are answered before the key check, and errors carry the headers
        app.add_middleware(CORSMiddleware, allow_origins=service.config.allow_origins, allow_methods=["GET", "POST"],
                           allow_headers=["*"])

    @app.get("/", response_class=HTMLResponse)
    async def playground():
        return HTMLResponse(resources.files("genlab.serving").joinpath("playground.html").read_text(encoding="utf-8"))

    @app.get("/health")
    async def health():
        ok = service.engine.alive and not service.engine._stopping
        return JSONResponse({"status": "ok" if ok else "unavailable", "running": service.engine.running(),
                             "waiting": service.engine.queued(), "models": service.model_ids(),
                             "feedback": service.config.feedback_file is not None},
                            status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics():
        from fastapi.responses import PlainTextResponse

        return PlainTextResponse(service.metrics.render(service.engine), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def models():
        return R.model_list(service)

    @app.get("/v1/models/{model:path}")
    async def model(model: str):
        if service.embeddings is None or model != service.embeddings.name:
            service.adapter_for(model)  # 404 listing the models when unknown
        return next(m for m in R.model_list(service)["data"] if m["id"] == model)

    @app.post("/v1/embeddings")
    async def embeddings(request: Request):
        from genlab.serving.embeddings import not_served

        body = await read_json(request, service.config.max_body_bytes)
        model = body.get("model")
        if service.embeddings is None or model not in (None, service.embeddings.name):
            raise not_served(service, model)
        return JSONResponse(await asyncio.to_thread(service.embeddings.answer, body))

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        return await _generate(request, "chat")

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await _generate(request, "completion")

    async def _generate(request: Request, kind: str):
        job = service.job(await read_json(request, service.config.max_body_bytes), kind)
        rid = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{uuid.uuid4().hex[:24]}"
        if job.stream:
            return R.stream(service, job, rid, service.run(job, None))
        return JSONResponse(await R.collect(service, job, rid, service.run(job, request.is_disconnected)))

    @app.post("/v1/responses")
    async def responses(request: Request):
        from genlab.serving import responses_api as RA

        body = await read_json(request, service.config.max_body_bytes)
        job = RA.chat_job(service, body)
        if job.stream:
            return RA.stream(service, body, job, service.run(job, None))
        return JSONResponse(await RA.collect(body, job, service.run(job, request.is_disconnected)))

    @app.get("/v1/responses/{response_id}")
    async def stored_response(response_id: str):
        raise APIError(404, f"No response with id '{response_id}': this server stores no responses "
                            "(send the whole conversation in 'input')", param="response_id", code="not_found")

    @app.post("/tokenize")
    async def tokenize(request: Request):
        return R.tokenize(service, await read_json(request, service.config.max_body_bytes))

    @app.post("/detokenize")
    async def detokenize(request: Request):
        return R.detokenize(service, await read_json(request, service.config.max_body_bytes))

    @app.post("/v1/feedback")
    async def feedback(request: Request):
        from genlab.serving.feedback import record

        body = await read_json(request, service.config.max_body_bytes)
        row = await asyncio.to_thread(record, service.config.feedback_file, body, service.model_ids())
        return {"status": "ok", "label": row["label"]}

    @app.post("/v1/load_lora_adapter")
    async def load_lora_adapter(request: Request):
        body = await read_json(request, service.config.max_body_bytes)
        name, path = _allowed_adapter(service, body)
        await asyncio.wrap_future(service.engine.call(lambda: load_named_adapter(service.lm, path, name)))
        return {"status": "ok", "name": name, "path": str(path)}

    return app


def _allowed_adapter(service: Service, body: dict) -> tuple[str, Path]:
    dirs = [Path(d).resolve() for d in service.config.allow_adapter_dirs]
    if not dirs:
        raise APIError(403, "loading adapters at runtime is off; start the server with --allow-adapter-dir DIR",
                       code="runtime_adapters_off", type="permission_error")
    name, path = body.get("lora_name"), body.get("lora_path")
    if not isinstance(name, str) or not name or not isinstance(path, str) or not path:
        raise P.bad("give 'lora_name' and 'lora_path' as strings", "lora_name")
    if name in service.model_ids():
        raise P.bad(f"a model named '{name}' is already loaded", "lora_name")
    folder = Path(path).resolve()
    if not any(folder.is_relative_to(d) for d in dirs):
        raise APIError(403, f"'{path}' is outside the directories this server may load adapters from",
                       param="lora_path", code="path_not_allowed", type="permission_error")
    if not folder.is_dir():
        raise APIError(404, f"no adapter folder at '{path}'", param="lora_path", code="adapter_not_found")
    return name, folder


def load_named_adapter(lm, path, name: str) -> None:
    """Load an adapter under ``name`` in the base weights' dtype (as ``genlab.models.attach_adapter`` does)."""
    import torch

    from genlab.adapters import load_adapter

    dtype = next(p.dtype for p in lm.model.parameters() if p.is_floating_point())
    load_adapter(lm, path, name)
    with torch.no_grad():
        for p in lm.model.parameters():
            if p.is_floating_point() and p.dtype != dtype:
                p.data = p.data.to(dtype)
