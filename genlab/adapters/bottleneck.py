"""Bottleneck adapters (Houlsby et al. 2019, https://arxiv.org/abs/1902.00751): the modules and their format.

After each attention and feed-forward sublayer, the output h (…, d) becomes

    h ↦ h + W_up σ(W_down h + b_down) + b_up,    W_down: d → m, W_up: m → d, m ≪ d

with ``W_up``, ``b_up`` zero, so at step 0 the model computes exactly what the
base model computes. Adapters hang on the sublayers as child modules (so they
are in ``state_dict``) and act through forward hooks (so the base model's code
is untouched). Several named adapters may sit on one base; one is active.
The training method (``genlab.tuning.methods.bottleneck``, method name
``adapter``) only freezes the base and calls ``add_adapter``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from genlab.adapters.manifest import WEIGHTS
from genlab.adapters.registry import Format, register_format, register_method
from genlab.adapters.weights import load_tensors, save_tensors
from genlab.errors import ConfigError

ATTR = "genlab_adapters"
# sublayers whose output is adapted, per architecture (regex on module names)
DEFAULT_SITES = {
    "llama": r"\.(self_attn|mlp)$", "mistral": r"\.(self_attn|mlp)$", "qwen2": r"\.(self_attn|mlp)$",
    "t5": r"\.(SelfAttention|EncDecAttention|DenseReluDense)$",
    "bert": r"\.(attention\.output\.dense|layer\.\d+\.output\.dense)$",
}
ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}


@dataclass
class BottleneckConfig:
    bottleneck: int = 16
    activation: str = "gelu"
    sites: str | None = None  # regex on module names; None: attention + feed-forward per architecture
    name: str = "default"

    def __post_init__(self):
        if self.bottleneck <= 0:
            raise ConfigError(f"bottleneck={self.bottleneck} must be > 0", where="BottleneckConfig.bottleneck")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation={self.activation!r} unknown", where="BottleneckConfig.activation",
                              hint=f"one of {', '.join(ACTIVATIONS)}")


class Bottleneck(nn.Module):
    """h ↦ h + up(σ(down(h))); ``up`` starts at zero."""

    def __init__(self, d: int, m: int, activation: str):
        super().__init__()
        self.down = nn.Linear(d, m)
        self.act = ACTIVATIONS[activation]()
        self.up = nn.Linear(m, d)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (…, d) -> (…, d)
        return h + self.up(self.act(self.down(h)))


class AdapterSet(nn.Module):
    """The named adapters at one site and which one is active (None: pass-through)."""

    def __init__(self):
        super().__init__()
        self.adapters = nn.ModuleDict()
        self.active: str | None = None

    def hook(self, module, args, out):
        if self.active is None:
            return out
        f = self.adapters[self.active]
        return (f(out[0]),) + tuple(out[1:]) if isinstance(out, tuple) else f(out)


def add_adapter(model, cfg: BottleneckConfig) -> int:
    """Insert adapter ``cfg.name`` at every site and make it active; returns the number of sites."""
    sites = _sites(model, cfg.sites)
    ref = next(model.parameters())
    for module, d in sites:
        aset = getattr(module, ATTR, None)
        if aset is None:
            aset = AdapterSet()
            module.add_module(ATTR, aset)
            module.register_forward_hook(aset.hook)
        aset.adapters[cfg.name] = Bottleneck(d, cfg.bottleneck, cfg.activation).to(ref.device, ref.dtype)
    set_active(model, cfg.name)
    return len(sites)


def set_active(model, name: str | None) -> None:
    for m in model.modules():
        if isinstance(m, AdapterSet):
            m.active = name if name is None or name in m.adapters else None


def adapter_state(model, name: str) -> dict[str, torch.Tensor]:
    """The tensors of adapter ``name``, keyed by parameter name."""
    key = f".{ATTR}.adapters.{name}."
    return {n: p.detach().cpu() for n, p in model.named_parameters() if key in n}


def _sites(model, pattern: str | None) -> list[tuple[nn.Module, int]]:
    model_type = getattr(getattr(model, "config", None), "model_type", "") or ""
    pattern = pattern or DEFAULT_SITES.get(model_type, r"\.(self_attn|attention|mlp)$")
    d = model.config.hidden_size if hasattr(model.config, "hidden_size") else model.config.d_model
    sites = [(m, d) for n, m in model.named_modules() if re.search(pattern, n) and ATTR not in n]
    if not sites:
        raise ConfigError(f"no module of this {type(model).__name__} matches adapter sites /{pattern}/",
                          where="BottleneckConfig.sites", hint="pass --sites REGEX matching attention/MLP module names")
    return sites


# -- the format: weights.safetensors holds the adapter modules' tensors (and a trained head's) ----------

def _load(state, path: Path, name: str, manifest: dict) -> None:
    cfg = BottleneckConfig(**{**manifest["method_config"], "name": name})
    add_adapter(state.base, cfg)
    saved = load_tensors(path / WEIGHTS)
    old = f".{ATTR}.adapters.{manifest['method_config'].get('name', 'default')}."
    new = f".{ATTR}.adapters.{name}."
    params = dict(state.base.named_parameters())
    with torch.no_grad():
        for k, t in saved.items():
            params[k.replace(old, new)].copy_(t)


def _activate(state, name: str | None) -> None:
    set_active(state.base, name)


def _save(model, out: Path) -> None:
    # the adapters, and whatever else trained beside them (a classification head)
    save_tensors({n: p.detach().cpu() for n, p in model.named_parameters() if f".{ATTR}." in n or p.requires_grad},
                 out / WEIGHTS)


register_format(Format("bottleneck", _load, _activate, _save))
register_method("adapter", "bottleneck", mergeable=False)
