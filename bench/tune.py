"""genlab's training loop vs TRL ``SFTTrainer`` + peft on the same LoRA fine-tune.

Same model (embedded SmolLM2-135M-Instruct), same data (support-summary train,
first N examples, chat-templated prompts), same hyper-parameters (LoRA r=8,
alpha 16, dropout 0.05 on q_proj,v_proj; batch 4; 1 epoch; lr 2e-4 cosine,
3% warmup; bf16 autocast on CPU, or fp32 with --precision fp32; completion-only loss). Each side runs in its
own process so peak RSS is its own. Tokens are counted the same way for both:
prompt + completion + EOS tokens of every example trained on.

    python bench/tune.py                 # both, N=256 (~10-20 minutes on 2 cores)
    python bench/tune.py --n 32          # quick look
    python bench/tune.py --compile       # genlab with torch.compile'd blocks
    python bench/tune.py --precision fp32  # on a CPU without AMX/AVX512-BF16 (bf16 is emulated there)

Prints trained tokens/s, wall time, peak RSS, final training loss (mean of the
last 10% of steps), the ratios, and model FLOPs utilization (4N + 2·trainable
FLOPs per token, see ``mfu``) against the matmul peak at that precision measured by
bench/tune_matmul_peak.py. The first line on stderr names the machine (and warns when bf16 is emulated).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

LORA = dict(r=8, alpha=16, dropout=0.05, target_modules=["q_proj", "v_proj"])
HP = dict(lr=2e-4, batch_size=4, epochs=1, warmup_ratio=0.03, seed=0, precision="bf16")


def pairs(n: int, tokenizer) -> list[tuple[str, str]]:
    from genlab.tasks import load_task

    reqs = load_task("support-summary").training_pairs("train", n=n, seed=0, tokenizer=tokenizer)
    return [(r.prompt, r.target) for r in reqs]


def run_genlab(n: int, compile_: bool, out: Path) -> dict:
    from genlab.models import load
    from genlab.tuning import TrainConfig, methods, train
    from genlab.tuning.data import encode

    lm = load(precision="fp32")  # fp32 master weights, bf16 autocast in the loop (as tune() does)
    ex = encode(pairs(n, lm.tokenizer), lm.tokenizer, "causal", 1024)
    model = methods.apply("lora", lm.model, LORA)
    cfg = TrainConfig(lr=HP["lr"], epochs=HP["epochs"], batch_size=HP["batch_size"], warmup_ratio=HP["warmup_ratio"],
                      seed=HP["seed"], precision=HP["precision"], save_every=10_000, compile=compile_)
    t0 = time.perf_counter()
    res = train(model, lm.tokenizer, "causal", ex, [], cfg, out)
    wall = time.perf_counter() - t0
    losses = [r["loss"] for r in res.history if "loss" in r]
    return _summary("genlab", sum(len(e) for e in ex), wall, losses, len(ex))


def run_trl(n: int, out: Path) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from genlab.models import resolve

    path = resolve("smollm2-135m-instruct").path
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    data = Dataset.from_list([{"prompt": p, "completion": t} for p, t in pairs(n, tok)])
    args = SFTConfig(output_dir=str(out), per_device_train_batch_size=HP["batch_size"], num_train_epochs=HP["epochs"],
                     learning_rate=HP["lr"], lr_scheduler_type="cosine", seed=HP["seed"],
                     warmup_steps=int(HP["warmup_ratio"] * -(-n // HP["batch_size"])),  # genlab's rounding
                     bf16=HP["precision"] == "bf16", use_cpu=True, completion_only_loss=True, max_length=1024,
                     logging_steps=1,
                     save_strategy="no", report_to="none", dataloader_num_workers=0)
    peft = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                      target_modules=LORA["target_modules"], task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok, peft_config=peft)
    tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return _summary("trl", tokens, wall, losses, len(data))


def _summary(name, tokens, wall, losses, n) -> dict:
    tail = losses[-max(1, len(losses) // 10):]
    return {"name": name, "examples": n, "tokens": tokens, "wall_s": round(wall, 1),
            "tokens_per_s": round(tokens / wall, 1), "final_loss": round(sum(tail) / len(tail), 4),
            "last_step_loss": round(losses[-1], 4), "steps": len(losses),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def child(which: str, n: int, compile_: bool, out: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", which, "--n", str(n), "--out", str(out),
           "--precision", HP["precision"]] + (["--compile"] if compile_ else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-4000:])
        raise SystemExit(f"{which} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def mfu(result: dict, peak_tflops: float | None, n_params: int = 134_515_008,
        n_trainable: int = 460_800) -> float | None:
    """Model FLOPs utilization over the measured matmul peak of the run's precision.

    PaLM's 6·N FLOPs per token assume every weight gets a gradient; with LoRA the
    frozen weights only pass gradients to their inputs, so a token costs
    2N (forward) + 2N (input gradients) + 2·N_trainable (weight gradients).
    """
    flops_per_token = 4 * n_params + 2 * n_trainable
    return None if not peak_tflops else flops_per_token * result["tokens_per_s"] / (peak_tflops * 1e12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--which", choices=["both", "genlab", "trl"], default="both")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--child", choices=["genlab", "trl"])
    ap.add_argument("--precision", choices=["bf16", "fp32"], default="bf16",
                    help="both sides (bf16: autocast; fp32 where the CPU has no AMX/AVX512-BF16)")
    ap.add_argument("--peak-tflops", type=float, default=None,
                    help="matmul peak at --precision (default: measure it)")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-tune"))
    a = ap.parse_args()
    HP["precision"] = a.precision
    if a.child:
        res = run_genlab(a.n, a.compile, a.out / "genlab") if a.child == "genlab" else run_trl(a.n, a.out / "trl")
        print(json.dumps(res))
        return
    from genlab.runtime import machine_line

    print(machine_line(a.precision), file=sys.stderr)
    sides = ["genlab", "trl"] if a.which == "both" else [a.which]
    results = {s: child(s, a.n, a.compile, a.out) for s in sides}
    peak = a.peak_tflops
    if peak is None:
        from tune_matmul_peak import measure

        peak = measure()[f"{a.precision}_tflops"]
    for r in results.values():
        r["mfu"] = round(mfu(r, peak), 4)
        print(json.dumps(r))
    if len(results) == 2:
        g, t = results["genlab"], results["trl"]
        print(json.dumps({"speedup_tokens_per_s": round(g["tokens_per_s"] / t["tokens_per_s"], 2),
                          "loss_rel_diff": round(abs(g["final_loss"] - t["final_loss"]) / t["final_loss"], 4),
                          "peak_rss_ratio": round(g["peak_rss_mb"] / t["peak_rss_mb"], 2),
                          f"{a.precision}_peak_tflops": round(peak, 3)}))
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
