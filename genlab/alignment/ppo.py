"""RLHF with PPO and a KL penalty: one visible loop (Ziegler et al. 2019; Ouyang et al. 2022).

    for step in range(start, steps):
        rollout: sample one response per prompt (policy, seeded by step)      (B, R) tokens
                 log π, V, entropy under the policy; log π_ref with the adapter disabled
        score:   reward(prompts, completions) -> (B,)                         any callable
        shape:   r_t = −β(log π − log π_ref), + score on the last token; GAE -> advantages, returns
        update:  ppo_epochs × minibatches: clipped policy loss + vf_coef × clipped value loss
        β:       adaptive KL controller towards target_kl
        log:     reward, KL, β, entropy, clip fraction, value loss, response length, distinct-n, times
    Ctrl-C: the last finished step is checkpointed; ppo(..., resume=True) continues bit for bit
    (each step's sampling and minibatch order are seeded by (seed, step)).

    from genlab.alignment import ppo, PPOConfig, KeywordReward
    r = ppo("smollm2-135m-instruct", prompts, KeywordReward(["thank"]), PPOConfig(steps=40), "runs/ppo")
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from genlab.alignment.ppo_config import PPOConfig
from genlab.alignment.ppo_math import (KLController, gae, masked_mean, masked_whiten, per_token_rewards,
                                       policy_loss, value_loss)
from genlab.alignment.ppo_run import PPORun
from genlab.alignment.rewards import Reward
from genlab.alignment.rollout import Reference, ValueHead, decode, forward, sample
from genlab.alignment.textstats import distinct_n
from genlab.errors import ConfigError, GenlabError
from genlab.progress import Reporter, or_quiet
from genlab.runtime import fit_threads_to_load, resolve_precision, reuse_freed_memory
from genlab.tuning.checkpoint import interrupts_deferred


@dataclass
class PPOResult:
    out_dir: Path
    steps: int
    wall_s: float
    final: dict  # the last step's logged row
    adapter_path: Path | None = None
    history: list[dict] = field(default_factory=list, repr=False)


@dataclass
class Trainer:
    """What one PPO step needs besides the batch: models, optimizer, β, settings."""

    policy: torch.nn.Module
    value_head: ValueHead
    reference: Reference
    tokenizer: object
    reward: Reward
    kl: KLController
    opt: torch.optim.Optimizer
    params: list
    cfg: PPOConfig
    precision: str


def ppo(model, prompts: Sequence[str], reward: Reward, cfg: PPOConfig | None = None,
        out_dir: str | Path = "runs/ppo", *, resume: bool = False, overwrite: bool = False,
        reporter: Reporter | None = None, on_step: Callable[[dict], None] | None = None) -> PPOResult:
    """Align ``model`` (a name, a model folder, or a model loaded with ``genlab.load``) to ``reward``.

    The policy is ``model`` plus a fresh adapter of ``cfg.method`` (LoRA: the reference is the
    same weights with the adapter disabled). To start from a fine-tuned adapter, merge it first
    (``genlab merge``) so that both the start and the KL reference are the fine-tuned model.
    Writes config.json, metrics.jsonl, samples.jsonl, checkpoints/, adapter/, ppo_curves.png.
    """
    from genlab.generation import GenerationConfig, encode_prompts
    from genlab.models import as_loaded
    from genlab.tuning import methods

    cfg = cfg or PPOConfig()
    reporter = or_quiet(reporter)
    prompts = _check_prompts(prompts)
    reuse_freed_memory()
    fit_threads_to_load()
    lm = as_loaded(model, precision="fp32")  # fp32 master weights; the loop computes under bf16 autocast
    if lm.kind != "causal":
        raise ConfigError(f"PPO needs a decoder-only model; {lm.name} is {lm.kind}", where="model")
    precision = resolve_precision(cfg.precision, lm.device)
    # the rollouts sample with rollout.sample; the config only sizes the context-window check
    prompt_ids = encode_prompts(lm, prompts, GenerationConfig(max_new_tokens=cfg.max_new_tokens), chat=cfg.chat)
    torch.manual_seed(cfg.seed)  # LoRA A and the value head start from the seed
    policy = methods.apply(cfg.method, lm.model, dict(cfg.options), tokenizer=lm.tokenizer)
    policy.eval()  # no dropout: the ratio π/π_old must be 1 before the first update
    value_head = ValueHead(policy.config.hidden_size).to(lm.device)
    params = [p for p in policy.parameters() if p.requires_grad] + list(value_head.parameters())
    t = Trainer(policy, value_head, Reference(policy), lm.tokenizer, reward,
                KLController(cfg.kl_coef, cfg.target_kl, cfg.kl_horizon), torch.optim.AdamW(params, lr=cfg.lr),
                params, cfg, precision)
    run = PPORun(cfg, Path(out_dir), lm, reward, len(prompts))
    state = run.restore(t) if resume else run.fresh(overwrite=overwrite)
    reporter.status(f"ppo: {methods.param_report(policy)}; reward {reward.name}; β={t.kl.value:g}")
    with reporter.task("ppo", total=cfg.steps) as advance, speedups(t), run.checkpoint_on_interrupt(t):
        advance(state["step"])
        for step in range(state["step"], cfg.steps):
            batch = run.batch_indices(step)
            ex = experience(t, [prompts[i] for i in batch], [prompt_ids[i] for i in batch], step)
            with interrupts_deferred():  # Ctrl-C waits for the update and its bookkeeping, then checkpoints
                row = learn(t, ex, step)
                state = run.after_step(t, state, step + 1, row)
            advance(1)
            if on_step:
                on_step(row)
    return run.finish(t, state)


@contextlib.contextmanager
def speedups(t: Trainer):
    """For the run: frozen base weights held in bf16 (under bf16 autocast: the values autocast would use) and
    packed for oneDNN, forward and input gradient (bit-identical results); and the model's own eager attention,
    its scores recomputed in the backward, instead of SDPA, whose CPU backward is slow on rollout-length
    sequences (1.34 vs 1.66 s per minibatch step of 8 on the embedded model; values differ by rounding only).
    Policy and a full-method reference copy use the same attention, so KL(π‖π_ref) is 0 where they agree."""
    from genlab.generation.packed import packed_frozen_linears
    from genlab.tuning.attention import recomputed_eager
    from genlab.tuning.loop import frozen_linears_in_bf16

    with contextlib.ExitStack() as stack:
        stack.enter_context(frozen_linears_in_bf16(t.policy, t.precision))
        stack.enter_context(packed_frozen_linears(t.policy, backward=True))
        for model in t.reference.models(t.policy):
            stack.enter_context(recomputed_eager(model))
        yield


@dataclass
class Experience:
    """One batch of rollouts with everything the update needs (tensors (B, R) unless noted)."""

    roll: object  # rollout.Rollout
    prompts: list[str]
    completions: list[str]
    scores: list[float]  # (B,)
    logprobs: torch.Tensor
    ref_logprobs: torch.Tensor
    values: torch.Tensor
    entropy: torch.Tensor
    times: dict[str, float]


def experience(t: Trainer, prompts: list[str], prompt_ids: list[list[int]], step: int) -> Experience:
    """Rollout and scoring: sample, log-probs under policy and reference, values, the reward's scores."""
    cfg = t.cfg
    torch.manual_seed(cfg.seed * 1_000_003 + step)  # sampling and minibatch order: a function of the step
    t0 = time.perf_counter()
    roll = sample(t.policy, t.tokenizer, prompt_ids, cfg.max_new_tokens, cfg.temperature, t.precision)
    completions = decode(t.tokenizer, roll)
    t1 = time.perf_counter()
    with torch.no_grad():
        old = forward(t.policy, roll, t.precision, t.value_head, with_entropy=True, temperature=cfg.temperature)
        with t.reference.model(t.policy) as ref_model:
            ref_logprobs = forward(ref_model, roll, t.precision, temperature=cfg.temperature)["logprobs"]
    t2 = time.perf_counter()
    scores = score(t.reward, prompts, completions, step + 1)
    times = {"generate_s": t1 - t0, "logprobs_s": t2 - t1, "reward_s": time.perf_counter() - t2}
    return Experience(roll, prompts, completions, scores, old["logprobs"], ref_logprobs, old["values"],
                      old["entropy"], times)


def learn(t: Trainer, ex: Experience, step: int) -> dict:
    """KL-shaped rewards, GAE, the PPO epochs, then β; returns the row logged for the step."""
    cfg = t.cfg
    t0 = time.perf_counter()
    mask = ex.roll.response_mask.float()
    rewards, kl = per_token_rewards(torch.tensor(ex.scores), ex.logprobs, ex.ref_logprobs, mask, t.kl.value)
    if cfg.whiten_rewards:
        rewards = masked_whiten(rewards, mask, shift_mean=False)
    advantages, returns = gae(rewards, ex.values, mask, cfg.gamma, cfg.lam)
    advantages = masked_whiten(advantages, mask)
    logs = update(t, ex.roll, ex.logprobs, ex.values, advantages, returns, mask, step + 1)
    kl_seq = float(kl.sum(1).mean())
    beta = t.kl.value
    t.kl.update(kl_seq, len(ex.scores))
    lengths = ex.roll.lengths()
    times = {**ex.times, "update_s": time.perf_counter() - t0}
    return {"step": step + 1, "reward": _mean(ex.scores), "reward_std": float(torch.tensor(ex.scores).std()),
            "kl": kl_seq, "kl_per_token": float(masked_mean(kl, mask)), "kl_coef": beta,
            "non_score_reward": float((-beta * kl).sum(1).mean()),
            "entropy": float(masked_mean(ex.entropy, mask)), **logs,
            "response_len": _mean(lengths), "distinct_1": distinct_n(ex.completions, 1),
            "distinct_2": distinct_n(ex.completions, 2), "tokens": int(sum(lengths)),
            **{k: round(v, 3) for k, v in times.items()},
            "_examples": list(zip(ex.prompts, ex.completions, ex.scores))}


def update(t: Trainer, roll, old_logprobs, old_values, advantages, returns, mask, step: int) -> dict:
    """``ppo_epochs`` passes of minibatch gradient steps on one batch of rollouts; mean logs."""
    cfg = t.cfg
    n = len(roll.response)
    rows: list[dict] = []
    for _ in range(cfg.ppo_epochs):
        perm = torch.randperm(n)
        for k in range(0, n, cfg.mini_batch_size):
            idx = perm[k:k + cfg.mini_batch_size]
            sub, r = roll.compact(idx)
            m = mask[idx, :r]
            out = forward(t.policy, sub, t.precision, t.value_head, temperature=cfg.temperature)
            pg, pg_logs = policy_loss(out["logprobs"], old_logprobs[idx, :r], advantages[idx, :r], m, cfg.clip)
            vf, vf_logs = value_loss(out["values"], old_values[idx, :r], returns[idx, :r], m, cfg.clip_value)
            loss = pg + cfg.vf_coef * vf
            if not torch.isfinite(loss):
                raise GenlabError(f"PPO loss is {loss.item()} at step {step}; stopping", where=f"step {step}",
                                  hint=f"likely causes: lr too high (lr={cfg.lr:g}: try 10x lower), rewards "
                                       "far from 1 in scale (set whiten_rewards: true), or fp16 overflow")
            loss.backward()
            if cfg.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(t.params, cfg.max_grad_norm)
            t.opt.step()
            t.opt.zero_grad(set_to_none=True)
            rows.append({"policy_loss": pg.item(), "value_loss": vf.item(), **pg_logs, **vf_logs})
    return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}


def score(reward: Reward, prompts: list[str], completions: list[str], step: int) -> list[float]:
    """The reward's scores, checked: one finite number per completion, else stop naming step and causes."""
    try:
        values = [float(v) for v in reward(prompts, completions)]
    except (TypeError, ValueError) as e:
        raise GenlabError(f"reward {reward.name} did not return numbers at step {step}: {e}",
                          where=f"step {step}") from None
    if len(values) != len(completions):
        raise GenlabError(f"reward {reward.name} returned {len(values)} scores for {len(completions)} completions",
                          where=f"step {step}", hint="return one score per completion, in order")
    bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
    if bad:
        i = bad[0]
        raise GenlabError(
            f"reward {reward.name} returned {len(bad)} non-finite score(s) (e.g. {values[i]}) at step {step}; stopping",
            where=f"step {step}",
            hint=f"for completion {completions[i]!r} of prompt {prompts[i][:60]!r}. Likely causes: a reward "
                 "model run in fp16 that overflowed (use bf16/fp32), an empty completion the reward divides "
                 "by, or a reward function that returns NaN for text it cannot parse")
    return values


def warn_if_kl_runs_away(row: dict, cfg: PPOConfig) -> bool:
    """A warning (once per run; the caller remembers) naming the lever when KL per token passes ``kl_warn``."""
    if row["kl_per_token"] <= cfg.kl_warn:
        return False
    what = (f"KL to the reference is {row['kl_per_token']:.2f} nats per response token at step {row['step']} "
            f"(warning threshold kl_warn={cfg.kl_warn:g})")
    if row["kl_coef"] == 0:
        lever = "the KL penalty is off (kl_coef=0), so nothing holds the policy near the reference: set kl_coef > 0"
    else:
        lever = (f"raise kl_coef (now {row['kl_coef']:.3g}) or lower target_kl "
                 f"(now {cfg.target_kl}), or lower lr (now {cfg.lr:g})")
    warnings.warn(f"{what}: the policy is drifting from the reference (reward hacking?); {lever}", stacklevel=4)
    return True


def _check_prompts(prompts: Sequence[str]) -> list[str]:
    prompts = list(prompts)
    if not prompts:
        raise ConfigError("no prompts to run PPO on", where="prompts", hint="pass a list of prompt strings")
    for i, p in enumerate(prompts):
        if not isinstance(p, str) or not p.strip():
            raise ConfigError(f"prompt {i + 1} is empty or not text", where=f"prompts[{i}]")
    return prompts


def _mean(xs) -> float:
    return float(sum(xs) / max(len(xs), 1))
