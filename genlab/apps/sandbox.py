"""Run untrusted Python (a model's PAL program, a calculator expression) in a sandbox.

Layers, outermost first (in-process "safe" executors have had repeated escapes, so
the program never runs in the caller's process):

- an AST check before anything runs: imports from an allow-list only; no dunder or
  frame/traceback attributes (``().__class__.__base__.__subclasses__()``); no
  ``open``/``exec``/``eval``/``compile``/``__import__``/``getattr``...; no ``"__"``
  inside string constants (``"{0.__class__}".format(x)`` reads attributes too);
- a separate ``python -I -S`` process: isolated mode, empty environment, a fresh
  empty temporary working directory, its own session (killed as a group);
- in that process (see ``_sandbox_child.py``): ``resource`` limits on CPU time,
  address space, file size, processes and open files; root dropped to ``nobody``;
  restricted builtins; an audit hook refusing file, process, socket and import events;
- a wall-clock timeout in the parent.

The answer comes back through stdout (what the program printed).
"""

from __future__ import annotations

import ast
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from genlab.errors import ConfigError

CHILD = Path(__file__).with_name("_sandbox_child.py")

ALLOWED_MODULES = ("math", "cmath", "statistics", "fractions", "decimal", "datetime", "itertools",
                   "functools", "collections", "re", "string", "operator", "heapq", "bisect", "random",
                   "calendar", "json", "textwrap")
BLOCKED_NAMES = frozenset({
    "open", "exec", "eval", "compile", "__import__", "globals", "locals", "vars", "getattr", "setattr",
    "delattr", "input", "breakpoint", "help", "exit", "quit", "memoryview", "type", "dir", "__builtins__",
})
# Attributes without underscores that still walk from a value to frames, code and globals.
BLOCKED_ATTRIBUTES = frozenset({
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code",
    "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "tb_frame", "tb_next", "mro", "format_map",
})


@dataclass(frozen=True)
class SandboxLimits:
    """What one program may use. Defaults suit arithmetic programs: a second of CPU, 256 MiB."""

    cpu_seconds: float = 1.0
    wall_seconds: float = 1.5
    memory_mb: int = 256
    file_size_kb: int = 1024
    processes: int = 0
    max_output_chars: int = 65_536
    max_code_chars: int = 20_000
    modules: tuple[str, ...] = ALLOWED_MODULES

    def __post_init__(self) -> None:
        for name in ("cpu_seconds", "wall_seconds", "memory_mb", "file_size_kb", "max_output_chars",
                     "max_code_chars"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"sandbox limit {name} must be > 0, got {getattr(self, name)!r}")
        unknown = set(self.modules) - set(ALLOWED_MODULES)
        if unknown:
            raise ConfigError(f"sandbox modules {sorted(unknown)} are not on the allow-list",
                              hint=f"choose among {', '.join(ALLOWED_MODULES)}")


@dataclass(frozen=True)
class SandboxResult:
    """``ok``: ran to the end. ``error``: why not (``blocked: ...`` when refused before running).
    ``killed_by``: ``timeout``, ``cpu``, ``memory``, ``output``, ``file_size`` or a signal name."""

    ok: bool
    stdout: str
    error: str | None = None
    killed_by: str | None = None
    elapsed_s: float = 0.0
    blocked: bool = field(default=False)

    def to_dict(self) -> dict:
        return asdict(self)


class Policy(ast.NodeVisitor):
    """Collects every reason to refuse a program (the first one is reported)."""

    def __init__(self, modules: tuple[str, ...]):
        self.modules, self.problems = set(modules), []

    def refuse(self, node: ast.AST, why: str) -> None:
        self.problems.append(f"line {getattr(node, 'lineno', '?')}: {why}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name not in self.modules:
                self.refuse(node, f"import of {alias.name!r} is not allowed")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or node.module not in self.modules:
            self.refuse(node, f"import from {node.module or '.'!r} is not allowed")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in BLOCKED_NAMES or node.id.startswith("__"):
            self.refuse(node, f"name {node.id!r} is not allowed")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_") or node.attr in BLOCKED_ATTRIBUTES:
            self.refuse(node, f"attribute {node.attr!r} is not allowed")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, (str, bytes)) and ("__" in str(node.value)):
            self.refuse(node, "strings containing '__' are not allowed")

    def visit_Global(self, node: ast.Global) -> None:
        self.refuse(node, "'global' is not allowed")


def check_program(code: str, limits: SandboxLimits | None = None) -> str | None:
    """Why the program is refused before running, or None when it may run."""
    limits = limits or SandboxLimits()
    if len(code) > limits.max_code_chars:
        return f"program longer than {limits.max_code_chars} characters"
    try:
        tree = ast.parse(code, "<program>")
    except SyntaxError as exc:
        return f"SyntaxError (line {exc.lineno}): {exc.msg}"
    policy = Policy(limits.modules)
    policy.visit(tree)
    return policy.problems[0] if policy.problems else None


def run_python(code: str, limits: SandboxLimits | None = None) -> SandboxResult:
    """Check ``code`` and run it in a fresh sandboxed process; what it printed is the answer."""
    limits = limits or SandboxLimits()
    problem = check_program(code, limits)
    if problem is not None:
        syntax = problem.startswith("SyntaxError")
        return SandboxResult(ok=False, stdout="", error=problem if syntax else f"blocked: {problem}",
                             blocked=not syntax)
    return _execute(code, limits)


def _execute(code: str, limits: SandboxLimits) -> SandboxResult:
    """Run without the AST check: only the process layers. Tests call this to prove those layers hold alone."""
    cfg = {**asdict(limits), "cpu_seconds": math.ceil(limits.cpu_seconds), "modules": list(limits.modules)}
    workdir = tempfile.mkdtemp(prefix="genlab-sandbox-")
    start = time.perf_counter()
    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            returncode, timed_out = _spawn(code, cfg, workdir, out, err, limits.wall_seconds)
            elapsed = time.perf_counter() - start
            stdout = _read(out, limits.max_output_chars)
            stderr = _read(err, 8192)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return _result(returncode, timed_out, stdout, stderr, elapsed)


def _spawn(code: str, cfg: dict, workdir: str, out, err, wall: float) -> tuple[int, bool]:
    cmd = [sys.executable, "-I", "-S", str(CHILD), json.dumps(cfg)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=err, cwd=workdir, env={},
                            start_new_session=True, close_fds=True)
    try:
        proc.communicate(code.encode("utf-8"), timeout=wall)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    _kill_group(proc.pid)
    proc.wait()
    return proc.returncode, timed_out


def _kill_group(pgid: int) -> None:
    """The child leads its own session: kill it and anything it managed to start."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read(handle, limit: int) -> str:
    handle.seek(0)
    return handle.read(limit * 4).decode("utf-8", errors="replace")[:limit]


def _result(returncode: int, timed_out: bool, stdout: str, stderr: str, elapsed: float) -> SandboxResult:
    if timed_out:
        return SandboxResult(False, stdout, "the program ran past its wall-clock limit", "timeout", elapsed)
    if returncode == 0:
        return SandboxResult(True, stdout, None, None, elapsed)
    if returncode < 0:
        sig = signal.Signals(-returncode)
        killed = {signal.SIGXCPU: "cpu", signal.SIGXFSZ: "file_size"}.get(sig, sig.name)
        if sig == signal.SIGKILL:  # the hard CPU limit sends SIGKILL after SIGXCPU was ignored
            killed = "cpu"
        return SandboxResult(False, stdout, f"killed by {sig.name} ({killed} limit)", killed, elapsed)
    report = _last_report(stderr)
    kind = report.get("kind")
    killed = kind if kind in ("memory", "output") else None
    return SandboxResult(False, stdout, report.get("error") or stderr.strip()[-500:] or f"exit {returncode}",
                         killed, elapsed)


def _last_report(stderr: str) -> dict:
    for line in reversed(stderr.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "error" in value:
            return value
    return {}


__all__ = ["ALLOWED_MODULES", "SandboxLimits", "SandboxResult", "check_program", "run_python"]
