"""Alignment: preference data, feedback collection, reward models, PPO with a KL penalty, DPO/IPO, AI feedback.

PPO (imported on first use): ``ppo(model, prompts, reward, PPOConfig(...), out_dir)`` -> ``PPOResult``;
rewards ``KeywordReward``, ``ToxicityReward``, ``RewardModelReward``, ``reward_from_spec``.
"""

from genlab._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "ppo": "genlab.alignment.ppo",
    "PPOResult": "genlab.alignment.ppo",
    "PPOConfig": "genlab.alignment.ppo_config",
    "KeywordReward": "genlab.alignment.rewards",
    "ToxicityReward": "genlab.alignment.rewards",
    "RewardModelReward": "genlab.alignment.rewards",
    "reward_from_spec": "genlab.alignment.rewards",
})
