"""Adapter runs identify their adapter (issue 19 §7), and ``genlab eval --adapter`` takes plain peft folders."""

from __future__ import annotations

import json
import re

import pytest
import torch
from typer.testing import CliRunner

from adapter_helpers import nudged_adapter
from genlab.cli import app
from genlab.models import load


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _eval(model_dir, adapter, *extra):
    res = CliRunner().invoke(app, ["eval", "-m", str(model_dir), "--task", "reviews", "-n", "4", "--fp32",
                                   "--adapter", str(adapter), *extra])
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res.output


def test_eval_with_adapter_names_it_in_title_folder_and_results(tiny_causal_dir, workdir):
    path, _ = nudged_adapter(tiny_causal_dir, "lora", {"r": 4}, workdir / "runs" / "mylora" / "adapter")
    output = _eval(tiny_causal_dir, path)
    (run,) = (workdir / "runs").glob("eval-reviews-0shot-*")
    assert re.fullmatch(r"eval-reviews-0shot-mylora-\d{8}-\d{6}", run.name)
    results = json.loads((run / "results.json").read_text())
    assert results["model"]["adapters"] == [{"name": "adapter", "path": str(path), "method": "lora", "task": "toy",
                                             "base": load(str(tiny_causal_dir), precision="fp32").name, "active": True}]
    flat = re.sub(r"\s+", "", output)  # rich wraps long titles
    assert f"+loraontoy({path})·0-shot·n=4" in flat


def test_eval_without_adapter_keeps_the_plain_title_and_folder(tiny_causal_dir, workdir):
    res = CliRunner().invoke(app, ["eval", "-m", str(tiny_causal_dir), "--task", "reviews", "-n", "2", "--fp32"])
    assert res.exit_code == 0, res.output
    (run,) = (workdir / "runs").glob("eval-reviews-0shot-*")
    assert re.fullmatch(r"eval-reviews-0shot-\d{8}-\d{6}", run.name)
    assert json.loads((run / "results.json").read_text())["model"]["adapters"] == []


def test_eval_takes_a_plain_peft_folder(tiny_causal_dir, workdir):
    """The CLI's scores with a peft-written folder equal those of the in-memory peft model that wrote it."""
    from peft import LoraConfig, get_peft_model

    from genlab.evaluation import evaluate

    lm = load(str(tiny_causal_dir), precision="fp32")
    lm.model = get_peft_model(lm.model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for n, p in lm.model.named_parameters():
            if "lora_B" in n:
                p.add_(torch.randn(p.shape, generator=gen))
    lm.model.save_pretrained(str(workdir / "plain"))
    want = evaluate(lm, "reviews", n=4, precision="fp32", cache=False)

    _eval(tiny_causal_dir, workdir / "plain", "--out", str(workdir / "out"), "--no-cache")
    results = json.loads((workdir / "out" / "results.json").read_text())
    (record,) = results["model"]["adapters"]
    assert (record["method"], record["task"], record["path"]) == ("lora", None, str(workdir / "plain"))
    samples = [json.loads(line) for line in (workdir / "out" / "samples.jsonl").read_text().splitlines()]
    assert [s["doc_id"] for s in samples] == [s["doc_id"] for s in want.samples]
    for got, exp in zip(samples, want.samples):
        assert got["logprobs"] == pytest.approx(exp["logprobs"], abs=1e-4)
    base = evaluate(load(str(tiny_causal_dir), precision="fp32"), "reviews", n=4, precision="fp32", cache=False)
    assert max(abs(a - b) for s, t in zip(samples, base.samples) for a, b in zip(s["logprobs"], t["logprobs"])) > 1e-3
