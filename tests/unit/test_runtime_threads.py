"""Thread count fitted to the CPU other processes leave idle (issue 13 §3)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from genlab import runtime


@pytest.fixture
def fresh(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(runtime, "_threads", {"default": None, "set": None, "at": -1e9})
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("GENLAB_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    torch.set_num_threads(4)
    yield monkeypatch
    torch.set_num_threads(before)


@pytest.mark.parametrize("others, expected", [(0.0, 4), (0.9, 3), (2.2, 2), (7.0, 1), (None, 4)])
def test_threads_follow_the_idle_cores(fresh, others, expected):
    fresh.setattr(runtime, "cpu_used_by_others", lambda: others)
    assert runtime.fit_threads_to_load() == expected == torch.get_num_threads()


def test_measures_again_after_max_age_and_goes_back_up_when_quiet(fresh):
    load = iter([3.0, 0.0])
    fresh.setattr(runtime, "cpu_used_by_others", lambda: next(load))
    assert runtime.fit_threads_to_load() == 1
    assert runtime.fit_threads_to_load() == 1  # cached: no second measurement
    assert runtime.fit_threads_to_load(max_age_s=0) == 4 == torch.get_num_threads()


def test_a_count_the_user_chose_is_kept(fresh):
    fresh.setattr(runtime, "cpu_used_by_others", lambda: 3.0)
    runtime.fit_threads_to_load()
    torch.set_num_threads(3)  # the user's own choice after ours
    assert runtime.fit_threads_to_load(max_age_s=0) == 3
    fresh.setattr(runtime, "_threads", {"default": None, "set": None, "at": -1e9})
    fresh.setenv("OMP_NUM_THREADS", "4")
    torch.set_num_threads(4)
    assert runtime.fit_threads_to_load() == 4
    fresh.setenv("GENLAB_THREADS", "2")
    assert runtime.fit_threads_to_load() == 2 == torch.get_num_threads()


def test_a_busy_process_is_seen_as_load():
    busy = subprocess.Popen([sys.executable, "-c", "import time\nt = time.monotonic() + 20\nwhile time.monotonic() < t: pass"])
    try:
        import time

        time.sleep(0.3)
        used = runtime.cpu_used_by_others(window_s=0.5)
    finally:
        busy.kill()
        busy.wait()
    assert used is not None and used >= 0.6, used  # one spinning core (others can only add)
