"""Adapters genlab did not write: a plain peft folder (``adapter_config.json``, no ``manifest.json``).

``PeftModel.save_pretrained`` writes ``adapter_config.json`` + ``adapter_model.safetensors``;
genlab's peft-format adapters are the same two files plus a manifest, so either
loads in the other. A foreign folder records the base by name only (no hash),
so the base check is peft's own: its target modules must exist in the model.
"""

from __future__ import annotations

from pathlib import Path

from genlab.adapters.manifest import FORMAT, MANIFEST, read_manifest
from genlab.errors import GenlabError
from genlab.io import read_json

PEFT_CONFIG = "adapter_config.json"
# peft's peft_type -> genlab's method name (other peft types load under their own lower-case name)
PEFT_METHODS = {"LORA": "lora", "IA3": "ia3", "PROMPT_TUNING": "prompt-tuning", "PREFIX_TUNING": "prefix"}


def read_any_manifest(path: str | Path) -> dict:
    """The folder's genlab manifest, or one made from a plain peft folder's ``adapter_config.json``."""
    folder = Path(path)
    if (folder / MANIFEST).is_file() or not (folder / PEFT_CONFIG).is_file():
        return read_manifest(folder)
    return peft_manifest(folder)


def peft_manifest(folder: Path) -> dict:
    cfg = read_json(folder / PEFT_CONFIG)
    peft_type = cfg.get("peft_type")
    if not peft_type:
        raise GenlabError(f"{PEFT_CONFIG} has no peft_type", where=str(folder / PEFT_CONFIG),
                          hint="pass a folder written by peft's save_pretrained or by `genlab tune`")
    return {"format": FORMAT, "method": PEFT_METHODS.get(peft_type, peft_type.lower().replace("_", "-")),
            "method_config": {}, "saved_by": "peft", "mergeable": peft_type in ("LORA", "IA3"),
            "base_model": {"name": cfg.get("base_model_name_or_path"), "hash": None, "kind": None},
            "task": None, "source": "peft"}
