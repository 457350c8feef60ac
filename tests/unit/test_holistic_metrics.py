"""Calibration, bias, toxicity, efficiency, worst-case aggregation and win rates against hand computations."""

from __future__ import annotations

import random

import pytest

from genlab.holistic import bias, calibration, toxicity
from genlab.holistic.efficiency import efficiency
from genlab.meter import Meter
from genlab.holistic.aggregate import HEADLINE, win_rates, worst_case

# (confidence, correct): |y - c| = .1 .2 .7 .4 .5 .4 .7 .2 .1 0  -> sum 3.3
CONF = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
OK = [0, 0, 1, 0, 1, 1, 0, 1, 1, 1]


def _shuffled():
    pairs = list(zip(CONF, OK))
    random.Random(0).shuffle(pairs)
    return [c for c, _ in pairs], [y for _, y in pairs]


def test_ece_ten_bins_of_one_is_mean_gap():
    c, y = _shuffled()
    assert calibration.ece(c, y, 10) == pytest.approx(0.33)


def test_ece_equal_mass_five_bins_by_hand():
    # bins (.1,.2|0,0) (.3,.4|1,0) (.5,.6|1,1) (.7,.8|0,1) (.9,1|1,1): gaps .15 .15 .45 .25 .05, weight 2/10 each
    c, y = _shuffled()
    assert calibration.ece(c, y, 5) == pytest.approx(0.2 * (0.15 + 0.15 + 0.45 + 0.25 + 0.05))


def test_one_bin_ece_is_overall_confidence_gap():
    assert calibration.ece(CONF, OK, 1) == pytest.approx(abs(0.6 - 0.55))


def test_selective_metrics_by_hand():
    c, y = _shuffled()
    assert calibration.selective_accuracy(c, y, 0.1) == 1.0  # the single most confident (1.0) is right
    # accuracy of the top k by confidence, k = 1..10: 1 1 1 3/4 4/5 5/6 5/7 6/8 6/9 6/10
    expected = (3 + 3 / 4 + 4 / 5 + 5 / 6 + 5 / 7 + 6 / 8 + 6 / 9 + 6 / 10) / 10
    assert calibration.coverage_accuracy_area(c, y) == pytest.approx(expected)


def test_calibration_from_choice_probabilities_and_skip_reason():
    probs = [[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]]
    out = calibration.calibration_metrics(probs, [0, 1, 1, 0])
    # confidences .9 .7 .6 .8, correct 1 1 0 0: ten bins of <= 1 -> mean |y - c| = (.1 + .3 + .6 + .8) / 4
    assert out["ece_10_bin"] == pytest.approx(0.45)
    assert out["ece_1_bin"] == pytest.approx(abs(0.5 - 0.75))
    assert calibration.calibration_metrics(None, None, "generation scenario") == {"skipped": "generation scenario"}
    with pytest.raises(ValueError, match="probabilities"):
        calibration.ece([1.5], [1])


def test_perfectly_calibrated_set_has_zero_ece():
    c = [0.8] * 10
    y = [1] * 8 + [0] * 2
    assert calibration.ece(c, y, 1) == pytest.approx(0.0)


GROUPS = {"a": ["he", "him"], "b": ["she"]}


def test_tv_distance_from_uniform():
    assert bias.tv_from_uniform([5, 5], [1, 1]) == 0.0
    assert bias.tv_from_uniform([3, 0, 0], [1, 1, 1]) == pytest.approx(2 / 3)
    assert bias.tv_from_uniform([0, 0], [1, 1]) is None


def test_demographic_representation_by_hand():
    # a: he, he, him = 3 over a list of 2 -> 1.5; b: she = 1 over 1 -> 1; p = (.6, .4); TV = .1
    assert bias.representation(["He said he saw him.", "She left."], GROUPS) == pytest.approx(0.1)
    assert bias.representation(["nothing here"], GROUPS) is None


def test_stereotypical_association_by_hand():
    texts = ["she is a nurse", "he is a pilot and he flies", "she is a pilot"]
    # nurse: (a 0, b 1) -> TV .5; pilot: a 2*1 / 2 = 1, b 1*1 / 1 = 1 -> TV 0; doctor never co-occurs: ignored
    assert bias.stereotypical_association(texts, GROUPS, ["nurse", "pilot", "doctor"]) == pytest.approx(0.25)
    assert bias.stereotypical_association(texts, GROUPS, ["doctor"]) is None


def test_bias_metrics_use_the_shipped_lists():
    out = bias.bias_metrics(["The nurse said she would call her mother.", "He is a doctor."])
    assert set(out) == {"representation_gender", "representation_race", "stereotype_gender_profession",
                        "stereotype_gender_adjective", "stereotype_race_profession", "stereotype_race_adjective"}
    assert out["stereotype_gender_profession"] == pytest.approx(0.5)  # nurse only female, doctor only male
    assert out["representation_race"] is None


class FakeScorer:
    name = "fake"
    table = {"a": 0.2, "b": 0.7, "c": 0.4}

    def score(self, texts):
        return [self.table[t] for t in texts]


def test_toxicity_with_a_fake_scorer_by_hand():
    assert isinstance(FakeScorer(), toxicity.ToxicityScorer)
    out = toxicity.toxicity_metrics([["a", "b"], ["c"]], FakeScorer())
    assert out["toxic_fraction"] == pytest.approx(1 / 3)  # only b >= 0.5
    assert out["expected_max_toxicity"] == pytest.approx((0.7 + 0.4) / 2)
    assert out["toxicity_probability"] == pytest.approx(0.5)
    assert out["scorer"] == "fake"


def test_toxicity_rejects_a_scorer_that_is_not_a_probability():
    class Bad(FakeScorer):
        def score(self, texts):
            return [2.0 for _ in texts]

    with pytest.raises(ValueError, match="probability"):
        toxicity.toxicity_metrics([["a"]], Bad())


def test_profanity_check_scorer_on_obvious_strings():
    scorer = toxicity.default_scorer()
    assert scorer.name == "alt-profanity-check"
    toxic, clean = scorer.score(["you are a fucking idiot", "thank you, have a nice day"])
    assert toxic >= 0.5 > clean
    out = toxicity.toxicity_metrics([["shut up you stupid shit"], ["the weather is lovely today"]])
    assert out["toxic_fraction"] == 0.5


def test_efficiency_meter_by_hand():
    m = Meter()
    with m:
        sum(range(1000))
    first = m.seconds
    with m:  # sections add up
        sum(range(1000))
    assert 0 < first < m.seconds and m.peak_rss_mb > 0
    m.seconds = 2.0
    m.add(requests=4, prompt_tokens=100, new_tokens=40)
    out = efficiency(m)
    assert out["seconds_per_request"] == 0.5 and out["prompt_tokens_per_s"] == 50 and out["generated_tokens_per_s"] == 20
    assert out["peak_memory_mib"] > 0
    assert "skipped" in efficiency(Meter())
    assert "generated_tokens_per_s" not in efficiency(m, generated=False)


def test_worst_case_aggregation_by_hand():
    scores = {"original": [1, 0, 1, 0.5], "typos": [0, 0, 1, 1], "lowercase": [1, 1, 0, 0.5]}
    assert worst_case(scores, ["typos", "lowercase"]) == [0, 0, 0, 0.5]  # mean 0.125
    assert worst_case(scores, ["typos"]) == [0, 0, 1, 0.5]
    assert worst_case(scores, ["typos", "lowercase"], higher_is_better=False) == [1, 1, 1, 1]


def test_invariance_reports_worst_case_and_unperturbed():
    from genlab.holistic.aggregate import invariance
    from genlab.holistic.variants import Variant

    scores = {"original": [1.0, 0.0, 1.0, 0.5], "typos": [0.0, 0.0, 1.0, 1.0], "dialect": [1.0, 1.0, 1.0, 1.0]}
    variants = [Variant("original", None, []), Variant("typos", "robustness", []), Variant("dialect", "fairness", [])]
    rob = invariance(scores, variants, "robustness", True)
    assert rob["worst_case"] == pytest.approx(0.375) and rob["unperturbed"] == pytest.approx(0.625)
    assert rob["per_perturbation"] == {"typos": 0.5}
    assert invariance(scores, variants, "fairness", True)["worst_case"] == pytest.approx(0.625)


def test_win_rates_by_hand():
    def h(acc, eff):
        return {f: None for f in HEADLINE} | {"accuracy": acc, "efficiency": eff}

    heads = {"s1": {"A": h(0.5, 1.0), "B": h(0.7, 2.0)}, "s2": {"A": h(0.9, 1.0), "B": h(0.9, 1.0)},
             "s3": {"A": h(None, 3.0), "B": h(None, 1.0)}}
    wins = win_rates(heads, ["A", "B"])
    assert wins["A"]["accuracy"] == pytest.approx(0.25) and wins["B"]["accuracy"] == pytest.approx(0.75)
    assert wins["A"]["efficiency"] == pytest.approx((1 + 0.5 + 0) / 3)  # lower time wins
    assert wins["A"]["toxicity"] is None


def test_instances_are_drawn_by_seed_and_nested():
    from genlab.holistic.variants import pick_instances

    rows = list(range(1000))
    small, large = pick_instances(rows, 20, 0), pick_instances(rows, 100, 0)
    assert set(small) <= set(large) and small == sorted(small) and len(set(large)) == 100
    assert small != rows[:20] and pick_instances(rows, 20, 1) != small
    assert pick_instances(rows[:5], 100, 0) == rows[:5]
