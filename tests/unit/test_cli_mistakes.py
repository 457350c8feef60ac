"""The usual first-hour mistakes, through the real console script: a short message, exit 2, no traceback."""

from __future__ import annotations

import pytest

from cli_helpers import run_genlab

# (arguments, words the message must contain)
USAGE_MISTAKES = [
    (["evall"], ["No such command", "eval"]),
    (["eval", "--taks", "x"], ["--taks", "--task"]),
    (["generate", "--max-new-tokens", "abc", "hi"], ["--max-new-tokens"]),
    (["eval"], ["--task"]),
    (["tune", "--lr", "abc"], ["--lr"]),
    (["data", "show"], ["task"]),
]


def _short_error(proc, words: list[str]) -> None:
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, text  # the error, then a hint
    assert lines[0].startswith("error: "), text
    if len(lines) == 2:
        assert lines[1].strip().startswith("hint: "), text
    for w in words:  # click capitalises argument names in some versions
        assert w.lower() in text.lower(), (w, text)


@pytest.mark.parametrize("args,words", USAGE_MISTAKES, ids=[" ".join(a) for a, _ in USAGE_MISTAKES])
def test_usage_mistake_is_one_line_and_exit_2(args, words):
    proc = run_genlab(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    _short_error(proc, words)


@pytest.mark.parametrize("args,commands", [([], ["eval", "tune", "data"]), (["data"], ["show", "stats"]),
                                           (["inspect"], ["next-token", "attention"])])
def test_bare_group_prints_its_help_and_exits_2(args, commands):
    proc = run_genlab(*args)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert "Traceback" not in text
    assert "Usage: genlab" in text
    for c in commands:
        assert c in text


def test_version_prints_the_package_version():
    import genlab

    proc = run_genlab("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"genlab {genlab.__version__}"
    assert proc.stderr == ""


def test_silent_surprises_are_errors(tmp_path):
    proc = run_genlab("eval", "-t", "support-summary", "-n", "-3")
    assert proc.returncode == 2
    _short_error(proc, ["-n"])
    proc = run_genlab("tune", "-t", "support-summary", "--resume", "--out", str(tmp_path / "nothere"))
    assert proc.returncode == 2
    _short_error(proc, ["nothing to resume", "nothere"])
    bad = tmp_path / "train.yaml"
    bad.write_text("lr: fast\n")
    proc = run_genlab("tune", "-t", "support-summary", "--config", str(bad), "--out", str(tmp_path / "r"))
    assert proc.returncode == 2
    _short_error(proc, [str(bad), "lr: expected a number", "fast"])
    proc = run_genlab("tune", "-t", "support-summary", "--method", "ia3", "-o", "r=4", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2
    _short_error(proc, ["no option(s) r", "target_modules", "feedforward_modules"])
