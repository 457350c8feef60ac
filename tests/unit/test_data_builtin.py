"""Built-in generators: deterministic by seed, varied, well-formed."""

import json
import re
from collections import Counter

import pytest

from genlab.data.builtin import GENERATORS, generate
from genlab.data.builtin._support_scenarios import SCENARIOS
from genlab.errors import ConfigError

TARGET = {"support": "summary", "chat": "summary", "reviews": "review_body"}


@pytest.fixture(scope="module")
def thousand():
    return {name: generate(name, 1000, seed=0) for name in GENERATORS}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_deterministic_and_prefix_stable(name, thousand):
    assert generate(name, 50, seed=0) == thousand[name][:50]
    assert generate(name, 50, seed=1) != thousand[name][:50]


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_variety_at_least_95_percent_distinct(name, thousand):
    texts = [r[TARGET[name]] for r in thousand[name]]
    assert len(set(texts)) >= 950


def test_support_dialogues_cover_scenarios_and_lengths(thousand):
    rows = thousand["support"]
    assert len(SCENARIOS) >= 12
    assert len(Counter(r["scenario"] for r in rows)) == len(SCENARIOS)
    turns = [len(r["dialogue"].split("\n")) for r in rows]
    assert min(turns) >= 4 and max(turns) <= 20 and len(set(turns)) >= 8
    for r in rows:
        lines = r["dialogue"].split("\n")
        assert all(re.match(r"^[A-Z][a-z]+: \S", line) for line in lines)
        assert r["customer_name"] in r["dialogue"]


def test_support_summaries_are_one_to_three_sentences_naming_the_customer(thousand):
    for r in thousand["support"]:
        sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", r["summary"]) if s]
        assert 1 <= len(sentences) <= 3, r["summary"]
        assert r["customer_name"] in r["summary"]
    openers = Counter(" ".join(r["summary"].split()[2:4]) for r in thousand["support"])
    assert len(openers) >= 5  # phrased with variation


def test_support_extraction_is_json_with_values_from_the_dialogue(thousand):
    for r in thousand["support"]:
        obj = json.loads(r["extraction"])
        assert set(obj) == {"customer_name", "order_number", "product", "requested_action"}
        assert obj["product"] in r["dialogue"]
        assert obj["order_number"] is None or obj["order_number"] in r["dialogue"]
    assert any(json.loads(r["extraction"])["order_number"] is None for r in thousand["support"])


def test_chat_dialogues_are_between_two_named_friends(thousand):
    for r in thousand["chat"][:200]:
        speakers = {line.split(":")[0] for line in r["dialogue"].split("\n")}
        assert len(speakers) == 2 and all(s in r["summary"] or s in r["dialogue"] for s in speakers)
    assert len(Counter(r["scenario"] for r in thousand["chat"])) >= 12


def test_reviews_have_all_ratings_and_consistent_fields(thousand):
    rows = thousand["reviews"]
    assert Counter(r["star_rating"] for r in rows).keys() == {1, 2, 3, 4, 5}
    for r in rows:
        assert r["product_title"] and r["review_headline"] and r["review_body"].endswith((".", "!"))
    negative = [r for r in rows if r["star_rating"] == 1]
    assert all("excellent" not in r["review_body"].lower() for r in negative)


def test_unknown_generator():
    with pytest.raises(ConfigError, match="unknown built-in generator"):
        generate("tweets", 3)
