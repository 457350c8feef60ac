"""A 100k-chunk RAG index on this machine: embed, build, save, load, query; HNSW against exact flat search.

    python bench/rag_index.py [--n 100000] [--queries 200] [--out /tmp/rag-bench-idx]

The corpus is ``--n`` generated policy sentences (handbook templates with
random company names and values, one chunk each), embedded for real with
``minilm-l6`` through genlab (chunker, encoder, faiss). The index crosses the
HNSW threshold, so it is an HNSW graph; the peer is faiss's exact
``IndexFlatIP`` over the same vectors, measured in the same run. Prints the
embedding rate, build/save/load times, query latency of both, HNSW's recall@10
against the exact top 10, the size on disk and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import time
from pathlib import Path

import numpy as np


def corpus(n: int, seed: int = 0) -> list:
    from genlab.apps.chunking import Document
    from genlab.data.builtin._common import FIRST_NAMES, LAST_NAMES
    from genlab.data.builtin.handbook import TOPICS, company_facts

    rng = random.Random(seed)
    docs = []
    for i in range(n):
        company = f"{rng.choice(LAST_NAMES)} {rng.choice(FIRST_NAMES)} {rng.choice(['Ltd', 'Store', 'Direct', 'Co'])}"
        facts = company_facts(company, rng.choice(["retail", "electronics"]), seed=i)[rng.choice(TOPICS)]
        docs.append(Document(f"d{i}", f"bench:{i}", rng.choice(facts).sentence))
    return docs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", default="/tmp/rag-bench-idx")
    a = ap.parse_args()

    import faiss

    from genlab.apps.encoder import load_encoder
    from genlab.apps.index import RagIndex

    t = time.perf_counter()
    docs = corpus(a.n)
    print(f"corpus: {a.n} documents in {time.perf_counter() - t:.1f}s")
    enc = load_encoder()
    index = RagIndex.empty(enc)
    t = time.perf_counter()
    index.add(docs, enc)
    build_s = time.perf_counter() - t
    print(f"chunk + embed + index: {index.size} chunks in {build_s:.1f}s ({index.size / build_s:.0f} chunks/s), "
          f"kind {index.manifest.kind}")
    out = Path(a.out)
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    index.save(out)
    save_s = time.perf_counter() - t
    t = time.perf_counter()
    index = RagIndex.load(out)
    load_s = time.perf_counter() - t
    size_mb = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    print(f"save {save_s:.1f}s · load {load_s:.1f}s · {size_mb:.0f} MiB on disk")

    rng = random.Random(1)
    questions = [f"What is the {rng.choice(['return window', 'restocking fee', 'warranty', 'shipping cost'])} "
                 f"at {docs[rng.randrange(a.n)].text.split()[0]}?" for _ in range(a.queries)]
    q = enc.encode(questions)
    flat = faiss.IndexFlatIP(index.vectors.shape[1])
    flat.add(index.vectors)
    t = time.perf_counter()
    for row in q:
        index.search(row[None], 10)
    hnsw_ms = (time.perf_counter() - t) / len(q) * 1e3
    t = time.perf_counter()
    exact = [flat.search(row[None], 10)[1][0] for row in q]
    flat_ms = (time.perf_counter() - t) / len(q) * 1e3
    ids = {c.chunk_id: i for i, c in enumerate(index.chunks)}
    got = [[ids[h.chunk.chunk_id] for h in index.search(row[None], 10)[0]] for row in q]
    recall = np.mean([len(set(g) & set(e)) / 10 for g, e in zip(got, exact)])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"query (1 at a time, top 10): HNSW {hnsw_ms:.3f} ms · exact flat {flat_ms:.3f} ms · "
          f"speed-up {flat_ms / hnsw_ms:.1f}x · HNSW recall@10 vs exact {recall:.3f}")
    print(f"peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
