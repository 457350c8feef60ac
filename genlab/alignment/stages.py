"""Recipe stage kinds ``ppo`` (RLHF from an earlier stage's model) and ``dpo`` (direct preference
optimization on a preference dataset), scored like every other stage.

    stages:
      - {name: sft, kind: tune, method: lora}
      - {name: ppo, kind: ppo, from: sft, options: {reward: toxicity, steps: 30, lr: 5.0e-4, n_prompts: 200}}

``options`` are ``PPOConfig`` fields plus ``reward`` and ``n_prompts`` (training prompts of the
recipe's task; default all). ``reward`` is ``toxicity``, ``keywords:W,W``, ``reward-model:PATH``
(a reward model from ``genlab align reward``; a relative PATH is inside the run folder), or a
mapping that trains one first, into the stage's ``reward/`` folder (Bradley–Terry,
``genlab.alignment.reward``): ``{train: support-summary-prefs, model: minilm-l6, n_train: 512}``.
The stage merges the source stage's adapter into a start model (so that the start and the KL
reference are the source model), runs PPO with a fresh LoRA on it, merges the result into
``model/`` and scores it with the recipe's ``eval`` like the other stages. The report shows its
curves (reward, KL, β, entropy, distinct-2, losses) and example completions from the first and
last PPO steps.

    - {name: dpo, kind: dpo, from: sft, options: {data: support-summary-prefs, beta: 0.1, n_train: 256},
       train: {lr: 5.0e-5, epochs: 1}}

``dpo`` options: ``data`` (a preference task, file or ``hf:`` dataset; required), ``beta`` (0.1; simpo 2.0),
``loss`` (``sigmoid``, ``ipo``, ``hinge``, ``robust``, ``simpo``, ``orpo``, ``kto``), ``label_smoothing`` (0),
``sft_weight`` (0), ``gamma`` (0.5), ``desirable_weight``/``undesirable_weight`` (1, KTO), ``n_train``,
``n_val`` (16), and for a stage that does not start from an adapter ``method`` (lora) with ``method_options``.
From a stage with a peft adapter (an SFT LoRA) the adapter is continued and the reference is that SFT model;
from a stage with a model folder, or from the base, a new adapter is trained and the reference is the starting
model (simpo and orpo use none). The report shows the loss, reward margin and chosen/rejected log-prob curves.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from genlab.errors import ConfigError
from genlab.lifecycle.kinds import StageKind, register
from genlab.lifecycle.recipe import Stage, numbers
from genlab.records import StageRecord

REWARD_KINDS = ("toxicity", "keywords:", "reward-model:")


def parse_ppo(item: dict, train_defaults: dict, where: str) -> list[Stage]:
    from genlab.alignment.ppo_config import PPOConfig

    options = numbers(item.get("options") or {})
    rest = dict(options)
    reward = rest.pop("reward", None)
    if isinstance(reward, dict):
        _check_reward_training(reward, f"{where}.options.reward")
    elif not isinstance(reward, str) or not (reward == "toxicity" or reward.startswith(REWARD_KINDS[1:])):
        raise ConfigError(f"reward must be toxicity, keywords:W,W, reward-model:PATH or {{train: PREFERENCE_TASK}}, "
                          f"not {reward!r}", where=f"{where}.options.reward")
    n_prompts = rest.pop("n_prompts", None)
    if n_prompts is not None and (not isinstance(n_prompts, int) or n_prompts < 1):
        raise ConfigError("n_prompts must be a whole number >= 1", where=f"{where}.options.n_prompts")
    try:
        PPOConfig.from_dict(rest, where=f"{where}.options")
    except ConfigError as e:
        raise ConfigError(e.message, where=f"{where}.options", hint=e.hint) from None
    return [Stage(item.get("name") or "ppo", "ppo", options=options)]


def run_ppo(ctx, stage: Stage, sdir: Path, resume: bool, record: StageRecord) -> None:
    from genlab.adapters import merge
    from genlab.adapters.io import stored_params
    from genlab.alignment.ppo import ppo
    from genlab.alignment.ppo_config import PPOConfig
    from genlab.alignment.versus import compare_to_source
    from genlab.evaluation import evaluate
    from genlab.models import load

    r = ctx.recipe
    opts = dict(stage.options)
    reward, n_prompts = _reward(ctx, opts.pop("reward"), sdir, resume), opts.pop("n_prompts", None)
    cfg = PPOConfig.from_dict({"seed": r.seed, **opts, "chat": False}, where=f"{r.source}: stages.{stage.name}")
    start = _start_model(ctx, stage, sdir)
    lm = load(str(start), precision="fp32")
    prompts = [q.prompt for q in _task(r).training_pairs("train", n=n_prompts, seed=r.seed, tokenizer=lm.tokenizer)]
    resume = resume and (sdir / "checkpoints" / "last.pt").is_file()
    result = ppo(lm, prompts, reward, cfg, sdir, resume=resume, overwrite=not resume, reporter=ctx.reporter)
    del lm
    merge(result.adapter_path, sdir / "model")
    shutil.rmtree(sdir / "start-model", ignore_errors=True)  # the source stage can rebuild it
    tuned = load(str(sdir / "model"), precision=r.eval.precision)
    cfg_eval = r.eval.replace(shots=0)
    res = evaluate(tuned, r.eval_task, cfg_eval, out_dir=sdir / "eval", reporter=ctx.reporter)
    record.metrics, record.eval_config, record.split = res.metrics, cfg_eval.to_dict(), cfg_eval.split
    record.eval_tokens_per_s, record.model_dir = res.timings.get("tokens_per_s"), "model"
    record.total_params, record.trainable_params = tuned.num_parameters(), stored_params(result.adapter_path)
    record.train = {"steps": result.steps, "wall_s": result.wall_s, **_final(result.final)}
    figures = ["ppo_curves.png"] + (["reward/scores.png"] if (sdir / "reward" / "scores.png").is_file() else [])
    record.extra.update(label=f"PPO ({reward.name}, β={cfg.kl_coef:g}) from {stage.source or r.model}",
                        figures=figures, examples=_examples(sdir / "samples.jsonl"))
    ctx.score_other_splits(tuned, cfg_eval, sdir, record)
    compare_to_source(ctx, stage, sdir, record, tuned, reward)


REWARD_TRAIN_KEYS = {"train", "model", "method", "n_train", "lr", "epochs", "batch_size"}


def _check_reward_training(spec: dict, where: str) -> None:
    unknown = sorted(set(spec) - REWARD_TRAIN_KEYS)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)}", where=where,
                          hint=f"allowed: {', '.join(sorted(REWARD_TRAIN_KEYS))}")
    if not isinstance(spec.get("train"), str):
        raise ConfigError("train: names the preference task the reward model learns from", where=f"{where}.train",
                          hint="e.g. reward: {train: support-summary-prefs, model: minilm-l6}")


def _reward(ctx, spec, sdir: Path, resume: bool):
    """The stage's reward: built from its spec, or a reward model trained here first (reused on resume)."""
    from genlab.alignment.rewards import RewardModelReward, reward_from_spec

    if isinstance(spec, str):
        kind, _, path = spec.partition(":")
        if kind == "reward-model" and not Path(path).is_absolute() and (ctx.out / path).exists():
            return RewardModelReward(str(ctx.out / path))
        return reward_from_spec(spec)
    from genlab.alignment.reward import train_reward_model
    from genlab.tuning import TrainConfig

    folder = sdir / "reward"
    if not (resume and (folder / "adapter" / "manifest.json").is_file()):
        cfg = TrainConfig(lr=float(spec.get("lr", 1e-4)), epochs=float(spec.get("epochs", 1)),
                          batch_size=int(spec.get("batch_size", 8)), val_generate=0, seed=ctx.recipe.seed)
        res = train_reward_model(spec.get("model", "minilm-l6"), spec["train"], folder,
                                 method=spec.get("method", "lora"), train_cfg=cfg, n_train=spec.get("n_train"),
                                 overwrite=True, reporter=ctx.reporter)
        ctx.reporter.status(f"reward model: held-out pair accuracy {res.test.get('pair_accuracy')}")
    return RewardModelReward(str(folder / "adapter"))


def recipe_reward(ctx):
    """The reward the recipe aligns to, for scoring a stage that has none of its own (DPO): the first
    ``ppo`` stage's reward (its trained reward model once that stage has run). None when there is none."""
    from genlab.alignment.rewards import RewardModelReward
    from genlab.lifecycle.execute import stage_dir

    for s in ctx.recipe.stages:
        spec = s.options.get("reward") if s.kind == "ppo" else None
        if isinstance(spec, str):
            return _reward(ctx, spec, stage_dir(ctx.out, s.name), resume=False)
        folder = stage_dir(ctx.out, s.name) / "reward" / "adapter"
        if isinstance(spec, dict) and (folder / "manifest.json").is_file():
            return RewardModelReward(str(folder))
    return None


def _start_model(ctx, stage: Stage, sdir: Path) -> Path | str:
    """The source stage's model as a folder: its model folder, or its adapter merged into the recipe's model."""
    from genlab.adapters import merge
    from genlab.lifecycle.execute import stage_dir

    if stage.source is None:
        return ctx.recipe.model
    record, src = ctx.stage_record(stage.source), stage_dir(ctx.out, stage.source)
    if record.model_dir:
        return src / record.model_dir
    if not record.adapter:
        return ctx.recipe.model
    if not (sdir / "start-model" / "config.json").is_file():
        merge(src / record.adapter, sdir / "start-model")
    return sdir / "start-model"


def _task(recipe):
    from genlab.tasks import load_task

    return load_task(recipe.eval_task)


def _final(row: dict) -> dict:
    keys = ("reward", "kl", "kl_per_token", "kl_coef", "entropy", "distinct_2", "response_len")
    return {k: row[k] for k in keys if k in row}


def _examples(path: Path) -> list[dict]:
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()] if path.is_file() else []
    if not rows:
        return []
    first, last = rows[0]["step"], rows[-1]["step"]
    out = []
    for step, when in ((first, "first PPO step"), (last, "last PPO step")):
        for x in [x for x in rows if x["step"] == step][:2]:
            out.append({"title": f"{when} (step {step}), reward {x['score']:.3g}",
                        "text": f"{x['prompt'][-300:]}\n→ {x['completion']}"})
    return out


register(StageKind("ppo", {"options", "from"}, parse_ppo, run_ppo))


DPO_KEYS = {"data", "beta", "loss", "label_smoothing", "sft_weight", "gamma", "desirable_weight",
            "undesirable_weight", "n_train", "n_val", "method", "method_options"}


def _objective_options(options: dict) -> dict:
    """The loss settings of a ``dpo`` stage's options, as ``make_objective`` and ``train_dpo`` take them."""
    from genlab.alignment.dpo import beta_for

    loss = str(options.get("loss", "sigmoid"))
    return {"loss": loss, "beta": beta_for(loss, options.get("beta")),
            **{k: float(options.get(k, default)) for k, default in (
                ("label_smoothing", 0.0), ("sft_weight", 0.0), ("gamma", 0.5), ("desirable_weight", 1.0),
                ("undesirable_weight", 1.0))}}


def parse_dpo(item: dict, train_defaults: dict, where: str) -> list[Stage]:
    from genlab.alignment.dpo import make_objective
    from genlab.lifecycle.stages import train_section

    options = numbers(item.get("options") or {})
    unknown = sorted(set(options) - DPO_KEYS)
    if unknown:
        raise ConfigError(f"unknown option(s): {', '.join(unknown)}", where=f"{where}.options",
                          hint=f"allowed: {', '.join(sorted(DPO_KEYS))}")
    if not isinstance(options.get("data"), str):
        raise ConfigError("data: names the preference pairs DPO learns from", where=f"{where}.options.data",
                          hint="e.g. options: {data: support-summary-prefs} (a task, a .jsonl/.csv file or hf:ID)")
    for key in ("n_train", "n_val"):
        if key in options and (not isinstance(options[key], int) or options[key] < (1 if key == "n_train" else 0)):
            raise ConfigError(f"{key} must be a whole number", where=f"{where}.options.{key}")
    try:
        make_objective(**_objective_options(options))
    except (ConfigError, ValueError, TypeError) as e:
        raise ConfigError(getattr(e, "message", str(e)), where=f"{where}.options", hint=getattr(e, "hint", None)) \
            from None
    train = train_section(item, {**train_defaults, "lr": 5e-5, "val_generate": 0}, where)
    return [Stage(item.get("name") or "dpo", "dpo", options=options, train=train)]


def run_dpo(ctx, stage: Stage, sdir: Path, resume: bool, record: StageRecord) -> None:
    from genlab.adapters import merge
    from genlab.adapters.io import stored_params
    from genlab.alignment.dpo import train_dpo
    from genlab.alignment.versus import compare_to_source
    from genlab.evaluation import evaluate
    from genlab.lifecycle.execute import stage_dir
    from genlab.models import load
    from genlab.tuning import TrainConfig

    r, opts = ctx.recipe, dict(stage.options)
    model, from_adapter = r.model, None
    if stage.source is not None:
        src, src_dir = ctx.stage_record(stage.source), stage_dir(ctx.out, stage.source)
        if src.model_dir:
            model = str(src_dir / src.model_dir)
        elif src.adapter:
            from_adapter = src_dir / src.adapter
    cfg = TrainConfig.from_dict({"seed": r.seed, **stage.train}, where=f"{r.source}: stages.{stage.name}.train")
    resume = resume and (sdir / "dpo" / "checkpoints" / "last.pt").is_file()
    settings = _objective_options(opts)
    loss, beta = settings["loss"], settings["beta"]
    res = train_dpo(model, opts["data"], sdir / "dpo", **settings, method=opts.get("method", "lora"),
                    method_cfg=opts.get("method_options"), from_adapter=from_adapter, train_cfg=cfg,
                    n_train=opts.get("n_train"), n_val=opts.get("n_val", 16), resume=resume, overwrite=not resume,
                    reporter=ctx.reporter)
    if model == r.model:  # base + adapter, like a tuned stage
        record.adapter = "dpo/adapter"
        tuned = load(r.model, precision=r.eval.precision, adapter=str(res.adapter_path))
    else:  # the adapter sits on an earlier stage's model folder: merge it so later stages load one folder
        merge(res.adapter_path, sdir / "model")
        record.model_dir = "model"
        tuned = load(str(sdir / "model"), precision=r.eval.precision)
    cfg_eval = r.eval.replace(shots=0)
    result = evaluate(tuned, r.eval_task, cfg_eval, out_dir=sdir / "eval", reporter=ctx.reporter)
    record.metrics, record.eval_config, record.split = result.metrics, cfg_eval.to_dict(), cfg_eval.split
    record.eval_tokens_per_s = result.timings.get("tokens_per_s")
    record.total_params, record.trainable_params = tuned.num_parameters(), stored_params(res.adapter_path)
    last = next((h for h in reversed(res.history) if "reward_margin" in h), {})
    record.train = {**res.train.to_dict(), "reference_s": res.reference_s,
                    **{k: last[k] for k in ("reward_margin", "reward_accuracy") if k in last}}
    name = f"KTO (β={beta:g})" if loss == "kto" else f"DPO ({loss}, β={beta:g})"
    record.extra.update(label=f"{name} on {opts['data']} from {stage.source or r.model}",
                        figures=["dpo/dpo_curves.png"])
    ctx.score_other_splits(tuned, cfg_eval, sdir, record)
    compare_to_source(ctx, stage, sdir, record, tuned, recipe_reward(ctx))


register(StageKind("dpo", {"options", "train", "from"}, parse_dpo, run_dpo))
