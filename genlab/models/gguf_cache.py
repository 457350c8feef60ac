"""Dequantize a GGUF file once and cache it as safetensors + config + tokenizer.

transformers reads GGUF but refuses to ``save_pretrained`` a GGUF-loaded model,
so we save the state dict and the config ourselves (without
``quantization_config``, with the ``architectures`` a GGUF lacks, which
`transformers serve`, vLLM and TRL read to pick the model class). The cache
folder is built under a temporary name and renamed into place, under a file
lock, so two processes racing to build it neither corrupt it nor both pay the
~20 s conversion.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from genlab.io import atomic_write_json
from genlab.models.hashing import file_sha256

MANIFEST = "genlab-manifest.json"
WEIGHTS = "model.safetensors"
FORMAT_VERSION = 2  # 2: config.json names its architectures (serving tools pick the class from it)
log = logging.getLogger(__name__)


def cached_gguf_dir(gguf_path: Path, cache_dir: Path) -> Path:
    """Return a folder transformers can load, converting ``gguf_path`` on first use."""
    if _valid(cache_dir):
        return cache_dir
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = cache_dir.parent / f".{cache_dir.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it
        if _valid(cache_dir):
            return cache_dir
        if cache_dir.exists():
            log.warning(f"model cache {cache_dir} is corrupt or incomplete: rebuilding")
            shutil.rmtree(cache_dir)
        _build(gguf_path, cache_dir)
    return cache_dir


def _valid(cache_dir: Path) -> bool:
    """Every file the manifest lists exists with the recorded size and sha256."""
    manifest = cache_dir / MANIFEST
    if not manifest.is_file():
        return False
    try:
        info = json.loads(manifest.read_text())
        if info.get("format_version") != FORMAT_VERSION:
            return False
        for name, meta in info["files"].items():
            f = cache_dir / name
            if not f.is_file() or f.stat().st_size != meta["size"]:
                return False
            if name == WEIGHTS and file_sha256(f) != meta["sha256"]:
                return False
    except (OSError, ValueError, KeyError):
        return False
    return True


def _build(gguf_path: Path, cache_dir: Path) -> None:
    import torch  # noqa: F401  (transformers needs it loaded)
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    log.info(f"converting {gguf_path.name} to a safetensors cache (first use only, ~30 s)...")
    src_dir, fname = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=fname)
    model = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=fname)

    tmp = Path(tempfile.mkdtemp(prefix=f".{cache_dir.name}.", dir=cache_dir.parent))
    try:
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        if getattr(model.config, "tie_word_embeddings", False):
            state = {k: v for k, v in state.items() if k != "lm_head.weight"}
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt"})
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        config["dtype"] = "float32"
        config["architectures"] = config.get("architectures") or [type(model).__name__]  # GGUF has none
        atomic_write_json(tmp / "config.json", config)
        tokenizer.save_pretrained(str(tmp))
        if model.generation_config is not None:
            model.generation_config.save_pretrained(str(tmp))
        files = {
            p.name: {"size": p.stat().st_size, **({"sha256": file_sha256(p)} if p.name == WEIGHTS else {})}
            for p in tmp.iterdir() if p.is_file()
        }
        atomic_write_json(tmp / MANIFEST, {
            "format_version": FORMAT_VERSION,
            "source": str(gguf_path),
            "source_sha256": file_sha256(gguf_path),
            "files": files,
        })
        os.replace(tmp, cache_dir) if not cache_dir.exists() else shutil.rmtree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info(f"cached {cache_dir} in {time.perf_counter() - t0:.1f} s")


def source_hash(cache_dir: Path) -> str | None:
    """The sha256 of the GGUF file a cache folder was built from."""
    try:
        return json.loads((cache_dir / MANIFEST).read_text())["source_sha256"]
    except (OSError, ValueError, KeyError):
        return None
