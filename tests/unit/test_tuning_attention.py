"""Recomputed eager attention: eager's values and gradients, no length² tensor kept for backward, restored after."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.testing import tiny_model
from genlab.tuning import attention
from genlab.tuning.attention import NAME, recomputed_eager, supports


def _loss_and_grads(model, kind, ids):
    model.zero_grad()
    mask = torch.ones_like(ids)
    if kind == "encoder":
        out = model(input_ids=ids, attention_mask=mask)
        loss, values = out.last_hidden_state.square().mean(), out.last_hidden_state
    else:
        out = model(input_ids=ids, attention_mask=mask, labels=ids)
        loss, values = out.loss, out.logits
    loss.backward()
    return values.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


NO_DROPOUT = {"causal": {}, "seq2seq": {"dropout_rate": 0.0},
              "encoder": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}}


@pytest.mark.parametrize("kind", ["causal", "seq2seq", "encoder"])
def test_same_values_and_gradients_as_eager_without_saving_scores(kind, monkeypatch):
    monkeypatch.setattr(attention, "KEEP_BYTES", 0)  # recompute whatever the size
    model, _ = tiny_model(kind, seed=0, initializer_range=0.3, **NO_DROPOUT[kind])
    model.train()
    ids = torch.randint(5, 200, (2, 24))
    model.set_attn_implementation("eager")
    values, grads = _loss_and_grads(model, kind, ids)
    shapes = []

    def keep(t):
        shapes.append(tuple(t.shape))
        return t

    with recomputed_eager(model) as used:
        assert used and model.config._attn_implementation == NAME
        with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
            values2, grads2 = _loss_and_grads(model, kind, ids)
    assert model.config._attn_implementation == "eager"
    assert torch.equal(values, values2)
    assert grads.keys() == grads2.keys() and grads
    for name, g in grads.items():
        assert torch.allclose(g, grads2[name], atol=1e-6, rtol=1e-5), name
    assert not [s for s in shapes if len(s) == 4 and s[-2:] == (24, 24) and s[1] > 1]  # no per-head scores kept


def _saved_score_shapes(model, ids) -> list[tuple]:
    shapes = []

    def keep(t):
        shapes.append(tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        _loss_and_grads(model, "causal", ids)
    n = ids.shape[1]
    return [s for s in shapes if len(s) == 4 and s[-2:] == (n, n) and s[1] > 1]


def test_small_probabilities_are_kept_large_ones_recomputed(monkeypatch):
    model, _ = tiny_model("causal", seed=0)
    model.train()
    ids = torch.randint(5, 200, (2, 24))
    layers, heads = model.config.num_hidden_layers, model.config.num_attention_heads
    kept = 2 * heads * 24 * 24 * 6 * layers  # batch x heads x q x k, fp32 + bf16, every layer
    with recomputed_eager(model):
        monkeypatch.setattr(attention, "KEEP_BYTES", kept)
        assert _saved_score_shapes(model, ids)  # at the limit: kept, as plain eager does
        monkeypatch.setattr(attention, "KEEP_BYTES", kept - 1)
        assert not _saved_score_shapes(model, ids)


class ToyAttention(nn.Module):
    """An attention module whose file has no ``eager_attention_forward``."""


def test_restores_the_models_choice_and_skips_models_it_cannot_serve():
    model, _ = tiny_model("causal")
    before = model.config._attn_implementation
    with recomputed_eager(model) as used:
        assert used
    assert model.config._attn_implementation == before
    model.model.layers[0].self_attn = ToyAttention()
    assert not supports(model)
    with recomputed_eager(model) as used:
        assert not used and model.config._attn_implementation == before
