"""Parity of genlab's ROUGE and BLEU with the reference packages on many random and edge-case pairs."""

from __future__ import annotations

import random

import numpy as np
import pytest
import sacrebleu
from rouge_score import rouge_scorer

from genlab.evaluation.metrics import get_metric
from genlab.evaluation.metrics.bleu import bleu_from_stats_np

WORDS = ("the a cat dog sat on mat log refund order arrived late customer agent said "
         "running runs ran quickly quick summary é café naïve 東京 😀 don't U.S. 3.14 -- ...").split()
EDGE = [
    ("", "the cat sat"), ("the cat sat", ""), ("", ""), ("...", "!!!"), ("?!", "the cat."),
    ("the the the the the the the", "the cat is on the mat"),  # clipping
    ("cat cat cat", "cat"), ("東京 café naïve", "東京 café naive"), ("😀 😀", "😀"),
    ("The Cat SAT.", "the cat sat"), ("running runs", "ran run"), ("a\nb c\nd", "a b\nc d"),
    ("  spaced   out  ", "spaced out"), ("x", "x"), ("one two three four five", "one two three four five"),
]


def random_sentence(rng: random.Random) -> str:
    n = rng.choice([0, 1, 2, 3, 5, 8, 13, 21])
    words = [rng.choice(WORDS) for _ in range(n)]
    sep = [rng.choice([" ", " ", " ", "\n", ", "]) for _ in words]
    return "".join(w + s for w, s in zip(words, sep)).strip()


def pairs(n: int = 520, seed: int = 0) -> list[tuple[str, list[str]]]:
    rng = random.Random(seed)
    out = [(p, [r]) for p, r in EDGE]
    while len(out) < n:
        k = rng.choice([1, 1, 1, 2, 3])  # some samples with several references
        out.append((random_sentence(rng), [random_sentence(rng) for _ in range(k)]))
    return out


PAIRS = pairs()


@pytest.mark.parametrize("rouge_type", ["rouge1", "rouge2", "rougeL", "rougeLsum"])
@pytest.mark.parametrize("stem", [False, True])
def test_rouge_identical_to_rouge_score(rouge_type, stem):
    ref = rouge_scorer.RougeScorer([rouge_type], use_stemmer=stem)
    ours = {m: get_metric(rouge_type, stem=stem, measure=m) for m in ("precision", "recall", "fmeasure")}
    for pred, refs in PAIRS:
        expected = (ref.score(refs[0], pred) if len(refs) == 1 else ref.score_multi(refs, pred))[rouge_type]
        for measure, metric in ours.items():
            assert metric.sentence_score(pred, refs) == getattr(expected, measure), (pred, refs, measure)


def test_rouge_corpus_is_mean_of_fmeasures():
    metric = get_metric("rougeL")
    ref = rouge_scorer.RougeScorer(["rougeL"])
    preds, refs = [p for p, _ in PAIRS], [r[0] for _, r in PAIRS]
    expected = np.mean([ref.score(r, p)["rougeL"].fmeasure for p, r in zip(preds, refs)])
    assert metric.corpus_score(preds, refs) == pytest.approx(expected, abs=1e-12)


def test_sentence_bleu_identical_to_sacrebleu():
    metric = get_metric("bleu")
    for pred, refs in PAIRS:
        assert metric.sentence_score(pred, refs) == sacrebleu.sentence_bleu(pred, refs).score, (pred, refs)


def test_corpus_bleu_identical_to_sacrebleu_single_and_multi_reference():
    metric = get_metric("bleu")
    single = [(p, r[0]) for p, r in PAIRS]
    preds, refs = [p for p, _ in single], [r for _, r in single]
    expected = sacrebleu.corpus_bleu(preds, [refs])
    assert metric.corpus_score(preds, refs) == expected.score
    stats = metric.stats_matrix(preds, refs)
    assert float(metric.from_stats(stats.sum(0))) == expected.score
    bleu = sacrebleu.BLEU()
    bleu.corpus_score(preds, [refs])
    assert metric.signature() == str(bleu.get_signature())
    assert "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:" in metric.signature()

    two = [(p, (r + ["x y"])[:2]) for p, r in PAIRS]  # exactly two refs each
    preds2, refs2 = [p for p, _ in two], [r for _, r in two]
    streams = [[r[0] for r in refs2], [r[1] for r in refs2]]
    assert metric.corpus_score(preds2, refs2) == sacrebleu.corpus_bleu(preds2, streams).score
    assert metric.signature().startswith("nrefs:2|")


def test_vectorized_bleu_matches_sacrebleu_compute_bleu_on_resampled_stats():
    metric = get_metric("bleu")
    preds, refs = [p for p, _ in PAIRS], [r for _, r in PAIRS]
    stats = metric.stats_matrix(preds, refs)
    rng = np.random.default_rng(1)
    subsets = [stats[rng.integers(0, len(stats), size=k)].sum(0) for k in (1, 2, 3, 5, 20, 100, 500) for _ in range(30)]
    vec = bleu_from_stats_np(np.stack(subsets))
    for s, v in zip(subsets, vec):
        s = [int(x) for x in s]
        exp = sacrebleu.BLEU.compute_bleu(s[2:6], s[6:10], s[0], s[1], smooth_method="exp").score
        assert v == pytest.approx(exp, rel=1e-12, abs=1e-12)


def test_edge_cases_are_covered_in_parity_set():
    assert len(PAIRS) >= 500
    assert any(p == "" for p, _ in PAIRS) and any(r == [""] for _, r in PAIRS)
    assert any(len(r) > 1 for _, r in PAIRS)


def test_macro_f1_identical_to_scikit_learn_and_its_bootstrap_resamples_examples():
    import numpy as np
    from sklearn.metrics import f1_score

    from genlab.evaluation.metrics import get_metric
    from genlab.evaluation.metrics.accuracy import ChoiceScores

    rng = np.random.default_rng(0)
    metric = get_metric("macro_f1")
    for k in (2, 3, 5):
        golds = rng.integers(0, k, 60)
        preds = np.where(rng.random(60) < 0.5, golds, rng.integers(0, k, 60))
        preds[0] = k - 1 if golds.max() < k - 1 else preds[0]  # a class only ever predicted still counts
        scores = [ChoiceScores([0.0 if j == p else -1.0 for j in range(k)], [f"c{j}" for j in range(k)])
                  for p in preds]
        assert metric.corpus_score(scores, list(golds)) == pytest.approx(f1_score(golds, preds, average="macro"))
        stats = metric.stats_matrix(scores, list(golds))
        picks = rng.integers(0, 60, 60)  # one bootstrap resample: the metric of the resampled examples
        assert metric.from_stats(stats[picks].sum(axis=0)) == pytest.approx(
            f1_score(golds[picks], preds[picks], average="macro"))
