"""Splits, duplicates, contamination and mixtures."""

import random

import pytest

from genlab.data import (MixtureSource, contamination, dedupe, mix, mixture_rates, normalize, split_rows,
                         split_sizes)
from genlab.errors import ConfigError


def test_split_is_deterministic_disjoint_and_complete():
    rows = [{"id": i} for i in range(1003)]
    a = split_rows(rows, (0.8, 0.1, 0.1), seed=7)
    assert a == split_rows(rows, (0.8, 0.1, 0.1), seed=7)
    assert a != split_rows(rows, (0.8, 0.1, 0.1), seed=8)
    ids = {k: {r["id"] for r in v} for k, v in a.items()}
    assert [len(ids[k]) for k in ("train", "validation", "test")] == [803, 100, 100]
    assert not ids["train"] & ids["test"] and not ids["train"] & ids["validation"] and not ids["validation"] & ids["test"]
    assert ids["train"] | ids["validation"] | ids["test"] == set(range(1003))


def test_split_ratio_errors():
    with pytest.raises(ConfigError, match="sum to 1"):
        split_sizes(10, (0.8, 0.3))
    with pytest.raises(ConfigError, match="names"):
        split_rows([1, 2], (0.5, 0.5), names=("a", "b", "c"))


def test_dedupe_exact_and_normalized():
    rows = [{"t": "Hello, world!"}, {"t": "Hello, world!"}, {"t": "hello   WORLD"}, {"t": "Goodbye"}]
    kept, rep = dedupe(rows, ["t"])
    assert kept == [{"t": "Hello, world!"}, {"t": "Goodbye"}]
    assert (rep.exact, rep.normalized, rep.dropped) == (1, 1, [1, 2])
    kept, rep = dedupe(rows, ["t"], normalized=False)
    assert len(kept) == 3 and rep.total == 1
    assert normalize("  Café,\tOK! ") == "café ok"


def _words(rng, n):
    return " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa",
                                "lambda", "mu", "nu", "xi", "pi", "rho"]) for _ in range(n))


def test_contamination_exact_and_13gram_overlap():
    rng = random.Random(0)
    train = [{"text": _words(rng, 60)} for _ in range(50)]
    clean = [{"text": _words(rng, 60)} for _ in range(20)]
    exact = {"text": train[3]["text"].upper() + "!"}  # same text after normalisation
    near = {"text": train[5]["text"] + " " + _words(rng, 5)}  # train text plus a few words
    partial = {"text": " ".join(train[7]["text"].split()[:20]) + " " + _words(rng, 40)}
    rep = contamination(train, clean + [exact, near, partial], ["text"], threshold=0.5)
    flagged = {h.index: h for h in rep.hits}
    assert flagged[20].reason == "exact" and flagged[21].reason == "13-gram" and flagged[21].overlap > 0.8
    assert 22 not in flagged and not set(flagged) & set(range(20))
    assert rep.exact == 1 and len(rep.hits) == 2 and rep.rate == pytest.approx(2 / 23)
    assert len(rep.overlaps) == 23


def _source(name, n, weight=None):
    rows = [{"i": i, "text": f"{name} {i}"} for i in range(n)]
    templates = ["Q: {text}", "Please: {text}"]
    render = lambda row, rng: (rng.choice(templates).format(**row), str(row["i"]), name)  # noqa: E731
    return MixtureSource(name, rows, render, weight)


def test_mixture_explicit_weights_rates_within_tolerance():
    out = mix([_source("a", 100, 0.5), _source("b", 50, 0.3), _source("c", 10, 0.2)], 20000, seed=3)
    share = {k: sum(o["task"] == k for o in out) / len(out) for k in "abc"}
    for k, w in zip("abc", (0.5, 0.3, 0.2)):
        assert abs(share[k] - w) < 0.015
    assert len({o["prompt"].split(":")[0] for o in out}) == 2  # templates sampled per example


def test_mixture_proportional_with_cap_and_reproducible():
    sources = [_source("big", 10000), _source("mid", 500), _source("small", 100)]
    rates = mixture_rates(sources, cap=1000)
    assert rates == pytest.approx({"big": 1000 / 1600, "mid": 500 / 1600, "small": 100 / 1600})
    out = mix(sources, 8000, cap=1000, seed=1)
    assert abs(sum(o["task"] == "small" for o in out) / 8000 - 100 / 1600) < 0.01
    assert out == mix(sources, 8000, cap=1000, seed=1)
    assert out != mix(sources, 8000, cap=1000, seed=2)
    small = [o["raw"]["i"] for o in out if o["task"] == "small"][:100]
    assert sorted(small) == list(range(100))  # every row once before any repeats


def test_mixture_weight_errors():
    with pytest.raises(ConfigError, match="every task"):
        mixture_rates([_source("a", 3, 1.0), _source("b", 3)])
    with pytest.raises(ConfigError, match="no examples"):
        mix([_source("a", 0)], 5)
