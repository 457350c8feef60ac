"""Batch-invariant decoding: a sequence's logits do not depend on which other sequences share its batch.

In bf16 on CPU, greedy text through the server and offline ``generate`` agreed on only 62-75% of
prompts: the same prompt decoded beside different neighbours gives different logits. Two causes,
measured on the embedded model (2-core AMD EPYC, oneDNN bf16):

- attention over a left-padded batch: the padding in front of a row moves where its keys fall in
  the kernel's blocks and vector lanes, so sums are taken in another order (last logits moved by up
  to 0.24);
- a bf16 linear with more than 1,024 inputs (the MLP's down projection, 1,536) gives a one-row
  call another kernel than a call of two or more rows: 6 of 64 rows came out different by one bf16
  step. Calls of 2 to 700 rows gave the same row bit for bit, and so did every row count for
  layers of at most 1,024 inputs.

Inside :func:`batch_invariant` each row's attention runs as its own SDPA call on exactly its real
queries and keys (what the row alone would run), and one-row calls of the wide linears get a
zero second row. The prompt's KV then never comes from the prefix store (a prefill that starts
after a reused beginning is a different call), so the engine turns prefix caching off.

The cost is one attention call per row and layer: on the embedded model, batch-16 greedy decoding
ran at 0.85x the speed of the plain path (211.8 vs 247.8 tokens/s, ``bench/generate.py
[--batch-invariant]``). Kernel choices are the BLAS library's: the invariance is checked by test on
tiny models and measured on the embedded model here, not promised for every CPU.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from genlab.errors import GenlabError

NAME = "genlab_rowwise_sdpa"
WIDE = 1024  # linears with more inputs than this get a second row in one-row calls
UNCOVERED = ("softcap", "sliding_window", "s_aux", "sinks", "position_bias")  # attention extras plain SDPA lacks


def rowwise_mask(batch_size: int, q_length: int, kv_length: int, q_offset=0, kv_offset: int = 0,
                 attention_mask: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
    """In place of a 4D mask: (2, B) real query rows and real keys of each row (both right-aligned)."""
    if attention_mask is None:
        return torch.tensor([[q_length] * batch_size, [kv_length] * batch_size])
    real = attention_mask[:, kv_offset:kv_offset + kv_length].bool()
    counts = real.sum(1)
    if not torch.equal(real.flip(1).int().cumprod(1).sum(1), counts):  # trailing ones == all ones, per row
        raise GenlabError("batch-invariant decoding needs each row's tokens together at the end (left padding); "
                          "this mask has padding between them",
                          hint="prompt-tuning and prefix adapters are not covered: run without --batch-invariant")
    return torch.stack([real[:, kv_length - q_length:].sum(1), counts])


def rowwise_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Each row's attention alone: its real queries (the last ``q``) over its real keys (the last ``k``)."""
    if unknown := [k for k in UNCOVERED if kwargs.get(k) is not None]:
        raise GenlabError(f"batch-invariant decoding does not cover this model's attention ({', '.join(unknown)})",
                          hint="run without --batch-invariant")
    batch, heads, q_len, dim = query.shape
    total, kv_heads = key.shape[2], key.shape[1]
    q_real, kv_real = attention_mask.tolist()
    outs = []
    for b in range(batch):
        qn, kn = q_real[b], kv_real[b]
        q, k, v = query[b:b + 1, :, q_len - qn:], key[b:b + 1, :, total - kn:], value[b:b + 1, :, total - kn:]
        if qn == 1 and heads != kv_heads:  # one query: the group's heads as query rows of their kv head
            out = F.scaled_dot_product_attention(q.reshape(1, kv_heads, heads // kv_heads, dim), k, v,
                                                 scale=scaling).reshape(1, heads, 1, dim)
        elif qn in (1, kn):
            out = F.scaled_dot_product_attention(q, k, v, is_causal=qn > 1, scale=scaling,
                                                 enable_gqa=heads != kv_heads)
        else:  # queries after a cached beginning: causal, aligned to the last key
            causal = torch.ones(qn, kn, dtype=torch.bool, device=q.device).tril(kn - qn)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=causal, scale=scaling,
                                                 enable_gqa=heads != kv_heads)
        outs.append(out if qn == q_len else F.pad(out, (0, 0, q_len - qn, 0)))  # padded queries: zeros
    return torch.cat(outs).transpose(1, 2), None


def supports(model) -> str | None:
    """None when :func:`batch_invariant` can serve ``model``, else why not."""
    config = getattr(model, "config", None)
    if config is None or not hasattr(model, "set_attn_implementation"):
        return "not a transformers model"
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder models are not covered (decoder-only models are)"
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return "sliding-window attention is not covered"
    if getattr(config, "attn_logit_softcapping", None):
        return "soft-capped attention is not covered"
    layer_types = getattr(config, "layer_types", None) or []
    if any(t != "full_attention" for t in layer_types):
        return f"layer types {sorted(set(layer_types))}: only full attention is covered"
    return None


def check_supported(model):
    """The transformers model inside ``model`` (peft unwrapped); a clear error when it is not covered."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if (why := supports(base)) is not None:
        raise GenlabError(f"batch-invariant decoding cannot serve {type(base).__name__}: {why}",
                          hint="run without --batch-invariant")
    return base


@contextlib.contextmanager
def batch_invariant(model):
    """Within the block, ``model`` (a transformers decoder, or a peft model around one) decodes each row as it
    would alone: per-row attention and two-row calls for the wide linears. The model's attention choice and
    its linears come back as they were."""
    base = check_supported(model)
    _register()
    before = base.config._attn_implementation
    base.set_attn_implementation(NAME)
    wide = [m for m in base.modules() if isinstance(m, torch.nn.Linear) and m.in_features > WIDE]
    handles = [m.register_forward_pre_hook(_two_rows) for m in wide] + \
        [m.register_forward_hook(_one_row) for m in wide]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        base.set_attn_implementation(before)


def _two_rows(module, args):
    """A one-row call (decode at batch 1) gets a zero second row: the kernel of every wider call."""
    x = args[0]
    if x.dim() < 2 or x.shape[0] != 1 or x.numel() != x.shape[-1]:
        return None
    module._genlab_added_row = True
    return (torch.cat([x, torch.zeros_like(x)]),) + tuple(args[1:])


def _one_row(module, args, out):
    if module.__dict__.pop("_genlab_added_row", False):
        return out[:1]
    return None


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, rowwise_attention)
    AttentionMaskInterface.register(NAME, rowwise_mask)
