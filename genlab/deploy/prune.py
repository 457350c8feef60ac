"""Pruning: magnitude and Wanda, unstructured or n:m (2:4); structured MLP channels.

Wanda (Sun et al. 2023, arXiv:2306.11695) scores each weight by ``S_ij = |W_ij| · ‖X_j‖₂``
(``X_j``: the j-th input feature over calibration tokens) and drops the lowest scores
within each output row; magnitude drops the lowest ``|W_ij|`` over the whole layer
(the usual baseline). Norms come from one pass of the dense model over the calibration
text (the paper recomputes them block by block on the pruned model; one pass is cheaper).

Unstructured and 2:4 sparsity keep every matrix's shape: on CPU, without sparse
kernels, they save no time and (stored dense) no disk. ``prune_mlp_channels`` removes
whole intermediate channels of every MLP (``gate``/``up`` rows, ``down`` columns),
so the matrices shrink and decoding gets faster.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from genlab.deploy.calibration import activation_stats, linear_layers
from genlab.errors import ConfigError, GenlabError
from genlab.progress import Reporter

METHODS = ("magnitude", "wanda")
PATTERNS = ("unstructured", "2:4")


@dataclass
class PruneConfig:
    method: str = "wanda"
    sparsity: float = 0.5  # share of weights set to zero in each pruned layer, in [0, 1); 2:4 means 0.5
    pattern: str = "unstructured"
    skip: list[str] = field(default_factory=lambda: ["lm_head"])  # Linear names left dense (the paper's choice)
    n_calibration: int = 32  # calibration texts (Wanda and channel pruning)
    max_length: int = 256  # tokens per calibration text

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"unknown pruning method {self.method!r}", where="prune.method",
                              hint=f"one of {', '.join(METHODS)}")
        if self.pattern not in PATTERNS:
            raise ConfigError(f"unknown pattern {self.pattern!r}", where="prune.pattern", hint="unstructured or 2:4")
        if not isinstance(self.sparsity, (int, float)) or not 0 <= self.sparsity < 1:
            raise ConfigError(f"sparsity must be in [0, 1) (got {self.sparsity!r})", where="prune.sparsity",
                              hint="e.g. 0.5 zeroes half of each layer's weights")
        if self.pattern == "2:4" and self.sparsity not in (0.5, 0):
            raise ConfigError(f"2:4 sparsity is 0.5 by definition (got {self.sparsity})", where="prune.sparsity",
                              hint="drop --sparsity, or use --pattern unstructured")


# -- scores and masks ------------------------------------------------------------------
def wanda_scores(weight: torch.Tensor, act_norm: torch.Tensor) -> torch.Tensor:
    """``|W| · ‖X‖`` with ``weight`` (out, in) and ``act_norm`` (in,) → (out, in)."""
    return weight.detach().float().abs() * act_norm.float()[None, :]


def keep_mask(scores: torch.Tensor, sparsity: float, pattern: str, per_row: bool) -> torch.Tensor:
    """True where a weight stays: the top ``1 - sparsity`` scores per row (or per layer), or 2 of every 4 inputs."""
    if pattern == "2:4":
        out, n_in = scores.shape
        if n_in % 4:
            raise GenlabError(f"2:4 needs the input size to be a multiple of 4 (got {n_in})")
        groups = scores.reshape(out, n_in // 4, 4)
        top = groups.topk(2, dim=-1).indices
        return torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, top, True).reshape(out, n_in)
    if per_row:
        k = int(scores.shape[1] * sparsity)
        drop = scores.topk(k, dim=1, largest=False).indices if k else None
        mask = torch.ones_like(scores, dtype=torch.bool)
        return mask.scatter_(1, drop, False) if k else mask
    k = int(scores.numel() * sparsity)
    if not k:
        return torch.ones_like(scores, dtype=torch.bool)
    threshold = scores.flatten().kthvalue(k).values
    return scores > threshold


def activation_norms(lm, modules: dict[str, torch.nn.Module], texts: list[str], max_length: int,
                     reporter: Reporter | None = None) -> dict[str, torch.Tensor]:
    """``‖X_j‖₂`` of every module's input over the calibration ``texts`` (dense model, one pass)."""
    return activation_stats(lm, modules, texts, max_length, "norm", reporter)


def _calibration(cfg: PruneConfig, texts: list[str] | None) -> list[str]:
    if texts is not None:
        return texts
    from genlab.deploy.texts import task_texts

    return task_texts(n=cfg.n_calibration)


# -- pruning -------------------------------------------------------------------------------
def prune(lm, cfg: PruneConfig | None = None, *, texts: list[str] | None = None,
          reporter: Reporter | None = None):
    """Zero weights of every Linear (except ``cfg.skip``) in place; returns ``lm``.

    ``texts``: calibration text for Wanda (default: ``support-summary`` train dialogues).
    """
    from genlab.deploy.quantize import is_quantized
    from genlab.models import as_loaded

    cfg = cfg or PruneConfig()
    lm = as_loaded(lm, precision="fp32")
    if is_quantized(lm.model):
        raise GenlabError(f"{lm.name} is int8-quantized", hint="prune the float model, then quantize the result")
    modules = linear_layers(lm.model, cfg.skip)
    norms = activation_norms(lm, modules, _calibration(cfg, texts), cfg.max_length, reporter) \
        if cfg.method == "wanda" else {}
    with torch.no_grad():
        for name, m in modules.items():
            scores = wanda_scores(m.weight, norms[name]) if cfg.method == "wanda" else m.weight.detach().abs()
            m.weight.mul_(keep_mask(scores, cfg.sparsity, cfg.pattern, per_row=cfg.method == "wanda"))
    return lm


def sparsity(model, skip: list[str] | None = None) -> float:
    """Share of zero weights over the Linear layers not in ``skip``."""
    mods = linear_layers(model, ["lm_head"] if skip is None else skip)
    zeros = sum(int((m.weight == 0).sum()) for m in mods.values())
    return zeros / max(1, sum(m.weight.numel() for m in mods.values()))


# -- structured: MLP channels ------------------------------------------------------------
def prune_mlp_channels(lm, ratio: float, *, texts: list[str] | None = None, max_length: int = 256,
                       reporter: Reporter | None = None):
    """Remove ``ratio`` of every MLP's intermediate channels (the same count per layer, so the config stays
    uniform). Channel ``j`` of a layer scores ``‖W_down[:, j]‖₂ · ‖h_j‖₂`` with ``h`` the input of ``down_proj``."""
    from genlab.models import as_loaded

    lm = as_loaded(lm, precision="fp32")
    if not 0 <= ratio < 1:
        raise ConfigError(f"channel ratio must be in [0, 1) (got {ratio})", where="prune.channels")
    mlps = {n: m for n, m in lm.model.named_modules() if all(hasattr(m, a) for a in ("gate_proj", "up_proj", "down_proj"))}
    if not mlps:
        raise GenlabError(f"{lm.name} has no gated MLP (gate_proj/up_proj/down_proj) to prune channels of",
                          hint="structured channel pruning supports Llama-family models")
    size = lm.model.config.intermediate_size
    keep = size - int(size * ratio)
    downs = {n: m.down_proj for n, m in mlps.items()}
    norms = activation_norms(lm, downs, texts if texts is not None else _calibration(PruneConfig(), None),
                             max_length, reporter)
    with torch.no_grad():
        for name, mlp in mlps.items():
            score = mlp.down_proj.weight.float().norm(dim=0) * norms[name]
            idx = score.topk(keep).indices.sort().values
            _slice_mlp(mlp, idx)
    lm.model.config.intermediate_size = keep
    return lm


def _slice_mlp(mlp, idx: torch.Tensor) -> None:
    for proj, dim in (("gate_proj", 0), ("up_proj", 0), ("down_proj", 1)):
        old = getattr(mlp, proj)
        w = old.weight.index_select(dim, idx)
        new = torch.nn.Linear(w.shape[1], w.shape[0], bias=old.bias is not None, dtype=w.dtype, device=w.device)
        new.weight.copy_(w)
        if old.bias is not None:
            new.bias.copy_(old.bias if dim == 1 else old.bias.index_select(0, idx))
        setattr(mlp, proj, new)
