"""Feedback: ranking in the terminal through stdin (saved per prompt, re-run continues), constitutions, judges."""

from __future__ import annotations

import json
import subprocess

import pytest

from genlab.alignment.constitution import constitution_from, load_constitution, violations
from genlab.alignment.feedback import parse_ranking, read_done
from genlab.alignment.judges import LLMJudge, RuleJudge, ranked_pairs, revised_pair
from genlab.alignment.preferences import load_preferences
from genlab.errors import ConfigError

from tests.unit.cli_helpers import console_script, genlab_env


@pytest.fixture()
def tiny_task(tmp_path):
    rows = [{"question": f"Say hello to customer {i}.", "answer": "Hello!"} for i in range(4)]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "task.yaml").write_text(
        "name: tiny-prompts\ndataset: {files: {train: q.jsonl}}\n"
        "templates:\n  - name: t\n    patterns: [[\"{question}\", \"{answer}\"]]\n")
    return tmp_path / "task.yaml"


def _collect(model_dir, task, out, answers: str, *extra: str):
    cmd = [str(console_script()), "feedback", "collect", "-m", str(model_dir), "-t", str(task), "--samples", "3",
           "-n", "2", "--out", str(out), "--max-new-tokens", "8", "--criterion", "helpful", *extra]
    return subprocess.run(cmd, input=answers, capture_output=True, text=True, env=genlab_env(COLUMNS="200"),
                          timeout=120)


def test_collect_from_stdin_saves_each_prompt_and_continues(tmp_path, tiny_causal_dir, tiny_task):
    out = tmp_path / "prefs.jsonl"
    first = _collect(tiny_causal_dir, tiny_task, out, "2 1 3\n")  # then stdin ends: stop like q
    assert first.returncode == 0, first.stderr
    rows = read_done(out)
    assert len(rows) == 1 and rows[0]["ranking"] == [1, 0, 2] and rows[0]["criterion"] == "helpful"
    assert rows[0]["prompt"] == "Say hello to customer 0." and len(rows[0]["completions"]) == 3
    assert "1 ranked prompt(s) kept" in first.stdout
    second = _collect(tiny_causal_dir, tiny_task, out, "1 1 2\n3,2,1\n")  # a bad answer is asked again
    assert second.returncode == 0, second.stderr
    assert "exactly once" in second.stdout
    rows2 = read_done(out)
    assert rows2[0] == rows[0] and len(rows2) == 2 and rows2[1]["ranking"] == [2, 1, 0]
    pairs = load_preferences(out).pairs
    assert len(pairs) == 6
    c = rows2[1]["completions"]
    assert (pairs[3].chosen, pairs[3].rejected) == (c[2], c[1])


@pytest.mark.parametrize("text, k, want", [("2 1 3", 3, [1, 0, 2]), ("3,1,2", 3, [2, 0, 1]), ("21", 2, [1, 0])])
def test_parse_ranking(text, k, want):
    assert parse_ranking(text, k) == want


@pytest.mark.parametrize("text", ["1 2", "1 1 2", "0 1 2", "a b c", "1 2 3 4"])
def test_parse_ranking_refuses_non_permutations(text):
    with pytest.raises(ValueError):
        parse_ranking(text, 3)


@pytest.mark.parametrize("yaml_text, message, where", [
    ("principles:\n  - id: a\n    text: be kind\n  - id: b\n    txt: oops\n", "unknown field 'txt'", ":4: txt"),
    ("principles:\n  - id: a\n    text: ''\n", "text must be non-empty", ":2: text"),
    ("principles:\n  - id: a\n    text: x\n    check: {max_toxicity: 2}\n", "probability", ":2: check.max_toxicity"),
    ("principles:\n  - id: a\n    text: x\n    check: {regex: '.*'}\n", "unknown rule 'regex'", ":2: check.regex"),
    ("principles:\n  - id: a\n    text: x\n    weight: -1\n", "weight must be a number > 0", ":2: weight"),
    ("principles: []\n", "non-empty list", ":1"),
    ("principles:\n  - id: a\n    text: x\n  - id: a\n    text: y\n", "used twice", "c.yaml"),
    ("principles:\n  - id: a\n   text: x\n", "not valid YAML", ":3"),
    ("name: x\n", "principles", "c.yaml"),
])
def test_constitution_errors_name_file_line_and_field(tmp_path, yaml_text, message, where):
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as e:
        load_constitution(path)
    assert message in str(e.value) and where in str(e.value), str(e.value)


def test_shipped_constitution_loads_and_rule_judge_ranks_by_it():
    from importlib import resources

    c = load_constitution(resources.files("genlab.alignment") / "constitutions" / "support.yaml")
    assert [p.id for p in c.principles] == ["polite", "faithful", "concise", "helpful"]
    judge = RuleJudge(c)
    facts = {"customer_name": "Maria Lopez", "ref": "482913", "amount": "$45.00"}
    good = "Maria Lopez asked about order 482913; the agent refunded $45.00."
    wrong = "Maria Lopez asked about order 482914; the agent refunded $45.00."
    rude = good + " Honestly, she was an idiot."
    scores = judge.rank("Summarize.", [rude, good, wrong], facts)
    assert scores[1] > scores[0] and scores[1] > scores[2]
    pairs = ranked_pairs(judge, "Summarize.", [rude, good, wrong], facts=facts)
    assert {(p.chosen, p.rejected) for p in pairs} >= {(good, rude), (good, wrong)}
    revised = revised_pair(judge, "Summarize.", rude, facts=facts)
    assert revised.chosen == good and revised.rejected == rude


def test_violations_checks_each_rule():
    c = constitution_from({"principles": [{"id": "a", "text": "x", "check": {
        "forbid": ["shut up"], "require_any": ["order"], "max_words": 5, "min_words": 2}}]})
    p = c.principles[0]
    assert violations(p, "your order ships") == 0
    assert violations(p, "shut up about your order") == 1
    assert violations(p, "hello") == 2  # no "order", fewer than 2 words
    assert violations(p, "one two three four five six order") == 1


def test_llm_judge_is_position_balanced(tiny_causal):
    c = constitution_from([{"id": "a", "text": "Choose the polite reply."}])
    judge = LLMJudge(c, tiny_causal)
    p = judge.prefer_a("hi", "Hello, how can I help?", "Go away.")
    q = judge.prefer_a("hi", "Go away.", "Hello, how can I help?")
    assert 0 <= p <= 1 and p + q == pytest.approx(1.0, abs=1e-6)
    scores = judge.rank("hi", ["Hello, how can I help?", "Go away.", "ok"])
    assert sum(scores) == pytest.approx(1.5, abs=1e-6)  # each of 3 pairs hands out one win


def test_ai_label_with_the_rule_judge_writes_pairs_and_continues(tmp_path, tiny_causal, tiny_task):
    from genlab.alignment.feedback import ai_label

    c = constitution_from([{"id": "short", "text": "Choose the shorter reply.", "check": {"max_words": 3}}])
    out = tmp_path / "ai.jsonl"
    res = ai_label(tiny_causal, str(tiny_task), out, RuleJudge(c), k=4, n=2, max_new_tokens=12)
    assert res["prompts"] == 2
    again = ai_label(tiny_causal, str(tiny_task), out, RuleJudge(c), k=4, n=3, max_new_tokens=12)
    assert again["prompts"] == 1  # the first two were judged already
    for pair in load_preferences(out).pairs:
        assert pair.meta["judge"] == "rule" and pair.meta["scores"][0] > pair.meta["scores"][1]


def test_thumbs_labels_each_reply_for_kto_and_continues(tmp_path, tiny_causal_dir, tiny_task):
    from genlab.alignment.kto import kto_rows

    out = tmp_path / "feedback.jsonl"
    first = _collect(tiny_causal_dir, tiny_task, out, "y\nmaybe\nn\ns\n", "--thumbs")  # then stdin ends: stop
    assert first.returncode == 0, first.stderr
    assert "answer y, n, s or q" in first.stdout and "1 labelled prompt(s) kept" in first.stdout
    assert "Does this reply do what the user asked" in first.stdout  # the criterion, asked of one reply
    rows = read_done(out)
    assert [r["label"] for r in rows] == [True, False] and {r["id"] for r in rows} == {rows[0]["id"]}
    assert rows[0]["prompt"] == "Say hello to customer 0." and rows[0]["completion"] != rows[1]["completion"]
    second = _collect(tiny_causal_dir, tiny_task, out, "n\nn\ny\n", "--thumbs")  # continues with prompt 2
    assert second.returncode == 0, second.stderr
    assert "good and" in second.stdout and "--loss kto" in second.stdout
    rows = read_done(out)
    assert [r["label"] for r in rows] == [True, False, False, False, True]
    assert rows[-1]["prompt"] == "Say hello to customer 1."
    read = kto_rows(str(out), "train", None, 0, None, "sample", False)  # KTO reads them (5 rows: all train)
    assert sorted((r.completion, r.desirable) for r in read) == sorted((r["completion"], r["label"]) for r in rows)
    mixed = _collect(tiny_causal_dir, tiny_task, out, "1 2 3\n")  # rankings into a file of labels: refused
    assert mixed.returncode != 0 and "holds labels" in mixed.stdout + mixed.stderr
