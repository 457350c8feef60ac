"""Reward models: the Bradley–Terry loss, training through the loop, save/load, bad input."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch

from genlab.alignment.reward import (BradleyTerryObjective, PairExample, RewardModel, bradley_terry_loss,
                                     encode_text, train_reward_model)
from genlab.errors import GenlabError
from genlab.tuning import TrainConfig


def test_bradley_terry_loss_by_hand():
    rc, rr = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([1.0, 0.5, -1.0])
    hand = [-math.log(1 / (1 + math.exp(-(c - r)))) for c, r in [(2, 1), (0, 0.5), (-1, -1)]]
    assert bradley_terry_loss(rc, rr).item() == pytest.approx(sum(hand) / 3, rel=1e-6)
    assert bradley_terry_loss(torch.zeros(4), torch.zeros(4)).item() == pytest.approx(math.log(2), rel=1e-6)


def _trl_reward_loss(model, batch):
    """TRL's RewardTrainer.compute_loss on our batch (chosen rows then rejected rows, as TRL's collator does)."""
    from collections import defaultdict

    from trl import RewardTrainer

    ident = lambda t: t  # noqa: E731  (one process: gather is the identity)
    stub = SimpleNamespace(model=model, args=SimpleNamespace(center_rewards_coefficient=None), _tp_size=1,
                           accelerator=SimpleNamespace(gather=ident, gather_for_metrics=ident),
                           _metrics={"train": defaultdict(list), "eval": defaultdict(list)}, _total_train_tokens=0)
    return RewardTrainer.compute_loss(stub, model, dict(batch))


@pytest.mark.parametrize("kind", ["causal", "encoder"])
def test_objective_loss_equals_trl_reward_trainer(kind, tiny_causal_dir, tiny_encoder_dir):
    from genlab.adapters import with_head
    from genlab.models import load

    lm = with_head(load(str(tiny_causal_dir if kind == "causal" else tiny_encoder_dir), precision="fp32"),
                   "classification", ["reward"])
    tok = lm.tokenizer
    ex = [PairExample(encode_text(tok, kind, f"prompt {i}", "good answer " * (i + 1), 64),
                      encode_text(tok, kind, f"prompt {i}", "bad", 64)) for i in range(3)]
    obj = BradleyTerryObjective()
    batch = obj.collate(ex, tok.pad_token_id)
    ours, n = obj.loss(lm.model, batch)
    assert n == 3
    theirs = _trl_reward_loss(lm.model, batch)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6, abs=1e-7)
    r = lm.model(**{k: v for k, v in batch.items()}).logits[:, 0]
    assert ours.item() == pytest.approx(bradley_terry_loss(r[:3], r[3:]).item(), rel=1e-6)
    assert set(obj.logs()) == {"reward_chosen", "reward_rejected", "reward_margin", "pair_accuracy"}


def _prefs(path, n=48):
    rows = [{"prompt": f"Tell me about order {i}.", "chosen": f"Order {i} ships today, sorry for the wait.",
             "rejected": "Shut up, idiot.", "flaw": "rude"} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_decoder_reward_model_learns_saves_and_loads(tmp_path, tiny_causal_dir):
    data = _prefs(tmp_path / "prefs.jsonl")
    res = train_reward_model(str(tiny_causal_dir), str(data), tmp_path / "rm", method="lora",
                             train_cfg=TrainConfig(lr=5e-3, epochs=3, batch_size=8, val_generate=0, precision="fp32"),
                             n_val=8, n_test=16, test_split="train")
    assert res.train.final_loss < 0.5  # from log 2 = 0.693
    assert res.test["pair_accuracy"]["value"] == 1.0 and res.test["by_flaw"]["rude"]["n"] == 16
    assert (tmp_path / "rm" / "scores.png").stat().st_size > 1000
    manifest = json.loads((res.model_path / "manifest.json").read_text())
    assert manifest["reward_model"]["kind"] == "causal" and manifest["head"] == "classification"
    rm = RewardModel.load(tmp_path / "rm")  # the run folder works as well as its adapter/
    prompts, texts = ["Tell me about order 3."] * 2, ["Order 3 ships today, sorry for the wait.", "Shut up, idiot."]
    loaded = rm.score(prompts, texts)
    assert loaded[0] > loaded[1]
    # the same numbers as the in-memory model that was saved
    again = RewardModel.load(res.model_path).score(prompts, texts)
    assert loaded == pytest.approx(again, abs=1e-6)
    assert abs((loaded[0] - loaded[1]) - (res.test["mean_chosen"] - res.test["mean_rejected"])) < 0.5


def test_encoder_reward_model_full_finetune_round_trip(tmp_path, tiny_encoder_dir):
    data = _prefs(tmp_path / "prefs.jsonl", 16)
    res = train_reward_model(str(tiny_encoder_dir), str(data), tmp_path / "rm", method="full",
                             train_cfg=TrainConfig(lr=1e-3, epochs=2, batch_size=8, val_generate=0, precision="fp32"),
                             n_val=0, n_test=8, test_split="train")
    rm = RewardModel.load(res.model_path)
    assert rm.kind == "encoder"
    scores = rm.score(["Tell me about order 1."] * 2, ["Order 1 ships today, sorry for the wait.", "Shut up, idiot."])
    assert len(scores) == 2 and all(math.isfinite(s) for s in scores)
    assert res.test["mean_chosen"] == pytest.approx(
        sum(rm.score(["Tell me about order %d." % i for i in range(8)],
                     ["Order %d ships today, sorry for the wait." % i for i in range(8)])) / 8, abs=1e-5)


def test_token_ids_from_another_tokenizer_are_refused_text_is_retokenized(tmp_path, tiny_encoder_dir):
    from genlab.testing import tiny_tokenizer

    data = _prefs(tmp_path / "prefs.jsonl", 8)
    res = train_reward_model(str(tiny_encoder_dir), str(data), tmp_path / "rm", method="lora",
                             train_cfg=TrainConfig(lr=1e-3, max_steps=1, batch_size=8, val_generate=0,
                                                   precision="fp32"), n_val=0, n_test=0)
    rm = RewardModel.load(res.model_path)
    policy_tok = tiny_tokenizer(vocab_size=400)  # a policy whose ids mean other words
    assert rm.tokenizer.get_vocab() != policy_tok.get_vocab()
    ids = policy_tok(["Order 1 ships today."], return_tensors="pt")
    with pytest.raises(GenlabError, match="not the reward model's"):
        rm.score_tokens(ids["input_ids"], ids["attention_mask"], policy_tok)
    # the policy's text, re-tokenized by the reward model's own tokenizer, scores like the text itself
    text = policy_tok.decode(ids["input_ids"][0], skip_special_tokens=True)
    assert rm.score(["Tell me about order 1."], [text]) == rm.score(["Tell me about order 1."], ["Order 1 ships today."])
    own = rm.tokenizer(["Tell me about order 1."], ["Order 1 ships today."], return_tensors="pt")
    assert rm.score_tokens(own["input_ids"], own["attention_mask"], rm.tokenizer)[0] == pytest.approx(
        rm.score(["Tell me about order 1."], ["Order 1 ships today."])[0], abs=1e-5)


def test_nan_rewards_stop_with_the_cause(tmp_path, tiny_causal_dir):
    data = _prefs(tmp_path / "prefs.jsonl", 8)
    res = train_reward_model(str(tiny_causal_dir), str(data), tmp_path / "rm", method="lora",
                             train_cfg=TrainConfig(lr=1e-3, max_steps=1, batch_size=8, val_generate=0,
                                                   precision="fp32"), n_val=0, n_test=0)
    rm = RewardModel.load(res.model_path)
    with torch.no_grad():
        head = next(m for n, m in rm.lm.model.named_modules() if n.endswith("score") and hasattr(m, "weight"))
        head.weight.fill_(float("nan"))
    with pytest.raises(GenlabError, match="returned nan"):
        rm.score(["a"], ["b"])


def test_not_a_reward_model_is_refused(tmp_path, tiny_causal_dir):
    from genlab.tuning import tune

    from tests.unit.tuning_helpers import ToyTask

    tune(str(tiny_causal_dir), ToyTask(8), "lora", {}, TrainConfig(max_steps=1, batch_size=4, val_generate=0),
         tmp_path / "lora", eval_cfg=None)
    with pytest.raises(GenlabError, match="not a reward model"):
        RewardModel.load(tmp_path / "lora" / "adapter")
