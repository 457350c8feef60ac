"""tune() and the CLI end to end on a tiny model: run folder, adapter manifest, classification head."""

from __future__ import annotations

import json

import pytest

from genlab.testing import tiny_model_dir
from genlab.adapters import load_adapter
from genlab.evaluation import EvalConfig
from genlab.tuning import TrainConfig, tune

from tuning_helpers import ToyTask

FAST = dict(max_steps=4, batch_size=4, val_max_examples=4, val_generate=2, max_new_tokens=4, max_seq_len=128)


@pytest.fixture(scope="module")
def long_ctx_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-long"), "causal", max_position_embeddings=2048)


def test_tune_writes_a_reproducible_run_folder(long_ctx_dir, tmp_path):
    res = tune(str(long_ctx_dir), ToyTask(), "lora", {"r": 4}, TrainConfig(**FAST), tmp_path, eval_cfg=None)
    for f in ("config.json", "metrics.jsonl", "results.json", "train_curves.png", "adapter/manifest.json"):
        assert (tmp_path / f).is_file(), f
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["method_config"]["r"] == 4 and cfg["train_config"]["max_steps"] == 4
    prov = cfg["provenance"]  # the same record as results.json's environment (genlab.provenance)
    assert {"torch", "transformers", "peft"} <= set(prov["packages"]) and "git" in prov and prov["command"]
    manifest = json.loads((tmp_path / "adapter" / "manifest.json").read_text())
    assert manifest["base_model"]["hash"] and manifest["task"] == "toy"
    assert res.params.percent < 10 and res.train.steps == 4
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("val_exact_match" in r for r in rows)  # validation metric through genlab.generation


def test_tune_on_builtin_task_with_test_eval_and_forgetting(long_ctx_dir, tmp_path):
    res = tune(str(long_ctx_dir), "support-summary", "adapter", {"bottleneck": 4}, TrainConfig(**FAST), tmp_path,
               n_train=16, eval_cfg=EvalConfig(n=3), forgetting_suite=["reviews"])
    assert {"rougeL"} <= set(res.test_metrics) and {"value", "ci_low", "ci_high"} <= set(res.test_metrics["rougeL"])
    assert res.forgetting and {"before", "after", "delta", "delta_low", "delta_high", "p_value"} <= set(res.forgetting[0])
    for r in res.forgetting:  # paired over the same 3 test examples of the forgetting task
        assert r["task"] == "reviews" and r["n"] == 3 and 0.0 <= r["p_value"] <= 1.0
        assert r["delta"] == pytest.approx(r["after"] - r["before"]) and r["delta_low"] <= r["delta"] <= r["delta_high"]
    from genlab.models import load

    lm = load(str(long_ctx_dir), precision="fp32")
    load_adapter(lm, tmp_path / "adapter")
    assert lm.adapters == ["adapter"]


def test_classification_head(tiny_encoder_dir, tmp_path):
    res = tune(str(tiny_encoder_dir), ToyTask(classification=True), "lora", {"r": 4},
               TrainConfig(**{**FAST, "lr": 1e-2}), tmp_path, head="classification",
               eval_cfg=EvalConfig(precision="fp32"))
    assert set(res.test_metrics) == {"acc"} and 0 <= res.test_metrics["acc"]["value"] <= 1
    assert (tmp_path / "eval" / "results.json").is_file()  # scored by evaluate(), as genlab eval --adapter would
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("val_acc" in r for r in rows)
    manifest = json.loads((tmp_path / "adapter" / "manifest.json").read_text())
    assert manifest["head"] == "classification" and manifest["labels"] == ["neg", "pos"]
    from genlab.models import load
    from genlab.tuning.validation import classify
    from genlab.tuning.data import encode

    lm = load(str(tiny_encoder_dir), precision="fp32")
    load_adapter(lm, tmp_path / "adapter")  # the classification head comes back with the adapter
    pairs = [(r.prompt, r.target) for r in ToyTask(classification=True).training_pairs("test")]
    ex = encode(pairs, lm.tokenizer, "classifier", 128, ["neg", "pos"])
    preds = classify(lm.model, ex, lm.tokenizer.pad_token_id, "fp32")
    assert sum(p == e.labels for p, e in zip(preds, ex)) / len(ex) == pytest.approx(res.test_metrics["acc"]["value"])


def test_cli_tune_merge_plan(long_ctx_dir, tmp_path, capsys):
    from genlab.cli import main

    out = tmp_path / "run"
    rc = main(["tune", "-m", str(long_ctx_dir), "--task", "support-summary", "--method", "lora", "--r", "4",
               "--max-steps", "2", "--batch-size", "4", "--n-train", "8", "--no-test-eval", "--out", str(out),
               "--max-seq-len", "128"])
    assert rc == 0 and (out / "adapter" / "adapter_model.safetensors").is_file()
    assert main(["merge", str(out / "adapter"), "--out", str(tmp_path / "merged")]) == 0
    assert (tmp_path / "merged" / "model.safetensors").is_file()
    assert main(["plan", "-m", str(long_ctx_dir), "--method", "lora", "--batch", "2", "--seq", "64"]) == 0
    assert "optimizer" in capsys.readouterr().out
    assert main(["tune", "-m", str(long_ctx_dir), "--task", "support-summary", "--method", "adapter", "--r", "4"]) == 2
    assert "no option(s) r" in capsys.readouterr().err
