"""Devices and precision. bf16 autocast is the biggest speed lever on CPUs with AMX."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
from typing import Literal

import torch

Precision = Literal["auto", "bf16", "fp32"]


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True when the CPU advertises AMX or AVX512-BF16 (bf16 matmul faster than fp32)."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def device_name(device: torch.device | str | None = None) -> str:
    """The GPU's name, or the CPU's model name from /proc/cpuinfo."""
    device = torch.device(device or default_device())
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "cpu"


def machine_line(precision: Precision | None = None) -> str:
    """One line saying what a measurement ran on (device, threads, torch, whether bf16 is fast here), with a
    warning when ``precision`` asks for bf16 on a CPU that only emulates it: such a figure is not the one a user
    of this CPU gets (``auto`` runs fp32 there) and not comparable with figures from a CPU with AMX."""
    device = default_device()
    fast = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_fast_bf16()
    line = (f"machine: {device_name(device)}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
            f"fast bf16: {'yes' if fast else 'no'} (auto = {resolve_precision('auto', device)})")
    if precision == "bf16" and not fast:
        line += ("; WARNING: bf16 is emulated on this CPU (no AMX/AVX512-BF16), so bf16 figures here are slow for "
                 "both sides and not comparable with an AMX machine's; --precision fp32 measures what auto runs here")
    return line


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_precision(precision: Precision, device: torch.device | str | None = None) -> str:
    """Map ``auto`` to ``bf16`` where it is fast (AMX CPU, bf16-capable GPU), else ``fp32``."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, not {precision!r}")
    if precision != "auto":
        return precision
    device = torch.device(device or default_device())
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def autocast(precision: Precision, device: torch.device | str | None = None):
    """A context manager: bf16 autocast on the model's device, or nothing for fp32."""
    device = torch.device(device or default_device())
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool):
    """For the block: torch's deterministic kernels (and inductor's), or nothing when ``enabled`` is false.

    A fixed seed and thread count already reproduce a CPU training run bit for
    bit (bench/repro_bisect.py: same losses, grad norms and weights with 1 or 2
    threads); this is for the kernels that are not: CUDA atomics (index_add,
    scatter, embedding backward), cuBLAS split-K workspaces, cuDNN autotuning,
    and inductor's autotuning. An op without a deterministic kernel raises.
    """
    if not enabled:
        yield
        return
    import torch._inductor.config as inductor

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts a handle
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic, inductor.deterministic)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic, inductor.deterministic = False, True, True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic, inductor.deterministic = before[2:]


def determinism_record(seed: int, deterministic: bool, device: torch.device | str | None = None) -> dict:
    """What a rerun must match to reproduce a run bit for bit: seed, threads, kernels, library builds."""
    device = torch.device(device or default_device())
    record = {"seed": seed, "deterministic_algorithms": deterministic, "device": device.type,
              "torch_threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
              "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
              "mkldnn": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
              "env": {k: os.environ[k] for k in sorted(os.environ) if k in _THREAD_ENV}}
    if device.type == "cuda":
        record["cuda_device"] = torch.cuda.get_device_name(device)
    return record


_THREAD_ENV = ("GENLAB_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME", "GOMP_SPINCOUNT",
               "CUBLAS_WORKSPACE_CONFIG")


_threads = {"default": None, "set": None, "at": -1e9}


def fit_threads_to_load(max_age_s: float = 5.0) -> int:
    """Use only the cores other processes leave idle (at least one); returns the thread count now set.

    torch runs each op on all cores and its OpenMP threads spin at every barrier
    for milliseconds. When another process holds one of the cores, every op waits
    for the thread that lost its time slice, and the spinning thread takes CPU
    from the competitor: generation on the embedded model ran 4x slower with one
    busy process on 2 cores (bench/contention.py) instead of ~2x. Passive waiting
    (``OMP_WAIT_POLICY=PASSIVE``) fixes contention but halves quiet decoding
    speed (every small op then wakes a sleeping thread), so instead the thread
    count follows the load, measured over 0.1 s and re-measured at most every
    ``max_age_s``. Skipped when the user fixed the count (``OMP_NUM_THREADS``,
    ``GENLAB_THREADS``, or ``torch.set_num_threads`` to another value).
    """
    import time

    t = _threads
    if t["default"] is None:
        t["default"] = t["set"] = torch.get_num_threads()
    if os.environ.get("GENLAB_THREADS", "").isdigit() and int(os.environ["GENLAB_THREADS"]) > 0:
        torch.set_num_threads(int(os.environ["GENLAB_THREADS"]))
        return torch.get_num_threads()
    if os.environ.get("OMP_NUM_THREADS") or torch.get_num_threads() != t["set"]:
        return torch.get_num_threads()
    now = time.monotonic()
    if now - t["at"] < max_age_s:
        return t["set"]
    others = cpu_used_by_others()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else t["default"]
    n = t["default"] if others is None else max(1, min(t["default"], cores - round(others)))
    if n != torch.get_num_threads():
        torch.set_num_threads(n)
    t["set"], t["at"] = n, time.monotonic()
    return n


def cpu_used_by_others(window_s: float = 0.1) -> float | None:
    """Cores' worth of CPU time that other processes used over ``window_s`` (Linux /proc; else None)."""
    import time

    try:
        total0, self0 = _busy_ticks(), _self_ticks()
        time.sleep(window_s)
        total1, self1 = _busy_ticks(), _self_ticks()
    except (OSError, ValueError, IndexError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    return max(0.0, (total1 - total0) - (self1 - self0)) / hz / window_s


def _busy_ticks() -> int:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]  # all but idle and iowait


def _self_ticks() -> int:
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime of all threads


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


@functools.cache
def reuse_freed_memory() -> bool:
    """Let glibc keep freed blocks of up to 32 MB for reuse instead of unmapping them.

    By default glibc serves large tensors (activations, attention scores, dtype
    casts) with a fresh ``mmap`` and unmaps them on free, so every training
    step page-faults its working set in again: an 11 MB bf16→fp32 softmax took
    8.3 ms instead of 1.6 ms here; LoRA training on the embedded model gained
    ~5% (within this machine's run-to-run noise), peak RSS unchanged (3535 vs
    3539 MB). This is the usual CPU advice (Intel's PyTorch tuning guide
    suggests jemalloc/tcmalloc for the same reason). Skipped when the user set
    ``MALLOC_*`` variables, and on C libraries without ``mallopt``. Returns
    whether it was applied.
    """
    if any(k.startswith("MALLOC_") for k in os.environ):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 * 2**20) and libc.mallopt(M_TRIM_THRESHOLD, 2**30))
    except (OSError, AttributeError):
        return False


def peak_rss_mb() -> float | None:
    """The process's peak resident set size in MiB: a high-water mark over its whole life."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 2**20 if sys.platform == "darwin" else kib / 1024  # macOS reports bytes


def current_rss_mb() -> float | None:
    """The resident set size now, in MiB (Linux ``/proc``; elsewhere the peak, an upper bound)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()
