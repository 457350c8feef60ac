"""Prefix caching: 16 questions behind one long shared context (a RAG-style prompt), genlab with and without
prefix caching, and plain transformers ``generate`` on the same prompts (the peer), in one run.

    flock /tmp/genlab-heavy.lock python bench/prefix.py [--new-tokens 16] [--rounds 3]

The context is four ``support-summary`` dialogues (~590 tokens with the chat template); each prompt adds a
different question. genlab's two arms alternate ``--rounds`` times in this process (this machine's speed
drifts between minutes); the peer runs once, batch 16. Prints wall times, the ratios, and how many greedy
answers equal the other arm's and the peer's.
"""

from __future__ import annotations

import argparse
import statistics
import time

from generate import plain_transformers  # bench/generate.py: the peer as a user would call it
from genlab.generation import GenerationConfig, generate
from genlab.models import load
from genlab.runtime import machine_line
from genlab.tasks import load_task


def prompts() -> tuple[str, list[str]]:
    docs = [r.prompt for r in load_task("support-summary").requests("test", n=4, chat=False)]
    context = "Answer from these support logs.\n\n" + "\n\n".join(docs)
    questions = [f"Question {i}: which order numbers appear in log {i % 4 + 1}, and what was promised?"
                 for i in range(16)]
    return context, [context + "\n\n" + q for q in questions]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(machine_line())
    lm = load("smollm2-135m-instruct")
    context, texts = prompts()
    cfg = GenerationConfig(max_new_tokens=args.new_tokens)
    print(f"model smollm2-135m-instruct ({next(lm.model.parameters()).dtype}) · {len(texts)} prompts sharing "
          f"{len(lm.tokenizer(context)['input_ids'])} context tokens · {args.new_tokens} greedy new tokens · batch 16")
    generate(lm, texts[:1], cfg.replace(max_new_tokens=1), chat=True)  # warm-up
    walls: dict[bool, list[float]] = {True: [], False: []}
    answers: dict[bool, list[str]] = {}
    for i in range(2 * args.rounds):
        on = i % 2 == 0
        t = time.perf_counter()
        outs = generate(lm, texts, cfg, chat=True, prefix_caching=on)
        walls[on].append(time.perf_counter() - t)
        answers.setdefault(on, [o.text for o in outs])
    t = time.perf_counter()
    peer, _ = plain_transformers(lm, texts, args.new_tokens, 16)
    peer_wall = time.perf_counter() - t
    on, off = statistics.median(walls[True]), statistics.median(walls[False])
    print(f"genlab, prefix caching on   {on:7.2f} s  (runs {', '.join(f'{w:.2f}' for w in walls[True])})")
    print(f"genlab, prefix caching off  {off:7.2f} s  (runs {', '.join(f'{w:.2f}' for w in walls[False])})")
    print(f"transformers generate       {peer_wall:7.2f} s")
    same = sum(a == b for a, b in zip(answers[True], answers[False]))
    same_peer = sum(a == b for a, b in zip(answers[True], peer))
    print(f"on vs off: {off / on:.2f}x · on vs transformers generate: {peer_wall / on:.2f}x · same greedy text: "
          f"{same}/{len(texts)} vs off, {same_peer}/{len(texts)} vs transformers")


if __name__ == "__main__":
    main()
