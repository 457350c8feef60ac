"""``genlab tune``, ``genlab merge``, ``genlab plan``: thin wrappers over ``genlab.tuning``.

Multi-process: ``accelerate launch --num_processes 2 -m genlab tune ...`` (CPU: gloo DDP;
GPUs, FSDP, DeepSpeed: pass an accelerate config with ``--config_file``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from genlab.cli.common import ModelOpt, TaskOpt, TrustOpt, inferred_or_name, note_inferred_task
from genlab.errors import ConfigError
from genlab.tuning.config import TrainConfig


_T = TrainConfig()  # the defaults, shown in --help


def _print_methods(value: bool) -> None:
    if not value:
        return
    from genlab.tuning.methods import METHODS, option_help

    for name in sorted(METHODS):
        print(f"{name}: {METHODS[name].doc}\n  -o options: {option_help(name)}")
    raise typer.Exit()


def register(app: typer.Typer) -> None:
    app.command("tune")(tune_cmd)
    app.command("merge")(merge_cmd)
    app.command("plan")(plan_cmd)


def tune_cmd(
    model: str = ModelOpt,
    task: str = TaskOpt,
    method: str = typer.Option("lora", "--method", help="full | selective | lora | adapter | prompt-tuning | ia3 | "
                                                        "prefix (`genlab tune --methods` lists their options)."),
    option: Optional[list[str]] = typer.Option(None, "--option", "-o", metavar="KEY=VALUE",
                                               help="Method option, repeatable: -o r=16 -o target_modules=q,v "
                                                    "(checked against the method's settings)."),
    out: Path = typer.Option(Path("runs/tune"), "--out", help="Run folder."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run folder's last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a run already in --out (default: refuse)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML with TrainConfig fields (flags override)."),
    # -- loop
    epochs: Optional[float] = typer.Option(None, "--epochs", help=f"Passes over the training data [default: {_T.epochs}]."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps (overrides --epochs)."),
    lr: Optional[float] = typer.Option(None, "--lr", help=f"Peak learning rate [default: {_T.lr}]."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help=f"Examples per micro-batch [default: {_T.batch_size}]."),
    grad_accum: Optional[int] = typer.Option(None, "--grad-accum", help=f"Micro-batches per step [default: {_T.grad_accum}]."),
    warmup_ratio: Optional[float] = typer.Option(None, "--warmup-ratio", help=f"Share of steps warming up [default: {_T.warmup_ratio}]."),
    schedule: Optional[str] = typer.Option(None, "--schedule", help=f"cosine | linear | constant [default: {_T.schedule}]."),
    seed: Optional[int] = typer.Option(None, "--seed", help=f"Seeds initialisation and data order [default: {_T.seed}]."),
    eval_every: Optional[int] = typer.Option(None, "--eval-every", help="Steps between validations (default: each epoch)."),
    save_every: Optional[int] = typer.Option(None, "--save-every", help="Steps between checkpoints (default: each epoch)."),
    precision: Optional[str] = typer.Option(None, "--precision", help="Compute: auto (bf16 where the CPU/GPU is fast "
                                                                       "at it, else fp32), bf16 or fp32 [default: auto]."),
    fp32: bool = typer.Option(False, "--fp32", hidden=True, help="Same as --precision fp32."),
    patience: Optional[int] = typer.Option(None, "--patience", help="Early stopping after N validations without gain."),
    max_seq_len: Optional[int] = typer.Option(None, "--max-seq-len", help=f"Longest example in tokens [default: {_T.max_seq_len}]."),
    compile_: Optional[bool] = typer.Option(None, "--compile/--no-compile",
                                            help="torch.compile the blocks and the loss for the loop (slow first run, then cached)."),
    deterministic: Optional[bool] = typer.Option(
        None, "--deterministic/--no-deterministic",
        help="Deterministic kernels only (GPU atomics, cuBLAS, inductor); on CPU a fixed --seed and thread count "
             "already reproduce a run bit for bit."),
    # -- the two most used LoRA options also as flags; everything else through -o KEY=VALUE
    r: Optional[int] = typer.Option(None, "--r", help="LoRA rank (same as -o r=N)."),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="LoRA alpha, scale alpha/r (same as -o alpha=X)."),
    methods_help: bool = typer.Option(False, "--methods", is_eager=True, callback=_print_methods,
                                      help="List the methods and their -o options, then exit."),
    # -- data and evaluation
    mixture: Optional[list[str]] = typer.Option(None, "--mixture", help="TASK:RATE (repeatable) instead of --task data."),
    forgetting_suite: Optional[str] = typer.Option(None, "--forgetting-suite", help="Tasks to evaluate before/after, comma-separated."),
    head: Optional[str] = typer.Option(None, "--head", help="`classification`: sequence-classification head (encoders)."),
    n_train: Optional[int] = typer.Option(None, "--n-train", help="Use the first N training examples."),
    n_test: int = typer.Option(100, "--n-test", min=1, help="Test examples to evaluate after training "
                                                             "(the same first N as `genlab eval -n N`)."),
    test_eval: bool = typer.Option(True, "--test-eval/--no-test-eval", help="Final evaluation on the test split."),
    trust_remote_code: bool = TrustOpt,
) -> None:
    """Fine-tune a model on a task with a method; writes a run folder with adapter/ and metrics."""
    from genlab.evaluation.config import EvalConfig
    from genlab.tuning import TrainConfig, tune
    from genlab.tuning.methods import parse_options
    from genlab.ui import RichReporter

    precision = "fp32" if fp32 else precision
    flags = dict(epochs=epochs, max_steps=max_steps, lr=lr, batch_size=batch_size, grad_accum=grad_accum,
                 warmup_ratio=warmup_ratio, schedule=schedule, seed=seed, eval_every=eval_every,
                 save_every=save_every, precision=precision, early_stopping_patience=patience, max_seq_len=max_seq_len,
                 compile=compile_, deterministic=deterministic)
    base = TrainConfig.from_yaml(config) if config else TrainConfig()
    cfg = base.replace(**{k: v for k, v in flags.items() if v is not None})
    mopts = {k: v for k, v in dict(r=r, alpha=alpha).items() if v is not None}
    mopts.update(parse_options(method, list(option or []), where=f"--method {method} -o"))
    try:
        task_or_name = inferred_or_name(task) if task else task
        note_inferred_task(task_or_name)
        res = tune(model, task_or_name, method, mopts, cfg, out, resume=resume, overwrite=overwrite,
                   forgetting_suite=_csv(forgetting_suite), mixture=_mixture(mixture), head=head,
                   n_train=n_train, eval_cfg=EvalConfig(n=n_test) if test_eval else None,
                   reporter=RichReporter(), trust_remote_code=trust_remote_code)
    except KeyboardInterrupt:
        if (out / "checkpoints" / "last.pt").is_file():
            from genlab.ui import err_console

            err_console.print(f"checkpoint kept in {out}/checkpoints: add --resume to the same command to continue",
                              highlight=False)
        raise
    _print_result(res)


def merge_cmd(adapter: Path = typer.Argument(..., help="Adapter folder (a run's adapter/)."),
              out: Path = typer.Option(..., "--out", help="Where to write the standalone model."),
              trust_remote_code: bool = TrustOpt) -> None:
    """Fold a LoRA/IA3 (or selective/full) adapter into its base model and save a standalone model folder."""
    from genlab.adapters import merge
    from genlab.ui import console

    path = merge(adapter, out, trust_remote_code=trust_remote_code)
    console.print(f"merged model written to {path} (load it with -m {path})")


def plan_cmd(model: str = ModelOpt, method: str = typer.Option("lora", "--method", help="Fine-tuning method."),
             batch: int = typer.Option(4, "--batch", help="Examples per micro-batch."),
             seq: int = typer.Option(512, "--seq", help="Tokens per example."),
             completion_fraction: float = typer.Option(0.25, "--completion-fraction",
                                                       help="Share of positions with a loss (logits are computed only there)."),
             trust_remote_code: bool = TrustOpt) -> None:
    """Estimate fine-tuning memory: weights, gradients, optimizer states, activations, per dtype."""
    from genlab.tuning.plan import plan
    from genlab.ui import console, table

    p = plan(model, method, batch, seq, completion_fraction=completion_fraction, trust_remote_code=trust_remote_code)
    cols = ["dtype", "weights", "gradients", "optimizer", "activations", "logits", "total"]
    rows = [[name] + [f"{r[c]:.3f}" for c in cols[1:]] for name, r in p.rows.items()]
    console.print(table(f"{p.model} · {method} · batch {batch} × seq {seq} · trainable {p.trainable:,} / {p.params:,} "
                        f"({100 * p.trainable / p.params:.3f}%) · GiB", cols, rows))


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _mixture(items: list[str] | None) -> dict[str, float] | None:
    if not items:
        return None
    out = {}
    for it in items:
        name, sep, rate = it.replace("=", ":").rpartition(":")
        try:
            out[name if sep else rate] = float(rate) if sep else 1.0
        except ValueError:
            raise ConfigError(f"bad mixture entry {it!r}", where="--mixture", hint="write TASK:RATE, e.g. support-summary:0.7") from None
    return out


def _print_result(res) -> None:
    from genlab.ui import console, table

    t = res.train
    console.print(table("training", ["method", "trainable %", "steps", "final loss", "best val loss", "tok/s",
                                     "wall s", "peak RSS MB"],
                        [[res.method, f"{res.params.percent:.4f}", t.steps, t.final_loss, t.best_val_loss,
                          t.tokens_per_s, t.wall_s, t.peak_rss_mb]]))
    if res.test_metrics:
        console.print(table("test", ["metric", "value", "95% CI"],
                            [[k, v["value"], f"[{v.get('ci_low', float('nan')):.4g}, {v.get('ci_high', float('nan')):.4g}]"]
                             for k, v in res.test_metrics.items()]))
    if res.forgetting:
        console.print(table("forgetting (after - before, paired bootstrap)",
                            ["task", "metric", "before", "after", "delta", "95% CI", "p"],
                            [[r["task"], r["metric"], r["before"], r["after"], r["delta"],
                              f"[{r['delta_low']:.4g}, {r['delta_high']:.4g}]", r.get("p_value")]
                             for r in res.forgetting]))
    console.print(f"run folder: {res.out_dir}  adapter: {res.adapter_path}")
