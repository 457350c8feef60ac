"""Export a Llama-family model to GGUF (llama.cpp / Ollama) with the ``gguf`` package's writer.

``gguf`` writes files and quantizes blocks (q8_0: 32 weights share one fp16 scale,
``w ≈ d·q`` with ``q ∈ [-127, 127]``; q4_0: 32 weights, ``q ∈ [-8, 7]``) but has no
HF→GGUF converter; this is the part of llama.cpp's ``convert_hf_to_gguf.py`` a Llama
needs: hyper-parameters, a byte-level BPE tokenizer, tensor names, and the q/k
permutation. llama.cpp's rotary kernel rotates adjacent pairs ``(x0, x1), (x2, x3) …``
where HF rotates halves ``(x_i, x_{i+d/2})``, so each head's q/k rows are reordered
(``permute``); transformers' GGUF loader undoes it, so a round trip through
``genlab.models.load("x.gguf")`` checks both directions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genlab.deploy.storage import atomic_output
from genlab.errors import ConfigError, GenlabError
from genlab.progress import Reporter, or_quiet

SUPPORTED = ("llama", "mistral")  # HF model_type values that map onto GGUF's "llama" graph
TYPES = ("f32", "f16", "q8_0", "q4_0")
BLOCK = 32  # q8_0 / q4_0 block size along a row


@dataclass
class ExportConfig:
    type: str = "q8_0"  # f32 | f16 | q8_0 | q4_0 (norms stay f32; rows not a multiple of 32 stay f16)
    # q4_0 keeps the token embedding (also the output layer when tied) at q8_0, as llama.cpp's mixes do
    embedding_q8: bool = True

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ConfigError(f"unknown GGUF type {self.type!r}", where="export.type", hint=f"one of {', '.join(TYPES)}")


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF (rotate-half) → llama.cpp (interleaved pairs) row order of a q or k projection (out, in).

    Per head, rows ``[0..d/2) ∪ [d/2..d)`` become ``0, d/2, 1, d/2+1, …`` (llama.cpp ``LlamaModel.permute``).
    """
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def export_gguf(model, out: str | os.PathLike, cfg: ExportConfig | None = None, *, force: bool = False,
                reporter: Reporter | None = None) -> Path:
    """Write ``model`` (name, folder or ``LoadedModel``; a merged LoRA folder works too) to ``out`` (.gguf)."""
    import gguf

    from genlab.models import as_loaded

    cfg = cfg or ExportConfig()
    lm = as_loaded(model, precision="fp32")
    config = _check_exportable(lm)
    out = Path(out)
    with atomic_output(out, force, suffix=".gguf") as tmp:
        w = gguf.GGUFWriter(str(tmp), "llama")
        _write_hparams(w, config, lm, cfg)
        _write_tokenizer(w, lm.tokenizer, config)
        _write_tensors(w, lm.model, config, cfg, or_quiet(reporter))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    return out


def _check_exportable(lm):
    from genlab.deploy.quantize import is_quantized

    config = lm.model.config
    if config.model_type not in SUPPORTED:
        arch = ", ".join(getattr(config, "architectures", None) or [config.model_type])
        raise GenlabError(f"cannot export {lm.name}: architecture {config.model_type!r} ({arch}) is not one this "
                          f"GGUF writer knows", hint=f"supported: {', '.join(SUPPORTED)}; for others use llama.cpp's "
                                                     "convert_hf_to_gguf.py")
    if is_quantized(lm.model):
        raise GenlabError(f"{lm.name} is int8-quantized; GGUF export needs the float weights",
                          hint="export the model it was quantized from, with --type q8_0 or q4_0")
    if lm.adapter_state is not None:
        raise GenlabError(f"{lm.name} has an adapter loaded", hint="merge it first: genlab merge ADAPTER --out DIR")
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        raise GenlabError("this model has attention/MLP biases, which the llama GGUF graph does not read")
    rope = getattr(config, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        raise GenlabError(f"rope scaling {rope.get('rope_type')!r} is not written by this exporter",
                          hint="use llama.cpp's convert_hf_to_gguf.py")
    return config


def _rope_theta(config) -> float:
    rope = getattr(config, "rope_parameters", None) or {}
    return float(rope.get("rope_theta") or getattr(config, "rope_theta", 10000.0))


def _head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def _write_hparams(w, config, lm, cfg: ExportConfig) -> None:
    import gguf

    ftype = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
             "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}[cfg.type]
    w.add_type("model")
    w.add_name(Path(str(lm.name)).name)
    w.add_block_count(config.num_hidden_layers)
    w.add_context_length(config.max_position_embeddings)
    w.add_embedding_length(config.hidden_size)
    w.add_feed_forward_length(config.intermediate_size)
    w.add_head_count(config.num_attention_heads)
    w.add_head_count_kv(config.num_key_value_heads or config.num_attention_heads)
    w.add_rope_freq_base(_rope_theta(config))
    w.add_layer_norm_rms_eps(config.rms_norm_eps)
    w.add_rope_dimension_count(_head_dim(config))
    w.add_vocab_size(config.vocab_size)
    w.add_file_type(ftype)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _write_tokenizer(w, tok, config) -> None:
    """A byte-level BPE vocabulary (tokens in id order, control flags, merges, special ids, chat template)."""
    import json

    state = json.loads(tok.backend_tokenizer.to_str())
    model, pre = state.get("model", {}), state.get("pre_tokenizer") or {}
    if model.get("type") != "BPE" or not _byte_level(pre):
        raise GenlabError(f"tokenizer {type(tok).__name__} ({model.get('type')}, pre-tokenizer {pre.get('type')}) "
                          "is not byte-level BPE", hint="this writer exports GPT-2-style byte-level BPE tokenizers "
                                                        "(Llama 3, SmolLM, Qwen style); use llama.cpp's converter")
    vocab = tok.get_vocab()
    n = config.vocab_size
    by_id = {i: t for t, i in vocab.items()}
    special = set(tok.all_special_ids) | {a.content and vocab.get(a.content) for a in tok.added_tokens_decoder.values()
                                          if a.special}
    tokens = [by_id.get(i, f"[PAD{i}]") for i in range(n)]
    types = [3 if i in special else (5 if i not in by_id else 1) for i in range(n)]  # 3 control, 5 unused
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    for add, tid in ((w.add_bos_token_id, tok.bos_token_id), (w.add_eos_token_id, tok.eos_token_id),
                     (w.add_unk_token_id, tok.unk_token_id), (w.add_pad_token_id, tok.pad_token_id)):
        if tid is not None:
            add(int(tid))
    w.add_add_bos_token(False)
    if getattr(tok, "chat_template", None):
        w.add_chat_template(tok.chat_template)


def _byte_level(pre: dict) -> bool:
    if pre.get("type") == "ByteLevel":
        return True
    return pre.get("type") == "Sequence" and any(p.get("type") == "ByteLevel" for p in pre.get("pretokenizers", []))


def _write_tensors(w, model, config, cfg: ExportConfig, reporter: Reporter) -> None:
    import gguf

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    state = {k: v for k, v in model.state_dict().items() if "rotary_emb" not in k}
    if getattr(config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)
    n_head, n_kv = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    with reporter.task("export", total=len(state)) as advance:
        for hf_name, t in state.items():
            name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
            if name is None:
                raise GenlabError(f"no GGUF name for tensor {hf_name!r}", hint="the model has layers a Llama lacks")
            data = t.detach().to(torch.float32).numpy()
            if name.endswith("attn_q.weight"):
                data = permute(data, n_head)
            elif name.endswith("attn_k.weight"):
                data = permute(data, n_kv)
            _add(w, name, data, _qtype(name, data, cfg))
            advance(1)


def _qtype(name: str, data: np.ndarray, cfg: ExportConfig):
    import gguf

    Q = gguf.GGMLQuantizationType
    if data.ndim == 1 or cfg.type == "f32":
        return Q.F32
    if cfg.type == "f16" or data.shape[-1] % BLOCK:
        return Q.F16
    if cfg.type == "q4_0" and cfg.embedding_q8 and name.startswith(("token_embd", "output.")):
        return Q.Q8_0
    return {"q8_0": Q.Q8_0, "q4_0": Q.Q4_0}[cfg.type]


def _add(w, name: str, data: np.ndarray, qtype) -> None:
    import gguf

    Q = gguf.GGMLQuantizationType
    if qtype == Q.F32:
        w.add_tensor(name, data.astype(np.float32))
    elif qtype == Q.F16:
        w.add_tensor(name, data.astype(np.float16))
    else:
        w.add_tensor(name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
