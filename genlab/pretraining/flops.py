"""Compute accounting: parameters, tokens, FLOPs (6·N·D and the exact count), MFU, GPU-hours.

Parameters (Kaplan et al. 2020): *non-embedding* N excludes the token (and
position) embedding tables and an LM head tied to them; Chinchilla counts all
of them. FLOPs for training: the rule of thumb C ≈ 6·N·D (2 per parameter per
token forward, 4 backward), and the exact count for a decoder the way Chinchilla
(Hoffmann et al. 2022, appendix F) counts it, per sequence of S tokens, forward:

    per layer  q, k, v, o projections   2·S·d·(h + 2·h_kv + h)·d_head
               logits  Q·Kᵀ             2·S·S·h·d_head
               softmax                  3·h·S·S
               attention · V            2·S·S·h·d_head
               SwiGLU feed-forward      3 · 2·S·d·d_ff
    once       output logits            2·S·d·V

and backward = 2 × forward. Unlike appendix F, embedding lookups count 0 (they
are gathers, not one-hot matmuls). For the encoder (BERT) and encoder-decoder
(T5) families the exact count is measured: one forward + backward under
``torch.utils.flop_counter.FlopCounterMode``.

Costs at the course's figures: 1 petaflop/s-day (10¹⁵ FLOP/s for a day) ≈ 8
V100s or 2 A100s at full efficiency for 24 hours.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass

import torch

PFLOPS_DAY = 1e15 * 86400
GPUS_PER_PFLOPS_DAY = {"A100": 2, "V100": 8}  # the course's figures


@dataclass
class Params:
    total: int
    embedding: int

    @property
    def non_embedding(self) -> int:
        return self.total - self.embedding

    @property
    def embedding_share(self) -> float:
        return self.embedding / max(self.total, 1)

    def to_dict(self) -> dict:
        return {"total": self.total, "embedding": self.embedding, "non_embedding": self.non_embedding,
                "embedding_share": round(self.embedding_share, 4)}


def count_params(model) -> Params:
    """Unique parameters; embedding = token, position and token-type tables plus an untied LM head."""
    total = sum(p.numel() for p in model.parameters())
    seen: set[int] = set()
    emb = 0
    tables = [m for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    for t in tables + ([head] if head is not None else []):
        w = t.weight
        if id(w) not in seen and _is_vocab_or_position_table(t, model):
            seen.add(id(w))
            emb += w.numel()
    return Params(total, emb)


def _is_vocab_or_position_table(module, model) -> bool:
    """T5's relative-attention bias is an Embedding too, but a tiny per-head table: not an embedding matrix."""
    rows = module.weight.shape[0]
    return rows >= getattr(model.config, "vocab_size", 0) or "position" in _name_of(module, model) or \
        "token_type" in _name_of(module, model)


def _name_of(module, model) -> str:
    for name, m in model.named_modules():
        if m is module:
            return name
    return ""


def flops_6nd(n_params: int, tokens: int) -> float:
    return 6.0 * n_params * tokens


def decoder_forward_flops(config, seq_len: int) -> float:
    """Exact forward FLOPs of one sequence through a Llama-style decoder (see the module docstring)."""
    d, L, S, V = config.hidden_size, config.num_hidden_layers, seq_len, config.vocab_size
    h = config.num_attention_heads
    h_kv = getattr(config, "num_key_value_heads", None) or h
    hd = getattr(config, "head_dim", None) or d // h
    f = config.intermediate_size
    proj = 2 * S * d * (2 * h + 2 * h_kv) * hd
    logits = 2 * S * S * h * hd
    softmax = 3 * h * S * S
    weighted = 2 * S * S * h * hd
    mlp = 3 * 2 * S * d * f
    return float(L * (proj + logits + softmax + weighted + mlp) + 2 * S * d * V)


def counted_train_flops(model, objective, batch) -> float:
    """FLOPs of one forward + backward of ``batch`` under ``objective``, as torch's FlopCounterMode counts them
    (matmuls and attention kernels; elementwise work is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    was = model.training
    attention = getattr(model.config, "_attn_implementation", None)
    if attention not in (None, "eager") and hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")  # fused attention kernels are invisible to the counter on CPU
    model.train()
    counter = FlopCounterMode(display=False)
    try:
        with counter:
            loss, _ = objective.loss(model, batch)
            loss.backward()
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was)
        if attention not in (None, "eager") and hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation(attention)
    return float(counter.get_total_flops())


# -- the machine ------------------------------------------------------------------------------

def _matmul_tflops(dtype: torch.dtype, n: int, seconds: float, device: str) -> float:
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    for _ in range(3):
        a @ b
    _sync(device)
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@functools.cache
def matmul_peak_tflops(dtype: str = "bf16", device: str | None = None) -> float:
    """The best square-matmul rate on this machine, measured once and cached in ``$GENLAB_HOME/matmul_peak.json``
    (keyed by CPU/GPU, thread count, torch version): the denominator of MFU."""
    from genlab.io import atomic_write_json
    from genlab.paths import genlab_home
    from genlab.runtime import device_name

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    key = f"{device_name(device)}|threads={torch.get_num_threads()}|torch={torch.__version__}|{dtype}"
    path = genlab_home() / "matmul_peak.json"
    cache = json.loads(path.read_text()) if path.is_file() else {}
    if key not in cache:
        dt = {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
        sizes = (1024, 2048, 3072) if device == "cpu" else (4096, 8192)
        cache[key] = round(max(_matmul_tflops(dt, n, 1.0, device) for n in sizes), 3)
        atomic_write_json(path, cache)
    return float(cache[key])


# -- the report -----------------------------------------------------------------------------------

@dataclass
class Accounting:
    params: dict
    tokens: int
    flops_6nd: float
    flops_exact: float
    seconds: float | None = None
    tokens_per_s: float | None = None
    peak_tflops: float | None = None
    peak_dtype: str | None = None
    mfu: float | None = None  # exact FLOPs per second / measured peak
    gpu_hours: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def gpu_hours(flops: float) -> dict[str, float]:
    """Hours on the course's GPUs at full efficiency (1 PF/s-day = 8 V100-days = 2 A100-days)."""
    return {gpu: flops / PFLOPS_DAY * n * 24 for gpu, n in GPUS_PER_PFLOPS_DAY.items()}


def account(params: Params, tokens: int, flops_per_token: float, *, seconds: float | None = None,
            peak: tuple[str, float] | None = None) -> Accounting:
    """Before a run: ``seconds`` None (planned tokens). After: measured seconds give tok/s and MFU."""
    exact = flops_per_token * tokens
    acc = Accounting(params.to_dict(), int(tokens), flops_6nd(params.total, tokens), exact, gpu_hours=gpu_hours(exact))
    if seconds:
        acc.seconds = round(seconds, 3)
        acc.tokens_per_s = round(tokens / seconds, 1)
        if peak:
            acc.peak_dtype, acc.peak_tflops = peak
            acc.mfu = round(exact / seconds / (peak[1] * 1e12), 5)
    return acc


def params_for(objective: str, size: str, vocab_size: int, block_size: int = 128) -> Params:
    """Parameter counts of a ``size`` model at ``vocab_size`` without allocating it (meta tensors)."""
    from genlab.pretraining.models import build_model, parse_size

    with torch.device("meta"):
        model = build_model(objective, parse_size(size), vocab_size, block_size)
    return count_params(model)
