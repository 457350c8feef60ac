"""The ``peft`` format: peft's own ``adapter_config.json`` + ``adapter_model.safetensors``.

Every peft adapter on one base lives in a single PeftModel (``state.peft``);
switching sets peft's active adapter, and the base alone disables peft's layers.
"""

from __future__ import annotations

from pathlib import Path

from genlab.adapters.registry import Format, register_format, register_method
from genlab.errors import GenlabError
from genlab.io import read_json


def _load(state, path: Path, name: str, manifest: dict) -> None:
    from peft import PeftModel

    if state.peft is None:
        state.peft = PeftModel.from_pretrained(state.base, str(path), adapter_name=name)
    else:
        _check_same_type(state.peft, path)
        state.peft.load_adapter(str(path), adapter_name=name)
    state.peft.eval()


def _check_same_type(peft_model, path: Path) -> None:
    """peft keeps one adapter type per model: say so before it fails half-way with a ValueError."""
    new = str(read_json(path / "adapter_config.json").get("peft_type"))
    have = {str(getattr(c.peft_type, "value", c.peft_type)) for c in peft_model.peft_config.values()}
    if new not in have:
        raise GenlabError(f"this base already holds {'/'.join(sorted(have))} adapters; peft cannot add an adapter "
                          f"of type {new} beside them", where=str(path),
                          hint="load it on a second copy of the base (genlab.models.load again)")


def _activate(state, name: str | None) -> None:
    if state.peft is None:
        return
    tuner = state.peft.base_model
    switch = getattr(tuner, "enable_adapter_layers" if name is not None else "disable_adapter_layers", None)
    if switch is not None:  # prompt-learning methods have no layers in the base: nothing to switch
        switch()
    if name is not None:
        state.peft.set_adapter(name)


def _save(model, out: Path) -> None:
    model.save_pretrained(str(out))


register_format(Format("peft", _load, _activate, _save))
register_method("lora", "peft", mergeable=True)
register_method("ia3", "peft", mergeable=True)
register_method("prompt-tuning", "peft", mergeable=False)
register_method("prefix", "peft", mergeable=False)
