"""Find what makes two identical LoRA runs on the embedded model differ: toggle one lever at a time.

Each configuration runs twice, each time in a fresh process (as two CLI runs
would), a few optimizer steps on support-summary; the script prints, per lever,
whether the two runs agree bit for bit on the LoRA init, every step's loss and
grad norm, and the final trainable weights.

    python bench/repro_bisect.py                        # all levers, 3 steps each
    python bench/repro_bisect.py --levers base,threads1 --steps 4

Levers (each alone, on top of the defaults):
    unseeded    LoRA init without torch.manual_seed first (as tune() did)
    base        the loop as it ships, LoRA init seeded
    threads1    torch.set_num_threads(1)
    nofused     AdamW foreach instead of fused
    nodropout   torch's nn.Dropout instead of genlab's FastDropout
    p0          LoRA dropout 0
    nofrozenbf16  frozen Linear weights stay fp32 (autocast casts them)
    fp32        no autocast at all
    nomkldnn    torch.backends.mkldnn.enabled = False
    nomalloc    skip genlab.runtime.reuse_freed_memory
    deterministic  TrainConfig(deterministic=True), where that field exists
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time

LEVERS = ["unseeded", "base", "deterministic", "threads1", "nofused", "nodropout", "p0", "nofrozenbf16", "fp32", "nomkldnn", "nomalloc"]


def _digest(tensors) -> str:
    h = hashlib.sha256()
    for name, t in sorted(tensors.items()):
        h.update(name.encode())
        h.update(t.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def one_run(lever: str, steps: int, n: int, out: str) -> dict:
    import torch

    from genlab.models import load
    from genlab.tasks import load_task
    from genlab.tuning import TrainConfig, loop, methods, train
    from genlab.tuning.data import encode, pairs_of

    if lever == "threads1":
        torch.set_num_threads(1)
    if lever == "nomkldnn":
        torch.backends.mkldnn.enabled = False
    if lever == "nofused":
        loop.make_optimizer = lambda params, cfg: torch.optim.AdamW(params, lr=cfg.lr, foreach=True)
    if lever == "nodropout":
        loop.fast_dropout = lambda model: contextlib.nullcontext()
    if lever == "nofrozenbf16":
        loop.frozen_linears_in_bf16 = lambda model, precision: contextlib.nullcontext()
    if lever == "nomalloc":
        loop.reuse_freed_memory = lambda: False
    lm = load()
    pairs = pairs_of(load_task("support-summary").training_pairs("train", n=n, seed=3, tokenizer=lm.tokenizer))
    ex = encode(pairs, lm.tokenizer, "causal", 512)
    if lever != "unseeded":
        torch.manual_seed(3)  # the LoRA init (torch 2.13 seeds its default generator randomly per process)
    model = methods.apply("lora", lm.model, {"r": 8, **({"dropout": 0.0} if lever == "p0" else {})})
    init = _digest({k: v for k, v in model.named_parameters() if v.requires_grad})
    extra = {"deterministic": True} if lever == "deterministic" else {}
    cfg = TrainConfig(max_steps=steps, batch_size=4, seed=3, save_every=10_000, val_max_examples=None,
                      precision="fp32" if lever == "fp32" else "auto", **extra)
    t0 = time.perf_counter()
    res = train(model, lm.tokenizer, "causal", ex, [], cfg, out)
    rows = [r for r in res.history if "loss" in r]
    return {"lever": lever, "init": init, "final": _digest({k: v for k, v in model.named_parameters() if v.requires_grad}),
            "loss": [r["loss"] for r in rows], "grad_norm": [r["grad_norm"] for r in rows],
            "tok_s": res.tokens_per_s, "wall_s": round(time.perf_counter() - t0, 2),
            "threads": torch.get_num_threads()}


def compare(a: dict, b: dict) -> str:
    diffs = [k for k in ("init", "loss", "grad_norm", "final") if a[k] != b[k]]
    if not diffs:
        return "identical"
    first = next((i + 1 for i, (x, y) in enumerate(zip(a["loss"], b["loss"])) if x != y), None)
    return f"differ in {','.join(diffs)}" + (f" (loss from step {first})" if first else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levers", default=",".join(LEVERS))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--n", type=int, default=24, help="training examples")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # child process: run one lever, print JSON
    ap.add_argument("--out", default="/tmp/genlab-repro-bisect")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one, args.steps, args.n, args.out)))
        return
    for lever in args.levers.split(","):
        runs = []
        for k in range(args.repeats):
            cmd = [sys.executable, __file__, "--one", lever, "--steps", str(args.steps), "--n", str(args.n),
                   "--out", f"{args.out}/{lever}-{k}"]
            p = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
            if p.returncode != 0:
                print(f"{lever}: run failed\n{p.stderr[-2000:]}")
                break
            runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
        if len(runs) < 2:
            continue
        verdict = "; ".join(compare(runs[0], r) for r in runs[1:])
        print(f"{lever:14s} {verdict:44s} tok/s {' '.join(str(r['tok_s']) for r in runs)}  "
              f"loss {' | '.join(' '.join(f'{x:.6f}' for x in r['loss']) for r in runs)}")
        print(f"{'':14s} grad_norm {' | '.join(' '.join(f'{x:.6f}' for x in r['grad_norm']) for r in runs)}  "
              f"init {' '.join(r['init'] for r in runs)}", flush=True)


if __name__ == "__main__":
    main()
