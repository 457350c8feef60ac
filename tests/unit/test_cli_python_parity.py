"""The same eval from the console script and from Python gives the same numbers (issue: CLI bf16, Python fp32)."""

import json

import pytest

from cli_helpers import run_genlab


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from genlab.testing import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("lm"), "causal", max_position_embeddings=4096)


@pytest.mark.parametrize("task", ["support-summary", "reviews"])
def test_cli_and_python_agree(tiny_dir, tmp_path, task):
    from genlab.evaluation import evaluate

    proc = run_genlab("eval", "-m", str(tiny_dir), "-t", task, "-n", "6", "--no-cache", "--out", str(tmp_path / "cli"),
                      timeout=300)
    assert proc.returncode == 0, proc.stderr
    cli = json.loads((tmp_path / "cli" / "results.json").read_text())
    cli_samples = [json.loads(line) for line in (tmp_path / "cli" / "samples.jsonl").read_text().splitlines()]

    py = evaluate(str(tiny_dir), task, n=6, cache=False)
    assert cli["config"]["precision"] == py.config["precision"]  # one default, recorded as it ran
    assert cli["metrics"] == json.loads(json.dumps(py.metrics))
    key = "prediction"
    assert [s[key] for s in cli_samples] == [s[key] for s in py.samples]


def test_eval_scores_several_splits_side_by_side_at_the_asked_precision(tiny_dir, tmp_path):
    proc = run_genlab("eval", "-m", str(tiny_dir), "-t", "support-summary", "-n", "3", "--split", "test-unseen,test",
                      "--precision", "fp32", "--no-cache", "--out", str(tmp_path / "ev"), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "splits side by side" in proc.stdout
    for split in ("test-unseen", "test"):
        res = json.loads((tmp_path / "ev" / split / "results.json").read_text())
        assert res["config"]["split"] == split and res["config"]["precision"] == "fp32"
    bad = run_genlab("eval", "-m", str(tiny_dir), "-t", "support-summary", "--split", "test,test")
    assert bad.returncode == 2 and "distinct" in bad.stderr and "Traceback" not in bad.stderr
