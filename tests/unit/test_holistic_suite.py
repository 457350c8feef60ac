"""The holistic suite end to end on a tiny random model: files on disk, families, report, CLI."""

from __future__ import annotations

import json

import pytest

from genlab.holistic.perturbations import PERTURBATIONS
from genlab.holistic.suite import FAMILIES, run_scenario, run_suite
from genlab.holistic.scenarios import BUILTIN


@pytest.fixture(scope="module")
def long_tiny_dir(tmp_path_factory):
    """The support dialogues need more than the default tiny model's 256 positions."""
    from genlab.testing import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("tiny-long"), "causal", max_position_embeddings=2048)


def test_suite_writes_results_instances_and_report(long_tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    out = tmp_path / "bench"
    summary = run_suite([str(long_tiny_dir)], [None], n=3, out_dir=out)
    data = json.loads((out / "results.json").read_text())
    assert data["scenarios"] == list(BUILTIN) and data["n"] == 3
    model = data["models"][0]
    for scenario, by_model in data["results"].items():
        res = by_model[model]
        assert set(FAMILIES) <= set(res), scenario
        for family in FAMILIES:
            assert "skipped" in res[family] or any(isinstance(v, float) for v in res[family].values()), (scenario, family)
    reviews = data["results"]["reviews"][model]
    assert set(reviews["calibration"]) >= {"ece_10_bin", "ece_1_bin", "selective_acc@10", "selective_cov_acc_area"}
    assert reviews["robustness"]["worst_case"] <= reviews["robustness"]["unperturbed"]
    assert reviews["fairness"]["worst_case"] <= reviews["fairness"]["unperturbed"]
    summ = data["results"]["support-summary"][model]
    assert summ["accuracy"]["metric"] == "rouge2" and "skipped" in summ["calibration"]
    assert 0 <= summ["toxicity"]["toxic_fraction"] <= 1 and summ["efficiency"]["generated_tokens_per_s"] > 0
    assert "skipped" in data["results"]["toxicity-prompts"][model]["accuracy"]
    rows = [json.loads(line) for line in (out / "instances.jsonl").read_text().splitlines()]
    perturbed = len(BUILTIN) - 1  # toxicity prompts are not perturbed
    assert len(rows) == 3 * (perturbed * (1 + len(PERTURBATIONS)) + 1)
    assert {r["variant"] for r in rows} == {"original", *PERTURBATIONS}
    html = (out / "report.html").read_text()
    assert html.startswith("<!doctype html>") and "data:image/png;base64," in html and "hsl(" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html  # self-contained
    assert summary.headline["reviews"][model]["accuracy"] == reviews["accuracy"]["value"]
    assert "one instance under each perturbation" in html and "<td>typos</td>" in html
    from genlab.holistic import HolisticSummary

    again = HolisticSummary.load(out)  # the typed record round-trips through results.json
    assert again.to_json() == summary.to_json() and again.out_dir == str(out)
    assert data["environment"]["packages"]["torch"] and data["eval"]["seed"] == 0


def test_holistic_summary_reads_older_files():
    from genlab.holistic import HolisticSummary

    old = {"models": ["m"], "scenarios": ["reviews"], "n": 3, "results": {"reviews": {"m": {}}},
           "headline": {"reviews": {"m": {"accuracy": 0.5}}}, "win_rates": {"m": {}}, "seconds": 1.0,
           "environment": {"packages": {}}, "retired_field": 7}  # no eval/pairs/suite yet
    s = HolisticSummary.from_json(old)
    assert s.n == 3 and s.eval == {} and s.suite == "holistic" and s.extra == {"retired_field": 7}
    assert s.to_json()["retired_field"] == 7  # kept when written again


def test_perturbed_generations_reuse_the_cache(long_tiny_dir, tmp_path, monkeypatch):
    from genlab.holistic.perturbations import get_perturbations
    from genlab.models import load

    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    lm = load(str(long_tiny_dir), precision="fp32")
    scenario = BUILTIN["support-extract"]
    perts = get_perturbations(["lowercase", "gender"])
    first = run_scenario(lm, scenario, n=2, perturbations=perts)
    assert first["families"]["efficiency"]["requests"] == first["unique_requests"]
    again = run_scenario(lm, scenario, n=2, perturbations=perts)
    assert "skipped" in again["families"]["efficiency"]  # all from the cache: nothing to time
    assert again["instances"] == first["instances"]


def test_bench_cli_on_one_scenario(long_tiny_dir, tmp_path, monkeypatch):
    from genlab.cli import main

    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    out = tmp_path / "cli"
    code = main(["bench", "-m", str(long_tiny_dir), "-n", "2", "--scenarios", "reviews,support-qa",
                 "--perturbations", "typos,names", "--out", str(out)])
    assert code == 0
    data = json.loads((out / "results.json").read_text())
    assert data["scenarios"] == ["reviews", "support-qa"] and data["perturbations"] == ["typos", "names"]
    assert (out / "report.html").is_file()
    assert main(["bench", "-m", str(long_tiny_dir), "--scenarios", "nope", "--out", str(out)]) == 2


def test_models_pair_with_adapters():
    from genlab.errors import GenlabError
    from genlab.holistic.suite import _pairs, model_label

    assert _pairs(["a", "b"], None) == [("a", None), ("b", None)]
    assert _pairs(["a"], ["none", "runs/x/adapter"]) == [("a", "none"), ("a", "runs/x/adapter")]
    assert _pairs(["a", "b"], ["none", "p"]) == [("a", "none"), ("b", "p")]
    with pytest.raises(GenlabError, match="one --adapter per -m"):
        _pairs(["a", "b", "c"], ["p", "q"])
    assert model_label("m", "runs/lora/adapter") == "m+lora" and model_label("m", "ad2") == "m+ad2" and model_label("m", None) == "m"
