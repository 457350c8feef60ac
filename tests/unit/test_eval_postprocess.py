"""Answer post-processing steps and the generation-cache key."""

from __future__ import annotations

import pytest

from genlab.errors import ConfigError
from genlab.evaluation import postprocess
from genlab.evaluation.cache import GenerationCache, cache_key


@pytest.mark.parametrize("steps,text,expected", [
    (["strip"], "  four \n", "four"),
    (["first_line"], "\n four\nfive\n", "four"),
    (["strip", "lower"], " FOUR ", "four"),
    (["first_sentence"], "It is four. Or five.", "It is four."),
    ([{"regex": r"Rating: (\d)"}], "I think... Rating: 4 stars", "4"),
    ([{"regex": r"\{[^{}]*\}"}], 'Sure: {"a": 1} done', '{"a": 1}'),
    ([{"regex": r"(\d+)"}], "no digits", "no digits"),  # no match keeps the text (lm-eval fallback)
    ([{"stop": ["\n\n", "###"]}, "strip"], "answer ### junk", "answer"),
    ([], " as is ", " as is "),
])
def test_steps(steps, text, expected):
    assert postprocess.build(steps)(text) == expected


@pytest.mark.parametrize("steps,message", [
    (["trim"], r"postprocess\[0\]: unknown post-processing step 'trim'"),
    ([{"regex": "("}], r"postprocess\[0\]: bad regex"),
    (["strip", {"regexp": "x"}], r"postprocess\[1\]: unknown post-processing step"),
])
def test_bad_steps_name_their_position(steps, message):
    with pytest.raises(ConfigError, match=message):
        postprocess.build(steps)


def test_cache_key_changes_with_every_input():
    base = dict(identity="m|a", prompt="p", config={"max_new_tokens": 4}, chat=False, precision="bf16")
    key = lambda **kw: cache_key({**base, **kw}["identity"], {**base, **kw}["prompt"], {**base, **kw}["config"],
                                 chat={**base, **kw}["chat"], precision={**base, **kw}["precision"])
    keys = {key(), key(identity="m|b"), key(prompt="q"), key(config={"max_new_tokens": 5}), key(chat=True),
            key(precision="fp32")}
    assert len(keys) == 6 and key() == key()


def test_generation_cache_roundtrip(tmp_path):
    cache = GenerationCache(tmp_path / "g.sqlite")
    assert cache.get_many(["a"]) == {} and len(cache) == 0
    cache.put_many({"a": {"texts": ["x"]}, "b": {"texts": ["ü"]}})
    again = GenerationCache(tmp_path / "g.sqlite")  # persists across instances
    assert again.get_many(["a", "b", "c"]) == {"a": {"texts": ["x"]}, "b": {"texts": ["ü"]}}
    assert len(again.get_many([str(i) for i in range(1200)] + ["a"])) == 1  # > SQLite's parameter limit
