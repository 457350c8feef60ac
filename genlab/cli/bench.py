"""``genlab bench``: the holistic suite (HELM's seven metric families) over scenarios × models."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from genlab.cli.common import Fp32Opt, NoCacheOpt, PrecisionOpt, TrustOpt, precision_of


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_cmd)


def _csv(text: Optional[str]) -> Optional[list[str]]:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def bench_cmd(
    model: list[str] = typer.Option(["smollm2-135m-instruct"], "--model", "-m",
                                    help="Model to benchmark; repeat -m to compare several."),
    adapter: Optional[list[str]] = typer.Option(None, "--adapter",
                                                help="Adapter folder per -m ('none' for none); with one -m, "
                                                     "each --adapter is compared on that base."),
    suite: str = typer.Option("holistic", "--suite", help="holistic (built-in, offline), standard (hub), all."),
    n: int = typer.Option(100, "-n", min=1, help="Instances (examples) per scenario."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: runs/bench-TIME)."),
    scenarios: Optional[str] = typer.Option(None, "--scenarios", help="Comma-separated scenario names."),
    perturbations: Optional[str] = typer.Option(None, "--perturbations",
                                                help="Comma-separated perturbations (default: all)."),
    seed: int = typer.Option(0, "--seed", help="Seeds the perturbations."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Prompts per forward pass."),
    precision: str = PrecisionOpt,
    fp32: bool = Fp32Opt,
    no_cache: bool = NoCacheOpt,
    trust_remote_code: bool = TrustOpt,
) -> None:
    """Accuracy, calibration, robustness, fairness, bias, toxicity and efficiency per scenario and model."""
    from genlab.cli.render import print_holistic_leaderboard
    from genlab.evaluation.config import EvalConfig
    from genlab.holistic.suite import run_suite
    from genlab.ui import RichReporter

    out = out or Path("runs") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    cfg = EvalConfig(seed=seed, batch_size=batch_size, precision=precision_of(precision, fp32), cache=not no_cache)
    summary = run_suite(list(model), list(adapter or []), suite=suite, n=n, out_dir=out, scenarios=_csv(scenarios),
                        perturbations=_csv(perturbations), cfg=cfg, reporter=RichReporter(),
                        trust_remote_code=trust_remote_code)
    print_holistic_leaderboard(summary)
