"""Generation: a typed config and batched, chat-aware generation."""

from genlab.generation.config import GenerationConfig
from genlab.generation.generate import Generation, apply_chat, encode_prompts, generate

__all__ = ["GenerationConfig", "Generation", "apply_chat", "encode_prompts", "generate"]
