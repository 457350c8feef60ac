"""The OpenAI client against a real server (uvicorn on a free port) over a tiny random model."""

from __future__ import annotations

import asyncio
import json
import math

import httpx
import openai
import pytest
import torch

from serving_helpers import async_client, client, settles, tiny_server

PROMPTS = ["The cat sat on", "Customer: my order 12345", "Question: what is two plus two?", "Hello, how are"]


@pytest.fixture(scope="module")
def server(tiny_causal_dir):
    with tiny_server(tiny_causal_dir) as (url, service):
        yield url, service


def test_models_health_and_tokenizer_routes(server):
    url, service = server
    assert [m.id for m in client(url).models.list().data] == ["tiny"]
    assert httpx.get(url + "/health").json()["status"] == "ok"
    ids = httpx.post(url + "/tokenize", json={"prompt": "The cat sat"}).json()
    assert ids["tokens"] == service.tokenizer("The cat sat")["input_ids"] and ids["max_model_len"] == 256
    assert httpx.post(url + "/detokenize", json={"tokens": ids["tokens"]}).json()["prompt"] == "The cat sat"


def test_greedy_completions_equal_offline_generate_fp32(server, tiny_causal):
    from genlab.generation import GenerationConfig, generate

    url, _ = server
    offline = generate(tiny_causal, PROMPTS, GenerationConfig(max_new_tokens=12), precision="fp32",
                       backend="transformers")  # the reference the engine is checked against
    got = client(url).completions.create(model="tiny", prompt=PROMPTS, max_tokens=12, temperature=0)
    assert [c.text for c in sorted(got.choices, key=lambda c: c.index)] == [g.text for g in offline]
    assert got.usage.completion_tokens == sum(g.new_tokens[0] for g in offline)


def test_repetition_penalty_is_honoured_as_transformers_applies_it(server, tiny_causal):
    from genlab.generation import GenerationConfig, generate

    url, _ = server
    prompt = "Once upon a time"  # the tiny model's answer changes under the penalty
    cfg = GenerationConfig(max_new_tokens=12, repetition_penalty=1.5)
    (want,) = generate(tiny_causal, [prompt], cfg, precision="fp32", backend="transformers")
    (plain,) = generate(tiny_causal, [prompt], cfg.replace(repetition_penalty=1.0), precision="fp32")
    enc = tiny_causal.tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        scores = tiny_causal.model.generate(**enc, max_new_tokens=12, do_sample=False, repetition_penalty=1.5,
                                            output_scores=True, return_dict_in_generate=True).scores
    assert min(float(t[0] - t[1]) for s in scores for t in [s[0].topk(2).values]) > 1e-4  # no near-tie
    got = client(url).completions.create(model="tiny", prompt=prompt, max_tokens=12, temperature=0,
                                         extra_body={"repetition_penalty": 1.5})
    assert got.choices[0].text == want.text != plain.text


def test_greedy_chat_equals_offline_chat_generate_fp32(server, tiny_causal):
    from genlab.generation import GenerationConfig, generate

    url, _ = server
    (offline,) = generate(tiny_causal, ["Why is the sky blue?"], GenerationConfig(max_new_tokens=10), chat=True,
                          precision="fp32", backend="transformers")
    got = client(url).chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Why is the sky blue?"}],
                                               max_tokens=10, temperature=0)
    assert got.choices[0].message.content == offline.text and got.choices[0].message.role == "assistant"
    assert got.choices[0].finish_reason == offline.finish_reasons[0]


def _letters(tokenizer, k: int) -> list[int]:
    """The first ``k`` token ids that decode to distinct letters or digits."""
    ids, seen = [], set()
    for i in range(len(tokenizer)):
        text = tokenizer.decode([i])
        if i not in tokenizer.all_special_ids and text.strip().isalnum() and text not in seen:
            ids.append(i)
            seen.add(text)
        if len(ids) == k:
            return ids
    raise AssertionError("the tokenizer has too few plain tokens")


def test_logit_bias_and_penalties_steer_greedy_choices(server):
    """Three tokens get +50 (the tiny model's raw logits span < 1, so nothing else can win). A frequency penalty
    of 2 costs a used token more than that span, so each window of three greedy tokens holds all three once; a
    presence penalty of 2 makes the first three distinct; a penalty of -2 keeps repeating the first choice."""
    url, service = server
    ids = _letters(service.tokenizer, 3)
    names = sorted(service.tokenizer.decode([i]) for i in ids)

    def tokens(**extra) -> list[str]:
        got = client(url).completions.create(model="tiny", prompt="The cat", max_tokens=6, temperature=0, logprobs=0,
                                             logit_bias={str(i): 50 for i in ids}, **extra)
        return got.choices[0].logprobs.tokens

    assert set(tokens()) <= set(names)
    spread = tokens(frequency_penalty=2)
    assert sorted(spread[:3]) == names == sorted(spread[3:])
    assert sorted(tokens(presence_penalty=2)[:3]) == names
    assert len(set(tokens(frequency_penalty=-2))) == 1


def test_min_tokens_and_ignore_eos_hold_back_the_end(server):
    url, service = server
    ask = dict(model="tiny", prompt="The cat", max_tokens=6, temperature=0,
               logit_bias={str(service.tokenizer.eos_token_id): 100})
    ends = client(url).completions.create(**ask)
    assert (ends.choices[0].finish_reason, ends.choices[0].text, ends.usage.completion_tokens) == ("stop", "", 1)
    held = client(url).completions.create(**ask, extra_body={"min_tokens": 3})
    assert (held.choices[0].finish_reason, held.usage.completion_tokens) == ("stop", 4)  # 3 tokens, then the end
    run = client(url).completions.create(**ask, extra_body={"ignore_eos": True})
    assert (run.choices[0].finish_reason, run.usage.completion_tokens) == ("length", 6)


def test_min_p_of_one_leaves_only_the_most_likely_token(server):
    url, _ = server
    ask = dict(model="tiny", prompt="The cat", max_tokens=8, temperature=1.0, n=4, seed=3)
    assert len({c.text for c in client(url).completions.create(**ask).choices}) > 1
    assert len({c.text for c in client(url).completions.create(**ask, extra_body={"min_p": 1.0}).choices}) == 1


def test_models_retrieve_one_and_a_null_assistant_turn_is_empty(server):
    url, _ = server
    assert client(url).models.retrieve("tiny").id == "tiny"
    with pytest.raises(openai.NotFoundError, match="Models here: tiny"):
        client(url).models.retrieve("gpt-4")
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": None},
                {"role": "user", "content": "And?"}]
    assert client(url).chat.completions.create(model="tiny", messages=messages, max_tokens=2).choices


def test_responses_api_answers_as_chat_does_and_streams_its_events(server):
    url, service = server
    chat = client(url).chat.completions.create(
        model="tiny", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
        max_tokens=8, temperature=0)
    got = client(url).responses.create(model="tiny", instructions="Be brief.", input="Hello", max_output_tokens=8,
                                       temperature=0)
    assert got.output_text == chat.choices[0].message.content and got.output[0].role == "assistant"
    assert got.status == ("incomplete" if chat.choices[0].finish_reason == "length" else "completed")
    assert (got.usage.input_tokens, got.usage.output_tokens) == (chat.usage.prompt_tokens,
                                                                 chat.usage.completion_tokens)
    ends = {"min_tokens": 3, "logit_bias": {str(service.tokenizer.eos_token_id): 100}}  # 3 tokens, then the end
    with client(url).responses.stream(model="tiny", instructions="Be brief.", temperature=0, extra_body=ends,
                                      input=[{"role": "user", "content": [{"type": "input_text", "text": "Hello"}]}]
                                      ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.status == "completed" and final.usage.output_tokens == 4
    assert final.output_text == "".join(e.delta for e in events if e.type == "response.output_text.delta")


def test_sampling_with_a_seed_repeats_and_n_gives_distinct_choices(server):
    url, _ = server
    ask = dict(model="tiny", prompt="The cat", max_tokens=12, temperature=1.0, n=4, seed=7)
    a, b = client(url).completions.create(**ask), client(url).completions.create(**ask)
    texts = [c.text for c in sorted(a.choices, key=lambda c: c.index)]
    assert texts == [c.text for c in sorted(b.choices, key=lambda c: c.index)]
    assert len(set(texts)) > 1 and [c.index for c in a.choices] == [0, 1, 2, 3]


def test_stop_strings_cut_the_text_and_say_stop(server):
    url, _ = server
    full = client(url).completions.create(model="tiny", prompt=PROMPTS[1], max_tokens=20, temperature=0).choices[0].text
    stop = full[3:6]
    got = client(url).completions.create(model="tiny", prompt=PROMPTS[1], max_tokens=20, temperature=0, stop=[stop])
    assert got.choices[0].text == full[:full.index(stop)] and got.choices[0].finish_reason == "stop"
    # lm-eval's local-completions sends every stop string of a task (with the end-of-text token): more than 4
    many = client(url).completions.create(model="tiny", prompt=PROMPTS[1], max_tokens=20, temperature=0,
                                          stop=["\u2603", "Question:", "</s>", "<|im_end|>", stop])
    assert many.choices[0].text == got.choices[0].text


def test_chat_logprobs_are_log_softmax_of_the_model(server, tiny_causal):
    import torch

    url, service = server
    got = client(url).chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Hi"}], max_tokens=3,
                                               temperature=0, logprobs=True, top_logprobs=3)
    content = got.choices[0].logprobs.content
    assert len(content) == 3 and all(len(t.top_logprobs) == 3 for t in content)
    ids = service.tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True)
    if not isinstance(ids, list):
        ids = ids["input_ids"]
    with torch.no_grad():
        lp = tiny_causal.model(torch.tensor([ids])).logits[0, -1].float().log_softmax(-1)
    assert math.isclose(content[0].logprob, float(lp.max()), abs_tol=1e-4)
    assert content[0].top_logprobs[0].logprob == content[0].logprob  # greedy: the chosen token is the top one


def test_echo_logprobs_score_the_prompt_as_lm_eval_asks(server, tiny_causal):
    """lm-eval local-completions sends token ids, echo, logprobs=1, max_tokens=1 and reads token_logprobs[ctxlen:-1]."""
    import torch

    url, service = server
    ids = service.tokenizer("The cat sat on the mat.")["input_ids"]
    got = client(url).completions.create(model="tiny", prompt=[ids, ids[:4]], echo=True, logprobs=1, max_tokens=1,
                                         temperature=0)
    first = sorted(got.choices, key=lambda c: c.index)[0].logprobs
    assert first.token_logprobs[0] is None and len(first.token_logprobs) == len(ids) + 1
    with torch.no_grad():
        lp = tiny_causal.model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
    want = [float(lp[j - 1, ids[j]]) for j in range(1, len(ids))]
    assert max(abs(a - b) for a, b in zip(first.token_logprobs[1:-1], want)) < 1e-4
    assert all(len(top) == 1 for top in first.top_logprobs[1:])
    zero = client(url).completions.create(model="tiny", prompt=ids, echo=True, logprobs=0, max_tokens=0)
    assert len(zero.choices[0].logprobs.token_logprobs) == len(ids) and zero.usage.completion_tokens == 0
    assert zero.choices[0].text == service.tokenizer.decode(ids)


def test_streaming_chunks_usage_and_done(server):
    url, _ = server
    want = client(url).chat.completions.create(model="tiny", messages=[{"role": "developer", "content": "Be brief."},
                                                                       {"role": "user", "content": "Hello"}],
                                               max_tokens=8, temperature=0)
    chunks = list(client(url).chat.completions.create(
        model="tiny", messages=[{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
        max_tokens=8, temperature=0, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == want.choices[0].message.content
    assert chunks[-2].choices[0].finish_reason == want.choices[0].finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == want.usage.completion_tokens
    with httpx.stream("POST", url + "/v1/completions", json={"model": "tiny", "prompt": "Hi", "max_tokens": 3,
                                                            "stream": True}) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data:")]
    assert lines[-1] == "data: [DONE]" and r.headers["content-type"].startswith("text/event-stream")


def test_async_clients_stream_concurrently_and_match_one_at_a_time(server):
    url, service = server

    async def one(c, prompt):
        text = ""
        async for ch in await c.completions.create(model="tiny", prompt=prompt, max_tokens=16, temperature=0,
                                                   stream=True):
            text += ch.choices[0].text if ch.choices else ""
        return text

    async def all_at_once():
        c = async_client(url)
        return await asyncio.gather(*(one(c, p) for p in PROMPTS))

    together = asyncio.run(all_at_once())
    alone = [client(url).completions.create(model="tiny", prompt=p, max_tokens=16, temperature=0).choices[0].text
             for p in PROMPTS]
    assert together == alone
    assert settles(service.engine)


def _scrape(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics").text
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_metrics_count_tokens_choices_errors_and_latency(server):
    url, service = server
    before = _scrape(url)
    ids = service.tokenizer("The cat sat")["input_ids"]
    client(url).completions.create(model="tiny", prompt=ids, max_tokens=5, n=2, temperature=1.0, seed=1,
                                   extra_body={"ignore_eos": True})
    with pytest.raises(openai.BadRequestError):
        client(url).completions.create(model="tiny", prompt=ids, max_tokens=5, temperature=7)
    assert settles(service.engine)
    after = _scrape(url)
    delta = {k: after[k] - before.get(k, 0.0) for k in after}
    assert delta['genlab_generation_tokens_total{model="tiny"}'] == 10  # two choices of five
    assert delta['genlab_prompt_tokens_total{model="tiny"}'] == len(ids)  # one prompt, counted once
    assert delta['genlab_request_success_total{model="tiny",finished_reason="length"}'] == 2
    assert delta['genlab_request_errors_total{status="400"}'] == 1
    assert delta["genlab_e2e_request_latency_seconds_count"] == 1
    assert delta["genlab_time_to_first_token_seconds_count"] == 1
    assert delta['genlab_e2e_request_latency_seconds_bucket{le="+Inf"}'] == 1
    assert after["genlab_requests_running"] == 0 and after["genlab_kv_cache_bytes"] == 0


def test_vllm_chat_template_fields_and_a_request_without_model(server):
    url, service = server
    tok = service.tokenizer
    messages = [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "The colour is"}]
    body = {"messages": messages, "continue_final_message": True}
    text = tok.apply_chat_template(messages, continue_final_message=True, tokenize=False)
    assert text.endswith("The colour is")  # the assistant's turn left open
    ids = httpx.post(url + "/tokenize", json=body).json()["tokens"]
    assert ids == tok(text, add_special_tokens=False)["input_ids"]
    chat = httpx.post(url + "/v1/chat/completions", json={**body, "max_tokens": 5, "temperature": 0}).json()
    plain = httpx.post(url + "/v1/completions", json={"model": "tiny", "prompt": ids, "max_tokens": 5,
                                                      "temperature": 0}).json()
    assert chat["model"] == "tiny"  # no 'model': the base model, as vLLM
    assert chat["choices"][0]["message"]["content"] == plain["choices"][0]["text"]
    ok = httpx.post(url + "/v1/chat/completions", json={"model": "tiny", "messages": messages[:1], "max_tokens": 1,
                                                        "chat_template_kwargs": {"enable_thinking": False}})
    assert ok.status_code == 200
    for extra, param in [({"continue_final_message": True, "add_generation_prompt": True}, "continue_final_message"),
                         ({"continue_final_message": True, "messages": messages[:1]}, "continue_final_message"),
                         ({"chat_template_kwargs": {"tokenize": True}}, "chat_template_kwargs"),
                         ({"echo": True}, "echo")]:
        r = httpx.post(url + "/v1/chat/completions", json={"model": "tiny", "messages": messages, "max_tokens": 1,
                                                           **extra})
        assert r.status_code == 400 and r.json()["error"]["param"] == param, (extra, r.text)


VERDICT = {"type": "object", "properties": {"answer": {"enum": ["yes", "no"]},
                                            "score": {"type": "integer", "minimum": 0, "maximum": 9}},
           "required": ["answer", "score"], "additionalProperties": False}


def test_structured_outputs_hold_to_their_schema_regex_or_choices(server):
    import json
    import re
    from typing import Literal

    from pydantic import BaseModel, Field

    url, _ = server
    c, msgs = client(url), [{"role": "user", "content": "Is the sky blue?"}]
    fmt = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": VERDICT}}
    got = c.chat.completions.create(model="tiny", messages=msgs, max_tokens=40, temperature=0, response_format=fmt)
    verdict = json.loads(got.choices[0].message.content)  # a random model, held to the schema token by token
    assert got.choices[0].finish_reason == "stop" and set(verdict) == {"answer", "score"}
    assert verdict["answer"] in ("yes", "no") and 0 <= verdict["score"] <= 9
    streamed = c.chat.completions.create(model="tiny", messages=msgs, max_tokens=40, temperature=0,
                                         response_format=fmt, stream=True)
    assert "".join(ch.choices[0].delta.content or "" for ch in streamed if ch.choices) == \
        got.choices[0].message.content

    class Verdict(BaseModel):  # the openai client's parse(): a strict json_schema from a pydantic model
        answer: Literal["yes", "no"]
        score: int = Field(ge=0, le=9)

    parsed = c.chat.completions.parse(model="tiny", messages=msgs, max_tokens=40, response_format=Verdict)
    assert isinstance(parsed.choices[0].message.parsed, Verdict)
    colours = ["red", "light blue", 'say "green"']
    picks = c.chat.completions.create(model="tiny", messages=msgs, max_tokens=20, n=4, temperature=1.0, seed=3,
                                      extra_body={"guided_choice": colours})
    assert all(ch.message.content in colours and ch.finish_reason == "stop" for ch in picks.choices)
    phone = c.completions.create(model="tiny", prompt="Call ", max_tokens=20,
                                 extra_body={"structured_outputs": {"regex": "[0-9]{3}-[0-9]{4}"}})
    assert re.fullmatch("[0-9]{3}-[0-9]{4}", phone.choices[0].text) and phone.choices[0].finish_reason == "stop"
    answer = c.responses.create(model="tiny", input="Is the sky blue?", max_output_tokens=40,
                                text={"format": {"type": "json_schema", "name": "verdict", "schema": VERDICT}})
    assert set(json.loads(answer.output_text)) == {"answer", "score"} and answer.text.format.type == "json_schema"


def test_structured_output_mistakes_are_400s_naming_the_field(server):
    url, _ = server
    msgs = [{"role": "user", "content": "Hi"}]
    for extra, param in [
            ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "bogus"}}}},
             "response_format.json_schema.schema"),
            ({"response_format": {"type": "xml"}}, "response_format.type"),
            ({"guided_regex": "[unclosed"}, "guided_regex"),
            ({"guided_json": "{not json"}, "guided_json"),
            ({"guided_choice": []}, "guided_choice"),
            ({"guided_choice": ["a"], "guided_regex": "a"}, "guided_choice"),
            ({"modalities": ["text", "audio"]}, "modalities")]:
        r = httpx.post(url + "/v1/chat/completions", json={"model": "tiny", "messages": msgs, "max_tokens": 2, **extra})
        assert r.status_code == 400 and r.json()["error"]["param"] == param, (extra, r.text)
    r = httpx.post(url + "/v1/responses", json={"model": "tiny", "input": "Hi", "text": {
        "format": {"type": "json_schema", "name": "x", "schema": {"type": "bogus"}}}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "text.format.schema"


@pytest.fixture(scope="module")
def long_server(tmp_path_factory):
    """A tiny model that reads 1024 tokens: its tokenizer spends about one token a character on the tool list."""
    from genlab.testing import tiny_model_dir

    with tiny_server(tiny_model_dir(tmp_path_factory.mktemp("tiny-1k"), max_position_embeddings=1024)) as running:
        yield running


TOOLS = [{"type": "function", "function": {"name": "get_order", "description": "Look up an order", "parameters": {
             "type": "object", "properties": {"order_id": {"enum": ["A1", "B2"]}}, "required": ["order_id"],
             "additionalProperties": False}}},
         {"type": "function", "function": {"name": "refund", "parameters": {
             "type": "object", "properties": {"amount": {"type": "integer", "minimum": 0, "maximum": 9}},
             "required": ["amount"], "additionalProperties": False}}}]


def test_forced_tool_calls_come_back_as_openai_tool_calls(long_server):
    url, _ = long_server
    c, msgs = client(url), [{"role": "user", "content": "Where is order A1?"}]
    named = c.chat.completions.create(model="tiny", messages=msgs, tools=TOOLS, max_tokens=40, temperature=0,
                                      tool_choice={"type": "function", "function": {"name": "get_order"}})
    choice = named.choices[0]
    assert choice.finish_reason == "stop" and choice.message.content is None  # a named call: "stop", as OpenAI
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_order" and json.loads(call.function.arguments)["order_id"] in ("A1", "B2")
    forced = c.chat.completions.create(model="tiny", messages=msgs, tools=TOOLS, tool_choice="required",
                                       parallel_tool_calls=False, max_tokens=80, temperature=0)
    assert forced.choices[0].finish_reason == "tool_calls"
    calls = forced.choices[0].message.tool_calls
    assert len(calls) == 1 and all(k.function.name in ("get_order", "refund") for k in calls)
    assert all(isinstance(json.loads(k.function.arguments), dict) for k in calls)
    streamed = c.chat.completions.create(model="tiny", messages=msgs, tools=TOOLS, tool_choice="required",
                                         parallel_tool_calls=False, max_tokens=80, temperature=0, stream=True)
    chunks = [ch.choices[0] for ch in streamed if ch.choices]
    deltas = [d for ch in chunks for d in ch.delta.tool_calls or []]
    assert [(d.function.name, d.function.arguments) for d in deltas] == \
        [(k.function.name, k.function.arguments) for k in calls] and chunks[-1].finish_reason == "tool_calls"
    follow = msgs + [{"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                     {"role": "tool", "tool_call_id": call.id, "content": '{"status": "shipped"}'}]
    answer = c.chat.completions.create(model="tiny", messages=follow, tools=TOOLS, tool_choice="none", max_tokens=4)
    assert answer.choices[0].message.tool_calls is None and answer.choices[0].finish_reason in ("stop", "length")


def test_auto_tool_choice_answers_in_text_or_with_calls_as_the_model_chooses(long_server):
    url, service = long_server
    c, msgs = client(url), [{"role": "user", "content": "Where is A1?"}]
    tools = [{"type": "function", "function": {"name": "get", "parameters": {
        "type": "object", "properties": {"id": {"enum": ["A1", "B2"]}}, "required": ["id"]}}}]
    vocab = service.tokenizer.get_vocab()

    def away_from(key: str) -> dict:  # the tokens that could begin ``key`` after '{"', held back: the other shape
        return {str(i): -100 for t, i in vocab.items() if t.lstrip('{" ') and key.startswith(t.lstrip('{" '))}

    quote = {str(vocab['"']): 100}  # the text answer closes its string at once, so it ends well within max_tokens
    text = c.chat.completions.create(model="tiny", messages=msgs, tools=tools, max_tokens=30, temperature=0,
                                     logit_bias=away_from("tool_calls") | quote)  # tool_choice left out: "auto"
    lean = away_from("response")
    call = c.chat.completions.create(model="tiny", messages=msgs, tools=tools, max_tokens=60, temperature=0,
                                     tool_choice="auto", parallel_tool_calls=False, logit_bias=lean)
    shapes = set()
    for answer in (text, call):
        choice = answer.choices[0]
        if choice.finish_reason == "length":
            continue  # cut inside the JSON: the raw text comes back as content
        if choice.message.tool_calls:
            assert choice.finish_reason == "tool_calls" and choice.message.content is None
            assert all(k.function.name == "get" for k in choice.message.tool_calls)
            assert all(isinstance(json.loads(k.function.arguments), dict) for k in choice.message.tool_calls)
            shapes.add("calls")
        else:
            assert choice.finish_reason == "stop" and isinstance(choice.message.content, str)
            assert choice.message.content == ""  # the string closed at once, unwrapped from {"response": ""}
            shapes.add("text")
    assert shapes == {"text", "calls"}
    streamed = c.chat.completions.create(model="tiny", messages=msgs, tools=tools, max_tokens=60, temperature=0,
                                         tool_choice="auto", parallel_tool_calls=False, logit_bias=lean, stream=True)
    chunks = [ch.choices[0] for ch in streamed if ch.choices]
    deltas = [d for ch in chunks for d in ch.delta.tool_calls or []]
    assert [(d.function.name, d.function.arguments) for d in deltas] == \
        [(k.function.name, k.function.arguments) for k in call.choices[0].message.tool_calls]


def test_an_auto_text_reply_streams_as_it_comes_and_a_cut_one_is_its_text(long_server):
    url, service = long_server
    c, msgs = client(url), [{"role": "user", "content": "Where is A1?"}]
    tools = [{"type": "function", "function": {"name": "get", "parameters": {"type": "object"}}}]
    vocab = service.tokenizer.get_vocab()
    held_back = {str(i): -100 for t, i in vocab.items()  # the call's key, and quotes: the reply never closes
                 if '"' in t or (t.lstrip('{" ') and "tool_calls".startswith(t.lstrip('{" ')))}
    ask = dict(model="tiny", messages=msgs, tools=tools, max_tokens=16, temperature=0, logit_bias=held_back)
    whole = c.chat.completions.create(**ask).choices[0]
    assert whole.finish_reason == "length" and whole.message.content and not whole.message.content.startswith("{")
    pieces = [ch.choices[0].delta.content for ch in c.chat.completions.create(**ask, stream=True)
              if ch.choices and ch.choices[0].delta.content]
    assert len(pieces) > 1 and "".join(pieces) == whole.message.content  # token by token, decoded
    flat = [{"type": "function", "name": "get", "parameters": {"type": "object"}}]
    events = list(c.responses.create(model="tiny", input="Where is A1?", tools=flat, max_output_tokens=16,
                                     temperature=0, stream=True, extra_body={"logit_bias": held_back}))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    final = events[-1].response  # response.incomplete: cut at max_output_tokens
    assert events[-1].type == "response.incomplete" and final.status == "incomplete"
    assert len(deltas) > 1 and "".join(deltas) == final.output_text == whole.message.content


def test_reply_so_far_decodes_only_whole_escapes():
    from genlab.serving.tools import reply_so_far

    assert reply_so_far('{"tool_calls": [') is None and reply_so_far('{"resp') is None
    assert reply_so_far('{"response": "') == "" and reply_so_far('{"response":"Hi') == "Hi"
    assert reply_so_far('{"response": "a\\') == "a" and reply_so_far('{"response": "a\\n') == "a\n"
    assert reply_so_far('{"response": "\\u00e9') == "\u00e9" and reply_so_far('{"response": "x\\u00') == "x"
    assert reply_so_far('{"response": "\\ud83d') == "" and reply_so_far('{"response": "\\ud83d\\ude00') == "\U0001f600"
    assert reply_so_far('{"response": "done \\"quoted\\"."}') == 'done "quoted".'


def test_auto_tool_choice_tells_the_model_the_tools_and_shows_earlier_calls():
    from genlab.serving.tools import calls_as_text, tool_choice_of

    auto = tool_choice_of({"tools": TOOLS})
    assert auto.auto and tool_choice_of({"tools": TOOLS, "tool_choice": "none"}) is None
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is A1?"}]
    told = auto.instructed(msgs, "{{ tools }}")  # "auto": genlab's own shapes, whatever the template shows
    assert told[0]["content"].startswith("Be brief.\n\nYou can call these tools")
    assert '"get_order"' in told[0]["content"]
    assert told[1:] == msgs[1:] and msgs[0]["content"] == "Be brief."  # the caller's list is left as it was
    assert auto.instructed(msgs[1:], "")[0]["role"] == "system"
    named = tool_choice_of({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "refund"}}})
    assert named.instructed(msgs, "{{ tools }}") == msgs  # a template that shows tools is told them by the template
    assert "Call refund" in named.instructed(msgs, "{{ m.content }}")[0]["content"]
    assert auto.answer('{"tool_calls": [{"name": "refund", "parameters": {"amount": 3}}, '
                       '{"name": "refund", "parameters": {"amount": 3}}]}')[1][1:] == []  # a repeat comes once
    assert auto.answer('{"response": "It shipped."}') == ("It shipped.", None)
    content, (call,) = auto.answer('{"tool_calls": [{"name": "refund", "parameters": {"amount": 3}}]}')
    assert content is None and call["function"] == {"name": "refund", "arguments": '{"amount": 3}'}
    assert auto.answer('{"tool_calls": [{"name": "ref') is None  # cut short
    earlier = [{"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "refund", "arguments": {"amount": 3}}}]}]
    (shown,) = calls_as_text(earlier, "{{ m.content }}")
    assert json.loads(shown["content"]) == {"tool_calls": [{"name": "refund", "parameters": {"amount": 3}}]}
    assert "tool_calls" not in shown and calls_as_text(earlier, "{% if m.tool_calls %}") == earlier


def test_responses_api_calls_functions_as_function_call_items(long_server):
    url, _ = long_server
    c = client(url)
    flat = [{"type": "function", **t["function"]} for t in TOOLS]  # the Responses API's tool shape
    named = {"type": "function", "name": "get_order"}
    got = c.responses.create(model="tiny", input="Where is order A1?", tools=flat, tool_choice=named,
                             max_output_tokens=40, temperature=0)
    (item,) = got.output
    assert item.type == "function_call" and item.name == "get_order" and item.call_id.startswith("call_")
    assert json.loads(item.arguments)["order_id"] in ("A1", "B2") and got.status == "completed"
    assert got.tool_choice.name == "get_order" and [t.name for t in got.tools] == ["get_order", "refund"]
    chat = c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Where is order A1?"}],
                                     tools=TOOLS, max_tokens=40, temperature=0,
                                     tool_choice={"type": "function", "function": {"name": "get_order"}})
    assert item.arguments == chat.choices[0].message.tool_calls[0].function.arguments  # the same request
    with c.responses.stream(model="tiny", input="Where is order A1?", tools=flat, tool_choice=named,
                            max_output_tokens=40, temperature=0) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[2:] == ["response.output_item.added", "response.function_call_arguments.delta",
                         "response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    assert final.output[0].arguments == item.arguments == events[4].arguments
    follow = c.responses.create(model="tiny", tools=flat, tool_choice="none", max_output_tokens=4, input=[
        {"role": "user", "content": "Where is order A1?"},
        {"type": "function_call", "call_id": item.call_id, "name": item.name, "arguments": item.arguments},
        {"type": "function_call_output", "call_id": item.call_id, "output": '{"status": "shipped"}'}])
    assert follow.output[0].type == "message" and follow.status in ("completed", "incomplete")


def test_responses_input_items_become_the_chat_turns_clients_mean():
    from genlab.serving.responses_api import chat_body

    body, origin = chat_body({"instructions": "Be brief.", "tools": [{"type": "function", "name": "f"}],
                              "tool_choice": {"type": "function", "name": "f"}, "input": [
        {"role": "user", "content": "Hi"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me look."}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "f", "arguments": '{"a": 1}'},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "two"}]}]})
    assert [(m["role"], m["content"]) for m in body["messages"]] == [
        ("system", "Be brief."), ("user", "Hi"), ("assistant", "Let me look."), ("tool", "one"), ("tool", "two")]
    assert [k["id"] for k in body["messages"][2]["tool_calls"]] == ["c1", "c2"] and origin == [None, 0, 3, 4, 5]
    assert body["tools"] == [{"type": "function", "function": {"name": "f"}}]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}


def test_tool_choices_that_cannot_be_honoured_are_400s(server):
    url, _ = server
    msgs = [{"role": "user", "content": "Hi"}]
    for extra, param in [({"tools": [{"type": "x"}], "tool_choice": "required"}, "tools"),
                         ({"tools": ["get_order"], "tool_choice": "required"}, "tools"),
                         ({"tools": TOOLS, "tool_choice": {"type": "function", "function": "get_order"}},
                          "tool_choice"),
                         ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "no"}}},
                          "tool_choice"),
                         ({"tool_choice": "required"}, "tool_choice"),
                         ({"tools": TOOLS, "tool_choice": "required", "response_format": {"type": "json_object"}},
                          "tool_choice"),
                         ({"functions": [{"name": "f"}]}, "functions")]:
        r = httpx.post(url + "/v1/chat/completions", json={"model": "tiny", "messages": msgs, "max_tokens": 2,
                                                           **extra})
        assert r.status_code == 400 and r.json()["error"]["param"] == param, (extra, r.text)
