"""PPO's arithmetic on (B, T) response tensors: KL-shaped rewards, GAE, the clipped losses, the KL controller.

Notation (Ziegler et al. 2019, https://arxiv.org/abs/1909.08593; Schulman et al. 2017, PPO):

    r_t   = −β · (log π(y_t|x,y<t) − log π_ref(y_t|x,y<t))   (+ the reward score on the last token)
    δ_t   = r_t + γ V_{t+1} − V_t                              (V after the last token is 0)
    A_t   = δ_t + γλ A_{t+1}                                   (generalized advantage estimation)
    R_t   = A_t + V_t                                          (value targets)
    L^CLIP = E[max(−A ρ, −A clip(ρ, 1−ε, 1+ε))],  ρ = π/π_old
    L^V    = ½ E[max((V − R)², (clip(V, V_old ± ε_v) − R)²)]

Every tensor is (B, T): B responses, T response positions; ``mask`` is 1 on real tokens
(up to and including the end-of-sequence token) and 0 on the padding after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """(x − mean) / std over the masked entries; ``shift_mean=False`` keeps the mean (scale only)."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    return (out if shift_mean else out + mean) * mask


def per_token_rewards(scores: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor,
                      mask: torch.Tensor, kl_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``r_t = −β·kl_t`` on every response token, plus ``scores`` (B,) on each row's last real token.

    Returns (rewards, kl), both (B, T); kl_t = log π − log π_ref (zero where the policy is the reference).
    """
    kl = (logprobs - ref_logprobs) * mask
    rewards = -kl_coef * kl
    last = (mask.sum(1).long() - 1).clamp(min=0)  # (B,) index of the last real token
    rewards[torch.arange(len(scores)), last] += scores.to(rewards.dtype)
    return rewards * mask, kl


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation (Schulman et al. 2016) backwards over T; returns (advantages, returns).

    Padding after a row's last token counts as terminal: V there is 0 and it adds no reward.
    """
    values = values * mask
    rewards = rewards * mask
    advantages = torch.zeros_like(rewards)
    next_adv = torch.zeros_like(rewards[:, 0])
    next_value = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        next_adv = (delta + gamma * lam * next_adv) * mask[:, t]
        next_value = values[:, t]
        advantages[:, t] = next_adv
    return advantages, (advantages + values) * mask


def policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                mask: torch.Tensor, clip: float) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped surrogate; logs the clip fraction and the approximate KL to the rollout policy."""
    log_ratio = (logprobs - old_logprobs) * mask
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        clip_frac = masked_mean((clipped > unclipped).float(), mask)
        approx_kl = masked_mean(0.5 * log_ratio ** 2, mask)
    return loss, {"clip_frac": float(clip_frac), "approx_kl": float(approx_kl)}


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip: float) -> tuple[torch.Tensor, dict[str, float]]:
    clipped_values = old_values + torch.clamp(values - old_values, -clip, clip)
    losses = torch.maximum((values - returns) ** 2, (clipped_values - returns) ** 2)
    loss = 0.5 * masked_mean(losses, mask)
    with torch.no_grad():
        vf_clip = masked_mean(((clipped_values - returns) ** 2 > (values - returns) ** 2).float(), mask)
    return loss, {"value_clip_frac": float(vf_clip)}


def entropy_from_logits(logits: torch.Tensor, lse: torch.Tensor | None = None) -> torch.Tensor:
    """H(softmax(z)) per position: logsumexp(z) − Σ p z, with p = exp(z − logsumexp(z)). (B, T, V) -> (B, T).
    ``lse``: logsumexp(z) when the caller has it already."""
    logits = logits.float()
    lse = torch.logsumexp(logits, dim=-1) if lse is None else lse
    return lse - (torch.exp(logits - lse.unsqueeze(-1)) * logits).sum(-1)


def logprobs_from_logits(logits: torch.Tensor, tokens: torch.Tensor, lse: torch.Tensor | None = None) -> torch.Tensor:
    """log softmax(z)[y] per position, in fp32. (B, T, V), (B, T) -> (B, T). ``lse``: logsumexp(z) if known.

    With a gradient, one autograd node whose backward writes dz = g·(onehot(y) − softmax(z)) in a single
    pass over the vocabulary, where autograd's own graph (gather, logsumexp, the fp32 copy) zero-fills,
    subtracts, exponentiates and adds (B, T, V) tensors several times: ~0.25 s of each PPO minibatch
    step on the embedded model's 49k vocabulary. The forward is the same arithmetic either way."""
    if torch.is_grad_enabled() and logits.requires_grad and lse is None:
        return _TokenLogprob.apply(logits, tokens)
    logits = logits.float()
    lse = torch.logsumexp(logits, dim=-1) if lse is None else lse
    return torch.gather(logits, 2, tokens.unsqueeze(-1)).squeeze(-1) - lse


class _TokenLogprob(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, tokens):
        z = logits.float()
        lse = torch.logsumexp(z, dim=-1)
        ctx.save_for_backward(logits, tokens, lse)
        return torch.gather(z, 2, tokens.unsqueeze(-1)).squeeze(-1) - lse

    @staticmethod
    def backward(ctx, g):
        logits, tokens, lse = ctx.saved_tensors
        dz = (logits.float() - lse.unsqueeze(-1)).exp_().mul_(-g.unsqueeze(-1))  # −g·softmax(z), a new tensor
        dz.scatter_add_(2, tokens.unsqueeze(-1), g.unsqueeze(-1))
        return dz.to(logits.dtype), None


@dataclass
class KLController:
    """β, the KL coefficient. Fixed when ``target`` is None; else adaptive (Ziegler et al. 2019, §2.2):

        e = clip(KL / target − 1, −0.2, 0.2);   β ← β · (1 + e · n / horizon)

    with KL the mean per-response KL of the last batch and n its number of responses: β grows
    while the policy drifts further than ``target`` nats, shrinks while it stays closer.
    """

    value: float
    target: float | None = None
    horizon: int = 10000

    def update(self, kl: float, n: int) -> float:
        if self.target is not None and self.value > 0:
            error = min(max(kl / self.target - 1.0, -0.2), 0.2)
            self.value *= 1.0 + error * n / self.horizon
        return self.value

    def state_dict(self) -> dict:
        return {"value": self.value, "target": self.target, "horizon": self.horizon}

    def load_state_dict(self, state: dict) -> None:
        self.value, self.target, self.horizon = state["value"], state["target"], state["horizon"]
