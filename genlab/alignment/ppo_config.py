"""``PPOConfig``: one typed source of truth for the PPO loop (Python, recipe YAML, CLI ``-o``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from genlab.errors import ConfigError
from genlab.fields import check_fields


LORA_OPTIONS = {"r": 16, "alpha": 32, "dropout": 0.0}  # the policy's LoRA unless options say otherwise


@dataclass
class PPOConfig:
    """Hyper-parameters of one PPO run; defaults follow Ziegler et al. (2019) and TRL's former PPOTrainer.

    ``kl_coef`` is β at the start; with ``target_kl`` set (nats per response) β adapts, else it stays
    fixed. ``kl_coef: 0`` turns the KL penalty off: the reward-hacking setting.
    """

    steps: int = 100  # PPO iterations: one batch of rollouts, then ppo_epochs passes over it
    batch_size: int = 16  # rollouts per step
    mini_batch_size: int = 8  # rollouts per gradient step
    ppo_epochs: int = 4
    lr: float = 1e-4
    kl_coef: float = 0.1  # β
    target_kl: float | None = 6.0  # nats per response; None: β fixed
    kl_horizon: int = 10000  # responses over which β may change by up to ±20% (adaptive only)
    gamma: float = 1.0
    lam: float = 0.95
    clip: float = 0.2  # ε of the clipped policy ratio
    clip_value: float = 0.2  # ε_v of the clipped value loss
    vf_coef: float = 0.1
    max_grad_norm: float | None = 1.0
    whiten_rewards: bool = False
    max_new_tokens: int = 32
    temperature: float = 1.0  # sampling temperature of the rollouts (top-k/p off: the logprobs are π's own)
    chat: bool = True  # wrap prompts in the model's chat template
    method: str = "lora"  # lora (reference = adapter disabled) or full (reference = frozen copy)
    options: dict[str, Any] | None = None  # the method's; None: LORA_OPTIONS for lora, none for full
    precision: str = "auto"
    seed: int = 0
    save_every: int = 10  # steps between checkpoints (and the last step)
    sample_every: int = 5  # steps between logged example completions
    kl_warn: float = 1.0  # nats per response token: above this, a warning names the lever

    def __post_init__(self) -> None:
        if self.options is None:
            self.options = dict(LORA_OPTIONS) if self.method == "lora" else {}
        self.validate()

    def validate(self) -> "PPOConfig":
        for name in ("steps", "batch_size", "mini_batch_size", "ppo_epochs", "max_new_tokens", "save_every",
                     "sample_every", "kl_horizon"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                _bad(name, getattr(self, name), "must be a whole number >= 1")
        if self.batch_size % self.mini_batch_size:
            _bad("mini_batch_size", self.mini_batch_size, f"must divide batch_size ({self.batch_size})")
        if not self.lr > 0:
            _bad("lr", self.lr, "must be > 0")
        if self.kl_coef < 0:
            _bad("kl_coef", self.kl_coef, "must be >= 0 (0 turns the KL penalty off)")
        if self.target_kl is not None and not self.target_kl > 0:
            _bad("target_kl", self.target_kl, "must be > 0, or unset for a fixed kl_coef")
        for name in ("gamma", "lam"):
            if not 0 <= getattr(self, name) <= 1:
                _bad(name, getattr(self, name), "must be in [0, 1]")
        for name in ("clip", "clip_value", "temperature", "kl_warn"):
            if not getattr(self, name) > 0:
                _bad(name, getattr(self, name), "must be > 0")
        if self.method not in ("lora", "full"):
            _bad("method", self.method, "must be lora or full")
        if self.precision not in ("auto", "bf16", "fp32"):
            _bad("precision", self.precision, "must be auto, bf16 or fp32")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            _bad("max_grad_norm", self.max_grad_norm, "must be > 0, or unset")
        return self

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "ppo config") -> "PPOConfig":
        return cls(**check_fields(cls, dict(d), where))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "PPOConfig":
        return dataclasses.replace(self, **changes)


def _bad(name: str, value: Any, why: str) -> None:
    raise ConfigError(f"{name}={value!r} {why}", where=f"PPOConfig.{name}")
