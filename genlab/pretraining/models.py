"""Tiny models of the course's three families, built from a config (random weights, nothing downloaded).

A size is ``WIDTHxLAYERS`` (``128x4``: d_model 128, 4 blocks). Heads are 32 wide
(16 below width 64); the feed-forward width keeps each block near GPT's 12·d²:

- ``causal``  — decoder, Llama style (RMSNorm, rotary, SwiGLU with d_ff ≈ 8/3·d, tied embeddings);
- ``masked``  — encoder, BERT style (learned positions, GELU d_ff = 4·d, MLM head tied to the embedding);
- ``span``    — encoder-decoder, T5 style (relative position buckets, d_ff = 4·d, LAYERS blocks each side).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from genlab.errors import ConfigError

OBJECTIVES = ("causal", "masked", "span")


@dataclass(frozen=True)
class Size:
    d_model: int
    n_layers: int

    @property
    def name(self) -> str:
        return f"{self.d_model}x{self.n_layers}"

    @property
    def head_dim(self) -> int:
        return 32 if self.d_model >= 64 and self.d_model % 32 == 0 else 16

    @property
    def n_heads(self) -> int:
        return max(1, self.d_model // self.head_dim)

    @property
    def d_ff_swiglu(self) -> int:
        return -(-8 * self.d_model // 3 // 16) * 16  # 8/3·d rounded up to a multiple of 16


def parse_size(text: str) -> Size:
    m = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", str(text))
    if not m:
        raise ConfigError(f"bad model size {text!r}", where="--size",
                          hint="write WIDTHxLAYERS, e.g. 128x4 (d_model 128, 4 blocks)")
    size = Size(int(m.group(1)), int(m.group(2)))
    if size.d_model < 16 or size.d_model % 16 or size.n_layers < 1:
        raise ConfigError(f"model size {text!r}: width must be a multiple of 16 (>= 16) and layers >= 1",
                          where="--size", hint="e.g. 64x2, 128x4, 256x6")
    return size


def model_config(objective: str, size: Size, vocab_size: int, block_size: int, tokenizer=None):
    """The transformers config of a ``size`` model for ``objective`` (``causal`` | ``masked`` | ``span``)."""
    from transformers import BertConfig, LlamaConfig, T5Config

    special = _special_ids(tokenizer)
    if objective == "causal":
        return LlamaConfig(vocab_size=vocab_size, hidden_size=size.d_model, intermediate_size=size.d_ff_swiglu,
                           num_hidden_layers=size.n_layers, num_attention_heads=size.n_heads,
                           num_key_value_heads=size.n_heads, max_position_embeddings=block_size,
                           tie_word_embeddings=True, **special)
    if objective == "masked":
        return BertConfig(vocab_size=vocab_size, hidden_size=size.d_model, intermediate_size=4 * size.d_model,
                          num_hidden_layers=size.n_layers, num_attention_heads=size.n_heads,
                          max_position_embeddings=block_size, type_vocab_size=1,
                          pad_token_id=special.get("pad_token_id", 0))
    if objective == "span":
        pad = special.get("pad_token_id", 0)
        return T5Config(vocab_size=vocab_size, d_model=size.d_model, d_kv=size.head_dim, d_ff=4 * size.d_model,
                        num_layers=size.n_layers, num_decoder_layers=size.n_layers, num_heads=size.n_heads,
                        pad_token_id=pad, decoder_start_token_id=pad, eos_token_id=special.get("eos_token_id", 1),
                        tie_word_embeddings=True)
    raise ConfigError(f"unknown objective {objective!r}", where="--objective", hint=f"one of {', '.join(OBJECTIVES)}")


def build_model(objective: str, size: Size, vocab_size: int, block_size: int, tokenizer=None, seed: int = 0):
    """Random weights from ``seed`` (the same seed builds the same model, so a resumed run starts alike)."""
    import torch
    from transformers import BertForMaskedLM, LlamaForCausalLM, T5ForConditionalGeneration

    config = model_config(objective, size, vocab_size, block_size, tokenizer)
    cls = {"causal": LlamaForCausalLM, "masked": BertForMaskedLM, "span": T5ForConditionalGeneration}[objective]
    torch.manual_seed(seed)
    return cls(config)


def _special_ids(tokenizer) -> dict[str, int]:
    if tokenizer is None:
        return {}
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id}
    return {k: v for k, v in ids.items() if v is not None}


def objective_of(model) -> str:
    """Which objective a transformers model trains with, from its architecture."""
    if model.config.is_encoder_decoder:
        return "span"
    name = type(model).__name__
    return "masked" if "MaskedLM" in name else "causal"
