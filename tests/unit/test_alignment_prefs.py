"""Preference data: rankings become all pairs, bad rows name file:line, built-in tasks are deterministic."""

from __future__ import annotations

import json

import pytest

from genlab.alignment.preferences import load_preferences, ranking_to_pairs
from genlab.errors import DataError


def test_ranking_gives_all_pairs_preferred_first():
    pairs = ranking_to_pairs("p", ["a", "b", "c"], [2, 0, 1])
    assert [(p.chosen, p.rejected) for p in pairs] == [("c", "a"), ("c", "b"), ("a", "b")]
    four = ranking_to_pairs("p", ["w", "x", "y", "z"], [3, 1, 0, 2])
    assert len(four) == 4 * 3 // 2
    order = ["z", "x", "w", "y"]  # best first
    assert all(order.index(p.chosen) < order.index(p.rejected) for p in four)


@pytest.mark.parametrize("ranking", [[0, 0, 1], [0, 1], [1, 2, 3], [0, 1, "2"], [True, 0, 2]])
def test_ranking_that_is_not_a_permutation_is_refused(ranking):
    with pytest.raises(DataError, match="not a permutation|entries"):
        load_preferences_from_rows([{"prompt": "p", "completions": ["a", "b", "c"], "ranking": ranking}])


def load_preferences_from_rows(rows, tmp=None, **kw):
    import tempfile
    from pathlib import Path

    d = Path(tmp or tempfile.mkdtemp())
    path = d / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_preferences(path, **kw), path


@pytest.mark.parametrize("row, problem", [
    ({"prompt": "p", "chosen": "same", "rejected": "same "}, "identical"),
    ({"prompt": "p", "chosen": "", "rejected": "x"}, 'empty completion "chosen"'),
    ({"prompt": "p", "chosen": "x", "rejected": "  "}, 'empty completion "rejected"'),
    ({"prompt": "p", "completions": ["a", ""], "ranking": [0, 1]}, "empty completion"),
    ({"prompt": "p", "chosen": "x"}, 'missing field "rejected"'),
])
def test_bad_rows_name_file_and_line(tmp_path, row, problem):
    good = {"prompt": "p", "chosen": "a", "rejected": "b"}
    with pytest.raises(DataError) as e:
        load_preferences_from_rows([good, row], tmp_path)
    assert problem in str(e.value) and "prefs.jsonl:2" in str(e.value)


def test_skip_bad_rows_keeps_the_good_ones_and_writes_a_report(tmp_path):
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b"}, {"prompt": "p", "chosen": "a", "rejected": "a"},
            {"prompt": "q", "completions": ["x", "y", "z"], "ranking": [1, 2, 0]}]
    (data, path) = load_preferences_from_rows(rows, tmp_path, skip_bad_rows=True)
    assert len(data.pairs) == 1 + 3
    assert len(data.bad) == 1 and data.bad[0].where.endswith("prefs.jsonl:2")
    assert "identical" in data.report.read_text()


def test_csv_rankings_are_json_lists(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('prompt,completions,ranking\n"hi","[""a"", ""b""]","[1, 0]"\n')
    pairs = load_preferences(path).pairs
    assert [(p.chosen, p.rejected) for p in pairs] == [("b", "a")]


def test_chat_tokenizer_wraps_file_prompts(tmp_path, tiny_causal):
    (data, _) = load_preferences_from_rows([{"prompt": "hi", "chosen": "a", "rejected": "b"}], tmp_path,
                                           tokenizer=tiny_causal.tokenizer)
    pair = data.pairs[0]
    assert pair.prompt.startswith("<|im_start|>user\nhi") and pair.meta["prompt_text"] == "hi"


def test_trl_conversational_and_implicit_prompt_rows(tmp_path, tiny_causal):
    from genlab.prompts.chat import chat_prompt

    user = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Rate my cake"}]
    rows = [
        {"prompt": user, "chosen": [{"role": "assistant", "content": "Lovely!"}],
         "rejected": [{"role": "assistant", "content": "Awful."}]},
        {"chosen": user + [{"role": "assistant", "content": "Lovely!"}],
         "rejected": user + [{"role": "assistant", "content": "Awful."}]},
        {"prompt": "Rate my cake", "chosen": user + [{"role": "assistant", "content": "Lovely!"}],  # UltraFeedback
         "rejected": user + [{"role": "assistant", "content": "Awful."}], "score_chosen": 8.0},
    ]
    (data, _) = load_preferences_from_rows(rows, tmp_path, tokenizer=tiny_causal.tokenizer)
    want = chat_prompt(tiny_causal.tokenizer, user)
    assert [(p.prompt, p.chosen, p.rejected) for p in data.pairs] == [(want, "Lovely!", "Awful.")] * 3
    assert data.pairs[0].meta["prompt_text"] == "System: Be kind.\n\nUser: Rate my cake\n\nAssistant:"
    (raw, _) = load_preferences_from_rows(rows[:1], tmp_path, tokenizer=tiny_causal.tokenizer, chat=False)
    assert raw.pairs[0].prompt == "System: Be kind.\n\nUser: Rate my cake\n\nAssistant:"


def test_hh_rlhf_text_rows_split_at_the_last_assistant_turn(tmp_path):
    head = "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Tell me a joke\n\nAssistant:"
    (data, _) = load_preferences_from_rows([{"chosen": head + " A pun.", "rejected": head + " No."}], tmp_path)
    assert [(p.prompt, p.chosen, p.rejected) for p in data.pairs] == [(head, "A pun.", "No.")]


@pytest.mark.parametrize("row, problem", [
    ({"chosen": "Human: a", "rejected": "Human: b"}, "share a beginning"),
    ({"chosen": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "x"}],
      "rejected": [{"role": "user", "content": "b"}, {"role": "assistant", "content": "y"}]}, "differ before"),
    ({"prompt": [{"role": "user", "content": "a"}], "chosen": [{"role": "user", "content": "x"}],
      "rejected": [{"role": "assistant", "content": "y"}]}, "assistant's reply only"),
    ({"prompt": [{"role": "user"}], "chosen": [{"role": "assistant", "content": "x"}],
      "rejected": [{"role": "assistant", "content": "y"}]}, 'string "content"'),
])
def test_malformed_trl_rows_name_file_and_line(tmp_path, row, problem):
    with pytest.raises(DataError) as e:
        load_preferences_from_rows([{"prompt": "p", "chosen": "a", "rejected": "b"}, row], tmp_path)
    assert problem in str(e.value) and "prefs.jsonl:2" in str(e.value)


def test_support_summary_prefs_is_deterministic_and_flawed_by_kind():
    from genlab.data.builtin import generate
    from genlab.evaluation.metrics.facts import judge

    a, b = generate("support-prefs", 60, 0), generate("support-prefs", 60, 0)
    assert a == b
    kinds = {r["flaw"] for r in a}
    assert {"wrong_name", "rude", "padded"} <= kinds
    for r in a:
        assert r["chosen"] != r["rejected"]
        _, wrong_chosen = judge(r["chosen"], r["facts"])
        _, wrong_rejected = judge(r["rejected"], r["facts"])
        assert not wrong_chosen  # the reference summary states only the dialogue's facts
        if r["flaw"] in ("wrong_ref", "wrong_amount", "wrong_date", "wrong_name"):
            assert wrong_rejected, (r["flaw"], r["rejected"], r["facts"])


def test_prefs_task_renders_prompts_like_support_summary():
    from genlab.tasks import load_task

    pairs = load_preferences("support-summary-prefs", split="test", n=5).pairs
    reqs = load_task("support-summary").requests("test", n=5)
    assert [p.prompt for p in pairs] == [r.prompt for r in reqs]
    assert [p.chosen for p in pairs] == [str(r.target) for r in reqs]


def test_detox_prompts_rejected_replies_are_toxic_and_chosen_are_not():
    from genlab.holistic.toxicity import default_scorer

    pairs = load_preferences("detox-prompts", split="train", n=40).pairs
    scorer = default_scorer()
    assert max(scorer.score([p.chosen for p in pairs])) < 0.5
    assert min(scorer.score([p.rejected for p in pairs])) >= 0.5


def test_a_preference_files_splits_are_disjoint_and_fixed_whatever_the_seed(tmp_path):
    rows = [{"prompt": f"q{i}", "chosen": "good", "rejected": "bad"} for i in range(40)]
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = {split: [p.prompt for p in load_preferences(path, split=split, seed=seed).pairs]
           for split, seed in (("train", 0), ("validation", 3), ("test", 7))}
    assert [len(v) for v in got.values()] == [32, 4, 4]
    assert sorted(sum(got.values(), [])) == sorted(r["prompt"] for r in rows)  # disjoint, and every row used
    assert [p.prompt for p in load_preferences(path, split="test", seed=1).pairs] == got["test"]
    assert [p.prompt for p in load_preferences(path, split="train", n=5).pairs] == got["train"][:5]
    with pytest.raises(DataError, match="no split 'dev'") as e:
        load_preferences(path, split="dev")
    assert "hf:FOLDER" in e.value.hint


def test_a_hub_datasets_own_splits_its_test_split_for_validation_and_one_split_cut(tmp_path):
    from genlab.alignment.preferences import hub_split

    train, test = [{"prompt": f"t{i}"} for i in range(10)], [{"prompt": f"e{i}"} for i in range(3)]
    assert hub_split("hf:x", {"train": train, "test": test}, "train") == (train, "train")
    assert hub_split("hf:x", {"train": train, "test": test}, "validation") == (test, "test")
    rows, name = hub_split("hf:x", {"train": train}, "validation")  # one split: cut as a file is
    assert name == "train" and len(rows) == 1 and rows[0] not in hub_split("hf:x", {"train": train}, "train")[0]
    with pytest.raises(DataError, match="no split 'train'") as e:  # UltraFeedback-binarized's names
        hub_split("hf:HuggingFaceH4/ultrafeedback_binarized", {"train_prefs": train, "test_prefs": test}, "train")
    assert "train_prefs, test_prefs" in e.value.hint
