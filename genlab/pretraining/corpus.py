"""A pre-training corpus: documents from files, the hub or genlab's generators, split, tokenized and packed.

    docs = load_documents("builtin", n_docs=4000)            # or "data/", "notes.jsonl", "hf:roneneldan/TinyStories"
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import torch

from genlab.errors import DataError

BUILTIN_PARTS = ("support", "chat", "reviews")
TEXT_SUFFIXES = (".txt", ".md")
# a row's text when it has no "text" field: the first of these that holds a string, else its only string field
TEXT_FIELDS = ("text", "content", "body", "document", "article", "story", "passage")
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

def load_documents(source: str, n_docs: int | None = None, *, text_field: str | None = None,
                   seed: int = 0, found: dict[str, str] | None = None) -> list[Document]:
    """Documents from ``source``: ``builtin[:support,chat,reviews]``, ``hf:NAME[:CONFIG]``, a file, a folder,
    or several of these joined by commas. ``n_docs`` caps the count (required size for ``builtin``).

    Files: ``.txt``/``.md`` (a document per blank-line-separated paragraph, or per ``<|endoftext|>`` chunk),
    ``.jsonl``/``.json``/``.ndjson`` and ``.csv``/``.tsv``/``.parquet`` (a document per row), each also
    compressed (``.gz``, ``.bz2``, ``.xz``). A row's text is ``text_field``; without one, ``text``, else the
    first of ``TEXT_FIELDS`` it has, else its only string field (``found`` gets each file's or dataset's field
    found that way, for the user to see)."""
    docs: list[Document] = []
    for part in _parts(source):
        docs.extend(_take(_iter_source(part, n_docs, text_field, seed, found), n_docs))
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


def _iter_source(source: str, n_docs: int | None, text_field: str | None, seed: int,
                 found: dict[str, str] | None) -> Iterator[Document]:
    if source == "builtin" or source.startswith("builtin:"):
        yield from builtin_documents(n_docs or 2000, source.partition(":")[2] or ",".join(BUILTIN_PARTS), seed)
    elif source.startswith("hf:"):
        yield from _hub_documents(source, text_field, found)
    else:
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and _kind(p) is not None)
            if not files:
                raise DataError(f"folder {path} has no .txt/.md/.jsonl/.csv/.tsv/.parquet files (or those "
                                "compressed: .gz, .bz2, .xz)", where=str(path))
            for f in files:
                yield from _file_documents(f, text_field, found)
        elif path.is_file():
            yield from _file_documents(path, text_field, found)
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


def _kind(path: Path) -> str | None:
    """``text`` for .txt/.md, ``rows`` for the data formats ``genlab.data`` reads (.jsonl, .csv, .parquet, ...),
    a compression suffix (.gz/.bz2/.xz) looked through; None for other files."""
    from genlab.data.loading import FORMATS, data_suffix

    suffix = data_suffix(path)
    return "text" if suffix in TEXT_SUFFIXES else "rows" if suffix in FORMATS else None


def _file_documents(path: Path, text_field: str | None, found: dict[str, str] | None = None) -> Iterator[Document]:
    from genlab.data.loading import archive_errors, iter_file, open_bytes

    if _kind(path) == "rows":
        text_of = _RowText(text_field, found, str(path))
        for row in iter_file(path):
            if isinstance(row, Exception):  # a bad row: malformed JSON, a bad byte, a short CSV line
                raise DataError(row.problem, where=row.where)
            yield Document(text_of(row, row.where), row.where)
        return
    with archive_errors(path), open_bytes(path) as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"not valid UTF-8 (byte {e.start})", where=str(path), hint="save the file as UTF-8") from None
    # one document per <|endoftext|>-separated chunk (TinyStories' dumps), else per blank-line-separated paragraph
    start, lines = 1, []
    lines_of = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # not splitlines(): U+2028 is text
    for lineno, line in enumerate(lines_of, start=1):
        boundary = line.strip() == END_OF_TEXT if END_OF_TEXT in text else not line.strip()
        if boundary:
            if lines:
                yield Document("\n".join(lines).strip(), f"{path}:{start}")
            start, lines = lineno + 1, []
        else:
            lines.append(line)
    if lines:
        yield Document("\n".join(lines).strip(), f"{path}:{start}")


class _RowText:
    """The text of each row of one source (JSONL/CSV/Parquet/hub): the field ``text_field``, or, when it is None,
    the one the first row shows (``text``, else the first of ``TEXT_FIELDS`` it has, else its only string field),
    then required in every row."""

    def __init__(self, text_field: str | None, found: dict[str, str] | None = None, source: str = "") -> None:
        self.field, self.found = text_field, False
        self.seen, self.source = found, source  # where the field found is told

    def __call__(self, row, where: str) -> str:
        if not isinstance(row, dict):
            raise DataError(f"expected an object with a text field, got {type(row).__name__}", where=where)
        if self.field is None:
            names = [n for n in TEXT_FIELDS if isinstance(row.get(n), str)]
            strings = [k for k, v in row.items() if isinstance(v, str)]
            self.field, self.found = (names or strings)[0] if names or len(strings) == 1 else None, True
            if self.field not in (None, "text") and self.seen is not None:
                self.seen[self.source] = self.field
        text = row.get(self.field) if self.field is not None else None
        if not isinstance(text, str):
            fields = ", ".join(f"{k} ({type(v).__name__})" for k, v in row.items()) or "none"
            asked = f'missing text field "{self.field}"' if self.field else "no text field found"
            seen = " (the first row's)" if self.found and self.field else ""
            raise DataError(f"{asked}{seen}; fields: {fields}", where=where,
                            hint="name the field that holds the text with --text-field")
        return text


def _hub_documents(spec: str, text_field: str | None, found: dict[str, str] | None = None) -> Iterator[Document]:
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
    text_of = _RowText(text_field, found, spec)
    for i, row in enumerate(ds):
        yield Document(text_of(row, f"{spec}:row {i + 1}"), f"{spec}:row {i + 1}")


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
