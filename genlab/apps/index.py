"""A vector index of chunks on faiss, saved as a folder with a manifest.

Layout of ``idx/``::

    manifest.json   encoder (name, hash, dim), chunking settings, index kind, documents and their chunk ids
    chunks.jsonl    one chunk per line (id, document, source, start, end, text), in vector-id order
    vectors.npy     (n, d) float32 unit vectors, row i = vector id i
    index.faiss     the faiss index (vector ids -> rows)

Exact inner-product search (``IndexFlatIP``) below ``hnsw_threshold`` chunks;
above it an HNSW graph (Malkov & Yashunin 2016), which answers in well under a
millisecond where a flat scan grows linearly. Deleting from a flat index removes
the ids; HNSW cannot remove nodes, so deleted ids are tombstoned, filtered from
results, and the graph is rebuilt on save once they pass a tenth of the index.

An index belongs to one encoder: adding or querying with another one is refused,
naming both, because vectors from two models live in unrelated spaces.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from genlab.apps.chunking import Chunk, ChunkConfig, Document, Skipped, chunk_document
from genlab.errors import GenlabError
from genlab.io import atomic_write_bytes, atomic_write_json, atomic_write_jsonl
from genlab.progress import Reporter, or_quiet

FORMAT = 1
HNSW_THRESHOLD = 50_000
HNSW_M = 32
# faiss's default efConstruction (40) builds a graph that short questions, far from every chunk, search
# badly: recall@10 against exact search 0.75 on bench/rag_index.py's 100k chunks; 200 gives 0.96 at
# efSearch 128, for about 3x the graph build time (a small part of an index build: embedding dominates).
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 128


@dataclass
class Hit:
    chunk: Chunk
    score: float
    rank: int


@dataclass
class Manifest:
    encoder: str
    encoder_hash: str
    dim: int
    chunking: dict
    kind: str = "flat"  # flat | hnsw
    documents: dict = field(default_factory=dict)  # doc_id -> {source, sha256, chunks: [ids]}
    format: int = FORMAT


class RagIndex:
    """Chunks, their vectors and a faiss index over them; ``add``/``delete`` documents, ``search``."""

    def __init__(self, manifest: Manifest, chunks: list[Chunk | None] | None = None,
                 vectors: np.ndarray | None = None, faiss_index=None, hnsw_threshold: int = HNSW_THRESHOLD):
        self.manifest = manifest
        self.chunks: list[Chunk | None] = chunks or []  # None = deleted (tombstone)
        self.vectors = vectors if vectors is not None else np.zeros((0, manifest.dim), np.float32)
        self.hnsw_threshold = hnsw_threshold
        self._faiss = faiss_index if faiss_index is not None else self._new_faiss(manifest.kind)

    # -- construction ------------------------------------------------------------
    @classmethod
    def empty(cls, encoder, chunking: ChunkConfig = ChunkConfig(), *, hnsw_threshold: int = HNSW_THRESHOLD):
        m = Manifest(encoder.name, encoder.model_hash, encoder.dim, asdict(chunking))
        return cls(m, hnsw_threshold=hnsw_threshold)

    @property
    def chunking(self) -> ChunkConfig:
        return ChunkConfig(**self.manifest.chunking)

    @property
    def size(self) -> int:
        """Live chunks (deleted ones excluded)."""
        return sum(c is not None for c in self.chunks)

    def check_encoder(self, encoder) -> None:
        m = self.manifest
        if encoder.name != m.encoder or encoder.model_hash != m.encoder_hash:
            raise GenlabError(
                f"this index was built with encoder {m.encoder!r} (hash {m.encoder_hash[:12]}), not "
                f"{encoder.name!r} (hash {encoder.model_hash[:12]}): their vectors cannot be mixed",
                hint=f"use --encoder {m.encoder} with this index, or build a new index in another folder")

    # -- documents -----------------------------------------------------------------
    def add(self, docs: list[Document], encoder, *, reporter: Reporter | None = None) -> dict:
        """Chunk, embed and index ``docs``. A document already indexed with the same text is skipped;
        one whose text changed is replaced. Returns counts ``added``, ``replaced``, ``unchanged``, ``chunks``."""
        self.check_encoder(encoder)
        sources: dict[str, str] = {}
        for doc in docs:
            if doc.doc_id in sources:
                raise GenlabError(f"two documents have the id {doc.doc_id!r}: {sources[doc.doc_id]} and {doc.source}",
                                  hint="give JSONL rows distinct ids, or rename one of the files")
            sources[doc.doc_id] = doc.source
        counts = dict(added=0, replaced=0, unchanged=0, chunks=0)
        new_chunks: list[Chunk] = []
        for doc in docs:
            known = self.manifest.documents.get(doc.doc_id)
            if known and known["sha256"] == doc.sha256:
                counts["unchanged"] += 1
                continue
            if known:
                self.delete([doc.doc_id])
            counts["replaced" if known else "added"] += 1
            chunks = chunk_document(doc, encoder.tokenizer, self.chunking)
            self.manifest.documents[doc.doc_id] = dict(source=doc.source, sha256=doc.sha256,
                                                       chunks=[c.chunk_id for c in chunks])
            new_chunks += chunks
        if new_chunks:
            vectors = encoder.encode([c.text for c in new_chunks], reporter=reporter, label="embed chunks")
            self._append(new_chunks, vectors, reporter)
        counts["chunks"] = len(new_chunks)
        return counts

    def _append(self, chunks: list[Chunk], vectors: np.ndarray, reporter: Reporter | None = None) -> None:
        first = len(self.chunks)
        self.chunks += chunks
        self.vectors = np.concatenate([self.vectors, vectors.astype(np.float32)])
        if self.manifest.kind == "flat" and len(self.chunks) > self.hnsw_threshold:
            self._rebuild("hnsw", reporter)  # crossing the threshold: rebuild as a graph, all at once
        else:
            self._faiss.add_with_ids(vectors, np.arange(first, first + len(chunks), dtype=np.int64))

    def delete(self, doc_ids: list[str]) -> int:
        """Remove documents; returns how many chunks went. Unknown ids are an error (nothing is removed)."""
        unknown = [d for d in doc_ids if d not in self.manifest.documents]
        if unknown:
            raise GenlabError(f"not in the index: {', '.join(unknown)}",
                              hint="`genlab rag info IDX` lists the indexed documents")
        gone = {cid for d in doc_ids for cid in self.manifest.documents.pop(d)["chunks"]}
        ids = [i for i, c in enumerate(self.chunks) if c is not None and c.chunk_id in gone]
        for i in ids:
            self.chunks[i] = None
        if self.manifest.kind == "flat":
            self._faiss.remove_ids(np.asarray(ids, dtype=np.int64))
        return len(ids)

    # -- search --------------------------------------------------------------------
    def search(self, query_vectors: np.ndarray, k: int = 5) -> list[list[Hit]]:
        """Top-``k`` live chunks per query vector, best first."""
        if self.size == 0:
            raise GenlabError("the index is empty", hint="add documents with `genlab rag index DOCS --out IDX`")
        k = min(k, self.size)
        dead = len(self.chunks) - self.size
        want = k + dead if self.manifest.kind == "hnsw" else k  # tombstones may take some of the top slots
        if self.manifest.kind == "hnsw":
            import faiss

            faiss.downcast_index(self._faiss.index).hnsw.efSearch = max(HNSW_EF_SEARCH, want)
        scores, ids = self._faiss.search(np.ascontiguousarray(query_vectors, dtype=np.float32), want)
        out = []
        for row_s, row_i in zip(scores, ids):
            hits = [(float(s), int(i)) for s, i in zip(row_s, row_i) if i >= 0 and self.chunks[i] is not None]
            out.append([Hit(self.chunks[i], s, r + 1) for r, (s, i) in enumerate(hits[:k])])
        return out

    def chunk(self, chunk_id: str) -> Chunk:
        for c in self.chunks:
            if c is not None and c.chunk_id == chunk_id:
                return c
        raise GenlabError(f"no chunk {chunk_id!r} in the index")

    # -- faiss ---------------------------------------------------------------------
    def _new_faiss(self, kind: str):
        import faiss

        if kind == "hnsw":
            inner = faiss.IndexHNSWFlat(self.manifest.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        else:
            inner = faiss.IndexFlatIP(self.manifest.dim)
        return faiss.IndexIDMap2(inner)

    def _rebuild(self, kind: str, reporter: Reporter | None = None) -> None:
        """A fresh faiss index over the live chunks only (compacts tombstones)."""
        live = [i for i, c in enumerate(self.chunks) if c is not None]
        self.chunks = [self.chunks[i] for i in live]
        self.vectors = self.vectors[live]
        self.manifest.kind = kind
        self._faiss = self._new_faiss(kind)
        or_quiet(reporter).status(f"building the {kind} index over {len(live)} chunks")
        if live:
            self._faiss.add_with_ids(self.vectors, np.arange(len(live), dtype=np.int64))

    # -- persistence -----------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        import faiss

        folder = Path(folder)
        dead = len(self.chunks) - self.size
        if dead and (self.manifest.kind == "flat" or dead > 0.1 * len(self.chunks)):
            self._rebuild(self.manifest.kind)  # vector ids stay equal to row numbers on disk
        buf = io.BytesIO()
        np.save(buf, self.vectors)
        atomic_write_bytes(folder / "vectors.npy", buf.getvalue())
        atomic_write_bytes(folder / "index.faiss", faiss.serialize_index(self._faiss).tobytes())
        atomic_write_jsonl(folder / "chunks.jsonl",
                           [c.to_dict() if c is not None else {"deleted": True} for c in self.chunks])
        atomic_write_json(folder / "manifest.json", asdict(self.manifest))  # last: a complete index has one
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "RagIndex":
        import faiss

        folder = Path(folder)
        path = folder / "manifest.json"
        if not path.is_file():
            raise GenlabError(f"{folder} is not a genlab RAG index (no manifest.json)",
                              hint="build one with `genlab rag index DOCS --out IDX`")
        try:
            manifest = Manifest(**json.loads(path.read_text(encoding="utf-8")))
            lines = (folder / "chunks.jsonl").read_text(encoding="utf-8").splitlines()
            chunks = [None if r.get("deleted") else Chunk(**r) for r in map(json.loads, lines)]
            vectors = np.load(folder / "vectors.npy")
            raw = np.frombuffer((folder / "index.faiss").read_bytes(), dtype=np.uint8)
            index = faiss.deserialize_index(raw)
        except (OSError, ValueError, TypeError, RuntimeError) as e:
            raise GenlabError(f"index {folder} is damaged or incomplete: {e}",
                              hint="rebuild it with `genlab rag index DOCS --out IDX`") from None
        if manifest.format != FORMAT or len(chunks) != len(vectors):
            raise GenlabError(f"index {folder} is inconsistent ({len(chunks)} chunks, {len(vectors)} vectors, "
                              f"format {manifest.format})", hint="rebuild it")
        return cls(manifest, chunks, vectors, index)


def build_index(docs: list[Document], encoder, out: str | Path | None = None, *,
                chunking: ChunkConfig = ChunkConfig(), skipped: list[Skipped] | None = None,
                reporter: Reporter | None = None, hnsw_threshold: int = HNSW_THRESHOLD) -> tuple[RagIndex, dict]:
    """Add ``docs`` to the index at ``out`` (created when missing, else loaded: incremental), save it."""
    existing = out is not None and (Path(out) / "manifest.json").is_file()
    index = RagIndex.load(out) if existing else RagIndex.empty(encoder, chunking, hnsw_threshold=hnsw_threshold)
    if existing and asdict(chunking) != index.manifest.chunking:
        raise GenlabError(f"index {out} was chunked with {index.manifest.chunking}, not {asdict(chunking)}",
                          hint="keep the index's chunk settings, or build a new index elsewhere")
    counts = index.add(docs, encoder, reporter=reporter)
    counts["skipped"] = len(skipped or [])
    if out is not None:
        index.save(out)
    return index, counts
