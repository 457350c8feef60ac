"""Each method trains what it should, starts where the base model is, and learns (tiny models)."""

from __future__ import annotations

import re

import pytest
import torch

from genlab.testing import tiny_model
from genlab.tuning import TrainConfig, methods, train
from genlab.tuning.data import encode

from tuning_helpers import toy_pairs

# (method, options, regex of names that must train, True if the base output is unchanged at step 0)
CASES = [
    ("full", {}, r".", True),
    ("selective", {"norms": True}, r"norm", True),
    ("selective", {"last_k": 1}, r"\.1\.", True),
    ("selective", {"regex": r"embed|shared"}, r"embed|shared", True),
    ("lora", {"r": 4}, r"lora_", True),
    ("adapter", {"bottleneck": 8}, r"genlab_adapters", True),
    ("prompt-tuning", {"num_virtual_tokens": 4, "init_text": "say twice"}, r"prompt_encoder", False),
    ("ia3", {}, r"ia3_", True),
    ("prefix", {"num_virtual_tokens": 4}, r"prompt_encoder", False),
]
KINDS = ["causal", "seq2seq"]
IDS = [f"{m}-{'-'.join(map(str, o.values())) or 'default'}" for m, o, _, _ in CASES]


def _setup(kind, method, opts):
    # a wider init than HF's 0.02 gives the tiny Llama logits a usable scale, so small methods can learn
    model, tok = tiny_model(kind, seed=0, **({"initializer_range": 0.3} if kind == "causal" else {}))
    base_state = {n: p.detach().clone() for n, p in model.named_parameters()}
    model = methods.apply(method, model, opts, tokenizer=tok)
    return model, tok, base_state


def _logits(model, tok, kind):
    ids = tok(["Question: say cat twice. Answer:"], return_tensors="pt")["input_ids"]
    kw = {"decoder_input_ids": torch.tensor([[4, 5, 6]])} if kind == "seq2seq" else {}
    model.eval()
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids), **kw).logits


def _train(model, tok, kind, tmp_path, steps=30, lr=3e-2):
    ex = encode(toy_pairs(16), tok, kind, 64)
    cfg = TrainConfig(lr=lr, max_steps=steps, batch_size=8, warmup_ratio=0.0, schedule="constant",
                      precision="fp32", save_every=1000)
    return train(model, tok, kind, ex, [], cfg, tmp_path)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method,opts,trains,_", CASES, ids=IDS)
def test_trains_only_what_it_should(kind, method, opts, trains, _, tmp_path):
    model, tok, base = _setup(kind, method, opts)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(re.search(trains, n) for n in trainable), trainable
    report = methods.param_report(model)
    assert report.trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert 0 < report.percent <= 100
    _train(model, tok, kind, tmp_path, steps=3)
    now = dict(model.named_parameters())
    for n, p in now.items():
        orig = re.sub(r"^base_model\.model\.", "", n).replace(".base_layer.", ".")
        if not p.requires_grad and orig in base:
            assert torch.equal(p, base[orig]), f"frozen {n} changed"
    changed = [n for n, p in now.items() if p.requires_grad
               and not torch.equal(p, base.get(re.sub(r"^base_model\.model\.", "", n), torch.empty(0)))]
    assert changed, "no trainable tensor moved"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method,opts,_,unchanged", CASES, ids=IDS)
def test_starts_from_base_behaviour(kind, method, opts, _, unchanged):
    if not unchanged:
        pytest.skip("virtual tokens change the input by design")
    model, tok = tiny_model(kind, seed=0)
    before = _logits(model, tok, kind)
    after = _logits(methods.apply(method, model, opts, tokenizer=tok), tok, kind)
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method,opts,_,__", CASES, ids=IDS)
def test_loss_decreases_on_overfit_set(kind, method, opts, _, __, tmp_path):
    model, tok, _ = _setup(kind, method, opts)
    res = _train(model, tok, kind, tmp_path, steps=25, lr=5e-2)
    losses = [r["loss"] for r in res.history if "loss" in r]
    assert losses[-1] < 0.95 * losses[0], (losses[0], losses[-1])


def test_unknown_method_and_option_name_the_fix():
    from genlab.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown method 'lorra'"):
        methods.get("lorra")
    with pytest.raises(ConfigError, match="no option.*rank"):
        methods.make_config("lora", {"rank": 8})
    model, _ = tiny_model("causal")
    with pytest.raises(ConfigError, match="no biases"):
        methods.apply("selective", model, {"biases": True})


def test_adapter_switching_is_identity_when_inactive():
    from genlab.adapters import bottleneck

    model, tok = tiny_model("causal")
    base = _logits(model, tok, "causal")
    methods.apply("adapter", model, {"bottleneck": 4})
    with torch.no_grad():
        for n, p in model.named_parameters():
            if ".up." in n:
                p.normal_()
    assert not torch.allclose(_logits(model, tok, "causal"), base)
    bottleneck.set_active(model, None)
    torch.testing.assert_close(_logits(model, tok, "causal"), base, rtol=0, atol=0)
