"""Generation throughput: genlab vs plain transformers `generate`, same model, same prompts.

    python bench/generate.py [--model smollm2-135m-instruct] [--new-tokens 64] [--batch-invariant]

Plain transformers runs with default settings twice: on fp32 weights, and on
the same bf16 weights genlab uses (the fair peer: bf16 is its best setting on
this CPU); genlab runs with its defaults (bf16 where the CPU supports it,
length-sorted batches, packed linears). Prints tokens/s for batch 1 and batch 16,
the ratios, and how many greedy outputs match each peer's text exactly; then how many
batch-16 texts of each side equal its own one-at-a-time texts (``--batch-invariant``: genlab
decodes with per-row attention, ``genlab.generation.invariant``).
"""

from __future__ import annotations

import argparse
import time

import torch

from genlab.generation import GenerationConfig, generate
from genlab.models import load
from genlab.runtime import machine_line
from prompts import PROMPTS  # bench/prompts.py: the same prompts for every generation bench


def plain_transformers(lm, prompts, new_tokens, batch_size):
    """The peer: fp32, tokenizer + model.generate with default settings, batches in given order."""
    tok, model = lm.tokenizer, lm.model
    texts, n_tokens = [], 0
    for s in range(0, len(prompts), batch_size):
        chunk = [tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                         tokenize=False) for p in prompts[s:s + batch_size]]
        enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        for row in new:
            texts.append(tok.decode(row, skip_special_tokens=True))
            n_tokens += _generated(row, tok)
    return texts, n_tokens


def _generated(row, tok) -> int:
    hits = (row == tok.eos_token_id).nonzero()
    return int(hits[0]) + 1 if len(hits) else len(row)


def genlab_run(lm, prompts, new_tokens, batch_size, invariant=False):
    outs = generate(lm, prompts, GenerationConfig(max_new_tokens=new_tokens), chat=True, batch_size=batch_size,
                    batch_invariant=invariant)
    return [o.text for o in outs], sum(o.new_tokens[0] for o in outs)


def timed(fn, *args):
    t = time.perf_counter()
    texts, n = fn(*args)
    return texts, n, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--batch-invariant", action="store_true",
                    help="genlab decodes batch-invariant (genlab.generation.invariant)")
    args = ap.parse_args()
    lm = load(args.model, precision="fp32")  # fp32: the peer's setting
    ours = load(args.model)  # genlab's default: bf16 weights where fast
    torch.set_num_threads(torch.get_num_threads())
    genlab_run(ours, PROMPTS[:2], 4, 2)  # warm-up every path once
    plain_transformers(lm, PROMPTS[:2], 4, 2)
    plain_transformers(ours, PROMPTS[:2], 4, 2)
    print(machine_line())
    print(f"model={args.model} new_tokens={args.new_tokens} threads={torch.get_num_threads()} "
          f"genlab dtype={next(ours.model.parameters()).dtype} batch_invariant={args.batch_invariant}")
    texts16 = {}
    print(f"{'batch':>5} {'prompts':>7} {'peer fp32':>10} {'peer bf16':>10} {'genlab':>8} {'vs fp32':>8} "
          f"{'vs bf16':>8} {'same fp32':>9} {'same bf16':>9}   (tokens/s)")
    for batch, prompts in [(1, PROMPTS[:4]), (16, PROMPTS)]:
        peer_texts, peer_n, peer_t = timed(plain_transformers, lm, prompts, args.new_tokens, batch)
        bf_texts, bf_n, bf_t = timed(plain_transformers, ours, prompts, args.new_tokens, batch)  # same bf16 weights
        ours_texts, ours_n, ours_t = timed(genlab_run, ours, prompts, args.new_tokens, batch, args.batch_invariant)
        texts16 = {"genlab": ours_texts, "peer bf16": bf_texts}
        same = sum(a == b for a, b in zip(peer_texts, ours_texts))
        same_bf = sum(a == b for a, b in zip(bf_texts, ours_texts))
        print(f"{batch:>5} {len(prompts):>7} {peer_n / peer_t:>10.1f} {bf_n / bf_t:>10.1f} {ours_n / ours_t:>8.1f} "
              f"{(ours_n / ours_t) / (peer_n / peer_t):>7.2f}x {(ours_n / ours_t) / (bf_n / bf_t):>7.2f}x "
              f"{same:>6}/{len(prompts)} {same_bf:>6}/{len(prompts)}")
    # each side against itself: the batch-16 texts vs the same prompts one at a time
    alone = {"genlab": genlab_run(ours, PROMPTS, args.new_tokens, 1, args.batch_invariant)[0],
             "peer bf16": plain_transformers(ours, PROMPTS, args.new_tokens, 1)[0]}
    for side, texts in alone.items():
        same = sum(a == b for a, b in zip(texts16[side], texts))
        print(f"{side}: batch-16 greedy text equal to one-at-a-time on {same}/{len(PROMPTS)} prompts")


if __name__ == "__main__":
    main()
