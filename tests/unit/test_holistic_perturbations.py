"""Perturbations: deterministic per seed, meaning-preserving, and never touching references."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from genlab.holistic.perturbations import PERTURBATIONS, first_names, get_perturbations, protected_words

TEXT = ("Hi, I am Adam and my brother is going to call because he does not know his order number. "
        "Thanks, I will wait until tomorrow; she said it is already late and I cannot believe it. "
        "Honestly I don't think they're coming.")


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_deterministic_per_seed_and_key(name):
    p = PERTURBATIONS[name]
    assert p.apply(TEXT, seed=3, key=7) == p.apply(TEXT, seed=3, key=7)
    assert p.apply(TEXT, seed=3, key=7) != TEXT, f"{name} changed nothing in a text full of its targets"


def test_random_perturbations_depend_on_seed():
    for name in ("typos", "whitespace"):
        outs = {PERTURBATIONS[name].apply(TEXT * 3, seed=s, key=0) for s in range(4)}
        assert len(outs) == 4, name


@pytest.mark.parametrize("text, name, expected", [
    ("I do not know, it is late.", "contraction", "I don't know, it's late."),
    ("I don't know, it's late. We can't go.", "expansion", "I do not know, it is late. We cannot go."),
    ("Do Not worry.", "contraction", "Don't worry."),
    ("He gave his book to him.", "gender", "She gave her book to her."),
    ("My Father and his son", "gender", "My Mother and her daughter"),
    ("I am going to call my brother about it.", "dialect", "I am gonna call my brotha bout it."),
    ("Hello THERE, Bob.", "lowercase", "hello there, bob."),
])
def test_meaning_preserving_examples(text, name, expected):
    assert PERTURBATIONS[name].apply(text, seed=0) == expected


def test_typos_keep_word_count_and_length():
    out = PERTURBATIONS["typos"].apply(TEXT, seed=1)
    assert len(out) == len(TEXT) and len(out.split()) == len(TEXT.split())
    changed = sum(a != b for a, b in zip(out, TEXT))
    letters = sum(c.isalpha() for c in TEXT)
    assert 0 < changed < 0.15 * letters  # p = 0.05 per letter


def test_whitespace_only_adds_spaces():
    out = PERTURBATIONS["whitespace"].apply(TEXT, seed=0)
    assert re.sub(" +", " ", out) == TEXT and len(out) > len(TEXT)


def test_misspellings_come_from_the_list():
    out = PERTURBATIONS["misspelling"].apply(TEXT * 4, seed=0)
    diff = {(a, b) for a, b in zip(TEXT.split() * 4, out.split()) if a != b}
    assert diff and all(b.strip(".,;").lower() != a.strip(".,;").lower() for a, b in diff)


def test_names_map_consistently_to_the_target_group():
    out = PERTURBATIONS["names"].apply("Adam met Carlos. Later Adam called Mei.", seed=0)
    words = out.replace(".", "").split()
    target = set(first_names()["black_american"])
    assert words[0] in target and words[2] in target and words[4] in target and words[6] in target
    assert words[0] == words[4] and words[0] != words[2]  # one name -> one name within an instance
    by_gender = __import__("genlab.holistic.perturbations", fromlist=["x"]).first_names_by_gender()["black_american"]
    assert words[0] in by_gender["male"] and words[6] in by_gender["female"]  # Adam -> male, Mei -> female


def test_protected_words_are_never_changed():
    protect = protected_words("Adam's brother did not call")
    for p in PERTURBATIONS.values():
        out = p.apply(TEXT, seed=0, protect=protect)
        for word in ("Adam", "brother"):
            assert word in out, p.name
    assert "he" not in protected_words("The answer is 42")


def test_unknown_perturbation_is_an_actionable_error():
    from genlab.errors import ConfigError

    with pytest.raises(ConfigError, match="known: lowercase"):
        get_perturbations(["lowercase", "shout"])


def test_variants_never_touch_references():
    """Every perturbation of a built-in scenario keeps targets and choices; most prompts change."""
    from genlab.holistic.variants import build_variants
    from genlab.holistic.scenarios import get_scenarios

    lm = SimpleNamespace(tokenizer=None, context_window=None)
    for scenario in get_scenarios("holistic", ["support-summary", "support-qa", "reviews"]):
        task = scenario.task()
        variants = build_variants(task, scenario, lm, n=8, seed=0, perturbations=get_perturbations())
        original = variants[0].requests
        assert [v.name for v in variants] == ["original"] + list(PERTURBATIONS)
        for v in variants[1:]:
            assert [r.target for r in v.requests] == [r.target for r in original], (scenario.name, v.name)
            assert [r.choices for r in v.requests] == [r.choices for r in original]
        by_name = {v.name: v for v in variants}
        for name, at_least in (("lowercase", 8), ("whitespace", 8), ("typos", 6)):
            changed = sum(a.prompt != b.prompt for a, b in zip(original, by_name[name].requests))
            assert changed >= at_least, (scenario.name, name)
        # the instruction around the input is not perturbed
        assert all("Summary:" in r.prompt or "Answer:" in r.prompt or "Rating:" in r.prompt
                   for r in by_name["lowercase"].requests)
