"""Pre-training speed: genlab's loop vs transformers' ``Trainer`` on the same tiny causal LM and packed data.

Same model (a new Llama-style decoder WIDTHxLAYERS built from the same config and
seed), same data (built-in corpus, BPE tokenizer, packed blocks: genlab's
``pretraining.corpus``, written once and read by both sides), same settings
(AdamW lr 3e-3, cosine, 5% warmup, batch 16 blocks, grad-clip 1.0, same steps,
same precision). The Trainer side is what a user would write: a ``datasets``
Dataset of blocks with ``labels = input_ids`` and ``Trainer(...).train()``.
Each side runs in its own process; with several seeds the sides alternate (genlab, Trainer, genlab, ...).

    python bench/pretrain.py                      # 96x4, 400 steps of 16 x 128 tokens (~3-5 minutes on 2 cores)
    python bench/pretrain.py --size 64x2 --steps 100 --compile
    python bench/pretrain.py --precision bf16 --seeds 0,1,2   # each side once per data-order seed, then means
    python bench/pretrain.py --precision bf16 --compile --trainer-compile   # both sides compiled

Prints tokens/s over the whole run (compilation and set-up inside, as a user's run pays them) and in the steady
state (from the end of step ``--warmup-steps`` to the last step, timed the same way on both sides: a clock read at
the end of each optimizer step, genlab's ``on_step`` and a ``TrainerCallback.on_step_end``), wall time, final
training loss (mean of the last 10% of steps; each side sees its
own batch order, so this moves with the data order), held-out loss on the same 256 blocks for both
(at this size the data-order seed moves it by ~10%: compare means over ``--seeds``),
and MFU (exact FLOPs per token · tokens/s over the measured matmul peak of the
precision used) for both, and the ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HP = dict(lr=3e-3, batch_size=16, warmup_ratio=0.05, max_grad_norm=1.0)
HELDOUT_BLOCKS = 256
WARMUP_STEPS = 20  # steps left out of the steady-state figure (compilation, caches, allocator)


def make_data(out: Path, size: str, block: int, docs: int) -> dict:
    """Corpus → tokenizer → packed blocks, saved for both sides."""
    import torch

    from genlab.pretraining.corpus import load_documents, pack, split_documents
    from genlab.pretraining.tokenizer import make_tokenizer

    split = split_documents(load_documents("builtin", docs), 0.05, 0)
    tok = make_tokenizer("bpe:2048", (d.text for d in split.train), out / "tokenizer")
    blocks = pack(split.train, tok, block).blocks
    torch.save(blocks, out / "blocks.pt")
    heldout = pack(split.heldout, tok, block).blocks[:HELDOUT_BLOCKS]
    torch.save(heldout, out / "heldout.pt")
    return {"blocks": len(blocks), "heldout_blocks": len(heldout), "vocab": len(tok)}


def heldout_loss(model, out: Path) -> float:
    """Mean next-token loss (fp32) of the trained model on the same held-out blocks for both sides."""
    import torch
    import torch.nn.functional as F

    blocks = torch.load(out / "heldout.pt")
    model.eval()
    total = 0.0
    with torch.no_grad():
        for k in range(0, len(blocks), 16):
            ids = blocks[k:k + 16]
            logits = model(input_ids=ids).logits.float()
            total += F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten(), reduction="sum").item()
    return total / (len(blocks) * (blocks.shape[1] - 1))


def _model(out: Path, size: str, block: int):
    from transformers import AutoTokenizer

    from genlab.pretraining.models import build_model, parse_size

    tok = AutoTokenizer.from_pretrained(out / "tokenizer")
    return build_model("causal", parse_size(size), len(tok), block, tok, seed=0), tok


def run_genlab(out: Path, size: str, block: int, steps: int, precision: str, compile_: bool, seed: int) -> dict:
    import torch

    from genlab.pretraining.objectives import CausalLM, blocks_of
    from genlab.tuning import TrainConfig, train

    model, tok = _model(out, size, block)
    blocks = torch.load(out / "blocks.pt")
    cfg = TrainConfig(lr=HP["lr"], batch_size=HP["batch_size"], warmup_ratio=HP["warmup_ratio"], seed=seed,
                      max_steps=steps, precision=precision, save_every=10**9, group_by_length=False,
                      max_grad_norm=HP["max_grad_norm"], compile=compile_, load_best=False)
    ends: list[float] = []  # the clock at the end of each optimizer step
    t0 = time.perf_counter()
    res = train(model, tok, "causal", blocks_of(blocks), [], cfg, out / "genlab", objective=CausalLM(),
                on_step=lambda state: ends.append(time.perf_counter()))
    wall = time.perf_counter() - t0
    losses = [r["loss"] for r in res.history if "loss" in r]
    return _summary("genlab", res.tokens, wall, losses, model, heldout_loss(model, out), ends, block)


def run_trainer(out: Path, size: str, block: int, steps: int, precision: str, seed: int,
                compile_: bool = False) -> dict:
    import torch
    from datasets import Dataset
    from transformers import Trainer, TrainerCallback, TrainingArguments, default_data_collator

    ends: list[float] = []

    class StepClock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            ends.append(time.perf_counter())

    model, tok = _model(out, size, block)
    blocks = torch.load(out / "blocks.pt")
    data = Dataset.from_dict({"input_ids": blocks.tolist(), "labels": blocks.tolist()})
    args = TrainingArguments(output_dir=str(out / "trainer"), per_device_train_batch_size=HP["batch_size"],
                             max_steps=steps, learning_rate=HP["lr"], lr_scheduler_type="cosine",
                             warmup_steps=int(HP["warmup_ratio"] * steps), weight_decay=0.0,
                             max_grad_norm=HP["max_grad_norm"], seed=seed, bf16=precision == "bf16",
                             use_cpu=not torch.cuda.is_available(), logging_steps=1, save_strategy="no",
                             report_to="none", dataloader_num_workers=0, disable_tqdm=True,
                             torch_compile=compile_)
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=default_data_collator,
                      callbacks=[StepClock()])
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return _summary("trainer", steps * HP["batch_size"] * block, wall, losses, model, heldout_loss(model, out),
                    ends, block)


def _summary(name: str, tokens: int, wall: float, losses: list[float], model, heldout: float, ends: list[float],
             block: int) -> dict:
    tail = losses[-max(1, len(losses) // 10):]
    from genlab.pretraining.flops import count_params

    w = min(WARMUP_STEPS, len(ends) - 2)
    steady = (len(ends) - 1 - w) * HP["batch_size"] * block / (ends[-1] - ends[w])
    return {"name": name, "tokens": tokens, "wall_s": round(wall, 1), "tokens_per_s": round(tokens / wall, 1),
            "steady_tokens_per_s": round(steady, 1),
            "final_loss": round(sum(tail) / len(tail), 4), "heldout_loss": round(heldout, 4), "steps": len(losses),
            "params": count_params(model).to_dict()}


def _mean_of(rs: list[dict], seeds: list[int]) -> dict:
    """One side over the seeds: each number averaged; the per-seed losses kept."""
    out = dict(rs[0], seeds=seeds)
    for key in ("wall_s", "tokens_per_s", "steady_tokens_per_s", "final_loss", "heldout_loss"):
        out[key] = round(sum(r[key] for r in rs) / len(rs), 4)
    if len(rs) > 1:
        out["heldout_loss_per_seed"] = [r["heldout_loss"] for r in rs]
        out["final_loss_per_seed"] = [r["final_loss"] for r in rs]
    return out


def child(which: str, a, out: Path, seed: int) -> dict:
    cmd = [sys.executable, __file__, "--child", which, "--seeds", str(seed), "--size", a.size,
           "--block", str(a.block), "--steps", str(a.steps), "--precision", a.precision, "--out", str(out)]
    cmd += ["--compile"] if a.compile else []
    cmd += ["--trainer-compile"] if a.trainer_compile else []
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{which} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="96x4")
    ap.add_argument("--block", type=int, default=128)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--docs", type=int, default=8000)
    ap.add_argument("--precision", choices=["bf16", "fp32"], default="fp32")
    ap.add_argument("--compile", action="store_true", help="genlab with torch.compile'd blocks")
    ap.add_argument("--trainer-compile", action="store_true", help="Trainer with torch_compile=True")
    ap.add_argument("--which", choices=["both", "genlab", "trainer"], default="both")
    ap.add_argument("--child", choices=["genlab", "trainer"])
    ap.add_argument("--seeds", default="0", help="data-order seeds, comma-separated (the model's init stays seed 0)")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-pretrain"))
    a = ap.parse_args()
    seeds = [int(x) for x in a.seeds.split(",")]
    if a.child:
        res = run_genlab(a.out, a.size, a.block, a.steps, a.precision, a.compile, seeds[0]) if a.child == "genlab" \
            else run_trainer(a.out, a.size, a.block, a.steps, a.precision, seeds[0], a.trainer_compile)
        print(json.dumps(res))
        return
    from genlab.runtime import machine_line

    print(machine_line(a.precision), file=sys.stderr)
    a.out.mkdir(parents=True, exist_ok=True)
    info = make_data(a.out, a.size, a.block, a.docs)
    print(json.dumps({"data": info, "size": a.size, "block": a.block, "steps": a.steps, "precision": a.precision,
                      "compile": a.compile, "trainer_compile": a.trainer_compile, "seeds": seeds}))
    sides = ["genlab", "trainer"] if a.which == "both" else [a.which]
    runs: dict[str, list[dict]] = {s: [] for s in sides}
    for seed in seeds:  # sides alternate, so that a slower spell of a shared machine hits both
        for s in sides:
            runs[s].append(child(s, a, a.out, seed))
    results = {s: _mean_of(rs, seeds) for s, rs in runs.items()}
    from transformers import LlamaConfig

    from genlab.pretraining.flops import decoder_forward_flops, matmul_peak_tflops
    from genlab.pretraining.models import model_config, parse_size

    cfg: LlamaConfig = model_config("causal", parse_size(a.size), info["vocab"], a.block)
    per_token = 3 * decoder_forward_flops(cfg, a.block) / a.block
    peak = matmul_peak_tflops(a.precision)
    for r in results.values():
        r["mfu"] = round(per_token * r["tokens_per_s"] / (peak * 1e12), 4)
        print(json.dumps(r))
    if len(results) == 2:
        g, t = results["genlab"], results["trainer"]
        ratio = lambda key: round(g[key] / t[key], 2)  # noqa: E731
        apart = lambda key: round(abs(g[key] - t[key]) / t[key], 4)  # noqa: E731
        print(json.dumps({"speedup_tokens_per_s": ratio("tokens_per_s"),
                          "speedup_steady_tokens_per_s": ratio("steady_tokens_per_s"),
                          "loss_rel_diff": apart("final_loss"), "heldout_loss_rel_diff": apart("heldout_loss"),
                          "peak_tflops": peak, "peak_dtype": a.precision,
                          "exact_flops_per_token": per_token}))
    (a.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
