"""``genlab eval``, ``genlab compare`` and ``genlab prompt``: measure, compare, try shot counts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from genlab.cli.common import (AdapterOpt, Fp32Opt, GenOpt, ModelOpt, NoCacheOpt, PrecisionOpt, TaskOpt, TrustOpt,
                               generation_settings, load_model, note_inferred_task, precision_of)
from genlab.errors import GenlabError


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
    app.command("compare")(compare_cmd)
    app.command("prompt")(prompt_cmd)


def _default_out(task: str, shots: int, adapter: str | None = None, cfg=None) -> Path:
    """``runs/eval-TASK-Kshot[-ADAPTER]-TIME``; ADAPTER is the run's name for ``runs/NAME/adapter``."""
    from genlab.adapters import short_name

    tag = f"-{short_name(adapter)}" if adapter else ""
    if cfg is not None and (cfg.cot or cfg.pal):
        tag += "-pal" if cfg.pal else "-cot"
    if cfg is not None and cfg.self_consistency > 1:
        tag += f"-sc{cfg.self_consistency}"
    return Path("runs") / f"eval-{Path(task).stem}-{shots}shot{tag}-{time.strftime('%Y%m%d-%H%M%S')}"


def eval_cmd(
    model: str = ModelOpt,
    task: str = TaskOpt,
    adapter: Optional[str] = AdapterOpt,
    shots: Optional[int] = typer.Option(None, "--shots", "-k", min=0,
                                        help="Few-shot examples per prompt (default: the task's)."),
    n: Optional[int] = typer.Option(None, "-n", min=1, help="Evaluate only the first N examples of the split "
                                                              "(default: all of it)."),
    split: str = typer.Option("test", "--split", help="Split to evaluate on; several, comma-separated "
                                                       "(e.g. test-unseen,test), are scored side by side."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: runs/eval-TASK-Kshot[-ADAPTER]-TIME); "
                                                           "with several splits, one subfolder per split."),
    no_cache: bool = NoCacheOpt,
    seed: int = typer.Option(0, "--seed", help="Seeds few-shot selection and the bootstrap."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Prompts per forward pass."),
    batch_invariant: bool = typer.Option(False, "--batch-invariant",
                                         help="Generated answers do not depend on --batch-size (bf16 scores "
                                              "then too; slower)."),
    precision: str = PrecisionOpt,
    fp32: bool = Fp32Opt,
    chat: Optional[bool] = typer.Option(None, "--chat/--no-chat", help="Chat-format prompts (default: the task's setting)."),
    template: str = typer.Option("0", "--template", help="Prompt variant of the task: index or name."),
    trust_remote_code: bool = TrustOpt,
    cot: bool = typer.Option(False, "--cot", help="Chain-of-thought: worked-solution demonstrations, "
                                                  "'Let's think step by step', answer read after 'The answer is'."),
    pal: bool = typer.Option(False, "--pal", help="Program-aided: the model writes Python, run in the sandbox; "
                                                  "the answer is what it prints."),
    self_consistency: int = typer.Option(1, "--self-consistency", min=1, metavar="K",
                                         help="Sample K answers per prompt and take the majority vote."),
    gen: Optional[list[str]] = GenOpt,
) -> None:
    """Evaluate a model on a task: metrics with 95% CIs, results.json and samples.jsonl."""
    from genlab.cli.render import print_eval_result, print_split_table
    from genlab.evaluation import EvalConfig, evaluate
    from genlab.tasks import load_task
    from genlab.ui import RichReporter

    spec = load_task(task)  # fail on a bad task before loading the model
    note_inferred_task(spec)
    splits = _splits(split, spec)
    cfg = EvalConfig(split=splits[0], n=n, shots=shots, seed=seed, batch_size=batch_size,
                     precision=precision_of(precision, fp32), cache=not no_cache, chat=chat, template=template,
                     cot=cot, pal=pal, self_consistency=self_consistency, batch_invariant=batch_invariant,
                     generation=_generation(gen, spec))
    k = spec.default_shots if shots is None else shots
    lm = load_model(model, trust_remote_code, adapter, precision=cfg.precision)
    root = out or _default_out(task, k, adapter, cfg)
    results = {}
    for sp in splits:
        folder = root / sp if len(splits) > 1 else root
        results[sp] = evaluate(lm, spec, cfg.replace(split=sp), out_dir=folder, reporter=RichReporter())
        print_eval_result(results[sp])
    if len(splits) > 1:
        print_split_table(results)


def _generation(items: Optional[list[str]], spec) -> dict:
    """``--gen`` settings, refused for a task that scores choices or log-likelihoods instead of generating."""
    settings = generation_settings(items)
    if settings and spec.output_type != "generate":
        raise GenlabError(f"--gen sets how answers are generated, but {spec.name} is a {spec.output_type} task: "
                          "its answers are scored from log-likelihoods, not generated",
                          hint="leave --gen out for this task")
    return settings


def _splits(split: str, spec) -> list[str]:
    names = [s.strip() for s in split.split(",") if s.strip()]
    if not names or len(set(names)) != len(names):
        raise GenlabError(f"--split {split!r}: give one split or several distinct ones, comma-separated",
                          hint=f"splits of {spec.name}: {', '.join(spec.split_names())}")
    return names


def compare_cmd(
    runs: list[Path] = typer.Argument(..., help="Two or more run folders; the first is the baseline."),
    examples: int = typer.Option(5, "--examples", "-e", help="Show this many examples where the runs differ most."),
    resamples: int = typer.Option(1000, "--resamples", help="Bootstrap resamples for the paired test."),
    seed: int = typer.Option(0, "--seed", help="Seeds the bootstrap resamples."),
) -> None:
    """Side by side: metrics, deltas vs the first run, paired-bootstrap p-values, differing examples."""
    from genlab.cli.render import print_comparison
    from genlab.evaluation.compare import compare_runs

    print_comparison(compare_runs([str(r) for r in runs], examples=examples, n_resamples=resamples, seed=seed))


def _shot_list(text: str) -> list[int]:
    try:
        shots = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise GenlabError(f"--shots must be comma-separated integers, not {text!r}", hint="e.g. --shots 0,1,3") from None
    if not shots or min(shots) < 0:
        raise GenlabError(f"--shots needs non-negative counts, got {text!r}", hint="e.g. --shots 0,1,3")
    return shots


def prompt_cmd(
    model: str = ModelOpt,
    task: str = TaskOpt,
    shots: str = typer.Option("0,1,3", "--shots", "-k", help="Comma-separated shot counts to try."),
    n: int = typer.Option(50, "-n", min=1, help="Examples per shot count (the same examples each time)."),
    split: str = typer.Option("test", "--split", help="Split to evaluate on."),
    out: Optional[Path] = typer.Option(None, "--out", help="Save each shot count's run under this folder."),
    adapter: Optional[str] = AdapterOpt,
    seed: int = typer.Option(0, "--seed", help="Seeds few-shot selection and the bootstrap."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Prompts per forward pass."),
    precision: str = PrecisionOpt,
    fp32: bool = Fp32Opt,
    no_cache: bool = NoCacheOpt,
    trust_remote_code: bool = TrustOpt,
    gen: Optional[list[str]] = GenOpt,
) -> None:
    """Zero-, one- and few-shot on the same examples: one table of the task's metrics per shot count."""
    from genlab.cli.render import print_shot_table
    from genlab.evaluation import EvalConfig
    from genlab.evaluation.prompting import shot_sweep
    from genlab.tasks import load_task
    from genlab.ui import RichReporter

    counts = _shot_list(shots)
    spec = load_task(task)
    cfg = EvalConfig(split=split, n=n, seed=seed, batch_size=batch_size, precision=precision_of(precision, fp32),
                     cache=not no_cache, generation=_generation(gen, spec))
    lm = load_model(model, trust_remote_code, adapter, precision=cfg.precision)
    results = shot_sweep(lm, spec, counts, cfg, out_dir=out, reporter=RichReporter())
    print_shot_table(spec, results)
