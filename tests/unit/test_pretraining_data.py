"""Pre-training data: masking rates, span corruption, packing and the held-out boundary, bad corpora."""

from __future__ import annotations

import json
import random

import pytest
import torch

from genlab.errors import ConfigError, DataError
from genlab.pretraining import corpus as C
from genlab.pretraining.objectives import IGNORE, mask_tokens, noise_spans, reconstruct, span_corrupt
from genlab.pretraining.tokenizer import sentinel_ids, train_bpe

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()


def _docs(n: int, seed: int = 0) -> list[C.Document]:
    rng = random.Random(seed)
    return [C.Document(f"doc{i:04d}marker " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60))),
                       f"test:{i}") for i in range(n)]


@pytest.fixture(scope="module")
def tok():
    return train_bpe([d.text for d in _docs(200)], 600)


def test_mlm_masking_rates_match_bert():
    g = torch.Generator().manual_seed(0)
    V, mask_id, sep = 1000, 3, 0
    ids = torch.randint(10, V, (400, 128), generator=g)
    ids[:, ::16] = sep  # separators: never predicted
    inputs, labels = mask_tokens(ids, mask_id, V, [sep], 0.15, g)
    sel = labels != IGNORE
    eligible = ids != sep
    assert not sel[~eligible].any()
    rate = sel.sum().item() / eligible.sum().item()
    assert abs(rate - 0.15) < 0.005  # ~48k eligible tokens: sd of the rate ~0.0016
    n = sel.sum().item()
    masked = (inputs[sel] == mask_id).sum().item() / n
    unchanged = (inputs[sel] == ids[sel]).sum().item() / n
    randomized = 1 - masked - unchanged
    assert abs(masked - 0.8) < 0.01 and abs(unchanged - 0.1) < 0.01 and abs(randomized - 0.1) < 0.01
    assert torch.equal(labels[sel], ids[sel])  # the label is the original token
    assert torch.equal(inputs[~sel], ids[~sel])  # nothing else is touched


def test_span_corruption_sentinels_reconstruct_the_text(tok):
    sents = sentinel_ids(tok)
    assert len(sents) == 64 and len(set(sents)) == 64
    ids = tok(_docs(1)[0].text * 4, add_special_tokens=False)["input_ids"][:128]
    noise_total, spans_total = 0, 0
    for seed in range(200):
        x, y = span_corrupt(ids, sents, random.Random(seed))
        assert reconstruct(x, y, sents) == ids
        k = sum(t in sents for t in x)
        assert y[0] == sents[0] and y[-1] == sents[k]  # targets open with <extra_id_0> and close with the next one
        assert [t for t in y if t in sents] == sents[:k + 1]
        noise_total += len(y) - (k + 1)
        spans_total += k
    assert abs(noise_total / (200 * len(ids)) - 0.15) < 0.01
    assert 2.5 < noise_total / spans_total < 3.6  # mean span length ~3


def test_noise_spans_are_disjoint_and_start_after_text():
    for seed in range(50):
        spans = noise_spans(40, random.Random(seed))
        assert spans[0][0] >= 1
        assert all(a < b for a, b in spans)
        assert all(b1 < a2 for (_, b1), (a2, _) in zip(spans, spans[1:]))  # a kept token between spans


def test_heldout_split_is_by_document_deterministic_and_order_free():
    docs = _docs(400)
    a = C.split_documents(docs, 0.1, seed=0)
    shuffled = docs[:]
    random.Random(1).shuffle(shuffled)
    b = C.split_documents(shuffled, 0.1, seed=0)
    assert {d.text for d in a.heldout} == {d.text for d in b.heldout}
    assert 20 <= len(a.heldout) <= 60
    # a near duplicate (case, punctuation) of a held-out document is dropped, never trained on
    twin = C.Document(a.heldout[0].text.upper() + " !", "twin")
    c = C.split_documents(docs + [twin], 0.1, seed=0)
    assert c.duplicates == 1 and all(d.where != "twin" for d in c.train)


def test_causal_packing_never_leaks_across_the_heldout_boundary(tok):
    split = C.split_documents(_docs(300), 0.1, seed=3)
    train = C.pack(split.train, tok, 64)
    held = C.pack(split.heldout, tok, 64, name="held-out")
    train_text = " ".join(tok.decode(b) for b in train.blocks)
    held_text = " ".join(tok.decode(b) for b in held.blocks)
    held_markers = {d.text.split()[0] for d in split.heldout}
    train_markers = {d.text.split()[0] for d in split.train}
    assert not any(m in train_text for m in held_markers)
    assert not any(m in held_text for m in train_markers)
    # documents are separated by EOS inside blocks, and blocks are full
    sep = tok.eos_token_id
    assert train.blocks.shape[1] == 64 and (train.blocks == sep).sum() >= len(split.train) - 2
    assert train.tokens_in - train.tokens < 64  # only the incomplete tail is dropped


def test_text_and_jsonl_sources(tmp_path):
    (tmp_path / "a.txt").write_text("first paragraph\nstill first\n\nsecond one\n")
    (tmp_path / "b.jsonl").write_text('{"text": "third"}\n\n{"text": "fourth"}\n')
    docs = C.load_documents(str(tmp_path))
    assert [d.text for d in docs] == ["first paragraph\nstill first", "second one", "third", "fourth"]
    assert docs[1].where.endswith("a.txt:4") and docs[3].where.endswith("b.jsonl:3")
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"body": "no text"}\n')
    with pytest.raises(DataError, match=r'bad.jsonl:2.*missing text field "text" \(the first row\'s\); fields: body'):
        C.load_documents(str(tmp_path / "bad.jsonl"))
    built = C.load_documents("builtin:support,reviews", n_docs=10)
    assert len(built) == 10 and {d.where.split(":")[1] for d in built} == {"support", "reviews"}


def test_tables_compressed_files_and_the_text_field_found_in_the_first_row(tmp_path):
    import bz2
    import gzip
    import lzma

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"id": i, "title": f"t{i}", "body": f"document {i}, with a comma\nand a line"} for i in range(3)]
    with open(tmp_path / "a.csv", "w", newline="") as f:
        import csv

        w = csv.DictWriter(f, ["id", "title", "body"])
        w.writeheader()
        w.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "b.parquet")
    (tmp_path / "c.tsv").write_text("name\tcontent\nx\tfrom a tsv\n")
    jsonl = "".join(json.dumps({"content": f"line {i}", "n": i}) + "\n" for i in range(2))
    (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress(jsonl.encode()))
    (tmp_path / "e.txt.bz2").write_bytes(bz2.compress(b"para one\n\npara two\n"))
    (tmp_path / "f.md.xz").write_bytes(lzma.compress("only one \u2028 paragraph\n".encode()))
    (tmp_path / "g.json").write_text(json.dumps({"story": "a story", "moral": "one string field too many"}) + "\n")
    (tmp_path / "skip.bin").write_bytes(b"\x00")
    found: dict[str, str] = {}
    docs = C.load_documents(str(tmp_path), found=found)
    assert {k.rsplit("/", 1)[1]: v for k, v in found.items()} == {
        "a.csv": "body", "b.parquet": "body", "c.tsv": "content", "d.jsonl.gz": "content", "g.json": "story"}
    texts = [r["body"] for r in rows] * 2 + ["from a tsv", "line 0", "line 1", "para one", "para two",
                                             "only one \u2028 paragraph", "a story"]
    assert [d.text for d in docs] == texts  # body (csv, parquet), content (tsv, jsonl.gz), story (json)
    assert docs[1].where.endswith("a.csv:4") and docs[4].where.endswith("b.parquet:row 2")
    assert C.load_documents(str(tmp_path / "a.csv"), text_field="title")[2].text == "t2"
    (tmp_path / "two.jsonl").write_text(json.dumps({"q": "a", "a": "b"}) + "\n")
    with pytest.raises(DataError, match=r"two.jsonl:1: no text field found; fields: q \(str\), a \(str\)") as e:
        C.load_documents(str(tmp_path / "two.jsonl"))
    assert "--text-field" in e.value.render()
    (tmp_path / "cut.jsonl.gz").write_bytes(gzip.compress(jsonl.encode())[:-6])
    with pytest.raises(DataError, match=r"cut.jsonl.gz: cannot decompress") as e:
        C.load_documents(str(tmp_path / "cut.jsonl.gz"))
    assert "compression" in e.value.render()


def test_bad_corpora_are_refused_with_what_to_do(tmp_path, tok):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match="no text"):
        C.split_documents(C.load_documents(str(empty)), 0.1)
    same = [C.Document("the very same text", f"x:{i}") for i in range(50)]
    with pytest.raises(DataError, match="only 1 distinct"):
        C.split_documents(same, 0.1)
    small = C.split_documents(_docs(4), 0.3)
    with pytest.raises(DataError, match="fewer than one block") as e:
        C.pack(small.heldout, tok, 4096, name="held-out")
    assert "block-size" in e.value.render()
    packed = C.pack(_docs(20), tok, 32)
    with pytest.raises(DataError, match="does not fit the model's embedding"):
        C.check_vocab(packed, 100)
    with pytest.raises(DataError, match="neither a file"):
        C.load_documents("no/such/corpus.txt")


def test_tokenizer_specials_and_objective_needs(tok):
    from genlab.pretraining.objectives import make_objective
    from genlab.testing import tiny_tokenizer

    assert tok.mask_token_id is not None and tok.eos_token_id is not None and tok.pad_token_id is not None
    plain = tiny_tokenizer()  # no <mask>, no sentinels
    with pytest.raises(ConfigError, match="mask token"):
        make_objective("masked", plain)
    with pytest.raises(ConfigError, match="sentinel"):
        make_objective("span", plain)
