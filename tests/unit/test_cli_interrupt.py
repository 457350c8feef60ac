"""Ctrl-C through the real console script: "interrupted", exit 130, finished work kept, the re-run reuses it."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from cli_helpers import popen_genlab, run_genlab
from genlab.testing import tiny_model_dir


@pytest.fixture(scope="module")
def long_ctx_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-long"), "causal", max_position_embeddings=2048)


def _wait_until(ready, proc, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"finished (rc {proc.returncode}) before it could be interrupted:\n{out}\n{err}")
        if ready():
            return
        time.sleep(0.02)
    proc.kill()
    pytest.fail("timed out waiting for the run to make progress")


def _ctrl_c_when(ready, args, cwd: Path, home: Path) -> str:
    """Start ``genlab ARGS``, press Ctrl-C once ``ready()``; it must say "interrupted" and exit 130, no traceback."""
    proc = popen_genlab(*args, cwd=cwd, GENLAB_HOME=str(home))
    _wait_until(ready, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    text = out + err
    assert proc.returncode == 130, text
    assert "interrupted" in text and "Traceback" not in text, text
    return text


def _cached_rows(home: Path) -> int:
    db = home / "cache" / "generations.sqlite"
    if not db.is_file():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM generations").fetchone()[0]
    except sqlite3.OperationalError:  # created, table not there yet
        return 0


def test_ctrl_c_during_eval_keeps_finished_generations(long_ctx_dir, tmp_path):
    home = tmp_path / "home"
    args = ["eval", "-m", str(long_ctx_dir), "--task", "support-summary", "-n", "24", "--batch-size", "1",
            "--out", str(tmp_path / "run")]
    _ctrl_c_when(lambda: _cached_rows(home) >= 2, args, tmp_path, home)
    kept = _cached_rows(home)
    assert 2 <= kept < 24  # every finished batch, written as it finished
    again = run_genlab(*args, cwd=tmp_path, GENLAB_HOME=str(home), timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    cache = json.loads((tmp_path / "run" / "results.json").read_text())["config"]["cache"]
    assert cache["hits"] >= kept and cache["hits"] + cache["misses"] == 24


def test_ctrl_c_during_tune_checkpoints_and_resume_continues(long_ctx_dir, tmp_path):
    out = tmp_path / "lora"
    args = ["tune", "-m", str(long_ctx_dir), "--task", "support-summary", "--method", "lora", "--n-train", "48",
            "--batch-size", "1", "--max-steps", "400", "--save-every", "1000", "--eval-every", "1000",
            "--no-test-eval", "--out", str(out)]
    metrics = out / "metrics.jsonl"
    text = _ctrl_c_when(lambda: metrics.is_file() and len(metrics.read_text().splitlines()) >= 3, args, tmp_path,
                        tmp_path / "home")
    assert "--resume" in text, text
    import torch

    saved = torch.load(out / "checkpoints" / "last.pt", weights_only=False)["state"]["step"]
    assert 3 <= saved < 400  # the last finished step, not the periodic save (every 1000)
    logged = [json.loads(line)["step"] for line in metrics.read_text().splitlines() if '"loss"' in line]
    assert max(logged) >= saved

    # the same command without --resume refuses to overwrite; with it, training continues at saved + 1
    refused = run_genlab(*args, cwd=tmp_path, GENLAB_HOME=str(tmp_path / "home"))
    assert refused.returncode == 2 and "already holds a run" in refused.stderr, refused.stderr
    resumed = run_genlab(*[a if a != "400" else str(saved + 3) for a in args], "--resume", cwd=tmp_path,
                         GENLAB_HOME=str(tmp_path / "home"), timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines() if '"loss"' in line]
    assert steps == list(range(1, saved + 4))


def test_ctrl_c_during_run_keeps_finished_generations_and_reruns_the_stage(long_ctx_dir, tmp_path):
    home, out = tmp_path / "home", tmp_path / "run"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"model: {long_ctx_dir}\ntask: support-summary\neval: {{n: 24, batch_size: 1}}\n"
                      "stages: [zero-shot]\n")
    args = ["run", str(recipe), "--out", str(out)]
    _ctrl_c_when(lambda: _cached_rows(home) >= 2, args, tmp_path, home)
    kept = _cached_rows(home)
    marker = json.loads((out / "stages" / "zero-shot" / "stage.json").read_text())
    assert marker["status"] == "running"  # not taken for a finished stage
    again = run_genlab(*args, cwd=tmp_path, GENLAB_HOME=str(home), timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    results = json.loads((out / "stages" / "zero-shot" / "eval" / "results.json").read_text())
    assert results["config"]["cache"]["hits"] >= kept
    assert json.loads((out / "stages" / "zero-shot" / "stage.json").read_text())["status"] == "done"
