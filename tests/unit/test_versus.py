"""KL of an aligned model to its start, exact over the vocabulary along the scored replies."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.alignment.versus import kl_per_token


@pytest.fixture(scope="module")
def pair(tiny_causal_dir):
    from genlab.models import load

    lm, other = load(str(tiny_causal_dir), precision="fp32"), load(str(tiny_causal_dir), precision="fp32")
    with torch.no_grad():
        for p in other.model.parameters():
            p.add_(0.05 * torch.randn_like(p, generator=torch.Generator().manual_seed(0)))
    return lm, other


def test_kl_is_zero_against_itself_and_positive_against_another_model(pair):
    lm, other = pair
    prompts, replies = ["Summarize: the order shipped.", "Hello there"], ["It shipped today.", " ok"]
    assert kl_per_token(lm, lm, prompts, replies) == pytest.approx([0.0, 0.0], abs=1e-6)
    kl = kl_per_token(lm, other, prompts, replies)
    assert all(k > 1e-4 for k in kl)


def test_kl_matches_a_hand_computation_of_the_reply_positions(pair):
    lm, other = pair
    tok = lm.tokenizer
    prompt, reply = "Summarize: the order shipped.", "It shipped today."
    p, c = tok(prompt, add_special_tokens=False)["input_ids"], tok(reply, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p + c])
    with torch.no_grad():
        a = torch.log_softmax(lm.model(input_ids=ids).logits[0], -1)
        b = torch.log_softmax(other.model(input_ids=ids).logits[0], -1)
    per_position = [float((a[t].exp() * (a[t] - b[t])).sum()) for t in range(len(p) - 1, len(p) + len(c) - 1)]
    expected = sum(per_position) / len(c)
    assert kl_per_token(lm, other, [prompt], [reply])[0] == pytest.approx(expected, rel=1e-4)


def test_an_empty_reply_has_no_kl(pair):
    lm, other = pair
    assert math.isnan(kl_per_token(lm, other, ["Hi"], [""])[0])
