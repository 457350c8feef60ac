"""Chat wrapping: put a rendered prompt inside the model's own chat template."""

from __future__ import annotations

from genlab.errors import ConfigError


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def wrap_chat(tokenizer, text: str, *, system: str | None = None) -> str:
    """``text`` as one user turn, ending where the assistant's answer begins.

    An instruct model answers far better inside the format it was tuned on; the
    generation prompt makes the continuation the assistant's reply.
    """
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    return chat_prompt(tokenizer, messages)


def chat_prompt(tokenizer, messages: list[dict[str, str]]) -> str:
    """``messages`` (earlier turns included) in the chat template, ending where the assistant answers."""
    if not has_chat_template(tokenizer):
        raise ConfigError("this tokenizer has no chat template, so chat format is unavailable",
                          hint="turn chat off (chat: false / --no-chat) for base models, or use an instruct "
                               "model such as smollm2-135m-instruct")
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def transcript(turns: list[dict[str, str]]) -> str:
    """``turns`` as plain text for a model without a chat template: ``User: ...`` blocks, ending where the
    assistant answers."""
    return "".join(f"{t['role'].capitalize()}: {t['content']}\n\n" for t in turns) + "Assistant:"
