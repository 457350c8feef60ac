"""Few-shot prompts: shot selection from train only, context fitting, chat wrapping."""

import pytest

from genlab.errors import ConfigError, GenlabError
from genlab.prompts import FewShotConfig, FlanTemplate, build_prompt, select_shots, wrap_chat
from genlab.testing import tiny_tokenizer

T = FlanTemplate("qa", [("Question: {q}", "{a}")])
render = lambda row: T.render(row)  # noqa: E731


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def ntok(tok, text):
    return len(tok(text, add_special_tokens=False)["input_ids"])


def test_select_shots_is_seeded_and_excludes_the_row_itself():
    pool = [{"q": str(i), "a": str(i)} for i in range(20)]
    a = select_shots(pool, 3, seed=1, doc_id=5)
    assert a == select_shots(pool, 3, seed=1, doc_id=5)
    assert a != select_shots(pool, 3, seed=2, doc_id=5)
    for doc in range(20):
        assert pool[doc] not in select_shots(pool, 19, seed=0, doc_id=doc, exclude=doc)
    with pytest.raises(ConfigError, match="only 19"):
        select_shots(pool, 20, seed=0, doc_id=0, exclude=0)


def test_zero_one_few_shot_layout():
    cfg = FewShotConfig(instruction="Answer the questions.", separator="\n\n", target_prefix="\nAnswer:")
    shots = [{"q": "1+1?", "a": "2"}, {"q": "2+2?", "a": "4"}]
    zero = build_prompt({"q": "3+3?", "a": "6"}, render, [], config=cfg)
    few = build_prompt({"q": "3+3?", "a": "6"}, render, shots, config=cfg)
    assert zero.prompt == "Answer the questions.\n\nQuestion: 3+3?\nAnswer:"
    assert few.prompt == ("Answer the questions.\n\nQuestion: 1+1?\nAnswer: 2\n\nQuestion: 2+2?\nAnswer: 4"
                          "\n\nQuestion: 3+3?\nAnswer:")
    assert (few.target, few.shots_used, few.shots_requested) == ("6", 2, 2)


def test_fit_drop_keeps_as_many_shots_as_fit(tok):
    shots = [{"q": "word " * 30, "a": "x"} for _ in range(4)]
    row = {"q": "short question", "a": "y"}
    full = build_prompt(row, render, shots, tokenizer=tok)
    budget = full.n_tokens - 10  # a bit too small for all four
    fitted = build_prompt(row, render, shots, tokenizer=tok, max_tokens=budget)
    assert fitted.shots_used == 3 and fitted.shots_requested == 4
    assert fitted.n_tokens <= budget
    assert fitted.prompt.endswith("Question: short question\n") and fitted.target == "y"


def test_fit_truncate_shortens_longest_shot_field_never_the_question(tok):
    shots = [{"q": "short", "a": "1"}, {"q": "lorem ipsum " * 60, "a": "2"}]
    row = {"q": "the question stays whole " * 3, "a": "target"}
    budget = build_prompt(row, render, shots, tokenizer=tok).n_tokens - 40
    fitted = build_prompt(row, render, shots, tokenizer=tok, max_tokens=budget,
                          config=FewShotConfig(fit="truncate"), fields={"q", "a"})
    assert fitted.shots_used == 2 and fitted.n_tokens <= budget
    assert fitted.truncated and fitted.truncated[0].startswith("shot 2: q")
    assert " ...\n2" in fitted.prompt  # the shot's field was cut, its answer kept
    assert row["q"].strip() in fitted.prompt and fitted.target == "target"


def test_question_alone_too_long_is_an_error(tok):
    row = {"q": "very long question " * 50, "a": "y"}
    with pytest.raises(GenlabError, match="question alone is"):
        build_prompt(row, render, [], tokenizer=tok, max_tokens=20, where="test.jsonl:4")


def test_chat_wrapping_uses_the_tokenizers_template(tok):
    wrapped = wrap_chat(tok, "Summarize this.")
    assert wrapped == "<|im_start|>user\nSummarize this.<|im_end|>\n<|im_start|>assistant\n"
    built = build_prompt({"q": "hi", "a": "x"}, render, [], tokenizer=tok, chat=True)
    assert built.prompt == "<|im_start|>user\nQuestion: hi<|im_end|>\n<|im_start|>assistant\n"


def test_chat_without_template_is_a_clear_error(tok):
    import copy

    plain = copy.deepcopy(tok)
    plain.chat_template = None
    with pytest.raises(ConfigError, match="no chat template"):
        wrap_chat(plain, "x")


def test_unknown_fit_policy():
    with pytest.raises(ConfigError, match="fit must be one of"):
        FewShotConfig(fit="squeeze")


def test_multiturn_chat_shots_are_user_and_assistant_turns(tok):
    cfg = FewShotConfig(instruction="Answer.", multiturn=True)
    shots = [{"q": "1+1?", "a": "2"}, {"q": "2+2?", "a": "4"}]
    built = build_prompt({"q": "3+3?", "a": "6"}, render, shots, config=cfg, tokenizer=tok, chat=True)
    assert built.prompt == ("<|im_start|>user\nAnswer.\n\nQuestion: 1+1?<|im_end|>\n<|im_start|>assistant\n2<|im_end|>\n"
                            "<|im_start|>user\nQuestion: 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n"
                            "<|im_start|>user\nQuestion: 3+3?<|im_end|>\n<|im_start|>assistant\n")
    long_shots = [{"q": "word " * 40, "a": "x"} for _ in range(3)]
    budget = build_prompt({"q": "hi", "a": "y"}, render, long_shots, config=cfg, tokenizer=tok, chat=True).n_tokens - 5
    fitted = build_prompt({"q": "hi", "a": "y"}, render, long_shots, config=cfg, tokenizer=tok, chat=True,
                          max_tokens=budget)
    assert fitted.shots_used == 2 and fitted.shots_requested == 3 and fitted.n_tokens <= budget
