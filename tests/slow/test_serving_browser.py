"""The playground at / in a real headless browser (Debian's chromium, driven by Playwright): send a message,
watch the answer stream in, switch to an adapter. Skipped, saying why, where chromium is missing."""

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from adapter_helpers import nudged_adapter  # noqa: E402
from serving_helpers import client, tiny_server  # noqa: E402

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ASK = "Customer: my order 12345 arrived late."
VERDICT = {"type": "object", "properties": {"answer": {"enum": ["yes", "no"]}}, "required": ["answer"],
           "additionalProperties": False}


def _reference(url, model):
    got = client(url).chat.completions.create(model=model, messages=[{"role": "user", "content": ASK}],
                                               max_tokens=24, temperature=0)
    return got.choices[0].message.content


def _send(page, text):
    page.fill("#prompt", text)
    page.click("#send")
    page.wait_for_selector(".msg.assistant[data-done=true]", timeout=30_000)
    last = page.locator(".msg.assistant").last
    return last.locator(".text").text_content(), int(last.get_attribute("data-chunks"))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it with apt-get where it can)")
def test_playground_streams_a_chat_and_switches_adapter(tiny_causal_dir, tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    adapter, _ = nudged_adapter(tiny_causal_dir, "lora", {"r": 4}, tmp_path / "support", seed=1)
    votes = tmp_path / "votes.jsonl"
    with tiny_server(tiny_causal_dir, {"support": adapter}, feedback_file=str(votes)) as (url, _), \
            sync_playwright() as p:
        want = {m: _reference(url, m) for m in ("tiny", "support")}
        assert want["tiny"] != want["support"]
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        errors, bodies = [], []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: bodies.append(r.post_data_json) if r.url.endswith("/chat/completions") else None)
        page.goto(url + "/")
        page.wait_for_function("document.querySelectorAll('#model option').length === 2")
        assert page.eval_on_selector_all("#model option", "os => os.map(o => o.value)") == ["tiny", "support"]
        page.eval_on_selector("#temperature", "e => { e.value = '0'; e.dispatchEvent(new Event('input')); }")
        page.fill("#max-tokens", "24")

        text, chunks = _send(page, ASK)
        assert text == want["tiny"] and chunks > 1  # the answer arrived in several streamed pieces
        assert page.locator(".msg.user .text").last.text_content() == ASK

        page.click("#clear")
        page.select_option("#model", "support")
        text, chunks = _send(page, ASK)
        assert text == want["support"] and chunks > 1
        assert [b["model"] for b in bodies] == ["tiny", "support"] and all(b["stream"] for b in bodies)
        assert "tokens in" in page.text_content("#status")
        # (the base model's greedy answer here is blank lines: no buttons under a blank answer)
        page.locator(".msg.assistant .vote-down").last.click()  # 👎: recorded for KTO, the buttons then locked
        page.wait_for_selector(".msg.assistant[data-vote=down]")
        row = json.loads(votes.read_text())
        assert (row["prompt"], row["completion"], row["label"], row["model"]) == (
            [{"role": "user", "content": ASK}], want["support"], False, "support")
        assert page.locator(".msg.assistant .vote-up").last.is_disabled()
        assert "feedback saved" in page.text_content("#status")

        page.click("#clear")  # an answer held to a JSON schema, with the sampling fields the page sends
        page.select_option("#format", "json_schema")
        page.fill("#schema", json.dumps(VERDICT))
        page.eval_on_selector("#min-p", "e => { e.value = '0.05'; e.dispatchEvent(new Event('input')); }")
        page.fill("#max-tokens", "40")
        text, _ = _send(page, "Is the sky blue?")
        assert set(json.loads(text)) == {"answer"} and json.loads(text)["answer"] in ("yes", "no")
        assert bodies[-1]["response_format"]["json_schema"]["schema"] == VERDICT and bodies[-1]["min_p"] == 0.05
        page.fill("#schema", "{not json")
        page.fill("#prompt", "again")
        page.click("#send")
        page.wait_for_selector(".msg.error")
        assert "the schema is not valid JSON" in page.locator(".msg.error").last.text_content()
        page.screenshot(path=str(tmp_path / "playground.png"))
        browser.close()
    assert errors == []
    assert (tmp_path / "playground.png").stat().st_size > 10_000
