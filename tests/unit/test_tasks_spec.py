"""Task YAML spec: built-in tasks, the Request contract, shots from train only, spec errors."""

import json

import pytest
from typer.testing import CliRunner

from genlab.errors import ConfigError, DataError
from genlab.tasks import Request, list_tasks, load_task, task_from_yaml
from genlab.testing import tiny_tokenizer

BUILTINS = ["chat-summary", "detox-prompts", "detox-rude", "orders-agent", "reviews", "reviews-generate", "reviews-headline",
            "support-extract", "support-kb-qa", "support-summary", "support-summary-prefs", "word-math"]
HUB = ["dialogsum"]  # built-in recipes on hub datasets: tested offline with a local fixture


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def test_list_and_load_builtins():
    assert list_tasks() == sorted(BUILTINS + HUB)
    t = load_task("support-summary")
    assert (t.name, t.output_type, t.chat, t.default_shots) == ("support-summary", "generate", True, 0)
    assert t.metrics == ["rougeL", "rouge1", "rouge2", "rougeLsum", "fact_accuracy", "fact_recall"]
    assert t.generation == {"max_new_tokens": 96} and t.postprocess == ["strip"]
    assert t.split_names() == ["train", "validation", "test", "test-unseen"]
    assert len(t.examples("train")) >= 4000 and len(t.examples("test")) >= 200
    assert load_task("support-extract").metrics == ["exact_match", "field_f1"]


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_renders_requests(name):
    t = load_task(name)
    reqs = t.requests("test", n=5, shots=1)
    assert len(reqs) == 5 and all(isinstance(r, Request) for r in reqs)
    assert [r.doc_id for r in reqs] == list(range(5))
    assert all(r.prompt and r.target and r.shots_used == 1 and r.raw for r in reqs)
    assert reqs[0].prompt == t.requests("test", n=5, shots=1)[0].prompt  # deterministic


def test_splits_are_deterministic_and_disjoint():
    a, b = load_task("chat-summary"), load_task("chat-summary")
    assert a.examples("test") == b.examples("test")
    ids = {s: {r["id"] for r in a.examples(s)} for s in a.split_names()}
    assert not ids["train"] & ids["test"] and not ids["train"] & ids["validation"]


def test_shots_come_from_train_never_from_the_evaluated_split():
    t = load_task("support-summary")
    train_summaries = {r["summary"] for r in t.examples("train")}
    test_summaries = {r["summary"] for r in t.examples("test")}
    for r in t.requests("test", n=20, shots=3, seed=4):
        used = [s for s in train_summaries if s in r.prompt]
        assert len(used) == 3
        assert not [s for s in test_summaries if s in r.prompt]  # not even the question's own target
    for r in t.requests("train", n=10, shots=2):  # evaluating on train: never the row itself as a shot
        assert r.prompt.count(r.target) == 0


def test_multiple_choice_request():
    t = load_task("reviews")
    r = t.requests("test", n=1)[0]
    assert r.choices == [" 1", " 2", " 3", " 4", " 5"]
    assert r.target == str(r.raw["star_rating"]) and r.target_index == r.raw["star_rating"] - 1
    assert r.prompt.endswith("- 5\nRating:")


def test_support_extract_target_is_json():
    r = load_task("support-extract").requests("test", n=1)[0]
    assert set(json.loads(r.target)) == {"customer_name", "order_number", "product", "requested_action"}


def test_chat_wrapping_and_templates(tok):
    t = load_task("support-summary")
    chat = t.requests("test", n=1, tokenizer=tok)[0]
    assert chat.prompt.startswith("<|im_start|>user\nSummarize the following conversation.")
    assert chat.prompt.endswith("<|im_start|>assistant\n")
    plain = t.requests("test", n=1, tokenizer=tok, chat=False)[0]
    assert plain.prompt.startswith("Summarize the following") and plain.prompt.endswith("Summary:\n")
    assert t.requests("test", n=1, template=2)[0].prompt.startswith("Here is a conversation")
    assert t.requests("test", n=1, template="support:2")[0].prompt == t.requests("test", n=1, template=2)[0].prompt
    with pytest.raises(ConfigError, match="no template"):
        t.requests("test", n=1, template=99)


def test_context_window_fitting_through_requests(tok):
    t = load_task("support-summary")
    reqs = t.requests("test", n=3, shots=5, tokenizer=tok, chat=False, context_window=1200)
    assert all(r.shots_used < 5 for r in reqs)
    assert all(len(tok(r.prompt)["input_ids"]) <= 1200 - 96 for r in reqs)


def test_training_pairs_sample_templates_with_seed(tok):
    t = load_task("chat-summary")
    pairs = t.training_pairs(n=200, seed=1)
    again = t.training_pairs(n=200, seed=1)
    assert [p.prompt for p in pairs] == [p.prompt for p in again]
    assert [p.prompt for p in pairs] != [p.prompt for p in t.training_pairs(n=200, seed=2)]
    endings = {p.prompt.rstrip().split("\n")[-1] for p in pairs}
    assert len(endings) >= 6  # several of the seven FLAN phrasings
    assert all(p.target == p.raw["summary"] and p.shots_used == 0 for p in pairs)


def write_task(tmp_path, body: str):
    (tmp_path / "data.jsonl").write_text("".join(
        json.dumps({"conversation": f"A: hi {i}\nB: hello {i}", "abstract": f"A greets B ({i})."}) + "\n"
        for i in range(40)))
    path = tmp_path / "task.yaml"
    path.write_text(body)
    return path


USER_TASK = """\
name: my-task
dataset:
  path: data.jsonl
  columns: {dialogue: conversation, summary: abstract}
  splits: {train: 0.5, test: 0.5}
metrics: [rougeL]
templates:
  - name: samsum-1
    jinja: "{{dialogue}}\\nSummary: ||| {{summary}}"
"""


def test_user_task_yaml_with_file_and_column_mapping(tmp_path):
    t = load_task(str(write_task(tmp_path, USER_TASK)))
    assert t.split_names() == ["train", "test"] and len(t.examples("test")) == 20
    r = t.requests("test", n=1, shots=2)[0]
    assert r.shots_used == 2 and r.target.startswith("A greets B")
    assert t.examples("test")[0].where.startswith(str(tmp_path / "data.jsonl") + ":")


@pytest.mark.parametrize("edit, message", [
    (lambda s: s + "metric: [x]\n", "unknown key(s) metric"),
    (lambda s: s + "output_type: classify\n", "output_type' must be one of"),
    (lambda s: s.replace("  splits:", "  split:"), "dataset: unknown key(s) split"),
    (lambda s: s + "chat: maybe\n", "field 'chat' must be bool"),
    (lambda s: s.replace("{{summary}}", "{{headline}}"), 'missing column "headline"'),
])
def test_task_yaml_errors_name_file_and_field(tmp_path, edit, message):
    path = write_task(tmp_path, edit(USER_TASK))
    with pytest.raises((ConfigError, DataError)) as e:
        load_task(str(path)).examples("test")
    assert message in str(e.value) and str(path) in str(e.value)


def test_builtin_template_referencing_missing_field_names_template():
    bad = "name: x\ndataset: {builtin: chat, n: 20}\ntemplates:\n  - name: t1\n    jinja: '{{nope}} ||| {{summary}}'\n"
    with pytest.raises(ConfigError, match="template 't1' uses field\\(s\\) nope"):
        task_from_yaml(bad, source="x.yaml").examples("test")


def test_unknown_task_lists_builtins():
    with pytest.raises(ConfigError, match="support-summary"):
        load_task("no-such-task")


def test_cli_data_show():
    from genlab.cli import app

    result = CliRunner().invoke(app, ["data", "show", "reviews", "-n", "2", "--shots", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.count("target:") == 2 and "choices" in result.output and "shots 1/1" in result.output


def test_task_stats_numbers(tok):
    from genlab.data.stats import task_stats

    s = task_stats(load_task("reviews-headline"), tok)
    assert [r["split"] for r in s["splits"]] == ["train", "validation", "test", "test-unseen"]
    assert 2300 < s["splits"][0]["n"] <= 2400 and s["splits"][0]["prompt"][0] > 10
    assert {c["split"] for c in s["contamination"]} == {"validation", "test", "test-unseen"}
    assert s["fields"] == ["review_body"]


def test_mix_tasks_rates_and_sampled_templates():
    from genlab.tasks import mix_tasks

    out = mix_tasks(["support-summary", "chat-summary"], 4000, weights=[0.75, 0.25], seed=0)
    share = sum(o["task"] == "support-summary" for o in out) / len(out)
    assert abs(share - 0.75) < 0.03
    assert len({o["template"] for o in out if o["task"] == "chat-summary"}) == 7
    assert out[:50] == mix_tasks(["support-summary", "chat-summary"], 4000, weights=[0.75, 0.25], seed=0)[:50]
    capped = mix_tasks(["support-summary", "reviews-headline"], 3000, cap=2400, seed=0)
    assert abs(sum(o["task"] == "reviews-headline" for o in capped) / 3000 - 0.5) < 0.04


def test_cli_show_skip_bad_rows_on_a_user_task(tmp_path):
    from genlab.cli import app

    path = write_task(tmp_path, USER_TASK)
    data = tmp_path / "data.jsonl"
    original = data.read_bytes() + b"{broken\n"
    data.write_bytes(original)
    failed = CliRunner().invoke(app, ["data", "show", str(path), "-n", "1"])
    assert failed.exit_code != 0 and "malformed JSON" in str(failed.exception)
    ok = CliRunner().invoke(app, ["data", "show", str(path), "-n", "1", "--skip-bad-rows"])
    assert ok.exit_code == 0, ok.output
    assert "skipped 1 bad row(s)" in ok.output and (tmp_path / "data.jsonl.bad-rows.txt").is_file()
    assert data.read_bytes() == original
    t = load_task(str(path))
    t.dataset["skip_bad_rows"] = True
    assert [b.where for b in t.bad_rows] == [] and t.examples("test") and t.bad_rows[0].where == f"{data}:41"


def test_requests_truncate_policy_and_instruction_override(tok):
    t = load_task("support-summary")
    reqs = t.requests("test", n=3, shots=3, tokenizer=tok, chat=False, context_window=1500, fit="truncate",
                      instruction="Summarize each conversation.", separator="\n###\n")
    for r in reqs:
        assert r.prompt.startswith("Summarize each conversation.\n###\n")
        assert len(tok(r.prompt)["input_ids"]) <= 1500 - 96
        assert r.raw["dialogue"] in r.prompt  # the question is never cut
    assert any(" ...\n" in r.prompt for r in reqs)  # some demonstration was shortened instead of dropped


def test_loglikelihood_rolling_request_is_the_whole_document(tmp_path, tok):
    body = USER_TASK.replace("metrics: [rougeL]", "output_type: loglikelihood_rolling\nmetrics: [perplexity]")
    t = load_task(str(write_task(tmp_path, body)))
    r = t.requests("test", n=1, tokenizer=tok)[0]  # never chat-wrapped: it is a document
    assert r.prompt == "" and r.target == f"{r.raw['dialogue']}\nSummary:\n{r.raw['summary']}"
    assert r.choices is None


def test_dedupe_before_split_compares_template_fields(tmp_path):
    rows = [{"conversation": "A: same", "abstract": "same", "id": i} for i in range(5)]
    rows += [{"conversation": f"A: {i}", "abstract": f"s{i}", "id": 10 + i} for i in range(15)]
    (tmp_path / "dup.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    body = USER_TASK.replace("path: data.jsonl", "path: dup.jsonl\n  dedupe: true")
    path = tmp_path / "dup.yaml"
    path.write_text(body)
    t = load_task(str(path))
    assert sum(len(t.examples(s)) for s in t.split_names()) == 16  # 4 copies dropped despite distinct ids
    reviews = load_task("reviews")
    bodies = [r["review_body"] + str(r["star_rating"]) for s in reviews.split_names() for r in reviews.examples(s)]
    assert len(bodies) == len(set(bodies))


def test_builtin_rows_know_where_they_came_from():
    from genlab.prompts import JinjaTemplate

    t = load_task("chat-summary")
    row = t.examples("test")[0]
    assert row.where == f"chat-summary (built-in) example {row['id']}"
    t.templates = [JinjaTemplate("needs-topic", "{{topic}} ||| {{summary}}")]
    with pytest.raises(DataError, match=f"^chat-summary \\(built-in\\) example {row['id']}: missing field \"topic\""):
        t.requests("test", n=1)
