"""Issue 19 section 9: the small surprises, each pinned by a test."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run-v0"


def test_atomic_writes_respect_the_umask_and_keep_an_existing_mode(tmp_path):
    import os
    import stat

    from genlab.io import atomic_write_text

    old = os.umask(0o022)
    try:
        new = atomic_write_text(tmp_path / "a.json", "{}")
        assert stat.S_IMODE(new.stat().st_mode) == 0o644  # as open() would make it, not mkstemp's 0600
        os.umask(0o077)
        assert stat.S_IMODE(atomic_write_text(tmp_path / "b.json", "{}").stat().st_mode) == 0o600
        os.chmod(new, 0o640)
        assert stat.S_IMODE(atomic_write_text(new, "[]").stat().st_mode) == 0o640  # replacing keeps the mode
    finally:
        os.umask(old)


def test_holistic_accuracy_column_names_each_scenarios_metric():
    from genlab.holistic import HolisticSummary
    from genlab.holistic.report import LABELS, heatmap_html, scenario_label

    summary = HolisticSummary.from_json({
        "results": {"support-summary": {"m": {"accuracy": {"metric": "rouge2", "value": 0.1}}},
                    "reviews": {"m": {"accuracy": {"metric": "acc", "value": 0.4}}}},
        "headline": {"support-summary": {"m": {f: None for f in LABELS} | {"accuracy": 0.1}},
                     "reviews": {"m": {f: None for f in LABELS} | {"accuracy": 0.4}}}})
    assert scenario_label(summary, "support-summary") == "support-summary (accuracy = rouge2)"
    html = heatmap_html(summary)
    assert "support-summary (accuracy = rouge2)" in html and "reviews (accuracy = acc)" in html
    assert "<th>acc</th>" not in html


def test_attention_summary_never_says_besides_itself_about_itself():
    from genlab.cli.inspect import attention_summary

    w = torch.tensor([[1.0, 0.0, 0.0], [0.3, 0.7, 0.0], [0.0, 0.0, 1.0]])  # causal rows
    lines = attention_summary(w, ["The", "cat", "sat"])
    assert "sees only itself" in lines[0]
    assert "attends most to 'The' (0.30; to itself 0.70)" in lines[1]
    assert "attends only to itself" in lines[2]


def test_report_compare_warns_when_runs_have_different_n(tmp_path, capsys):
    from genlab.cli import main

    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(FIXTURE, a)
    shutil.copytree(FIXTURE, b)
    for samples in b.glob("stages/*/eval/samples.jsonl"):  # b: 2 examples per stage, a: 3
        samples.write_text("".join(samples.read_text().splitlines(keepends=True)[:2]))
    assert main(["report", "--compare", str(a), "--compare", str(b), "--out", str(tmp_path / "c.html")]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "3 test examples" in err and "on 2" in err
    assert main(["report", "--compare", str(a), "--compare", str(a), "--out", str(tmp_path / "d.html")]) == 0
    assert "warning:" not in capsys.readouterr().err


def test_generate_says_when_it_stopped_at_the_token_limit(tiny_causal, tiny_causal_dir, capsys):
    from genlab.cli import main
    from genlab.generation import GenerationConfig, generate

    out = generate(tiny_causal, ["The cat"], GenerationConfig(max_new_tokens=3), precision="fp32")[0]
    assert out.finish_reasons in (["length"], ["stop"])
    assert (out.finish_reasons == ["length"]) == (out.new_tokens[0] == 3 and "<|im_end|>" not in out.text)
    rc = main(["generate", "-m", str(tiny_causal_dir), "The cat", "--max-new-tokens", "3", "--no-chat",
               "--precision", "fp32", "--sample", "--num-return-sequences", "3", "--seed", "1"])
    assert rc == 0
    cap = capsys.readouterr()
    assert cap.out.lstrip().startswith("1. ") and "\n2. " in cap.out and "\n3. " in cap.out  # text, numbered
    assert "{" not in cap.out.splitlines()[0]  # not JSON lines unless --json
    if out.finish_reasons == ["length"]:
        assert "stopped at the token limit" in cap.err


def test_fewer_shots_than_asked_warns_and_the_header_says_so(tmp_path, capsys):
    import json

    from genlab.cli import main
    from genlab.testing import tiny_model_dir

    model = tiny_model_dir(tmp_path / "tiny", "causal", max_position_embeddings=1024)
    rc = main(["eval", "-m", str(model), "-t", "support-summary", "--shots", "40", "-n", "2", "--precision", "fp32",
               "--out", str(tmp_path / "run"), "--no-cache"])
    assert rc == 0
    cap = capsys.readouterr()
    used = json.loads((tmp_path / "run" / "results.json").read_text())["config"]["shots_used"]
    assert used["max"] < 40  # 40 support dialogues cannot fit 1024 tokens
    assert "warning: asked for 40 shots, used" in cap.err
    span = f"{used['min']}" if used["min"] == used["max"] else f"{used['min']}-{used['max']}"
    assert f"{span} of 40 shots" in cap.out and "40-shot" not in cap.out
