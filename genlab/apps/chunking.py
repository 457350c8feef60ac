"""Documents and token chunks for retrieval: read text/Markdown/JSONL, cut by tokens with overlap.

A chunk keeps its source offsets: ``doc.text[chunk.start:chunk.end] == chunk.text``,
so a cited chunk can always be shown in its document. Windows are counted in the
encoder's tokens (what the encoder actually sees, and what bounds its input);
the character span comes from the fast tokenizer's offset mapping.

Empty and binary inputs are skipped with a reason (``Skipped``), never a crash:
an index build over a folder with a stray PDF still indexes the rest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from genlab.errors import ConfigError

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ""}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
TEXT_FIELDS = ("text", "content", "body")


@dataclass(frozen=True)
class ChunkConfig:
    """Chunk windows in encoder tokens: ``size`` tokens each, consecutive windows share ``overlap``."""

    size: int = 128
    overlap: int = 32

    def __post_init__(self):
        if not isinstance(self.size, int) or self.size < 8:
            raise ConfigError(f"chunk size must be a whole number of tokens >= 8 (got {self.size!r})",
                              where="--chunk-size")
        if not isinstance(self.overlap, int) or not 0 <= self.overlap < self.size:
            raise ConfigError(f"chunk overlap must be >= 0 and below the chunk size {self.size} "
                              f"(got {self.overlap!r})", where="--overlap")


@dataclass
class Document:
    doc_id: str
    source: str  # "handbook/returns.md" or "faq.jsonl:12"
    text: str
    meta: dict = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass
class Chunk:
    chunk_id: str  # "<doc_id>#<k>"
    doc_id: str
    source: str
    start: int  # character offsets into the document's text
    end: int
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Skipped:
    path: str
    reason: str


def chunk_document(doc: Document, tokenizer, cfg: ChunkConfig = ChunkConfig()) -> list[Chunk]:
    """Token windows of ``cfg.size`` with ``cfg.overlap`` shared tokens, as character spans of ``doc.text``."""
    enc = tokenizer(doc.text, add_special_tokens=False, return_offsets_mapping=True)
    spans = [(a, b) for a, b in enc["offset_mapping"] if b > a]
    if not spans:
        return []
    step, out = cfg.size - cfg.overlap, []
    for first in range(0, len(spans), step):
        window = spans[first:first + cfg.size]
        start, end = window[0][0], window[-1][1]
        if not out or (start, end) != (out[-1].start, out[-1].end):  # byte-level BPE: tokens can share a span
            out.append(Chunk(f"{doc.doc_id}#{len(out)}", doc.doc_id, doc.source, start, end, doc.text[start:end]))
        if first + cfg.size >= len(spans):
            break
    return out


# -- reading --------------------------------------------------------------------
def _decode(raw: bytes) -> str | None:
    """UTF-8 text, or None for what looks binary (NUL bytes, or not UTF-8)."""
    if b"\x00" in raw[:8192]:
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _files(paths: Iterable[str | Path]) -> Iterable[Path]:
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        else:
            yield p


def read_documents(paths: Iterable[str | Path]) -> tuple[list[Document], list[Skipped]]:
    """Documents from text/Markdown files and JSONL rows (field text/content/body; optional id).

    Folders are read recursively. A missing path is an error (a typo should not
    build an index of nothing); empty, binary and unreadable inputs are skipped
    with a reason.
    """
    docs: list[Document] = []
    skipped: list[Skipped] = []
    for path in _files(paths):
        if not path.exists():
            raise ConfigError(f"document {path} not found", hint="check the path; folders are read recursively")
        text = _decode(path.read_bytes())
        if text is None:
            skipped.append(Skipped(str(path), "binary (not UTF-8 text)"))
        elif not text.strip():
            skipped.append(Skipped(str(path), "empty"))
        elif path.suffix.lower() in JSONL_SUFFIXES:
            _jsonl_docs(path, text, docs, skipped)
        elif path.suffix.lower() in TEXT_SUFFIXES:
            docs.append(Document(_doc_id(path), str(path), text))
        else:
            skipped.append(Skipped(str(path), f"unsupported type {path.suffix!r} (text, Markdown or JSONL)"))
    return docs, skipped


def _doc_id(path: Path) -> str:
    return path.stem if path.parent == Path(".") else f"{path.parent.name}/{path.stem}"


def _jsonl_docs(path: Path, text: str, docs: list[Document], skipped: list[Skipped]) -> None:
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            skipped.append(Skipped(where, f"not valid JSON ({e.msg})"))
            continue
        body = next((row[f] for f in TEXT_FIELDS if isinstance(row, dict) and isinstance(row.get(f), str)), None)
        if body is None:
            skipped.append(Skipped(where, f"no text field ({', '.join(TEXT_FIELDS)})"))
        elif not body.strip():
            skipped.append(Skipped(where, "empty text"))
        else:
            doc_id = str(row.get("id", f"{path.stem}:{line_no}"))
            meta = {k: v for k, v in row.items() if k not in TEXT_FIELDS and k != "id"}
            docs.append(Document(doc_id, where, body, meta))
