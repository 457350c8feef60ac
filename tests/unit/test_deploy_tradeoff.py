"""The trade-off record: every field measured on a tiny model; compare adds paired deltas, a table and a picture."""

from __future__ import annotations

import dataclasses
import math

import pytest

from tests.unit.cli_helpers import run_genlab

SMALL = dict(task="reviews", n_eval=6, n_ppl=3, decode_tokens=4, threads=1, precision="fp32")


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    return tmp_path


def _filled(rec) -> None:
    for f in dataclasses.fields(rec):
        v = getattr(rec, f.name)
        assert v is not None, f.name
        if isinstance(v, float):
            assert math.isfinite(v), f.name
    for name in ("size_mb", "load_s", "decode_tok_s_b1", "decode_tok_s_b16", "peak_mem_mb", "perplexity"):
        assert getattr(rec, name) > 0, name
    assert rec.metric_ci[0] <= rec.metric_value <= rec.metric_ci[1]


def test_compare_fills_every_field_and_round_trips_json(tiny_causal_dir, home):
    from genlab.cli.optimize import tradeoff_table
    from genlab.deploy import MeasureConfig, TradeOff, compare_models, quantize_to
    from genlab.deploy.compare import load_records

    int8 = quantize_to(str(tiny_causal_dir), home / "int8")
    records = compare_models([str(tiny_causal_dir), f"{int8}@fp32"], home / "cmp", MeasureConfig(**SMALL))
    assert [r.weights for r in records] == ["fp32", "int8"]
    for rec in records:
        _filled(rec)
        assert TradeOff.from_json(rec.to_json()) == rec
    assert records[1].reference == records[0].name and len(records[1].delta_ci) == 2
    assert records[1].size_mb < records[0].size_mb
    assert records[1].extra["technique"] == "quantize"
    assert (home / "cmp" / "tradeoff.png").stat().st_size > 1000
    assert load_records(home / "cmp") == records
    assert tradeoff_table(records).row_count == 2
    again = compare_models([str(tiny_causal_dir), f"{int8}@fp32"], home / "cmp", MeasureConfig(**SMALL))
    assert [r.load_s for r in again] == [r.load_s for r in records]  # stored records reused, not re-measured


def test_cli_quantize_then_refuse_to_overwrite(tiny_causal_dir, home):
    out = home / "q"
    ok = run_genlab("optimize", "quantize", "-m", str(tiny_causal_dir), "--out", str(out), GENLAB_HOME=str(home))
    assert ok.returncode == 0, ok.stderr
    again = run_genlab("optimize", "quantize", "-m", str(tiny_causal_dir), "--out", str(out), GENLAB_HOME=str(home))
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr
    bad = run_genlab("optimize", "prune", "-m", str(tiny_causal_dir), "--out", str(home / "p"), "--sparsity", "1.2")
    assert bad.returncode == 2 and "[0, 1)" in bad.stderr and not (home / "p").exists()
