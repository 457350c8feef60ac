"""peft interop both ways, on a tiny random Llama: plain peft folders load in genlab, genlab's load in peft."""

from __future__ import annotations

import json

import pytest
import torch

from adapter_helpers import PROMPT, logits, nudged_adapter
from genlab.adapters import load_adapter, loaded_adapters, set_adapter
from genlab.models import load


def _raw_logits(model, tokenizer) -> torch.Tensor:
    ids = tokenizer([PROMPT], return_tensors="pt")["input_ids"]
    model.eval()
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.float()


def _peft_config(kind: str):
    from peft import IA3Config, LoraConfig, PromptTuningConfig

    return {"lora": LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
            "ia3": IA3Config(target_modules=["k_proj", "v_proj", "down_proj"], feedforward_modules=["down_proj"],
                             task_type="CAUSAL_LM"),
            "prompt-tuning": PromptTuningConfig(num_virtual_tokens=4, task_type="CAUSAL_LM")}[kind]


@pytest.mark.parametrize("kind", ["lora", "ia3", "prompt-tuning"])
def test_plain_peft_folder_loads_in_genlab(kind, tiny_causal_dir, tmp_path):
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(tiny_causal_dir))
    peft_model = get_peft_model(base, _peft_config(kind))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # away from the identity init, so a load that drops tensors shows
        for p in peft_model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=gen) * 0.5)
    peft_model.save_pretrained(str(tmp_path / "plain"))
    assert not (tmp_path / "plain" / "manifest.json").exists()
    lm = load(str(tiny_causal_dir), precision="fp32")
    want = _raw_logits(peft_model, lm.tokenizer)
    base_logits = logits(lm)
    assert not torch.allclose(want[:, -1], base_logits[:, -1], atol=1e-3)  # soft prompts add positions

    load_adapter(lm, tmp_path / "plain", "plain")
    torch.testing.assert_close(logits(lm), want, rtol=1e-5, atol=1e-5)
    (info,) = loaded_adapters(lm)
    assert (info.method, info.path, info.task) == (kind, str(tmp_path / "plain"), None)
    assert info.base == str(tiny_causal_dir)  # peft's base_model_name_or_path
    set_adapter(lm, None)
    torch.testing.assert_close(logits(lm), base_logits, rtol=0, atol=0)


@pytest.mark.parametrize("method,opts", [("lora", {"r": 4}), ("ia3", {}), ("prompt-tuning", {"num_virtual_tokens": 4})])
def test_genlab_adapter_loads_in_plain_peft(method, opts, tiny_causal_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    path, trained = nudged_adapter(tiny_causal_dir, method, opts, tmp_path / "a")
    assert json.loads((path / "manifest.json").read_text())["method"] == method
    lm = load(str(tiny_causal_dir), precision="fp32")
    load_adapter(lm, path)
    ours = logits(lm)
    torch.testing.assert_close(ours, trained, rtol=1e-5, atol=1e-5)

    base = AutoModelForCausalLM.from_pretrained(str(tiny_causal_dir))
    theirs = _raw_logits(PeftModel.from_pretrained(base, str(path)), lm.tokenizer)
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(theirs[:, -1], logits(load(str(tiny_causal_dir), precision="fp32"))[:, -1], atol=1e-3)


def test_plain_peft_lora_merges_into_a_standalone_model(tiny_causal_dir, tmp_path):
    from peft import get_peft_model

    from genlab.adapters import merge

    lm = load(str(tiny_causal_dir), precision="fp32")
    peft_model = get_peft_model(lm.model, _peft_config("lora"))
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    peft_model.save_pretrained(str(tmp_path / "plain"))
    want = _raw_logits(peft_model, lm.tokenizer)
    merged = load(str(merge(tmp_path / "plain", tmp_path / "merged")), precision="fp32")  # base found by peft's base_model_name_or_path
    assert type(merged.model).__name__ == "LlamaForCausalLM"
    torch.testing.assert_close(logits(merged), want, rtol=1e-5, atol=1e-5)
