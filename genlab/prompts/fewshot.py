"""Zero-, one- and few-shot prompts, fitted to the model's context window.

Shots come from a pool the caller passes, which the task layer always takes
from the *train* split: drawing demonstrations from the split being evaluated
leaks answers. When the prompt is too long for the window we either drop shots
(``fit="drop"``) or shorten the longest field of the shots (``fit="truncate"``);
the question and the target are never cut. If the question alone does not fit,
that is an error the user must see, not a silently truncated prompt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

from genlab.errors import ConfigError, GenlabError
from genlab.prompts.chat import chat_prompt, transcript, wrap_chat

Render = Callable[[dict], tuple[str, str]]
FIT_POLICIES = ("drop", "truncate")
MIN_FIELD_TOKENS = 16  # below this a truncated demonstration stops being useful; drop it instead


@dataclass
class FewShotConfig:
    """How demonstrations are laid out (all configurable from task YAML)."""

    instruction: str = ""
    separator: str = "\n\n"  # between demonstrations
    target_prefix: str = "\n"  # between an input and its target
    fit: str = "drop"
    multiturn: bool = False  # chat models: each demonstration as a user turn + an assistant turn

    def __post_init__(self):
        if self.fit not in FIT_POLICIES:
            raise ConfigError(f"fit must be one of {', '.join(FIT_POLICIES)}, not {self.fit!r}")


@dataclass
class BuiltPrompt:
    prompt: str
    target: str
    shots_requested: int
    shots_used: int
    truncated: list[str] = field(default_factory=list)  # "shot 2: dialogue 310 -> 120 tokens"
    n_tokens: int | None = None


def select_shots(pool: list[dict], k: int, *, seed: int, doc_id: int, exclude: int | None = None) -> list[dict]:
    """``k`` demonstrations from ``pool`` (the train split), seeded per document.

    ``exclude`` is the pool index of the evaluated row itself, for the unusual
    case of evaluating on the train split.
    """
    if k <= 0:
        return []
    candidates = [i for i in range(len(pool)) if i != exclude]
    if len(candidates) < k:
        raise ConfigError(f"asked for {k} shots but the train split has only {len(candidates)} usable examples")
    rng = random.Random(f"shots:{seed}:{doc_id}")
    return [pool[i] for i in rng.sample(candidates, k)]


def _assemble(cfg: FewShotConfig, shots: list[tuple[str, str]], question: str, chat: bool) -> str:
    # "Rating:" + "4" must read "Rating: 4"; a prefix ending in whitespace already separates.
    join = cfg.target_prefix if cfg.target_prefix[-1:].isspace() or not cfg.target_prefix else cfg.target_prefix + " "
    blocks = [f"{s}{join}{t}" for s, t in shots]
    body = cfg.separator.join(blocks + [question])
    text = f"{cfg.instruction}{cfg.separator}{body}" if cfg.instruction else body
    # A chat turn ends at the user's message; a plain prompt ends where the target starts.
    return text if chat else text + cfg.target_prefix


def _multiturn(cfg: FewShotConfig, tokenizer, shots: list[tuple[str, str]], question: str) -> str:
    """Demonstrations as earlier turns of the conversation (lm-eval's ``fewshot_as_multiturn``)."""
    inputs = [s for s, _ in shots] + [question]
    if cfg.instruction:
        inputs[0] = f"{cfg.instruction}{cfg.separator}{inputs[0]}"
    messages = []
    for i, text in enumerate(inputs):
        messages.append({"role": "user", "content": text})
        if i < len(shots):
            messages.append({"role": "assistant", "content": shots[i][1]})
    return chat_prompt(tokenizer, messages)


def layout(cfg: FewShotConfig, question: str, *, chat: bool, tokenizer) -> Callable[[list[tuple[str, str]]], str]:
    """The function from rendered demonstrations to the final prompt text (chat-wrapped when asked)."""
    def final(shots: list[tuple[str, str]]) -> str:
        if chat and tokenizer is not None:
            if cfg.multiturn:
                return _multiturn(cfg, tokenizer, shots, question)
            return wrap_chat(tokenizer, _assemble(cfg, shots, question, chat=True))
        return _assemble(cfg, shots, question, chat)

    return final


def build_prompt(row: dict, render: Render, shots: list[dict], *, config: FewShotConfig | None = None,
                 tokenizer=None, max_tokens: int | None = None, chat: bool = False,
                 where: str | None = None, fields: set[str] | None = None) -> BuiltPrompt:
    """Render ``row`` after the given demonstrations, fitted to ``max_tokens`` when a tokenizer is given."""
    cfg = config or FewShotConfig()
    question, target = render(row)
    if isinstance(question, list):  # a conversation (ConversationTemplate): its earlier turns are the context
        return _conversation_prompt(question, target, shots, chat=chat, tokenizer=tokenizer, max_tokens=max_tokens,
                                    where=where)
    requested, rendered, truncated = len(shots), [render(s) for s in shots], []
    final = layout(cfg, question, chat=chat, tokenizer=tokenizer)
    if tokenizer is not None and max_tokens:
        count = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
        alone = count(final([]))
        if alone > max_tokens:
            raise _over_budget("the question alone", "question", alone, max_tokens, where)
        if cfg.fit == "drop":
            rendered = _fit_drop(final, rendered, count, max_tokens)
        else:
            rendered, truncated = _fit_truncate(final, list(shots), render, count, max_tokens, tokenizer, fields)
    prompt = final(rendered)
    n_tokens = len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) if tokenizer is not None else None
    return BuiltPrompt(prompt, target, requested, len(rendered), truncated, n_tokens)


def _conversation_prompt(turns: list[dict], target: str, shots: list[dict], *, chat: bool, tokenizer,
                         max_tokens: int | None, where: str | None) -> BuiltPrompt:
    if shots:
        raise ConfigError("few-shot demonstrations do not apply to a conversation task", where=where,
                          hint="use 0 shots: the conversation's earlier turns are its context")
    if chat and tokenizer is not None:
        prompt = chat_prompt(tokenizer, turns)
    else:
        prompt = transcript(turns)
    n_tokens = len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) if tokenizer is not None else None
    if n_tokens is not None and max_tokens and n_tokens > max_tokens:
        raise _over_budget("the conversation", "conversation", n_tokens, max_tokens, where)
    return BuiltPrompt(prompt, target, 0, 0, [], n_tokens)


def _over_budget(what: str, noun: str, n_tokens: int, max_tokens: int, where: str | None) -> GenlabError:
    return GenlabError(f"{what} is {n_tokens} tokens, over the {max_tokens}-token budget of the context window",
                       where=where, hint=f"use a model with a longer context, lower max_new_tokens, or shorten the "
                                         f"{noun} (genlab never cuts the {noun} silently)")


def _fit_drop(final, rendered, count, budget) -> list[tuple[str, str]]:
    """Keep the longest prefix of demonstrations that fits (fewer shots, none cut)."""
    while rendered and count(final(rendered)) > budget:
        rendered = rendered[:-1]
    return rendered


def _fit_truncate(final, shots, render, count, budget, tokenizer, fields):
    """Shorten the longest field among the demonstrations until the prompt fits.

    A field that is already short is not cut further; the last demonstration is
    dropped instead, so truncation always terminates.
    """
    shots = [dict(s) for s in shots]
    notes: list[str] = []
    rendered = [render(s) for s in shots]
    while rendered and (excess := count(final(rendered)) - budget) > 0:
        i, key, ids = _longest_field(shots, tokenizer, fields)
        if ids is None or len(ids) <= MIN_FIELD_TOKENS:
            shots, rendered = shots[:-1], rendered[:-1]
            notes.append(f"dropped shot {len(shots) + 1}")
            continue
        keep = max(MIN_FIELD_TOKENS, len(ids) - excess - 4)
        shots[i][key] = tokenizer.decode(ids[:keep]).rstrip() + " ..."
        notes.append(f"shot {i + 1}: {key} {len(ids)} -> {keep} tokens")
        rendered[i] = render(shots[i])
    return rendered, notes


def _longest_field(shots: list[dict], tokenizer, fields: set[str] | None):
    """(shot index, field, token ids) of the longest not-yet-truncated text field the template uses."""
    candidates = [(len(v), i, k) for i, s in enumerate(shots) for k, v in s.items()
                  if isinstance(v, str) and not v.endswith(" ...") and (fields is None or k in fields)]
    if not candidates:
        return -1, None, None
    _, i, key = max(candidates)
    return i, key, tokenizer(shots[i][key], add_special_tokens=False)["input_ids"]
