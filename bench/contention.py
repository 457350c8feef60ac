"""Throughput when the CPU is shared: generation and LoRA training with 0, 1, 2 competing busy processes.

    flock /tmp/genlab-heavy.lock python bench/contention.py
    flock /tmp/genlab-heavy.lock python bench/contention.py --env OMP_WAIT_POLICY=ACTIVE   # as a spinning setup would

The measurement runs in a child process (so ``--env`` is in place before torch
starts its thread pool): it loads the embedded model, warms up, then for each
load level starts that many plain Python busy loops (``while True: pass``,
bounded to ``--busy-limit`` seconds and killed when the level is measured),
generates ``--prompts`` greedy completions (one batch) and runs
``--train-steps`` LoRA steps, and prints tokens/s and the slowdown against the
quiet machine. The quiet level is measured again at the end to show drift.
Run it under the heavy lock so no other job is counted as a competitor.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prompts import PROMPTS  # bench/prompts.py: the same prompts as bench/generate.py

BUSY = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"


class Busy:
    """``n`` competing CPU-bound Python processes for the block, each bounded in time and killed at exit."""

    def __init__(self, n: int, limit: float):
        self.n, self.limit, self.procs = n, limit, []

    def __enter__(self) -> "Busy":
        code = BUSY.format(limit=self.limit)
        self.procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(self.n)]
        time.sleep(0.5 if self.n else 0)  # let them start spinning
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def measure_generation(lm, n_prompts: int, new_tokens: int) -> float:
    from genlab.generation import GenerationConfig, generate

    t = time.perf_counter()
    out = generate(lm, PROMPTS[:n_prompts], GenerationConfig(max_new_tokens=new_tokens), chat=True)
    wall = time.perf_counter() - t
    return sum(sum(g.new_tokens) for g in out) / wall


def measure_training(model, tokenizer, examples, steps: int, out: Path) -> float:
    from genlab.tuning import TrainConfig, train

    cfg = TrainConfig(max_steps=steps, batch_size=4, seed=0, save_every=10_000, warmup_ratio=0.0)
    return train(model, tokenizer, "causal", examples, [], cfg, out).tokens_per_s


def worker(args) -> dict:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from genlab.models import load
    from genlab.tasks import load_task
    from genlab.tuning import methods
    from genlab.tuning.data import encode, pairs_of

    lm = load()
    levels = [int(x) for x in args.busy.split(",")] + [0]  # quiet again at the end: drift check
    rows = {"threads": torch.get_num_threads(), "parallel": _parallel_env(), "gen": [], "train": []}
    measure_generation(lm, 2, 4)  # warm-up
    for n in levels if "gen" in args.what else []:
        with Busy(n, args.busy_limit):
            rows["gen"].append((n, measure_generation(lm, args.prompts, args.new_tokens)))
    if "train" not in args.what:
        return rows
    pairs = pairs_of(load_task("support-summary").training_pairs("train", n=4 * args.train_steps, seed=0,
                                                                 tokenizer=lm.tokenizer))
    ex = encode(pairs, lm.tokenizer, "causal", 512)
    model = methods.apply("lora", lm.model, {"r": 8})
    with tempfile.TemporaryDirectory() as tmp:
        measure_training(model, lm.tokenizer, ex[:4], 1, Path(tmp) / "warm")
        for k, n in enumerate(levels):
            with Busy(n, args.busy_limit):
                rows["train"].append((n, measure_training(model, lm.tokenizer, ex, args.train_steps,
                                                          Path(tmp) / str(k))))
    return rows


def _parallel_env() -> str:
    import torch

    keys = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_NUM_THREADS")
    info = torch.__config__.parallel_info()
    backend = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if "parallel backend" in ln), "?")
    return f"backend={backend} " + " ".join(f"{k}={os.environ.get(k, '-')}" for k in keys)


def table(rows: dict) -> str:
    lines = [f"threads={rows['threads']} {rows['parallel']} cores={len(os.sched_getaffinity(0))}",
             f"{'busy procs':>10} {'gen tok/s':>10} {'slowdown':>8} {'train tok/s':>11} {'slowdown':>8}"]
    n_levels = max(len(rows["gen"]), len(rows["train"]))
    gen = rows["gen"] or [(n, float("nan")) for n, _ in rows["train"]]
    train = rows["train"] or [(n, float("nan")) for n, _ in rows["gen"]]
    for (n, g), (_, t) in zip(gen, train):
        lines.append(f"{n:>10} {g:>10.1f} {gen[0][1] / g:>7.2f}x {t:>11.1f} {train[0][1] / t:>7.2f}x")
    assert len(lines) == n_levels + 2
    lines[-1] += "   (quiet again: drift check)"
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--busy", default="0,1,2", help="competing busy processes per level")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--what", default="gen,train", help="gen, train or both")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads in the worker (0: torch's choice)")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the worker (repeatable)")
    ap.add_argument("--busy-limit", type=float, default=120.0, help="seconds a busy process may live at most")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args)))
        return
    env = dict(os.environ)
    for kv in args.env:
        k, _, v = kv.partition("=")
        env[k] = v
    cmd = [sys.executable, __file__, "--worker", *sys.argv[1:]]
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit(f"worker failed:\n{p.stderr[-3000:]}")
    rows = json.loads(next(ln for ln in p.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    print(f"env: {' '.join(args.env) or '(as is)'}  wall {time.perf_counter() - t:.0f} s")
    print(table(rows))


if __name__ == "__main__":
    main()
