"""One flag grammar: every command's options walked through click's introspection."""

from __future__ import annotations

import re
from collections import defaultdict

import typer


def _commands():
    """(path, click command) for every command and group of ``genlab``."""
    from genlab.cli import app

    root = typer.main.get_command(app)
    todo = [("genlab", root)]
    while todo:
        path, cmd = todo.pop()
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            todo.append((f"{path} {name}", sub))


def _options(cmd):
    for p in cmd.params:
        if getattr(p, "param_type_name", "") == "option" and "--help" not in p.opts:
            yield p


def test_a_short_flag_means_one_thing_everywhere():
    meanings = defaultdict(set)
    for path, cmd in _commands():
        for p in _options(cmd):
            shorts = [o for o in p.opts + p.secondary_opts if re.fullmatch(r"-[A-Za-z]", o)]
            for s in shorts:
                meanings[s].add(p.name)
    clashes = {s: sorted(names) for s, names in meanings.items() if len(names) > 1}
    assert not clashes, f"short flags with two meanings: {clashes}"
    assert meanings["-n"] == {"n"} and meanings["-t"] == {"task"} and meanings["-m"] == {"model"}


def test_precision_is_spelled_one_way():
    seen = []
    for path, cmd in _commands():
        for p in _options(cmd):
            opts = p.opts + p.secondary_opts
            if any(re.search(r"fp32|bf16|fp16|precision|dtype", o) for o in opts):
                if p.hidden:
                    continue  # --fp32: the older spelling, kept working, not shown
                assert opts == ["--precision"], f"{path}: precision spelled {opts}"
                seen.append(path)
    assert {"genlab eval", "genlab generate", "genlab prompt", "genlab tune", "genlab bench"} <= set(seen)


def test_every_visible_option_says_what_it_does():
    missing = [f"{path} {p.opts[0]}" for path, cmd in _commands() for p in _options(cmd)
               if not p.hidden and not (p.help or "").strip()]
    assert not missing, missing


def test_help_texts_name_commands_that_exist():
    paths = {path for path, _ in _commands()}
    named = set()
    for path, cmd in _commands():
        texts = [cmd.help or ""] + [p.help or "" for p in _options(cmd)]
        for text in texts:
            for m in re.finditer(r"`genlab ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", text):
                one = f"genlab {m.group(1)}"
                two = f"{one} {m.group(2)}" if m.group(2) else None
                assert one in paths, f"{path} help names `{one}`, which does not exist"
                named.add(two if two in paths else one)
    assert "genlab data tasks" in named  # --task's help points there


def test_commands_that_load_weights_for_the_user_take_trust_remote_code():
    """Every command that loads a model's weights, config or tokenizer for the user offers the same opt-in."""
    wanted = {"genlab eval", "genlab prompt", "genlab generate", "genlab tune", "genlab inspect next-token",
              "genlab inspect attention", "genlab inspect similarity", "genlab bench", "genlab plan", "genlab tour",
              "genlab data stats", "genlab data show", "genlab merge", "genlab tokenize"}
    found = {path: any("--trust-remote-code" in p.opts for p in _options(cmd))
             for path, cmd in _commands() if path in wanted}
    assert set(found) == wanted, f"commands not found: {wanted - set(found)}"
    assert all(found.values()), f"without --trust-remote-code: {[p for p, ok in found.items() if not ok]}"
