"""Deployment targets on the embedded model, each sized for one ~8-minute run on 2 CPU cores.

    python bench/deploy.py int8 [--variants none 0.5 0.8]  # decode tok/s batch 1: int8 vs fp32 vs bf16; ppl
    python bench/deploy.py gguf A.gguf [B.gguf]     # round trip: max logit diff, perplexity change vs the source
    python bench/deploy.py prune [--sparsities ...] # Wanda vs magnitude perplexity at 10-70% (+ 2:4, channels)
    python bench/deploy.py distill STUDENT_DIR      # perplexity gap recovered; decode speed-up vs the teacher

Perplexity: ``support-summary`` test-unseen texts (``--n-ppl``, default 32), fp32 compute
unless stated. Every line prints the ratio against the peer measured in the same run.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402

from genlab.deploy.texts import HELDOUT_SPLIT, task_texts  # noqa: E402
from genlab.deploy.tradeoff import MeasureConfig, decode_tok_s, perplexity  # noqa: E402
from genlab.models import DEFAULT_MODEL, LoadedModel, load  # noqa: E402


def _texts(args):
    return task_texts(split=HELDOUT_SPLIT, n=args.n_ppl)


def _decode(lm, precision: str, batch: int = 1, tokens: int = 32) -> float:
    return decode_tok_s(lm, batch, MeasureConfig(precision=precision, decode_tokens=tokens))


def int8(args) -> None:
    from genlab.deploy import QuantizeConfig, quantize

    texts = _texts(args)
    fp32 = load(args.model, precision="fp32")
    bf16 = LoadedModel(fp32.name, copy.deepcopy(fp32.model).to(torch.bfloat16), fp32.tokenizer, fp32.kind,
                       fp32.model_hash, fp32.path, fp32.source)
    rows = {}
    for name, lm, prec in (("fp32", fp32, "fp32"), ("bf16", bf16, "bf16")):
        rows[name] = (_decode(lm, prec), perplexity(lm, texts, prec))
        print(f"{name:5s} decode b1 {rows[name][0]:6.1f} tok/s   ppl {rows[name][1]:.4f}", flush=True)
    f, b = rows["fp32"], rows["bf16"]
    print(f"bf16 ppl vs fp32 {100 * (b[1] / f[1] - 1):+.2f}%")
    for variant in args.variants:  # ALPHA[:SKIP]: SmoothQuant α or "none"; SKIP: comma-separated float patterns
        alpha, _, skip = variant.partition(":")
        patterns = [p for p in skip.split(",") if p]
        cfg = QuantizeConfig(skip=patterns, smooth=None if alpha == "none" else float(alpha))
        q = quantize(load(args.model, precision="fp32"), cfg)
        i = (_decode(q, "fp32"), perplexity(q, texts, "fp32"))
        label = f"int8 smooth={alpha}" + (f" float={skip}" if patterns else "")
        print(f"{label}: decode b1 {i[0]:6.1f} tok/s ({i[0] / f[0]:.2f}x fp32, target >= 2x; {i[0] / b[0]:.2f}x bf16)"
              f"   ppl {i[1]:.4f} ({100 * (i[1] / f[1] - 1):+.2f}% vs fp32, target <= +3%)", flush=True)


def gguf(args) -> None:
    texts = _texts(args)
    src = load(args.model, precision="fp32")
    ppl_src = perplexity(src, texts, "fp32")
    ids = src.tokenizer(texts[0], return_tensors="pt").input_ids[:, :256]
    with torch.inference_mode():
        ref = src.model(ids).logits
    print(f"source {args.model}: ppl {ppl_src:.4f}")
    for path in args.files:
        back = load(path, precision="fp32")
        with torch.inference_mode():
            diff = (back.model(ids).logits - ref).abs()
        ppl = perplexity(back, texts, "fp32")
        same_tok = all(back.tokenizer(t).input_ids == src.tokenizer(t).input_ids for t in texts)
        print(f"{os.path.basename(path)}: {os.path.getsize(path) / 2**20:.1f} MiB  max |Δlogit| {diff.max():.4f} "
              f"(mean {diff.mean():.5f}, logit range {ref.min():.1f}..{ref.max():.1f})  ppl {ppl:.4f} "
              f"({100 * (ppl / ppl_src - 1):+.3f}% vs source)  tokenizer identical on the texts: {same_tok}", flush=True)


def prune(args) -> None:
    from genlab.deploy import PruneConfig
    from genlab.deploy.prune import prune as prune_model, prune_mlp_channels

    texts, calib = _texts(args), task_texts(n=32)
    dense = load(args.model, precision="fp32")
    base = perplexity(dense, texts, "bf16")
    print(f"dense ppl {base:.3f} (bf16 compute)", flush=True)
    runs = [(m, s, "unstructured") for s in args.sparsities for m in ("magnitude", "wanda")]
    runs += [(m, 0.5, "2:4") for m in ("magnitude", "wanda")]
    for method, s, pattern in runs:
        lm = LoadedModel(dense.name, copy.deepcopy(dense.model), dense.tokenizer, dense.kind, "x", dense.path, "")
        t0 = time.perf_counter()
        prune_model(lm, PruneConfig(method=method, sparsity=s, pattern=pattern), texts=calib)
        ppl = perplexity(lm, texts, "bf16")
        print(f"{method:9s} {pattern:12s} {s:.0%}: ppl {ppl:9.3f} ({ppl / base:.2f}x dense)  "
              f"[{time.perf_counter() - t0:.0f} s]", flush=True)
    for ratio in args.channels:
        lm = LoadedModel(dense.name, copy.deepcopy(dense.model), dense.tokenizer, dense.kind, "x", dense.path, "")
        prune_mlp_channels(lm, ratio, texts=calib)
        ppl = perplexity(lm, texts, "bf16")
        sp, sd = _decode(lm, "fp32"), _decode(dense, "fp32")
        print(f"mlp channels -{ratio:.0%}: ppl {ppl:.3f} ({ppl / base:.2f}x dense)  decode b1 fp32 {sp:.1f} vs dense "
              f"{sd:.1f} tok/s ({sp / sd:.2f}x)", flush=True)


def distill(args) -> None:
    from genlab.deploy.distill import block_indices, student_from_teacher

    texts = _texts(args)
    teacher = load(args.model, precision="fp32")
    blocks = json.loads((Path(args.student) / "genlab-deploy.json").read_text())["settings"]["blocks"]
    init = student_from_teacher(teacher, block_indices(blocks, teacher.model.config.num_hidden_layers))
    student = load(args.student, precision="fp32")
    print(f"student: blocks {blocks!r} of the teacher's {teacher.model.config.num_hidden_layers}")
    p_t, p_0, p_s = (perplexity(m, texts, "bf16") for m in (teacher, init, student))
    print(f"teacher ppl {p_t:.3f}; truncated student before distillation {p_0:.3f}; after {p_s:.3f}")
    # a truncated student can start at a perplexity of 10^6: measured in perplexity, any training "recovers"
    # most of that gap; in cross-entropy (log perplexity, what the loss measures) the figure is honest
    lt, l0, ls = (math.log(p) for p in (p_t, p_0, p_s))
    print(f"gap recovered: {(p_0 - p_s) / (p_0 - p_t):.1%} in perplexity, {(l0 - ls) / (l0 - lt):.1%} in "
          f"cross-entropy (target >= 70%)", flush=True)
    for prec in ("bf16", "fp32"):
        t, s = _decode(teacher, prec), _decode(student, prec)
        print(f"decode b1 {prec}: student {s:.1f} vs teacher {t:.1f} tok/s ({s / t:.2f}x; target >= 1.8x)", flush=True)


def distill_speed(args) -> None:
    """Teacher on the fly vs cached top-k: seconds per training text, teacher pass included (4 steps of 8)."""
    import tempfile

    from genlab.deploy import DistillConfig, distill_to
    from genlab.tuning import TrainConfig

    texts = task_texts(n=32)
    for top_k in (None, 64):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            _, res = distill_to(args.model, f"{tmp}/s", DistillConfig(top_k=top_k, max_length=256),
                                TrainConfig(lr=1e-4, max_steps=4, batch_size=8, val_generate=0, eval_every=1000),
                                texts=texts, val_texts=texts[:2])
            total = time.perf_counter() - t0
        mode = "on the fly" if top_k is None else f"cached top-{top_k}"
        print(f"{mode:14s}: train loop {res.tokens_per_s:6.0f} tok/s; whole run {total:5.1f} s for 32 texts "
              f"(1 epoch, teacher pass included)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["int8", "gguf", "prune", "distill", "distill_speed"])
    ap.add_argument("files", nargs="*", help="gguf: exported files; distill: the student folder")
    ap.add_argument("-m", "--model", default=DEFAULT_MODEL)
    ap.add_argument("--n-ppl", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", nargs="*", default=["none", "0.5"],
                    help="int8 variants, each ALPHA[:SKIP]: SmoothQuant's α or none, and comma-separated module "
                         "patterns kept in float, e.g. none 0.5 0.8 0.5:lm_head")
    ap.add_argument("--sparsities", type=float, nargs="*", default=[0.1, 0.3, 0.5, 0.7])
    ap.add_argument("--channels", type=float, nargs="*", default=[0.25, 0.5])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), model {args.model}", flush=True)
    if args.what == "distill":
        args.student = args.files[0]
    globals()[args.what](args)


if __name__ == "__main__":
    main()
