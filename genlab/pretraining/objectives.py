"""The three pre-training objectives as ``genlab.tuning`` objectives: the same loop trains all of them.

Examples are packed ``Block``s (``corpus.pack``). Each objective collates blocks
into ``input_ids`` (B, S) and applies its corruption inside ``loss`` so that
training draws fresh noise every step from torch's RNG (RoBERTa's dynamic
masking; restored on resume with the checkpoint) while validation draws it from
a generator seeded by the block's index (the same masks at every evaluation, so
validation losses are comparable across steps and runs).

- ``CausalLM``        next-token cross-entropy over every position (GPT; Radford et al. 2018).
- ``MaskedLM``        BERT's masking (Devlin et al. 2019): 15% of tokens are predicted; of those 80% are
                      replaced by ``<mask>``, 10% by a random token, 10% left unchanged.
- ``SpanCorruption``  T5's objective (Raffel et al. 2020, §3.1.4): 15% of tokens in spans of mean length 3
                      are each replaced by one sentinel; the decoder emits ``<s0> span0 <s1> span1 ... <sk>``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import torch

from genlab.evaluation.loglik import forward_params
from genlab.tuning.loss import cross_entropy
from genlab.tuning.objective import BaseObjective

IGNORE = -100


@dataclass
class Block:
    index: int  # position in its packed set: seeds the validation noise
    ids: torch.Tensor  # (S,)

    def __len__(self) -> int:
        return int(self.ids.numel())


def blocks_of(blocks: torch.Tensor) -> list[Block]:
    return [Block(i, blocks[i]) for i in range(blocks.shape[0])]


class _BlockObjective(BaseObjective):
    seed = 0

    def collate(self, examples: Sequence[Block], pad_id: int) -> dict[str, torch.Tensor]:
        return {"input_ids": torch.stack([e.ids for e in examples]),
                "index": torch.tensor([e.index for e in examples])}

    def tokens(self, batch) -> int:
        return int(batch["input_ids"].numel())  # corpus tokens consumed: the D of scaling laws

    def _generator(self, model, batch) -> torch.Generator | None:
        """None while training (torch's global RNG); a fixed generator per validation batch."""
        if model.training:
            return None
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + int(batch["index"][0]))
        return g


class CausalLM(_BlockObjective):
    def loss(self, model, batch):
        ids = batch["input_ids"]  # (B, S)
        s = ids.shape[1]
        # the LM head skips the last position (it has no target): logits come out contiguous, no (B, S, V) copy
        keep = {"logits_to_keep": torch.arange(s - 1)} if "logits_to_keep" in forward_params(model) else {}
        logits = model(input_ids=ids, use_cache=False, **keep).logits[:, :s - 1]  # (B, S-1, V)
        targets = ids[:, 1:]  # position t predicts token t+1
        return cross_entropy(logits.flatten(0, 1), targets.flatten()), targets.numel()


def mask_tokens(ids: torch.Tensor, mask_id: int, vocab_size: int, special_ids: Sequence[int] = (),
                rate: float = 0.15, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of ``ids`` (B, S): returns (inputs, labels) with labels ``-100`` where nothing is predicted."""
    inputs, labels = ids.clone(), ids.clone()
    prob = torch.full(ids.shape, rate)
    if special_ids:
        prob[torch.isin(ids, torch.tensor(list(special_ids)))] = 0.0  # separators are never predicted
    selected = torch.bernoulli(prob, generator=generator).bool()
    labels[~selected] = IGNORE
    to_mask = torch.bernoulli(torch.full(ids.shape, 0.8), generator=generator).bool() & selected
    inputs[to_mask] = mask_id
    to_random = torch.bernoulli(torch.full(ids.shape, 0.5), generator=generator).bool() & selected & ~to_mask
    inputs[to_random] = torch.randint(vocab_size, ids.shape, generator=generator)[to_random]
    return inputs, labels


class MaskedLM(_BlockObjective):
    def __init__(self, mask_id: int, vocab_size: int, special_ids: Sequence[int] = (), rate: float = 0.15):
        self.mask_id, self.vocab_size, self.special_ids, self.rate = mask_id, vocab_size, list(special_ids), rate

    def loss(self, model, batch):
        ids = batch["input_ids"]
        inputs, labels = mask_tokens(ids.cpu(), self.mask_id, self.vocab_size, self.special_ids, self.rate,
                                     self._generator(model, batch))
        inputs, labels = inputs.to(ids.device), labels.to(ids.device)
        sel = labels != IGNORE  # (B, S)
        h = model.bert(input_ids=inputs).last_hidden_state  # (B, S, d)
        logits = model.cls(h[sel])  # the MLM head only where a token is predicted: (N, V)
        n = int(sel.sum())
        return cross_entropy(logits, labels[sel]), n


def noise_spans(length: int, rng: random.Random, density: float = 0.15, mean_span: float = 3.0,
                max_spans: int | None = None) -> list[tuple[int, int]]:
    """T5's ``random_spans_noise_mask`` as (start, end) spans: round(L·density) noise tokens in
    round(noise / mean_span) spans, separated by non-noise runs; text starts with a non-noise run."""
    n_noise = min(max(1, round(length * density)), length - 1)
    n_spans = max(1, round(n_noise / mean_span))
    if max_spans is not None:
        n_spans = min(n_spans, max_spans)
    n_spans = min(n_spans, n_noise, length - n_noise)

    def cut(total: int, parts: int) -> list[int]:
        points = sorted(rng.sample(range(1, total), parts - 1)) if parts > 1 else []
        return [b - a for a, b in zip([0] + points, points + [total])]

    noise, keep = cut(n_noise, n_spans), cut(length - n_noise, n_spans)
    spans, pos = [], 0
    for k, z in zip(keep, noise):
        pos += k
        spans.append((pos, pos + z))
        pos += z
    return spans


def span_corrupt(ids: Sequence[int], sentinels: Sequence[int], rng: random.Random, density: float = 0.15,
                 mean_span: float = 3.0) -> tuple[list[int], list[int]]:
    """(encoder input, decoder target): each noise span becomes one sentinel in the input, and the target
    lists ``sentinel_i + span_i`` for every span, ending with the next sentinel (as T5 does)."""
    ids = list(ids)
    spans = noise_spans(len(ids), rng, density, mean_span, max_spans=len(sentinels) - 1)
    inputs, targets, prev = [], [], 0
    for i, (a, b) in enumerate(spans):
        inputs += ids[prev:a] + [sentinels[i]]
        targets += [sentinels[i]] + ids[a:b]
        prev = b
    inputs += ids[prev:]
    targets.append(sentinels[len(spans)])
    return inputs, targets


def reconstruct(inputs: Sequence[int], targets: Sequence[int], sentinels: Sequence[int]) -> list[int]:
    """The original token ids from a span-corrupted pair (the test of ``span_corrupt``)."""
    index = {s: i for i, s in enumerate(sentinels)}
    fills: dict[int, list[int]] = {}
    current = None
    for t in targets:
        if t in index:
            current = index[t]
            fills[current] = []
        elif current is not None:
            fills[current].append(t)
    out: list[int] = []
    for t in inputs:
        out += fills.get(index[t], []) if t in index else [t]
    return out


class SpanCorruption(_BlockObjective):
    def __init__(self, sentinels: Sequence[int], pad_id: int, eos_id: int, density: float = 0.15,
                 mean_span: float = 3.0):
        self.sentinels, self.pad_id, self.eos_id = list(sentinels), pad_id, eos_id
        self.density, self.mean_span = density, mean_span

    def corrupt(self, batch, training: bool) -> dict[str, torch.Tensor]:
        pairs = []
        for row, index in zip(batch["input_ids"].tolist(), batch["index"].tolist()):
            seed = int(torch.randint(2**62, ())) if training else self.seed * 1_000_003 + index
            x, y = span_corrupt(row, self.sentinels, random.Random(seed), self.density, self.mean_span)
            pairs.append((x + [self.eos_id], y + [self.eos_id]))
        T, L = max(len(x) for x, _ in pairs), max(len(y) for _, y in pairs)
        inputs = torch.full((len(pairs), T), self.pad_id)
        mask = torch.zeros((len(pairs), T), dtype=torch.long)
        labels = torch.full((len(pairs), L), IGNORE)
        for i, (x, y) in enumerate(pairs):
            inputs[i, :len(x)], mask[i, :len(x)], labels[i, :len(y)] = torch.tensor(x), 1, torch.tensor(y)
        return {"input_ids": inputs, "attention_mask": mask, "labels": labels}

    def loss(self, model, batch):
        dev = batch["input_ids"].device
        b = {k: v.to(dev) for k, v in self.corrupt({k: v.cpu() for k, v in batch.items()}, model.training).items()}
        decoder_inputs = model._shift_right(b["labels"])  # (B, L): start token + labels[:-1]
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                       decoder_input_ids=decoder_inputs, use_cache=False).logits  # (B, L, V)
        sel = b["labels"] != IGNORE
        return cross_entropy(logits[sel], b["labels"][sel]), int(sel.sum())


def make_objective(name: str, tokenizer=None, vocab_size: int | None = None, seed: int = 0):
    """The objective ``name`` for a tokenizer (its mask, separator and sentinel ids)."""
    from genlab.errors import ConfigError
    from genlab.pretraining.tokenizer import needs, sentinel_ids

    if name == "causal":
        obj = CausalLM()
    elif name in ("masked", "span"):
        if tokenizer is None:
            raise ConfigError(f"the {name} objective needs the tokenizer", where="objective")
        needs(tokenizer, name)
        if name == "masked":
            specials = [i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None]
            obj = MaskedLM(tokenizer.mask_token_id, vocab_size or len(tokenizer), specials)
        else:
            obj = SpanCorruption(sentinel_ids(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id)
    else:
        raise ConfigError(f"unknown objective {name!r}", where="--objective", hint="causal, masked or span")
    obj.seed = seed
    return obj
