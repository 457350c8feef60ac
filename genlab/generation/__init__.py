"""Generation: a typed config and batched, chat-aware generation.

Public API (imported on first use):

- ``GenerationConfig`` — how to turn logits into text (greedy, temperature, top-k, top-p, stops).
- ``generate(lm_or_name, prompts, config, chat=...)`` — batched generation; returns ``Generation`` objects.
- ``Generation`` — one prompt's texts, token counts and finish reasons (``"stop"`` or ``"length"``).
- ``encode_prompts`` — the context-window check used by ``generate``; ``apply_chat`` is
  ``genlab.prompts.wrap_chat`` (one chat wrapper), kept under the name callers know.
"""

from genlab._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "GenerationConfig": "genlab.generation.config",
    "Generation": "genlab.generation.generate",
    "apply_chat": "genlab.generation.generate",  # = genlab.prompts.wrap_chat
    "encode_prompts": "genlab.generation.generate",
    "generate": "genlab.generation.generate",
})
