"""CPU dropout from packed random bits: its rate, scaling, seeding, module swap, and behaviour under torch.compile."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.testing import tiny_model
from genlab.tuning import methods
from genlab.tuning.dropout import FastDropout, fast_dropout, keep_mask


@pytest.mark.parametrize("p", [0.05, 0.1, 0.5, 0.9])
def test_keep_rate_is_one_minus_p(p):
    torch.manual_seed(0)
    n = 2_000_000
    kept = keep_mask(torch.empty(n), p).double().mean().item()
    sigma = (p * (1 - p) / n) ** 0.5
    assert abs(kept - (1 - p)) < 5 * sigma + 2**-16


def test_masks_are_seeded_and_not_repeated():
    x = torch.empty(64, 96)
    torch.manual_seed(3)
    a, b = keep_mask(x, 0.3), keep_mask(x, 0.3)
    torch.manual_seed(3)
    assert torch.equal(keep_mask(x, 0.3), a)
    assert not torch.equal(a, b)


def test_kept_values_are_scaled_to_stay_unbiased():
    torch.manual_seed(0)
    x = torch.full((1000, 1000), 2.0)
    y = FastDropout(0.2).train()(x)
    kept = y != 0
    assert torch.allclose(y[kept], torch.tensor(2.0 / (1 - 13107 / 65536)))  # p on the 2**-16 grid
    assert abs(y.mean().item() - 2.0) < 0.01
    assert torch.equal(FastDropout(0.2).eval()(x), x)


def test_swap_covers_lora_dropouts_and_restores_them():
    model, _ = tiny_model("causal")
    model = methods.apply("lora", model, {"r": 4, "dropout": 0.1})
    before = [m for m in model.modules() if type(m) is nn.Dropout]
    assert before
    with fast_dropout(model) as n:
        assert n == len(before)
        assert not any(type(m) is nn.Dropout for m in model.modules())
        assert sum(isinstance(m, FastDropout) for m in model.modules()) == n
    assert [m for m in model.modules() if type(m) is nn.Dropout] == before


def test_compiled_masks_are_independent_and_match_the_backward():
    """Two dropouts of one input (LoRA's q and v) must not share a mask, and backward must use forward's mask."""
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = FastDropout(0.3), FastDropout(0.3)

        def forward(self, x):
            return self.a(x), self.b(x)

    compiled = torch.compile(Two().train(), dynamic=True)
    scale = 65536 / (65536 - 19661)
    for rows in (48, 80):
        x = torch.randn(rows, 64, requires_grad=True)
        ya, yb = compiled(x)
        assert not torch.equal(ya != 0, yb != 0)
        (2 * ya + 3 * yb).sum().backward()
        assert torch.allclose(x.grad, ((ya != 0) * 2 + (yb != 0) * 3) * scale)
