"""Adapters made without training: a method applied to a tiny model, its trainable tensors nudged, saved."""

from __future__ import annotations

import torch

PROMPT = "Question: say dog twice. Answer:"


def logits(lm, prompt: str = PROMPT) -> torch.Tensor:
    ids = lm.tokenizer([prompt], return_tensors="pt")["input_ids"]
    kw = {"decoder_input_ids": torch.tensor([[4, 5, 6]])} if lm.kind == "seq2seq" else {}
    lm.model.eval()
    with torch.no_grad():
        return lm.model(input_ids=ids, attention_mask=torch.ones_like(ids), **kw).logits.float()


def nudged_adapter(model_dir, method: str, opts: dict, out, seed: int = 0, scale: float = 0.5):
    """Apply ``method``, add seeded noise to what it would train, save; returns (path, logits with it on)."""
    from genlab.adapters import save_adapter
    from genlab.models import load
    from genlab.tuning import methods

    lm = load(str(model_dir), precision="fp32")
    torch.manual_seed(seed)  # the method's own initialization (LoRA A, adapter weights) draws from the global RNG:
    lm.model = methods.apply(method, lm.model, opts, tokenizer=lm.tokenizer)  # seeded, not left to earlier tests
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in lm.model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=gen) * scale)
    path = save_adapter(lm.model, out, method=method, method_cfg=methods.make_config(method, opts),
                        base_name=lm.name, base_hash=lm.model_hash, base_kind=lm.kind, extra={"task": "toy"})
    return path, logits(lm)
