"""KTO: the loss by hand and against TRL's KTOTrainer on the same tensors, unpaired data, a tiny run."""

from __future__ import annotations

import copy
import json
import math
import warnings
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from objective_helpers import one_batch

from genlab.alignment.kto import (Feedback, KTOObjective, check_balance, encode_feedback, kto_loss, kto_rows,
                                  read_label, unpaired)
from genlab.alignment.preferences import PreferencePair
from genlab.errors import ConfigError, DataError


def test_kto_loss_by_hand():
    policy, ref = torch.tensor([-4.0, -6.0, -5.0]), torch.tensor([-5.0, -5.0, -5.0])
    policy_kl, ref_kl = torch.tensor([-9.0, -8.0, -7.0]), torch.tensor([-9.5, -8.5, -7.5])  # z0 = 0.5
    good = torch.tensor([True, False, True])
    losses, z0 = kto_loss(policy, ref, policy_kl, ref_kl, good, 0.5, desirable_weight=2.0, undesirable_weight=3.0)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    want = [2.0 * (1 - sig(0.5 * (1.0 - 0.5))), 3.0 * (1 - sig(0.5 * (0.5 - -1.0))), 2.0 * (1 - sig(0.5 * -0.5))]
    assert z0.item() == pytest.approx(0.5) and losses.tolist() == pytest.approx(want, rel=1e-6)
    _, z0 = kto_loss(policy, ref, ref_kl, policy_kl, good, 0.5)  # a negative KL estimate counts as 0
    assert z0.item() == 0.0


def _rows(n=4):
    return [Feedback(f"Question {i}: say cat twice. Answer:", " cat cat" if i % 2 == 0 else " dog", i % 2 == 0, {})
            for i in range(n)]


def _trl_kto_loss(model, batch, beta, desirable_weight, undesirable_weight):
    """TRL's KTOTrainer._compute_loss (precomputed reference log-probs) on our batch: rows, then their KL rows."""
    from trl.trainer.kto_trainer import KTOTrainer
    from trl.trainer.utils import add_fused_lm_head

    m = copy.deepcopy(model)
    add_fused_lm_head(m, outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
    ident = lambda t: t  # noqa: E731  (one process)
    stub = SimpleNamespace(
        model=m, accelerator=SimpleNamespace(device=torch.device("cpu"), gather_for_metrics=ident),
        calculate_KL=True, aux_loss_enabled=False, precompute_ref_logps=True, loss_type="kto", beta=beta,
        desirable_weight=desirable_weight, undesirable_weight=undesirable_weight,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)}, _total_train_tokens=0, _tp_size=1)
    stub._compute_kl_logps = lambda model, b: KTOTrainer._compute_kl_logps(stub, model, b)
    b = batch["input_ids"].shape[0] // 2
    mask = (batch["labels"] != -100).long()
    inputs = {"input_ids": batch["input_ids"][:b], "attention_mask": batch["attention_mask"][:b],
              "completion_mask": mask[:b], "KL_input_ids": batch["input_ids"][b:],
              "KL_attention_mask": batch["attention_mask"][b:], "KL_completion_mask": mask[b:],
              "label": batch["desirable"], "ref_logps": batch["ref_chosen"], "ref_KL_logps": batch["ref_rejected"]}
    loss = KTOTrainer._compute_loss(stub, m, inputs, False)
    return loss, stub._metrics["train" if m.training else "eval"]


def test_objective_equals_trl_kto_trainer_on_the_same_batch(tiny_causal):
    ex = encode_feedback(_rows(), tiny_causal.tokenizer, 128)
    for i, e in enumerate(ex):
        e.ref_chosen, e.ref_rejected = -5.0 - i, -40.0 + i  # a positive KL estimate: z0 matters
    obj = KTOObjective(0.2, desirable_weight=1.0, undesirable_weight=1.5)
    batch, ours, n = one_batch(obj, tiny_causal, ex)
    theirs, metrics = _trl_kto_loss(tiny_causal.model, batch, 0.2, 1.0, 1.5)
    logs = obj.logs()
    assert n == 4 and logs["kl"] > 0
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    assert logs["kl"] == pytest.approx(metrics["kl"][-1], rel=1e-5)
    assert logs["reward_margin"] == pytest.approx(metrics["rewards/margins"][-1], rel=1e-5, abs=1e-6)


def test_each_row_is_paired_with_a_reply_to_another_prompt(tiny_causal):
    rows = unpaired([PreferencePair(f"Q{i}:", f" yes{i}", f" no{i}") for i in range(3)])
    assert [(r.completion, r.desirable) for r in rows[:2]] == [(" yes0", True), (" no0", False)]
    tok = tiny_causal.tokenizer
    prompt_of = {r.completion: r.prompt for r in rows}
    for r, e in zip(rows, encode_feedback(rows, tok, 64, seed=1)):
        own, kl = (tok.decode(x.input_ids, skip_special_tokens=True) for x in (e.chosen, e.rejected))
        assert own == r.prompt + r.completion
        other = kl.removeprefix(r.prompt)  # another row's reply, to this row's prompt
        assert kl.startswith(r.prompt) and other in prompt_of and prompt_of[other] != r.prompt


def test_labels_balance_and_one_label_only():
    assert [read_label(v, None) for v in (True, 0, "yes", "Bad", 1.0, "desirable", " Down", "👍")] == [
        True, False, True, False, True, True, False, True]
    with pytest.raises(DataError, match='"label" must be true or false'):
        read_label("maybe", "f.jsonl:3")
    rows = _rows(8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_balance(rows, 1.0, 1.0)  # 4 and 4: a ratio of 1
    with pytest.warns(UserWarning, match=r"set desirable_weight in \[12.00, 16.00\]"):
        check_balance(rows[:1] + [r for r in rows if not r.desirable] * 3, 1.0, 1.0)  # 1 desirable, 12 not
    with pytest.raises(DataError, match="all desirable"):
        check_balance([r for r in rows if r.desirable], 1.0, 1.0)


def test_unpaired_files_plain_and_conversational_and_their_bad_rows(tmp_path, tiny_causal):
    turns = [{"role": "user", "content": "Rate my cake"}]
    rows = [{"prompt": f"q{i}", "completion": "fine", "label": i % 2 == 0} for i in range(18)]
    rows.append({"prompt": turns, "completion": [{"role": "assistant", "content": "Lovely!"}], "label": "true"})
    rows.append({"prompt": "q", "completion": "x", "label": "maybe"})
    path = tmp_path / "feedback.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match='"label" must be true or false') as e:
        kto_rows(str(path), "train", None, 0, tiny_causal.tokenizer, "sample", False)
    assert e.value.where == f"{path}:20" or "feedback.jsonl:20" in str(e.value)
    splits = [kto_rows(str(path), split, None, 0, tiny_causal.tokenizer, 0, True)
              for split in ("train", "validation", "test")]
    assert [len(x) for x in splits] in ([16, 2, 1], [15, 2, 2])  # 20 rows cut 16/2/2, the bad one skipped
    assert "label" in (path.parent / "feedback.jsonl.bad-rows.txt").read_text()
    cake = [r for r in sum(splits, []) if "Rate my cake" in r.prompt]
    assert cake[0].prompt.startswith("<|im_start|>user\nRate my cake") and cake[0].completion == "Lovely!"
    assert cake[0].desirable
    pairs = tmp_path / "prefs.jsonl"  # pairs: each becomes a desirable and an undesirable row
    pairs.write_text("".join(json.dumps({"prompt": f"p{i}", "chosen": "a", "rejected": "b"}) + "\n"
                             for i in range(10)))
    split = kto_rows(str(pairs), "train", None, 0, None, "sample", False)
    assert [r.desirable for r in split] == [True, False] * 8


@pytest.mark.parametrize("kwargs", [dict(loss="kto", label_smoothing=0.1), dict(loss="kto", sft_weight=1.0),
                                    dict(loss="kto", desirable_weight=0), dict(loss="sigmoid", desirable_weight=2.0)])
def test_kto_settings_that_do_not_fit_are_refused(kwargs):
    from genlab.alignment.dpo import make_objective

    with pytest.raises(ConfigError):
        make_objective(**kwargs)


def test_a_tiny_kto_run_separates_desirable_from_undesirable(tmp_path, tiny_causal_dir):
    from genlab.alignment.dpo import train_dpo
    from genlab.tuning import TrainConfig

    rows = [{"prompt": f"Question {i}: say cat twice. Answer:", "completion": " cat cat" if i % 2 else " dog dog",
             "label": bool(i % 2)} for i in range(40)]
    data = tmp_path / "feedback.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = TrainConfig(lr=5e-3, epochs=4, batch_size=4, val_generate=0, precision="fp32", warmup_ratio=0)
    res = train_dpo(str(tiny_causal_dir), str(data), tmp_path / "kto", beta=0.5, loss="kto", train_cfg=cfg, n_val=4)
    steps = [r for r in res.history if "reward_margin" in r]
    assert steps[0]["loss"] == pytest.approx(0.5, abs=0.02)  # policy = reference at the start: 1 − σ(0)
    assert steps[-1]["reward_margin"] > 0.5 and steps[-1]["loss"] < steps[0]["loss"]
    assert (tmp_path / "kto" / "dpo_curves.png").stat().st_size > 1000  # titled KTO, desirable/undesirable, z0
    config = json.loads((tmp_path / "kto" / "config.json").read_text())
    assert config["loss"] == "kto" and config["desirable_weight"] == 1.0
    assert len(torch.load(tmp_path / "kto" / "reference_logps.pt")) == 32 + 4  # train rows + validation rows
