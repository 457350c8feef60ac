"""Batched generation for decoder-only and encoder-decoder models.

Prompts are sorted by token length and batched so each batch pads little;
decoder-only batches pad on the left so every row continues its own prompt.
Results come back in the caller's order.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from typing import Literal, Sequence

import torch

from genlab.errors import GenlabError
from genlab.generation import invariant
from genlab.generation.config import GenerationConfig
from genlab.generation.packed import packed_linears
from genlab.prompts.chat import chat_prompt, transcript, wrap_chat
from genlab.runtime import Precision, autocast, fit_threads_to_load, reuse_freed_memory

Overflow = Literal["error", "truncate"]
Backend = Literal["auto", "engine", "transformers"]
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


def encode_prompts(lm, prompts: Sequence[str | list[dict]], config: GenerationConfig, *, chat: bool = False,
                   on_overflow: Overflow = "error") -> list[list[int]]:
    """Token ids per prompt (a text, or a conversation as a list of ``{role, content}`` turns), checked against
    the context window."""
    tok = lm.tokenizer
    ids: list[list[int]] = []
    budget = lm.context_window - (config.max_new_tokens if lm.kind == "causal" else 0)
    for i, prompt in enumerate(prompts):
        if isinstance(prompt, list):  # a conversation ({role, content} turns), answered next
            text = chat_prompt(tok, prompt) if chat else transcript(prompt)
        elif not isinstance(prompt, str) or not prompt.strip():
            raise GenlabError(f"prompt {i + 1} is empty", hint="give every prompt some text")
        else:
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
             streamer=None, on_text=None, progress=None, on_batch=None,
             backend: Backend = "auto", prefix_caching: bool = True, structure=None,
             batch_invariant: bool = False) -> list[Generation]:
    """Generate ``config.num_return_sequences`` continuations for each prompt.

    ``lm`` is a model name or a model loaded with ``genlab.load`` (a name is loaded at ``precision``). ``streamer`` (a transformers
    streamer) prints tokens as they come and needs a single prompt; ``on_text(piece)`` receives the text of a
    single prompt's single answer as it is decoded (on the engine a token at a time, holding back a tail
    that may begin a stop string).
    ``progress`` is an optional callable(n_done) for progress bars;
    ``on_batch(indices, generations)`` receives each finished batch (indices into
    ``prompts``), so a caller can keep them before the next batch starts.

    ``backend``: decoder-only models decode on the serving engine (``genlab.serving``: continuous batching,
    the server's sampling; ``"auto"``), except with a ``streamer`` or a prompt-tuning/prefix adapter, which
    go through transformers' ``model.generate`` as encoder-decoder models do (``"transformers"`` forces it).
    On the engine, prompts that begin alike prefill their shared beginning once (``prefix_caching``,
    ``genlab.serving.prefix``). ``structure`` (a ``genlab.serving.structured.Constraint``: JSON, a JSON schema,
    a regex or choices; ``structured.constraint(...)`` builds one) holds every answer to it, on the engine only.
    ``batch_invariant``: each answer is what its prompt alone would give, whatever the batch size and the other
    prompts (``genlab.generation.invariant``: per-row attention; bf16 greedy text then does not move with
    ``batch_size``), at some speed; prefix caching is off then.
    """
    from genlab.models import as_loaded

    config = config or GenerationConfig()
    lm = as_loaded(lm, precision=precision)
    if lm.kind == "encoder":
        raise GenlabError(f"{lm.name} is an encoder-only model and cannot generate text",
                          hint="use a decoder-only or encoder-decoder model")
    if (streamer is not None or on_text is not None) and len(prompts) != 1:
        raise GenlabError("streaming works for one prompt at a time")
    if on_text is not None and (streamer is not None or config.num_return_sequences != 1):
        raise GenlabError("on_text streams one answer: no streamer, num_return_sequences=1")
    reuse_freed_memory()
    fit_threads_to_load()
    ids = encode_prompts(lm, prompts, config, chat=chat, on_overflow=on_overflow)
    if _on_engine(lm, streamer, "engine" if structure is not None else backend):
        from genlab.serving.offline import generate_on_engine

        with autocast("fp32" if _all_low_precision(lm.model) else precision, lm.device):
            return generate_on_engine(lm, prompts, ids, config, batch_size=batch_size, progress=progress,
                                      on_batch=on_batch, on_text=on_text, prefix_caching=prefix_caching,
                                      structure=structure, batch_invariant=batch_invariant)
    if on_text is not None:
        streamer = _text_streamer(lm.tokenizer, on_text)
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # longest first: OOM shows early
    hf_config = config.to_hf(lm.tokenizer)
    torch.manual_seed(config.seed)
    results: dict[int, Generation] = {}
    with packed_linears(lm.model, rows=min(batch_size, len(order)) * config.num_return_sequences), \
            (invariant.batch_invariant(lm.model) if batch_invariant else contextlib.nullcontext()):
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


def _text_streamer(tokenizer, on_text):
    """A transformers streamer that hands each finished piece of text to ``on_text``."""
    from transformers import TextStreamer

    class Pieces(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                on_text(text)

    return Pieces(tokenizer, skip_prompt=True, skip_special_tokens=True)


def _on_engine(lm, streamer, backend: Backend) -> bool:
    """Whether ``generate`` runs on the serving engine (see ``backend``); ``"engine"`` where it cannot is an error."""
    if backend not in ("auto", "engine", "transformers"):
        raise GenlabError(f"unknown generation backend {backend!r}", hint="one of auto, engine, transformers")
    if backend == "transformers":
        return False
    why = _engine_cannot(lm, streamer)
    if why and backend == "engine":
        raise GenlabError(f"the serving engine cannot generate here: {why}", hint="use backend='transformers'")
    return why is None


def _engine_cannot(lm, streamer) -> str | None:
    import inspect

    if lm.kind != "causal":
        return f"{lm.name} is not a decoder-only model"
    if streamer is not None:
        return "a streamer is given"
    if any(getattr(c, "is_prompt_learning", False) for c in (getattr(lm.model, "peft_config", None) or {}).values()):
        return "a prompt-tuning or prefix adapter is active"
    base = lm.model.get_base_model() if hasattr(lm.model, "get_base_model") else lm.model
    wanted = {"cache", "position_ids", "logits_to_keep"}
    if not wanted <= set(inspect.signature(base.forward).parameters):
        return f"{type(base).__name__}.forward does not take {', '.join(sorted(wanted))}"
    return None


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
