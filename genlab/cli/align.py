"""``genlab align reward|dpo``: thin wrappers over ``genlab.alignment``.

Each command is one function registered on ``align_app``; the loop flags every
aligned stage shares (``--lr``, ``--epochs``, ``--batch-size``, ...) are the option
constants below and ``train_config(...)`` turns them into a ``TrainConfig``, so a new
command (``genlab align ppo``) adds its own options and reuses these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from genlab.cli.common import PrecisionOpt, help_when_bare

align_app = typer.Typer(help="Align a model with preferences: reward models, DPO/IPO.",
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
    console.print(f"reward model: {res.model_path} (RewardModel.load, or --reward-model in later stages)")


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
                                                       "orpo (these two need no reference model)."),
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
    from genlab.alignment.dpo import DEFAULT_BETA, REFERENCE_FREE, train_dpo
    from genlab.ui import RichReporter, console, table

    cfg = train_config(dict(lr=5e-5, epochs=1, batch_size=4, val_generate=0), epochs=epochs, max_steps=max_steps,
                       lr=lr, batch_size=batch_size, grad_accum=grad_accum, seed=seed, precision=precision,
                       max_seq_len=max_seq_len)
    beta = beta if beta is not None else DEFAULT_BETA.get(loss, 0.1)
    res = train_dpo(model, task, out, beta=beta, loss=loss, label_smoothing=label_smoothing, sft_weight=sft_weight,
                    gamma=gamma, method=method, method_cfg=method_options(method, option), from_adapter=from_adapter,
                    train_cfg=cfg, n_train=n_train, n_val=n_val, resume=resume, overwrite=overwrite,
                    skip_bad_rows=skip_bad_rows, reporter=RichReporter())
    t, last = res.train, next((r for r in reversed(res.history) if "reward_margin" in r), {})
    settings = [loss, f"β={beta:g}"] + [f"ε={label_smoothing:g}"] * bool(label_smoothing) + \
        [f"γ={gamma:g}"] * (loss == "simpo") + [f"sft weight {sft_weight:g}"] * bool(sft_weight)
    logp = "logp/token" if loss in REFERENCE_FREE else "Δlogp"  # no reference: the replies' mean log-probs
    console.print(table(f"DPO ({', '.join(settings)})", ["steps", "final loss", "best val loss", "reward margin",
                                                         "reward acc", f"{logp} chosen", f"{logp} rejected", "tok/s",
                                                         "wall s"],
                        [[t.steps, t.final_loss, t.best_val_loss, last.get("reward_margin"),
                          last.get("reward_accuracy"), last.get("logps_chosen"), last.get("logps_rejected"),
                          t.tokens_per_s, t.wall_s]]))
    console.print(f"curves: {res.out_dir / 'dpo_curves.png'}  adapter: {res.adapter_path} "
                  f"(genlab eval --adapter {res.adapter_path})")
