"""``compare_runs`` on hand-made runs, and the eval/compare/prompt commands on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest

from genlab.errors import GenlabError
from genlab.cli.render import print_comparison
from genlab.evaluation.compare import compare_runs
from genlab.evaluation.metrics import get_metric
from genlab.evaluation.task_eval import EvalResult, score_metrics


def make_run(path, preds, refs, *, task="t", metrics=("exact_match", "bleu")):
    ms = [get_metric(m) for m in metrics]
    summary, per_sample = score_metrics(ms, preds, refs, n_resamples=100, seed=0)
    samples = [{"doc_id": i, "prompt": f"p{i}", "prediction": p, "reference": r, **extra}
               for i, (p, r, extra) in enumerate(zip(preds, refs, per_sample))]
    EvalResult(task, "generate", {"name": path.name}, summary, {"split": "test"}, {}, {}, samples).save(path)
    return path


REFS = [f"the answer is {i}" for i in range(60)]


def test_compare_finds_a_real_improvement_and_the_examples_that_changed(tmp_path):
    a = make_run(tmp_path / "a", [r if i % 3 == 0 else "no idea" for i, r in enumerate(REFS)], REFS)
    b = make_run(tmp_path / "b", [r if i % 3 != 2 else "no idea" for i, r in enumerate(REFS)], REFS)
    cmp = compare_runs([a, b], examples=3, n_resamples=500)
    em = cmp.rows[0]
    assert em["metric"] == "exact_match" and em["values"] == pytest.approx([1 / 3, 2 / 3])
    assert em["deltas"][0] == pytest.approx(1 / 3) and em["p_values"][0] < 0.01
    bleu = cmp.rows[1]
    assert bleu["deltas"][0] == pytest.approx(bleu["values"][1] - bleu["values"][0])
    assert len(cmp.examples) == 3 and all(e["spread"] == 1.0 for e in cmp.examples)
    assert all(e["doc_id"] % 3 == 1 for e in cmp.examples)  # exactly the docs B fixed
    print_comparison(cmp)  # renders without markup errors


def test_compare_same_run_twice_gives_p_one(tmp_path):
    a = make_run(tmp_path / "a", ["x"] * 10, REFS[:10])
    b = make_run(tmp_path / "b", ["x"] * 10, REFS[:10])
    cmp = compare_runs([a, b], examples=0)
    assert cmp.rows[0]["deltas"] == [0.0] and cmp.rows[0]["p_values"] == [1.0] and not cmp.examples


def test_compare_pairs_by_doc_id_and_warns_on_partial_overlap(tmp_path):
    a = make_run(tmp_path / "a", ["x"] * 10, REFS[:10])
    b = make_run(tmp_path / "b", ["x"] * 6, REFS[:6], task="other")
    cmp = compare_runs([a, b], examples=1)
    assert cmp.shared == 6
    assert any("different tasks" in w for w in cmp.warnings) and any("only the 6" in w for w in cmp.warnings)


def test_compare_errors(tmp_path):
    a = make_run(tmp_path / "a", ["x"], REFS[:1])
    with pytest.raises(GenlabError, match="at least two runs"):
        compare_runs([a])
    with pytest.raises(GenlabError, match="has no results.json"):
        compare_runs([a, tmp_path])


def test_cli_eval_compare_and_prompt(tiny_causal_dir, tmp_path, monkeypatch, capsys):
    from genlab.cli import main

    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    m = str(tiny_causal_dir)
    assert main(["eval", "-m", m, "--task", "reviews", "-n", "5", "--out", str(tmp_path / "r0"), "--fp32"]) == 0
    assert main(["eval", "-m", m, "--task", "reviews", "-n", "5", "-k", "1", "--out", str(tmp_path / "r1"),
                 "--fp32", "--no-cache"]) == 0
    assert main(["compare", str(tmp_path / "r0"), str(tmp_path / "r1"), "--examples", "2"]) == 0
    assert main(["prompt", "-m", m, "--task", "reviews", "--shots", "0,1", "-n", "4", "--fp32"]) == 0
    out = capsys.readouterr().out
    assert "acc_norm" in out and "paired bootstrap vs r0" in out and "shots" in out
    assert main(["prompt", "-m", m, "--task", "reviews", "--shots", "0,x"]) == 2
    assert main(["eval", "-m", m, "--task", "no-such-task"]) == 2
    assert "unknown task 'no-such-task'" in capsys.readouterr().err
