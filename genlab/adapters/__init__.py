"""Adapters at inference: save, load several onto one base, switch per request, merge, heads.

    from genlab.adapters import load_adapter, set_adapter, BASE
    load_adapter(lm, "runs/lora/adapter", "lora")   # a genlab adapter folder or a plain peft folder
    set_adapter(lm, BASE)                            # the base model alone
    merge("runs/lora/adapter", "merged/")            # a standalone model folder

An adapter folder holds ``manifest.json`` (base model name and hash, method and
its options, training config, task/template, metrics) and the method's tensors
in its format: peft's ``adapter_model.safetensors`` + ``adapter_config.json``
(lora, ia3, prompt-tuning, prefix), or ``weights.safetensors`` (adapter:
bottleneck modules; full/selective: the changed weights). Loading checks the
base hash first and dispatches on the manifest's method through ``registry``;
nothing here imports the trainer (``genlab.tuning``).
"""

from genlab.adapters import bottleneck, peft_format, weights  # noqa: F401  (each format registers itself)
from genlab.adapters.heads import with_head
from genlab.adapters.io import save_adapter
from genlab.adapters.manifest import MANIFEST, AdapterInfo, describe, read_manifest, short_name, update_manifest
from genlab.adapters.merge import merge, save_model_folder
from genlab.adapters.registry import KINDS, kind_of
from genlab.adapters.switch import (BASE, AdapterState, active_adapter, adapter_records, load_adapter,
                                   loaded_adapters, set_adapter)

__all__ = ["BASE", "KINDS", "MANIFEST", "AdapterInfo", "AdapterState", "active_adapter", "adapter_records", "describe", "kind_of",
           "load_adapter", "loaded_adapters", "merge", "read_manifest", "save_adapter", "save_model_folder",
           "set_adapter", "short_name", "update_manifest", "with_head"]
