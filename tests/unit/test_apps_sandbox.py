"""Red-team suite for the PAL sandbox: every attack blocked or killed within 2 s, the parent unharmed.

Each attack runs twice where that makes sense: through ``run_python`` (the AST check refuses it
before any process starts) and through ``_execute`` (no AST check: the process layers alone,
reached through the classic ``__subclasses__`` escape to ``os``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from genlab.apps.sandbox import SandboxLimits, _execute, check_program, run_python
from genlab.errors import ConfigError

SECRET = "genlab-sandbox-secret-4711"

# attack name -> program; all must be refused by the AST check (blocked=True).
STATIC_ATTACKS = {
    "import os": "import os\nprint(os.listdir('/'))",
    "import subprocess": "import subprocess\nsubprocess.run(['id'])",
    "import socket": "import socket\nsocket.create_connection(('1.1.1.1', 80))",
    "from os import": "from os import system\nsystem('id')",
    "relative import": "from . import x",
    "open /etc/passwd": "print(open('/etc/passwd').read())",
    "subclasses escape": "print(().__class__.__base__.__subclasses__())",
    "globals escape": "def f(): pass\nprint(f.__globals__)",
    "builtins name": "print(__builtins__)",
    "__import__": "__import__('os').system('id')",
    "eval": "eval('1+1')",
    "exec": "exec('x=1')",
    "compile": "compile('1', 'x', 'eval')",
    "getattr string": "getattr((), '__class__')",
    "format string attributes": "print('{0.__class__}'.format(1))",
    "frame walk": "g = (i for i in [1])\nprint(g.gi_frame.f_back)",
    "fork bomb": "import os\nwhile True:\n    os.fork()",
    "environment": "import os\nprint(os.environ)",
    "write outside": "with open('/tmp/genlab-sandbox-pwned', 'w') as f:\n    f.write('x')",
    "private attribute": "import random\nprint(random._os)",
}

ESCAPE = """
for c in ().__class__.__base__.__subclasses__():
    if c.__name__ == '_wrap_close':
        g = c.__init__.__globals__
        b = g['__builtins__']
        break
"""

# attack name -> (program run WITHOUT the AST check, text the result must contain)
RUNTIME_ATTACKS = {
    "fork through escape": (ESCAPE + "g['fork']()", "os.fork is not allowed"),
    "system through escape": (ESCAPE + "g['system']('touch /tmp/genlab-sandbox-pwned')", "os.system is not allowed"),
    "open /etc/passwd through escape": (ESCAPE + "print(b['open']('/etc/passwd').read())", "open is not allowed"),
    "write outside through escape": (ESCAPE + "b['open']('/tmp/genlab-sandbox-pwned', 'w')", "open is not allowed"),
    "socket through escape": (ESCAPE + "b['__import__']('socket')", "import is not allowed"),
    "subprocess through escape": (ESCAPE + "b['__import__']('subprocess')", "import is not allowed"),
    "listdir through escape": (ESCAPE + "print(g['listdir']('/'))", "os.listdir is not allowed"),
    "import os without check": ("import os", "import of 'os' is not allowed"),
    "open without check": ("open('/etc/passwd')", "NameError"),
    "module attribute to sys": ("import datetime\nprint(datetime.sys.modules['os'])", "AttributeError"),
}

# attack name -> (program that passes the AST check, expected killed_by)
RESOURCE_ATTACKS = {
    "infinite loop": ("while True:\n    pass", "cpu"),
    "memory bomb": ("x = bytearray(10 ** 10)", "memory"),
    "growing memory bomb": ("chunks = []\nwhile True:\n    chunks.append(' ' * 10 ** 6)", "memory"),
    "print flood": ("while True:\n    print('x' * 1000)", "output"),
    "huge power": ("print(len(str(9 ** 9 ** 9)))", "cpu"),
}


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}


@pytest.fixture(autouse=True)
def parent_state(monkeypatch):
    """Every attack must leave the parent's cwd, environment and the file system as they were."""
    monkeypatch.setenv("GENLAB_SANDBOX_SECRET", SECRET)
    cwd, env = os.getcwd(), _env()
    pwned = Path("/tmp/genlab-sandbox-pwned")
    pwned.unlink(missing_ok=True)
    yield
    assert os.getcwd() == cwd and _env() == env
    assert not pwned.exists()
    with pytest.raises(ChildProcessError):  # no child process left behind (all reaped)
        os.waitpid(-1, os.WNOHANG)


@pytest.mark.parametrize("name", list(STATIC_ATTACKS))
def test_static_attack_is_blocked_before_running(name):
    start = time.perf_counter()
    result = run_python(STATIC_ATTACKS[name])
    assert time.perf_counter() - start < 2.0
    assert not result.ok and result.blocked and result.error.startswith("blocked: line ")


@pytest.mark.parametrize("name", list(RUNTIME_ATTACKS))
def test_runtime_layers_hold_without_the_ast_check(name):
    program, expected = RUNTIME_ATTACKS[name]
    start = time.perf_counter()
    result = _execute(program, SandboxLimits())
    assert time.perf_counter() - start < 2.0
    assert not result.ok and expected in result.error, result


@pytest.mark.parametrize("name", list(RESOURCE_ATTACKS))
def test_resource_attack_is_killed_within_two_seconds(name):
    program, killed_by = RESOURCE_ATTACKS[name]
    assert check_program(program) is None  # these get past the AST check: the limits must stop them
    start = time.perf_counter()
    result = run_python(program)
    assert time.perf_counter() - start < 2.0
    assert not result.ok and result.killed_by == killed_by, result


def test_environment_is_scrubbed_even_through_an_escape():
    result = _execute(ESCAPE + "print(dict(g['environ']))", SandboxLimits())
    assert result.ok and SECRET not in result.stdout and "PATH" not in result.stdout


def test_working_directory_is_a_fresh_temp_dir_removed_after_the_run():
    result = _execute(ESCAPE + "print(g['getcwd']())", SandboxLimits())
    workdir = Path(result.stdout.strip())
    assert result.ok and workdir.name.startswith("genlab-sandbox-")
    assert not workdir.exists()


def test_wall_clock_timeout_kills_a_program_that_waits():
    # a blocking read of stdin (closed by the parent) cannot hang; use a tight wall limit on busy work
    limits = SandboxLimits(cpu_seconds=5, wall_seconds=0.5)
    start = time.perf_counter()
    result = run_python("while True:\n    pass", limits)
    assert time.perf_counter() - start < 2.0
    assert result.killed_by == "timeout" and not result.ok


@pytest.mark.parametrize("program, expected", [
    ("print(2 + 3)", "5"),
    ("import math\nprint(round(math.sqrt(2) * 100, 2))", "141.42"),
    ("from fractions import Fraction\nprint(Fraction(3, 4) + Fraction(1, 4))", "1"),
    ("from decimal import Decimal\nprint(Decimal('19.99') * 3)", "59.97"),
    ("import datetime\nprint((datetime.date(2024, 3, 1) - datetime.date(2024, 2, 1)).days)", "29"),
    ("from collections import Counter\nprint(Counter('abca').most_common(1)[0][0])", "a"),
    ("def total(prices):\n    return sum(prices)\nprint(f'{total([1.5, 2.25]):.2f}')", "3.75"),
    ("class Cart:\n    def __init__(self):\n        self.items = [4, 5]\nprint(sum(Cart().items))", "9"),
    ("import statistics\nprint(statistics.median([3, 1, 2]))", "2"),
    ("print('{:.2f}'.format(2.5))", "2.50"),
])
def test_normal_programs_work(program, expected):
    result = run_python(program)
    assert result.ok, result
    assert result.stdout.strip() == expected and result.error is None and result.killed_by is None


def test_errors_in_programs_are_reported_with_a_line():
    result = run_python("x = 1\ny = x / 0")
    assert not result.ok and result.error.startswith("ZeroDivisionError (line 2)") and result.killed_by is None
    syntax = run_python("print(")
    assert not syntax.ok and syntax.error.startswith("SyntaxError") and not syntax.blocked


def test_partial_output_survives_an_error():
    result = run_python("print(42)\nraise ValueError('late')")
    assert result.stdout.strip() == "42" and "ValueError" in result.error


def test_limits_are_validated():
    with pytest.raises(ConfigError, match="cpu_seconds"):
        SandboxLimits(cpu_seconds=0)
    with pytest.raises(ConfigError, match="allow-list"):
        SandboxLimits(modules=("os",))
    assert run_python("import math", SandboxLimits(modules=("json",))).blocked
