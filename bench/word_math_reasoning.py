"""word-math: direct vs chain-of-thought vs self-consistency vs PAL, base model and a PAL LoRA adapter.

Each step fits one hold of the shared lock (a few minutes on 2 cores); run them in order:

    python bench/word_math_reasoning.py base  --n 40   # direct, cot, sc (k=3), pal (3-shot) on the base model
    python bench/word_math_reasoning.py tune  --train 400   # LoRA on problem -> program pairs (PAL format)
    python bench/word_math_reasoning.py tuned --n 40   # pal (0-shot) with the adapter, then the table
    python bench/word_math_reasoning.py table          # the table again, from the run folders

The table gives answer accuracy with 95% bootstrap intervals, and the paired-bootstrap
delta of every run against base CoT (the issue's target: PAL >= CoT + 10 points).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

MODEL = "smollm2-135m-instruct"
TASK = "word-math"
BASE_RUNS = {"direct": {}, "cot": {"cot": True}, "sc": {"cot": True, "self_consistency": 3}, "pal": {"pal": True}}


def base(out: Path, n: int, only: list[str] | None = None) -> None:
    from genlab.evaluation import EvalConfig, evaluate
    from genlab.models import load

    lm = load(MODEL)
    for name, options in BASE_RUNS.items():
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        result = evaluate(lm, TASK, EvalConfig(n=n, **options), out_dir=out / f"base-{name}")
        print(f"base {name}: {result.metrics['answer_accuracy']['value']:.3f} ({time.perf_counter() - t0:.0f}s)",
              flush=True)


def pal_task():
    from genlab.evaluation import EvalConfig
    from genlab.evaluation.reasoning import reasoning_task
    from genlab.tasks import load_task

    return reasoning_task(load_task(TASK), EvalConfig(pal=True))


def tune_adapter(out: Path, n_train: int, steps: int | None) -> None:
    from genlab.tuning import TrainConfig, tune

    t0 = time.perf_counter()
    cfg = TrainConfig(lr=1e-3, epochs=1, max_steps=steps, batch_size=8, val_max_examples=32, val_generate=0,
                      max_seq_len=320, log_every=5)
    result = tune(MODEL, pal_task(), "lora", {"r": 16, "alpha": 32}, cfg, out_dir=out / "pal-lora",
                  n_train=n_train, eval_cfg=None, overwrite=True)
    print(f"tuned in {time.perf_counter() - t0:.0f}s: {getattr(result, 'adapter_dir', None) or out / 'pal-lora'}",
          flush=True)


def tuned(out: Path, n: int) -> None:
    from genlab.evaluation import EvalConfig, evaluate
    from genlab.models import load

    lm = load(MODEL, adapter=str(out / "pal-lora" / "adapter"))
    for name, options in {"pal": {"pal": True, "shots": 0}}.items():
        t0 = time.perf_counter()
        result = evaluate(lm, TASK, EvalConfig(n=n, **options), out_dir=out / f"tuned-{name}")
        print(f"tuned {name}: {result.metrics['answer_accuracy']['value']:.3f} ({time.perf_counter() - t0:.0f}s)",
              flush=True)


def table(out: Path) -> None:
    import numpy as np

    from genlab.evaluation import EvalResult
    from genlab.evaluation.metrics import get_metric, paired_bootstrap

    runs = {p.name: EvalResult.load(p) for p in sorted(out.iterdir())  # not pal-lora: a training run
            if p.name.startswith(("base-", "tuned-")) and (p / "results.json").is_file()}
    if "base-cot" not in runs:
        raise SystemExit("run the base step first")
    metric = get_metric("answer_accuracy")
    ref = {s["doc_id"]: s["stats"]["answer_accuracy"] for s in runs["base-cot"].samples}
    print(f"{'run':14} {'n':>4} {'accuracy':>9} {'95% CI':>15} {'vs base-cot':>12} {'paired 95% CI':>17} {'p':>6}")
    for name, run in runs.items():
        m = run.metrics["answer_accuracy"]
        ids = [s["doc_id"] for s in run.samples if s["doc_id"] in ref]
        mine = {s["doc_id"]: s["stats"]["answer_accuracy"] for s in run.samples}
        test = paired_bootstrap(np.array([ref[i] for i in ids]), np.array([mine[i] for i in ids]),
                                metric.from_stats, n_resamples=2000, seed=0)
        print(f"{name:14} {len(run.samples):>4} {m['value']:>9.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}] "
              f"{test['delta']:>+12.3f} [{test['ci_low']:+.3f}, {test['ci_high']:+.3f}] {test['p_value']:>6.3f}")
    pal_ok = [s for s in runs.get("tuned-pal", runs.get("base-pal")).samples]
    ran = sum(any(g.get("ok") for g in s.get("generations", [])) for s in pal_ok)
    print(f"programs that ran in the sandbox ({'tuned' if 'tuned-pal' in runs else 'base'} pal): {ran}/{len(pal_ok)}")
    print(json.dumps({k: r.config.get("generation", {}).get("max_new_tokens") for k, r in runs.items()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["base", "tune", "tuned", "table"])
    ap.add_argument("--n", type=int, default=40, help="test examples per run")
    ap.add_argument("--train", type=int, default=400, help="training pairs for the adapter")
    ap.add_argument("--steps", type=int, default=None, help="cap on optimizer steps")
    ap.add_argument("--only", default="", help="comma-separated base runs (default: all)")
    ap.add_argument("--out", type=Path, default=Path("runs/word-math-reasoning"))
    args = ap.parse_args()
    if args.step == "base":
        base(args.out, args.n, [x for x in args.only.split(",") if x])
    elif args.step == "tune":
        tune_adapter(args.out, args.train, args.steps)
    elif args.step == "tuned":
        tuned(args.out, args.n)
    if args.step in ("tuned", "table", "base"):
        table(args.out)


if __name__ == "__main__":
    main()
