"""fact_accuracy / fact_recall: hand cases for each fact type and format variant, and the bootstrap contract."""

import numpy as np
import pytest

from genlab.evaluation.metrics import get_metric
from genlab.evaluation.metrics.base import Reference
from genlab.evaluation.metrics.facts import extract_facts, judge

FACTS = {"customer_name": "Maria Lopez", "agent": "Sam", "company": "Nordwind", "ref": "AB-12345",
         "amount": "$45.00", "new_date": "the 3rd of March", "days": "5", "time": "9:30", "case": "48213"}
REF = Reference("Maria Lopez was refunded $45.00 for order AB-12345.", FACTS)


@pytest.mark.parametrize("output,correct,wrong", [
    ("Maria Lopez got a refund of $45.00 for order AB-12345.", 4, 0),          # name x2, amount, id
    ("Maria got 45 dollars back by March 3.", 3, 0),                           # "45 dollars" = "$45.00"; dates in any format
    ("Maria was refunded $45 on 3 March, case #48213.", 4, 0),                 # "$45" = "$45.00"; "#48213" = "48213"
    ("The agent refunded $54.00 to Maria Lopez.", 2, 1),                       # a contradicting amount
    ("Order 987654 was refunded within 5 days.", 1, 1),                        # a hallucinated order number
    ("James Smith was told to wait until March 3 at 9:30.", 2, 2),             # another customer's name
    ("refund for 45 on order ab12345, on the 4th of March", 2, 1),             # bare 45 = an amount; case-free id; wrong day
    ("Nordwind sent Sam's note.", 2, 0),                                       # company and agent are the source's names
    ("The customer asked for help.", 0, 0),                                    # no facts: nothing to judge
])
def test_judge_hand_cases(output, correct, wrong):
    good, bad = judge(output, FACTS)
    assert (len(good), len(bad)) == (correct, wrong), (good, bad)


def test_fact_types_and_normalisation():
    assert extract_facts("$1,200.50 and 30 dollars") == {("amount", 1200.5), ("amount", 30.0)}
    assert extract_facts("Jan 5th, the 21st of December, 9 May") == {("date", 1, 5), ("date", 12, 21), ("date", 5, 9)}
    assert extract_facts("case #KX-48213 at 10:15") == {("id", "KX48213"), ("time", 10, 15)}
    assert extract_facts("May I help? Grace period.") == {("name", "Grace")}  # a known name: checked, even if odd


def test_corpus_scores_pool_counts_and_bootstrap_shapes():
    acc, rec = get_metric("fact_accuracy"), get_metric("fact_recall")
    preds = ["Maria Lopez got $45.00 back (order AB-12345).", "Maria got $54.00.", "Nothing."]
    refs = [REF] * 3
    stats = acc.stats_matrix(preds, refs)
    assert stats.tolist() == [[4, 4], [1, 2], [0, 0]]
    assert acc.corpus_score(preds, refs) == pytest.approx(5 / 6)
    assert rec.stats_matrix(preds, refs).tolist() == [[4, 4], [1, 4], [0, 4]]
    boot = acc.from_stats(np.stack([stats.sum(0), stats[:2].sum(0)]))  # from_stats broadcasts over resamples
    assert boot.shape == (2,) and boot[0] == pytest.approx(5 / 6)
    assert acc.from_stats(np.zeros(2)) == 0.0


def test_reference_without_facts_is_a_clear_error():
    with pytest.raises(ValueError, match="needs the source's facts"):
        get_metric("fact_accuracy").sentence_score("Maria", "Maria Lopez")


def test_generated_references_are_fully_accurate():
    """The built-in generator's own summaries state only facts of their dialogues: fact_accuracy 1, fact_recall 1."""
    from genlab.tasks import load_task

    reqs = load_task("support-summary").requests("test-unseen", n=100)
    targets = [str(r.target) for r in reqs]
    refs = [r.target for r in reqs]
    assert get_metric("fact_accuracy").corpus_score(targets, refs) == 1.0
    assert get_metric("fact_recall").corpus_score(targets, refs) == 1.0


def test_ids_need_three_digits_or_a_letter_digit_code():
    assert extract_facts("booking RFG6T8, a 7-day wait, the 2TB plan, order 2023-2024") == {
        ("id", "RFG6T8"), ("number", 7), ("id", "20232024")}
