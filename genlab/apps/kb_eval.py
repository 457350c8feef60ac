"""``support-kb-qa`` scored closed-book and with retrieval: recall@k, MRR, EM, token F1, faithfulness.

Gold chunks come from the evidence span, not from a stored id: a chunk is gold
when it belongs to the evidence's document and its span covers the whole
evidence sentence. So the same task scores an index built with any chunk size.

- recall@k: share of questions with a gold chunk among the top k.
- MRR: mean of 1/rank of the first gold chunk (0 when none is in the top k).
- exact match / token F1: HELM ``quasi_exact_match`` and ``f1`` (genlab.evaluation.metrics).
- faithfulness: the share of the answer's facts (numbers, amounts, times; the content
  words when it states no number) that appear in the passages it was given.

Closed-book and RAG answer the same questions with the same model, so the
difference is tested with the paired bootstrap (Koehn 2004).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from genlab.apps.chunking import ChunkConfig, Document
from genlab.apps.index import Hit, RagIndex, build_index
from genlab.apps.rag import RagConfig, answer_questions, closed_book

FACT = re.compile(r"\$?\d+(?:[.,:]\d+)?%?")
STOPWORDS = set("the a an of to in on at for is are was be it its and or with by from that this what how "
                "which when within after before does do can i my you your will their they there".split())


def handbook_documents(seed: int = 0) -> list[Document]:
    from genlab.data.builtin.handbook import handbook

    return [Document(d["id"], f"handbook/{d['id']}.md", d["text"], dict(title=d["title"])) for d in handbook(seed)]


def handbook_index(encoder, chunking: ChunkConfig = ChunkConfig(), out=None, reporter=None) -> RagIndex:
    index, _ = build_index(handbook_documents(), encoder, out, chunking=chunking, reporter=reporter)
    return index


def gold_chunk_ids(index: RagIndex, row: dict) -> set[str]:
    return {c.chunk_id for c in index.chunks if c is not None and c.doc_id == row["doc_id"]
            and c.start <= row["evidence_start"] and c.end >= row["evidence_end"]}


def first_gold_rank(hits: list[Hit], gold: set[str]) -> int | None:
    return next((h.rank for h in hits if h.chunk.chunk_id in gold), None)


def clean_answer(text: str) -> str:
    """The first line, without chunk citations: what exact match and F1 compare."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return re.sub(r"\s*\[[^\[\]]*#\d+\]", "", line).strip()


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w$%.:]", " ", text.lower()).split())


def faithfulness(answer: str, context: str) -> float:
    """Share of the answer's facts found in ``context``; an answer that states nothing scores 0."""
    facts = [f.rstrip(".,") for f in FACT.findall(answer)]
    if not facts:
        facts = [w for w in re.findall(r"[a-z]+", answer.lower()) if len(w) > 2 and w not in STOPWORDS]
    if not facts:
        return 0.0
    ctx = _norm(context)
    return sum(f.lower() in ctx for f in facts) / len(facts)


@dataclass
class KbResult:
    n: int
    k: int
    metrics: dict = field(default_factory=dict)  # system -> metric -> {value, ci_low, ci_high}
    paired: dict = field(default_factory=dict)  # metric -> paired bootstrap of rag - closed
    samples: list[dict] = field(default_factory=list)


def answer_scores(preds: list[str], golds: list[str]) -> dict[str, np.ndarray]:
    from genlab.evaluation.metrics import get_metric

    em, f1 = get_metric("quasi_exact_match"), get_metric("f1")
    return dict(exact_match=np.array([em.sentence_score(p, [g]) for p, g in zip(preds, golds)]),
                f1=np.array([f1.sentence_score(p, [g]) for p, g in zip(preds, golds)]))


def evaluate_kb(lm, encoder, rows: list[dict], *, k: int = 5, index: RagIndex | None = None,
                closed: bool = True, reporter=None) -> KbResult:
    """Retrieval metrics, then RAG answers and (``closed``) closed-book answers on the same ``rows``."""
    from genlab.evaluation.metrics import mean_with_ci, paired_bootstrap

    index = index or handbook_index(encoder, reporter=reporter)
    questions, golds = [r["question"] for r in rows], [r["answer"] for r in rows]
    rag = answer_questions(lm, index, encoder, questions, RagConfig(k=k), reporter=reporter)
    ranks = [first_gold_rank(a.hits, gold_chunk_ids(index, r)) for a, r in zip(rag, rows)]
    per = {"rag": answer_scores([clean_answer(a.answer) for a in rag], golds)}
    per["rag"]["faithfulness"] = np.array([faithfulness(clean_answer(a.answer), a.context) for a in rag])
    retrieval = dict(recall_at_k=np.array([r is not None for r in ranks], float),
                     mrr=np.array([1.0 / r if r else 0.0 for r in ranks]))
    closed_answers = closed_book(lm, questions, reporter=reporter) if closed else None
    if closed_answers is not None:
        per["closed-book"] = answer_scores([clean_answer(a) for a in closed_answers], golds)
    result = KbResult(len(rows), k)
    result.metrics["retrieval"] = {m: mean_with_ci(v) for m, v in retrieval.items()}
    for system, scores in per.items():
        result.metrics[system] = {m: mean_with_ci(v) for m, v in scores.items()}
    if closed_answers is not None:
        for m in ("exact_match", "f1"):
            result.paired[m] = paired_bootstrap(_stats(per["closed-book"][m]), _stats(per["rag"][m]), _mean)
    for i, (r, a) in enumerate(zip(rows, rag)):
        result.samples.append(dict(id=r.get("id", i), question=r["question"], answer=r["answer"],
                                   rag=a.answer, closed_book=closed_answers[i] if closed_answers else None,
                                   retrieved=[h.chunk.chunk_id for h in a.hits], gold=sorted(gold_chunk_ids(index, r)),
                                   gold_rank=ranks[i], **{f"rag_{m}": float(v[i]) for m, v in per["rag"].items()}))
    return result


def _stats(values: np.ndarray) -> np.ndarray:
    return np.column_stack([values, np.ones(len(values))])


def _mean(s: np.ndarray) -> np.ndarray:
    return s[..., 0] / np.maximum(s[..., 1], 1)
