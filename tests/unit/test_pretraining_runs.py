"""Pre-training through the one tuning loop: three objectives learn, resume replays, the CLI works."""

from __future__ import annotations

import json
import math

import pytest
import torch

from genlab.pretraining import PretrainConfig, pretrain
from genlab.tuning import TrainConfig

SMALL = dict(size="32x1", docs=240, tokenizer="bpe:400", block_size=32, corpus="builtin:chat,reviews", heldout=0.1)


@pytest.mark.parametrize("objective", ["causal", "masked", "span"])
def test_each_objective_trains_and_accounts(tmp_path, objective):
    res = pretrain(PretrainConfig(objective=objective, tokens=24_000, **SMALL),
                   TrainConfig(lr=1e-2, batch_size=8, precision="fp32", warmup_ratio=0.1), tmp_path / objective)
    val = [r["val_loss"] for r in res.train.history if "val_loss" in r]
    vocab = json.loads((tmp_path / objective / "model" / "config.json").read_text())["vocab_size"]
    assert val[-1] < val[0] and val[-1] < math.log(vocab) - 1.0, val  # it learns: well below a uniform guess
    assert res.heldout_loss == val[-1]
    assert res.after.tokens == res.train.tokens == 94 * 8 * 32  # ceil(24000 / 256) steps of 8 blocks of 32
    assert res.after.flops_exact > 0 and res.after.flops_6nd == 6 * res.params.total * res.after.tokens
    assert 0 < res.after.mfu < 1 and res.after.tokens_per_s > 0
    out = json.loads((tmp_path / objective / "results.json").read_text())
    assert out["params"]["total"] == res.params.total and out["corpus"]["heldout_docs"] >= 1
    assert (tmp_path / objective / "model" / "config.json").is_file()
    assert (tmp_path / objective / "train_curves.png").is_file()


def test_causal_exact_flops_near_6nd_for_a_small_vocab(tmp_path):
    res = pretrain(PretrainConfig(objective="causal", tokens=2_000, **SMALL),
                   TrainConfig(lr=1e-2, batch_size=8, precision="fp32"), tmp_path / "run")
    assert 0.8 < res.after.flops_exact / res.after.flops_6nd < 1.5


def test_resume_after_interrupt_matches_the_uninterrupted_run(tmp_path, monkeypatch):
    from genlab.pretraining.objectives import CausalLM

    cfg = PretrainConfig(objective="causal", tokens=16 * 8 * 32, **SMALL)
    tcfg = TrainConfig(lr=1e-2, batch_size=8, precision="fp32", save_every=4, eval_every=4)
    ref = pretrain(cfg, tcfg, tmp_path / "ref")
    calls = {"n": 0}
    original = CausalLM.loss

    def interrupted(self, model, batch):
        if model.training:
            calls["n"] += 1
            if calls["n"] == 11:  # in step 11: the checkpoint of step 8 is on disk, plus the Ctrl-C one of step 10
                raise KeyboardInterrupt
        return original(self, model, batch)

    monkeypatch.setattr(CausalLM, "loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pretrain(cfg, tcfg, tmp_path / "cut")
    monkeypatch.setattr(CausalLM, "loss", original)
    resumed = pretrain(cfg, tcfg, tmp_path / "cut", resume=True)
    assert resumed.train.steps == ref.train.steps == 16
    # same batches, same RNG, same weights (tolerance: the thread count may differ between runs on a busy CPU)
    assert resumed.heldout_loss == pytest.approx(ref.heldout_loss, rel=1e-4)
    losses = lambda r: [h["loss"] for h in r.train.history if "loss" in h]  # noqa: E731
    assert len(losses(resumed)) == 16 and losses(resumed) == pytest.approx(losses(ref), rel=1e-4)
    a = torch.load(tmp_path / "ref" / "checkpoints" / "last.pt", weights_only=False)["trainable"]
    b = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=False)["trainable"]
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)


def test_refuses_to_overwrite_and_a_tokenizer_that_does_not_fit(tmp_path):
    from genlab.errors import DataError, GenlabError
    from genlab.pretraining.api import Data, run_training
    from genlab.pretraining.corpus import Packed, Split
    from genlab.pretraining.models import build_model, parse_size
    from genlab.progress import QUIET
    from genlab.testing import tiny_tokenizer

    pretrain(PretrainConfig(objective="causal", tokens=512, **SMALL), TrainConfig(batch_size=8), tmp_path / "a")
    with pytest.raises(GenlabError, match="already holds a run"):
        pretrain(PretrainConfig(objective="causal", tokens=512, **SMALL), TrainConfig(batch_size=8), tmp_path / "a")
    tok = tiny_tokenizer()  # 512 entries
    model = build_model("causal", parse_size("32x1"), 256, 32)  # an embedding of 256 rows
    blocks = torch.randint(0, 512, (16, 32))
    data = Data(Split([], []), Packed(blocks), Packed(blocks[:2]), tok)
    with pytest.raises(DataError, match="do not belong together"):
        run_training(PretrainConfig(**SMALL), TrainConfig(batch_size=8), tmp_path / "b", model, data, resume=False,
                     reporter=QUIET)


def test_pretrain_cli_prints_parameters_compute_and_embedding_share(tmp_path, capsys):
    from typer.testing import CliRunner

    from genlab.cli import app

    out = tmp_path / "cli"
    r = CliRunner().invoke(app, ["pretrain", "--size", "32x1", "--docs", "240", "--tokenizer", "bpe:400",
                                 "--block-size", "32", "--corpus", "builtin:chat", "--tokens", "4k",
                                 "--batch-size", "8", "--precision", "fp32", "--out", str(out)])
    assert r.exit_code == 0, r.output
    for text in ("non-embedding", "SmolLM2's 49k vocabulary", "6·N·D", "MFU", "held-out loss", "perplexity"):
        assert text in r.output, text
    from genlab.cli import main

    assert main(["pretrain", "--size", "33x1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "width must be a multiple of 16" in err and "Traceback" not in err


@pytest.mark.parametrize("method", ["full", "lora"])
def test_continued_pretraining_reports_domain_general_and_task(tmp_path, tiny_causal_dir, method):
    cfg = PretrainConfig(from_model=str(tiny_causal_dir), corpus="builtin:support", docs=120, block_size=32,
                         tokenizer=str(tiny_causal_dir), tokens=40 * 8 * 32, method=method, lora_r=8,
                         general="builtin:reviews", val_blocks=16, task="reviews", n_task=8)
    res = pretrain(cfg, TrainConfig(lr=1e-2 if method == "full" else 3e-2, batch_size=8, precision="fp32"),
                   tmp_path / method)
    domain, general = res.continued["perplexity"]
    assert domain["after_loss"] < domain["before_loss"] - (0.1 if method == "full" else 0.01)  # domain learned
    assert domain["blocks"] == general["blocks"] == 16
    task = res.continued["task"]
    assert task["n"] == 8 and task["rows"][0]["before"] is not None
    assert all(r["ci_low"] <= r["ci_high"] and 0 <= r["p_value"] <= 1 for r in task["rows"])
    saved = tmp_path / method / ("adapter" if method == "lora" else "model")
    assert saved.is_dir()
    assert (tmp_path / method / "eval" / "before" / "results.json").is_file()
