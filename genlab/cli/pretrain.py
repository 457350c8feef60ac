"""``genlab pretrain`` and ``genlab scaling run|fit``: thin wrappers over ``genlab.pretraining``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from genlab.cli.common import help_when_bare

scaling_app = typer.Typer(help="Scaling laws from our own runs: train a grid, fit L(N, D) = E + A/N^α + B/D^β.",
                          invoke_without_command=True, no_args_is_help=False)


@scaling_app.callback()
def _scaling(ctx: typer.Context) -> None:
    help_when_bare(ctx)


def register(app: typer.Typer) -> None:
    app.command("pretrain")(pretrain_cmd)
    app.add_typer(scaling_app, name="scaling")


def pretrain_cmd(
    objective: str = typer.Option("causal", "--objective", help="causal (decoder, Llama style) | masked (encoder, "
                                                                 "BERT style) | span (encoder-decoder, T5 style)."),
    size: str = typer.Option("128x4", "--size", help="New model: WIDTHxLAYERS, e.g. 64x2, 128x4."),
    corpus: str = typer.Option("builtin", "--corpus", help="builtin[:support,chat,reviews] | FILE (.txt .md .jsonl "
                                                           ".csv .tsv .parquet, also .gz/.bz2/.xz) | FOLDER | "
                                                           "hf:NAME (online), comma-separated."),
    docs: Optional[int] = typer.Option(None, "--docs", min=1, help="Documents to read (built-in: to generate) "
                                                                    "[default: 4000; all of a file with --from]."),
    text_field: Optional[str] = typer.Option(None, "--text-field", help="Row field holding the text (JSONL, CSV, "
                                                                        "Parquet, hub) [default: text, content, "
                                                                        "body, ... or the row's only string field]."),
    heldout: float = typer.Option(0.05, "--heldout", help="Share of documents held out (chosen by a hash of the text)."),
    block_size: int = typer.Option(128, "--block-size", min=8, help="Tokens per packed block."),
    tokenizer: str = typer.Option("bpe:4096", "--tokenizer", help="bpe:SIZE (trained on the corpus) or a model "
                                                                  "whose tokenizer to reuse."),
    val_blocks: int = typer.Option(128, "--val-blocks", min=1, help="Held-out blocks scored at each evaluation."),
    tokens: Optional[str] = typer.Option(None, "--tokens", help="Training tokens, e.g. 2M (default: --epochs over "
                                                                 "the corpus)."),
    from_model: Optional[str] = typer.Option(None, "--from", help="Continue pre-training this model "
                                                                  "(e.g. smollm2-135m-instruct) on --corpus."),
    method: str = typer.Option("full", "--method", help="With --from: full | lora."),
    r: int = typer.Option(16, "--r", min=1, help="With --method lora: the rank."),
    general: Optional[str] = typer.Option(None, "--general", help="With --from: general text for the forgetting "
                                                                   "check [default: builtin:reviews,chat]."),
    task: Optional[str] = typer.Option(None, "--task", "-t", help="With --from: a task (`genlab data tasks`) "
                                                                   "scored before and after."),
    n: int = typer.Option(30, "-n", min=1, help="With --task: its test examples."),
    out: Path = typer.Option(Path("runs/pretrain"), "--out", help="Run folder."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run folder's last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a run already in --out."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate [default: 2e-3 new; with --from 2e-5 "
                                                                     "full, 2e-4 lora]."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Blocks per micro-batch "
                                                                                "[default: 16 new, 4 with --from]."),
    grad_accum: int = typer.Option(1, "--grad-accum", min=1, help="Micro-batches per step."),
    epochs: float = typer.Option(1.0, "--epochs", help="Passes over the corpus when --tokens is not given."),
    warmup_ratio: float = typer.Option(0.05, "--warmup-ratio", help="Share of steps warming up."),
    seed: int = typer.Option(0, "--seed", help="Seeds the model, the split and the data order."),
    precision: str = typer.Option("auto", "--precision", help="auto | bf16 | fp32 (compute under autocast)."),
    compile_: bool = typer.Option(False, "--compile/--no-compile",
                                  help="torch.compile the blocks and the loss for the loop (the first run compiles "
                                       "for ~25 s; later runs load the cache)."),
) -> None:
    """Pre-train a tiny model from scratch (three objectives), or continue pre-training a released one."""
    from genlab.pretraining import PretrainConfig, pretrain
    from genlab.pretraining.scaling import parse_tokens
    from genlab.tuning import TrainConfig
    from genlab.ui import RichReporter

    new = from_model is None
    cfg = PretrainConfig(objective=objective, size=size, corpus=corpus, docs=docs if docs or not new else 4000,
                         text_field=text_field, heldout=heldout, block_size=block_size,
                         tokenizer=tokenizer if new else from_model, tokens=parse_tokens(tokens) if tokens else None,
                         from_model=from_model, method=method, lora_r=r, general=general, task=task, n_task=n,
                         val_blocks=val_blocks, seed=seed)
    tcfg = TrainConfig(lr=lr or (2e-3 if new else 2e-5 if method == "full" else 2e-4), batch_size=batch_size or (16 if new else 4),
                       grad_accum=grad_accum, epochs=epochs, warmup_ratio=warmup_ratio, seed=seed,
                       precision=precision, compile=compile_)
    try:
        res = pretrain(cfg, tcfg, out, resume=resume, overwrite=overwrite, reporter=RichReporter())
    except KeyboardInterrupt:
        if (out / "checkpoints" / "last.pt").is_file():
            from genlab.ui import err_console

            err_console.print(f"checkpoint kept in {out}/checkpoints: add --resume to the same command to continue",
                              highlight=False)
        raise
    from genlab.cli.render_pretrain import print_pretrain

    print_pretrain(res, cfg)


@scaling_app.command("run")
def scaling_run_cmd(
    sizes: str = typer.Option(",".join(("32x1", "48x2", "64x3", "96x4")), "--sizes",
                              help="Model sizes WIDTHxLAYERS, comma-separated (at least 2; 4+ recommended)."),
    tokens: str = typer.Option("250k,500k,1M", "--tokens", help="Token budgets, comma-separated (3+ recommended)."),
    out: Path = typer.Option(Path("runs/scaling"), "--out", help="Grid folder (finished runs are reused)."),
    corpus: str = typer.Option("builtin", "--corpus", help="Corpus shared by every run (see `genlab pretrain`)."),
    docs: int = typer.Option(12_000, "--docs", min=1, help="Documents to read (enough for the largest budget)."),
    tokenizer: str = typer.Option("bpe:2048", "--tokenizer", help="bpe:SIZE or a model's tokenizer."),
    block_size: int = typer.Option(128, "--block-size", min=8, help="Tokens per packed block."),
    lr: float = typer.Option(3e-3, "--lr", help="Peak learning rate at --lr-width (cosine to each run's own end)."),
    lr_width: int = typer.Option(96, "--lr-width", min=0, help="Width at which --lr holds; a model of width w "
                                                              "trains at lr·lr_width/w (µP). 0: --lr for all."),
    batch_size: int = typer.Option(4, "--batch-size", min=1, help="Blocks per step."),
    precision: str = typer.Option("auto", "--precision", help="auto | bf16 | fp32."),
    seed: int = typer.Option(0, "--seed", help="Seeds models, split and data order."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Runs per grid point (other seeds); the fit uses their "
                                                       "mean (one run's loss moves up to ~14% with the seed here)."),
    fit: bool = typer.Option(True, "--fit/--no-fit", help="Fit the law when the grid is done."),
) -> None:
    """Train a grid of sizes × token budgets × seeds (about 20 minutes with the defaults on 2 CPU cores), then fit."""
    from genlab.cli.render_pretrain import print_fit, print_grid
    from genlab.pretraining.scaling import GridSettings, fit_grid, parse_tokens, run_grid
    from genlab.ui import RichReporter

    settings = GridSettings(corpus=corpus, docs=docs, tokenizer=tokenizer, block_size=block_size, lr=lr,
                            lr_width=lr_width, batch_size=batch_size, precision=precision, seed=seed)
    size_list = [s.strip() for s in sizes.split(",") if s.strip()]
    budgets = [parse_tokens(t) for t in tokens.split(",") if t.strip()]
    rows = run_grid(size_list, budgets, out, settings, seeds=seeds, reporter=RichReporter())
    print_grid(rows)
    if fit:
        print_fit(fit_grid(out))


@scaling_app.command("fit")
def scaling_fit_cmd(
    folder: Path = typer.Argument(..., help="A grid folder written by `genlab scaling run`, or a table of runs "
                                            "measured elsewhere (.csv/.tsv/.jsonl/.parquet; columns N, D, loss; "
                                            "optional N_nonemb, C, run)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where fit.json and the plots go [default: the grid "
                                                           "folder, or <table>-fit/ beside the table]."),
    budget: Optional[float] = typer.Option(None, "--budget", help="FLOPs to split compute-optimally, e.g. 1e16 "
                                                                  "[default: 10x the largest run]."),
    bootstrap: int = typer.Option(200, "--bootstrap", min=0, help="Bootstrap refits for the 95% intervals."),
    holdout: bool = typer.Option(True, "--holdout/--no-holdout", help="Refit without the largest-compute run "
                                                                      "and predict it."),
) -> None:
    """Fit L(N, D) = E + A/N^α + B/D^β (Chinchilla approach 3) to a grid's runs; intervals, optimum, plots."""
    from genlab.cli.render_pretrain import print_fit, print_grid
    from genlab.pretraining.scaling import collect, fit_grid

    print_grid(collect(folder))
    print_fit(fit_grid(folder, budget=budget, holdout=holdout, n_bootstrap=bootstrap, out=out))
