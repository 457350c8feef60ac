"""RAG: chunk offsets, reading odd inputs, the faiss index (search, save/load, add/delete, HNSW), encoder
checks, prompt fitting, the handbook and support-kb-qa generators, and the KB metrics. Tiny random models."""

from __future__ import annotations

import random

import numpy as np
import pytest

from genlab.apps.chunking import ChunkConfig, Document, chunk_document, read_documents
from genlab.errors import ConfigError, GenlabError

CORPUS = {
    "cats": "Cats purr when they are content. A cat sleeps up to sixteen hours a day.",
    "ships": "Container ships carry goods across oceans. The largest carry over twenty thousand boxes.",
    "bread": "Sourdough bread rises with wild yeast. Bake it hot for a dark crust.",
    "tax": "Quarterly tax payments are due in April, June, September and January.",
}


@pytest.fixture(scope="module")
def encoder(tiny_encoder_dir):
    from genlab.apps.encoder import load_encoder

    return load_encoder(str(tiny_encoder_dir))


@pytest.fixture()
def docs():
    return [Document(k, f"{k}.txt", v) for k, v in CORPUS.items()]


def _long_text(seed: int = 0) -> str:
    rng = random.Random(seed)
    words = ["alpha", "beta", "Gamma,", "delta.", "épée", "naïve", "$4.99", "\n\n", "x" * 15, "2026-01-02"]
    return " ".join(rng.choice(words) for _ in range(400))


@pytest.mark.parametrize("size,overlap", [(16, 0), (16, 4), (40, 12), (9, 8)])
def test_chunk_offsets_round_trip_and_cover_the_document(encoder, size, overlap):
    doc = Document("d", "d.txt", _long_text(size))
    chunks = chunk_document(doc, encoder.tokenizer, ChunkConfig(size, overlap))
    assert len(chunks) > 3
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text
        assert len(encoder.tokenizer(c.text, add_special_tokens=False)["input_ids"]) <= size + 2
    assert doc.text[:chunks[0].start].strip() == "" and doc.text[chunks[-1].end:].strip() == ""
    for a, b in zip(chunks, chunks[1:]):  # consecutive windows touch or overlap: nothing falls between
        assert b.start <= a.end and b.start >= a.start and (b.start, b.end) != (a.start, a.end)
        if overlap:
            assert b.start < a.end
    assert [c.chunk_id for c in chunks] == [f"d#{i}" for i in range(len(chunks))]


def test_chunk_config_refuses_bad_settings():
    with pytest.raises(ConfigError, match="overlap"):
        ChunkConfig(16, 16)
    with pytest.raises(ConfigError, match="size"):
        ChunkConfig(2, 0)


def test_read_documents_skips_empty_binary_and_bad_rows_with_reasons(tmp_path):
    (tmp_path / "a.md").write_text("# Title\nSome text.")
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "img.png").write_bytes(b"\x89PNG\x00\x00\x01")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "rows.jsonl").write_text('{"id": "r1", "text": "one", "tag": "x"}\n{"body": "two"}\n'
                                         '{"text": ""}\n{bad\n{"title": "no text"}\n')
    docs, skipped = read_documents([tmp_path])
    assert sorted(d.doc_id for d in docs) == sorted([f"{tmp_path.name}/a", "r1", "rows:2"])
    assert next(d for d in docs if d.doc_id == "r1").meta == {"tag": "x"}
    reasons = {s.path.replace(str(tmp_path) + "/", ""): s.reason for s in skipped}
    assert reasons["empty.txt"] == "empty" and reasons["rows.jsonl:3"] == "empty text"
    assert "binary" in reasons["img.png"] and "binary" in reasons["latin.txt"]
    assert "JSON" in reasons["rows.jsonl:4"] and "no text field" in reasons["rows.jsonl:5"]
    with pytest.raises(ConfigError, match="not found"):
        read_documents([tmp_path / "missing.txt"])


def _ids(hits):
    return [h.chunk.chunk_id for h in hits]


def test_retrieval_returns_the_known_chunk(encoder, docs):
    from genlab.apps.index import build_index
    from genlab.apps.rag import retrieve

    index, counts = build_index(docs, encoder, chunking=ChunkConfig(200, 8))
    assert counts["added"] == 4 and index.size == 4
    hits = retrieve(index, encoder, [CORPUS["bread"], CORPUS["tax"]], k=2)
    assert _ids(hits[0])[0] == "bread#0" and _ids(hits[1])[0] == "tax#0"
    assert hits[0][0].score == pytest.approx(1.0, abs=1e-4)  # the same text: cosine 1
    assert hits[0][0].score >= hits[0][1].score


def test_index_save_load_add_delete(encoder, docs, tmp_path):
    from genlab.apps.index import RagIndex, build_index

    out = tmp_path / "idx"
    index, _ = build_index(docs[:2], encoder, out, chunking=ChunkConfig(200, 8))
    q = encoder.encode([CORPUS["ships"]])
    loaded = RagIndex.load(out)
    assert loaded.manifest.encoder == encoder.name and loaded.manifest.chunking == {"size": 200, "overlap": 8}
    assert _ids(loaded.search(q, 2)[0]) == _ids(index.search(q, 2)[0])
    _, counts = build_index(docs, encoder, out, chunking=ChunkConfig(200, 8))  # incremental
    assert counts == dict(added=2, replaced=0, unchanged=2, chunks=2, skipped=0)
    changed = [Document("cats", "cats.txt", "Dogs bark at the postman every morning.")]
    _, counts = build_index(changed, encoder, out, chunking=ChunkConfig(200, 8))
    assert counts["replaced"] == 1
    index = RagIndex.load(out)
    assert index.chunk("cats#0").text.startswith("Dogs") and index.size == 4
    assert index.delete(["ships"]) == 1
    index.save(out)
    index = RagIndex.load(out)
    assert index.size == 3 and "ships" not in index.manifest.documents
    assert "ships#0" not in _ids(index.search(q, 3)[0])
    with pytest.raises(GenlabError, match="not in the index: nope"):
        index.delete(["nope", "tax"])
    assert index.size == 3  # nothing removed on error
    with pytest.raises(GenlabError, match="chunked with"):
        build_index(docs, encoder, out, chunking=ChunkConfig(32, 8))
    with pytest.raises(GenlabError, match="two documents have the id 'tax'"):
        build_index([docs[3], Document("tax", "other.txt", "x")], encoder, out, chunking=ChunkConfig(200, 8))


def test_hnsw_beyond_the_threshold_search_and_tombstones(encoder):
    from genlab.apps.index import RagIndex

    many = [Document(f"d{i}", f"d{i}", f"document number {i} about topic {i % 7} " + "word " * (i % 5))
            for i in range(40)]
    index = RagIndex.empty(encoder, ChunkConfig(128, 4), hnsw_threshold=20)
    index.add(many[:10], encoder)
    assert index.manifest.kind == "flat"
    index.add(many[10:], encoder)
    assert index.manifest.kind == "hnsw" and index.size == 40
    q = encoder.encode([many[25].text])
    assert _ids(index.search(q, 1)[0]) == ["d25#0"]
    index.delete(["d25"])
    top = _ids(index.search(q, 5)[0])
    assert "d25#0" not in top and len(top) == 5


def test_encoder_mismatch_is_refused_naming_both(encoder, docs, tiny_causal_dir, tmp_path):
    from genlab.apps.encoder import load_encoder
    from genlab.apps.index import RagIndex, build_index
    from genlab.apps.rag import retrieve

    build_index(docs, encoder, tmp_path / "idx")
    other = load_encoder(str(tiny_causal_dir))
    with pytest.raises(GenlabError) as e:
        build_index(docs, other, tmp_path / "idx")
    assert encoder.name in str(e.value) and other.name in str(e.value)
    with pytest.raises(GenlabError, match="cannot be mixed"):
        retrieve(RagIndex.load(tmp_path / "idx"), other, ["q"])


def test_damaged_or_missing_index_is_a_clear_error(encoder, docs, tmp_path):
    from genlab.apps.index import RagIndex, build_index

    with pytest.raises(GenlabError, match="not a genlab RAG index"):
        RagIndex.load(tmp_path)
    build_index(docs, encoder, tmp_path / "idx")
    (tmp_path / "idx" / "vectors.npy").write_bytes(b"junk")
    with pytest.raises(GenlabError, match="damaged"):
        RagIndex.load(tmp_path / "idx")


def test_prompt_drops_lowest_ranked_passages_to_fit_and_refuses_a_question_too_long(encoder, docs):
    from genlab.apps.index import build_index
    from genlab.apps.rag import fit_passages, retrieve

    index, _ = build_index(docs, encoder)
    hits = retrieve(index, encoder, ["cats"], k=4)[0]
    tok = encoder.tokenizer
    full, used = fit_passages("Why do cats purr?", hits, tok, None)
    assert len(used) == 4
    n_full = len(tok(full, add_special_tokens=False)["input_ids"])
    small, used = fit_passages("Why do cats purr?", hits, tok, n_full - 5)
    assert 0 < len(used) < 4 and used == hits[:len(used)]
    assert len(tok(small, add_special_tokens=False)["input_ids"]) <= n_full - 5
    with pytest.raises(GenlabError, match="question alone"):
        fit_passages("why " * 500, hits, tok, 200)


def test_citations_keep_only_ids_that_were_in_the_prompt(encoder, docs):
    from genlab.apps.index import build_index
    from genlab.apps.rag import citations, retrieve

    index, _ = build_index(docs, encoder)
    used = retrieve(index, encoder, [CORPUS["tax"]], k=2)[0]
    first = used[0].chunk.chunk_id
    assert citations(f"In April [{first}] and [made#9] [{first}]", used) == [first]


def test_handbook_is_deterministic_varied_and_consistent_with_support_dialogues():
    from genlab.data.builtin.handbook import handbook, handbook_fact

    a, b = handbook(), handbook()
    assert a == b and len(a) >= 40
    assert len({d["id"] for d in a}) == len(a)
    for d in a:
        for key, (s, e) in d["spans"].items():
            assert d["company"] in d["text"][s:e]  # a fact sentence names its company
    retail = [handbook_fact(c, "return_window") for c in ("ShopRight", "Urbano")]
    assert all(f.answer == "30 days" for f in retail)  # agents in support dialogues say "thirty days"
    assert handbook_fact("Voltique", "warranty_length").answer == "2 years"
    fees = {handbook_fact(c, "restocking_fee").answer for c in ("ShopRight", "HomeNest", "Urbano", "Voltique",
                                                                "Brightline", "Pixelworks")}
    assert len(fees) > 1  # companies differ: a closed-book model cannot know which


def test_kb_questions_deterministic_varied_and_answer_in_evidence():
    from genlab.data.builtin import generate
    from genlab.data.builtin.handbook import COMPANY_PARTS, handbook

    rows = generate("support-kb", 200, seed=0)
    assert rows == generate("support-kb", 200, seed=0) and rows[:50] == generate("support-kb", 50, seed=0)
    assert rows != generate("support-kb", 200, seed=1)
    assert len({r["question"] for r in rows}) > 120 and len({r["fact"] for r in rows}) > 15
    texts = {d["id"]: d["text"] for d in handbook()}
    for r in rows:
        assert texts[r["doc_id"]][r["evidence_start"]:r["evidence_end"]] == r["evidence"]
        assert r["answer"] in r["evidence"] and r["company"] in r["question"]
    unseen = generate("support-kb", 100, seed=0, part="unseen")
    assert {r["company"] for r in unseen} <= set(COMPANY_PARTS["unseen"])
    assert not {r["question"] for r in unseen} & {r["question"] for r in rows}


def test_support_kb_qa_task_loads():
    from genlab.tasks import load_task

    t = load_task("support-kb-qa")
    reqs = t.requests("test", n=3)
    assert len(reqs) == 3 and reqs[0].target == t.examples("test")[0]["answer"]
    assert "test-unseen" in t.split_names()


def test_gold_chunks_and_ranks_follow_the_evidence_span(encoder):
    from genlab.apps.index import Hit
    from genlab.apps.kb_eval import first_gold_rank, gold_chunk_ids, handbook_index

    from genlab.data.builtin import generate

    index = handbook_index(encoder, ChunkConfig(200, 120))  # overlap longer than a sentence: one chunk holds it
    row = generate("support-kb", 1, seed=5)[0]
    gold = gold_chunk_ids(index, row)
    assert gold and all(g.startswith(row["doc_id"] + "#") for g in gold)
    for g in gold:
        assert row["evidence"] in index.chunk(g).text
    other = next(c for c in index.chunks if c.chunk_id not in gold)
    hits = [Hit(other, 0.9, 1), Hit(index.chunk(sorted(gold)[0]), 0.8, 2)]
    assert first_gold_rank(hits, gold) == 2 and first_gold_rank(hits[:1], gold) is None


@pytest.mark.parametrize("answer,context,want", [
    ("30 days", "returns within 30 days of delivery", 1.0),
    ("$7.95 and 12%", "a label costs $7.95; fee 15%", 0.5),
    ("It is free", "The label is free.", 1.0),
    ("45 minutes", "expires after 15 minutes", 0.0),
    ("", "anything", 0.0),
])
def test_faithfulness_on_hand_cases(answer, context, want):
    from genlab.apps.kb_eval import faithfulness

    assert faithfulness(answer, context) == pytest.approx(want)


def test_clean_answer_drops_citations_and_later_lines():
    from genlab.apps.kb_eval import clean_answer

    assert clean_answer("30 days [returns/shopright#0]\nQuestion: more") == "30 days"


def test_evaluate_kb_end_to_end_with_tiny_models(encoder, tiny_causal):
    from genlab.apps.kb_eval import evaluate_kb, handbook_index
    from genlab.data.builtin import generate

    rows = generate("support-kb", 6, seed=3)
    index = handbook_index(encoder, ChunkConfig(200, 120))
    res = evaluate_kb(tiny_causal, encoder, rows, k=3, index=index)
    assert set(res.metrics) == {"retrieval", "rag", "closed-book"}
    assert set(res.metrics["rag"]) == {"exact_match", "f1", "faithfulness"}
    assert set(res.paired) == {"exact_match", "f1"} and len(res.samples) == 6
    recall = res.metrics["retrieval"]["recall_at_k"]["value"]
    assert recall == np.mean([s["gold_rank"] is not None for s in res.samples])
    assert all(len(s["retrieved"]) == 3 and s["gold"] for s in res.samples)


def test_rag_format_adapter_pairs_render_as_rag_answers_them(encoder, tiny_causal):
    """The tuning prompt is the prompt `rag eval` builds (same retrieval, demos, fitting); the target is the gold."""
    from genlab.apps.rag import RagConfig, answer_questions
    from genlab.apps.rag_tuning import KbAnswerTask
    from genlab.tasks import load_task

    cfg = RagConfig(k=3, max_new_tokens=2)
    task = KbAnswerTask(encoder, k=3, budget=tiny_causal.context_window - cfg.max_new_tokens,
                        chunking=ChunkConfig(200, 120))
    pairs = task.training_pairs("train", n=3, tokenizer=tiny_causal.tokenizer)
    rows = load_task("support-kb-qa").examples("train")[:3]
    assert [t for _, t in pairs] == [r["answer"] for r in rows]
    answers = answer_questions(tiny_causal, task.index, encoder, [r["question"] for r in rows], cfg)
    assert [p for p, _ in pairs] == [a.prompt for a in answers]
    assert all(r["question"] in p for (p, _), r in zip(pairs, rows))
    unseen = {r["company"] for r in load_task("support-kb-qa").examples("test-unseen")}
    trained = {r["company"] for r in load_task("support-kb-qa").examples("train")}
    assert unseen and not unseen & trained  # test-unseen asks about companies the adapter never trained on
