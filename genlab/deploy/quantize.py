"""Quantize a loaded model: every ``nn.Linear`` to dynamic int8 (``genlab/deploy/int8.py``).

Schemes that have no fast CPU backend here are refused with the alternative named,
rather than run slowly: weight-only int4/int8 need torchao's kernels (plus
``torch.compile`` to beat fp32 on CPU); GGUF q4_0/q8_0 for llama.cpp come from
``genlab optimize export``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from genlab.deploy.calibration import activation_stats, linear_layers
from genlab.errors import ConfigError, GenlabError

SCHEMES = {"int8": "dynamic int8: int8 weights per output channel, activations quantized per call (fbgemm)"}
UNAVAILABLE = {
    "int4": "weight-only int4 needs torchao's int4 kernels (not installed here); for a 4-bit file use "
            "`genlab optimize export --format gguf --type q4_0` and run it in llama.cpp",
    "int8-weight-only": "weight-only int8 needs torchao and torch.compile to beat fp32 on CPU (slower than fp32 "
                        "eagerly on this machine); use the dynamic `int8` scheme",
}


@dataclass
class QuantizeConfig:
    scheme: str = "int8"
    skip: list[str] = field(default_factory=list)  # module-name patterns kept in float, e.g. ["lm_head"]
    smooth: float | None = 0.5  # SmoothQuant's α (migration strength); None: no smoothing, no calibration
    n_calibration: int = 16  # calibration texts for the activation ranges (support-summary train)
    max_length: int = 256  # tokens per calibration text

    def __post_init__(self) -> None:
        if self.smooth is not None and not 0.0 <= self.smooth <= 1.0:
            raise ConfigError(f"smooth (SmoothQuant's α) must be in [0, 1] or unset, got {self.smooth}",
                              where="quantize.smooth", hint="0.5 is the paper's default")
        if self.n_calibration < 1:
            raise ConfigError("n_calibration must be >= 1", where="quantize.n_calibration")
        if self.scheme in UNAVAILABLE:
            raise ConfigError(f"scheme {self.scheme!r} is not available: {UNAVAILABLE[self.scheme]}",
                              where="quantize.scheme")
        if self.scheme not in SCHEMES:
            raise ConfigError(f"unknown scheme {self.scheme!r}", where="quantize.scheme",
                              hint=f"available: {', '.join(SCHEMES)}")


def is_quantized(model) -> bool:
    from genlab.deploy.int8 import Int8Linear

    return any(isinstance(m, Int8Linear) for m in model.modules())


def quantize(lm, cfg: QuantizeConfig | None = None, *, texts: list[str] | None = None, reporter=None):
    """Return ``lm`` with its Linear layers replaced by int8 ones (in place; float parts become fp32).

    ``lm`` is a ``LoadedModel`` or a name (loaded in fp32). A model that is already
    quantized, or has an unmerged adapter, is refused. With ``cfg.smooth`` (default) the
    activation ranges are measured on calibration ``texts`` first (default: support-summary
    train) and SmoothQuant moves outlier channels' range into the weights.
    """
    from genlab.deploy import int8
    from genlab.models import LoadedModel, as_loaded

    cfg = cfg or QuantizeConfig()
    lm = as_loaded(lm, precision="fp32")
    if is_quantized(lm.model):
        raise GenlabError(f"{lm.name} is already quantized (int8 layers found); quantizing again would "
                          "compound the rounding", hint="quantize the float model it came from")
    if lm.adapter_state is not None:
        raise GenlabError(f"{lm.name} has an adapter loaded", hint="merge it first (genlab merge ADAPTER --out DIR)")
    if reason := int8.unavailable_reason():
        raise GenlabError(f"cannot quantize to int8: {reason}", hint="use GGUF export (genlab optimize export)")
    model = lm.model.float()
    targets = linear_layers(model, cfg.skip)
    smooth: dict[str, torch.Tensor] = {}
    if cfg.smooth is not None:
        if texts is None:
            from genlab.deploy.texts import task_texts

            texts = task_texts(n=cfg.n_calibration)
        ranges = activation_stats(lm, targets, texts, min(cfg.max_length, lm.context_window), "absmax", reporter)
        smooth = {n: int8.smoothing(ranges[n], m.weight, cfg.smooth) for n, m in targets.items() if n in ranges}
    with torch.no_grad():
        for name, m in targets.items():
            model.set_submodule(name, int8.from_linear(m, smooth.get(name)))
    return LoadedModel(f"{lm.name}+int8", model, lm.tokenizer, lm.kind, f"{lm.model_hash}+int8", lm.path, "quantized")
