"""``genlab align reward|dpo|ppo``: thin wrappers over ``genlab.alignment``.

Each command is one function registered on ``align_app``; the loop flags every
aligned stage shares (``--lr``, ``--epochs``, ``--batch-size``, ...) are the option
constants below and ``train_config(...)`` turns them into a ``TrainConfig``. ``ppo`` has a loop of its own
(``PPOConfig``): its flags are that config's main fields, ``--set KEY=VALUE`` any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from genlab.cli.common import PrecisionOpt, help_when_bare, key_values

align_app = typer.Typer(help="Align a model with preferences: reward models, DPO (IPO, SimPO, ...), RLHF with PPO.",
                        invoke_without_command=True, callback=help_when_bare)

# -- options shared by the aligned stages ---------------------------------------------------------
DataOpt = typer.Option(..., "--task", "-t", "--data",
                       help="Preference data: a task (support-summary-prefs, detox-prompts; `genlab data tasks`), "
                            "a .jsonl/.csv/.parquet file (prompt, chosen, rejected | prompt, completions, ranking) "
                            "or hf:owner/name.")
MethodOpt = typer.Option("lora", "--method", help="full | lora (other tuning methods work too; see `genlab tune --methods`).")
OptionOpt = typer.Option(None, "--option", "-o", metavar="KEY=VALUE", help="Method option, repeatable: -o r=16.")
OutOpt = typer.Option(..., "--out", help="Run folder.")
ResumeOpt = typer.Option(False, "--resume", help="Continue from the run folder's last checkpoint.")
OverwriteOpt = typer.Option(False, "--overwrite", help="Replace a run already in --out (default: refuse).")
NTrainOpt = typer.Option(None, "--n-train", help="Use the first N training rows.")
EpochsOpt = typer.Option(None, "--epochs", help="Passes over the training pairs [default: 1].")
MaxStepsOpt = typer.Option(None, "--max-steps", help="Optimizer steps (overrides --epochs).")
LrOpt = typer.Option(None, "--lr", help="Peak learning rate.")
BatchOpt = typer.Option(None, "--batch-size", help="Pairs per micro-batch.")
GradAccumOpt = typer.Option(None, "--grad-accum", help="Micro-batches per optimizer step.")
SeedOpt = typer.Option(None, "--seed", help="Seeds initialisation and data order [default: 0].")
SkipBadOpt = typer.Option(False, "--skip-bad-rows", help="Skip bad rows of a data file and list them in a report.")


def train_config(defaults: dict, **flags):
    """``TrainConfig`` from a command's defaults and the flags the user gave (None: not given)."""
    from genlab.tuning import TrainConfig

    return TrainConfig(**{**defaults, **{k: v for k, v in flags.items() if v is not None}})


def method_options(method: str, items: list[str] | None) -> dict:
    from genlab.tuning.methods import parse_options

    return parse_options(method, list(items or []), where=f"--method {method} -o")


def register(app: typer.Typer) -> None:
    app.add_typer(align_app, name="align")


@align_app.command("reward")
def reward_cmd(
    model: str = typer.Option("minilm-l6", "--model", "-m", help="Encoder (minilm-l6) or decoder "
                                                                  "(smollm2-135m-instruct) to put a scalar head on."),
    task: str = DataOpt, method: str = MethodOpt, option: Optional[list[str]] = OptionOpt, out: Path = OutOpt,
    resume: bool = ResumeOpt, overwrite: bool = OverwriteOpt, n_train: Optional[int] = NTrainOpt,
    n: int = typer.Option(200, "--n", "-n", help="Held-out pairs to score after training (0: none)."),
    split: str = typer.Option("test", "--split", help="Split of the held-out pairs."),
    epochs: Optional[float] = EpochsOpt, max_steps: Optional[int] = MaxStepsOpt, lr: Optional[float] = LrOpt,
    batch_size: Optional[int] = BatchOpt, grad_accum: Optional[int] = GradAccumOpt, seed: Optional[int] = SeedOpt,
    max_len: int = typer.Option(512, "--max-len", help="Tokens of prompt + completion the reward model reads."),
    precision: str = PrecisionOpt, skip_bad_rows: bool = SkipBadOpt,
) -> None:
    """Train a reward model (Bradley–Terry loss on a scalar head); prints held-out pair accuracy with a 95% CI."""
    from genlab.alignment.reward import train_reward_model
    from genlab.ui import RichReporter, console, table

    cfg = train_config(dict(lr=1e-4, epochs=1, batch_size=8, val_generate=0), epochs=epochs, max_steps=max_steps,
                       lr=lr, batch_size=batch_size, grad_accum=grad_accum, seed=seed, precision=precision)
    res = train_reward_model(model, task, out, method=method, method_cfg=method_options(method, option),
                             train_cfg=cfg, n_train=n_train, n_test=n, test_split=split, max_len=max_len,
                             resume=resume, overwrite=overwrite, skip_bad_rows=skip_bad_rows, reporter=RichReporter())
    t = res.train
    console.print(table("reward model training", ["steps", "final loss", "best val loss", "tok/s", "wall s"],
                        [[t.steps, t.final_loss, t.best_val_loss, t.tokens_per_s, t.wall_s]]))
    if res.test:
        acc = res.test["pair_accuracy"]
        rows = [["all", res.test["n_pairs"], acc["value"], f"[{acc['ci_low']:.3f}, {acc['ci_high']:.3f}]"]]
        rows += [[k, v["n"], v["accuracy"], ""] for k, v in res.test["by_flaw"].items()]
        console.print(table(f"held-out pair accuracy ({res.test['split']})", ["pairs", "n", "accuracy", "95% CI"],
                            rows))
        console.print(f"score distributions: {res.test.get('plot')}")
    console.print(f"reward model: {res.model_path} (`genlab align ppo --reward reward-model:{res.model_path}`, "
                  "RewardModel.load in Python)")


@align_app.command("dpo")
def dpo_cmd(
    model: str = typer.Option("smollm2-135m-instruct", "--model", "-m", help="Decoder-only model (the policy)."),
    task: str = DataOpt, method: str = MethodOpt, option: Optional[list[str]] = OptionOpt, out: Path = OutOpt,
    from_adapter: Optional[Path] = typer.Option(None, "--from-adapter",
                                                help="Continue this SFT adapter (a `genlab tune` run's adapter/); "
                                                     "the reference is then the SFT model."),
    beta: Optional[float] = typer.Option(None, "--beta", help="Strength of the pull towards the reference (DPO's "
                                                               "β; ORPO's λ) [default: 0.1; simpo: 2.0]."),
    loss: str = typer.Option("sigmoid", "--loss", help="sigmoid (DPO) | ipo (IPO, length-normalised) | hinge "
                                                       "(SLiC) | robust (rDPO, with --label-smoothing) | simpo | "
                                                       "orpo (these two need no reference model) | kto (unpaired "
                                                       "prompt, completion, label rows; pairs are split)."),
    desirable_weight: float = typer.Option(1.0, "--desirable-weight", help="KTO's λ_D: weight of desirable rows."),
    undesirable_weight: float = typer.Option(1.0, "--undesirable-weight",
                                             help="KTO's λ_U: weight of undesirable rows."),
    gamma: float = typer.Option(0.5, "--gamma", help="SimPO's target margin γ."),
    label_smoothing: float = typer.Option(0.0, "--label-smoothing", help="Share of preference labels taken to be "
                                                                         "flipped (conservative DPO with sigmoid, "
                                                                         "rDPO with robust), e.g. 0.1."),
    sft_weight: float = typer.Option(0.0, "--sft-weight", help="Add this times the chosen reply's NLL to the loss "
                                                               "(RPO; TRL's rpo_alpha), e.g. 1.0: keeps chosen "
                                                               "replies likely."),
    resume: bool = ResumeOpt, overwrite: bool = OverwriteOpt, n_train: Optional[int] = NTrainOpt,
    n_val: int = typer.Option(32, "--n-val", help="Validation pairs (0: none)."),
    epochs: Optional[float] = EpochsOpt, max_steps: Optional[int] = MaxStepsOpt, lr: Optional[float] = LrOpt,
    batch_size: Optional[int] = BatchOpt, grad_accum: Optional[int] = GradAccumOpt, seed: Optional[int] = SeedOpt,
    max_seq_len: Optional[int] = typer.Option(None, "--max-seq-len", help="Longest prompt + completion in tokens."),
    precision: str = PrecisionOpt, skip_bad_rows: bool = SkipBadOpt,
) -> None:
    """DPO, IPO, SimPO, ORPO, ... on preference pairs; logs loss, reward margin and chosen/rejected log-probs
    (dpo_curves.png)."""
    from genlab.alignment.dpo import REFERENCE_FREE, beta_for, train_dpo
    from genlab.ui import RichReporter, console, table

    cfg = train_config(dict(lr=5e-5, epochs=1, batch_size=4, val_generate=0), epochs=epochs, max_steps=max_steps,
                       lr=lr, batch_size=batch_size, grad_accum=grad_accum, seed=seed, precision=precision,
                       max_seq_len=max_seq_len)
    beta = beta_for(loss, beta)
    res = train_dpo(model, task, out, beta=beta, loss=loss, label_smoothing=label_smoothing, sft_weight=sft_weight,
                    gamma=gamma, desirable_weight=desirable_weight, undesirable_weight=undesirable_weight,
                    method=method, method_cfg=method_options(method, option), from_adapter=from_adapter,
                    train_cfg=cfg, n_train=n_train, n_val=n_val, resume=resume, overwrite=overwrite,
                    skip_bad_rows=skip_bad_rows, reporter=RichReporter())
    t, last = res.train, next((r for r in reversed(res.history) if "reward_margin" in r), {})
    settings = [loss, f"β={beta:g}"] + [f"ε={label_smoothing:g}"] * bool(label_smoothing) + \
        [f"γ={gamma:g}"] * (loss == "simpo") + [f"sft weight {sft_weight:g}"] * bool(sft_weight) + \
        [f"λD={desirable_weight:g}, λU={undesirable_weight:g}"] * ((desirable_weight, undesirable_weight) != (1, 1))
    logp = "logp/token" if loss in REFERENCE_FREE else "Δlogp"  # no reference: the replies' mean log-probs
    good, bad = ("desirable", "undesirable") if loss == "kto" else ("chosen", "rejected")
    name = "KTO" if loss == "kto" else "DPO"
    console.print(table(f"{name} ({', '.join(settings[loss == 'kto':])})",
                        ["steps", "final loss", "best val loss", "reward margin", "reward acc", f"{logp} {good}",
                         f"{logp} {bad}", "tok/s", "wall s"],
                        [[t.steps, t.final_loss, t.best_val_loss, last.get("reward_margin"),
                          last.get("reward_accuracy"), last.get("logps_chosen"), last.get("logps_rejected"),
                          t.tokens_per_s, t.wall_s]]))
    console.print(f"curves: {res.out_dir / 'dpo_curves.png'}  adapter: {res.adapter_path} "
                  f"(genlab eval --adapter {res.adapter_path})")


@align_app.command("ppo")
def ppo_cmd(
    model: str = typer.Option("smollm2-135m-instruct", "--model", "-m", help="Decoder-only model (the policy)."),
    prompts: str = typer.Option(..., "--prompts", "-p",
                                help="Prompts to roll out: a task (its train split, prompted as `genlab eval` "
                                     "prompts it; `genlab data tasks`) or a file: .txt, one per line, or .jsonl "
                                     "with 'prompt' (a text or {role, content} turns) or 'messages'."),
    reward: str = typer.Option(..., "--reward", help="toxicity (-toxicity of the reply) | keywords:WORD,WORD | "
                                                     "reward-model:PATH (from `genlab align reward`)."),
    out: Path = OutOpt,
    from_adapter: Optional[Path] = typer.Option(None, "--from-adapter",
                                                help="Start from this SFT adapter (merged into OUT/start-model "
                                                     "first): the KL reference is then the SFT model."),
    method: str = typer.Option("lora", "--method", help="lora (the reference is the adapter disabled: no second "
                                                        "copy) | full."),
    option: Optional[list[str]] = OptionOpt,
    n_prompts: Optional[int] = typer.Option(None, "--n-prompts", help="Use the first N prompts [default: all]."),
    steps: int = typer.Option(100, "--steps", help="PPO iterations (a batch of rollouts, then --ppo-epochs passes)."),
    batch_size: int = typer.Option(16, "--batch-size", help="Rollouts per step."),
    mini_batch_size: int = typer.Option(8, "--mini-batch-size", help="Rollouts per gradient step."),
    ppo_epochs: int = typer.Option(4, "--ppo-epochs", help="Passes over each batch of rollouts."),
    lr: float = typer.Option(1e-4, "--lr", help="Learning rate."),
    kl_coef: float = typer.Option(0.1, "--kl-coef", help="β of the KL penalty at the start (0: no penalty, the "
                                                         "reward-hacking setting)."),
    target_kl: str = typer.Option("6", "--target-kl", help="KL per response (nats) β adapts towards; 'none' "
                                                           "keeps β fixed."),
    max_new_tokens: int = typer.Option(32, "--max-new-tokens", help="Longest sampled response."),
    seed: int = typer.Option(0, "--seed", help="Seeds the adapter, sampling and minibatch order."),
    precision: str = PrecisionOpt,
    setting: Optional[list[str]] = typer.Option(None, "--set", metavar="KEY=VALUE",
                                                help="Any other PPOConfig field, repeatable: --set vf_coef=0.2 "
                                                     "--set whiten_rewards=true."),
    resume: bool = ResumeOpt, overwrite: bool = OverwriteOpt,
) -> None:
    """RLHF with PPO and a KL penalty: rollouts, reward, GAE, clipped updates; logs reward, KL, β, entropy,
    distinct-2 (ppo_curves.png, samples.jsonl)."""
    from genlab.alignment.ppo import ppo
    from genlab.alignment.ppo_config import LORA_OPTIONS, PPOConfig
    from genlab.alignment.rewards import reward_from_spec
    from genlab.models import load
    from genlab.ui import RichReporter, console, table

    fields = dict(steps=steps, batch_size=batch_size, mini_batch_size=mini_batch_size, ppo_epochs=ppo_epochs, lr=lr,
                  kl_coef=kl_coef, target_kl=None if target_kl.lower() in ("none", "off") else _number(target_kl),
                  max_new_tokens=max_new_tokens, seed=seed, precision=precision, method=method, chat=False,
                  options={**(LORA_OPTIONS if method == "lora" else {}), **method_options(method, option)})
    fields.update(key_values(setting, "--set", "e.g. --set vf_coef=0.2"))
    cfg = PPOConfig.from_dict(fields, where="genlab align ppo")
    scorer = reward_from_spec(reward)
    lm = load(str(_start_model(out, from_adapter, model, resume, overwrite)), precision="fp32")
    texts = rollout_prompts(prompts, lm.tokenizer, n_prompts, seed)
    res = ppo(lm, texts, scorer, cfg, out, resume=resume, overwrite=overwrite, reporter=RichReporter())
    first, last = (res.history[0], res.history[-1]) if res.history else ({}, res.final)
    console.print(table(f"PPO ({scorer.name}, β={cfg.kl_coef:g}, target KL "
                        f"{'off' if cfg.target_kl is None else f'{cfg.target_kl:g}'}); first → last step",
                        ["steps", "reward", "KL/token", "β", "entropy", "distinct-2", "response len", "wall s"],
                        [[res.steps, *[f"{_g(first.get(k))} → {_g(last.get(k))}" for k in
                                       ("reward", "kl_per_token", "kl_coef", "entropy", "distinct_2",
                                        "response_len")], res.wall_s]]))
    base = f"-m {out / 'start-model'} " if from_adapter else ""
    console.print(f"curves: {out / 'ppo_curves.png'}  samples: {out / 'samples.jsonl'}  adapter: {res.adapter_path} "
                  f"(genlab eval {base}--adapter {res.adapter_path})")


def rollout_prompts(source: str, tokenizer, n: int | None, seed: int) -> list[str]:
    """The prompts PPO samples from, as the model reads them: a task's training prompts (its template and the
    chat template, as `genlab eval`), or a file's prompts wrapped in the chat template when the model has one."""
    from genlab.cli.generate import read_prompt_file
    from genlab.prompts.chat import chat_prompt, has_chat_template, transcript, wrap_chat

    path = Path(source)
    if path.suffix in (".txt", ".jsonl"):
        chat = has_chat_template(tokenizer)
        items = read_prompt_file(path)[:n]
        return [(chat_prompt(tokenizer, p) if chat else transcript(p)) if isinstance(p, list)
                else (wrap_chat(tokenizer, p) if chat else p) for p in items]
    from genlab.tasks import load_task

    return [q.prompt for q in load_task(source).training_pairs("train", n=n, seed=seed, tokenizer=tokenizer)]


def _start_model(out: Path, adapter: Optional[Path], model: str, resume: bool, overwrite: bool) -> Path | str:
    """``model``, or ``adapter`` merged into ``out/start-model`` (kept on resume) so that the start and the KL
    reference are the fine-tuned model."""
    import shutil

    from genlab.adapters import merge
    from genlab.alignment.ppo_run import RUN_FILES
    from genlab.errors import GenlabError

    if adapter is None:
        return model
    start = out / "start-model"
    if resume and (start / "config.json").is_file():
        return start
    if not resume and not overwrite and any((out / name).exists() for name in RUN_FILES):
        raise GenlabError(f"{out} already holds a run", hint="add --resume to continue it, --overwrite to replace "
                                                             "it, or choose another --out")
    shutil.rmtree(start, ignore_errors=True)
    return merge(adapter, start)


def _number(text: str) -> float:
    from genlab.errors import ConfigError

    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not a number", where="--target-kl",
                          hint="nats per response, e.g. 6, or 'none' to keep β fixed") from None


def _g(value) -> str:
    return "-" if value is None else f"{value:.4g}"
