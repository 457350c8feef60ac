"""Run the installed ``genlab`` console script on this checkout, as a user's shell would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def console_script() -> Path:
    """The ``genlab`` entry point pip wrote beside this Python (``pip install -e .`` in make setup)."""
    path = Path(sys.executable).with_name("genlab")
    if not path.is_file():
        pytest.fail(f"no genlab console script beside {sys.executable}: run `pip install -e .` (make setup)")
    return path


def genlab_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.update(extra)
    return env


def run_genlab(*args: str, cwd: str | Path | None = None, timeout: float = 120, **env: str):
    """``genlab ARGS`` through the console script; returns the CompletedProcess (text, both streams)."""
    return subprocess.run([str(console_script()), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=genlab_env(**env))


def popen_genlab(*args: str, cwd: str | Path | None = None, **env: str) -> subprocess.Popen:
    """Start the console script as a terminal user would: with Ctrl-C (SIGINT) at its default, even when
    the tests themselves run in a background job, which starts with SIGINT ignored."""
    return subprocess.Popen([str(console_script()), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd, env=genlab_env(**env),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
