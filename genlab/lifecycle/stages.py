"""The built-in stage kinds: ``prompt`` (zero/few-shot, also written ``zero-shot`` / ``few-shot``) and ``tune``."""

from __future__ import annotations

from pathlib import Path

from genlab.errors import ConfigError
from genlab.io import read_json
from genlab.lifecycle.kinds import StageKind, register
from genlab.lifecycle.recipe import Stage, numbers
from genlab.records import StageRecord


# -- prompt -------------------------------------------------------------------------

def parse_prompt(item: dict, train_defaults: dict, where: str) -> list[Stage]:
    kind = item.get("kind")
    shots = item.get("shots", 0 if kind == "zero-shot" else 3)
    shot_list = shots if isinstance(shots, list) else [shots]
    if not all(isinstance(k, int) and k >= 0 for k in shot_list):
        raise ConfigError(f"shots must be whole numbers >= 0, not {shots!r}", where=f"{where}.shots")
    if "name" in item and len(shot_list) > 1:
        raise ConfigError("a named stage takes one shot count", where=f"{where}.shots",
                          hint="drop name: to get one stage per k (1-shot, 3-shot, ...)")
    return [Stage(item.get("name") or ("zero-shot" if k == 0 else f"{k}-shot"), "prompt", k) for k in shot_list]


def run_prompt(ctx, stage: Stage, sdir: Path, resume: bool, record: StageRecord) -> None:
    from genlab.evaluation import evaluate

    lm = ctx.inference_model()
    cfg = ctx.recipe.eval.replace(shots=stage.shots)
    result = evaluate(lm, ctx.recipe.eval_task, cfg, out_dir=sdir / "eval", reporter=ctx.reporter)
    record.total_params, record.metrics, record.eval_config = lm.num_parameters(), result.metrics, cfg.to_dict()
    record.eval_tokens_per_s, record.split = result.timings.get("tokens_per_s"), cfg.split
    ctx.score_other_splits(lm, cfg, sdir, record)


# -- tune ---------------------------------------------------------------------------

def parse_tune(item: dict, train_defaults: dict, where: str) -> list[Stage]:
    from genlab.tuning import METHODS
    from genlab.tuning.methods import make_config

    method = item.get("method")
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}", where=f"{where}.method",
                          hint=f"methods: {', '.join(sorted(METHODS))}")
    options = numbers(item.get("options") or {})
    try:
        make_config(method, options)
    except ConfigError as e:
        raise ConfigError(e.message, where=f"{where}.options", hint=e.hint) from None
    train = train_section(item, train_defaults, where)
    data = item.get("data")
    if data is not None:
        _check_task(data, f"{where}.data")
    return [Stage(item.get("name") or method, "tune", 0, method, dict(options), train, data=data)]


def _check_task(name, where: str) -> None:
    from genlab.errors import GenlabError
    from genlab.tasks import load_task

    if not isinstance(name, str):
        raise ConfigError(f"must be a task name or path, not {name!r}", where=where)
    try:
        load_task(name)
    except GenlabError as e:
        raise ConfigError(e.message, where=where, hint=e.hint) from None


def train_section(item: dict, train_defaults: dict, where: str) -> dict:
    """The recipe's ``train:`` defaults merged with the stage's, checked as a ``TrainConfig``."""
    from genlab.tuning import TrainConfig

    train = numbers({**train_defaults, **(item.get("train") or {})})
    try:
        TrainConfig.from_dict(train, where=f"{where}.train")
    except ConfigError as e:  # TrainConfig names its own field; say where it sits in the recipe
        field_name = (e.where or "").removeprefix("TrainConfig.")
        at = f"{where}.train" if e.where and e.where.startswith(where) else f"{where}.train.{field_name}"
        raise ConfigError(e.message, where=at, hint=e.hint) from None
    except TypeError as e:
        raise ConfigError(str(e), where=f"{where}.train") from None
    return train


def run_tune(ctx, stage: Stage, sdir: Path, resume: bool, record: StageRecord) -> None:
    """Train, then score base + adapter with the recipe's EvalConfig: the same path as the prompt stages."""
    from genlab.evaluation import evaluate
    from genlab.models import load
    from genlab.tuning import TrainConfig, tune

    r = ctx.recipe
    cfg = TrainConfig.from_dict({"seed": r.seed, **stage.train}, where=f"{r.source}: stages.{stage.name}.train")
    resume = resume and (sdir / "checkpoints" / "last.pt").is_file()  # interrupted before its first checkpoint
    if resume:
        ctx.reporter.status("resuming the interrupted training from its last checkpoint")
    eval_cfg = r.eval.replace(shots=0)
    if stage.data:  # trained on other data (e.g. rude replies to start a detox run), scored on the recipe's task
        result = tune(r.model, stage.data, stage.method, stage.options, cfg, sdir, resume=resume,
                      overwrite=not resume, n_train=r.n_train, eval_cfg=None, reporter=ctx.reporter)
        result.model = load(r.model, precision=eval_cfg.precision, adapter=result.adapter_path)
        result.test_metrics = evaluate(result.model, r.eval_task, eval_cfg, out_dir=sdir / "eval",
                                       reporter=ctx.reporter).metrics
    else:
        result = tune(r.model, r.task, stage.method, stage.options, cfg, sdir, resume=resume, overwrite=not resume,
                      forgetting_suite=r.forgetting or None, mixture=r.mixture, n_train=r.n_train,
                      eval_cfg=eval_cfg, reporter=ctx.reporter)
    if result.test_metrics is None:
        raise ConfigError("the tuned stage produced no test metrics", where=f"{r.source}: stages.{stage.name}")
    metrics, eval_dir = result.test_metrics, "eval"
    if r.mixture:  # a mixture is scored per task as task/metric; the leaderboard shows the first task
        prefix = f"{r.eval_task}/"
        metrics = {k[len(prefix):]: v for k, v in metrics.items() if k.startswith(prefix)}
        eval_dir = f"eval/{r.eval_task}"
    record.trainable_params, record.total_params = result.params.trainable, result.params.total
    record.eval_dir, record.metrics, record.eval_config = eval_dir, metrics, eval_cfg.to_dict()
    record.train, record.forgetting, record.adapter = result.train.to_dict(), result.forgetting, "adapter"
    results = read_json(sdir / eval_dir / "results.json")
    record.eval_tokens_per_s, record.split = results.get("timings", {}).get("tokens_per_s"), eval_cfg.split
    if r.extra_splits and not r.mixture:  # the model tune() scored the test split with: loaded once
        ctx.score_other_splits(result.model, eval_cfg, sdir, record)
    result.model = None


register(StageKind("prompt", {"shots"}, parse_prompt, run_prompt, aliases=("zero-shot", "few-shot")))
register(StageKind("tune", {"method", "options", "train", "data"}, parse_tune, run_tune))
