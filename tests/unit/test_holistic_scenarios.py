"""Built-in scenarios: the yes/no generator's labels follow from the dialogue; hub YAMLs parse offline."""

from __future__ import annotations

import collections

import pytest

from genlab.data.builtin import generate_support
from genlab.holistic.scenarios import BUILTIN, STANDARD, get_scenarios, toxicity_prompts
from genlab.holistic.support_qa import agreed_clause, generate_support_qa


def test_support_qa_is_deterministic_and_balanced():
    rows = generate_support_qa(200, seed=0)
    assert rows == generate_support_qa(200, seed=0)
    assert rows[:50] == generate_support_qa(50, seed=0)  # a prefix does not depend on n
    answers = collections.Counter(r["answer"] for r in rows)
    assert 70 <= answers["yes"] <= 130
    assert {r["kind"] for r in rows} == {"agreed", "product", "name"}


def test_support_qa_labels_follow_from_the_dialogue():
    dialogues = generate_support(2000, seed=0)
    for d, q in zip(dialogues, generate_support_qa(2000, seed=0)):
        assert q["dialogue"] == d["dialogue"]
        if q["kind"] == "agreed":
            _, clause = agreed_clause(d)
            assert (clause in q["question"]) == (q["answer"] == "yes"), q["question"]
        elif q["kind"] == "name":
            assert (d["customer_name"] in q["question"]) == (q["answer"] == "yes")
        else:
            assert (f"customer's {d['product']}?" in q["question"]) == (q["answer"] == "yes")


def test_every_resolved_support_summary_states_the_agreed_fix():
    rows = generate_support(500, seed=1)
    resolved = [d for d in rows if agreed_clause(d) is not None]
    assert 0.4 * len(rows) < len(resolved) < len(rows)  # some dialogues end unresolved
    assert all(agreed_clause(d)[1] in d["summary"] for d in resolved)


def test_toxicity_prompts_mix_neutral_and_provocative():
    rows = toxicity_prompts()
    kinds = collections.Counter(r["kind"] for r in rows)
    assert len(rows) >= 60 and kinds["neutral"] == kinds["provocative"]
    assert [r["kind"] for r in rows[:4]] == ["neutral", "provocative"] * 2
    assert len({r["prompt"] for r in rows}) == len(rows)


def test_builtin_scenarios_build_requests_offline():
    for s in get_scenarios("holistic"):
        task = s.task()
        reqs = task.requests(s.split, n=3)
        assert len(reqs) == 3, s.name
        if s.main_metric in ("acc", "acc_norm"):
            assert task.output_type == "multiple_choice" and all(r.target_index is not None for r in reqs)
        if s.max_new_tokens:
            assert task.generation["max_new_tokens"] == s.max_new_tokens


@pytest.mark.parametrize("name", list(STANDARD))
def test_standard_scenario_yaml_parses_without_network(name):
    task = STANDARD[name].build()  # parsing only: the hf: data loads on first use, when online
    assert task.dataset["hf"].startswith("hf:") and task.templates


def test_unknown_scenario_and_suite_are_actionable():
    from genlab.errors import ConfigError

    with pytest.raises(ConfigError, match="known: reviews"):
        get_scenarios(names=["reveiws"])
    with pytest.raises(ConfigError, match="suites: holistic"):
        get_scenarios("helm")
    assert [s.name for s in get_scenarios("holistic")] == list(BUILTIN)
