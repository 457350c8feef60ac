"""Batched generation for decoder-only and encoder-decoder models.

Prompts are sorted by token length and batched so each batch pads little;
decoder-only batches pad on the left so every row continues its own prompt.
Results come back in the caller's order.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal, Sequence

import torch

from genlab.errors import GenlabError
from genlab.generation.config import GenerationConfig
from genlab.generation.packed import packed_linears
from genlab.prompts.chat import wrap_chat
from genlab.runtime import Precision, autocast, fit_threads_to_load, reuse_freed_memory

Overflow = Literal["error", "truncate"]
apply_chat = wrap_chat  # genlab.generation.apply_chat: the one chat wrapper, under the name it is exported as


@dataclass
class Generation:
    """One prompt's continuations; ``finish_reasons[i]`` says why text ``i`` ended (OpenAI's words):
    ``"stop"`` (end-of-sequence token or a stop string) or ``"length"`` (``max_new_tokens`` reached)."""

    prompt: str
    texts: list[str]
    prompt_tokens: int
    new_tokens: list[int] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.texts[0]

    @property
    def hit_token_limit(self) -> bool:
        return "length" in self.finish_reasons


def encode_prompts(lm, prompts: Sequence[str], config: GenerationConfig, *, chat: bool = False,
                   on_overflow: Overflow = "error") -> list[list[int]]:
    """Token ids per prompt, checked against the context window."""
    tok = lm.tokenizer
    ids: list[list[int]] = []
    budget = lm.context_window - (config.max_new_tokens if lm.kind == "causal" else 0)
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str) or not prompt.strip():
            raise GenlabError(f"prompt {i + 1} is empty", hint="give every prompt some text")
        text = wrap_chat(tok, prompt) if chat else prompt
        row = tok(text, add_special_tokens=not chat)["input_ids"]
        if len(row) > budget:
            row = _overflow(row, i, budget, lm, config, on_overflow)
        ids.append(row)
    return ids


class PromptTruncated(UserWarning):
    """A prompt longer than the context window allows was cut from the left (``on_overflow="truncate"``)."""


def _overflow(row, i, budget, lm, config, on_overflow: Overflow) -> list[int]:
    what = (f"prompt {i + 1} has {len(row)} tokens; with max_new_tokens={config.max_new_tokens} "
            f"it exceeds the model's context window of {lm.context_window}")
    if on_overflow == "truncate":
        warnings.warn(PromptTruncated(f"{what}: keeping its last {budget} tokens"),
                      stacklevel=5)  # _overflow, encode_prompts, generate, inference_mode wrapper, caller
        return row[-budget:]
    raise GenlabError(what, hint="shorten the prompt, lower max_new_tokens, or truncate it "
                                 "(on_overflow='truncate', `--truncate`) to keep its end")


@torch.inference_mode()
def generate(lm, prompts: Sequence[str], config: GenerationConfig | None = None, *, chat: bool = False,
             batch_size: int = 16, precision: Precision = "auto", on_overflow: Overflow = "error",
             streamer=None, progress=None, on_batch=None) -> list[Generation]:
    """Generate ``config.num_return_sequences`` continuations for each prompt.

    ``lm`` is a model name or a model loaded with ``genlab.load`` (a name is loaded at ``precision``). ``streamer`` (a transformers
    streamer) prints tokens as they come and needs a single prompt.
    ``progress`` is an optional callable(n_done) for progress bars;
    ``on_batch(indices, generations)`` receives each finished batch (indices into
    ``prompts``), so a caller can keep them before the next batch starts.
    """
    from genlab.models import as_loaded

    config = config or GenerationConfig()
    lm = as_loaded(lm, precision=precision)
    if lm.kind == "encoder":
        raise GenlabError(f"{lm.name} is an encoder-only model and cannot generate text",
                          hint="use a decoder-only or encoder-decoder model")
    if streamer is not None and len(prompts) != 1:
        raise GenlabError("streaming works for one prompt at a time")
    reuse_freed_memory()
    fit_threads_to_load()
    ids = encode_prompts(lm, prompts, config, chat=chat, on_overflow=on_overflow)
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # longest first: OOM shows early
    hf_config = config.to_hf(lm.tokenizer)
    torch.manual_seed(config.seed)
    results: dict[int, Generation] = {}
    with packed_linears(lm.model, rows=min(batch_size, len(order)) * config.num_return_sequences):
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            outs = _generate_batch(lm, [ids[i] for i in batch], hf_config, precision, streamer)
            n = config.num_return_sequences
            for j, i in enumerate(batch):
                texts, counts, ended = zip(*outs[j * n:(j + 1) * n])
                cut = [_cut_at_stop(t, config.stop) for t in texts]
                reasons = ["stop" if e or c != t else "length" if k >= config.max_new_tokens else "stop"
                           for t, c, k, e in zip(texts, cut, counts, ended)]
                results[i] = Generation(prompts[i], cut, len(ids[i]), list(counts), reasons)
            if on_batch:
                on_batch(batch, [results[i] for i in batch])
            if progress:
                progress(len(batch))
    return [results[i] for i in range(len(prompts))]


def _generate_batch(lm, rows: list[list[int]], hf_config, precision, streamer) -> list[tuple[str, int, bool]]:
    """(text, new tokens, ended with EOS) per returned sequence."""
    tok, model = lm.tokenizer, lm.model
    enc = tok.pad({"input_ids": rows}, return_tensors="pt").to(lm.device)
    with autocast("fp32" if _all_low_precision(model) else precision, lm.device):
        out = model.generate(**enc, generation_config=hf_config, tokenizer=tok, streamer=streamer)
    new = out[:, enc["input_ids"].shape[1]:] if lm.kind == "causal" else out
    return [(tok.decode(row, skip_special_tokens=True), _count_new(row, tok), _has_eos(row, tok)) for row in new]


def _all_low_precision(model) -> bool:
    """Weights already all bf16/fp16 need no autocast; a mix (e.g. fp32 adapters on a bf16 base) does."""
    return all(p.dtype in (torch.bfloat16, torch.float16) for p in model.parameters() if p.is_floating_point())


def _count_new(row: torch.Tensor, tok) -> int:
    """Generated tokens up to and including the first EOS (padding after it is not generated)."""
    if lm_eos := tok.eos_token_id:
        hits = (row == lm_eos).nonzero()
        if len(hits):
            return int(hits[0]) + 1
    pad = tok.pad_token_id
    return int((row != pad).sum()) if pad is not None and pad != tok.eos_token_id else len(row)


def _has_eos(row: torch.Tensor, tok) -> bool:
    return tok.eos_token_id is not None and bool((row == tok.eos_token_id).any())


def _cut_at_stop(text: str, stops: list[str]) -> str:
    cut = min((text.find(s) for s in stops if s in text), default=-1)
    return text[:cut] if cut >= 0 else text
