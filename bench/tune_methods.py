"""All methods on support-summary with the embedded model: trainable %, time, peak memory, test ROUGE-L.

    python bench/tune_methods.py --n-train 64 --n-test 20      # ~2 minutes per method on 2 cores

Each method runs in its own process (peak RSS is its own) through ``genlab.tuning.tune``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

METHODS = {  # method -> (options, learning rate)
    "lora": ({"r": 8}, 2e-3),
    "adapter": ({"bottleneck": 16}, 1e-3),
    "ia3": ({}, 3e-3),
    "prompt-tuning": ({"num_virtual_tokens": 16, "init_text": "Summarize the support conversation:"}, 3e-2),
    "prefix": ({"num_virtual_tokens": 16}, 1e-2),
    "selective": ({"norms": True}, 1e-3),
    "full": ({}, 2e-5),
}


def one(method: str, n_train: int, n_test: int, out: Path) -> dict:
    from genlab.evaluation import EvalConfig
    from genlab.tuning import TrainConfig, tune

    opts, lr = METHODS[method]
    cfg = TrainConfig(lr=lr, epochs=1, batch_size=4, precision="bf16", val_max_examples=16, val_generate=0,
                      max_new_tokens=64)
    r = tune("smollm2-135m-instruct", "support-summary", method, opts, cfg, out / method, n_train=n_train,
             eval_cfg=EvalConfig(n=n_test))
    rouge = (r.test_metrics or {}).get("rougeL", {})
    return {"method": method, "trainable_pct": round(r.params.percent, 4), "train_s": r.train.wall_s,
            "tok_s": r.train.tokens_per_s, "peak_rss_mb": r.train.peak_rss_mb, "final_loss": round(r.train.final_loss, 4),
            "best_val_loss": r.train.best_val_loss and round(r.train.best_val_loss, 4),
            "rougeL": rouge.get("value"), "rougeL_ci": [rouge.get("ci_low"), rouge.get("ci_high")]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-train", type=int, default=64)
    ap.add_argument("--n-test", type=int, default=20)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--child")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-methods"))
    a = ap.parse_args()
    if a.child:
        print("RESULT " + json.dumps(one(a.child, a.n_train, a.n_test, a.out)))
        return
    rows = []
    for m in a.methods.split(","):
        cmd = [sys.executable, __file__, "--child", m, "--n-train", str(a.n_train), "--n-test", str(a.n_test),
               "--out", str(a.out)]
        p = subprocess.run(cmd, capture_output=True, text=True)
        line = next((x for x in p.stdout.splitlines() if x.startswith("RESULT ")), None)
        row = json.loads(line[7:]) if line else {"method": m, "error": p.stderr.strip().splitlines()[-1:]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "methods.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
