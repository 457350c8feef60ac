"""genlab's DPO (the one training loop + DPOObjective) vs TRL ``DPOTrainer`` + peft on the same run.

Same model (embedded SmolLM2-135M-Instruct), same pairs (support-summary-prefs train,
first N, prompts chat-templated by the task, sampled template phrasing), same
hyper-parameters (LoRA r=8, alpha 16, no dropout — TRL disables dropout by default — on
q_proj,v_proj; sigmoid loss, β=0.1; batch 4 pairs; 1 epoch; lr 5e-5 cosine, 3% warmup;
bf16 autocast on CPU). Both compute the reference log-probs once before training (TRL:
``precompute_ref_log_probs=True``; the adapter disabled in both) and that time counts.
Each side runs in its own process so peak RSS is its own. Tokens: prompt + completion
(+ EOS) of both rows of every pair trained on, as each side tokenized them.

    python bench/dpo.py              # both, N=64 pairs (the issue's 256 do not fit ~8 minutes on 2 cores)
    python bench/dpo.py --n 256      # the issue's size (~37 minutes on 2 cores, scoring included)

Prints tokens/s (reference pass + training), wall time, peak RSS, the mean training loss of the
last 10% of steps (each side batches the pairs in its own order, so this compares different pairs)
and the end loss: the DPO loss of each side's final adapter over all the pairs, scored afterwards in
a third process by the same code on the same token ids, in fp32 (untimed), and the ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

LORA = dict(r=8, alpha=16, dropout=0.0, target_modules=["q_proj", "v_proj"])
HP = dict(lr=5e-5, batch_size=4, epochs=1, warmup_ratio=0.03, seed=0, beta=0.1, precision="bf16")


def pairs(n: int, tokenizer) -> list[tuple[str, str, str]]:
    from genlab.alignment.preferences import load_preferences

    data = load_preferences("support-summary-prefs", split="train", n=n, seed=0, tokenizer=tokenizer,
                            template="sample")
    return [(p.prompt, p.chosen, p.rejected) for p in data.pairs]


def train_genlab(examples_of, objective, out: Path):
    """genlab's side: the embedded model with a new LoRA, the reference pass, then the loop with ``objective`` on
    ``examples_of(tokenizer)``; returns (model, tokens, wall s, reference s, losses, examples)."""
    from genlab.alignment.dpo import precompute_reference
    from genlab.models import load
    from genlab.tuning import TrainConfig, methods, train

    lm = load(precision="fp32")  # fp32 master weights, bf16 autocast in the loop
    ex = examples_of(lm.tokenizer)
    model = methods.apply("lora", lm.model, LORA)
    cfg = TrainConfig(lr=HP["lr"], epochs=HP["epochs"], batch_size=HP["batch_size"], warmup_ratio=HP["warmup_ratio"],
                      seed=HP["seed"], precision=HP["precision"], save_every=10_000, max_seq_len=1024)
    t0 = time.perf_counter()
    precompute_reference(model, ex, lm.tokenizer.pad_token_id, batch_size=cfg.batch_size, precision=cfg.precision)
    ref_s = time.perf_counter() - t0
    res = train(model, lm.tokenizer, "causal", ex, [], cfg, out, objective=objective)
    wall = time.perf_counter() - t0
    losses = [r["loss"] for r in res.history if "loss" in r]
    return model, sum(len(e.chosen) + len(e.rejected) for e in ex), wall, ref_s, losses, len(ex)


def run_genlab(n: int, out: Path) -> dict:
    from genlab.alignment.dpo import DPOObjective, encode_pairs
    from genlab.alignment.preferences import PreferencePair

    model, *figures = train_genlab(lambda tok: encode_pairs([PreferencePair(*p) for p in pairs(n, tok)], tok, 1024),
                                   DPOObjective(HP["beta"], "sigmoid"), out)
    model.save_pretrained(out / "adapter")
    return _summary("genlab", *figures)


def train_trl(config_cls, trainer_cls, data_of, out: Path, n_examples: int, **extra):
    """TRL's side: the embedded model in fp32, ``trainer_cls`` (``DPOTrainer``, ``KTOTrainer``) with the shared
    hyper-parameters (reference log-probs precomputed) and the same LoRA on the rows ``data_of(tokenizer)``;
    returns (trainer, wall s, reference s, losses)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from genlab.models import resolve

    path = resolve("smollm2-135m-instruct").path
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    steps = -(-n_examples // HP["batch_size"])
    args = config_cls(output_dir=str(out), per_device_train_batch_size=HP["batch_size"], num_train_epochs=HP["epochs"],
                      learning_rate=HP["lr"], lr_scheduler_type="cosine", seed=HP["seed"],
                      warmup_steps=int(HP["warmup_ratio"] * steps), beta=HP["beta"], bf16=HP["precision"] == "bf16",
                      use_cpu=True, max_length=1024, logging_steps=1, save_strategy="no", report_to="none",
                      dataloader_num_workers=0, precompute_ref_log_probs=True,
                      precompute_ref_batch_size=HP["batch_size"], **extra)
    peft = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                      target_modules=LORA["target_modules"], task_type="CAUSAL_LM")
    data = Dataset.from_list(data_of(tok))
    t0 = time.perf_counter()
    trainer = trainer_cls(model=model, args=args, train_dataset=data, processing_class=tok, peft_config=peft)
    ref_s = time.perf_counter() - t0  # tokenization + the reference pass happen in __init__
    trainer.train()
    wall = time.perf_counter() - t0
    return trainer, wall, ref_s, [h["loss"] for h in trainer.state.log_history if "loss" in h]


def run_trl(n: int, out: Path) -> dict:
    from trl import DPOConfig, DPOTrainer

    trainer, wall, ref_s, losses = train_trl(
        DPOConfig, DPOTrainer, lambda tok: [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in pairs(n, tok)],
        out, n, loss_type=["sigmoid"])
    trainer.model.save_pretrained(out / "adapter")
    ds = trainer.train_dataset
    tokens = sum(len(p) + len(c) + len(p) + len(r) for p, c, r in
                 zip(ds["prompt_ids"], ds["chosen_ids"], ds["rejected_ids"])) if "prompt_ids" in ds.column_names \
        else None
    return _summary("trl", tokens, wall, ref_s, losses, len(ds))


def _summary(name, tokens, wall, ref_s, losses, n, unit: str = "pairs") -> dict:
    tail = losses[-max(1, len(losses) // 10):]
    return {"name": name, unit: n, "tokens": tokens, "wall_s": round(wall, 1), "reference_s": round(ref_s, 1),
            "tokens_per_s": round(tokens / wall, 1) if tokens else None, "final_loss": round(sum(tail) / len(tail), 4),
            "first_loss": round(losses[0], 4), "steps": len(losses),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def end_losses(n: int, out: Path, sides: list[str]) -> dict:
    """The DPO loss of each side's final adapter over all n pairs: the reference pass (the base) and one policy
    pass per adapter through genlab's own ``precompute_reference`` (the model as it is), same token ids (genlab's
    encoding), eval mode, in fp32: under bf16 autocast the batching alone moved the 8-pair end losses by 0.004
    (0.686 -> 0.690), while fp32 gives the same value however the pairs are batched."""
    import dataclasses

    import torch
    from peft import PeftModel

    from genlab.alignment.dpo import dpo_loss, encode_pairs, precompute_reference
    from genlab.alignment.preferences import PreferencePair
    from genlab.models import load

    lm = load(precision="fp32")
    ex = encode_pairs([PreferencePair(*p) for p in pairs(n, lm.tokenizer)], lm.tokenizer, 1024)
    pad = lm.tokenizer.pad_token_id

    def logps(model) -> torch.Tensor:
        fresh = [dataclasses.replace(e) for e in ex]  # ref_* unset: filled by the pass below
        precompute_reference(model, fresh, pad, batch_size=HP["batch_size"], precision="fp32", disable_adapter=False)
        return torch.tensor([[e.ref_chosen, e.ref_rejected] for e in fresh])

    ref = logps(lm.model)
    out_losses = {}
    for side in sides:
        model = PeftModel.from_pretrained(lm.model, str(out / side / "adapter"))
        pol = logps(model)
        out_losses[side] = round(float(dpo_loss(pol[:, 0], pol[:, 1], ref[:, 0], ref[:, 1], HP["beta"]).mean()), 4)
        lm.model = model.unload()
    return out_losses


def child(which: str, n: int, out: Path, script: str = __file__) -> dict:
    """``script --child which`` in its own process (peak RSS its own); its last line of output as JSON."""
    proc = subprocess.run([sys.executable, script, "--child", which, "--n", str(n), "--out", str(out),
                           "--precision", HP["precision"]], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{which} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_args(doc: str, n: int, n_help: str, out: str, children: list[str]) -> argparse.Namespace:
    """The command line of a genlab-vs-TRL bench (``--n --which --child --out --precision``); sets the precision."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--n", type=int, default=n, help=n_help)
    ap.add_argument("--which", choices=["both", "genlab", "trl"], default="both")
    ap.add_argument("--child", choices=children)
    ap.add_argument("--out", type=Path, default=Path(out))
    ap.add_argument("--precision", choices=["bf16", "fp32"], default="bf16",
                    help="training and reference pass, both sides (fp32 where the CPU has no AMX/AVX512-BF16)")
    a = ap.parse_args()
    HP["precision"] = a.precision
    return a


def run_sides(a: argparse.Namespace, genlab_side, trl_side, script: str) -> dict | None:
    """In a child (``--child genlab|trl``): run that side, print its figures, return None. Otherwise run each side
    asked for in its own process of ``script`` and return their figures."""
    if a.child:
        print(json.dumps(genlab_side(a.n, a.out / "genlab") if a.child == "genlab" else trl_side(a.n, a.out / "trl")))
        return None
    from genlab.runtime import machine_line

    print(machine_line(a.precision), file=sys.stderr)
    return {s: child(s, a.n, a.out, script) for s in (["genlab", "trl"] if a.which == "both" else [a.which])}


def main() -> None:
    a = bench_args(__doc__, 64, "preference pairs (the issue asks 256: ~30 min here)", "runs/bench-dpo",
                   ["genlab", "trl", "score"])
    if a.child == "score":
        print(json.dumps(end_losses(a.n, a.out, [s for s in ("genlab", "trl") if (a.out / s / "adapter").is_dir()])))
        return
    results = run_sides(a, run_genlab, run_trl, __file__)
    if results is None:
        return
    for side, loss in child("score", a.n, a.out).items():
        if side in results:
            results[side]["end_loss"] = loss
    report(results, a.out)


def report(results: dict, out: Path) -> None:
    """Each side's figures, then genlab's ratios to TRL (with both sides), as JSON lines; ``out/results.json``."""
    for r in results.values():
        print(json.dumps(r))
    if len(results) == 2:
        g, t = results["genlab"], results["trl"]
        apart = lambda key: round(abs(g[key] - t[key]) / t[key], 4)  # noqa: E731
        print(json.dumps({
            "speedup_tokens_per_s": round(g["tokens_per_s"] / t["tokens_per_s"], 2) if t["tokens_per_s"] else None,
            "speedup_wall": round(t["wall_s"] / g["wall_s"], 2), "loss_rel_diff": apart("final_loss"),
            **({"end_loss_rel_diff": apart("end_loss")} if "end_loss" in g and "end_loss" in t else {}),
            "peak_rss_ratio": round(g["peak_rss_mb"] / t["peak_rss_mb"], 2)}))
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
