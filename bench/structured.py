"""Structured outputs: what holding answers to a JSON schema costs, against the same free-text decode in one run.

    flock /tmp/genlab-heavy.lock python bench/structured.py [--new-tokens 48] [--rounds 3]

Extract fields from 16 ``support-summary`` dialogues (the embedded model, greedy, batch 16), once as free text
and once held to a JSON schema (``genlab.serving.structured``: llguidance masks every step of every row). The two
arms alternate ``--rounds`` times (this machine's speed drifts between minutes). Prints generated tokens/s of
each, the ratio, how many answers parse as JSON and hold to the schema, and the share of the constrained arm's
wall time spent in the grammar (computing masks, applying them, advancing the matchers). Answers that end early
leave fewer rows per decode step, so tokens/s alone mixes the grammar's cost with a smaller batch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from genlab.generation import GenerationConfig, generate
from genlab.models import load
from genlab.runtime import machine_line
from genlab.serving.structured import Matcher, constraint
from genlab.tasks import load_task

SCHEMA = {"type": "object", "additionalProperties": False,
          "required": ["customer", "order_number", "problem", "resolved"],
          "properties": {"customer": {"type": "string"}, "order_number": {"type": "string"},
                         "problem": {"type": "string"}, "resolved": {"type": "boolean"}}}


def holds(text: str) -> bool:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(value, dict) and set(value) == set(SCHEMA["required"]) and isinstance(value["resolved"], bool)


def timed(cls, name: str, spent: list[float]) -> None:
    """Wrap ``cls.name`` so the seconds spent in it add up in ``spent[0]``."""
    inner = getattr(cls, name)

    def wrapper(self, *args):
        t0 = time.perf_counter()
        try:
            return inner(self, *args)
        finally:
            spent[0] += time.perf_counter() - t0

    setattr(cls, name, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(machine_line())
    lm = load("smollm2-135m-instruct")
    dialogues = [r.prompt for r in load_task("support-summary").requests("test", n=16, chat=False)]
    prompts = [f"{d}\n\nAnswer in JSON with the customer's name, the order number, the problem and whether it was "
               "resolved." for d in dialogues]
    cfg = GenerationConfig(max_new_tokens=args.new_tokens)
    arms = {"free text": None, "JSON schema": constraint(schema=SCHEMA)}
    generate(lm, prompts[:2], cfg.replace(max_new_tokens=4), chat=True)  # warm-up
    rates: dict[str, list[float]] = {k: [] for k in arms}
    last: dict[str, list] = {}
    spent, grammar_share = [0.0], []
    for method in ("mask", "consume"):
        timed(Matcher, method, spent)
    for _ in range(args.rounds):
        for name, structure in arms.items():
            spent[0] = 0.0
            t0 = time.perf_counter()
            outs = generate(lm, prompts, cfg, chat=True, batch_size=16, structure=structure)
            secs = time.perf_counter() - t0
            rates[name].append(sum(o.new_tokens[0] for o in outs) / secs)
            last[name] = outs
            if structure is not None:
                grammar_share.append(spent[0] / secs)
    for name, outs in last.items():
        valid = sum(holds(o.text) for o in outs)
        stopped = sum(o.finish_reasons[0] == "stop" for o in outs)
        print(f"{name:12s} {statistics.median(rates[name]):7.1f} new tokens/s (median of {args.rounds}: "
              f"{', '.join(f'{r:.1f}' for r in rates[name])}); {valid}/16 hold to the schema, "
              f"{stopped}/16 ended before {args.new_tokens} tokens")
    ratio = statistics.median(rates["JSON schema"]) / statistics.median(rates["free text"])
    print(f"JSON schema / free text tokens/s: {ratio:.2f}x; time in the grammar: "
          f"{100 * statistics.median(grammar_share):.1f}% of the constrained arm's wall time")
    print("example:", last["JSON schema"][0].text)


if __name__ == "__main__":
    main()
