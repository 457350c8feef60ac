"""One sequence in the engine: its prompt, settings, tokens so far, and the text it has let out.

A request with ``n`` choices is ``n`` sequences. The engine thread owns every
field except ``cancelled``, which a request handler sets when its client goes away.
Events go back to the handler through ``emit`` (a thread-safe callback):

- ``PromptLogprobs`` once after prefill, when the request asked for ``echo`` with ``logprobs``;
- ``Delta`` per decode step that lets out text (or tokens, when log-probs are asked for);
- ``Finished`` or ``Failed`` last.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from genlab.generation import GenerationConfig
from genlab.generation.sampling import apply_temperature, filter_logits, min_p_mask

_ids = itertools.count()


@dataclass
class TokenLogprob:
    """A token, its log-probability, and the ``top`` most likely alternatives at its position."""

    id: int
    text: str
    logprob: float | None  # None: the first prompt token (nothing predicts it)
    top: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Delta:
    index: int
    text: str
    tokens: list[TokenLogprob]


@dataclass
class PromptLogprobs:
    index: int
    tokens: list[TokenLogprob]  # one per prompt token; the first has logprob None


@dataclass
class Finished:
    index: int
    reason: str  # "stop" | "length" | "cancelled"
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # prompt tokens whose keys/values came from the prefix store


@dataclass
class Failed:
    index: int
    message: str


@dataclass(frozen=True)
class LogitRules:
    """A request's edits of the next-token logits beyond ``GenerationConfig``, as OpenAI and vLLM define them.

    In vLLM's order: ``min_tokens`` (end-of-sequence masked until this many tokens), ``logit_bias`` (added to the
    raw logits), then the penalties on the tokens this choice has generated (OpenAI's
    ``z -= frequency·count + presence·[count > 0]``), then, when sampling, ``min_p`` after the temperature (drop
    tokens less likely than ``min_p`` × the most likely one). ``ignore_eos``: the end-of-sequence token does not
    end the choice (it runs to ``max_tokens``; its text is empty).
    """

    logit_bias: tuple[tuple[int, float], ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    min_p: float = 0.0
    min_tokens: int = 0
    ignore_eos: bool = False

    @property
    def edits_logits(self) -> bool:
        return bool(self.logit_bias or self.presence_penalty or self.frequency_penalty or self.min_tokens)


NO_RULES = LogitRules()


@dataclass
class Sequence:
    """What a sequence asks for and how far it has come."""

    prompt_ids: list[int]
    config: GenerationConfig  # sampling settings, stop strings, seed, max_new_tokens
    adapter: str | None  # None: the base model
    emit: Callable[[object], None]
    index: int = 0  # the choice index within its request
    logprobs: int | None = None  # return log-probs of chosen tokens and this many alternatives (0 = none)
    echo: bool = False  # prompt-token log-probs (needs logprobs)
    prompt_only: bool = False  # max_tokens=0 with echo: score the prompt, generate nothing
    context_window: int = 1 << 30
    rules: LogitRules = NO_RULES
    grammar: Any = None  # a structured.Matcher: masks each next token, ends the choice when the structure is done
    skip_special: bool = True  # special tokens left out of the text (kept for a parser that reads them)
    id: int = field(default_factory=lambda: next(_ids))
    cancelled: bool = False
    # engine-side state
    out_ids: list[int] = field(default_factory=list)
    n_sampled: int = 0  # tokens drawn, the end-of-sequence token included
    sent_chars: int = 0
    cached_tokens: int = 0  # prompt tokens not prefilled: their keys/values came from a stored beginning
    pending: list[TokenLogprob] = field(default_factory=list)  # chosen tokens not yet sent
    finish: str | None = None
    created: float = field(default_factory=time.monotonic)
    generator: torch.Generator | None = None

    def __post_init__(self) -> None:
        if self.config.do_sample:
            self.generator = torch.Generator().manual_seed(self.config.seed)

    @property
    def total_len(self) -> int:
        return len(self.prompt_ids) + len(self.out_ids)


def pick_token(logits: torch.Tensor, config: GenerationConfig, generator: torch.Generator | None,
               min_p: float = 0.0) -> int:
    """Next token from one row of logits (V,): argmax, or a draw after the temperature, ``min_p`` and genlab's
    top-k / top-p filters."""
    if not config.do_sample:
        return int(logits.argmax())
    z = apply_temperature(logits[None].float(), config.temperature)
    if min_p:
        z = z.masked_fill(~min_p_mask(z, min_p), float("-inf"))
    z, _, _ = filter_logits(z, 1.0, config.top_k, config.top_p)
    return int(torch.multinomial(z.softmax(-1), 1, generator=generator))


def needs_edit(seq: Sequence) -> bool:
    return seq.config.repetition_penalty != 1 or seq.rules.edits_logits or seq.grammar is not None


def edited_logits(logits: torch.Tensor, seq: Sequence, eos_ids: set[int]) -> torch.Tensor:
    """One row (V,) after ``seq.rules`` and the repetition penalty, in vLLM's order (see ``LogitRules``).

    The repetition penalty is transformers' ``RepetitionPenaltyLogitsProcessor``: the logit of every token already
    in the prompt or the output is divided by the penalty where positive and multiplied where negative."""
    rules, out = seq.rules, logits.clone()
    if rules.min_tokens and len(seq.out_ids) < rules.min_tokens and eos_ids:
        out[sorted(eos_ids)] = float("-inf")
    if rules.logit_bias:
        ids, bias = zip(*rules.logit_bias)  # "5" and "05" both name token 5: index_add_ adds both
        out.index_add_(0, torch.tensor(ids, device=out.device), torch.tensor(bias, dtype=out.dtype, device=out.device))
    penalty = seq.config.repetition_penalty
    if penalty != 1:
        ids = torch.tensor(sorted(set(seq.prompt_ids) | set(seq.out_ids)), dtype=torch.long, device=out.device)
        score = out[ids]
        out[ids] = torch.where(score < 0, score * penalty, score / penalty)
    if (rules.frequency_penalty or rules.presence_penalty) and seq.out_ids:
        counts = torch.bincount(torch.tensor(seq.out_ids), minlength=out.shape[0])[:out.shape[0]].to(out.dtype)
        out -= rules.frequency_penalty * counts + rules.presence_penalty * (counts > 0).to(out.dtype)
    if seq.grammar is not None:  # structured output: last, so no edit can bring back a forbidden token
        seq.grammar.mask(out)
    return out


def token_logprob(logprobs: torch.Tensor, token: int, k: int, decode: Callable[[int], str]) -> TokenLogprob:
    """``logprobs``: log-softmax of one row of raw logits (V,), in fp32."""
    top = []
    if k:
        values, ids = logprobs.topk(k)
        top = [(decode(int(i)), float(v)) for v, i in zip(values, ids)]
    return TokenLogprob(token, decode(token), float(logprobs[token]), top)


def advance(seq: Sequence, token: int, eos_ids: set[int], tokenizer, info: TokenLogprob | None) -> None:
    """Add ``token`` to ``seq``, let out text that can no longer become a stop string, and finish it if done."""
    cfg = seq.config
    if token in eos_ids and not seq.rules.ignore_eos:
        seq.finish = "stop"
    else:
        seq.out_ids.append(token)
        if info is not None:
            seq.pending.append(info)
        if seq.grammar is not None and seq.grammar.consume(token):
            seq.finish = "stop"
    text = tokenizer.decode(seq.out_ids, skip_special_tokens=seq.skip_special)
    cut = _stop_at(text, cfg.stop, seq.sent_chars)
    if cut is not None:
        text, seq.finish = text[:cut], "stop"
    elif seq.finish is None and (len(seq.out_ids) >= cfg.max_new_tokens or seq.total_len >= seq.context_window):
        seq.finish = "length"
    ready = len(text) if seq.finish else _safe_end(text, cfg.stop)
    if ready > seq.sent_chars or (seq.pending and seq.finish) or (seq.pending and ready == len(text)):
        seq.emit(Delta(seq.index, text[seq.sent_chars:ready], seq.pending))
        seq.sent_chars, seq.pending = max(ready, seq.sent_chars), []


def _stop_at(text: str, stops: list[str], start: int) -> int | None:
    """Where the first stop string begins, searching only where a new one can appear."""
    hits = [i for s in stops if (i := text.find(s, max(0, start - len(s) + 1))) >= 0]
    return min(hits) if hits else None


def _safe_end(text: str, stops: list[str]) -> int:
    """How much of ``text`` can be sent: hold back a tail that may be the start of a stop string,
    and a trailing U+FFFD (half of a multi-byte character whose next byte is still to come)."""
    end = len(text.rstrip("\ufffd"))
    for s in stops:
        for k in range(min(len(s) - 1, end), 0, -1):
            if text[:end].endswith(s[:k]):
                end = min(end, len(text[:end]) - k)
                break
    return end
