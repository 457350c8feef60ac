"""Tokenizers for pre-training: a model's own, or a byte-level BPE trained on the corpus (``tokenizers``).

``--tokenizer bpe:4096`` trains a 4,096-entry vocabulary in seconds. The choice
matters at small scale: with SmolLM2's 49,152-entry vocabulary a 0.3M-parameter
transformer carries ~6M embedding parameters (tied), so most of the "model" is a
lookup table; ``embedding_share`` shows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from genlab.errors import ConfigError

SPECIALS = ["<|endoftext|>", "<pad>", "<unk>", "<mask>"]
N_SENTINELS = 64  # T5's <extra_id_0..> sentinels for span corruption (T5 keeps 100)


def sentinel(i: int) -> str:
    return f"<extra_id_{i}>"


def train_bpe(texts: Iterable[str], vocab_size: int):
    """A byte-level BPE (GPT-2 style) trained on ``texts``; deterministic for the same texts and size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = SPECIALS + [sentinel(i) for i in range(N_SENTINELS)]
    if vocab_size < len(specials) + 256 + 1:
        raise ConfigError(f"vocab_size={vocab_size} is too small for byte-level BPE",
                          where="--tokenizer", hint=f"use at least {len(specials) + 257} (e.g. bpe:2048)")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<pad>",
                                   unk_token="<unk>", mask_token="<mask>",
                                   additional_special_tokens=[sentinel(i) for i in range(N_SENTINELS)])


def parse_spec(spec: str) -> tuple[str, int | None]:
    """``bpe:4096`` -> ("bpe", 4096); anything else names a model whose tokenizer is reused."""
    if spec.startswith("bpe"):
        _, _, size = spec.partition(":")
        try:
            return "bpe", int(size or 4096)
        except ValueError:
            raise ConfigError(f"bad tokenizer spec {spec!r}", where="--tokenizer",
                              hint="bpe:SIZE (e.g. bpe:4096) or a model name (smollm2-135m-instruct)") from None
    return "model", None


def make_tokenizer(spec: str, texts: Iterable[str], save_to: Path | None = None):
    """The tokenizer ``spec`` asks for; a trained BPE is saved to ``save_to`` (a resumed run reloads it)."""
    from transformers import AutoTokenizer

    if save_to is not None and (save_to / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(save_to)
    kind, size = parse_spec(spec)
    if kind == "bpe":
        tok = train_bpe(texts, size)
    else:
        from genlab.models import resolve

        tok = AutoTokenizer.from_pretrained(resolve(spec).path)
        _add_pretraining_specials(tok)
    if save_to is not None:
        tok.save_pretrained(save_to)
    return tok


def _add_pretraining_specials(tok) -> None:
    """A reused tokenizer may lack pad/mask/sentinels; add what is missing (new ids sit past the old vocab)."""
    if tok.eos_token is None:
        tok.add_special_tokens({"eos_token": "<|endoftext|>"})
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token


def needs(tok, objective: str) -> None:
    """The special tokens ``objective`` uses must exist in ``tok``."""
    if objective == "masked" and tok.mask_token_id is None:
        raise ConfigError("masked LM needs a mask token, and this tokenizer has none", where="--tokenizer",
                          hint="train one with --tokenizer bpe:4096 (it has <mask>)")
    if objective == "span" and sentinel_ids(tok) == []:
        raise ConfigError("span corruption needs T5 sentinel tokens (<extra_id_0>...)", where="--tokenizer",
                          hint="train one with --tokenizer bpe:4096 (it has 64 sentinels)")


def sentinel_ids(tok) -> list[int]:
    vocab = tok.get_vocab()
    out = []
    for i in range(1000):
        if sentinel(i) not in vocab:
            break
        out.append(vocab[sentinel(i)])
    return out
