"""Mistakes give OpenAI-shaped 4xx errors; limits hold; a killed client or SIGTERM does not hurt the others."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx
import openai
import pytest

from serving_helpers import async_client, client, settles, tiny_server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def server(tiny_causal_dir):
    with tiny_server(tiny_causal_dir, max_tokens_cap=200, max_body_bytes=4000) as (url, service):
        yield url, service


def _error(url, body, path="/v1/completions", **kw):
    r = httpx.post(url + path, json=body, **kw) if isinstance(body, dict) else httpx.post(url + path, content=body, **kw)
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    return r.status_code, err


@pytest.mark.parametrize("body, status, param", [
    ({"model": "tiny", "prompt": "x", "temperature": "hot"}, 400, "temperature"),
    ({"model": "tiny", "prompt": "x", "max_tokens": 5000}, 400, "max_tokens"),
    ({"model": "tiny", "prompt": "x", "n": 99}, 400, "n"),
    ({"model": "tiny", "prompt": "x", "stop": ["ok", ""]}, 400, "stop"),
    ({"model": "tiny", "prompt": "x", "stop": [str(i) for i in range(17)]}, 400, "stop"),
    ({"model": "tiny", "prompt": "x", "presence_penalty": 2.5}, 400, "presence_penalty"),
    ({"model": "tiny", "prompt": "x", "frequency_penalty": "high"}, 400, "frequency_penalty"),
    ({"model": "tiny", "prompt": "x", "logit_bias": {"five": 10}}, 400, "logit_bias"),
    ({"model": "tiny", "prompt": "x", "logit_bias": {"600": 10}}, 400, "logit_bias"),
    ({"model": "tiny", "prompt": "x", "logit_bias": {"5": 101}}, 400, "logit_bias"),
    ({"model": "tiny", "prompt": "x", "min_p": 1.5}, 400, "min_p"),
    ({"model": "tiny", "prompt": "x", "max_tokens": 4, "min_tokens": 5}, 400, "min_tokens"),
    ({"model": "tiny", "prompt": "x", "ignore_eos": "yes"}, 400, "ignore_eos"),
    ({"model": "tiny", "prompt": "x", "tools": [{"type": "function", "function": {"name": "f"}}]}, 400, "tools"),
    ({"model": "tiny", "prompt": "x", "repetition_penalty": 0}, 400, "repetition_penalty"),
    ({"model": "tiny", "prompt": [1, 2, 10**9]}, 400, "prompt"),
    ({"model": "tiny", "prompt": ""}, 400, "prompt"),
    ({"model": "tiny", "prompt": "x", "echo": True, "stream": True}, 400, "echo"),
    ({"model": "gpt-4", "prompt": "x"}, 404, "model"),
    ({"model": "tiny", "prompt": "x " * 300}, 400, "prompt"),
])
def test_bad_requests_get_clear_errors(server, body, status, param):
    got_status, err = _error(server[0], body)
    assert (got_status, err["param"]) == (status, param), err


@pytest.mark.parametrize("body, param", [
    ({"model": "tiny", "input": "x", "previous_response_id": "resp_1"}, "previous_response_id"),
    ({"model": "tiny", "input": "x", "tools": [{"type": "web_search"}]}, "tools"),
    ({"model": "tiny", "input": "x", "tools": {"type": "function", "name": "f"}}, "tools"),
    ({"model": "tiny", "input": [{"type": "reasoning", "summary": []}]}, "input[0]"),
    ({"model": "tiny", "input": [{"type": "function_call_output", "output": "1"}]}, "input[0].call_id"),
    ({"model": "tiny", "input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]},
     "input[0]"),
    ({"model": "tiny", "input": [{"role": "user", "content": "x"}, {"role": "robot", "content": "y"}]},
     "input[1].role"),
    ({"model": "tiny", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "u"}]}]},
     "input[0].content"),
    ({"model": "tiny", "input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
    ({"model": "tiny", "input": ""}, "input"),
    ({"model": "tiny", "input": "x", "max_output_tokens": 5000}, "max_output_tokens"),
    ({"model": "tiny", "input": "x " * 300}, "input"),
])
def test_responses_api_mistakes_get_clear_errors(server, body, param):
    status, err = _error(server[0], body, "/v1/responses")
    assert (status, err["param"]) == (400, param), err


def test_error_messages_name_the_limit_and_the_models(server):
    url, _ = server
    assert "Models here: tiny" in _error(url, {"model": "gpt-4", "prompt": "x"})[1]["message"]
    _, err = _error(url, {"model": "tiny", "prompt": "x " * 300})
    assert "maximum context length is 256 tokens" in err["message"] and err["code"] == "context_length_exceeded"
    assert _error(url, {"model": "tiny", "messages": [{"role": "robot", "content": "x"}]},
                  "/v1/chat/completions")[1]["param"] == "messages[0].role"
    assert _error(url, b"{not json")[1]["code"] == "invalid_json"
    assert _error(url, b"[1, 2]")[1]["code"] == "invalid_json"
    status, err = _error(url, {"model": "tiny", "prompt": "x" * 5000})
    assert status == 413 and "4000" in err["message"]
    assert httpx.get(url + "/v1/nothing").status_code == 404
    with pytest.raises(openai.BadRequestError):  # the client raises its own error class for our 400s
        client(url).chat.completions.create(model="tiny", messages=[], max_tokens=3)
    assert client(url).completions.create(model="tiny", prompt="x", max_tokens=2, temperature=0).choices  # still fine


def test_api_key_is_required_when_set_and_to_bind_elsewhere(tiny_causal_dir):
    from genlab.errors import ConfigError
    from genlab.serving import ServeConfig
    from genlab.serving.server import check_bind

    with pytest.raises(ConfigError, match="--api-key"):
        check_bind(ServeConfig(host="0.0.0.0"))
    check_bind(ServeConfig(host="0.0.0.0", api_key="k"))
    with tiny_server(tiny_causal_dir, api_key="sekrit") as (url, _):
        with pytest.raises(openai.AuthenticationError):
            client(url, api_key="wrong").models.list()
        assert [m.id for m in client(url, api_key="sekrit").models.list().data] == ["tiny"]
        assert httpx.get(url + "/health").status_code == 200


def test_a_full_queue_answers_429_with_retry_after(tiny_causal_dir):
    async def burst(url):
        c = async_client(url)
        return await asyncio.gather(*(c.completions.with_raw_response.create(
            model="tiny", prompt="The cat", max_tokens=150, temperature=0) for _ in range(6)), return_exceptions=True)

    with tiny_server(tiny_causal_dir, max_batch=1, max_queue=1) as (url, service):
        outs = asyncio.run(burst(url))
        busy = [o for o in outs if isinstance(o, openai.RateLimitError)]
        ok = [o for o in outs if not isinstance(o, Exception)]
        assert busy and ok and len(busy) + len(ok) == 6
        assert busy[0].response.headers["retry-after"] == "1" and busy[0].body["code"] == "queue_full"
        assert settles(service.engine)


def test_a_request_past_the_timeout_gets_504_and_frees_its_slot(tiny_causal_dir):
    with tiny_server(tiny_causal_dir, timeout_s=0.05) as (url, service):
        status, err = _error(url, {"model": "tiny", "prompt": "The cat", "max_tokens": 240, "temperature": 0})
        assert status == 504 and err["code"] == "timeout"
        assert settles(service.engine) and service.engine.finished["cancelled"] == 1


KILLED_CLIENT = r"""
import sys, httpx
with httpx.stream("POST", sys.argv[1] + "/v1/completions", json={"model": "tiny", "prompt": "Hello",
                  "max_tokens": 4000, "temperature": 0, "stream": True}, timeout=60) as r:
    for line in r.iter_lines():
        if line.startswith("data:"):
            print("streaming", flush=True)
            sys.stdin.read()  # wait to be killed
"""


def test_a_client_killed_mid_stream_frees_its_slot_while_another_continues(tmp_path):
    from genlab.testing import tiny_model_dir

    long_context = tiny_model_dir(tmp_path / "lm", "causal", max_position_embeddings=4096)
    with tiny_server(long_context, max_tokens_cap=4000) as (url, service):
        before = service.engine.kv_bytes()
        victim = subprocess.Popen([sys.executable, "-c", KILLED_CLIENT, url], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert victim.stdout.readline().strip() == "streaming"
        other = client(url).completions.create(model="tiny", prompt="The cat sat", max_tokens=200, temperature=0,
                                               stream=True, stream_options={"include_usage": True})
        stream = iter(other)
        first = [next(stream) for _ in range(3)]  # by the 3rd chunk its row has joined the victim's batch
        assert service.engine.running() == 2 and service.engine.kv_bytes() > before
        victim.kill()
        victim.wait()
        rest = list(stream)
        assert first[0].choices and rest[-1].usage.completion_tokens == 200  # the other stream ran to its end
        assert settles(service.engine) and service.engine.kv_bytes() == before == 0
        assert service.engine.finished["cancelled"] == 1 and service.engine.finished["length"] == 1


def test_sigterm_lets_a_stream_in_flight_finish_then_exits(tiny_causal_dir, tmp_path):
    from genlab.serving.server import free_port

    port = free_port()
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "genlab", "serve", "-m", str(tiny_causal_dir), "--port", str(port),
                             "--precision", "fp32", "--served-model-name", "tiny"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.2)
        chunks = []
        for chunk in client(url).completions.create(model="tiny", prompt="Hello", max_tokens=240, temperature=0,
                                                    stream=True, stream_options={"include_usage": True}):
            if not chunks:
                proc.send_signal(signal.SIGTERM)
            chunks.append(chunk)
        assert chunks[-1].usage.completion_tokens == 240 and chunks[-2].choices[0].finish_reason == "length"
        assert proc.wait(timeout=30) == -signal.SIGTERM  # drained, then the signal it caught is re-raised
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "serving tiny at http://127.0.0.1" in proc.stdout.read()


def test_a_script_that_exits_with_the_engine_running_exits_cleanly(tiny_causal_dir):
    """No stop() before the interpreter exits: the engine is stopped at exit instead of aborting the process."""
    script = ("import sys\nfrom genlab.serving import build_service\n"
              "service = build_service(sys.argv[1], precision='fp32')\nprint('built', service.engine.alive)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(tiny_causal_dir)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "built True"


def test_cors_only_for_the_allowed_origins(tiny_causal_dir):
    with tiny_server(tiny_causal_dir, allow_origins=["http://localhost:3000"], api_key="k") as (url, _):
        pre = httpx.options(url + "/v1/chat/completions", headers={
            "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "http://localhost:3000"
        denied = httpx.get(url + "/v1/models", headers={"Origin": "http://localhost:3000"})  # no key: 401, readable
        assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == "http://localhost:3000"
        other = httpx.get(url + "/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    with tiny_server(tiny_causal_dir) as (url, _):  # the default: no CORS headers at all
        plain = httpx.get(url + "/health", headers={"Origin": "http://localhost:3000"})
        assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers


def test_stored_responses_are_a_clear_404(server):
    r = httpx.get(server[0] + "/v1/responses/resp_123")
    assert r.status_code == 404 and "stores no responses" in r.json()["error"]["message"]
