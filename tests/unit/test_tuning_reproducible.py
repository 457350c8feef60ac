"""tune() reproduces bit for bit from its seed alone, whatever state torch's global generator is in."""

from __future__ import annotations

import json

import pytest
import torch

from genlab.runtime import deterministic_algorithms
from genlab.testing import tiny_model_dir
from genlab.tuning import TrainConfig, tune

from tuning_helpers import ToyTask

FAST = dict(max_steps=4, batch_size=4, val_max_examples=4, val_generate=0, max_seq_len=128, lr=1e-2, seed=5)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-repro"), "causal")


def _run(model_dir, out, global_seed: int, **cfg):
    torch.manual_seed(global_seed)  # as if another process: torch seeds its generator randomly at start
    tune(str(model_dir), ToyTask(), "lora", {"r": 4, "dropout": 0.1}, TrainConfig(**{**FAST, **cfg}), out,
         eval_cfg=None)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    from safetensors.torch import load_file

    weights = load_file(next((out / "adapter").glob("*.safetensors")))
    return [(r["loss"], r["grad_norm"]) for r in rows if "loss" in r], weights


def test_tune_is_bit_identical_from_its_seed_and_records_what_it_depends_on(model_dir, tmp_path):
    (la, wa), (lb, wb) = _run(model_dir, tmp_path / "a", 1), _run(model_dir, tmp_path / "b", 2)
    assert len(la) == 4 and la == lb
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    lc, _ = _run(model_dir, tmp_path / "c", 1, seed=6)
    assert lc != la  # the seed does reach the run (LoRA init, dropout masks, data order)
    record = json.loads((tmp_path / "a" / "config.json").read_text())["determinism"]
    assert record["seed"] == 5 and record["deterministic_algorithms"] is False
    assert record["torch_threads"] == torch.get_num_threads() and record["torch"] == torch.__version__


def test_deterministic_mode_trains_identically_and_is_restored(model_dir, tmp_path):
    plain, _ = _run(model_dir, tmp_path / "plain", 1)
    strict, _ = _run(model_dir, tmp_path / "strict", 2, deterministic=True)
    assert strict == plain  # on CPU the deterministic kernels give the same numbers
    assert not torch.are_deterministic_algorithms_enabled()
    with deterministic_algorithms(True):
        assert torch.are_deterministic_algorithms_enabled()
    assert not torch.are_deterministic_algorithms_enabled()
    record = json.loads((tmp_path / "strict" / "config.json").read_text())["determinism"]
    assert record["deterministic_algorithms"] is True
