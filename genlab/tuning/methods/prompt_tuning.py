"""``prompt-tuning``: trained soft-prompt embeddings (Lester et al. 2021, https://arxiv.org/abs/2104.08691), via peft.

``n`` virtual token embeddings P (n × d) are prepended to the input embeddings;
only P trains. Initialised from the embeddings of ``init_text`` (repeated to n
tokens) or at random.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genlab.errors import ConfigError
from genlab.tuning.methods import peft_task_type, register


@dataclass
class PromptTuningSettings:
    num_virtual_tokens: int = 20
    init_text: str | None = None  # e.g. "Summarize the conversation:"; None: random


@register("prompt-tuning", PromptTuningSettings)
def apply(model, cfg: PromptTuningSettings, tokenizer=None):
    """Soft prompt of virtual tokens (peft)."""
    from peft import PromptTuningConfig, PromptTuningInit, get_peft_model

    pc = PromptTuningConfig(task_type=peft_task_type(model), num_virtual_tokens=cfg.num_virtual_tokens,
                            prompt_tuning_init=PromptTuningInit.RANDOM)
    peft_model = get_peft_model(model, pc)
    if cfg.init_text:
        _init_from_text(peft_model, cfg, tokenizer)
    return peft_model


def _init_from_text(peft_model, cfg: PromptTuningSettings, tokenizer) -> None:
    if tokenizer is None:
        raise ConfigError("init_text needs the tokenizer", where="PromptTuningSettings.init_text",
                          hint="pass tokenizer= to methods.apply, or leave init_text unset for random init")
    ids = tokenizer(cfg.init_text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ConfigError("init_text tokenizes to nothing", where="PromptTuningSettings.init_text")
    table = peft_model.prompt_encoder[peft_model.active_adapter].embedding  # (n × submodules, d)
    n = table.weight.shape[0]  # seq2seq models keep one soft prompt per transformer submodule
    ids = (ids * (n // len(ids) + 1))[:n]
    emb = peft_model.get_input_embeddings()
    with torch.no_grad():
        table.weight.copy_(emb(torch.tensor(ids, device=emb.weight.device)).to(table.weight.dtype))
