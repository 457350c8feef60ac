"""Exact match, token F1, field F1, accuracy, perplexity, the registry and the bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nltk.metrics.scores import f_measure

from genlab.errors import ConfigError
from genlab.evaluation.metrics import bootstrap_ci, get_metric, list_metrics, paired_bootstrap
from genlab.evaluation.metrics.accuracy import ChoiceScores
from genlab.evaluation.metrics.exact_match import normalize_text
from genlab.evaluation.metrics.perplexity import RollingScore

try:
    from test_metrics_parity import PAIRS  # rootdir-less layout: pytest puts this folder on sys.path
except ImportError:  # tests/unit became a package
    from .test_metrics_parity import PAIRS


def helm_f1(gold: str, pred: str) -> float:
    ret = f_measure(set(normalize_text(gold).split()), set(normalize_text(pred).split()))
    return 0.0 if ret is None else ret


@pytest.mark.parametrize("pred,gold,em,qem", [
    ("Paris", "Paris", 1, 1), (" Paris\n", "Paris", 1, 1), ("paris.", "Paris", 0, 1),
    ("The Paris", "paris", 0, 1), ("", "", 0, 0), ("Paris, France", "Paris", 0, 0),
])
def test_exact_match_helm_definitions(pred, gold, em, qem):
    assert get_metric("exact_match").sentence_score(pred, gold) == em
    assert get_metric("quasi_exact_match").sentence_score(pred, gold) == qem


def test_token_f1_equals_helm_on_random_pairs():
    metric = get_metric("f1")
    for pred, refs in PAIRS:
        assert metric.sentence_score(pred, refs) == max(helm_f1(r, pred) for r in refs)


def test_token_f1_is_set_based():
    # duplicates do not count twice: {"cat"} vs {"cat", "sat"} -> P=1, R=1/2
    assert get_metric("f1").sentence_score("cat cat cat", "the cat sat") == pytest.approx(2 / 3)


@pytest.mark.parametrize("pred,gold,expected", [
    ('{"name": "Ann", "age": 5}', {"name": "ann", "age": 5.0}, 1.0),
    ('Sure! ```json\n{"name": "Ann", "age": 6}\n```', '{"name": "Ann", "age": 5}', 0.5),
    ('{"name": "Ann"}', '{"name": "Ann", "age": 5}', 2 / 3),
    ("not json at all", '{"name": "Ann"}', 0.0),
    ('{"a": {"b": [1, 2]}}', '{"a": {"b": [1, 3]}}', 0.5),
    ("{}", "{}", 1.0),
])
def test_field_f1(pred, gold, expected):
    assert get_metric("field_f1").sentence_score(pred, gold) == pytest.approx(expected)


def test_acc_and_acc_norm_follow_lm_eval():
    # raw: "bb" wins (-1.5); per character: -2/1, -1.5/2, -6.5/13 -> "longer answer" wins
    scores = ChoiceScores(logprobs=[-2.0, -1.5, -6.5], choices=["a", "bb", "longer answer"])
    assert get_metric("acc").sentence_score(scores, 1) == 1.0
    assert get_metric("acc_norm").sentence_score(scores, 2) == 1.0
    assert get_metric("acc_norm").sentence_score(scores, 1) == 0.0
    assert sum(scores.probs) == pytest.approx(1.0)
    with pytest.raises(TypeError, match="multiple_choice"):
        get_metric("acc").sentence_score("text", 0)


def test_perplexity_and_bits_per_byte_pool_the_corpus():
    docs = [RollingScore(loglik=-10.0, num_tokens=5, num_bytes=20), RollingScore(-30.0, 10, 40)]
    ppl = get_metric("perplexity").corpus_score(docs, [None, None])
    bpb = get_metric("bits_per_byte").corpus_score(docs, [None, None])
    assert ppl == pytest.approx(math.exp(40 / 15))
    assert bpb == pytest.approx(40 / (60 * math.log(2)))


def test_unknown_metric_lists_known_metrics():
    with pytest.raises(ConfigError) as err:
        get_metric("rouge_l", where="tasks/mine.yaml: metrics[0]")
    text = err.value.render()
    assert "unknown metric 'rouge_l'" in text and "tasks/mine.yaml" in text
    for name in list_metrics():
        assert name in text


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    metric = get_metric("exact_match")
    rng = np.random.default_rng(0)
    stats = np.stack([rng.integers(0, 2, 300).astype(float), np.ones(300)], axis=1)
    a = bootstrap_ci(stats, metric.from_stats, seed=7)
    b = bootstrap_ci(stats, metric.from_stats, seed=7)
    c = bootstrap_ci(stats, metric.from_stats, seed=8)
    assert a == b and a != c
    mean = stats[:, 0].mean()
    assert a[0] < mean < a[1]
    se = math.sqrt(mean * (1 - mean) / 300)  # normal approximation of the 95% half-width
    assert (a[1] - a[0]) / 2 == pytest.approx(1.96 * se, rel=0.15)


def test_bootstrap_ci_for_corpus_bleu_contains_point_estimate():
    metric = get_metric("bleu")
    preds, refs = [p for p, _ in PAIRS], [r for _, r in PAIRS]
    stats = metric.stats_matrix(preds, refs)
    low, high = bootstrap_ci(stats, metric.from_stats, seed=0)
    assert low <= metric.corpus_score(preds, refs) <= high and low < high


def test_paired_bootstrap_detects_a_real_difference_and_not_a_null_one():
    metric = get_metric("acc")
    rng = np.random.default_rng(0)
    a = np.stack([rng.random(400) < 0.5, np.ones(400)], axis=1).astype(float)
    better = a.copy()
    better[:80, 0] = 1.0  # B fixes some of A's errors
    same = paired_bootstrap(a, a, metric.from_stats, seed=0)
    diff = paired_bootstrap(a, better, metric.from_stats, seed=0)
    assert same["delta"] == 0 and same["p_value"] == 1.0
    assert diff["delta"] > 0 and diff["p_value"] < 0.01 and diff["ci_low"] > 0
    assert paired_bootstrap(a, better, metric.from_stats, seed=0) == diff


def test_stemmed_rouge_is_registered_under_its_own_name():
    metric = get_metric("rougeL_stem")
    assert metric.name == "rougeL_stem" and metric.stem
    assert metric.sentence_score("the cats running", "the cat runs") > get_metric("rougeL").sentence_score(
        "the cats running", "the cat runs")
