"""Adapters at inference: save, load several onto one base, switch per request, merge.

An adapter folder holds ``manifest.json`` (base model name and hash, method and
its options, training config, task/template, metrics) and the method's tensors:
peft's ``adapter_model.safetensors`` + ``adapter_config.json`` (lora, ia3,
prompt-tuning, prefix), or ``weights.safetensors`` (adapter: bottleneck modules;
full/selective: the changed weights). Loading checks the base hash first.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch

from genlab.errors import ConfigError, GenlabError
from genlab.io import atomic_write_json, read_json
from genlab.tuning import methods
from genlab.tuning.methods import adapter as bottleneck

MANIFEST, WEIGHTS, FORMAT = "manifest.json", "weights.safetensors", "genlab-adapter/1"
BASE = None  # set_adapter(lm, BASE): the base model alone


def save_adapter(model, out_dir: str | Path, *, method: str, method_cfg: Any, base_name: str, base_hash: str,
                 base_kind: str, extra: dict | None = None) -> Path:
    """Write the trained part of ``model`` and its manifest to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = methods.get(method)
    if spec.saved_by == "peft":
        model.save_pretrained(str(out))
    else:
        _save_tensors(_trained_tensors(model, spec.saved_by), out / WEIGHTS)
    cfg = dataclasses.asdict(method_cfg) if dataclasses.is_dataclass(method_cfg) else dict(method_cfg or {})
    atomic_write_json(out / MANIFEST, {
        "format": FORMAT, "method": method, "method_config": cfg, "saved_by": spec.saved_by,
        "base_model": {"name": base_name, "hash": base_hash, "kind": base_kind},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(extra or {})})
    return out


def update_manifest(path: str | Path, **fields) -> None:
    m = read_manifest(path)
    atomic_write_json(Path(path) / MANIFEST, {**m, **fields})


def read_manifest(path: str | Path) -> dict:
    f = Path(path) / MANIFEST
    if not f.is_file():
        raise GenlabError(f"{path} is not a genlab adapter folder (no {MANIFEST})", where=str(path),
                          hint="pass the adapter/ folder of a `genlab tune` run")
    m = read_json(f)
    if m.get("format") != FORMAT:
        raise GenlabError(f"unknown adapter format {m.get('format')!r}", where=str(f), hint=f"expected {FORMAT}")
    return m


def check_base(lm, manifest: dict, path) -> None:
    want = manifest["base_model"]
    if want["hash"] != lm.model_hash:
        raise GenlabError(
            f"adapter was trained on base model {want['name']!r} (hash {want['hash'][:12]}), "
            f"but the loaded model is {lm.name!r} (hash {str(lm.model_hash)[:12]}); refusing to apply it",
            where=str(Path(path) / MANIFEST),
            hint=f"load the matching base first: genlab.models.load({want['name']!r}), or `-m {want['name']}`")


def load_adapter(lm, path: str | Path, name: str | None = None):
    """Load the adapter at ``path`` onto ``lm`` (a LoadedModel) under ``name`` and make it active.

    Several adapters can be loaded on one base; ``set_adapter(lm, name)`` switches
    between them (``None``: the base model) without reloading the base.
    """
    manifest = read_manifest(path)
    check_base(lm, manifest, path)
    if manifest.get("head") and "_adapter_registry" not in lm.__dict__:
        lm.model = with_head(lm, manifest["head"], manifest["labels"]).model
    reg = _registry(lm)
    name = name or Path(path).resolve().name
    if name in reg["kinds"]:
        raise GenlabError(f"an adapter named {name!r} is already loaded", hint="pass another name=")
    kind = manifest["saved_by"]
    {"peft": _load_peft, "bottleneck": _load_bottleneck, "weights": _load_weights}[kind](reg, Path(path), name, manifest)
    reg["kinds"][name] = kind
    lm.adapters.append(name)
    set_adapter(lm, name)
    return lm


def set_adapter(lm, name: str | None) -> None:
    """Make adapter ``name`` active for the next requests (``None``: base model alone)."""
    reg = _registry(lm)
    if name is not None and name not in reg["kinds"]:
        raise GenlabError(f"no adapter named {name!r} is loaded", hint=f"loaded: {', '.join(reg['kinds']) or 'none'}")
    kind = reg["kinds"].get(name)
    peft_model = reg["peft"]
    lm.model = reg["base"]
    if peft_model is not None:
        _peft_layers(peft_model, on=kind == "peft")
        if kind == "peft":
            peft_model.set_adapter(name)
            lm.model = peft_model
    bottleneck.set_active(reg["base"], name if kind == "bottleneck" else None)
    _swap_weights(reg, name if kind == "weights" else None)
    reg["active"] = name


def active_adapter(lm) -> str | None:
    return _registry(lm)["active"]


def merge(adapter_path: str | Path, out_dir: str | Path, lm=None) -> Path:
    """Fold the adapter into the base weights; save a standalone model folder ``genlab.models.load`` reads."""
    manifest = read_manifest(adapter_path)
    spec = methods.get(manifest["method"])
    if not spec.mergeable:
        raise GenlabError(f"method {spec.name!r} adds computation that cannot be folded into the base weights",
                          where=str(adapter_path), hint="serve it with load_adapter (`--adapter PATH`) instead")
    if lm is None:
        from genlab.models import load

        lm = load(manifest["base_model"]["name"])
    load_adapter(lm, adapter_path, name="merge")
    model = lm.model.merge_and_unload() if manifest["saved_by"] == "peft" else lm.model
    return save_model_folder(model, lm.tokenizer, Path(out_dir), {"merged_from": str(adapter_path), **manifest})


def save_model_folder(model, tokenizer, out: Path, info: dict) -> Path:
    """config.json + model.safetensors + tokenizer (state dict saved by hand: works for GGUF-born models)."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    atomic_write_json(out / "config.json", config)
    tokenizer.save_pretrained(str(out))
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(str(out))
    atomic_write_json(out / "genlab-merged.json", info)
    return out


def with_head(lm, head: str | None, labels):
    """``lm`` with its bare encoder swapped for a sequence-classification model over ``labels``."""
    if head is None:
        return lm
    if head != "classification":
        raise ConfigError(f"unknown head {head!r}", where="--head", hint="the only head is `classification`")
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        lm.path, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)})
    if lm.tokenizer.pad_token_id is not None:
        model.config.pad_token_id = lm.tokenizer.pad_token_id
    return dataclasses.replace(lm, model=model.to(lm.device).eval())


# -- internals ---------------------------------------------------------------------------------

def _registry(lm) -> dict:
    """Per-LoadedModel adapter bookkeeping: the raw base, the peft wrapper (if any), kinds by name."""
    reg = lm.__dict__.get("_adapter_registry")
    if reg is None:
        from peft import PeftModel

        base = lm.model.get_base_model() if isinstance(lm.model, PeftModel) else lm.model
        reg = {"base": base, "peft": lm.model if isinstance(lm.model, PeftModel) else None,
               "kinds": {}, "active": None, "weights": {}}
        lm.__dict__["_adapter_registry"] = reg
    return reg


def _load_peft(reg, path: Path, name: str, manifest: dict) -> None:
    from peft import PeftModel

    if reg["peft"] is None:
        reg["peft"] = PeftModel.from_pretrained(reg["base"], str(path), adapter_name=name)
    else:
        reg["peft"].load_adapter(str(path), adapter_name=name)
    reg["peft"].eval()


def _peft_layers(peft_model, on: bool) -> None:
    tuner = peft_model.base_model
    fn = getattr(tuner, "enable_adapter_layers" if on else "disable_adapter_layers", None)
    if fn is not None:  # prompt-learning methods have no layers in the base: nothing to switch
        fn()


def _load_bottleneck(reg, path: Path, name: str, manifest: dict) -> None:
    cfg = methods.make_config("adapter", {**manifest["method_config"], "name": name})
    bottleneck.add_adapter(reg["base"], cfg)
    saved = _load_tensors(path / WEIGHTS)
    old = f".{bottleneck.ATTR}.adapters.{manifest['method_config'].get('name', 'default')}."
    new = f".{bottleneck.ATTR}.adapters.{name}."
    params = dict(reg["base"].named_parameters())
    with torch.no_grad():
        for k, t in saved.items():
            params[k.replace(old, new)].copy_(t)


def _load_weights(reg, path: Path, name: str, manifest: dict) -> None:
    saved = _load_tensors(path / WEIGHTS)
    params = dict(reg["base"].named_parameters())
    unknown = [k for k in saved if k not in params]
    if unknown:
        raise GenlabError(f"adapter holds tensor {unknown[0]!r} the base model lacks", where=str(path))
    originals = reg["weights"].setdefault(None, {})
    for k in saved:
        originals.setdefault(k, params[k].detach().clone())
    reg["weights"][name] = saved


def _swap_weights(reg, name: str | None) -> None:
    """Copy adapter ``name``'s tensors into the base (or restore the originals for ``None``)."""
    if not reg["weights"]:
        return
    params = dict(reg["base"].named_parameters())
    target = reg["weights"].get(name, {})
    with torch.no_grad():
        for k, original in reg["weights"][None].items():
            params[k].copy_(target.get(k, original))


def _trained_tensors(model, saved_by: str) -> dict[str, torch.Tensor]:
    if saved_by == "bottleneck":
        return {n: p.detach().cpu() for n, p in model.named_parameters() if f".{bottleneck.ATTR}." in n}
    return {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad}


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous().clone() for k, v in tensors.items()}, str(path))


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))
