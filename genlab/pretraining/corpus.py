"""A pre-training corpus: documents from files, the hub or genlab's generators, split, tokenized and packed.

    docs = load_documents("builtin", n_docs=4000)            # or "data/*.txt", "notes.jsonl", "hf:roneneldan/TinyStories"
    split = split_documents(docs, heldout=0.05, seed=0)      # by document, deterministic, duplicates dropped first
    train = pack(split.train, tokenizer, block_size=128)     # (n_blocks, 128) token ids, EOS between documents

The held-out split is decided per *document* by a hash of its normalised text
(never by position in a token stream), so no block of the held-out set shares a
document with a training block, a near-duplicate lands on the same side as its
twin, and adding documents never moves an existing one across the boundary.
Packing follows GPT-2/RoBERTa "full sentences": documents are concatenated with
an end-of-text separator and cut into fixed-length blocks (the tail is dropped),
so no compute is spent on padding.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import torch

from genlab.errors import DataError

BUILTIN_PARTS = ("support", "chat", "reviews")
TEXT_SUFFIXES = (".txt", ".md")
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
END_OF_TEXT = "<|endoftext|>"


@dataclass
class Document:
    text: str
    where: str  # file:line, hf:name:row or builtin:generator:i, for messages


@dataclass
class Split:
    train: list[Document]
    heldout: list[Document]
    duplicates: int = 0
    empty: int = 0

    def summary(self) -> dict:
        return {"train_docs": len(self.train), "heldout_docs": len(self.heldout), "duplicates_dropped": self.duplicates,
                "empty_dropped": self.empty}


@dataclass
class Packed:
    """Fixed-length blocks of token ids; ``doc_ids[i]`` lists the documents block ``i`` draws from."""

    blocks: torch.Tensor  # (n_blocks, block_size) long
    doc_ids: list[list[int]] = field(default_factory=list, repr=False)
    tokens_in: int = 0  # tokens before the tail was dropped

    def __len__(self) -> int:
        return self.blocks.shape[0]

    @property
    def tokens(self) -> int:
        return self.blocks.numel()


# -- sources ----------------------------------------------------------------------------------

def load_documents(source: str, n_docs: int | None = None, *, text_field: str = "text", seed: int = 0) -> list[Document]:
    """Documents from ``source``: ``builtin[:support,chat,reviews]``, ``hf:NAME[:CONFIG]``, a file, a folder,
    or several of these joined by commas. ``n_docs`` caps the count (required size for ``builtin``)."""
    docs: list[Document] = []
    for part in _parts(source):
        docs.extend(_take(_iter_source(part, n_docs, text_field, seed), n_docs))
        if n_docs is not None and len(docs) >= n_docs:
            return docs[:n_docs]
    return docs


def _parts(source: str) -> list[str]:
    """``builtin:support,chat`` is one source; ``a.txt,b.jsonl`` are two."""
    if source.startswith("builtin") or source.startswith("hf:"):
        return [source]
    return [p.strip() for p in source.split(",") if p.strip()]


def _take(it: Iterable[Document], n: int | None) -> Iterator[Document]:
    for i, d in enumerate(it):
        if n is not None and i >= n:
            return
        yield d


def _iter_source(source: str, n_docs: int | None, text_field: str, seed: int) -> Iterator[Document]:
    if source == "builtin" or source.startswith("builtin:"):
        yield from builtin_documents(n_docs or 2000, source.partition(":")[2] or ",".join(BUILTIN_PARTS), seed)
    elif source.startswith("hf:"):
        yield from _hub_documents(source, text_field)
    else:
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES + JSONL_SUFFIXES)
            if not files:
                raise DataError(f"folder {path} has no .txt/.md/.jsonl files", where=str(path))
            for f in files:
                yield from _file_documents(f, text_field)
        elif path.is_file():
            yield from _file_documents(path, text_field)
        else:
            raise DataError(f"corpus {source!r} is neither a file, a folder, `builtin[:PARTS]` nor `hf:NAME`",
                            where="--corpus", hint="e.g. --corpus builtin, --corpus notes.txt, --corpus docs.jsonl")


def builtin_documents(n: int, parts: str = "support,chat,reviews", seed: int = 0) -> list[Document]:
    """``n`` documents from genlab's own generators, round-robin over ``parts`` (any size, offline)."""
    from genlab.data.builtin import generate

    names = [p.strip() for p in parts.split(",") if p.strip()]
    bad = [p for p in names if p not in BUILTIN_PARTS]
    if bad or not names:
        raise DataError(f"unknown built-in corpus part(s) {bad or parts!r}", where="--corpus",
                        hint=f"builtin:{','.join(BUILTIN_PARTS)} (any subset)")
    per = [n // len(names) + (i < n % len(names)) for i in range(len(names))]
    rows = {name: generate(name, k, seed) for name, k in zip(names, per)}
    out = []
    for i in range(max(per)):
        for name in names:
            if i < len(rows[name]):
                out.append(Document(builtin_text(name, rows[name][i]), f"builtin:{name}:{i}"))
    return out


def builtin_text(name: str, row: dict) -> str:
    """A generated row as running text: dialogue + summary, or a review with its title and headline."""
    if name == "reviews":
        return f"{row['product_title']} ({row['star_rating']} stars)\n{row['review_headline']}\n{row['review_body']}"
    return f"{row['dialogue']}\nSummary: {row['summary']}"


def _file_documents(path: Path, text_field: str) -> Iterator[Document]:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        yield from _jsonl_documents(path, text_field)
        return
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"not valid UTF-8 (byte {e.start})", where=str(path), hint="save the file as UTF-8") from None
    # one document per <|endoftext|>-separated chunk (TinyStories' dumps), else per blank-line-separated paragraph
    start, lines = 1, []
    for lineno, line in enumerate(text.splitlines(), start=1):
        boundary = line.strip() == END_OF_TEXT if END_OF_TEXT in text else not line.strip()
        if boundary:
            if lines:
                yield Document("\n".join(lines).strip(), f"{path}:{start}")
            start, lines = lineno + 1, []
        else:
            lines.append(line)
    if lines:
        yield Document("\n".join(lines).strip(), f"{path}:{start}")


def _jsonl_documents(path: Path, text_field: str) -> Iterator[Document]:
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            where = f"{path}:{lineno}"
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise DataError(f"not a JSON object: {e}", where=where) from None
            text = obj.get(text_field) if isinstance(obj, dict) else None
            if not isinstance(text, str):
                raise DataError(f'missing text field "{text_field}"', where=where,
                                hint="name the field with --text-field, or give each line a \"text\" string")
            yield Document(text, where)


def _hub_documents(spec: str, text_field: str) -> Iterator[Document]:
    """A hub dataset's train split, streamed (nothing is downloaded beyond what is read)."""
    from genlab.data import parse_hub_spec
    from genlab.models.registry import is_offline

    if is_offline():
        raise DataError(f"cannot stream {spec}: offline (HF_HUB_OFFLINE is set)",
                        hint="go online, or use --corpus builtin or a local .txt/.jsonl file")
    import datasets

    name, config = parse_hub_spec(spec)
    try:
        ds = datasets.load_dataset(name, config, split="train", streaming=True)
    except Exception as e:  # network, missing or gated dataset: the user acts on each
        raise DataError(f"could not stream {spec}: {type(e).__name__}: {e}", where="--corpus") from e
    for i, row in enumerate(ds):
        if text_field not in row:
            raise DataError(f'no field "{text_field}" (fields: {", ".join(row)})', where=f"{spec}:row {i + 1}",
                            hint="name the text field with --text-field")
        yield Document(str(row[text_field]), f"{spec}:row {i + 1}")


# -- split ------------------------------------------------------------------------------------

def doc_key(text: str) -> str:
    from genlab.data import normalize

    return hashlib.sha1(normalize(text).encode("utf-8")).hexdigest()


def split_documents(docs: Sequence[Document], heldout: float = 0.05, seed: int = 0) -> Split:
    """Drop empty and duplicate documents, then send each to held-out when its hash says so.

    ``hash(seed, normalised text) < heldout`` decides, so the split is the same on every run
    and a document's side never depends on the others. At least one document goes each way.
    """
    if not 0 < heldout < 1:
        raise DataError(f"heldout={heldout} must be between 0 and 1", where="heldout")
    seen: dict[str, int] = {}
    kept: list[tuple[float, Document]] = []
    empty = 0
    for d in docs:
        if not d.text.strip():
            empty += 1
            continue
        key = doc_key(d.text)
        if key in seen:
            seen[key] += 1
            continue
        seen[key] = 0
        u = int(hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()[:12], 16) / 16**12
        kept.append((u, d))
    dups = sum(seen.values())
    if not kept:
        raise DataError(f"the corpus has no text ({len(docs)} document(s), {empty} empty)",
                        hint="check the source: empty files, a wrong --text-field, or -n 0")
    if len(kept) < 2:
        raise DataError(f"the corpus has {len(docs)} document(s) but only 1 distinct one ({dups} duplicate(s), "
                        f"{empty} empty): nothing is left to hold out",
                        hint="give at least two different documents (more: a held-out loss needs a few blocks)")
    held = [d for u, d in kept if u < heldout]
    train = [d for u, d in kept if u >= heldout]
    if not held or not train:  # tiny corpora: the smallest hash goes to held-out
        ordered = sorted(kept, key=lambda x: x[0])
        held, train = [ordered[0][1]], [d for _, d in ordered[1:]]
    return Split(train, held, dups, empty)


# -- tokenize and pack ---------------------------------------------------------------------------

def separator_id(tokenizer) -> int:
    sep = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    if sep is None:
        raise DataError("the tokenizer has no end-of-text (eos) or separator token to put between documents",
                        hint="use a tokenizer with an eos token, or train one with --tokenizer bpe:N")
    return sep


def pack(docs: Sequence[Document], tokenizer, block_size: int, *, name: str = "train",
         batch: int = 256) -> Packed:
    """Concatenate ``tokens(doc) + [EOS]`` and cut into ``block_size`` blocks (the incomplete tail is dropped)."""
    if block_size < 2:
        raise DataError(f"block_size={block_size} must be at least 2", where="block_size")
    sep = separator_id(tokenizer)
    stream: list[int] = []
    owner: list[int] = []
    for k in range(0, len(docs), batch):
        chunk = docs[k:k + batch]
        ids = tokenizer([d.text for d in chunk], add_special_tokens=False)["input_ids"]
        for j, toks in enumerate(ids):
            stream.extend(toks + [sep])
            owner.extend([k + j] * (len(toks) + 1))
    n = len(stream) // block_size
    if n == 0:
        raise DataError(f"the {name} corpus has {len(stream)} tokens, fewer than one block of {block_size}",
                        where=name, hint="add documents (e.g. a larger --docs), lower --block-size, "
                                         "or lower --heldout so the held-out part holds at least one block")
    blocks = torch.tensor(stream[:n * block_size], dtype=torch.long).view(n, block_size)
    doc_ids = [sorted(set(owner[i * block_size:(i + 1) * block_size])) for i in range(n)]
    return Packed(blocks, doc_ids, len(stream))


def check_vocab(packed: Packed, vocab_size: int, where: str = "tokenizer") -> None:
    """Every token id must have a row in the model's embedding."""
    top = int(packed.blocks.max()) if packed.tokens else -1
    if top >= vocab_size:
        raise DataError(f"token id {top} does not fit the model's embedding of {vocab_size} rows: "
                        "the tokenizer and the model do not belong together", where=where,
                        hint="use the model's own tokenizer (--tokenizer MODEL) or build the model with this "
                             "tokenizer's vocabulary size")
