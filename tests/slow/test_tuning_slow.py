"""Fine-tuning on the embedded models (slow: seconds to minutes; run under flock on shared machines)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_lora_on_embedded_model_learns_and_saves_a_small_adapter(tmp_path):
    from genlab.models import load
    from genlab.tasks import load_task
    from genlab.adapters import load_adapter, save_adapter
    from genlab.tuning import TrainConfig, methods, train
    from genlab.tuning.data import encode, pairs_of
    from genlab.tuning.bookkeeping import validation_loss

    lm = load(precision="fp32")
    pairs = pairs_of(load_task("support-summary").training_pairs("train", n=8, seed=0, tokenizer=lm.tokenizer))
    ex = encode(pairs, lm.tokenizer, "causal", 512)
    cfg = TrainConfig(lr=2e-3, max_steps=6, batch_size=4, warmup_ratio=0.0, save_every=1000)
    model = methods.apply("lora", lm.model, {"r": 8})
    assert 0.2 < methods.param_report(model).percent < 0.5  # q,v at r=8: 460,800 of 135M
    before = validation_loss(model, ex, cfg, "causal", lm.tokenizer.pad_token_id, lm.device)
    res = train(model, lm.tokenizer, "causal", ex, [], cfg, tmp_path / "run")
    after = validation_loss(model, ex, cfg, "causal", lm.tokenizer.pad_token_id, lm.device)
    assert after < before - 0.05, (before, after)
    assert res.tokens_per_s > 0
    path = save_adapter(model, tmp_path / "adapter", method="lora", method_cfg=methods.make_config("lora", {"r": 8}),
                        base_name=lm.name, base_hash=lm.model_hash, base_kind=lm.kind)
    size = sum(f.stat().st_size for f in path.iterdir())
    assert size < 5 * 2**20, size  # a few MB
    fresh = load(precision="fp32")
    load_adapter(fresh, path)
    fresh_loss = validation_loss(fresh.model, ex, cfg, "causal", fresh.tokenizer.pad_token_id, fresh.device)
    assert abs(fresh_loss - after) < 1e-3


def test_encoder_classification_path_on_minilm(tmp_path):
    from genlab.evaluation import EvalConfig
    from genlab.tuning import TrainConfig, tune

    res = tune("minilm-l6", "reviews", "lora", {"r": 8}, TrainConfig(lr=1e-3, max_steps=12, batch_size=16,
                                                                      val_max_examples=32, max_seq_len=256),
               tmp_path, head="classification", n_train=192, eval_cfg=EvalConfig(n=64))
    assert res.train.steps == 12 and set(res.test_metrics) == {"acc"}
    assert 0 <= res.test_metrics["acc"]["ci_low"] <= res.test_metrics["acc"]["value"] <= 1
    assert (tmp_path / "adapter" / "manifest.json").is_file()
