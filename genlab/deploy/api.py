"""One function per technique: load the source, optimize, write a model folder (or .gguf) atomically.

Every output folder loads back through ``genlab.models.load`` and carries
``genlab-deploy.json`` (technique, source, settings) for the trade-off table.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Any

from genlab.deploy.distill import (DistillConfig, DistillObjective, TextExample, block_indices, cache_top_k,
                                   check_same_tokenizer, student_from_teacher)
from genlab.deploy.gguf_export import ExportConfig, export_gguf
from genlab.deploy.prune import PruneConfig, prune, prune_mlp_channels, sparsity
from genlab.deploy.quantize import QuantizeConfig, quantize
from genlab.deploy.storage import refuse_existing, save_model
from genlab.progress import Reporter, or_quiet


def _source(lm) -> dict[str, Any]:
    return {"name": str(lm.name), "path": str(lm.path), "model_hash": lm.model_hash}


def quantize_to(model, out: str | os.PathLike, cfg: QuantizeConfig | None = None, *, force: bool = False,
                texts: list[str] | None = None, reporter: Reporter | None = None) -> Path:
    from genlab.models import as_loaded

    cfg = cfg or QuantizeConfig()
    refuse_existing(out, force)
    lm = as_loaded(model, precision="fp32")
    source = _source(lm)
    q = quantize(lm, cfg, texts=texts, reporter=reporter)
    return save_model(q, out, {"technique": "quantize", "source": source, "settings": dataclasses.asdict(cfg)},
                      force=force)


def prune_to(model, out: str | os.PathLike, cfg: PruneConfig | None = None, *, channels: float | None = None,
             force: bool = False, reporter: Reporter | None = None) -> Path:
    """Unstructured/2:4 pruning (``cfg``), or structured MLP-channel pruning when ``channels`` is given."""
    from genlab.models import as_loaded

    refuse_existing(out, force)
    lm = as_loaded(model, precision="fp32")
    source = _source(lm)
    if channels is not None:
        prune_mlp_channels(lm, channels, reporter=reporter)
        settings = {"structured": "mlp-channels", "ratio": channels,
                    "intermediate_size": lm.model.config.intermediate_size}
    else:
        cfg = cfg or PruneConfig()
        prune(lm, cfg, reporter=reporter)
        settings = {**dataclasses.asdict(cfg), "measured_sparsity": round(sparsity(lm.model, cfg.skip), 4)}
    return save_model(lm, out, {"technique": "prune", "source": source, "settings": settings}, force=force)


def export_to(model, out: str | os.PathLike, cfg: ExportConfig | None = None, *, force: bool = False,
              reporter: Reporter | None = None) -> Path:
    return export_gguf(model, out, cfg, force=force, reporter=reporter)


def distill_to(teacher, out: str | os.PathLike, cfg: DistillConfig | None = None, train_cfg=None, *,
               student=None, texts: list[str] | None = None, val_texts: list[str] | None = None,
               force: bool = False, reporter: Reporter | None = None) -> tuple[Path, Any]:
    """Distill ``teacher`` into ``student`` (default: the teacher's ``cfg.blocks``) through ``genlab.tuning.train``.

    Returns (the student's folder, the loop's ``TrainResult``). Training logs and curves go to ``out/train``.
    """
    import torch

    from genlab.deploy.texts import task_texts
    from genlab.models import as_loaded
    from genlab.runtime import resolve_precision
    from genlab.tuning import TrainConfig, train

    cfg = cfg or DistillConfig()
    train_cfg = train_cfg or TrainConfig(lr=1e-4, epochs=1, batch_size=8, eval_every=None, val_generate=0)
    refuse_existing(out, force)
    teacher = as_loaded(teacher, precision="fp32")
    if student is None:
        keep = block_indices(cfg.blocks, teacher.model.config.num_hidden_layers)
        student = student_from_teacher(teacher, keep)
    else:
        student = as_loaded(student, precision="fp32")
        check_same_tokenizer(teacher, student)
    if resolve_precision(train_cfg.precision, teacher.device) == "bf16":
        teacher.model.to(torch.bfloat16)  # the teacher only runs forward: bf16 weights halve its reads
    tok = teacher.tokenizer
    encode = lambda ts: [TextExample(tok(t, truncation=True, max_length=cfg.max_length).input_ids) for t in ts]  # noqa: E731
    train_set = encode(texts if texts is not None else task_texts(n=cfg.n_texts))
    val_set = encode(val_texts if val_texts is not None else task_texts(split="validation", n=32))
    if cfg.top_k:
        train_set = cache_top_k(teacher.model, train_set, cfg.top_k, reporter)
        val_set = cache_top_k(teacher.model, val_set, cfg.top_k, reporter)
    out = Path(out)
    work = out.with_name(f".{out.name}.train")
    shutil.rmtree(work, ignore_errors=True)
    result = train(student.model, tok, "causal", train_set, val_set, train_cfg, work,
                   objective=DistillObjective(teacher.model, cfg))
    student.model.eval()
    shutil.rmtree(work / "checkpoints", ignore_errors=True)  # full-model optimizer state: large, not needed after
    record = {"technique": "distill", "source": _source(teacher),
              "settings": {**dataclasses.asdict(cfg), "blocks_kept": student.model.config.num_hidden_layers,
                           "train": train_cfg.to_dict(), "result": result.to_dict()}}
    path = save_model(student, out, record, force=force)
    shutil.move(str(work), str(path / "train"))
    return path, result
