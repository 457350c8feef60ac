"""DPO/IPO: losses by hand and against TRL's DPOTrainer on the same tensors, the cached reference, a tiny run."""

from __future__ import annotations

import copy
import json
import math
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from objective_helpers import one_batch

from genlab.alignment.dpo import DPOObjective, dpo_loss, encode_pairs, precompute_reference, train_dpo
from genlab.alignment.preferences import PreferencePair
from genlab.errors import ConfigError
from genlab.tuning import TrainConfig


def test_dpo_and_ipo_losses_by_hand():
    pc, pr, rc, rr = (torch.tensor([v]) for v in (-10.0, -12.0, -11.0, -11.5))
    delta = (-10 + 11) - (-12 + 11.5)  # 1.5
    assert dpo_loss(pc, pr, rc, rr, 0.1).item() == pytest.approx(math.log(1 + math.exp(-0.1 * delta)), rel=1e-6)
    n_c, n_r = torch.tensor([4]), torch.tensor([2])
    ipo = ((-10 + 11) / 4 - (-12 + 11.5) / 2 - 1 / (2 * 0.1)) ** 2
    assert dpo_loss(pc, pr, rc, rr, 0.1, "ipo", n_c, n_r).item() == pytest.approx(ipo, rel=1e-6)
    same = torch.tensor([-3.0])
    assert dpo_loss(same, same, same, same, 0.5).item() == pytest.approx(math.log(2), rel=1e-6)
    z = 0.1 * delta
    soft = lambda x: math.log(1 + math.exp(-x))  # noqa: E731  (−log σ(x))
    assert dpo_loss(pc, pr, rc, rr, 0.1, label_smoothing=0.2).item() == pytest.approx(0.8 * soft(z) + 0.2 * soft(-z))
    robust = (0.8 * soft(z) - 0.2 * soft(-z)) / 0.6
    assert dpo_loss(pc, pr, rc, rr, 0.1, "robust", label_smoothing=0.2).item() == pytest.approx(robust)
    assert dpo_loss(pc, pr, rc, rr, 0.1, "robust").item() == pytest.approx(soft(z))  # ε = 0: plain DPO
    assert dpo_loss(pc, pr, rc, rr, 0.1, "hinge").item() == pytest.approx(1 - z)
    assert dpo_loss(pc, pr, rc, rr, 1.0, "hinge").item() == 0.0  # margin past 1: no loss
    # reference-free: the references are ignored; mean token log-probs -10/4 and -12/2
    mc, mr = -10 / 4, -12 / 2
    simpo = soft(2.0 * (mc - mr) - 0.5)
    assert dpo_loss(pc, pr, rc * 9, rr * 9, 2.0, "simpo", n_c, n_r).item() == pytest.approx(simpo, rel=1e-6)
    log_odds = (mc - mr) - (math.log1p(-math.exp(mc)) - math.log1p(-math.exp(mr)))
    orpo = -mc + 0.1 * soft(log_odds)  # the chosen reply's mean NLL, plus λ times the odds-ratio term
    assert dpo_loss(pc, pr, rc, rr, 0.1, "orpo", n_c, n_r).item() == pytest.approx(orpo, rel=1e-6)


@pytest.mark.parametrize("beta, loss, smoothing, sft", [(0, "sigmoid", 0, 0), (-1, "sigmoid", 0, 0),
                                                        (0.1, "kto", 0, 0), (0.1, "sigmoid", 0.5, 0),
                                                        (0.1, "ipo", 0.1, 0), (0.1, "hinge", 0.1, 0),
                                                        (0.1, "sigmoid", 0, -1)])
def test_bad_settings_are_refused(beta, loss, smoothing, sft):
    with pytest.raises(ConfigError):
        DPOObjective(beta, loss, smoothing, sft)


def test_a_new_objective_has_no_logs_and_detaches_unattached():
    obj = DPOObjective(2.0, "simpo")
    assert obj.reference_free and obj.logs() == {}
    obj.detach()  # never attached: nothing to remove


def _pairs(n=3):
    return [PreferencePair(f"Question {i}: say cat twice. Answer:", " cat cat" * (i + 1), " dog") for i in range(n)]


def _trl_loss(model, batch, beta, kind, label_smoothing=0.0):
    """TRL's DPOTrainer._compute_loss (precomputed reference log-probs) on our batch."""
    from trl.trainer.dpo_trainer import DPOTrainer
    from trl.trainer.utils import add_fused_lm_head

    m = copy.deepcopy(model)
    add_fused_lm_head(m, outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
    ident = lambda t: t  # noqa: E731  (one process)
    stub = SimpleNamespace(
        model=m, accelerator=SimpleNamespace(device=torch.device("cpu"), gather=ident, gather_for_metrics=ident),
        aux_loss_enabled=False, ld_alpha=None, precompute_ref_logps=True, f_divergence_type="reverse_kl",
        loss_types=[kind], loss_weights=[1.0], beta=beta, label_smoothing=label_smoothing, use_weighting=False,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)}, _total_train_tokens=0, _tp_size=1,
        args=SimpleNamespace())
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
              "completion_mask": (batch["labels"] != -100).long(),
              "ref_chosen_logps": batch["ref_chosen"], "ref_rejected_logps": batch["ref_rejected"]}
    loss = DPOTrainer._compute_loss(stub, m, inputs, False)
    return loss, stub._metrics["train" if m.training else "eval"]


@pytest.mark.parametrize("kind, smoothing", [("sigmoid", 0.0), ("ipo", 0.0), ("hinge", 0.0), ("robust", 0.1)])
def test_objective_equals_trl_dpo_trainer_on_the_same_batch(kind, smoothing, tiny_causal):
    ex = encode_pairs(_pairs(), tiny_causal.tokenizer, 128)
    for i, e in enumerate(ex):
        e.ref_chosen, e.ref_rejected = -5.0 - i, -3.0 + i
    obj = DPOObjective(0.2, kind, smoothing)
    batch, ours, n = one_batch(obj, tiny_causal, ex)
    theirs, metrics = _trl_loss(tiny_causal.model, batch, 0.2, kind, smoothing)
    assert n == 3
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    assert obj.logs()["reward_margin"] == pytest.approx(metrics["rewards/margins"][-1], rel=1e-5, abs=1e-6)


def test_sft_weight_adds_the_chosen_replies_mean_nll(tiny_causal):
    ex = encode_pairs(_pairs(), tiny_causal.tokenizer, 128)
    for e in ex:
        e.ref_chosen, e.ref_rejected = -5.0, -3.0
    losses = {}
    for weight in (0.0, 0.5):
        obj = DPOObjective(0.2, "sigmoid", sft_weight=weight)
        _, losses[weight], _ = one_batch(obj, tiny_causal, ex)
    nll = obj.logs()["nll_chosen"]  # the chosen replies' mean token NLL, averaged over pairs
    assert nll > 0 and losses[0.5].item() == pytest.approx(losses[0.0].item() + 0.5 * nll, rel=1e-5)


def test_reference_with_adapter_disabled_equals_the_base_model(tiny_causal_dir):
    from genlab.models import load
    from genlab.tuning import methods

    base = load(str(tiny_causal_dir), precision="fp32")
    expected = encode_pairs(_pairs(), base.tokenizer, 128)
    precompute_reference(base.model, expected, base.tokenizer.pad_token_id, precision="fp32")

    policy = methods.apply("lora", load(str(tiny_causal_dir), precision="fp32").model, {"r": 4})
    with torch.no_grad():  # a trained-looking adapter: the policy now differs from the base
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    got = encode_pairs(_pairs(), base.tokenizer, 128)
    precompute_reference(policy, got, base.tokenizer.pad_token_id, precision="fp32")
    with_adapter = encode_pairs(_pairs(), base.tokenizer, 128)
    precompute_reference(policy, with_adapter, base.tokenizer.pad_token_id, precision="fp32", disable_adapter=False)
    for e, g, w in zip(expected, got, with_adapter):
        assert g.ref_chosen == pytest.approx(e.ref_chosen, abs=1e-5)
        assert g.ref_rejected == pytest.approx(e.ref_rejected, abs=1e-5)
        assert abs(w.ref_chosen - e.ref_chosen) > 1e-3  # the adapter does change them when enabled
    # and the sum is a real log-probability of the completion tokens under the base model
    e = expected[0]
    ids = torch.tensor([e.chosen.input_ids])
    logits = base.model(input_ids=ids).logits[0, :-1].log_softmax(-1)
    labels = torch.tensor(e.chosen.labels[1:])
    keep = labels != -100
    assert e.ref_chosen == pytest.approx(logits[keep].gather(1, labels[keep, None]).sum().item(), abs=1e-4)


def test_tiny_dpo_run_raises_the_margin_and_resumes_from_the_cache(tmp_path, tiny_causal_dir):
    rows = [{"prompt": f"Question {i}: say cat twice. Answer:", "chosen": " cat cat", "rejected": " dog dog"}
            for i in range(16)]
    data = tmp_path / "prefs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = TrainConfig(lr=5e-3, epochs=6, batch_size=4, val_generate=0, precision="fp32", warmup_ratio=0)
    res = train_dpo(str(tiny_causal_dir), str(data), tmp_path / "dpo", beta=0.5, train_cfg=cfg, n_val=0)
    steps = [r for r in res.history if "reward_margin" in r]
    assert steps[0]["loss"] == pytest.approx(math.log(2), abs=0.02)  # policy = reference at the start
    assert steps[-1]["reward_margin"] > 0.5 and steps[-1]["loss"] < 0.5
    assert (tmp_path / "dpo" / "dpo_curves.png").stat().st_size > 1000
    manifest = json.loads((res.adapter_path / "manifest.json").read_text())
    assert manifest["dpo"] == {"beta": 0.5, "loss": "sigmoid", "from_adapter": ""}
    cached = torch.load(tmp_path / "dpo" / "reference_logps.pt")
    # the file's train split: 14 of its 16 rows (validation and test take one each)
    assert len(cached) == 14 and all(math.isfinite(c) and math.isfinite(r) for c, r in cached)
    # IPO continuing the DPO adapter: the reference is that adapter's model (policy at step 0 = reference)
    ipo = train_dpo(str(tiny_causal_dir), str(data), tmp_path / "ipo", beta=0.5, loss="ipo",
                    from_adapter=res.adapter_path, train_cfg=cfg.replace(epochs=1), n_val=0)
    first = next(r for r in ipo.history if "reward_margin" in r)
    assert first["loss"] == pytest.approx(1.0, abs=0.15)  # (0 - 1/(2·0.5))² at the reference (LoRA dropout aside)
    # SimPO needs no reference: none is computed, and it learns the preference all the same
    simpo = train_dpo(str(tiny_causal_dir), str(data), tmp_path / "simpo", beta=2.0, loss="simpo", train_cfg=cfg,
                      n_val=0)
    steps = [r for r in simpo.history if "reward_margin" in r]
    assert not (tmp_path / "simpo" / "reference_logps.pt").exists() and simpo.reference_s < 0.5
    assert steps[-1]["reward_margin"] > steps[0]["reward_margin"] and steps[-1]["loss"] < steps[0]["loss"]
