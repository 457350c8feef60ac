"""Optimized model folders: written atomically, read back by ``genlab.models.load`` like any folder.

A folder is a normal transformers folder (``config.json``, ``model.safetensors``,
tokenizer files) plus ``genlab-deploy.json``: what was done to which source model.
Pruned and distilled models are plain folders (transformers loads them as is).
An int8 folder stores each quantized ``Linear`` as ``NAME.weight_int8`` (int8,
out x in), ``NAME.weight_scale`` (fp32, per output row), ``NAME.bias`` and, when
SmoothQuant smoothed it, ``NAME.smooth_inv`` (fp32, per input channel); the
registry sees ``"quantization"`` in the manifest and rebuilds those layers
(``load_quantized``), so the file on disk is int8 and so is the model in memory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import torch

from genlab.errors import GenlabError
from genlab.io import atomic_write_json, read_json

MANIFEST = "genlab-deploy.json"
WEIGHTS = "model.safetensors"
FORMAT_VERSION = 1


def refuse_existing(out: str | os.PathLike, force: bool) -> Path:
    out = Path(out)
    if out.exists() and not force:
        raise GenlabError(f"{out} already exists; refusing to overwrite it",
                          hint="choose another output path, or pass --force (force=True) to replace it")
    return out


@contextlib.contextmanager
def atomic_output(out: str | os.PathLike, force: bool = False, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``out`` (a folder, or a file when ``suffix`` is given); on success it
    replaces ``out`` in one rename, on failure it is removed and ``out`` is left as it was."""
    out = refuse_existing(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix:
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=suffix, dir=out.parent)
        os.close(fd)
        tmp = Path(name)
    else:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        _default_mode(tmp)
        if out.is_dir() and not out.is_symlink():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        raise


def _default_mode(path: Path) -> None:
    """mkstemp/mkdtemp create 0600/0700; give the result what a plain open()/mkdir() would (the umask's)."""
    mask = os.umask(0)
    os.umask(mask)
    path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def read_manifest(path: str | os.PathLike) -> dict[str, Any] | None:
    f = Path(path) / MANIFEST
    return read_json(f) if f.is_file() else None


def is_quantized_folder(path: str | os.PathLike) -> bool:
    info = read_manifest(path)
    return bool(info and info.get("quantization"))


def save_model(lm, out: str | os.PathLike, record: dict[str, Any], *, force: bool = False) -> Path:
    """Write ``lm`` (model + tokenizer) to the folder ``out`` with ``record`` in its manifest."""
    from genlab.deploy.int8 import Int8Linear

    quantized = {n: m for n, m in lm.model.named_modules() if isinstance(m, Int8Linear)}
    with atomic_output(out, force) as tmp:
        if quantized:
            _save_quantized(lm.model, quantized, tmp)
        else:
            lm.model.save_pretrained(tmp)
        lm.tokenizer.save_pretrained(tmp)
        info = {"format_version": FORMAT_VERSION, **record}
        if quantized:
            info["quantization"] = {"scheme": "int8", "modules": sorted(quantized)}
        atomic_write_json(tmp / MANIFEST, info)
    return Path(out)


def _save_quantized(model, quantized: dict, tmp: Path) -> None:
    from safetensors.torch import save_file

    prefixes = tuple(n + "." for n in quantized)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()
             if isinstance(v, torch.Tensor) and not k.startswith(prefixes)}
    for name, m in quantized.items():
        w, scale = m.weight_int8()
        state[f"{name}.weight_int8"], state[f"{name}.weight_scale"] = w.contiguous(), scale.contiguous()
        if m.bias() is not None:
            state[f"{name}.bias"] = m.bias().detach().contiguous()
        if m.smooth_inv is not None:
            state[f"{name}.smooth_inv"] = m.smooth_inv
    save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt", "genlab": "int8"})
    config = model.config
    config.save_pretrained(tmp)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(tmp)


def load_quantized(path: str | os.PathLike, config, auto_cls, dtype: torch.dtype):
    """Rebuild an int8 model saved by ``save_model``: empty skeleton, int8 layers, then the float tensors."""
    from safetensors.torch import load_file
    from transformers.initialization import no_init_weights

    from genlab.deploy.int8 import from_int8, unavailable_reason

    path = Path(path)
    if reason := unavailable_reason():
        raise GenlabError(f"{path} holds an int8 model, but {reason}",
                          hint="load the float model it was quantized from instead (see its genlab-deploy.json)")
    names = read_manifest(path)["quantization"]["modules"]
    with no_init_weights():
        model = auto_cls.from_config(config, dtype=torch.float32)
    state = load_file(str(path / WEIGHTS))
    layers = {name: from_int8(state.pop(f"{name}.weight_int8"), state.pop(f"{name}.weight_scale"),
                              state.pop(f"{name}.bias", None), state.pop(f"{name}.smooth_inv", None))
              for name in names}
    # float tensors first, while the skeleton's Linear layers are still plain (empty) ones
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k.rsplit(".", 1)[0] not in layers]
    if missing or unexpected:
        raise GenlabError(f"{path / WEIGHTS} does not match its config: missing {missing[:5]}, "
                          f"unexpected {unexpected[:5]}", hint="re-run genlab optimize quantize on the source model")
    for name, layer in layers.items():
        model.set_submodule(name, layer)
    if dtype != torch.float32:
        model.to(dtype)  # float parts only: the int8 layers keep their packed weights
    return model
