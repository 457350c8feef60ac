"""Two CPU processes (gloo DDP via accelerate launch) follow the same loss curve as one process
with the same global batch (grad_accum 2 x 1 process == grad_accum 1 x 2 processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _run(cmd: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent.parent), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line[7:]) for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    return next(r for r in rows if r["losses"])  # the main process logs the curve


def test_two_processes_match_one(tmp_path):
    pytest.importorskip("accelerate")
    child = [str(HERE / "tuning_child.py"), "--dropout", "0", "--steps", "6"]
    one = _run([sys.executable, child[0], str(tmp_path / "one"), "--grad-accum", "2", *child[1:]])
    two = _run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
                "29517", child[0], str(tmp_path / "two"), "--grad-accum", "1", *child[1:]])
    assert len(one["losses"]) == len(two["losses"]) == 6
    for a, b in zip(one["losses"], two["losses"]):
        assert abs(a - b) < 1e-4 * max(1.0, abs(a))
