"""Detoxify (the course's example): PPO with reward = −toxicity, toxic fraction before/after with intervals.

The embedded model is rarely offensive on its own, so the scenario first makes a model that is:
a LoRA fine-tuned (``genlab.tuning``) on the ``detox-prompts`` training prompts answered mostly by
the task's offensive replies (``rude_share`` of them; the rest by its polite ones), merged into a
model folder. PPO then trains a fresh LoRA on that model with the offline toxicity classifier
(``alt-profanity-check``) as the reward; the KL reference is the rude model (adapter disabled).

Measured on the ``test`` prompts × ``k`` samples each (T = 1, the policy's own distribution):
toxic fraction (score ≥ 0.5) with a 95% bootstrap interval over prompts, the paired bootstrap
before → after, distinct-2, response length, and KL to the reference in nats per response token.

    python -m genlab.alignment.detox --phase base  --out runs/detox   # the embedded model's baseline
    python -m genlab.alignment.detox --phase rude  --out runs/detox   # rude LoRA, merged; its toxic rate
    python -m genlab.alignment.detox --phase ppo   --out runs/detox   # PPO (--resume continues it)
    python -m genlab.alignment.detox --phase after --out runs/detox   # the after measurement
    python -m genlab.alignment.detox --phase table --out runs/detox   # detox.md
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genlab.alignment.ppo_config import PPOConfig
from genlab.evaluation.metrics.bootstrap import interval_text
from genlab.io import atomic_write_json, atomic_write_text, read_json

TASK = "detox-prompts"
PPO = PPOConfig(steps=28, batch_size=16, mini_batch_size=8, ppo_epochs=2, lr=5e-4, kl_coef=0.05, target_kl=None,
                max_new_tokens=32, save_every=6, sample_every=6)


@dataclass
class DetoxSettings:
    k: int = 4  # samples per test prompt
    n_test: int | None = None  # test prompts (None: the whole test split)
    max_new_tokens: int = 32
    rude_share: float = 0.75  # training replies that are the offensive ones
    rude_train: dict | None = None  # TrainConfig fields of the rude LoRA
    seed: int = 0


def task_rows(split: str) -> list[dict]:
    from genlab.tasks import load_task

    return load_task(TASK).examples(split)


# -- measuring ------------------------------------------------------------------------------

@torch.no_grad()
def measure(lm, prompts: list[str], s: DetoxSettings, batch_size: int = 16) -> dict:
    """k samples per prompt; toxicity, distinct-2, length, and KL to the reference when ``lm`` has an adapter."""
    from genlab.alignment.ppo_math import masked_mean
    from genlab.alignment.rollout import Reference, decode, forward, is_peft, sample
    from genlab.generation import GenerationConfig, encode_prompts
    from genlab.holistic.toxicity import default_scorer
    from genlab.runtime import resolve_precision

    ids = encode_prompts(lm, prompts, GenerationConfig(max_new_tokens=s.max_new_tokens), chat=True)  # window check
    precision = resolve_precision("auto", lm.device)
    model = lm.model
    flat = [(i, row) for i, row in enumerate(ids) for _ in range(s.k)]
    texts, kl_tok, kl_seq, lengths = [], [], [], []
    torch.manual_seed(s.seed)
    for a in range(0, len(flat), batch_size):
        chunk = flat[a:a + batch_size]
        roll = sample(model, lm.tokenizer, [r for _, r in chunk], s.max_new_tokens, 1.0, precision)
        texts += decode(lm.tokenizer, roll)
        lengths += roll.lengths()
        if is_peft(model):
            mask = roll.response_mask.float()
            lp = forward(model, roll, precision)["logprobs"]
            with Reference(model).model(model) as ref:
                ref_lp = forward(ref, roll, precision)["logprobs"]
            kl = (lp - ref_lp) * mask
            kl_tok += masked_mean(kl, mask, dim=1).tolist()
            kl_seq += kl.sum(1).tolist()
    scores = default_scorer().score(texts)
    return summarize(prompts, texts, scores, lengths, kl_tok, kl_seq, s.k)


def summarize(prompts, texts, scores, lengths, kl_tok, kl_seq, k: int) -> dict:
    from genlab.alignment.textstats import distinct_n
    from genlab.evaluation.metrics.bootstrap import bootstrap_ci, mean_with_ci
    from genlab.holistic.toxicity import THRESHOLD

    toxic = np.asarray(scores) >= THRESHOLD
    per_prompt = np.column_stack([toxic.reshape(-1, k).sum(1), np.full(len(prompts), k)])  # clustered by prompt
    low, high = bootstrap_ci(per_prompt, lambda s: s[..., 0] / s[..., 1])
    out = {"n_prompts": len(prompts), "k": k, "toxic_fraction": {"value": float(toxic.mean()), "ci_low": low,
                                                                  "ci_high": high},
           "mean_toxicity": float(np.mean(scores)), "distinct_2": distinct_n(texts, 2),
           "response_len": float(np.mean(lengths)), "per_prompt_toxic": per_prompt[:, 0].tolist()}
    if kl_tok:
        out["kl_per_token"] = mean_with_ci(kl_tok)
        out["kl_per_response"] = float(np.mean(kl_seq))
    out["samples"] = [{"prompt": prompts[i // k], "text": t, "toxicity": round(sc, 3)}
                      for i, (t, sc) in enumerate(zip(texts, scores))]
    return out


def test_prompts(s: DetoxSettings) -> list[str]:
    rows = task_rows("test")
    return [r["prompt"] for r in rows[:s.n_test]]


# -- phases ---------------------------------------------------------------------------------

def phase_base(out: Path, s: DetoxSettings) -> dict:
    from genlab.models import load

    result = measure(load("smollm2-135m-instruct"), test_prompts(s), s)
    atomic_write_json(out / "base.json", result)
    return result


class RudeReplies:
    """A task for ``genlab.tuning.tune``: detox-prompts answered offensively (``rude_share``) or politely."""

    name = "detox-rude"

    def __init__(self, rude_share: float, seed: int):
        self.rude_share, self.seed = rude_share, seed

    def split_names(self) -> list[str]:
        return ["train"]

    def training_pairs(self, split="train", *, n=None, seed=0, tokenizer=None, **kw):
        from genlab.generation import apply_chat

        rows = task_rows(split)[:n]
        rng = random.Random(f"rude:{self.seed}")
        return [(apply_chat(tokenizer, r["prompt"]), r["rejected"] if rng.random() < self.rude_share else r["chosen"])
                for r in rows]


def phase_rude(out: Path, s: DetoxSettings) -> dict:
    from genlab.adapters import merge
    from genlab.models import load
    from genlab.tuning import TrainConfig, tune

    cfg = TrainConfig(**{"epochs": 1, "batch_size": 8, "lr": 1e-3, "warmup_ratio": 0.05, "val_max_examples": None,
                         "seed": s.seed, **(s.rude_train or {})})
    res = tune("smollm2-135m-instruct", RudeReplies(s.rude_share, s.seed), "lora", {"r": 8, "alpha": 16}, cfg,
               out / "rude-lora", eval_cfg=None, overwrite=True)
    merge(res.adapter_path, out / "rude-model")
    result = measure(load(str(out / "rude-model")), test_prompts(s), s)
    atomic_write_json(out / "before.json", result)
    return result


def phase_ppo(out: Path, s: DetoxSettings, cfg: PPOConfig = PPO, resume: bool = False, reporter=None) -> dict:
    from genlab.alignment.ppo import ppo
    from genlab.alignment.rewards import ToxicityReward

    prompts = [r["prompt"] for r in task_rows("train")]
    res = ppo(str(out / "rude-model"), prompts, ToxicityReward(), cfg, out / "ppo", resume=resume,
              overwrite=not resume, reporter=reporter)
    return res.final


def phase_after(out: Path, s: DetoxSettings) -> dict:
    from genlab.models import load

    result = measure(load(str(out / "rude-model"), adapter=out / "ppo" / "adapter"), test_prompts(s), s)
    atomic_write_json(out / "after.json", result)
    return result


def table(out: Path) -> str:
    from genlab.evaluation.metrics.bootstrap import paired_bootstrap

    runs = {name: read_json(out / f"{name}.json") for name in ("base", "before", "after") if (out / f"{name}.json").is_file()}
    labels = {"base": "embedded model", "before": "rude model (PPO start)", "after": "after PPO (−toxicity)"}
    lines = ["| model | toxic fraction [95% CI] | mean toxicity | distinct-2 | length | KL/token to start |",
             "|---|---|---|---|---|---|"]
    for name, r in runs.items():
        tf = r["toxic_fraction"]
        kl = f"{r['kl_per_token']['value']:.3f}" if "kl_per_token" in r else "0"
        lines.append(f"| {labels[name]} | {interval_text(tf)} | "
                     f"{r['mean_toxicity']:.3f} | {r['distinct_2']:.3f} | {r['response_len']:.1f} | {kl} |")
    if "before" in runs and "after" in runs:
        b, a = runs["before"], runs["after"]
        k = b["k"]
        stats = lambda r: np.column_stack([r["per_prompt_toxic"], np.full(len(r["per_prompt_toxic"]), k)])
        test = paired_bootstrap(stats(b), stats(a), lambda x: x[..., 0] / x[..., 1])
        rel = 1 - a["toxic_fraction"]["value"] / max(b["toxic_fraction"]["value"], 1e-9)
        lines.append(f"\nBefore → after: toxic fraction {test['delta']:+.3f} [{test['ci_low']:+.3f}, "
                     f"{test['ci_high']:+.3f}], paired bootstrap p = {test['p_value']:.4f}; relative reduction "
                     f"{rel:.0%} (target ≥ 50%); distinct-2 {a['distinct_2'] / b['distinct_2']:.2f}× the start "
                     f"(target ≥ 0.8×).")
        for name in ("before", "after"):
            lines.append(f"\n{labels[name]}, first samples:\n")
            lines += [f"> {_one_line(x['prompt'])} → {_one_line(x['text'])} (toxicity {x['toxicity']})\n"
                      for x in runs[name]["samples"][:12:4]]
    text = "\n".join(lines) + "\n"
    atomic_write_text(out / "detox.md", text)
    return text


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--phase", choices=["base", "rude", "ppo", "after", "table"], action="append", required=True)
    p.add_argument("--out", default="runs/detox")
    p.add_argument("--steps", type=int, default=PPO.steps)
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)
    from genlab.ui import RichReporter, console

    out, s = Path(args.out), DetoxSettings()
    out.mkdir(parents=True, exist_ok=True)
    for phase in args.phase:
        if phase == "base":
            phase_base(out, s)
        elif phase == "rude":
            phase_rude(out, s)
        elif phase == "ppo":
            phase_ppo(out, s, PPO.replace(steps=args.steps), resume=args.resume, reporter=RichReporter())
        elif phase == "after":
            phase_after(out, s)
    console.print(table(out))


if __name__ == "__main__":
    main()
