"""The engine's prefill: prompts sorted by length and cut into runs of bounded padded size."""

from __future__ import annotations

import pytest
import torch

from genlab.generation import GenerationConfig, generate
from genlab.serving import engine
from genlab.serving.sequence import LogitRules, Sequence, edited_logits

PROMPTS = ["The cat sat on the", "Hello", "Customer: my order 12345 arrived late and the box was open.", "abc",
           "Once upon a time there was", "Refund request for order 777:", "Q: 2+2? A:", "The weather today is"]


@pytest.mark.parametrize("budget", [1, 8, 20, 1024])
def test_prefill_chunks_keep_every_sequence_within_the_budget(budget):
    lengths = [5, 1, 17, 3, 9, 9, 2, 30, 4, 4]
    seqs = [Sequence(list(range(n)), GenerationConfig(), None, lambda e: None) for n in lengths]
    chunks = engine.prefill_chunks(seqs, budget)
    assert sorted(s.id for c in chunks for s in c) == sorted(s.id for s in seqs)
    flat = [len(s.prompt_ids) for c in chunks for s in c]
    assert flat == sorted(lengths)
    for c in chunks:
        width = max(len(s.prompt_ids) for s in c)
        assert len(c) == 1 or len(c) * width <= budget  # over the budget only alone
    if budget == 1024:
        assert len(chunks) == 1


def test_prompts_prefilled_in_many_chunks_decode_as_transformers_does(tiny_causal, monkeypatch):
    """Runs of different widths joined into one batch (fp32, greedy) equal transformers' generate."""
    cfg = GenerationConfig(max_new_tokens=10)
    want = generate(tiny_causal, PROMPTS, cfg, precision="fp32", backend="transformers")
    monkeypatch.setattr(engine, "PREFILL_TOKENS", 16)
    seen = []
    real = engine.prefill_chunks
    monkeypatch.setattr(engine, "prefill_chunks", lambda seqs, budget=None: seen.append(real(seqs)) or seen[-1])
    got = generate(tiny_causal, PROMPTS, cfg, precision="fp32", backend="engine")
    assert max(map(len, seen)) >= 4  # several runs joined the batch
    assert [g.text for g in got] == [w.text for w in want]
    assert [g.new_tokens for g in got] == [w.new_tokens for w in want]


def test_edited_logits_apply_min_tokens_bias_and_penalties_in_vllm_order():
    rules = LogitRules(logit_bias=((7, 1.0), (3, -0.5)), presence_penalty=0.25, frequency_penalty=0.5, min_tokens=5)
    seq = Sequence([1], GenerationConfig(repetition_penalty=2.0), None, lambda e: None, rules=rules)
    seq.out_ids = [3, 3, 5]
    logits = torch.full((10,), 2.0)
    out = edited_logits(logits, seq, eos_ids={2})
    want = torch.full((10,), 2.0)
    want[2] = float("-inf")  # the end is held back: 3 of 5 tokens so far
    want[7] = 3.0
    want[[1, 5]] = 1.0  # the repetition penalty (prompt and output): 2 / 2
    want[3] = (2.0 - 0.5) / 2 - 2 * 0.5 - 0.25  # bias, repetition penalty, then frequency x2 and presence
    want[5] -= 0.5 + 0.25
    assert torch.equal(out, want) and torch.equal(logits, torch.full((10,), 2.0))  # the input row is untouched
    seq.out_ids = [3, 3, 5, 6, 8]
    assert edited_logits(logits, seq, eos_ids={2})[2] == 2.0  # five tokens: the end is allowed again
