"""Child process for the resume and DDP tests: trains a tiny model, prints the result as JSON.

    python tuning_child.py OUT_DIR [--resume] [--delay S] [--grad-accum N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from tuning_helpers import toy_pairs  # noqa: E402

from genlab.testing import tiny_model  # noqa: E402
from genlab.tuning import TrainConfig, methods, train  # noqa: E402
from genlab.tuning.data import encode  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--grad-accum", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--dropout", type=float, default=0.1)
    a = ap.parse_args()
    model, tok = tiny_model("causal", seed=0, initializer_range=0.3)
    model = methods.apply("lora", model, {"r": 4, "dropout": a.dropout})
    ex = encode(toy_pairs(32), tok, "causal", 64)
    cfg = TrainConfig(lr=2e-2, max_steps=a.steps, batch_size=4, grad_accum=a.grad_accum, save_every=2,
                      eval_every=5, warmup_ratio=0.2, precision="fp32", seed=1)
    res = train(model, tok, "causal", ex, ex[:4], cfg, a.out, resume=a.resume,
                on_step=lambda s: time.sleep(a.delay))
    print("RESULT " + json.dumps({"final_loss": res.final_loss, "steps": res.steps,
                                  "losses": [r["loss"] for r in res.history if "loss" in r]}))


if __name__ == "__main__":
    main()
