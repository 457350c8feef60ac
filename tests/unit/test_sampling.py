"""Our top-k/top-p/temperature filters equal transformers' logits warpers."""

import pytest
import torch
from transformers.generation.logits_process import (TemperatureLogitsWarper, TopKLogitsWarper,
                                                    TopPLogitsWarper)

from genlab.generation.sampling import filter_logits


def reference(logits, temperature, top_k, top_p):
    z = TemperatureLogitsWarper(temperature)(None, logits.clone())
    if top_k:
        z = TopKLogitsWarper(top_k)(None, z)
    if top_p < 1:
        z = TopPLogitsWarper(top_p)(None, z)
    return z


@pytest.mark.parametrize("seed", range(40))
def test_filters_match_transformers_warpers(seed):
    g = torch.Generator().manual_seed(seed)
    vocab = int(torch.randint(5, 300, (1,), generator=g))
    logits = torch.randn(3, vocab, generator=g) * float(torch.rand(1, generator=g) * 5 + 0.1)
    temperature = float(torch.rand(1, generator=g) * 2 + 0.05)
    top_k = int(torch.randint(0, vocab + 3, (1,), generator=g))
    top_p = float(torch.rand(1, generator=g) * 0.99 + 0.01) if seed % 4 else 1.0
    ours, _, kept = filter_logits(logits, temperature, top_k, top_p)
    ref = reference(logits, temperature, top_k, top_p)
    assert torch.equal(torch.isinf(ours), torch.isinf(ref))
    torch.testing.assert_close(ours[~torch.isinf(ours)], ref[~torch.isinf(ref)])
    assert torch.equal(kept, ~torch.isinf(ref))
    assert kept.any(dim=-1).all()  # at least one token always survives


def test_top_p_keeps_smallest_prefix_reaching_mass():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    _, _, kept = filter_logits(logits, 1.0, 0, 0.8)
    assert kept.tolist() == [[True, True, False, False]]
