"""Attention for training on CPU: the model's own eager attention, recomputed in the backward pass.

On CPU, training runs faster with eager attention than with SDPA, whose flash
kernel (and especially its backward) is slow there: uncompiled, a 96x4 pre-training
step took 108 vs 119 ms, a PPO minibatch of the embedded model 1.34 vs 1.66 s;
compiled, inductor also fuses the mask, softmax and their backward into neighbouring kernels. But eager
attention keeps the softmax probabilities for the backward pass in fp32 and in
bf16, batch x heads x length² per layer (0.9 GB over the embedded model's 30
layers for 4 x 402 tokens). Here the attention core runs under activation
checkpointing: only q, k, v and the mask are kept, and the scores are recomputed
when the gradient arrives (one extra q·kᵀ matmul per layer). Where all layers' probabilities
come to at most ``KEEP_BYTES`` (64 MB), they are kept instead: a compiled 96x4 pre-training step
(16 x 128 tokens, 19 MB of probabilities) took 60.8 vs 64.0 ms (median of 5 alternating rounds).

The function is the model's own ``eager_attention_forward`` (looked up from the
attention module's modeling file), so the forward values are exactly eager's.
"""

from __future__ import annotations

import contextlib
import sys

import torch
from torch.utils.checkpoint import checkpoint

NAME = "genlab_recomputed_eager"


KEEP_BYTES = 64 * 2**20  # probabilities of all layers below this are kept, not recomputed


def recomputed_eager_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    eager = sys.modules[type(module).__module__].eager_attention_forward
    # random attention dropout would be redrawn by the recompute; small probabilities cost less kept than recomputed
    if dropout or not torch.is_grad_enabled() or _kept_bytes(module, query, key) <= KEEP_BYTES:
        return eager(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
    output = checkpoint(_output_only, eager, module, query, key, value, attention_mask, scaling, kwargs,
                        use_reentrant=False)
    return output, None


def _kept_bytes(module, query, key) -> int:
    """What eager keeps for the backward over all layers: batch x heads x q x k probabilities, fp32 + bf16."""
    layers = getattr(getattr(module, "config", None), "num_hidden_layers", 1) or 1
    return query.shape[0] * query.shape[1] * query.shape[2] * key.shape[2] * 6 * layers


def _output_only(eager, module, query, key, value, attention_mask, scaling, kwargs):
    return eager(module, query, key, value, attention_mask, scaling=scaling, dropout=0.0, **kwargs)[0]


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(NAME, recomputed_eager_attention)
    AttentionMaskInterface.register(NAME, eager_mask)


def supports(model) -> bool:
    """True when the model's attention modules come from a modeling file with ``eager_attention_forward``."""
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) is None or not hasattr(model, "set_attn_implementation"):
        return False
    for module in model.modules():
        if type(module).__name__.endswith("Attention"):
            return hasattr(sys.modules[type(module).__module__], "eager_attention_forward")
    return False


@contextlib.contextmanager
def recomputed_eager(model):
    """Use :func:`recomputed_eager_attention` for the block (restoring the model's choice after), where supported."""
    inner = getattr(model, "module", model)  # DDP
    if not supports(inner):
        yield False
        return
    _register()
    before = inner.config._attn_implementation
    inner.set_attn_implementation(NAME)
    try:
        yield True
    finally:
        inner.set_attn_implementation(before)
