"""Recipe stage kinds quantize / prune / distill / export: parsed with clear errors, run from a tuned stage."""

from __future__ import annotations

import json

import pytest

from genlab.errors import ConfigError
from genlab.lifecycle import load_recipe, recipe_from_yaml, run_recipe
from genlab.testing import tiny_recipe
from genlab.records import StageRecord


def test_builtin_deploy_recipe_loads():
    r = load_recipe("deploy")
    kinds = {s.name: s.kind for s in r.stages}
    assert {"quantize", "export", "prune", "distill", "tune"} <= set(kinds.values())
    assert all(s.source == "lora" for s in r.stages if s.kind in ("quantize", "export", "prune", "distill"))


@pytest.mark.parametrize("stage,message", [
    ("{kind: prune, options: {sparsity: 1.5}}", r"stages\[0\].options: .*\[0, 1\)"),
    ("{kind: prune, options: {density: 0.5}}", "unknown option"),
    ("{kind: export, options: {type: q5_k}}", "q8_0"),
    ("{kind: quantize, options: {scheme: int4}}", "q4_0"),
    ("{kind: distill, options: {blocks: every-other}, train: {lr: -1}}", "lr"),
])
def test_stage_errors_name_the_stage(stage, message):
    with pytest.raises(ConfigError, match=message):
        recipe_from_yaml(f"model: m\ntask: support-summary\nstages: [{stage}]\n", "r.yaml")


def test_quantize_and_export_stages_start_from_the_tuned_stage(tmp_path, monkeypatch):
    from genlab.testing import tiny_model_dir

    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    model = tiny_model_dir(tmp_path / "lm", "causal", max_position_embeddings=4096)
    stages = ("  - {name: lora, kind: tune, method: lora, options: {r: 4}}\n"
              "  - {name: int8, kind: quantize, from: lora}\n"
              "  - {name: gguf, kind: export, from: lora, options: {type: f16}}\n")
    text = tiny_recipe(model, stages, name="tiny-deploy", max_new_tokens=8)
    out = tmp_path / "run"
    outcomes = run_recipe(recipe_from_yaml(text, "r.yaml"), out)
    assert [o.status for o in outcomes] == ["ran", "ran", "ran"]
    for name in ("int8", "gguf"):
        rec = StageRecord.from_json(json.loads((out / "stages" / name / "stage.json").read_text()), name)
        assert rec.status == "done" and rec.metrics
        assert set(rec.extra["tradeoff"]) == {"size_mb", "decode_tok_s_b1", "perplexity"}
        assert rec.extra["source_tradeoff"] == json.loads((out / "stages" / "lora" / "tradeoff.json").read_text())["fields"]
    assert (out / "stages" / "int8" / "model" / "genlab-deploy.json").is_file()
    assert (out / "stages" / "gguf" / "model-f16.gguf").is_file()
    from genlab.report.lifecycle import collect, tradeoffs

    cols, rows, points = tradeoffs(collect(out))
    assert [r[:2] for r in rows] == [["lora", "-"], ["int8", "lora"], ["gguf", "lora"]]  # the source once, first
    assert rows[0][-1] == "reference" and all(r[-1].count("[") == 1 and "p=" in r[-1] for r in rows[1:])
    assert len(points) == 3 and {p["source"] for p in points[1:]} == {"lora"}
    html = (out / "report.html").read_text()
    assert "Deployment trade-offs" in html and "quality vs speed vs size" in html
