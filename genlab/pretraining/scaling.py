"""A grid of pre-training runs (sizes × token budgets) on one corpus and one tokenizer, for scaling-law fits.

    run_grid(["32x1", "48x2", "64x3", "96x4"], [250_000, 500_000, 1_000_000], "runs/scaling")

Every run trains a new causal model with its own cosine schedule that ends at
its own budget (Chinchilla's point against Kaplan et al.: a schedule longer than
the run overstates the loss of short runs), and records its final held-out loss
in ``runs/scaling/<size>-<tokens>/results.json``. Finished runs are reused; an
interrupted one resumes from its checkpoint. The corpus, split and tokenizer are
built once (``grid.json``, ``tokenizer/``) and shared, so runs differ only in N and D.

Learning rate by width: ``lr`` is the peak rate of a model ``lr_width`` wide
(96, the widest default size); a model of width w trains at ``lr · lr_width / w``,
Adam's µP rule for hidden layers (Yang et al. 2022). One rate for every size
favours some of them: on the default grid (fp32, mean of 2 seeds) 32x1 on 1M tokens
ended at 2.356 with 3e-3 and 2.089 with 9e-3, while 96x4 ended at 1.106 with 3e-3,
1.118 with 2e-3 and 1.275 with 6e-3. ``lr_width=0``: one rate for all sizes.

``seeds`` > 1 trains each point again with other initialisations and data orders
(``<size>-<tokens>-s1``, …; same split and tokenizer) and the fit uses each point's
mean: at this scale one run's held-out loss moves with the seed by up to ~14% at
250k tokens and ≤ 2.3% at 1M (the default grid, seeds 0-2, spread over the mean),
more than the prediction target.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from genlab.errors import ConfigError, DataError, GenlabError
from genlab.io import atomic_write_json
from genlab.pretraining.config import PretrainConfig
from genlab.progress import Reporter, or_quiet

# the demo grid: 4 sizes × 3 budgets (× 3 seeds from the CLI): ~20 minutes on 2 CPU cores
DEFAULT_SIZES = ("32x1", "48x2", "64x3", "96x4")
DEFAULT_TOKENS = (250_000, 500_000, 1_000_000)


@dataclass
class GridSettings:
    """What every run of a grid shares; a grid folder refuses runs with other settings."""

    corpus: str = "builtin"
    docs: int = 12_000
    tokenizer: str = "bpe:2048"
    block_size: int = 128
    heldout: float = 0.05
    val_blocks: int = 128
    lr: float = 3e-3
    lr_width: int = 96  # lr is the peak rate at this width; width w trains at lr * lr_width / w (0: lr for all)
    batch_size: int = 4  # small batches: more steps per token (at 16, 250k-token runs stay in the transient)
    warmup_ratio: float = 0.05
    precision: str = "auto"
    seed: int = 0

    def pretrain_config(self, size: str, tokens: int) -> PretrainConfig:
        return PretrainConfig(objective="causal", size=size, corpus=self.corpus, docs=self.docs,
                              heldout=self.heldout, block_size=self.block_size, tokenizer=self.tokenizer,
                              tokens=tokens, val_blocks=self.val_blocks, seed=self.seed)

    def lr_for(self, size: str) -> float:
        from genlab.pretraining.models import parse_size

        return self.lr * self.lr_width / parse_size(size).d_model if self.lr_width else self.lr

    def train_config(self, size: str):
        from genlab.tuning import TrainConfig

        return TrainConfig(lr=self.lr_for(size), batch_size=self.batch_size, warmup_ratio=self.warmup_ratio,
                           precision=self.precision, seed=self.seed, schedule="cosine")

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def parse_tokens(text: str) -> int:
    """``250k``, ``1M``, ``1.5m``, ``2000000`` -> tokens."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([kKmMgGbB]?)\s*", str(text))
    if not m:
        raise ConfigError(f"bad token count {text!r}", where="--tokens", hint="e.g. 250k, 1M or 2000000")
    scale = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9}[m.group(2).lower()]
    value = int(float(m.group(1)) * scale)
    if value < 1:
        raise ConfigError(f"token count {text!r} must be positive", where="--tokens")
    return value


def run_name(size: str, tokens: int, replica: int = 0) -> str:
    return f"{size}-{tokens}" + (f"-s{replica}" if replica else "")


def run_grid(sizes: Sequence[str], tokens: Sequence[int], out_dir: str | Path, settings: GridSettings | None = None,
             *, seeds: int = 1, reporter: Reporter | None = None) -> list[dict]:
    """Train every (size, tokens, replica) not finished yet; return one record per grid point (size, N, D,
    mean loss over its ``seeds`` replicas, seconds). Replica ``i`` seeds its model and data order with
    ``settings.seed + i``."""
    from genlab.pretraining.api import prepare_data, prepare_run_dir, run_training
    from genlab.pretraining.models import build_model, parse_size

    settings = settings or GridSettings()
    reporter = or_quiet(reporter)
    out = Path(out_dir)
    _check_settings(out, settings)
    for s in sizes:
        parse_size(s)
    if seeds < 1:
        raise ConfigError(f"seeds must be >= 1 (got {seeds})", where="--seeds")
    todo = [(s, t, i) for i in range(seeds) for s in sizes for t in tokens
            if not (out / run_name(s, t, i) / "results.json").is_file()]
    total = len(sizes) * len(tokens) * seeds
    reporter.status(f"scaling grid: {len(sizes)} sizes × {len(tokens)} budgets × {seeds} seed(s); {len(todo)} to "
                    f"train, {total - len(todo)} reused")
    data = None
    for k, (size, tok, replica) in enumerate(todo, start=1):
        cfg = settings.pretrain_config(size, tok)
        if data is None:
            data = prepare_data(cfg, out, reporter)  # the tokenizer lands in out/tokenizer, shared by all runs
        run_dir = out / run_name(size, tok, replica)
        resume = (run_dir / "checkpoints" / "last.pt").is_file()
        if not resume:
            prepare_run_dir(run_dir, resume=False, overwrite=True)  # a run that died before its first checkpoint
        reporter.status(f"run {k}/{len(todo)}: {size} on {tok:,} tokens" + (f", seed +{replica}" if replica else "")
                        + (" (resuming)" if resume else ""))
        model = build_model("causal", parse_size(size), len(data.tokenizer), cfg.block_size, data.tokenizer,
                            seed=settings.seed + replica)
        tcfg = settings.train_config(size)
        tcfg.seed = settings.seed + replica
        run_training(cfg, tcfg, run_dir, model, data, resume=resume, reporter=reporter)
    return collect(out)


def _check_settings(out: Path, settings: GridSettings) -> None:
    path = out / "grid.json"
    if path.is_file():
        saved = {"lr_width": 0, **json.loads(path.read_text())}  # grids from before lr_width ran one lr
        if saved != settings.to_dict():
            diff = {k: (saved.get(k), v) for k, v in settings.to_dict().items() if saved.get(k) != v}
            hint = "use the same settings to extend it, or another --out for a new grid"
            if diff.get("lr_width", (None,))[0] == 0:
                hint = "this grid trained every size at one rate: add --lr-width 0 to extend it, or use another --out"
            raise GenlabError(f"{out} holds a grid trained with other settings: {diff} (saved, asked)", hint=hint)
        return
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, settings.to_dict())


# the columns of a table of runs measured elsewhere (``collect`` of a file), first name found wins
COLUMNS = {"N": ("N", "params", "n_params", "parameters"), "D": ("D", "tokens", "n_tokens", "training_tokens"),
           "loss": ("loss", "L", "heldout_loss", "val_loss", "eval_loss"),
           "N_nonemb": ("N_nonemb", "non_embedding", "non_embedding_params", "n_nonemb")}


def collect(source: str | Path) -> list[dict]:
    """One record per grid point (sorted by N, then D): its replicas' mean held-out loss (``losses``: each
    replica's; ``seeds``: how many). ``source`` is a grid folder of ``genlab scaling run``, or a table of runs
    measured elsewhere (``table_runs``)."""
    out = Path(source)
    if out.is_file():
        return _points(table_runs(out))
    if not out.is_dir():
        raise GenlabError(f"{out} is neither a grid folder nor a table of runs",
                          hint="run `genlab scaling run --out FOLDER` first, or give a .csv/.jsonl with N, D, loss")
    runs = []
    for res in sorted(out.glob("*/results.json")):
        r = json.loads(res.read_text())
        saved = json.loads((res.parent / "config.json").read_text())
        cfg = saved["pretrain_config"]
        run = {"size": cfg["size"], "lr": saved.get("train_config", {}).get("lr"), "N": r["params"]["total"],
               "N_nonemb": r["params"]["non_embedding"],
               "D": r["train"]["tokens"], "C": r["after"]["flops_6nd"], "loss": r["heldout_loss"],
               "seconds": r["train"]["wall_s"], "tok_s": r["train"]["tokens_per_s"], "mfu": r["after"]["mfu"]}
        run["run"] = re.sub(r"-s\d+$", "", res.parent.name)  # a replica belongs to its point
        runs.append(run)
    return _points(runs)


def _points(runs: list[dict]) -> list[dict]:
    """Replicas (same name, N and D) folded into one point each: the mean loss, sorted by N then D."""
    points: dict[tuple[str, int, int], list[dict]] = {}
    for run in runs:
        points.setdefault((run["run"], run["N"], run["D"]), []).append(run)
    rows = []
    for reps in points.values():
        losses = [x["loss"] for x in reps]
        seconds = None if any(x["seconds"] is None for x in reps) else round(sum(x["seconds"] for x in reps), 2)
        rows.append({**reps[0], "loss": sum(losses) / len(losses), "losses": losses, "seeds": len(reps),
                     "seconds": seconds})
    return sorted(rows, key=lambda r: (r["N"], r["D"]))


def table_runs(path: Path) -> list[dict]:
    """Runs measured elsewhere (another framework, a paper's table): a .csv/.tsv/.jsonl/.parquet file with a
    row per run and columns for N (``N``, ``params``, ...), D (``D``, ``tokens``, ...) and the held-out loss
    (``loss``, ``val_loss``, ...); optional: ``N_nonemb`` (also fitted with non-embedding N), ``C`` (default
    6ND), ``run`` (a name). Rows with the same N and D are replicas of one point (their mean is fitted)."""
    from genlab.data.loading import iter_file

    runs = []
    for row in iter_file(path):
        if isinstance(row, Exception):  # malformed JSON, a short CSV line, a bad byte
            raise DataError(row.problem, where=row.where)
        value = {key: _number(row, names, row.where, required=key != "N_nonemb") for key, names in COLUMNS.items()}
        N, D = int(value["N"]), int(value["D"])
        C = _number(row, ("C", "flops", "compute"), row.where, required=False) or 6.0 * N * D
        nonemb = None if value["N_nonemb"] is None else int(value["N_nonemb"])
        name = str(row.get("run") or row.get("name") or f"N{N:.3g}-D{D:.3g}")
        runs.append({"run": name, "size": f"N={N:,}", "lr": None, "N": N, "N_nonemb": nonemb, "D": D, "C": C,
                     "loss": value["loss"], "seconds": None, "tok_s": None, "mfu": None, "where": row.where})
    if not runs:
        raise DataError("the table has no runs", where=str(path), hint="one row per run: N, D, loss")
    return runs


def _number(row: dict, names: Sequence[str], where: str, required: bool = True) -> float | None:
    """The first of ``names`` the row has, as a positive number."""
    name = next((n for n in names if n in row and row[n] not in (None, "")), None)
    if name is None:
        if required:
            raise DataError(f"no {' / '.join(names)} column (columns: {', '.join(row)})", where=where,
                            hint="name the columns N (parameters), D (training tokens) and loss")
        return None
    try:
        number = float(row[name])
    except (TypeError, ValueError):
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise DataError(f"{name} must be a positive number, got {row[name]!r}", where=where)
    return number


def fit_grid(source: str | Path, *, budget: float | None = None, holdout: bool = True, n_bootstrap: int = 200,
             seed: int = 0, plots: bool = True, out: str | Path | None = None) -> dict:
    """Fit the law to a grid folder's runs, or to a table of runs (``collect``): all parameters, and non-embedding
    ones where known; check a held-out run, give the compute-optimal N and D for ``budget`` FLOPs, and draw the
    plots. Writes ``fit.json`` and the plots into ``out`` (default: the grid folder, or ``<table>-fit/`` beside
    the table)."""
    from genlab.data.loading import data_stem
    from genlab.pretraining.scaling_fit import CHINCHILLA, REPLICATION, fit_law, holdout_check

    source = Path(source)
    rows = collect(source)
    out = Path(out) if out else source.parent / f"{data_stem(source)}-fit" if source.is_file() else source
    N, D, L = [r["N"] for r in rows], [r["D"] for r in rows], [r["loss"] for r in rows]
    N_nonemb = [r["N_nonemb"] for r in rows]
    counts = [("holdout", "all", N)]
    report: dict = {"runs": rows, "anchors": {"chinchilla": CHINCHILLA, "replication": REPLICATION}}
    fit = fit_law(N, D, L, n_bootstrap=n_bootstrap, seed=seed)
    report["fit"] = fit.to_dict()
    if None not in N_nonemb:  # a table of runs may not know it
        nonemb = fit_law(N_nonemb, D, L, n_bootstrap=n_bootstrap, seed=seed, n_count="non-embedding")
        report["fit_nonembedding"] = nonemb.to_dict()
        counts.append(("holdout_nonembedding", "non_embedding", N_nonemb))
    if holdout:  # every run refitted-out once; the largest-compute one is the headline prediction check
        largest = max(range(len(rows)), key=lambda i: rows[i]["C"])
        report["leave_one_out"] = {}
        for key, loo_key, NN in counts:
            checks = [holdout_check(NN, D, L, i, n_bootstrap=0) for i in range(len(rows))]
            report[key] = {"run": rows[largest]["run"], **checks[largest]}
            report["leave_one_out"][loo_key] = _leave_one_out(rows, checks)
    if fit.converged:
        C = budget or max(r["C"] for r in rows) * 10
        n_opt, d_opt = fit.law.optimal(C)
        report["optimal"] = {"C": C, "N": n_opt, "D": d_opt, "tokens_per_param": d_opt / n_opt,
                             "loss": float(fit.law.loss(n_opt, d_opt))}
    if plots:
        from genlab.pretraining.scaling_plots import draw_all

        out.mkdir(parents=True, exist_ok=True)
        report["plots"] = [str(p) for p in draw_all(rows, fit, report.get("holdout"), out)]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "fit.json", report)
    return report


def _leave_one_out(rows: list[dict], checks: list[dict]) -> dict:
    """The relative errors of the refits without each run (None where one did not converge), and the worst."""
    errors = {r["run"]: c.get("error") for r, c in zip(rows, checks)}
    known = {k: e for k, e in errors.items() if e is not None}
    worst = max(known, key=lambda k: abs(known[k])) if known else None
    return {"errors": errors, "worst_run": worst, "worst_error": known.get(worst),
            "not_converged": sorted(set(errors) - set(known))}
