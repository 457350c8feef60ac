"""One evaluation path: prompt stages, tuned stages and `genlab eval --adapter` score alike.

The invariant: a LoRA stage trained with ``lr: 0`` leaves the model unchanged (LoRA's B starts
at zero), so it must report exactly the zero-shot stage's numbers on the same examples, and
`genlab eval --adapter` on the adapter it saved must reproduce them.
"""

from __future__ import annotations

import json

import pytest

from genlab.lifecycle import recipe_from_yaml, run_recipe


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from genlab.testing import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("lm"), "causal", max_position_embeddings=4096)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))


def recipe(model, task, precision="auto"):
    return f"""
name: invariant
model: {model}
task: {task}
eval: {{n: 4, batch_size: 3, seed: 5, precision: {precision}}}
n_train: 8
train: {{max_steps: 2, batch_size: 2, lr: 0, val_max_examples: 2, val_generate: 0, max_seq_len: 384}}
stages:
  - zero-shot
  - {{name: lora, kind: tune, method: lora, options: {{r: 4}}}}
"""


def _stage(out, name):
    return json.loads((out / "stages" / name / "stage.json").read_text())


def _samples(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


# reviews: multiple choice, so the numbers are log-likelihoods (any change in the model shows);
# support-summary: generation through the cache-free path
@pytest.mark.parametrize("task,precision", [("reviews", "auto"), ("reviews", "fp32"), ("support-summary", "auto")])
def test_lora_with_lr_0_scores_exactly_like_zero_shot_and_eval_adapter_reproduces_it(tiny_dir, tmp_path, task,
                                                                                       precision):
    from genlab.cli import main

    out = tmp_path / "run"
    run_recipe(recipe_from_yaml(recipe(tiny_dir, task, precision), "r.yaml"), out)
    zero, lora = _stage(out, "zero-shot"), _stage(out, "lora")
    print(f"[{precision}] zero-shot {json.dumps({k: v['value'] for k, v in zero['metrics'].items()})}")
    print(f"[{precision}] lora      {json.dumps({k: v['value'] for k, v in lora['metrics'].items()})}")
    assert lora["metrics"] == zero["metrics"]  # values and intervals, bit for bit
    z = _samples(out / "stages" / "zero-shot" / "eval" / "samples.jsonl")
    t = _samples(out / "stages" / "lora" / "eval" / "samples.jsonl")
    assert [s["doc_id"] for s in z] == [s["doc_id"] for s in t]  # the same examples
    if task == "reviews":
        assert [s["logprobs"] for s in z] == [s["logprobs"] for s in t]
        assert len({lp for s in z for lp in s["logprobs"]}) > 4  # real, distinct log-likelihoods
    else:
        assert [s["raw_prediction"] for s in z] == [s["raw_prediction"] for s in t]
    zres = json.loads((out / "stages" / "zero-shot" / "eval" / "results.json").read_text())
    tres = json.loads((out / "stages" / "lora" / "eval" / "results.json").read_text())
    assert (tres["config"]["precision"], tres["config"]["batch_size"]) == (zres["config"]["precision"], 3)

    again = tmp_path / "again"
    assert main(["eval", "-m", str(tiny_dir), "--task", task, "--adapter",
                 str(out / "stages" / "lora" / "adapter"), "-n", "4", "--batch-size", "3", "--seed", "5",
                 "--out", str(again), "--no-cache"] + (["--fp32"] if precision == "fp32" else [])) == 0
    res = json.loads((again / "results.json").read_text())
    print(f"[{precision}] eval --adapter {json.dumps({k: v['value'] for k, v in res['metrics'].items()})}")
    assert res["metrics"] == lora["metrics"]
    cli = _samples(again / "samples.jsonl")
    key = "logprobs" if task == "reviews" else "raw_prediction"
    assert [s[key] for s in cli] == [s[key] for s in t]
