"""``genlab optimize quantize|prune|distill|export|compare``: smaller/faster models and what they cost."""

from __future__ import annotations

from typing import List, Optional

import typer

from genlab.cli.common import ModelOpt, PrecisionOpt, TaskOpt, help_when_bare  # noqa: F401

optimize_app = typer.Typer(help="Optimize a model for deployment (quantize, prune, distill, export GGUF) and "
                                "compare the trade-offs.", invoke_without_command=True)

OutOpt = typer.Option(..., "--out", help="Output folder (or .gguf file for export); refused if it exists.")
ForceOpt = typer.Option(False, "--force", help="Replace an existing output (written atomically).")


def register(app: typer.Typer) -> None:
    app.add_typer(optimize_app, name="optimize")


@optimize_app.callback()
def _group(ctx: typer.Context) -> None:
    help_when_bare(ctx)


@optimize_app.command("quantize")
def quantize_cmd(model: str = ModelOpt, out: str = OutOpt, scheme: str = typer.Option(
        "int8", "--scheme", help="int8 (dynamic int8 Linear layers, CPU); int4 is refused with the alternative."),
                 skip: str = typer.Option("", "--skip", help="Comma-separated Linear names kept in float, e.g. lm_head."),
                 smooth: float = typer.Option(0.5, "--smooth", help="SmoothQuant's α: move activation outliers "
                                              "into the weights (calibrated on support-summary train)."),
                 no_smooth: bool = typer.Option(False, "--no-smooth", help="Plain dynamic int8, no calibration."),
                 n_calibration: int = typer.Option(16, "--n-calibration", help="Calibration texts for --smooth."),
                 force: bool = ForceOpt) -> None:
    """Quantize every Linear layer to int8 and save a folder that `genlab eval -m` and `genlab generate -m` load."""
    from genlab.deploy import QuantizeConfig, quantize_to
    from genlab.ui import RichReporter

    cfg = QuantizeConfig(scheme=scheme, skip=[s for s in skip.split(",") if s], smooth=None if no_smooth else smooth,
                         n_calibration=n_calibration)
    path = quantize_to(model, out, cfg, force=force, reporter=RichReporter())
    _done(path)


@optimize_app.command("prune")
def prune_cmd(model: str = ModelOpt, out: str = OutOpt,
              method: str = typer.Option("wanda", "--method", help="wanda (|W|·‖X‖ per row) or magnitude (|W| per layer)."),
              sparsity: float = typer.Option(0.5, "--sparsity", help="Share of weights zeroed per layer, in [0, 1)."),
              pattern: str = typer.Option("unstructured", "--pattern", help="unstructured or 2:4."),
              channels: Optional[float] = typer.Option(None, "--channels", help="Structured instead: remove this "
                                                       "share of every MLP's channels (faster, smaller)."),
              n_calibration: int = typer.Option(32, "--n-calibration", help="Calibration texts (support-summary train)."),
              force: bool = ForceOpt) -> None:
    """Prune weights (unstructured / 2:4: no CPU speed-up without sparse kernels) or whole MLP channels."""
    from genlab.deploy import PruneConfig, prune_to
    from genlab.ui import RichReporter

    cfg = None if channels is not None else PruneConfig(method=method, sparsity=sparsity, pattern=pattern,
                                                        n_calibration=n_calibration)
    _done(prune_to(model, out, cfg, channels=channels, force=force, reporter=RichReporter()))


@optimize_app.command("distill")
def distill_cmd(model: str = ModelOpt, out: str = OutOpt,
                student: Optional[str] = typer.Option(None, "--student", help="A ready student with the teacher's "
                                                      "tokenizer (default: the teacher's --blocks)."),
                blocks: str = typer.Option("ends-15", "--blocks", help="ends-N (first and last blocks), every-other, "
                                           "first-N, or 0,2,4,..."),
                temperature: float = typer.Option(2.0, "--temperature", "-T", help="Softmax temperature of the KL term."),
                alpha: float = typer.Option(0.5, "--alpha", help="Weight of the cross-entropy term."),
                top_k: Optional[int] = typer.Option(None, "--top-k", help="Cache the teacher's top-k logits "
                                                    "once (default: teacher on the fly)."),
                n_texts: int = typer.Option(256, "--n-texts", help="Training texts (support-summary train)."),
                max_length: int = typer.Option(256, "--max-length", help="Tokens per text."),
                epochs: float = typer.Option(1.0, "--epochs", help="Passes over the texts."),
                max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps (overrides --epochs)."),
                lr: float = typer.Option(1e-4, "--lr", help="Learning rate (AdamW)."),
                batch_size: int = typer.Option(8, "--batch-size", help="Texts per step."),
                precision: str = PrecisionOpt, force: bool = ForceOpt) -> None:
    """Distill MODEL (the teacher) into a smaller student through genlab's training loop."""
    from genlab.cli.common import precision_of
    from genlab.deploy import DistillConfig, distill_to
    from genlab.tuning import TrainConfig
    from genlab.ui import RichReporter, console

    cfg = DistillConfig(temperature=temperature, alpha=alpha, top_k=top_k, blocks=blocks, n_texts=n_texts,
                        max_length=max_length)
    tcfg = TrainConfig(lr=lr, epochs=epochs, max_steps=max_steps, batch_size=batch_size, val_generate=0,
                       precision=precision_of(precision), max_seq_len=max_length)
    path, result = distill_to(model, out, cfg, tcfg, student=student, force=force, reporter=RichReporter())
    console.print(f"{result.steps} steps, final loss {result.final_loss:.4f}, {result.tokens_per_s:,.0f} tok/s, "
                  f"{result.wall_s:.0f} s")
    _done(path)


@optimize_app.command("export")
def export_cmd(model: str = ModelOpt, out: str = OutOpt,
               fmt: str = typer.Option("gguf", "--format", help="gguf (the only format so far)."),
               type_: str = typer.Option("q8_0", "--type", help="f32, f16, q8_0 or q4_0."),
               force: bool = ForceOpt) -> None:
    """Export to GGUF for llama.cpp / Ollama (Llama-family models; merge LoRA first with `genlab merge`)."""
    from genlab.deploy import ExportConfig, export_to
    from genlab.errors import ConfigError
    from genlab.ui import RichReporter

    if fmt != "gguf":
        raise ConfigError(f"unknown export format {fmt!r}", where="--format", hint="gguf")
    _done(export_to(model, out, ExportConfig(type=type_), force=force, reporter=RichReporter()))


@optimize_app.command("compare")
def compare_cmd(models: List[str] = typer.Argument(..., help="Models (name, folder, .gguf); MODEL@fp32 / @bf16 "
                                                   "picks its precision. The first is the reference."),
                out: str = typer.Option("runs/optimize-compare", "--out", help="Folder for records, evals, picture."),
                task: str = typer.Option("support-summary", "--task", "-t", help="Task for the metric "
                                         "(`genlab data tasks`)."),
                n: int = typer.Option(50, "--n", "-n", help="Task examples per model."),
                n_ppl: int = typer.Option(32, "--n-ppl", help="Held-out texts for perplexity."),
                threads: Optional[int] = typer.Option(None, "--threads", help="Torch threads for every measurement."),
                precision: str = PrecisionOpt,
                fresh: bool = typer.Option(False, "--fresh", help="Measure again even where a record exists.")) -> None:
    """Measure size, load time, decode speed, memory, perplexity and the task metric; table + tradeoff.png."""
    from genlab.cli.common import precision_of
    from genlab.deploy import MeasureConfig, compare_models
    from genlab.ui import RichReporter, console

    cfg = MeasureConfig(precision=precision_of(precision), threads=threads, task=task, n_eval=n, n_ppl=n_ppl)
    records = compare_models(models, out, cfg, reuse=not fresh, reporter=RichReporter())
    console.print(tradeoff_table(records))
    console.print(f"records: {out}/tradeoffs.json   picture: {out}/tradeoff.png")


def tradeoff_table(records):
    from genlab.ui import table

    ref = records[0]
    rows = [(r.name, r.weights, f"{r.size_mb:.0f}", f"{r.load_s:.2f}", f"{r.decode_tok_s_b1:.1f}",
             f"{r.decode_tok_s_b16:.1f}", f"{r.peak_mem_mb:.0f}", f"{r.perplexity:.3f}",
             f"{r.metric_value:.4f} [{r.metric_ci[0]:.3f}, {r.metric_ci[1]:.3f}]",
             "ref" if r is ref else f"{r.delta:+.4f} [{r.delta_ci[0]:+.3f}, {r.delta_ci[1]:+.3f}]")
            for r in records]
    return table(f"trade-offs ({ref.task}, {ref.metric}; deltas: paired bootstrap vs {ref.name}; "
                 f"{ref.threads} thread(s))",
                 ["model", "weights", "MB", "load s", "tok/s b1", "tok/s b16", "peak MB", "ppl", ref.metric,
                  "Δ vs ref"], rows)


def _done(path) -> None:
    from genlab.ui import console

    console.print(f"wrote {path}")
