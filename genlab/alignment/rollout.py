"""Rollouts: sample responses with the policy, then score every response token under policy, reference and value head.

A batch is one tensor of ``[left-padded prompt | response + right padding]`` rows, so the response
occupies the last R positions of every row and the logits that predict it are the R positions
before: the LM head runs only there (``logits_to_keep``), not over the prompt.

The reference model of a LoRA (or any peft) policy is the same module with its adapter disabled
(peft ``disable_adapter()``): no second copy of the weights. A fully fine-tuned policy keeps a
frozen copy of its starting weights instead.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Sequence

import torch

from genlab.alignment.ppo_math import entropy_from_logits, logprobs_from_logits
from genlab.runtime import autocast


@dataclass
class Rollout:
    """Token ids of one batch: queries (B, P) padded on the left, responses (B, R) padded on the right."""

    query: torch.Tensor
    query_mask: torch.Tensor
    response: torch.Tensor
    response_mask: torch.Tensor  # 1 up to and including the end-of-sequence token

    @property
    def input_ids(self) -> torch.Tensor:
        return torch.cat([self.query, self.response], dim=1)

    @property
    def attention_mask(self) -> torch.Tensor:
        return torch.cat([self.query_mask, self.response_mask], dim=1)

    def rows(self, idx: torch.Tensor) -> "Rollout":
        return Rollout(self.query[idx], self.query_mask[idx], self.response[idx], self.response_mask[idx])

    def compact(self, idx: torch.Tensor) -> tuple["Rollout", int]:
        """Rows ``idx`` without the columns that are padding in all of them; returns (rollout, R kept).

        Prompt columns go from the left, response columns from the right, so response position t
        stays position t (the first R columns of the per-token tensors still line up)."""
        sub = self.rows(idx)
        q0 = int((sub.query_mask.sum(0) > 0).nonzero()[0]) if sub.query_mask.any() else 0
        r = max(1, int(sub.response_mask.sum(1).max()))
        return Rollout(sub.query[:, q0:], sub.query_mask[:, q0:], sub.response[:, :r], sub.response_mask[:, :r]), r

    def lengths(self) -> list[int]:
        return [int(n) for n in self.response_mask.sum(1)]


class ValueHead(torch.nn.Module):
    """V(s_t) = w·h_t + b on the policy's last hidden state (the trunk is shared with the policy)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = torch.nn.Linear(hidden_size, 1)
        torch.nn.init.zeros_(self.linear.weight)  # V = 0 at the start: the first advantages are the rewards
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden.to(self.linear.weight.dtype)).squeeze(-1)


def is_peft(model) -> bool:
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


class Reference:
    """log π_ref: the policy with its adapter disabled (peft), or a frozen copy of the starting model."""

    def __init__(self, policy):
        self._copy = None if is_peft(policy) else copy.deepcopy(policy).eval().requires_grad_(False)

    @contextlib.contextmanager
    def model(self, policy):
        if self._copy is not None:
            yield self._copy
        else:
            with policy.disable_adapter():
                yield policy


def pad_prompts(rows: Sequence[Sequence[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r):] = 1
    return ids.to(device), mask.to(device)


def response_mask(response: torch.Tensor, eos_id: int | None) -> torch.Tensor:
    """1 up to and including each row's first end-of-sequence token; rows without one are all real."""
    if eos_id is None:
        return torch.ones_like(response)
    is_eos = (response == eos_id).long()
    after_eos = (is_eos.cumsum(1) - is_eos) > 0  # strictly after the first EOS
    return (~after_eos).long()


@torch.no_grad()
def sample(model, tokenizer, prompt_ids: Sequence[Sequence[int]], hf_config, precision: str) -> Rollout:
    """One response per prompt, sampled by ``model.generate`` under the run's autocast."""
    device = next(model.parameters()).device
    query, query_mask = pad_prompts(prompt_ids, tokenizer.pad_token_id, device)
    with autocast(precision, device):
        out = model.generate(input_ids=query, attention_mask=query_mask, generation_config=hf_config)
    response = out[:, query.shape[1]:]
    if response.shape[1] == 0:  # every row ended at once: keep one (EOS) position so shapes stay valid
        response = torch.full((len(prompt_ids), 1), tokenizer.eos_token_id, dtype=torch.long, device=device)
    mask = response_mask(response, tokenizer.eos_token_id)
    response = response.masked_fill(mask == 0, tokenizer.pad_token_id)
    return Rollout(query, query_mask, response, mask)


def forward(model, roll: Rollout, precision: str, value_head: ValueHead | None = None,
            with_entropy: bool = False, temperature: float = 1.0) -> dict[str, torch.Tensor]:
    """Per response token: ``logprobs`` (B, R) of softmax(z / temperature), the distribution the
    rollout sampled from, and ``values`` / ``entropy`` (B, R) when asked."""
    ids, mask = roll.input_ids, roll.attention_mask
    position_ids = (mask.cumsum(1) - 1).clamp(min=0)  # what generate used for the left-padded rows
    r = roll.response.shape[1]
    device = ids.device
    with autocast(precision, device):
        out = model(input_ids=ids, attention_mask=mask, position_ids=position_ids, logits_to_keep=r + 1,
                    output_hidden_states=value_head is not None, use_cache=False)
    logits = out.logits[:, :-1]  # (B, R, V): position P-1+t predicts response token t
    if temperature != 1.0:
        logits = logits / temperature
    result = {"logprobs": logprobs_from_logits(logits, roll.response)}
    if value_head is not None:
        hidden = out.hidden_states[-1][:, -r - 1:-1]  # (B, R, H): the state before each response token
        result["values"] = value_head(hidden.float())
    if with_entropy:
        with torch.no_grad():
            result["entropy"] = entropy_from_logits(logits)
    return result


def decode(tokenizer, roll: Rollout) -> list[str]:
    return [tokenizer.decode(row[m.bool()], skip_special_tokens=True)
            for row, m in zip(roll.response, roll.response_mask)]
