"""Distillation: the loss by hand, top-k caching, the truncated student, a short run through genlab's loop."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.errors import ConfigError, GenlabError


def _hand_loss(s, t, labels, T, alpha):
    """Python loops: Σ_positions [T²·Σ_v p_v (log p_v − log q_v) + α·(−log softmax(s)_y)] / positions."""
    total, n = 0.0, 0
    for b in range(s.shape[0]):
        for i in range(s.shape[1]):
            y = int(labels[b, i])
            if y == -100:
                continue
            zs, zt = [float(v) / T for v in s[b, i]], [float(v) / T for v in t[b, i]]
            ls, lt = math.log(sum(math.exp(v) for v in zs)), math.log(sum(math.exp(v) for v in zt))
            kl = sum(math.exp(a - lt) * ((a - lt) - (c - ls)) for a, c in zip(zt, zs))
            ce = -(float(s[b, i, y]) - math.log(sum(math.exp(float(v)) for v in s[b, i])))
            total += T * T * kl + alpha * ce
            n += 1
    return total / n


def test_distill_loss_equals_a_hand_computation():
    from genlab.deploy.distill import distill_loss

    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(2, 3, 7, generator=g), torch.randn(2, 3, 7, generator=g) * 2
    labels = torch.tensor([[1, 4, -100], [0, 6, 2]])
    for T, alpha in [(1.0, 0.0), (2.0, 0.5), (4.0, 1.0)]:
        loss, kl, ce = distill_loss(s, t, labels, T, alpha)
        assert loss.item() == pytest.approx(_hand_loss(s, t, labels, T, alpha), rel=1e-5)
    # the teacher's full distribution given as "top-k" with k = V is the same loss
    top = t.topk(7, dim=-1)
    assert distill_loss(s, None, labels, 2.0, 0.5, (top.values, top.indices))[0].item() == \
        pytest.approx(distill_loss(s, t, labels, 2.0, 0.5)[0].item(), rel=1e-5)
    assert distill_loss(t, t, labels, 3.0, 0.0)[0].item() == pytest.approx(0.0, abs=1e-6)  # KL(p‖p) = 0


def test_student_keeps_blocks_and_decodes_with_a_cache(tiny_causal_dir):
    from genlab.deploy.distill import block_indices, student_from_teacher
    from genlab.generation import GenerationConfig, generate
    from genlab.models import load

    teacher = load(str(tiny_causal_dir), precision="fp32")
    assert block_indices("every-other", 30) == list(range(0, 30, 2)) and len(block_indices("every-other", 30)) == 15
    assert block_indices("first-1", 2) == [0] and block_indices("1", 2) == [1]
    assert block_indices("ends-15", 30) == list(range(8)) + list(range(23, 30))
    assert block_indices("ends-1", 2) == [0] and block_indices("ends-4", 4) == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="blocks"):
        block_indices("0,9", 2)
    student = student_from_teacher(teacher, [1])
    assert student.model.config.num_hidden_layers == 1 and len(student.model.model.layers) == 1
    assert student.model.model.layers[0].self_attn.layer_idx == 0
    assert torch.equal(student.model.model.layers[0].mlp.up_proj.weight, teacher.model.model.layers[1].mlp.up_proj.weight)
    assert len(teacher.model.model.layers) == 2  # the teacher is untouched
    assert generate(student, ["Hello"], GenerationConfig(max_new_tokens=4))[0].new_tokens[0] >= 1


@pytest.mark.parametrize("top_k", [None, 32])
def test_distillation_through_the_loop_lowers_the_loss(tmp_path, monkeypatch, top_k):
    """The distillation loss on a fixed batch, before (teacher's blocks 0 and 2) and after training."""
    from genlab.deploy import DistillConfig, DistillObjective, distill_to
    from genlab.deploy.distill import TextExample, cache_top_k, student_from_teacher
    from genlab.models import load
    from genlab.testing import CORPUS, tiny_model_dir
    from genlab.tuning import TrainConfig

    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    teacher_dir = tiny_model_dir(tmp_path / "teacher", "causal", num_hidden_layers=4)
    teacher = load(str(teacher_dir), precision="fp32")
    cfg = DistillConfig(blocks="every-other", top_k=top_k)
    # the loss each variant minimizes: with top_k, the KL over the teacher's top-k tokens (a random tiny
    # teacher spreads its mass thinly, so the full-vocabulary KL is not what top-32 training lowers)
    objective = DistillObjective(teacher.model, cfg)
    examples = [TextExample(teacher.tokenizer(t).input_ids) for t in CORPUS[:4]]
    batch = objective.collate(cache_top_k(teacher.model, examples, top_k) if top_k else examples, 4)

    def loss_of(model):
        with torch.no_grad():
            return objective.loss(model, batch)[0].item()

    before = loss_of(student_from_teacher(teacher, [0, 2]).model)
    path, result = distill_to(str(teacher_dir), tmp_path / "student", cfg,
                              TrainConfig(lr=1e-2, max_steps=30, batch_size=4, val_generate=0, warmup_ratio=0.0,
                                          schedule="constant", precision="fp32"),
                              texts=CORPUS * 4, val_texts=CORPUS[:3])
    student = load(str(path), precision="fp32")
    assert loss_of(student.model) < 0.8 * before
    assert all("kl" in r and "ce" in r for r in result.history if "loss" in r)
    assert student.model.config.num_hidden_layers == 2
    assert (path / "train" / "metrics.jsonl").is_file() and not (path / "train" / "checkpoints").exists()


def test_student_with_another_tokenizer_is_refused(tmp_path, tiny_causal_dir):
    from genlab.deploy import distill_to
    from genlab.testing import tiny_model_dir, tiny_tokenizer

    other = tiny_model_dir(tmp_path / "other", "causal")
    tiny_tokenizer(vocab_size=300).save_pretrained(other)  # a different vocabulary
    with pytest.raises(GenlabError, match="different tokenizer"):
        distill_to(str(tiny_causal_dir), tmp_path / "s", student=str(other), texts=["a b c"], val_texts=["a"])
    assert not (tmp_path / "s").exists()
