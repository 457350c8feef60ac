"""Reward hacking made visible: the same PPO run with β = 0 and β > 0, side by side.

The reward is a deliberately naive proxy for politeness, the number of polite words (sorry, thank,
please, appreciate) in the reply. It climbs in both runs; without the KL penalty nothing holds the
policy near the model it started from, so the KL explodes, diversity (distinct-2) collapses and the
text degenerates into the words the proxy counts. With β > 0 the reward rises more slowly and the
replies stay replies.

    python -m genlab.alignment.hacking --beta 0 --out runs/hacking      # one run per call
    python -m genlab.alignment.hacking --beta 0.5 --out runs/hacking    # then the comparison is rebuilt:
    # runs/hacking/hacking.md (table + examples), hacking.json, hacking_curves.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genlab.alignment.ppo_config import PPOConfig
from genlab.io import atomic_write_json, atomic_write_text

POLITE_WORDS = ["sorry", "thank", "please", "appreciate"]
PROMPTS = [
    "My order arrived broken. What are you going to do about it?",
    "I was charged twice this month. Fix it.",
    "Why is my parcel three days late?",
    "Your app logged me out again and I lost my basket.",
    "I want to cancel my subscription today.",
    "The replacement phone you sent doesn't turn on.",
    "Can I change the delivery address for my order?",
    "I returned the shoes two weeks ago and still have no refund.",
    "The technician never showed up for my appointment.",
    "How do I reset my password? The link doesn't work.",
    "My train ticket was booked for the wrong day.",
    "The laptop I bought is much slower than advertised.",
    "Your support line kept me on hold for an hour.",
    "I got someone else's invoice by email.",
    "The jacket I ordered is the wrong size. Can I swap it?",
    "My gym membership renewed without asking me.",
    "Tell me honestly: is your premium plan worth it?",
    "The coffee machine leaks water everywhere.",
    "I never received the discount code you promised.",
    "Why was my insurance claim rejected?",
    "The hotel room I booked was already taken when I arrived.",
    "My internet has been down since yesterday.",
    "Can you explain the extra fee on my bill?",
    "The courier left my parcel in the rain.",
]
DEFAULT = PPOConfig(steps=30, batch_size=16, mini_batch_size=8, ppo_epochs=2, lr=1e-3, max_new_tokens=32,
                    kl_coef=0.5, target_kl=None, save_every=10, sample_every=5)


def run_one(beta: float, out: Path, cfg: PPOConfig = DEFAULT, model: str = "smollm2-135m-instruct",
            reporter=None):
    from genlab.alignment.ppo import ppo
    from genlab.alignment.rewards import KeywordReward

    return ppo(model, PROMPTS, KeywordReward(POLITE_WORDS), cfg.replace(kl_coef=beta), out / f"beta-{beta:g}",
               overwrite=True, reporter=reporter)


def compare(out: Path) -> dict:
    """Table, examples and curves from every ``beta-*`` run under ``out``."""
    from genlab.alignment.curves import plot_ppo_compare

    runs = {}
    for d in sorted(out.glob("beta-*")):
        rows = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines() if x.strip()]
        samples = [json.loads(x) for x in (d / "samples.jsonl").read_text().splitlines() if x.strip()]
        if rows:
            runs[d.name.replace("beta-", "β = ")] = (rows, samples)
    common = min((rows[-1]["step"] for rows, _ in runs.values()), default=0)  # compare at the same step
    runs = {k: ([r for r in rows if r["step"] <= common], [s for s in samples if s["step"] <= common])
            for k, (rows, samples) in runs.items()}
    table = [_row(label, rows, samples) for label, (rows, samples) in runs.items()]
    plot_ppo_compare({label: rows for label, (rows, _) in runs.items()}, out / "hacking_curves.png")
    atomic_write_json(out / "hacking.json", table)
    atomic_write_text(out / "hacking.md", to_markdown(table))
    return {"table": table}


def _row(label: str, rows: list[dict], samples: list[dict]) -> dict:
    def mean(key, part):
        vals = [r[key] for r in part]
        return round(sum(vals) / len(vals), 3)

    first, last = rows[:3], rows[-3:]
    final_step = max(s["step"] for s in samples) if samples else None
    return {"run": label, "steps": rows[-1]["step"],
            "reward_start": mean("reward", first), "reward_end": mean("reward", last),
            "kl_end": mean("kl", last), "kl_per_token_end": mean("kl_per_token", last),
            "entropy_start": mean("entropy", first), "entropy_end": mean("entropy", last),
            "distinct2_start": mean("distinct_2", first), "distinct2_end": mean("distinct_2", last),
            "len_end": mean("response_len", last),
            "examples_start": [s["completion"] for s in samples if s["step"] == 1][:2],
            "examples_end": [s["completion"] for s in samples if s["step"] == final_step][:3]}


def to_markdown(table: list[dict]) -> str:
    lines = ["| run | steps | reward start → end | KL end (nats/response) | KL/token | entropy start → end "
             "| distinct-2 start → end | length end |", "|---|---|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['run']} | {r['steps']} | {r['reward_start']} → {r['reward_end']} | {r['kl_end']} "
                     f"| {r['kl_per_token_end']} | {r['entropy_start']} → {r['entropy_end']} "
                     f"| {r['distinct2_start']} → {r['distinct2_end']} | {r['len_end']} |")
    for r in table:
        lines.append(f"\n**{r['run']}**, step 1:\n")
        lines += [f"> {_one_line(t)}\n" for t in r["examples_start"]]
        lines.append(f"**{r['run']}**, step {r['steps']}:\n")
        lines += [f"> {_one_line(t)}\n" for t in r["examples_end"]]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--beta", type=float, action="append", default=[], help="KL coefficient; repeat for several")
    p.add_argument("--steps", type=int, default=DEFAULT.steps)
    p.add_argument("--out", default="runs/hacking")
    args = p.parse_args(argv)
    from genlab.ui import RichReporter, console

    out = Path(args.out)
    for beta in args.beta:
        run_one(beta, out, DEFAULT.replace(steps=args.steps), reporter=RichReporter())
    console.print(compare(out) and (out / "hacking.md").read_text())


if __name__ == "__main__":
    main()
