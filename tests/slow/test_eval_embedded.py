"""The embedded model through evaluate() (slow: run under the heavy lock)."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.slow


def test_reviews_choice_logprobs_match_a_full_forward(embedded, tmp_path, monkeypatch):
    from genlab.evaluation import evaluate
    from genlab.evaluation.loglik import encode_pair
    from genlab.tasks import load_task

    monkeypatch.setenv("GENLAB_HOME", str(tmp_path))
    result = evaluate(embedded, load_task("reviews"), n=8, precision="fp32", n_resamples=100)
    for s in result.samples[:2]:
        for choice, got in zip(s["choices"], s["logprobs"]):
            ctx, cont = encode_pair(embedded.tokenizer, s["prompt"], " " + choice)
            with torch.no_grad():
                logp = embedded.model(input_ids=torch.tensor([ctx + cont])).logits[0].log_softmax(-1)
            expected = sum(float(logp[len(ctx) - 1 + t, tok]) for t, tok in enumerate(cont))
            assert got == pytest.approx(expected, abs=1e-3)
    assert 0.0 <= result.metrics["acc"]["ci_low"] <= result.metrics["acc"]["value"] <= result.metrics["acc"]["ci_high"]
