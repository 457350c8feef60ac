"""Encoders evaluate through a trained classification head (issue 19 §6), on a tiny random BERT."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli_helpers import run_genlab
from genlab.adapters import load_adapter
from genlab.cli import app
from genlab.models import load
from genlab.tasks import load_task


@pytest.fixture(scope="module", params=["lora", "adapter"])
def head_run(request, tiny_encoder_dir, tmp_path_factory):
    """``genlab tune -m TINY-BERT --task reviews --head classification`` in a few steps."""
    from genlab.tuning import TrainConfig, tune

    out = tmp_path_factory.mktemp(f"cls-{request.param}")
    opts = {"r": 4} if request.param == "lora" else {"bottleneck": 8}
    tune(str(tiny_encoder_dir), "reviews", request.param, opts,
         TrainConfig(lr=1e-2, max_steps=3, batch_size=16, precision="fp32", val_max_examples=8, max_seq_len=128),
         out, head="classification", n_train=120, eval_cfg=None)
    return request.param, out / "adapter"


def _direct_probs(model_dir, adapter, prompt: str, choices: list[str]) -> list[float]:
    """The head's softmax over ``choices`` for one prompt, unbatched, straight from the model."""
    lm = load_adapter(load(str(model_dir)), adapter)
    labels = [lm.adapter_state.base.config.id2label[i] for i in range(len(choices))]
    ids = lm.tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        z = lm.model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0].double()
    return torch.softmax(z[[labels.index(c) for c in choices]], -1).tolist()


def test_encoder_with_head_evaluates_reviews_with_accuracy_and_interval(head_run, tiny_encoder_dir, tmp_path,
                                                                       monkeypatch):
    method, adapter = head_run
    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    res = CliRunner().invoke(app, ["eval", "-m", str(tiny_encoder_dir), "--task", "reviews", "-n", "12", "--fp32",
                                   "--adapter", str(adapter), "--out", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output + repr(res.exception)
    results = json.loads((tmp_path / "e" / "results.json").read_text())
    acc = results["metrics"]["acc"]
    assert 0 <= acc["ci_low"] <= acc["value"] <= acc["ci_high"] <= 1 and acc["ci_high"] > acc["ci_low"]
    (record,) = results["model"]["adapters"]
    assert (record["method"], record["task"]) == (method, "reviews")
    samples = [json.loads(line) for line in (tmp_path / "e" / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 12 and all(s["choices"] == ["1", "2", "3", "4", "5"] for s in samples)
    # the metric is the head's accuracy over the recorded scores ...
    hits = [int(np.argmax(s["logprobs"])) == s["target_index"] for s in samples]
    assert acc["value"] == pytest.approx(sum(hits) / len(hits))
    # ... and those scores are the head's own probabilities, batching aside
    task = load_task("reviews")
    reqs = {r.doc_id: r for r in task.requests("test", n=12, seed=0)}
    for s in samples[:4]:
        want = _direct_probs(tiny_encoder_dir, adapter, reqs[s["doc_id"]].prompt, s["choices"])
        assert s["probs"] == pytest.approx(want, abs=1e-5)


def test_encoder_without_head_names_the_fix(tiny_encoder_dir, tmp_path):
    proc = run_genlab("eval", "-m", str(tiny_encoder_dir), "--task", "reviews", "-n", "2", "--out",
                      str(tmp_path / "e"), GENLAB_HOME=str(tmp_path / "home"))
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert "Traceback" not in text and "ValueError" not in text
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("loading")]
    assert lines[0].startswith("error: ") and "encoder without a classification head" in lines[0], text
    assert "genlab tune" in text and "--head classification" in text and "--adapter" in text
