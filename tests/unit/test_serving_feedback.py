"""POST /v1/feedback: users' votes on a server's answers, appended as the unpaired rows KTO learns from."""

from __future__ import annotations

import json

import httpx

from serving_helpers import tiny_server

TURNS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is order 12345?"}]


def test_votes_are_appended_as_kto_rows_and_bad_ones_refused(tiny_causal_dir, tmp_path):
    from genlab.alignment.kto import kto_rows

    path = tmp_path / "votes.jsonl"
    with tiny_server(tiny_causal_dir, feedback_file=str(path)) as (url, _):
        assert httpx.get(url + "/health").json()["feedback"] is True
        ok = httpx.post(url + "/v1/feedback", json={"model": "tiny", "messages": TURNS, "completion": "On its way.",
                                                     "label": True, "comment": "clear"})
        assert ok.status_code == 200 and ok.json() == {"status": "ok", "label": True}
        assert httpx.post(url + "/v1/feedback", json={"messages": TURNS, "completion": "No idea.",
                                                      "label": "down"}).status_code == 200  # model: the base
        for body, status, param in [
            ({"messages": TURNS, "completion": "x", "label": "maybe"}, 400, "label"),
            ({"messages": TURNS, "completion": " ", "label": True}, 400, "completion"),
            ({"messages": [{"role": "user"}], "completion": "x", "label": True}, 400, "messages"),
            ({"model": "nope", "messages": TURNS, "completion": "x", "label": True}, 404, "model"),
        ]:
            r = httpx.post(url + "/v1/feedback", json=body)
            assert r.status_code == status and r.json()["error"]["param"] == param, r.text
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["prompt"], r["completion"], r["label"], r["model"]) for r in rows] == [
        (TURNS, "On its way.", True, "tiny"), (TURNS, "No idea.", False, "tiny")]
    assert rows[0]["comment"] == "clear" and "comment" not in rows[1]
    from genlab.models import load

    tok = load(str(tiny_causal_dir)).tokenizer
    got = kto_rows(str(path), "train", None, 0, tok, "sample", False)  # the file is KTO's data as it is
    assert [(r.completion, r.desirable) for r in got] == [("On its way.", True), ("No idea.", False)]
    assert got[0].prompt.startswith("<|im_start|>system\nBe brief.")


def test_without_a_feedback_file_votes_are_refused_saying_how(tiny_causal_dir):
    with tiny_server(tiny_causal_dir) as (url, _):
        assert httpx.get(url + "/health").json()["feedback"] is False
        r = httpx.post(url + "/v1/feedback", json={"messages": TURNS, "completion": "x", "label": True})
        assert r.status_code == 403 and r.json()["error"]["code"] == "feedback_off"
        assert "--feedback-file" in r.json()["error"]["message"]
