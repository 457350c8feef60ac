"""Adapters at inference: save/load round trips, switching on one base, merge, wrong-base refusal."""

from __future__ import annotations

import json

import pytest
import torch

from genlab.adapters import load_adapter, merge, save_adapter, set_adapter
from genlab.errors import GenlabError
from genlab.models import load
from genlab.testing import tiny_model_dir
from genlab.tuning import TrainConfig, methods, train
from genlab.tuning.data import encode

from tuning_helpers import toy_pairs

PROMPT = "Question: say dog twice. Answer:"


def _logits(lm) -> torch.Tensor:
    ids = lm.tokenizer([PROMPT], return_tensors="pt")["input_ids"]
    kw = {"decoder_input_ids": torch.tensor([[4, 5, 6]])} if lm.kind == "seq2seq" else {}
    lm.model.eval()
    with torch.no_grad():
        return lm.model(input_ids=ids, attention_mask=torch.ones_like(ids), **kw).logits.float()


def _trained_adapter(model_dir, method, opts, out, seed=0):
    """Train briefly, save, and return (adapter path, logits of the trained model)."""
    lm = load(str(model_dir), precision="fp32")
    model = methods.apply(method, lm.model, opts, tokenizer=lm.tokenizer)
    ex = encode(toy_pairs(16, seed), lm.tokenizer, lm.kind, 64)
    train(model, lm.tokenizer, lm.kind, ex, [], TrainConfig(lr=5e-2, max_steps=4, batch_size=8, precision="fp32",
                                                            seed=seed), out / "run")
    lm.model = model
    path = save_adapter(model, out / "adapter", method=method, method_cfg=methods.make_config(method, opts),
                        base_name=lm.name, base_hash=lm.model_hash, base_kind=lm.kind, extra={"task": "toy"})
    return path, _logits(lm)


CASES = [("lora", {"r": 4}), ("adapter", {"bottleneck": 8}), ("selective", {"last_k": 1}), ("ia3", {}),
         ("prompt-tuning", {"num_virtual_tokens": 4})]


@pytest.mark.parametrize("method,opts", CASES, ids=[c[0] for c in CASES])
def test_save_load_switch_round_trip(method, opts, tiny_causal_dir, tmp_path):
    a, logits_a = _trained_adapter(tiny_causal_dir, method, opts, tmp_path / "a", seed=0)
    b, logits_b = _trained_adapter(tiny_causal_dir, method, opts, tmp_path / "b", seed=1)
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["method"] == method and manifest["base_model"]["hash"] and manifest["task"] == "toy"
    lm = load(str(tiny_causal_dir), precision="fp32")
    base = _logits(lm)
    load_adapter(lm, a, "a")
    load_adapter(lm, b, "b")
    assert lm.adapters == ["a", "b"]
    torch.testing.assert_close(_logits(lm), logits_b, rtol=1e-5, atol=1e-5)
    for name, want in [("a", logits_a), (None, base), ("b", logits_b), ("a", logits_a), (None, base)]:
        set_adapter(lm, name)
        torch.testing.assert_close(_logits(lm), want, rtol=1e-5, atol=1e-5, msg=f"adapter {name}")
    assert not torch.allclose(logits_a, logits_b)


def test_lora_adapter_is_small_and_merges_exactly(tiny_causal_dir, tmp_path):
    a, logits_a = _trained_adapter(tiny_causal_dir, "lora", {"r": 4}, tmp_path / "a")
    assert sum(f.stat().st_size for f in a.iterdir()) < 100_000
    out = merge(a, tmp_path / "merged", lm=load(str(tiny_causal_dir), precision="fp32"))
    merged = load(str(out), precision="fp32")
    assert type(merged.model).__name__ == "LlamaForCausalLM"
    torch.testing.assert_close(_logits(merged), logits_a, rtol=1e-5, atol=1e-5)


def test_merge_refuses_unmergeable_method(tiny_causal_dir, tmp_path):
    a, _ = _trained_adapter(tiny_causal_dir, "adapter", {"bottleneck": 4}, tmp_path / "a")
    with pytest.raises(GenlabError, match="cannot be folded"):
        merge(a, tmp_path / "merged", lm=load(str(tiny_causal_dir), precision="fp32"))


def test_wrong_base_is_refused(tiny_causal_dir, tmp_path):
    a, _ = _trained_adapter(tiny_causal_dir, "lora", {"r": 4}, tmp_path / "a")
    other = load(str(tiny_model_dir(tmp_path / "other", "causal", seed=1)), precision="fp32")
    with pytest.raises(GenlabError, match="refusing") as e:
        load_adapter(other, a)
    assert "manifest.json" in str(e.value) and "genlab.models.load" in str(e.value)


def test_seq2seq_lora_round_trip(tiny_seq2seq_dir, tmp_path):
    a, logits_a = _trained_adapter(tiny_seq2seq_dir, "lora", {"r": 4}, tmp_path / "a")
    lm = load(str(tiny_seq2seq_dir), precision="fp32")
    load_adapter(lm, a)
    torch.testing.assert_close(_logits(lm), logits_a, rtol=1e-5, atol=1e-5)
    merged = load(str(merge(a, tmp_path / "m", lm=load(str(tiny_seq2seq_dir), precision="fp32"))), precision="fp32")
    torch.testing.assert_close(_logits(merged), logits_a, rtol=1e-5, atol=1e-5)


def test_two_peft_types_on_one_base_is_a_clear_error(tiny_causal_dir, tmp_path):
    from adapter_helpers import nudged_adapter

    lora, _ = nudged_adapter(tiny_causal_dir, "lora", {"r": 4}, tmp_path / "lora")
    ia3, _ = nudged_adapter(tiny_causal_dir, "ia3", {}, tmp_path / "ia3")
    lm = load(str(tiny_causal_dir), precision="fp32")
    load_adapter(lm, lora)
    with pytest.raises(GenlabError, match="already holds LORA adapters; peft cannot add an adapter of type IA3") as e:
        load_adapter(lm, ia3)
    assert "second copy of the base" in str(e.value)
    assert lm.adapters == ["lora"]
