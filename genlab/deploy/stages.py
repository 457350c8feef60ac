"""Recipe stage kinds ``quantize``, ``prune``, ``distill`` and ``export`` (registered in ``genlab.lifecycle.kinds``).

Each starts from the recipe's model or an earlier stage (``from: lora``: its adapter is
merged first), writes the optimized model under the stage folder, scores it with the
recipe's ``eval:`` like every other stage, and adds the trade-off fields the leaderboard
lacks (size on disk, decode tokens/s at batch 1, held-out perplexity) to ``extra``, for
itself and for the model it came from (the report's "Deployment trade-offs" table and picture):

    - {name: int8, kind: quantize, from: lora}
    - {name: wanda50, kind: prune, from: lora, options: {method: wanda, sparsity: 0.5}}
    - {name: student, kind: distill, from: lora, options: {blocks: ends-15}, train: {max_steps: 60}}
    - {name: gguf, kind: export, from: lora, options: {type: q8_0}}
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

from genlab.errors import ConfigError
from genlab.lifecycle.kinds import StageKind, register
from genlab.lifecycle.recipe import Stage, numbers
from genlab.records import StageRecord


def _options(item: dict, cls, where: str, extra: tuple[str, ...] = ()) -> dict:
    """The stage's ``options:`` checked against ``cls()`` (a config dataclass) plus ``extra`` keys."""
    cls = cls()
    options = numbers(item.get("options") or {})
    allowed = {f.name for f in dataclasses.fields(cls)} | set(extra)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigError(f"unknown option(s): {', '.join(unknown)}", where=f"{where}.options",
                          hint=f"allowed: {', '.join(sorted(allowed))}")
    try:
        cls(**{k: v for k, v in options.items() if k not in extra})
    except (ConfigError, TypeError) as e:
        raise ConfigError(getattr(e, "message", str(e)), where=f"{where}.options", hint=getattr(e, "hint", None)) \
            from None
    return options


def _parser(kind: str, cls, extra: tuple[str, ...] = ()):
    def parse(item: dict, train_defaults: dict, where: str) -> list[Stage]:
        options = _options(item, cls, where, extra)
        train = {}
        if kind == "distill":
            from genlab.lifecycle.stages import train_section

            train = train_section(item, {**train_defaults, "val_generate": 0}, where)
        return [Stage(item.get("name") or kind, kind, 0, None, options, train)]
    return parse


def source_model(ctx, stage: Stage, sdir: Path):
    """The model this stage starts from, in fp32, with an earlier stage's adapter merged into it."""
    from genlab.lifecycle.execute import stage_dir
    from genlab.models import load

    if stage.source is None:
        return load(ctx.recipe.model, precision="fp32")
    record = ctx.stage_record(stage.source)
    src_dir = stage_dir(Path(ctx.out), stage.source)
    if record.adapter and not record.model_dir:
        from genlab.adapters import merge

        merged = merge(src_dir / record.adapter, sdir / "merged")
        return load(str(merged), precision="fp32")
    return ctx.load_stage_model(stage.source, precision="fp32")


def finish(ctx, stage: Stage, sdir: Path, record: StageRecord, model_ref: str, label: str) -> None:
    """Score the stage's model like every other stage, plus size, decode speed and perplexity."""
    from genlab.deploy.texts import HELDOUT_SPLIT, task_texts
    from genlab.deploy.tradeoff import MeasureConfig, decode_tok_s, perplexity, size_on_disk_mb
    from genlab.evaluation import evaluate
    from genlab.models import load

    cfg = ctx.recipe.eval.replace(shots=0)
    lm = load(model_ref, precision=cfg.precision)
    result = evaluate(lm, ctx.recipe.eval_task, cfg, out_dir=sdir / "eval", reporter=ctx.reporter)
    record.total_params, record.metrics, record.eval_config = lm.num_parameters(), result.metrics, cfg.to_dict()
    record.eval_tokens_per_s, record.split = result.timings.get("tokens_per_s"), cfg.split
    ctx.reporter.status("measuring size, decode speed and perplexity")
    record.extra = {"label": label, "tradeoff": tradeoff_fields(lm, model_ref, cfg.precision),
                    "source_tradeoff": source_tradeoff(ctx, stage, sdir, cfg.precision)}
    ctx.score_other_splits(lm, cfg, sdir, record)


def tradeoff_fields(lm, model_ref: str, precision: str) -> dict:
    """Size on disk, decode tokens/s at batch 1 and held-out perplexity (16 texts) of a loaded model."""
    from genlab.deploy.texts import HELDOUT_SPLIT, task_texts
    from genlab.deploy.tradeoff import MeasureConfig, decode_tok_s, perplexity, size_on_disk_mb

    return {"size_mb": round(size_on_disk_mb(model_ref), 2),
            "decode_tok_s_b1": round(decode_tok_s(lm, 1, MeasureConfig(precision=precision)), 2),
            "perplexity": round(perplexity(lm, task_texts(split=HELDOUT_SPLIT, n=16), precision), 4)}


def source_tradeoff(ctx, stage: Stage, sdir: Path, precision: str) -> dict:
    """The same fields for the model the stage came from (its adapter merged), measured once per source
    and kept in that stage's folder (``tradeoff.json``), so the report can place both on one picture."""
    from genlab.io import atomic_write_json, read_json
    from genlab.lifecycle.execute import stage_dir

    folder = stage_dir(Path(ctx.out), stage.source) if stage.source else Path(ctx.out) / "base"
    path = folder / "tradeoff.json"
    if path.is_file() and read_json(path).get("precision") == precision:
        return read_json(path)["fields"]
    from genlab.models import load

    merged = sdir / "merged"  # where source_model merged the source's adapter for this stage
    if merged.is_dir():
        ref = str(merged)
    else:
        src = source_model(ctx, stage, sdir)
        ref = str(merged) if merged.is_dir() else str(src.path)
        del src

    lm = load(ref, precision=precision)
    fields = tradeoff_fields(lm, ref, precision)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"precision": precision, "model": ref, "fields": fields})
    return fields


def run_quantize(ctx, stage: Stage, sdir: Path, resume: bool, record: StageRecord) -> None:
    from genlab.deploy.api import quantize_to
    from genlab.deploy.quantize import QuantizeConfig

    path = quantize_to(source_model(ctx, stage, sdir), sdir / "model", QuantizeConfig(**stage.options), force=True,
                       reporter=ctx.reporter)
    record.model_dir = "model"
    finish(ctx, stage, sdir, record, str(path), f"int8 of {stage.source or 'base'}")


def run_prune(ctx, stage: Stage, sdir: Path, resume: bool, record: StageRecord) -> None:
    from genlab.deploy.api import prune_to
    from genlab.deploy.prune import PruneConfig

    opts = dict(stage.options)
    channels = opts.pop("channels", None)
    cfg = None if channels is not None else PruneConfig(**opts)
    path = prune_to(source_model(ctx, stage, sdir), sdir / "model", cfg, channels=channels, force=True,
                    reporter=ctx.reporter)
    record.model_dir = "model"
    how = f"MLP channels -{channels:.0%}" if channels is not None else f"{cfg.method} {cfg.pattern} {cfg.sparsity:.0%}"
    finish(ctx, stage, sdir, record, str(path), how)


def run_distill(ctx, stage: Stage, sdir: Path, resume: bool, record: StageRecord) -> None:
    from genlab.deploy.api import distill_to
    from genlab.deploy.distill import DistillConfig
    from genlab.tuning import TrainConfig

    cfg = DistillConfig(**stage.options)
    tcfg = TrainConfig.from_dict({"seed": ctx.recipe.seed, **stage.train})
    path, result = distill_to(source_model(ctx, stage, sdir), sdir / "model", cfg, tcfg, force=True,
                              reporter=ctx.reporter)
    record.model_dir, record.train = "model", result.to_dict()
    finish(ctx, stage, sdir, record, str(path), f"distilled ({cfg.blocks} blocks)")
    record.trainable_params = record.total_params  # the whole student is trained


def run_export(ctx, stage: Stage, sdir: Path, resume: bool, record: StageRecord) -> None:
    """Export, then score the file as read back through genlab's GGUF path (the round trip is what is scored)."""
    from genlab.deploy.gguf_export import ExportConfig, export_gguf

    cfg = ExportConfig(**stage.options)
    path = export_gguf(source_model(ctx, stage, sdir), sdir / f"model-{cfg.type}.gguf", cfg, force=True)
    record.model_dir = path.name  # a later stage can start from the file (genlab.models.load reads .gguf)
    finish(ctx, stage, sdir, record, str(path), f"GGUF {cfg.type} (round trip)")


def _config_class(module: str, name: str):
    """Imported when a stage is parsed, not when the kind registers (parsing a prompt-only recipe loads no torch)."""
    return lambda: getattr(importlib.import_module(f"genlab.deploy.{module}"), name)


register(StageKind("quantize", {"options", "from"}, _parser("quantize", _config_class("quantize", "QuantizeConfig")),
                   run_quantize))
register(StageKind("prune", {"options", "from"}, _parser("prune", _config_class("prune", "PruneConfig"), ("channels",)),
                   run_prune))
register(StageKind("distill", {"options", "train", "from"}, _parser("distill", _config_class("distill", "DistillConfig")),
                   run_distill))
register(StageKind("export", {"options", "from"}, _parser("export", _config_class("gguf_export", "ExportConfig")),
                   run_export))
