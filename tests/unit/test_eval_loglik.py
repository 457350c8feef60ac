"""Multiple-choice and rolling log-likelihoods on tiny models, checked against a hand computation."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from genlab.evaluation.loglik import encode_pair, prefix_token, score_choices, score_rolling


@dataclass
class Req:  # the fields of genlab.tasks.Request that scoring reads
    doc_id: int
    prompt: str
    target: str = ""
    choices: list[str] | None = None
    target_index: int | None = None
    raw: dict = field(default_factory=dict)


REQS = [
    Req(0, "Review: great product, five stars. Rating:", choices=["1", "2", "3", "4", "5"], target_index=4),
    Req(1, "Question: what is two plus two? Answer:", choices=["four", "five", "the cat sat on the mat"]),
    Req(2, "Hello, how are you today?\n", choices=["I am fine", "no"]),  # trailing whitespace moves
    Req(3, "The dog sat on the", choices=["log", "mat", "customer refund order", "x"]),
    Req(4, "", choices=["a", "b"]),  # empty context -> prefix token
]


def hand_logprob(lm, prompt: str, continuation: str) -> float:
    """One full forward pass over context + continuation, no cache, no padding."""
    ctx, cont = encode_pair(lm.tokenizer, prompt, continuation)
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logp = lm.model(input_ids=ids).logits[0].log_softmax(-1)
    return sum(float(logp[len(ctx) - 1 + t, tok]) for t, tok in enumerate(cont))


@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_causal_choice_logprobs_match_full_forward(tiny_causal, batch_size):
    scores = score_choices(tiny_causal, REQS, batch_size=batch_size, precision="fp32")
    for req, s in zip(REQS, scores):
        expected = [hand_logprob(tiny_causal, req.prompt, " " + c) for c in req.choices]
        assert s.logprobs == pytest.approx(expected, abs=1e-4), req.prompt
        assert s.choices == req.choices and len(s.num_tokens) == len(req.choices)


def test_context_runs_once_per_batch_not_once_per_choice(tiny_causal):
    calls = []
    handle = tiny_causal.model.register_forward_pre_hook(lambda m, a, kw: calls.append(kw["input_ids"].shape),
                                                        with_kwargs=True)
    try:
        score_choices(tiny_causal, REQS[:4], batch_size=4, precision="fp32")
    finally:
        handle.remove()
    multi = [c for r in REQS[:4] for c in r.choices
             if len(encode_pair(tiny_causal.tokenizer, r.prompt, " " + c)[1]) > 1]
    assert multi and len(calls) == 2  # one context pass for 4 examples, one pass for multi-token choices
    assert calls[0][0] == 4
    assert calls[1][0] == len(multi) and calls[1][1] <= 5  # short choice rows, not context + choice


def test_single_token_choices_need_only_the_context_pass(tiny_causal):
    tok = tiny_causal.tokenizer
    prompt = "Review: great product, five stars. Rating:"
    digits = [d for d in ("1", "5", "the", "cat", "sat", "on", "mat", "dog") if len(encode_pair(tok, prompt, " " + d)[1]) == 1]
    calls = []
    handle = tiny_causal.model.register_forward_pre_hook(lambda m, a, kw: calls.append(1), with_kwargs=True)
    try:
        [s] = score_choices(tiny_causal, [Req(0, prompt, choices=digits)], precision="fp32")
    finally:
        handle.remove()
    assert len(digits) >= 2 and len(calls) == 1
    assert s.logprobs == pytest.approx([hand_logprob(tiny_causal, prompt, " " + d) for d in digits], abs=1e-4)


def test_encode_pair_moves_trailing_whitespace_like_lm_eval(tiny_causal):
    tok = tiny_causal.tokenizer
    ctx, cont = encode_pair(tok, "Answer: ", "four")
    assert tok.decode(ctx) == "Answer:" and tok.decode(cont) == " four"
    assert encode_pair(tok, "", "a")[0] == [prefix_token(tok)]


def test_seq2seq_choice_logprobs_match_labels_loss(tiny_seq2seq):
    lm = tiny_seq2seq
    scores = score_choices(lm, REQS[:4], batch_size=3, precision="fp32")
    for req, s in zip(REQS[:4], scores):
        enc = lm.tokenizer(req.prompt, return_tensors="pt")
        for choice, got in zip(req.choices, s.logprobs):
            labels = torch.tensor([lm.tokenizer(choice, add_special_tokens=False)["input_ids"]])
            with torch.no_grad():
                out = lm.model(**enc, labels=labels)
            assert got == pytest.approx(-float(out.loss) * labels.shape[1], abs=1e-4)


def test_rolling_loglik_matches_full_forward_and_windows_add_up(tiny_causal):
    text = "The cat sat on the mat. The dog sat on the log. Hello, how are you today?"
    [whole] = score_rolling(tiny_causal, [text], precision="fp32")
    ids = [prefix_token(tiny_causal.tokenizer)] + tiny_causal.tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = tiny_causal.model(input_ids=torch.tensor([ids])).logits[0].log_softmax(-1)
    expected = sum(float(logp[t - 1, ids[t]]) for t in range(1, len(ids)))
    assert whole.loglik == pytest.approx(expected, abs=1e-4)
    assert whole.num_tokens == len(ids) - 1 and whole.num_bytes == len(text.encode())
    [windowed] = score_rolling(tiny_causal, [text], precision="fp32", max_length=7)
    assert windowed.num_tokens == whole.num_tokens and windowed.loglik < 0


def test_peft_wrapped_model_scores_like_a_full_forward(tiny_causal_dir):
    from peft import LoraConfig, get_peft_model

    from genlab.models import load

    lm = load(str(tiny_causal_dir), precision="fp32")
    lm.model = get_peft_model(lm.model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lm.model.eval()
    scores = score_choices(lm, REQS[:3], batch_size=2, precision="fp32")
    for req, s in zip(REQS[:3], scores):
        assert s.logprobs == pytest.approx([hand_logprob(lm, req.prompt, " " + c) for c in req.choices], abs=1e-4)
