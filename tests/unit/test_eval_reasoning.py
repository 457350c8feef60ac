"""CoT / PAL / self-consistency: answer extraction and voting on hand cases, prompts, and the
eval options end to end on a tiny random model (mechanics, not quality)."""

from __future__ import annotations

import pytest

from genlab.errors import ConfigError
from genlab.evaluation import EvalConfig, evaluate
from genlab.evaluation.reasoning import (COT_TRIGGER, PAL_TRIGGER, extract_answer, extract_program, majority_vote,
                                         program_answer, reasoning_task, vote_key)
from genlab.tasks import load_task, task_from_dict

ROWS = [dict(question=f"{a} + {b}?", answer=str(a + b), rationale=f"{a} + {b} = {a + b}. The answer is {a + b}.",
             program=f"print({a} + {b})") for a in range(1, 7) for b in range(1, 4)]


def short_task(tmp_path):
    """word-math's shape with short rows, so prompts fit the tiny model's 256-token window."""
    import json

    path = tmp_path / "sums.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return task_from_dict({"name": "sums", "dataset": {"path": str(path), "splits": {"train": 0.8, "test": 0.2}},
                           "metrics": ["answer_accuracy"], "generation": {"max_new_tokens": 4}, "chat": False,
                           "templates": [{"name": "qa", "patterns": [["Q: {question}\nA:", "{answer}"]]}]})


@pytest.mark.parametrize("text, expected", [
    ("3 x $4 = $12. The answer is 12.", "12"),
    ("First 2 + 2 = 4. The answer is $21.50.\nQuestion: next", "$21.50"),
    ("The answer is 3. Wait, no. The answer is 5.", "5"),
    ("the answer is: yes", "yes"),
    ("Step one.\nSo we get 42", "So we get 42"),  # no marker: the last line
    ("The answer is 7.\n\nQuestion: Another one? The answer is 9.", "7"),  # stops at the blank line
    ("", None),
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize("answers, winner, votes", [
    (["12", "12.0", "$12", "13"], "12", {"12": 3, "13": 1}),  # numbers vote by value
    (["5", "6", "6", "5"], "5", {"5": 2, "6": 2}),  # tie: the answer seen first
    ([None, "4", None], "4", {"4": 1}),  # failed samples abstain
    ([None, None], None, {}),
    (["Yes", "yes ", "no"], "Yes", {"yes": 2, "no": 1}),
])
def test_majority_vote(answers, winner, votes):
    assert majority_vote(answers) == (winner, votes)


def test_vote_key_normalizes_numbers_and_text():
    assert vote_key("$1,200.50") == vote_key("1200.5") and vote_key("  Hello  World") == "hello world"


def test_extract_program_fenced_and_plain():
    assert extract_program("```python\nx = 2\nprint(x)\n```\nmore text") == "x = 2\nprint(x)"
    assert extract_program("\nx = 2\nprint(x)\n\nQuestion: next") == "x = 2\nprint(x)"


def test_program_answer_runs_in_the_sandbox():
    answer, detail = program_answer("price = 4.5\nprint(round(3 * price, 2))")
    assert answer == "13.5" and detail["ok"]
    answer, detail = program_answer("import os\nprint(os.getcwd())")
    assert answer is None and detail["error"].startswith("blocked:")
    answer, detail = program_answer("while True:\n    pass")
    assert answer is None and detail["killed_by"] in ("cpu", "timeout")


def test_cot_and_pal_templates_show_worked_demonstrations():
    task = load_task("word-math")
    row = task.examples("train")[0]
    cot = reasoning_task(task, EvalConfig(cot=True)).variants()[0]
    prompt, target = cot.render(row)
    assert prompt.endswith(COT_TRIGGER) and target == row["rationale"]
    pal = reasoning_task(task, EvalConfig(pal=True))
    prompt, target = pal.variants()[0].render(row)
    assert prompt.endswith(PAL_TRIGGER) and target == row["program"]
    assert pal.generation["max_new_tokens"] >= 160 and "\n\n" in pal.generation["stop"]
    # a row without a rationale still gets the answer format
    bare = {k: v for k, v in row.items() if k != "rationale"}
    assert cot.render(bare)[1] == f"The answer is {row['answer']}."


def test_reasoning_needs_a_generate_task():
    task = load_task("reviews")  # multiple_choice
    with pytest.raises(ConfigError, match="generate task"):
        reasoning_task(task, EvalConfig(cot=True))


def test_eval_config_fields_and_errors():
    cfg = EvalConfig.from_dict({"cot": True, "self_consistency": 5}, where="recipe.yaml: eval")
    assert cfg.cot and cfg.self_consistency == 5 and not cfg.pal
    with pytest.raises(ConfigError, match="recipe.yaml: eval.pal"):
        EvalConfig.from_dict({"cot": True, "pal": True}, where="recipe.yaml: eval")
    with pytest.raises(ConfigError, match="self_consistency"):
        EvalConfig(self_consistency=0)
    with pytest.raises(ConfigError, match="cot"):
        EvalConfig(cot="yes")


@pytest.mark.parametrize("options", [dict(cot=True, self_consistency=3), dict(pal=True), dict(self_consistency=2)])
def test_eval_options_on_a_tiny_model(tiny_causal, tmp_path, monkeypatch, options):
    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    cfg = EvalConfig(n=3, shots=1, precision="fp32", n_resamples=50, generation={"max_new_tokens": 8}, **options)
    task = short_task(tmp_path)
    result = evaluate(tiny_causal, task, cfg, out_dir=tmp_path / "run")
    k = options.get("self_consistency", 1)
    gold = [r["answer"] for r in task.examples("test")[:3]]
    assert [s["reference"] for s in result.samples] == gold  # scored against the answer, not the rationale
    for s in result.samples:
        assert len(s["generations"]) == k
        assert s["prediction"] in [g["answer"] or "" for g in s["generations"]] + [""]
        assert sum(s["votes"].values()) == sum(g["answer"] is not None for g in s["generations"])
    if options.get("cot"):
        assert all(COT_TRIGGER in s["prompt"] and "The answer is" in s["prompt"] for s in result.samples)
    if options.get("pal"):
        assert all(PAL_TRIGGER in s["prompt"] and "print(" in s["prompt"] for s in result.samples)
        assert all("program" in g for s in result.samples for g in s["generations"])
    assert result.config["self_consistency"] == k and result.config["cot"] == bool(options.get("cot"))
    assert result.config["generation"]["num_return_sequences"] == k
    assert 0.0 <= result.metrics["answer_accuracy"]["value"] <= 1.0
    assert all(s["shots_used"] == 1 for s in result.samples)
    assert (tmp_path / "run" / "samples.jsonl").is_file()


def test_ask_library_on_a_tiny_model(tiny_causal, tmp_path):
    from genlab.apps.reason import ask

    task = short_task(tmp_path)
    out = ask(tiny_causal, "4 + 4?", "sc", samples=3, shots=1, task=task, precision="fp32",
              generation={"max_new_tokens": 6})
    assert out.method == "sc" and len(out.generations) == 3
    assert COT_TRIGGER in out.prompt and out.prompt.rstrip().endswith(COT_TRIGGER)
    assert "Q: 4 + 4?" in out.prompt and out.prompt.count("The answer is") == 1  # one worked demonstration
    assert out.answer in [g["answer"] for g in out.generations] + [None]
    with pytest.raises(ConfigError, match="unknown reasoning method"):
        ask(tiny_causal, "1 + 1?", "tot", task=task)
    with pytest.raises(ConfigError, match="empty"):
        ask(tiny_causal, "  ", "cot", task=task)


def test_reason_ask_cli(tiny_causal_dir, tmp_path):
    from cli_helpers import run_genlab

    home = str(tmp_path / "home")
    done = run_genlab("reason", "ask", "Ana buys 2 mugs at $3 each. Total?", "--method", "pal", "-m",
                      str(tiny_causal_dir), "-k", "1", "--precision", "fp32", GENLAB_HOME=home)
    assert done.returncode == 0, done.stderr
    assert "sandbox:" in done.stdout and "answer:" in done.stdout
    bad = run_genlab("reason", "ask", "x", "--method", "tot", "-m", str(tiny_causal_dir), GENLAB_HOME=home)
    assert bad.returncode == 2 and "unknown reasoning method" in bad.stderr


def test_eval_cli_cot_and_pal_together_is_a_usage_error(tiny_causal_dir, tmp_path):
    from cli_helpers import run_genlab

    done = run_genlab("eval", "-t", "word-math", "-m", str(tiny_causal_dir), "--cot", "--pal", "-n", "1",
                      GENLAB_HOME=str(tmp_path / "home"))
    assert done.returncode == 2 and "cannot be combined with cot" in done.stderr
