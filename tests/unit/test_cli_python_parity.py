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
