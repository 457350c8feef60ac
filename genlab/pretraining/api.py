"""``pretrain()``: corpus → tokenizer → packed blocks → model → the tuning loop → accounting.

    from genlab.pretraining import PretrainConfig, pretrain
    from genlab.tuning import TrainConfig
    r = pretrain(PretrainConfig(objective="causal", size="128x4", tokens=2_000_000),
                 TrainConfig(lr=2e-3, batch_size=16), "runs/pt")
    r.heldout_loss, r.after.mfu

The run folder: config.json, tokenizer/, metrics.jsonl, train_curves.png and
checkpoints/ (from the loop), model/ (the trained weights, loadable with
``-m runs/pt/model``), results.json (corpus, accounting before and after,
held-out loss). ``resume=True`` continues from the last checkpoint: the
corpus, split and tokenizer are rebuilt (or reloaded) identically.
"""

from __future__ import annotations

import math
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genlab.errors import GenlabError
from genlab.io import atomic_write_json
from genlab.pretraining import corpus as C
from genlab.pretraining import flops as F
from genlab.pretraining.config import PretrainConfig
from genlab.pretraining.models import build_model, parse_size
from genlab.pretraining.objectives import blocks_of, make_objective
from genlab.pretraining.tokenizer import make_tokenizer
from genlab.progress import Reporter, or_quiet

RUN_FILES = ("config.json", "results.json", "metrics.jsonl", "checkpoints", "model", "adapter", "tokenizer",
             "train_curves.png", "eval")


@dataclass
class Data:
    split: C.Split
    train: C.Packed
    heldout: C.Packed
    tokenizer: Any


@dataclass
class PretrainResult:
    out_dir: Path
    params: F.Params
    before: F.Accounting
    after: F.Accounting
    heldout_loss: float
    train: Any  # genlab.tuning TrainResult
    corpus: dict = field(default_factory=dict)
    continued: dict | None = None  # continued pre-training: perplexities and the downstream task

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.heldout_loss, 50.0))

    def to_dict(self) -> dict:
        return {"out_dir": str(self.out_dir), "params": self.params.to_dict(), "before": self.before.to_dict(),
                "after": self.after.to_dict(), "heldout_loss": self.heldout_loss, "perplexity": self.perplexity,
                "train": self.train.to_dict(), "corpus": self.corpus, "continued": self.continued}


def pretrain(cfg: PretrainConfig, train_cfg=None, out_dir: str | Path = "runs/pretrain", *, resume: bool = False,
             overwrite: bool = False, reporter: Reporter | None = None) -> PretrainResult:
    """Pre-train a new model (or continue ``cfg.from_model``) on ``cfg.corpus`` through ``genlab.tuning.train``."""
    from genlab.tuning import TrainConfig

    reporter = or_quiet(reporter)
    out = Path(out_dir)
    prepare_run_dir(out, resume=resume, overwrite=overwrite)
    if cfg.from_model is not None:
        from genlab.pretraining.continued import continue_pretraining

        return continue_pretraining(cfg, train_cfg or TrainConfig(lr=2e-5, batch_size=4), out, resume=resume,
                                    reporter=reporter)
    data = prepare_data(cfg, out, reporter)
    model = build_model(cfg.objective, parse_size(cfg.size), len(data.tokenizer), cfg.block_size, data.tokenizer,
                        seed=cfg.seed)
    return run_training(cfg, train_cfg or TrainConfig(lr=2e-3, batch_size=16), out, model, data, resume=resume,
                        reporter=reporter)


def prepare_data(cfg: PretrainConfig, out: Path | None, reporter: Reporter, tokenizer=None) -> Data:
    """Documents → split → tokenizer (trained on the training documents only) → packed blocks."""
    reporter.status(f"corpus: reading {cfg.corpus}")
    found: dict[str, str] = {}
    docs = C.load_documents(cfg.corpus, cfg.docs, text_field=cfg.text_field, seed=cfg.seed, found=found)
    for source, name in found.items():
        reporter.status(f'corpus: {source}: the text is field "{name}" (--text-field to choose another)')
    split = C.split_documents(docs, cfg.heldout, cfg.seed)
    if tokenizer is None:
        tokenizer = make_tokenizer(cfg.tokenizer, (d.text for d in split.train),
                                   None if out is None else out / "tokenizer")
    train = C.pack(split.train, tokenizer, cfg.block_size, name="training")
    held = C.pack(split.heldout, tokenizer, cfg.block_size, name="held-out")
    reporter.status(f"corpus: {split.summary()} -> {len(train)} training / {len(held)} held-out blocks "
                    f"of {cfg.block_size} tokens")
    return Data(split, train, held, tokenizer)


def loop_config(cfg: PretrainConfig, train_cfg, n_train_blocks: int, n_val: int):
    """The loop's settings for pre-training: a token budget sets the steps; every block is the same length."""
    per_step = train_cfg.batch_size * train_cfg.grad_accum * cfg.block_size
    changes: dict[str, Any] = {"group_by_length": False, "val_generate": 0, "load_best": False,
                               "max_seq_len": cfg.block_size, "val_max_examples": n_val}
    if cfg.tokens is not None:
        changes["max_steps"] = max(1, math.ceil(cfg.tokens / per_step))
    steps = changes.get("max_steps") or max(1, math.ceil(train_cfg.epochs * n_train_blocks
                                                         / (train_cfg.batch_size * train_cfg.grad_accum)))
    if train_cfg.eval_every is None:
        changes["eval_every"] = max(1, steps // 8)  # a held-out curve, not one point per epoch
    if train_cfg.save_every is None:
        changes["save_every"] = max(1, steps // 4)
    return train_cfg.replace(**changes)


def run_training(cfg: PretrainConfig, train_cfg, out: Path, model, data: Data, *, resume: bool,
                 reporter: Reporter, objective=None, kind: str | None = None, save_as: str = "model") -> PretrainResult:
    from genlab.tuning import train

    C.check_vocab(data.train, model.get_input_embeddings().num_embeddings, where="tokenizer vs model")
    C.check_vocab(data.heldout, model.get_input_embeddings().num_embeddings, where="tokenizer vs model")
    n_val = min(len(data.heldout), cfg.val_blocks)
    tcfg = loop_config(cfg, train_cfg, len(data.train), n_val)
    objective = objective or make_objective(cfg.objective, data.tokenizer, len(data.tokenizer), cfg.seed)
    train_set, val_set = blocks_of(data.train.blocks), blocks_of(data.heldout.blocks[:n_val])
    params = F.count_params(model)
    per_token = flops_per_token(model, cfg.objective, objective, train_set, cfg.block_size)
    steps = tcfg.max_steps or math.ceil(tcfg.epochs * len(train_set) / (tcfg.batch_size * tcfg.grad_accum))
    planned = steps * tcfg.batch_size * tcfg.grad_accum * cfg.block_size
    before = F.account(params, planned, per_token)
    write_config(out, cfg, tcfg, data, params, before)
    reporter.status(describe_accounting("before", before))
    result = train(model, data.tokenizer, kind or cfg.objective, train_set, val_set, tcfg, out, resume=resume,
                   objective=objective)
    after = F.account(params, result.tokens, per_token, seconds=result.wall_s, peak=peak_of(tcfg.precision))
    reporter.status(describe_accounting("after", after))
    val = [r["val_loss"] for r in result.history if "val_loss" in r]
    if not val:
        raise GenlabError("the run ended without a held-out evaluation", hint="check eval_every and the held-out set")
    save_model(model, data.tokenizer, out / save_as)
    res = PretrainResult(out, params, before, after, float(val[-1]), result,
                         corpus={**data.split.summary(), "train_blocks": len(data.train),
                                 "heldout_blocks": len(data.heldout), "heldout_blocks_scored": n_val,
                                 "block_size": cfg.block_size, "train_tokens": data.train.tokens})
    atomic_write_json(out / "results.json", res.to_dict())
    return res


def flops_per_token(model, objective_name: str, objective, train_set, block_size: int) -> float:
    """Training FLOPs per token. Backward costs 2 × forward when every weight gets a gradient; a frozen
    weight (LoRA's base) only passes gradients to its input, so then a token costs (2 + trainable share) × fwd."""
    if objective_name == "causal" and hasattr(model.config, "intermediate_size"):
        params = list(model.parameters())
        trainable = sum(p.numel() for p in params if p.requires_grad) / max(sum(p.numel() for p in params), 1)
        return (2 + trainable) * F.decoder_forward_flops(model.config, block_size) / block_size
    batch = objective.collate(train_set[:2], 0)
    state = torch.get_rng_state()  # counting draws masks: keep the run's RNG stream untouched
    try:
        return F.counted_train_flops(model, objective, batch) / batch["input_ids"].numel()
    finally:
        torch.set_rng_state(state)


def peak_of(precision: str) -> tuple[str, float]:
    from genlab.runtime import resolve_precision

    dtype = resolve_precision(precision)
    return dtype, F.matmul_peak_tflops(dtype)


def describe_accounting(when: str, a: F.Accounting) -> str:
    p = a.params
    text = (f"{when}: params {p['total']:,} (non-embedding {p['non_embedding']:,}, embedding "
            f"{100 * p['embedding_share']:.0f}%) · tokens {a.tokens:,} · 6ND {a.flops_6nd:.3g} · exact "
            f"{a.flops_exact:.3g} FLOPs · A100-hours {a.gpu_hours['A100']:.2g}")
    if a.mfu is not None:
        text += f" · {a.tokens_per_s:,.0f} tok/s · MFU {100 * a.mfu:.2f}% of {a.peak_tflops} TFLOPS {a.peak_dtype}"
    return text


def save_model(model, tokenizer, path: Path) -> None:
    """Weights and tokenizer in a folder ``genlab.models.load`` and transformers read (written, then renamed)."""
    from transformers.utils import logging as hf_logging

    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # the library prints nothing
    try:
        model.save_pretrained(tmp)
    finally:
        if shown:
            hf_logging.enable_progress_bar()
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(path, ignore_errors=True)
    tmp.replace(path)


def prepare_run_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to train into an earlier run by accident, as ``genlab tune`` does (with pre-training's files)."""
    from genlab.tuning.api import prepare_run_dir as prepare

    prepare(out, resume=resume, overwrite=overwrite, run_files=RUN_FILES, where="pretrain")


def write_config(out: Path, cfg: PretrainConfig, tcfg, data: Data, params: F.Params, before: F.Accounting) -> None:
    from genlab.provenance import Provenance

    atomic_write_json(out / "config.json", {
        "command": sys.argv, "pretrain_config": cfg.to_dict(), "train_config": tcfg.to_dict(),
        "corpus": data.split.summary(), "params": params.to_dict(), "before": before.to_dict(),
        "provenance": Provenance.capture(sys.argv).to_json()})
