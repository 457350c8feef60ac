import pytest
import torch

from genlab.errors import GenlabError
from genlab.inspect import attention_map, embedding_similarity, next_token_table


def test_next_token_table_is_consistent(tiny_causal):
    rows = next_token_table(tiny_causal, "The cat sat on the", temperature=0.5, top_k=3, top_p=0.9, show=10)
    assert len(rows) == 10
    assert [r.logit for r in rows] == sorted((r.logit for r in rows), reverse=True)
    assert sum(r.in_top_k for r in rows) == 3
    survivors = [r for r in rows if r.in_top_p]
    assert survivors and all(r.in_top_k for r in survivors)
    assert sum(r.p_final for r in survivors) == pytest.approx(1.0, abs=1e-5)
    assert all(r.p_final == 0 for r in rows if not r.in_top_p)
    assert rows[0].p_temp > rows[0].p_raw  # temperature < 1 sharpens


def test_attention_rows_are_distributions_and_causal(tiny_causal):
    w, tokens, n_layers, n_heads = attention_map(tiny_causal, "The cat sat on the mat", layer=1, head=2)
    assert w.shape == (len(tokens), len(tokens)) and (n_layers, n_heads) == (2, 4)
    torch.testing.assert_close(w.sum(-1), torch.ones(len(tokens)))
    assert torch.all(torch.triu(w, diagonal=1) == 0)
    with pytest.raises(GenlabError, match="has 2 layers"):
        attention_map(tiny_causal, "x y", layer=5)
    with pytest.raises(GenlabError, match="4 heads"):
        attention_map(tiny_causal, "x y", head=9)


def test_similarity_matrix_is_symmetric_with_unit_diagonal(tiny_causal, tiny_encoder_dir):
    from genlab.models import load

    for lm in (tiny_causal, load(str(tiny_encoder_dir))):
        s, used = embedding_similarity(lm, ["cat", "dog", "refund"])
        torch.testing.assert_close(s, s.T)
        torch.testing.assert_close(torch.diag(s), torch.ones(3))
        assert used == ("hidden" if lm.kind == "encoder" else "embedding")


def test_inspect_cli_writes_pngs(tiny_causal_dir, tmp_path):
    from genlab.cli import main

    png = tmp_path / "a.png"
    assert main(["inspect", "attention", "The cat sat", "-m", str(tiny_causal_dir), "--png", str(png)]) == 0
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    png2 = tmp_path / "n.png"
    assert main(["inspect", "next-token", "The cat", "-m", str(tiny_causal_dir), "--top-k", "3", "--png", str(png2)]) == 0
    assert png2.read_bytes()[:4] == b"\x89PNG"
