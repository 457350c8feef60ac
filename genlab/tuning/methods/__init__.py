"""Fine-tuning methods, one module each, registered by name.

A method is ``apply(model, cfg, tokenizer=None) -> model``: it freezes what should
not train, adds what should (LoRA matrices, adapters, soft prompts) and returns
the model to train. The loop never knows which method it runs. Adding a method
is one module with ``@register(...)`` plus one import line below, and one
``register_method`` line in the ``genlab.adapters`` module of its saved format.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Callable

import genlab.adapters  # noqa: F401  (registers the adapter formats)
from genlab.adapters import registry as adapters_registry
from genlab.errors import ConfigError
from genlab.fields import check_value, describe, field_types, parse_text


@dataclass(frozen=True)
class Method:
    name: str
    config_cls: type
    apply: Callable[..., Any]
    doc: str

    @property
    def saved_by(self) -> str:
        """The adapter format: "peft" (save_pretrained), "bottleneck" (adapter modules), "weights" (changed tensors)."""
        return adapters_registry.kind_of(self.name).format

    @property
    def mergeable(self) -> bool:
        return adapters_registry.kind_of(self.name).mergeable


METHODS: dict[str, Method] = {}


def register(name: str, config_cls: type):
    """Register a training method; its adapter format is registered in ``genlab.adapters`` (one line there)."""
    def deco(fn):
        METHODS[name] = Method(name, config_cls, fn, (fn.__doc__ or "").strip().split("\n")[0])
        return fn
    return deco


def get(name: str) -> Method:
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}", where="method",
                          hint=f"choose one of: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def option_help(name: str) -> str:
    """``r (a whole number, default 8), alpha (a number, default 16.0), ...`` for error hints and --help."""
    cls = get(name).config_cls
    types_ = field_types(cls)
    parts = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        parts.append(f"{f.name} ({describe(types_[f.name])}, default {default!r})")
    return ", ".join(parts) or "(none)"


def _check_known(name: str, keys, where: str) -> None:
    known = {f.name for f in dataclasses.fields(get(name).config_cls)}
    unknown = sorted(k for k in keys if k not in known)
    if unknown:
        raise ConfigError(f"method {name!r} has no option(s) {', '.join(unknown)}", where=where,
                          hint=f"options of {name}: {option_help(name)}")


def parse_options(name: str, items: list[str], where: str = "method options") -> dict[str, Any]:
    """``["r=8", "target_modules=q,v"]`` read by the types of method ``name``'s config fields
    (``target_modules`` becomes ``["q", "v"]``)."""
    types_ = field_types(get(name).config_cls)
    values: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"expected KEY=VALUE, got {item!r}", where=where,
                              hint=f"e.g. r=8; options of {name}: {option_help(name)}")
        _check_known(name, [key], where)
        values[key] = parse_text(key, text, types_[key], where=where)
    return values


def make_config(name: str, values: dict[str, Any] | Any | None = None, where: str | None = None):
    """Build the method's config dataclass from a dict, naming any unknown or wrongly typed field."""
    cls = get(name).config_cls
    where = where or f"method={name!r}"
    if values is None:
        return cls()
    if isinstance(values, cls):
        return values
    _check_known(name, values, where)
    types_ = field_types(cls)
    return cls(**{k: check_value(k, v, types_[k], where) for k, v in values.items() if v is not None})


def apply(name: str, model, cfg=None, tokenizer=None):
    """Apply method ``name``; a classification head (``classifier``/``score``) always trains."""
    cfg = make_config(name, cfg if not dataclasses.is_dataclass(cfg) else cfg)
    model = get(name).apply(model, cfg, tokenizer=tokenizer)
    if get(name).saved_by != "peft":
        for n, p in model.named_parameters():
            if re.search(r"(^|\.)(classifier|score)\.", n):
                p.requires_grad_(True)
    return model


@dataclass
class ParamReport:
    trainable: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / max(self.total, 1)

    def __str__(self) -> str:
        return f"trainable params: {self.trainable:,} / {self.total:,} ({self.percent:.4f}%)"


def param_report(model) -> ParamReport:
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():  # parameters() already skips tied duplicates
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return ParamReport(trainable, total)


def freeze(model) -> None:
    for p in model.parameters():
        p.requires_grad_(False)


def model_type(model) -> str:
    cfg = getattr(model, "config", None)
    return getattr(cfg, "model_type", "") or ""


def peft_task_type(model) -> str:
    if type(model).__name__.endswith("ForSequenceClassification"):
        return "SEQ_CLS"
    if getattr(model.config, "is_encoder_decoder", False):
        return "SEQ_2_SEQ_LM"
    return "CAUSAL_LM" if hasattr(model, "prepare_inputs_for_generation") else "FEATURE_EXTRACTION"


# one line per method module
from genlab.tuning.methods import full, selective, lora, bottleneck, prompt_tuning, ia3, prefix  # noqa: E402,F401
