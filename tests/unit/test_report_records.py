"""`genlab report` rebuilds a report from a run's records alone: a run written by genlab at 7b8fc6e
(tests/fixtures/run-v0, before stage.json was typed) still renders, without importing the trainer or the
recipe parser."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURE = Path(__file__).parents[1] / "fixtures" / "run-v0"

CHILD = r"""
import json, sys
from genlab.report.lifecycle import build_report, collect, leaderboard
path = build_report(sys.argv[1])
cols, rows = leaderboard(collect(sys.argv[1]))
heavy = sorted(m for m in sys.modules if m.startswith(("genlab.tuning", "genlab.lifecycle", "genlab.adapters")))
print(json.dumps({"path": str(path), "stages": [r[0] for r in rows], "heavy": heavy}))
"""


def test_report_of_a_run_written_by_the_previous_version(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(run)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["stages"] == ["zero-shot", "1-shot", "lora"]  # old run.json has no order: the order stages finished
    assert out["heavy"] == []  # no trainer, no recipe validation
    html = Path(out["path"]).read_text()
    for section in ('id="leaderboard"', 'id="charts"', 'id="examples"', 'id="reproduce"', "forgetting"):
        assert section in html


def test_genlab_report_cli_on_the_fixture(tmp_path, capsys):
    from genlab.cli import main

    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    assert main(["report", str(run)]) == 0
    assert (run / "report.html").is_file() and "leaderboard" in capsys.readouterr().out
