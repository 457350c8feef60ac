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
from genlab.generation.kv_room import with_room
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

    def models(self, policy) -> list:
        """The modules that compute: the policy, and the frozen copy if there is one."""
        return [policy] if self._copy is None else [policy, self._copy]

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
def sample(model, tokenizer, prompt_ids: Sequence[Sequence[int]], max_new_tokens: int, temperature: float,
           precision: str) -> Rollout:
    """One response per prompt drawn from softmax(z / temperature) over the whole vocabulary, under the run's
    autocast, with a KV cache; stops when every row has ended (EOS) or at ``max_new_tokens``.

    A loop of its own rather than ``model.generate``: the same distribution, drawn by inverting the CDF
    with one uniform per row (torch.multinomial spends ~18 ms a step on 16 x 49k exponentials here),
    and without generate's per-step processors and stopping checks."""
    device = next(model.parameters()).device
    query, query_mask = pad_prompts(prompt_ids, tokenizer.pad_token_id, device)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    mask = query_mask
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    ended = torch.zeros(len(prompt_ids), dtype=torch.bool, device=device)
    inputs = dict(input_ids=query, attention_mask=mask, position_ids=positions)
    cache, tokens = None, []
    with autocast(precision, device):
        for t in range(max_new_tokens):
            out = model(**inputs, cache=cache, use_cache=True, logits_to_keep=1)
            cache = out.cache if cache is not None else with_room(out.cache)  # steps write in place
            token = draw(out.logits[:, -1].float() / temperature).masked_fill(ended, pad)
            tokens.append(token)
            if eos is not None:
                ended |= token == eos
            if bool(ended.all()) or t == max_new_tokens - 1:
                break
            positions = positions[:, -1:] + 1
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            inputs = dict(input_ids=token[:, None], attention_mask=mask, position_ids=positions)
    response = torch.stack(tokens, dim=1)
    rmask = response_mask(response, eos)
    return Rollout(query, query_mask, response.masked_fill(rmask == 0, pad), rmask)


def draw(logits: torch.Tensor) -> torch.Tensor:
    """One token per row from softmax(logits): the first index whose cumulative probability passes u ~ U(0, 1)."""
    cdf = torch.softmax(logits, dim=-1).cumsum(-1)
    u = torch.rand(len(cdf), 1, device=cdf.device) * cdf[:, -1:]  # scaled to the row's total: fp32 sums ~1
    return torch.searchsorted(cdf, u, right=True).squeeze(1).clamp(max=cdf.shape[-1] - 1)


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
    if with_entropy:  # log-probs and entropy from one logsumexp
        with torch.no_grad():
            z = logits.float()
            lse = torch.logsumexp(z, dim=-1)
            result = {"logprobs": logprobs_from_logits(z, roll.response, lse),
                      "entropy": entropy_from_logits(z, lse)}
    else:
        result = {"logprobs": logprobs_from_logits(logits, roll.response)}
    if value_head is not None:
        hidden = out.hidden_states[-1][:, -r - 1:-1]  # (B, R, H): the state before each response token
        result["values"] = value_head(hidden.float())
    return result


def decode(tokenizer, roll: Rollout) -> list[str]:
    return [tokenizer.decode(row[m.bool()], skip_special_tokens=True)
            for row, m in zip(roll.response, roll.response_mask)]
