"""The sandbox's child side: run one untrusted program under `python -I -S`.

Executed as a script, never imported by genlab (it must not need genlab on the path).
The parent has already checked the program's AST; this file adds the run-time
layers that hold even if that check were fooled:

1. ``resource`` limits (CPU, address space, file size, processes, open files),
2. privileges dropped to ``nobody`` when started as root (root ignores RLIMIT_NPROC),
3. restricted builtins and an ``__import__`` that hands out public, module-free
   copies of allow-listed modules (``datetime.sys`` would otherwise reach ``os``),
4. an audit hook (PEP 578) that refuses file, process, socket and import events;
   audit hooks cannot be removed once added.

Protocol: argv[1] is a JSON object of limits and allowed modules, stdin is the
program, the program's prints go to stdout (capped), and a failure is reported as
one JSON line on stderr: ``{"error": "...", "kind": "..."}``.
"""

import json
import os
import resource
import sys
import types

DENIED_EVENTS = ("open", "os.", "subprocess.", "socket.", "ctypes.", "shutil.", "import", "compile",
                 "marshal.", "pickle.", "sys._getframe", "sys.settrace", "sys.setprofile", "builtins.input",
                 "code.__new__", "function.__new__", "urllib.", "webbrowser.", "cpython.run_", "gc.")

SAFE_BUILTINS = (
    "abs all any ascii bin bool bytearray bytes callable chr classmethod complex dict divmod enumerate "
    "filter float format frozenset hash hex int isinstance issubclass iter len list map max min next "
    "object oct ord pow print property range repr reversed round set slice sorted staticmethod str sum "
    "super tuple zip True False None NotImplemented Ellipsis "
    "ArithmeticError AssertionError AttributeError BaseException Exception IndexError KeyError "
    "LookupError NameError OverflowError RuntimeError StopIteration TypeError ValueError ZeroDivisionError"
).split()


class OutputLimit(Exception):
    pass


class CappedStdout:
    """Pass prints through to the real stdout until ``limit`` characters, then stop the program."""

    def __init__(self, stream, limit: int):
        self.stream, self.left = stream, limit

    def write(self, text: str) -> int:
        self.left -= len(text)
        if self.left < 0:
            raise OutputLimit("the program printed more than the output limit")
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def set_limits(cfg: dict) -> None:
    cpu = int(cfg["cpu_seconds"])
    mem = int(cfg["memory_mb"]) * 1024 * 1024
    fsize = int(cfg["file_size_kb"]) * 1024
    for which, soft, hard in ((resource.RLIMIT_CPU, cpu, cpu + 1), (resource.RLIMIT_AS, mem, mem),
                              (resource.RLIMIT_FSIZE, fsize, fsize), (resource.RLIMIT_CORE, 0, 0),
                              (resource.RLIMIT_NOFILE, 8, 8),
                              (resource.RLIMIT_NPROC, cfg["processes"], cfg["processes"])):
        resource.setrlimit(which, (soft, hard))


def drop_root() -> None:
    """Root ignores RLIMIT_NPROC and may write anywhere: become ``nobody`` first."""
    if os.geteuid() != 0:
        return
    try:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    except OSError:  # no CAP_SETUID (some containers): the audit hook still refuses forks and files
        pass


def safe_module(module: types.ModuleType) -> types.SimpleNamespace:
    public = {k: v for k, v in vars(module).items()
              if not k.startswith("_") and not isinstance(v, types.ModuleType)}
    return types.SimpleNamespace(**public)


def make_import(modules: dict):
    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level != 0 or name not in modules:
            raise ImportError(f"import of {name!r} is not allowed in the sandbox")
        return modules[name]
    return guarded_import


def make_hook():
    armed = [False, False]  # (armed, our one exec seen); a closure cell the program cannot name

    def hook(event, args):
        if not armed[0]:
            return
        if event == "exec":
            if armed[1]:
                raise PermissionError("sandbox: exec is not allowed")
            armed[1] = True
            return
        if event.startswith(DENIED_EVENTS):
            raise PermissionError(f"sandbox: {event} is not allowed")

    return hook, armed


def report(kind: str, error: str) -> None:
    sys.stderr.write("\n" + json.dumps({"kind": kind, "error": error}) + "\n")
    sys.stderr.flush()


def describe(exc: BaseException) -> str:
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<program>":
            line = tb.tb_lineno
        tb = tb.tb_next
    where = f" (line {line})" if line else ""
    return f"{type(exc).__name__}{where}: {exc}"


def main() -> None:
    cfg = json.loads(sys.argv[1])
    source = sys.stdin.read()
    modules = {name: safe_module(__import__(name)) for name in cfg["modules"]}
    code = compile(source, "<program>", "exec")
    import builtins
    safe = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
    safe["__import__"] = make_import(modules)
    safe["__build_class__"] = builtins.__build_class__
    program_globals = {"__builtins__": safe, "__name__": "__main__"}
    stdout = CappedStdout(sys.stdout, int(cfg["max_output_chars"]))
    sys.stdout = stdout
    set_limits(cfg)
    drop_root()
    hook, armed = make_hook()
    sys.addaudithook(hook)
    armed[0] = True
    try:
        exec(code, program_globals)
        stdout.flush()
    except MemoryError:
        report("memory", "MemoryError: the program ran past its memory limit")
        sys.exit(3)
    except OutputLimit as exc:
        report("output", f"OutputLimit: {exc}")
        sys.exit(4)
    except RecursionError as exc:
        report("error", describe(exc))
        sys.exit(1)
    except BaseException as exc:  # SystemExit too: the program has no business exiting us early
        report("error", describe(exc))
        sys.exit(1)


if __name__ == "__main__":
    main()
