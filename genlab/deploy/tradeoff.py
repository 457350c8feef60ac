"""The trade-off record every optimization ends in, and how each field is measured.

One model per process (``measure_isolated``), so peak memory and load time are that
model's and not what an earlier one left behind. Fields:

- ``size_mb``: the weight files (safetensors/bin in a folder, or the ``.gguf`` file itself), MiB.
- ``load_s``: ``genlab.models.load`` wall time with warm caches, imports excluded.
- ``decode_tok_s_b1`` / ``_b16``: new tokens per second generating ``decode_tokens`` greedy tokens
  (forced, no early EOS) for 1 and 16 copies of a prompt, after one warm-up call.
- ``peak_mem_mb``: the measuring process's peak RSS (includes ~0.4 GiB of torch/transformers).
- ``perplexity``: exp(mean NLL per token) over held-out text (``support-summary`` test-unseen).
- ``metric_*``: the task metric with its bootstrap interval; ``delta_*``: paired bootstrap vs the
  reference model (same examples), filled by ``genlab.deploy.compare``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab.errors import ConfigError, GenlabError
from genlab.io import atomic_write_json, read_json


@dataclass
class TradeOff:
    name: str
    model: str  # what was loaded: built-in name, folder or .gguf
    precision: str  # requested compute precision
    weights: str  # what the weights are: fp32 | bf16 | int8 | gguf-q8_0 ...
    size_mb: float
    load_s: float
    decode_tok_s_b1: float
    decode_tok_s_b16: float
    peak_mem_mb: float
    perplexity: float
    task: str
    metric: str
    metric_value: float
    metric_ci: list[float]
    eval_dir: str
    threads: int
    delta: float | None = None  # metric minus the reference's, on the same examples
    delta_ci: list[float] | None = None  # paired bootstrap 95% interval of ``delta``
    reference: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. sparsity, blocks, technique

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TradeOff":
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise GenlabError(f"trade-off record has unknown fields {sorted(unknown)}")
        return cls(**data)

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TradeOff":
        return cls.from_json(read_json(path))


@dataclass
class MeasureConfig:
    precision: str = "auto"
    threads: int | None = None  # torch threads for every measurement; None: torch's default
    decode_tokens: int = 32
    repeats: int = 3  # decode timings taken; the median is reported (one 32-token run varied 16-30 tok/s here)
    prompt: str = "Summarize: the customer ordered a blue kettle on Monday and it arrived broken."
    n_ppl: int = 32  # held-out texts for perplexity
    task: str = "support-summary"
    split: str = "test-unseen"
    n_eval: int = 50

    def __post_init__(self) -> None:
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ConfigError(f"precision must be auto, bf16 or fp32 (got {self.precision!r})", where="precision")
        for name in ("decode_tokens", "repeats", "n_ppl", "n_eval"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a whole number >= 1", where=name)


# -- fields ---------------------------------------------------------------------------------------
def size_on_disk_mb(model: str) -> float:
    from genlab.models import resolve

    p = Path(model)
    if p.suffix == ".gguf" and p.is_file():
        return p.stat().st_size / 2**20
    folder = resolve(model).path
    weights = [f for f in folder.iterdir() if f.suffix in (".safetensors", ".bin", ".pt")]
    return sum(f.stat().st_size for f in weights) / 2**20


def weights_label(lm, model: str) -> str:
    import torch

    from genlab.deploy.quantize import is_quantized

    if str(model).endswith(".gguf"):
        from gguf import GGUFReader

        types = {t.tensor_type.name for t in GGUFReader(model).tensors if len(t.shape) > 1}
        return "gguf-" + "+".join(sorted(t.lower() for t in types))
    if is_quantized(lm.model):
        return "int8"
    dtypes = {p.dtype for p in lm.model.parameters()}
    return {torch.float32: "fp32", torch.bfloat16: "bf16"}.get(next(iter(dtypes)), "mixed") if len(dtypes) == 1 \
        else "mixed"


def decode_tok_s(lm, batch: int, cfg: MeasureConfig) -> float:
    """Forced ``decode_tokens`` greedy tokens for ``batch`` copies of the prompt (prefill included); the
    median of ``cfg.repeats`` timings."""
    import torch

    from genlab.generation.packed import packed_linears
    from genlab.runtime import autocast

    enc = lm.tokenizer([cfg.prompt] * batch, return_tensors="pt").to(lm.device)
    n = cfg.decode_tokens
    kwargs = dict(do_sample=False, pad_token_id=lm.tokenizer.pad_token_id)
    with torch.inference_mode(), autocast(cfg.precision, lm.device), packed_linears(lm.model):
        lm.model.generate(**enc, max_new_tokens=2, min_new_tokens=2, **kwargs)  # warm-up
        rates = []
        for _ in range(max(1, cfg.repeats)):
            t0 = time.perf_counter()
            out = lm.model.generate(**enc, max_new_tokens=n, min_new_tokens=n, **kwargs)
            rates.append(batch * (out.shape[1] - enc["input_ids"].shape[1]) / (time.perf_counter() - t0))
    return statistics.median(rates)


def perplexity(lm, texts: list[str], precision: str) -> float:
    from genlab.evaluation import score_rolling

    scores = score_rolling(lm, texts, precision=precision)
    nll = -sum(s.loglik for s in scores)
    return math.exp(nll / max(1, sum(s.num_tokens for s in scores)))


# -- one model ------------------------------------------------------------------------------------
def measure(model: str, cfg: MeasureConfig, eval_dir: str | os.PathLike, name: str | None = None) -> TradeOff:
    """Every field for ``model`` (a name, folder or .gguf), in this process; eval outputs go to ``eval_dir``."""
    import torch

    from genlab.deploy.texts import HELDOUT_SPLIT, task_texts
    from genlab.evaluation import EvalConfig, evaluate
    from genlab.models import load, resolve

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    resolve(model)  # builds a GGUF cache once, outside the timed load
    t0 = time.perf_counter()
    lm = load(model, precision=cfg.precision)
    load_s = time.perf_counter() - t0
    b1, b16 = decode_tok_s(lm, 1, cfg), decode_tok_s(lm, 16, cfg)
    ppl = perplexity(lm, task_texts(cfg.task, HELDOUT_SPLIT, cfg.n_ppl), cfg.precision)
    result = evaluate(lm, cfg.task, EvalConfig(split=cfg.split, n=cfg.n_eval, precision=cfg.precision),
                      out_dir=eval_dir)
    metric = next(iter(result.metrics))
    m = result.metrics[metric]
    from genlab.runtime import peak_rss_mb

    return TradeOff(name or Path(str(model)).name, str(model), cfg.precision, weights_label(lm, model),
                    round(size_on_disk_mb(model), 2), round(load_s, 3), round(b1, 2), round(b16, 2),
                    round(peak_rss_mb() or 0.0, 1), round(ppl, 4), cfg.task, metric, m["value"],
                    [m["ci_low"], m["ci_high"]], str(eval_dir), torch.get_num_threads(),
                    extra=_manifest_extra(model))


def _manifest_extra(model: str) -> dict[str, Any]:
    from genlab.deploy.storage import read_manifest

    p = Path(model)
    info = read_manifest(p) if p.is_dir() else None
    return {k: v for k, v in (info or {}).items() if k in ("technique", "source", "settings")}


def measure_isolated(model: str, cfg: MeasureConfig, eval_dir: str | os.PathLike, name: str | None = None,
                     timeout_s: float | None = None) -> TradeOff:
    """``measure`` in a fresh Python process (its own peak memory and cold module state)."""
    out = Path(eval_dir) / "tradeoff.json"
    args = [sys.executable, "-m", "genlab.deploy.tradeoff", json.dumps({
        "model": model, "cfg": dataclasses.asdict(cfg), "eval_dir": str(eval_dir), "name": name, "out": str(out)})]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-6:])
        raise GenlabError(f"measuring {model} failed:\n{tail}")
    return TradeOff.load(out)


def _main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    rec = measure(spec["model"], MeasureConfig(**spec["cfg"]), spec["eval_dir"], spec["name"])
    rec.save(spec["out"])
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    sys.exit(_main(sys.argv[1:]))
