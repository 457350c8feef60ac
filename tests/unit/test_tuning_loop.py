"""The loop: completion-only loss, schedules, batching, config errors, NaN stop, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from genlab.errors import ConfigError, GenlabError
from genlab.testing import tiny_model
from genlab.tuning import TrainConfig, methods, train
from genlab.tuning.data import IGNORE, batch_order, collate, encode
from genlab.tuning.loop import lr_factor
from genlab.tuning.loss import CompletionHead, completion_loss

from tuning_helpers import toy_pairs

HERE = Path(__file__).parent


def test_prompt_tokens_are_masked():
    _, tok = tiny_model("causal")
    (ex,) = encode([("Question: say cat twice. Answer:", " cat cat")], tok, "causal", 64)
    n_prompt = len(tok("Question: say cat twice. Answer:")["input_ids"])
    assert ex.labels[:n_prompt] == [IGNORE] * n_prompt
    assert ex.labels[n_prompt:] == ex.input_ids[n_prompt:]
    assert ex.labels[-1] == tok.eos_token_id
    (short,) = encode([("word " * 100, " cat")], tok, "causal", 16)  # the prompt is cut, not the target
    assert len(short) == 16 and short.labels[-2:] == short.input_ids[-2:]


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_completion_loss_equals_full_logits_loss(kind):
    """Logits on completion positions only == HF's loss over all logits with prompt labels masked."""
    model, tok = tiny_model(kind)
    ex = encode(toy_pairs(5), tok, kind, 64)
    batch = collate(ex, tok.pad_token_id, kind)
    head = CompletionHead(model)
    ours, n = completion_loss(model, batch, kind, head)
    head.remove()
    ref = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    assert n == int((batch["labels"][:, 1:] if kind == "causal" else batch["labels"]).ne(IGNORE).sum())


def test_batch_order_is_deterministic_grouped_and_complete():
    lengths = [i % 17 + 1 for i in range(100)]
    a, b = batch_order(lengths, 4, seed=3, epoch=1), batch_order(lengths, 4, seed=3, epoch=1)
    assert a == b and a != batch_order(lengths, 4, seed=3, epoch=2)
    assert sorted(i for bt in a for i in bt) == list(range(100))
    spread = sum(max(lengths[i] for i in bt) - min(lengths[i] for i in bt) for bt in a) / len(a)
    assert spread < 2  # length grouping: little padding inside a batch


def test_schedule_warmup_then_cosine_to_zero():
    assert lr_factor(0, 100, 10, "cosine") == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(99, 100, 10, "cosine") < 0.01
    assert lr_factor(55, 100, 10, "linear") == pytest.approx(0.5)
    assert lr_factor(80, 100, 0, "constant") == 1.0


@pytest.mark.parametrize("field,value,match", [
    ("lr", -1.0, "TrainConfig.lr"), ("schedule", "step", "TrainConfig.schedule"),
    ("warmup_ratio", 1.5, "TrainConfig.warmup_ratio"), ("max_steps", 0, "TrainConfig.max_steps"),
    ("precision", "fp16", "TrainConfig.precision"), ("batch_size", 0, "TrainConfig.batch_size"),
])
def test_config_errors_name_the_field(field, value, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**{field: value})


def test_config_from_yaml_and_unknown_field(tmp_path):
    f = tmp_path / "recipe.yaml"
    f.write_text("train:\n  lr: 0.001\n  epochs: 2\n  schedule: linear\n")
    assert TrainConfig.from_yaml(f) == TrainConfig(lr=1e-3, epochs=2, schedule="linear")
    f.write_text("lr: 0.001\nlearning_rate: 3\n")
    with pytest.raises(ConfigError, match="learning_rate") as e:
        TrainConfig.from_yaml(f)
    assert str(f) in str(e.value)


def _tiny_lora():
    model, tok = tiny_model("causal", seed=0, initializer_range=0.3)
    return methods.apply("lora", model, {"r": 4}), tok


def test_nan_loss_stops_with_step_and_causes(tmp_path):
    model, tok = _tiny_lora()
    with torch.no_grad():
        next(p for n, p in model.named_parameters() if "lora_B" in n).fill_(float("nan"))
    ex = encode(toy_pairs(8), tok, "causal", 64)
    with pytest.raises(GenlabError, match=r"step 1") as e:
        train(model, tok, "causal", ex, [], TrainConfig(max_steps=3, batch_size=4), tmp_path)
    assert "learning rate" in str(e.value) and "bad data" in str(e.value)


def test_writes_metrics_curves_and_checkpoints(tmp_path):
    model, tok = _tiny_lora()
    ex = encode(toy_pairs(16), tok, "causal", 64)
    res = train(model, tok, "causal", ex, ex[:4], TrainConfig(lr=2e-2, epochs=2, batch_size=4, precision="bf16"),
                tmp_path, val_metric=lambda m: {"dummy": 1.0})
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == list(range(1, 9))
    assert [r["step"] for r in rows if "val_loss" in r] == [4, 8]
    assert all(r["val_dummy"] == 1.0 for r in rows if "val_loss" in r)
    assert {"lr", "tok_s", "tokens", "grad_norm"} <= set(rows[0])
    assert (tmp_path / "train_curves.png").stat().st_size > 1000
    assert (tmp_path / "checkpoints" / "last.pt").is_file() and (tmp_path / "checkpoints" / "best.pt").is_file()
    assert res.steps == 8 and res.tokens_per_s > 0 and res.peak_rss_mb > 0 and res.best_step in (4, 8)


def test_early_stopping(tmp_path, monkeypatch):
    import genlab.tuning.bookkeeping as bookkeeping

    vals = iter(range(100))
    monkeypatch.setattr(bookkeeping, "validation_loss", lambda *a, **k: float(next(vals)))
    model, tok = _tiny_lora()
    ex = encode(toy_pairs(16), tok, "causal", 64)
    res = train(model, tok, "causal", ex, ex[:2], TrainConfig(max_steps=20, batch_size=4, eval_every=1,
                                                              early_stopping_patience=2), tmp_path)
    assert res.stopped_early and res.steps == 3 and res.best_step == 1


def test_loop_state_reads_checkpoints_written_before_it_existed():
    from genlab.tuning import LoopState

    old = {"step": 7, "loss": 0.5, "tokens": 900, "elapsed": 3.0, "best_val": 0.4, "best_step": 6, "bad_evals": 1,
           "stop": False, "stopped_early": False}  # the plain dict a checkpoint held
    state = LoopState.from_json(old)
    assert state.step == 7 and state.best_step == 6 and state.to_json() == old
    assert LoopState.from_json({"step": 2}).bad_evals == 0  # a missing field takes its default


def test_too_little_data_says_what_to_change(tmp_path):
    model, tok = _tiny_lora()
    ex = encode(toy_pairs(3), tok, "causal", 64)
    with pytest.raises(GenlabError, match="batch_size"):
        train(model, tok, "causal", ex, [], TrainConfig(batch_size=4, grad_accum=2), tmp_path)


def _child(out, *args, **popen):
    cmd = [sys.executable, str(HERE / "tuning_child.py"), str(out), *args]
    env = {**os.environ, "PYTHONPATH": str(HERE.parent.parent)}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, **popen)


def _result(proc) -> dict:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    reference = _result(_child(tmp_path / "ref"))
    victim = _child(tmp_path / "run", "--delay", "0.4")
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline:  # kill after step 5: the last checkpoint is step 4
        if metrics.is_file() and any(json.loads(x).get("step", 0) >= 5 for x in metrics.read_text().splitlines()):
            break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=False)["state"]["step"] < 10
    resumed = _result(_child(tmp_path / "run", "--resume"))
    assert resumed["final_loss"] == reference["final_loss"]
    assert resumed["losses"] == reference["losses"]  # metrics.jsonl rewound to the checkpoint, then replayed


def test_compiled_blocks_train_like_uncompiled_only_during_the_loop(tmp_path):
    from genlab.tuning import loss as loss_module

    def losses(compile_):
        model, tok = tiny_model("causal", seed=0, initializer_range=0.3)
        model = methods.apply("lora", model, {"r": 4, "dropout": 0.0})
        attention = model.config._attn_implementation
        ex = encode(toy_pairs(12), tok, "causal", 64)
        cfg = TrainConfig(lr=1e-2, max_steps=3, batch_size=4, precision="fp32", compile=compile_)
        layers = model.get_base_model().model.layers
        seen = []

        def during(_state):
            seen.append([getattr(block, "_compiled_call_impl", None) is not None for block in layers])
            seen.append(model.config._attn_implementation != attention)
            seen.append(loss_module._compiled_ce is not None)

        res = train(model, tok, "causal", ex, [], cfg, tmp_path / str(compile_), on_step=during)
        assert seen[0] == [compile_] * len(layers)
        assert seen[1] == compile_  # fp32 on CPU: recomputed eager attention when compiled, SDPA when not
        assert seen[2] == compile_ and loss_module._compiled_ce is None  # the loss too, only in the loop
        assert all(getattr(block, "_compiled_call_impl", None) is None for block in layers)  # uncompiled after
        assert model.config._attn_implementation == attention
        return [r["loss"] for r in res.history if "loss" in r]

    plain, compiled = losses(False), losses(True)
    assert len(compiled) == 3 and compiled == pytest.approx(plain, rel=1e-4)


def test_compiled_cross_entropy_equals_eager_in_value_and_gradient():
    from genlab.tuning.loss import compiled_cross_entropy, cross_entropy

    torch.manual_seed(0)
    for n in (7, 33):  # two lengths: one compiled graph with dynamic shapes
        logits = (3 * torch.randn(n, 50)).to(torch.bfloat16).requires_grad_()
        labels = torch.randint(0, 50, (n,))
        plain = cross_entropy(logits, labels)
        (g_plain,) = torch.autograd.grad(plain, logits)
        with compiled_cross_entropy():
            fused = cross_entropy(logits, labels)
            (g_fused,) = torch.autograd.grad(fused, logits)
        assert fused.dtype == torch.float32
        assert fused.item() == pytest.approx(plain.item(), rel=1e-6)
        assert torch.allclose(g_fused.float(), g_plain.float(), atol=1e-3)  # bf16 gradients: 1 ulp at most


def test_frozen_weights_run_in_bf16_and_come_back_bit_for_bit(tmp_path, monkeypatch):
    from genlab.tuning.loop import frozen_linears_in_bf16

    monkeypatch.setenv("GENLAB_HOME", str(tmp_path))
    model, _ = tiny_model("causal", tie_word_embeddings=True)
    model = methods.apply("lora", model, {"r": 4, "target_modules": ["q_proj", "v_proj"]})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad and p.dim() == 2]
    with frozen_linears_in_bf16(model, "bf16"):
        params = dict(model.named_parameters())
        linear_frozen = [n for n in frozen if "embed" not in n]
        assert linear_frozen and all(params[n].dtype == torch.bfloat16 for n in linear_frozen)
        assert all(p.dtype == torch.float32 for p in params.values() if p.requires_grad)
        assert len(list((tmp_path / "tmp").iterdir())) == 0  # the spill file has no name
    after = model.state_dict()
    assert all(after[k].dtype == v.dtype and torch.equal(after[k], v) for k, v in before.items())
    with frozen_linears_in_bf16(model, "fp32"):
        assert all(p.dtype == torch.float32 for p in model.parameters())
