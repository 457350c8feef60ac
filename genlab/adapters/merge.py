"""``genlab merge``: fold an adapter into its base weights and save a standalone model folder."""

from __future__ import annotations

from pathlib import Path

from genlab.adapters import registry
from genlab.adapters.foreign import read_any_manifest
from genlab.adapters.switch import load_adapter
from genlab.errors import GenlabError
from genlab.io import atomic_write_json


def merge(adapter_path: str | Path, out_dir: str | Path, lm=None, *, trust_remote_code: bool = False) -> Path:
    """Fold the adapter into the base weights; save a standalone model folder ``genlab.models.load`` reads."""
    manifest = read_any_manifest(adapter_path)
    kind = registry.kind_of(manifest["method"], manifest, where=str(adapter_path))
    if not kind.mergeable:
        raise GenlabError(f"method {kind.method!r} adds computation that cannot be folded into the base weights",
                          where=str(adapter_path), hint="serve it with load_adapter (`--adapter PATH`) instead")
    if lm is None:
        from genlab.models import load

        lm = load(manifest["base_model"]["name"], precision="fp32",  # merge in full precision
                  trust_remote_code=trust_remote_code)
    load_adapter(lm, adapter_path, name="merge")
    model = lm.model.merge_and_unload() if kind.format == "peft" else lm.model
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
