"""How well does a judge agree with known preferences? The numbers behind the README's judge claim.

    python bench/judges.py                          # rule judge and the embedded 135M model, 60 test pairs
    python bench/judges.py --judge rule --judge HuggingFaceTB/SmolLM2-1.7B-Instruct -n 100   # online

On ``support-summary-prefs``' test split the generator knows which summary is faithful, so each
judge's pairwise accuracy (a tie counts one half) is measured against the truth, with a 95%
bootstrap interval, overall and per flaw kind. 0.5 is a coin.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402

CONSTITUTION = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "genlab", "alignment", "constitutions", "support.yaml")


def interval(wins: list[float], seed: int = 0, n: int = 2000) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    w = np.asarray(wins, float)
    means = w[rng.integers(0, len(w), (n, len(w)))].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--judge", action="append", help="rule or a model name (repeatable)")
    ap.add_argument("-n", type=int, default=60, help="test pairs")
    ap.add_argument("--data", default="support-summary-prefs")
    a = ap.parse_args()
    from genlab.alignment.constitution import load_constitution
    from genlab.alignment.judges import make_judge
    from genlab.alignment.preferences import load_preferences

    pairs = load_preferences(a.data, split="test", n=a.n, chat=False).pairs
    constitution = load_constitution(CONSTITUTION)
    print(f"{len(pairs)} {a.data} test pairs; constitution {CONSTITUTION}")
    for spec in a.judge or ["rule", "smollm2-135m-instruct"]:
        judge = make_judge(spec, constitution)
        wins, by_flaw = [], defaultdict(list)
        t0 = time.perf_counter()
        for p in pairs:
            facts = p.meta.get("facts")
            s_chosen, s_rejected = judge.rank(p.meta.get("prompt_text", p.prompt), [p.chosen, p.rejected], facts)
            w = 1.0 if s_chosen > s_rejected else 0.5 if s_chosen == s_rejected else 0.0
            wins.append(w)
            by_flaw[p.meta.get("flaw", "?")].append(w)
        lo, hi = interval(wins)
        ties = sum(w == 0.5 for w in wins)
        print(f"judge {spec}: accuracy {np.mean(wins):.3f} [{lo:.3f}, {hi:.3f}] on {len(wins)} pairs "
              f"({ties} ties, {time.perf_counter() - t0:.0f} s)", flush=True)
        print("  per flaw: " + ", ".join(f"{k} {np.mean(v):.2f} (n={len(v)})" for k, v in sorted(by_flaw.items())))


if __name__ == "__main__":
    main()
