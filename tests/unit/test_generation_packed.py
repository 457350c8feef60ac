"""Packed linears: bf16 gives the same numbers as plain bf16, fp32 the same up to rounding on decode-sized calls
only; only inside the block, never stale."""

import pytest
import torch

from genlab.generation import GenerationConfig, generate
from genlab.generation.packed import can_pack, packed_linears

pytestmark = pytest.mark.skipif(
    not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()),
    reason="this CPU's oneDNN has no bf16 kernels")  # fp32 packing needs oneDNN only; bf16 is everywhere it is

PROMPTS = ["The cat sat on the", "Hello, how are", "Customer: my order 12345 arrived late.", "abc"]


@pytest.fixture()
def bf16_lm(tiny_causal_dir):
    from genlab.models import load

    return load(str(tiny_causal_dir), precision="bf16")


def test_packed_logits_are_bit_identical_to_plain_bf16(bf16_lm):
    enc = bf16_lm.tokenizer(PROMPTS, return_tensors="pt", padding=True)
    with torch.inference_mode():
        plain = bf16_lm.model(**enc).logits
        with packed_linears(bf16_lm.model):
            packed = bf16_lm.model(**enc).logits
    assert torch.equal(plain, packed)


def test_generate_packs_only_inside_and_matches_hf_generate(bf16_lm):
    linears = [m for m in bf16_lm.model.modules() if isinstance(m, torch.nn.Linear)]
    with packed_linears(bf16_lm.model):
        assert all("forward" in m.__dict__ for m in linears)
    assert not any("forward" in m.__dict__ for m in linears)
    outs = generate(bf16_lm, PROMPTS[:1], GenerationConfig(max_new_tokens=10))
    enc = bf16_lm.tokenizer(PROMPTS[:1], return_tensors="pt")
    with torch.inference_mode():
        ref = bf16_lm.model.generate(**enc, max_new_tokens=10, do_sample=False,
                                     pad_token_id=bf16_lm.tokenizer.pad_token_id)
    assert outs[0].text == bf16_lm.tokenizer.decode(ref[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def test_weights_changed_in_place_are_packed_afresh(bf16_lm):
    """PEFT merges adapters through ``weight.data``, which bumps no version counter."""
    x = torch.randn(2, 3, bf16_lm.model.config.hidden_size, dtype=torch.bfloat16)
    lin = next(m for m in bf16_lm.model.modules() if isinstance(m, torch.nn.Linear))
    with torch.inference_mode():
        with packed_linears(bf16_lm.model):
            before = lin(x)
        lin.weight.data.mul_(2)
        with packed_linears(bf16_lm.model):
            after = lin(x)
    assert torch.equal(after, torch.nn.functional.linear(x, lin.weight))
    assert not torch.equal(before, after)


def test_fp32_input_into_a_bf16_model_takes_the_plain_path(bf16_lm):
    lin = next(m for m in bf16_lm.model.modules() if isinstance(m, torch.nn.Linear))
    x = torch.randn(2, lin.in_features)
    with packed_linears(bf16_lm.model):
        assert lin(x.bfloat16()).dtype == torch.bfloat16
        with pytest.raises(RuntimeError):  # fp32 input takes the plain path, which refuses the dtype mix
            lin(x)


def test_fp32_model_runs_decode_sized_calls_packed_and_the_rest_plain(tiny_causal, monkeypatch):
    from genlab.generation import packed

    calls = []
    real = packed._onednn_linear
    monkeypatch.setattr(packed, "_onednn_linear", lambda *a: calls.append(a[0].shape) or real(*a))
    model = tiny_causal.model
    assert can_pack(model)
    lin = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    lo, hi = packed.FP32_ROWS
    with torch.no_grad(), packed_linears(model):
        for rows in (lo, hi):
            x = torch.randn(rows, lin.in_features)
            torch.testing.assert_close(lin(x), torch.nn.functional.linear(x, lin.weight, lin.bias))
        assert calls == [(lo, lin.in_features), (hi, lin.in_features)]
        for rows in (lo - 1, hi + 1):  # outside the range: MKL's plain path, bit for bit
            x = torch.randn(rows, lin.in_features)
            assert torch.equal(lin(x), torch.nn.functional.linear(x, lin.weight, lin.bias))
        with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast's bf16, not fp32
            assert lin(torch.randn(lo, lin.in_features)).dtype == torch.bfloat16
    with packed_linears(model):
        x = torch.randn(lo, lin.in_features, requires_grad=True)
        lin(x).sum().backward()  # a gradient: the plain path
        assert x.grad is not None
    assert len(calls) == 2 and not any("forward" in m.__dict__ for m in model.modules())
    with packed_linears(model, rows=lo - 1):  # too few sequences per step to pay for packing
        assert not any("forward" in m.__dict__ for m in model.modules())


def test_fp32_batch_decode_logits_match_plain_to_rounding(tiny_causal):
    enc = tiny_causal.tokenizer(PROMPTS * 2, return_tensors="pt", padding=True)
    step = {"input_ids": enc["input_ids"][:, -1:]}  # 8 rows of one token: a decode-sized call
    with torch.inference_mode():
        plain = tiny_causal.model(**enc).logits, tiny_causal.model(**step).logits
        with packed_linears(tiny_causal.model):
            packed = tiny_causal.model(**enc).logits, tiny_causal.model(**step).logits
    assert torch.equal(plain[0], packed[0])  # 8 prompts x several tokens: more rows than FP32_ROWS, plain
    torch.testing.assert_close(packed[1], plain[1], rtol=1e-4, atol=1e-5)


def _lora_policy(tiny_causal_dir):
    """A LoRA policy as PPO runs it: fp32 adapter, frozen base linears held in bf16, bf16 autocast."""
    from genlab.models import load
    from genlab.tuning import methods

    lm = load(str(tiny_causal_dir), precision="fp32")
    torch.manual_seed(0)
    policy = methods.apply("lora", lm.model, {"r": 4, "dropout": 0.0})
    with torch.no_grad():
        for n, p in policy.named_parameters():
            if "lora_B" in n:
                p.add_(torch.randn_like(p) * 0.5)
    for m in policy.modules():
        if isinstance(m, torch.nn.Linear) and not m.weight.requires_grad:
            m.weight.data = m.weight.data.to(torch.bfloat16)
    return lm, policy


def _loss_and_grads(policy, enc):
    policy.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = policy(**enc).logits
    logits.float().logsumexp(-1).sum().backward()
    return logits.detach(), {n: p.grad.clone() for n, p in policy.named_parameters() if p.requires_grad}


def test_packed_frozen_linears_change_no_number_forward_or_backward(tiny_causal_dir):
    from genlab.generation.packed import packed_frozen_linears

    lm, policy = _lora_policy(tiny_causal_dir)
    enc = lm.tokenizer(PROMPTS, return_tensors="pt", padding=True)
    plain_logits, plain_grads = _loss_and_grads(policy, enc)
    n_frozen = sum(isinstance(m, torch.nn.Linear) and not m.weight.requires_grad for m in policy.modules())
    with packed_frozen_linears(policy, backward=True):  # a training step: the input's gradient goes through Wᵀ
        assert sum("forward" in m.__dict__ for m in policy.modules()) == n_frozen
        logits, grads = _loss_and_grads(policy, enc)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            rollout_logits = policy(**enc).logits  # rollouts and old log-probs: no gradient
    assert torch.equal(logits, plain_logits) and torch.equal(rollout_logits, plain_logits)
    assert grads.keys() == plain_grads.keys() and all(torch.equal(grads[n], plain_grads[n]) for n in grads)
    assert all("forward" not in m.__dict__ for m in policy.modules())  # unpacked after the blocks


def test_packed_frozen_fp32_linears_pack_rollout_steps_and_leave_training_alone(tiny_causal_dir, monkeypatch):
    """A LoRA policy run in fp32: sampling steps (few rows, no gradient) run packed, the training step plain."""
    from genlab.generation import packed
    from genlab.models import load
    from genlab.tuning import methods

    calls = []
    real = packed._onednn_linear
    monkeypatch.setattr(packed, "_onednn_linear", lambda *a: calls.append(a[0].shape) or real(*a))
    lm = load(str(tiny_causal_dir), precision="fp32")
    torch.manual_seed(0)
    policy = methods.apply("lora", lm.model, {"r": 4, "dropout": 0.0})
    enc = lm.tokenizer(PROMPTS * 4, return_tensors="pt", padding=True)  # 16 rows x several tokens: plain
    step = {"input_ids": enc["input_ids"][:, -1:]}  # 16 rows of one token: a sampling step

    def loss_and_grads():
        policy.zero_grad(set_to_none=True)
        logits = policy(**enc).logits
        logits.logsumexp(-1).sum().backward()
        return logits.detach(), {n: p.grad.clone() for n, p in policy.named_parameters() if p.requires_grad}

    plain_logits, plain_grads = loss_and_grads()
    with torch.no_grad():
        plain_step = policy(**step).logits
    n_frozen = sum(isinstance(m, torch.nn.Linear) and not m.weight.requires_grad for m in policy.modules())
    with packed.packed_frozen_linears(policy, backward=True):
        assert sum("forward" in m.__dict__ for m in policy.modules()) == n_frozen
        logits, grads = loss_and_grads()
        assert calls == []  # the training step and its rows: all plain
        with torch.no_grad():
            packed_step = policy(**step).logits
        assert calls and all(shape[:-1].numel() == 16 for shape in calls)  # 16 rows a call
    assert torch.equal(logits, plain_logits) and all(torch.equal(grads[n], plain_grads[n]) for n in grads)
    torch.testing.assert_close(packed_step, plain_step, rtol=1e-4, atol=1e-5)
    assert all("forward" not in m.__dict__ for m in policy.modules())
