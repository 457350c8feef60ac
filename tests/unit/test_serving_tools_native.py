"""Tool calls in the model's own format: Hermes' ``<tool_call>`` blocks for ``tool_choice: "auto"``."""

from __future__ import annotations

import json

import pytest

from genlab.errors import ConfigError
from genlab.serving.tools import native_tool_calls, tool_choice_of
from genlab.testing import CHATML
from serving_helpers import client, tiny_server

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
         {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]
# Qwen2.5's shape, short: the tools in a system turn, then the plain ChatML turns
HERMES = ("{% if tools %}<|im_start|>system\n<tools>{% for t in tools %}{{ t.function.name }} {% endfor %}</tools> "
          "Call as <tool_call>{\"name\": ..., \"arguments\": ...}</tool_call><|im_end|>\n{% endif %}" + CHATML)


def native():
    return tool_choice_of({"tools": TOOLS}, native=True)


def test_hermes_blocks_become_tool_calls_and_the_text_before_them_the_content():
    auto = native()
    assert auto.native and auto.grammar is None and auto.instructed([{"role": "user", "content": "x"}], "") == \
        [{"role": "user", "content": "x"}]  # the template shows the tools: no instruction of genlab's
    assert auto.answer("It is sunny.") == ("It is sunny.", None)
    content, calls = auto.answer('Let me look.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}'
                                 '\n</tool_call>\n<tool_call>{"name": "get_time", "arguments": "{}"}</tool_call>')
    assert content == "Let me look.\n"
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == \
        [("get_weather", {"city": "Paris"}), ("get_time", {})]
    assert all(c["id"].startswith("call_") and c["type"] == "function" for c in calls)
    only = tool_choice_of({"tools": TOOLS, "parallel_tool_calls": False}, native=True)
    two = ('<tool_call>{"name": "get_time"}</tool_call>'
           '<tool_call>{"name": "get_time", "arguments": {"tz": 1}}</tool_call>')
    assert only.answer(two)[0] is None and len(only.answer(two)[1]) == 1
    for bad in ('<tool_call>{"name": "get_weather", </tool_call>',  # not JSON
                '<tool_call>{"name": "launch", "arguments": {}}</tool_call>',  # not one of the tools
                '<tool_call>{"name": "get_time", "arguments": "not json"}</tool_call>'):
        assert auto.answer(bad) == (bad, None)  # left as text, as vLLM's hermes parser does


def test_a_native_reply_streams_up_to_what_may_begin_a_call():
    auto = native()
    assert auto.reply_so_far("Sure, ") == "Sure, "
    assert auto.reply_so_far("Sure, <tool_") == "Sure, "  # may be a call beginning: held back
    assert auto.reply_so_far("Sure, <tool_call>{\"na") == "Sure, "
    assert auto.reply_so_far("a < b") == "a < b" and auto.reply_so_far("a <") == "a "
    assert auto.reply_so_far("\n") is None and auto.reply_so_far("<tool_call>") is None  # nothing sure yet
    assert tool_choice_of({"tools": TOOLS}).reply_so_far('{"response": "Hi') == "Hi"  # the JSON shape, as before


def test_the_parser_follows_the_chat_template_unless_told():
    assert native_tool_calls("auto", HERMES) and not native_tool_calls("auto", CHATML)
    assert not native_tool_calls("json", HERMES) and native_tool_calls("hermes", HERMES)
    with pytest.raises(ConfigError, match="does not show tools"):
        native_tool_calls("hermes", CHATML)
    with pytest.raises(ConfigError, match="unknown tool-call parser"):
        native_tool_calls("mistral", HERMES)
    assert tool_choice_of({"tools": TOOLS, "tool_choice": "required"}, native=True).grammar is not None  # forced


@pytest.fixture(scope="module")
def hermes_server(tmp_path_factory):
    from transformers import AutoTokenizer

    from genlab.testing import tiny_model_dir

    path = tiny_model_dir(tmp_path_factory.mktemp("tiny-hermes"), max_position_embeddings=1024)
    tok = AutoTokenizer.from_pretrained(path)
    tok.chat_template = HERMES
    tok.save_pretrained(path)
    with tiny_server(path) as running:
        yield running


def test_a_hermes_template_gets_the_tools_and_a_free_answer(hermes_server):
    url, service = hermes_server
    assert service.native_tools
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    seen = service.tokenizer.decode(service.chat_ids({"messages": msgs, "tools": TOOLS}, service.tool_choice(
        {"messages": msgs, "tools": TOOLS})))
    assert seen.startswith("<|im_start|>system\n<tools>get_weather get_time </tools>")  # the template's own rendering
    keeps = [service.sequences(service.job(body, "chat"), lambda ev: None)[0].skip_special
             for body in ({"messages": msgs, "tools": TOOLS}, {"messages": msgs})]
    assert keeps == [False, True]  # a call's <tool_call> may be a special token: kept in the text to parse
    c = client(url)
    got = c.chat.completions.create(model="tiny", messages=msgs, tools=TOOLS, max_tokens=12, temperature=0)
    choice = got.choices[0]  # a random model writes no call: its text, ungrammared, is the answer
    plain = service.tool_choice({"tools": TOOLS}).answer
    assert choice.message.tool_calls is None and choice.message.content
    assert choice.finish_reason in ("stop", "length") and "<tool_call>" not in choice.message.content
    assert plain(choice.message.content) == (choice.message.content, None)
    streamed = c.chat.completions.create(model="tiny", messages=msgs, tools=TOOLS, max_tokens=12, temperature=0,
                                         stream=True)
    assert "".join(k.choices[0].delta.content or "" for k in streamed if k.choices) == choice.message.content
    forced = c.chat.completions.create(model="tiny", messages=msgs, tools=TOOLS, max_tokens=40, temperature=0,
                                       tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert forced.choices[0].message.tool_calls[0].function.name == "get_time"  # forced calls keep the grammar


def test_the_responses_api_answers_a_hermes_model_in_text_streamed_alike(hermes_server):
    url, _ = hermes_server
    c = client(url)
    flat = [{"type": "function", **t["function"]} for t in TOOLS]  # the Responses API's tool shape
    got = c.responses.create(model="tiny", input="Weather in Paris?", tools=flat, max_output_tokens=12,
                             temperature=0)
    (item,) = got.output  # a random model writes no call: one message with its text
    assert item.type == "message" and item.content[0].text
    events = list(c.responses.create(model="tiny", input="Weather in Paris?", tools=flat, max_output_tokens=12,
                                     temperature=0, stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] in ("response.completed", "response.incomplete")
    assert kinds.index("response.output_item.added") < kinds.index("response.output_text.done")
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == item.content[0].text
