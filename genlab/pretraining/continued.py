"""Continued pre-training (domain adaptation): a released model keeps training on domain text.

The BloombergGPT lesson (Wu et al. 2023): domain text lowers the domain's
perplexity, and the question is what it costs elsewhere. So the run measures,
before and after, on the same blocks:

- perplexity on the domain's held-out documents (never trained on);
- perplexity on general text (``--general``, default the built-in reviews and
  chats, i.e. text outside a support-dialogue domain): forgetting;
- a downstream task (``--task``) through ``genlab.evaluation.evaluate``, with the
  paired bootstrap of ``compare_runs`` on the same examples.

``method="lora"`` trains a LoRA adapter (saved in ``adapter/``, a plain peft
folder for ``genlab eval --adapter``); ``full`` updates every weight (``model/``).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from genlab.io import atomic_write_json
from genlab.pretraining import corpus as C
from genlab.pretraining.config import PretrainConfig
from genlab.pretraining.objectives import CausalLM, blocks_of
from genlab.progress import Reporter

GENERAL_DEFAULT = "builtin:reviews,chat"


def continue_pretraining(cfg: PretrainConfig, train_cfg, out: Path, *, resume: bool, reporter: Reporter):
    from genlab.models import load
    from genlab.pretraining.api import prepare_data, run_training

    reporter.status(f"loading {cfg.from_model}")
    lm = load(cfg.from_model, precision="fp32")  # fp32 master weights; the loop computes under autocast
    data = prepare_data(cfg, out, reporter, tokenizer=lm.tokenizer)
    general = general_blocks(cfg, lm.tokenizer)
    model = _trainable(lm.model, cfg)
    domain_val = data.heldout.blocks[:cfg.val_blocks]
    before = {"domain": heldout_loss(model, domain_val, train_cfg.precision),
              "general": heldout_loss(model, general, train_cfg.precision)}
    task_before = _task_eval(lm, model, cfg, train_cfg, out / "eval" / "before", reporter) if cfg.task else None
    res = run_training(cfg, train_cfg, out, model, data, resume=resume, reporter=reporter, kind="causal",
                       save_as="adapter" if cfg.method == "lora" else "model")
    after = {"domain": heldout_loss(model, domain_val, train_cfg.precision),
             "general": heldout_loss(model, general, train_cfg.precision)}
    res.continued = {"perplexity": [
        _ppl_row(f"domain held-out ({cfg.corpus})", before["domain"], after["domain"], len(domain_val)),
        _ppl_row(f"general ({cfg.general or GENERAL_DEFAULT})", before["general"], after["general"], len(general))],
        "method": cfg.method}
    if cfg.task:
        _task_eval(lm, model, cfg, train_cfg, out / "eval" / "after", reporter)
        res.continued["task"] = paired_rows(cfg.task, out / "eval" / "before", out / "eval" / "after", task_before)
    atomic_write_json(out / "results.json", res.to_dict())
    return res


def _trainable(model, cfg: PretrainConfig):
    if cfg.method == "lora":
        from genlab.tuning import methods

        return methods.apply("lora", model, {"r": cfg.lora_r, "alpha": 2.0 * cfg.lora_r})
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def general_blocks(cfg: PretrainConfig, tokenizer) -> torch.Tensor:
    """General text packed like the domain's, never trained on: the forgetting probe."""
    docs = C.load_documents(cfg.general or GENERAL_DEFAULT, n_docs=max(64, cfg.val_blocks * 4), seed=cfg.seed + 1)
    return C.pack(docs, tokenizer, cfg.block_size, name="general").blocks[:cfg.val_blocks]


@torch.no_grad()
def heldout_loss(model, blocks: torch.Tensor, precision: str = "auto", batch_size: int = 8) -> float:
    """Mean next-token cross-entropy over ``blocks`` (every position of every block weighs the same)."""
    from genlab.runtime import autocast

    device = next(model.parameters()).device
    was = model.training
    model.eval()
    total, count = 0.0, 0
    objective = CausalLM()
    try:
        for k in range(0, len(blocks), batch_size):
            batch = objective.collate(blocks_of(blocks[k:k + batch_size]), 0)
            batch = {n: v.to(device) for n, v in batch.items()}
            with autocast(precision, device):
                loss, n = objective.loss(model, batch)
            total, count = total + loss.item() * n, count + n
    finally:
        model.train(was)
    return total / max(count, 1)


def _ppl_row(text: str, before: float, after: float, blocks: int) -> dict:
    return {"text": text, "before_loss": before, "after_loss": after, "before_ppl": math.exp(before),
            "after_ppl": math.exp(after), "blocks": blocks}


def _task_eval(lm, model, cfg: PretrainConfig, train_cfg, out_dir: Path, reporter: Reporter):
    from genlab.evaluation import EvalConfig, evaluate

    reporter.status(f"{cfg.task}: scoring {cfg.n_task} test examples")
    model.eval()
    view = dataclasses.replace(lm, model=model)
    return evaluate(view, cfg.task, EvalConfig(n=cfg.n_task, precision=train_cfg.precision, seed=cfg.seed),
                    out_dir=out_dir, reporter=reporter)


def paired_rows(task: str, before_dir: Path, after_dir: Path, _before=None) -> dict:
    """after − before per metric on the same examples, paired bootstrap (``genlab.evaluation.compare_runs``)."""
    from genlab.evaluation import compare_runs

    cmp = compare_runs([before_dir, after_dir], examples=0)
    rows = [{"metric": r["metric"], "before": r["values"][0], "after": r["values"][1], "delta": r["deltas"][0],
             "ci_low": r["delta_cis"][0][0], "ci_high": r["delta_cis"][0][1], "p_value": r["p_values"][0]}
            for r in cmp.rows]
    return {"task": task, "n": cmp.shared, "rows": rows}
