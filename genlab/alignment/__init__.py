"""Alignment: preference data, feedback collection, reward models, PPO with a KL penalty, DPO/IPO, AI feedback."""
