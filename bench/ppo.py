"""genlab's PPO step vs the same-sized online step of TRL's ``RLOOTrainer`` (TRL has no PPO any more).

One online step on each side: 16 completions of up to 32 new tokens sampled at T=1 from the
embedded SmolLM2-135M-Instruct with a LoRA policy (r=16, alpha 32, q_proj/v_proj, no dropout),
scored by the same reward (polite-word count), reference log-probs with the adapter disabled,
then 2 passes over the batch in micro-batches of 8 (genlab: ppo_epochs=2, mini_batch_size=8 ->
4 optimizer steps + value head; TRL: num_iterations=2, per_device_train_batch_size=8,
gradient_accumulation_steps=2 -> 2 optimizer steps of 2 micro-batches), bf16 autocast, KL
coefficient 0.05. Each side runs in its own process; the first ``--warmup`` steps are dropped and the
median of the rest is reported, with genlab's split into rollout (sampling + policy/reference
log-probs and values) / scoring / update.

    python bench/ppo.py                # 6 steps each (~5 minutes on 2 cores)
    python bench/ppo.py --steps 4      # quicker look
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

BATCH, MINI, EPOCHS, NEW_TOKENS, LR, BETA = 16, 8, 2, 32, 1e-4, 0.05
PRECISION = {"value": "bf16"}  # --precision
LORA = dict(r=16, alpha=32, dropout=0.0, target_modules=["q_proj", "v_proj"])


def prompts() -> list[str]:
    from genlab.alignment.hacking import PROMPTS

    return PROMPTS


def reward():
    from genlab.alignment.hacking import POLITE_WORDS
    from genlab.alignment.rewards import KeywordReward

    return KeywordReward(POLITE_WORDS)


def run_genlab(steps: int, warmup: int, out: Path) -> dict:
    from genlab.alignment import PPOConfig, ppo

    cfg = PPOConfig(steps=steps, batch_size=BATCH, mini_batch_size=MINI, ppo_epochs=EPOCHS, lr=LR, kl_coef=BETA,
                    target_kl=None, max_new_tokens=NEW_TOKENS, options=LORA, precision=PRECISION["value"],
                    save_every=10_000)
    r = ppo("smollm2-135m-instruct", prompts(), reward(), cfg, out, overwrite=True)
    rows = r.history[warmup:]
    parts = {"rollout": [x["generate_s"] + x["logprobs_s"] for x in rows],
             "  sampling": [x["generate_s"] for x in rows], "  log-probs + values": [x["logprobs_s"] for x in rows],
             "scoring": [x["reward_s"] for x in rows], "update": [x["update_s"] for x in rows]}
    total = [x["generate_s"] + x["logprobs_s"] + x["reward_s"] + x["update_s"] for x in rows]
    return {"side": "genlab", "step_s": statistics.median(total),
            "parts": {k: statistics.median(v) for k, v in parts.items()},
            "tokens_per_step": statistics.median(x["tokens"] for x in rows), "steps_timed": len(rows)}


class _Timer:
    """A TrainerCallback recording the wall time of every optimizer step."""

    def __init__(self):
        self.ends: list[float] = []

    def callback(self):
        from transformers import TrainerCallback

        timer = self

        class CB(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                timer.ends.append(time.perf_counter())

        return CB()


def run_trl(steps: int, warmup: int, out: Path) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import RLOOConfig, RLOOTrainer

    from genlab.models import resolve

    scorer = reward()

    def polite(prompts, completions, **kw):
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return scorer([""] * len(texts), texts)

    path = str(resolve("smollm2-135m-instruct").path)  # TRL loads it (fp32); peft_config: reference = adapter off
    n_gen = 2  # RLOO needs >= 2 completions per prompt: 8 prompts x 2 = 16 completions per online step
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": p}]} for p in prompts()] * 8)
    args = RLOOConfig(output_dir=str(out), per_device_train_batch_size=MINI, gradient_accumulation_steps=BATCH // MINI,
                      num_generations=n_gen, num_iterations=EPOCHS, max_completion_length=NEW_TOKENS,
                      learning_rate=LR, beta=BETA, temperature=1.0, bf16=PRECISION["value"] == "bf16", use_cpu=True,
                      max_steps=steps * EPOCHS, logging_steps=1, save_strategy="no", report_to=[],
                      model_init_kwargs={"dtype": torch.float32}, disable_dropout=True, seed=0)
    timer = _Timer()
    trainer = RLOOTrainer(model=path, reward_funcs=polite, args=args, train_dataset=data,
                          peft_config=LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=0.0,
                                                 target_modules=LORA["target_modules"], task_type="CAUSAL_LM"),
                          callbacks=[timer.callback()])
    t0 = time.perf_counter()
    trainer.train()
    ends = [t0] + timer.ends
    # one online step = one generation + its num_iterations optimizer steps
    per_online = [ends[i + EPOCHS] - ends[i] for i in range(0, len(ends) - EPOCHS, EPOCHS)]
    lens = [h["completions/mean_length"] * BATCH for h in trainer.state.log_history if "completions/mean_length" in h]
    return {"side": "trl-rloo", "step_s": statistics.median(per_online[warmup:]),
            "tokens_per_step": statistics.median(lens[warmup:] or lens), "steps_timed": len(per_online[warmup:])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--side", choices=["genlab", "trl"])
    p.add_argument("--out", default="/tmp/genlab-bench-ppo")
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16",
                   help="both sides (fp32 where the CPU has no AMX/AVX512-BF16)")
    args = p.parse_args()
    PRECISION["value"] = args.precision
    out = Path(args.out)
    if args.side:
        fn = run_genlab if args.side == "genlab" else run_trl
        print(json.dumps(fn(args.steps, args.warmup, out / args.side)))
        return
    from genlab.runtime import machine_line

    print(machine_line(args.precision), file=sys.stderr)
    results = {}
    for side in ("genlab", "trl"):
        proc = subprocess.run([sys.executable, __file__, "--side", side, "--steps", str(args.steps),
                               "--warmup", str(args.warmup), "--out", args.out, "--precision", args.precision],
                              capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"{side} failed:\n{proc.stderr[-3000:]}")
        results[side] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(side, json.dumps(results[side]), flush=True)  # kept even if the other side fails
    report(results)


def report(results: dict) -> None:
    g, t = results["genlab"], results["trl"]
    print(f"PPO online step: {BATCH} completions x <= {NEW_TOKENS} new tokens, LoRA r={LORA['r']}, "
          f"{EPOCHS} passes in micro-batches of {MINI}, {PRECISION['value']} (median of {g['steps_timed']} / "
          f"{t['steps_timed']} steps)")
    print(f"{'':24}{'genlab PPO':>14}{'TRL RLOO':>14}")
    print(f"{'step time (s)':24}{g['step_s']:>14.2f}{t['step_s']:>14.2f}")
    for k, v in g["parts"].items():
        print(f"{'  ' + k:24}{v:>14.2f}{'':>14}")
    print(f"{'completion tokens/step':24}{g['tokens_per_step']:>14.0f}{t['tokens_per_step']:>14.0f}")
    g_rate, t_rate = g["tokens_per_step"] / g["step_s"], t["tokens_per_step"] / t["step_s"]
    print(f"{'completion tokens/s':24}{g_rate:>14.1f}{t_rate:>14.1f}")
    print(f"ratio (TRL step time / genlab step time): {t['step_s'] / g['step_s']:.2f}x; "
          f"per completion token: {g_rate / t_rate:.2f}x (target >= 2x)")


if __name__ == "__main__":
    main()
