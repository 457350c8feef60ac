import platform

import pytest

from genlab import runtime


def test_resolve_precision_rejects_unknown_names():
    with pytest.raises(ValueError, match="auto, bf16 or fp32"):
        runtime.resolve_precision("fp8")
    assert runtime.resolve_precision("fp32", "cpu") == "fp32"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_reuse_freed_memory_applies_on_glibc_and_respects_user_malloc_settings(monkeypatch):
    for k in [k for k in __import__("os").environ if k.startswith("MALLOC_")]:
        monkeypatch.delenv(k)
    assert runtime.reuse_freed_memory.__wrapped__() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    assert runtime.reuse_freed_memory.__wrapped__() is False


@pytest.mark.parametrize("fast", [True, False])
def test_machine_line_names_the_cpu_and_warns_only_for_emulated_bf16(monkeypatch, fast):
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: fast)
    monkeypatch.setattr(runtime.torch.cuda, "is_available", lambda: False)
    line = runtime.machine_line("bf16")
    assert line.startswith(f"machine: {runtime.device_name('cpu')}, ")
    assert f"fast bf16: {'yes' if fast else 'no'} (auto = {'bf16' if fast else 'fp32'})" in line
    assert ("WARNING: bf16 is emulated" in line) is (not fast)
    assert "WARNING" not in runtime.machine_line("fp32") and "WARNING" not in runtime.machine_line()
