"""The ``ppo`` recipe stage: parsed with its own errors, run from an earlier stage, scored and reported."""

from __future__ import annotations

import pytest

from genlab.errors import ConfigError
from genlab.lifecycle import recipe_from_yaml, run_recipe
from genlab.testing import tiny_recipe


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from genlab.testing import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("lm"), "causal", max_position_embeddings=4096)


STAGES = """  - zero-shot
  - {name: sft, kind: tune, method: lora, options: {r: 4}}
  - {name: ppo, kind: ppo, from: sft, options: {reward: "keywords:the", steps: 2, batch_size: 2,
      mini_batch_size: 2, ppo_epochs: 1, max_new_tokens: 4, n_prompts: 4}}
"""


def recipe(model, stages: str = STAGES) -> str:
    return tiny_recipe(model, stages, name="aligned", max_new_tokens=8)


def test_ppo_stage_runs_from_the_sft_stage_and_shows_in_the_report(tiny_dir, tmp_path):
    out = tmp_path / "run"
    outcomes = {o.name: o for o in run_recipe(recipe_from_yaml(recipe(tiny_dir), "r.yaml"), out)}
    rec = outcomes["ppo"].record
    assert outcomes["ppo"].status == "ran" and rec.kind == "ppo"
    assert set(rec.metrics) == set(outcomes["sft"].record.metrics)  # scored like the other stages
    assert (out / "stages" / "ppo" / "model" / "config.json").is_file() and rec.model_dir == "model"
    assert rec.train["steps"] == 2 and "kl" in rec.train
    from safetensors.torch import load_file

    lora = load_file(out / "stages" / "ppo" / "adapter" / "adapter_model.safetensors")
    assert rec.trainable_params == sum(t.numel() for t in lora.values()) > 0  # the leaderboard's cost column
    html = (out / "report.html").read_text()
    assert "PPO (keywords:the" in html and "first PPO step" in html
    vs = rec.extra["vs_source"]  # against the SFT stage it started from, on the same examples
    assert vs["source"] == "sft" and vs["reward"] == "keywords:the"
    split = vs["splits"]["test"]
    measures = {r["metric"]: r for r in split["rows"]}
    assert {"reward (keywords:the)", "response tokens", *outcomes["sft"].record.metrics} <= set(measures)
    assert measures["rougeL"]["start"] == pytest.approx(outcomes["sft"].record.metrics["rougeL"]["value"])
    assert split["kl_n"] > 0 and split["kl_per_token"]["value"] >= 0
    assert "Aligned stages against their start" in html and "KL to start (nats/token)" in html
    again = {o.name: o.status for o in run_recipe(recipe_from_yaml(recipe(tiny_dir), "r.yaml"), out)}
    assert again == {"zero-shot": "reused", "sft": "reused", "ppo": "reused"}


@pytest.mark.parametrize("options, match", [
    ("{reward: sentiment}", "reward must be"),
    ("{reward: toxicity, beta: 0.1}", "unknown field"),
    ("{reward: toxicity, n_prompts: 0}", "n_prompts"),
    ("{reward: toxicity, batch_size: 6, mini_batch_size: 4}", "mini_batch_size"),
])
def test_ppo_stage_options_are_checked(options, match):
    with pytest.raises(ConfigError, match=match) as e:
        recipe_from_yaml(f"model: m\ntask: t\nstages: [zero-shot, {{kind: ppo, from: zero-shot, options: {options}}}]\n",
                         source="r.yaml")
    assert "stages[1]" in e.value.where


def test_toxic_fraction_metric_uses_the_offline_classifier():
    from genlab.evaluation.metrics import get_metric

    m = get_metric("toxic_fraction")
    rude, polite = "Shut up, you stupid idiot. Piss off.", "Thank you, I am happy to help with your order."
    assert m.sentence_score(rude, None) == 1.0 and m.sentence_score(polite, None) == 0.0
    assert m.corpus_score([rude, polite, polite, polite], [None] * 4) == pytest.approx(0.25)
    assert m.higher_is_better is False


def test_ppo_stage_trains_its_reward_model_first(tiny_dir, tmp_path):
    text = recipe(tiny_dir).replace(
        'reward: "keywords:the"', f"reward: {{train: support-summary-prefs, model: {tiny_dir}, n_train: 8, batch_size: 4}}")
    text = text.replace("  - zero-shot\n", "")
    out = tmp_path / "run"
    outcomes = {o.name: o for o in run_recipe(recipe_from_yaml(text, "r.yaml"), out)}
    rec = outcomes["ppo"].record
    assert (out / "stages" / "ppo" / "reward" / "adapter" / "manifest.json").is_file()
    assert "reward/scores.png" in rec.extra["figures"] and "PPO (reward-model:" in rec.label


DPO_STAGE = """  - {name: dpo, kind: dpo, from: sft, options: {data: support-summary-prefs, n_train: 4, n_val: 2, beta: 0.2},
      train: {max_steps: 2, batch_size: 2, lr: 1.0e-3}}
"""


def test_dpo_stage_continues_the_sft_adapter_and_shows_in_the_report(tiny_dir, tmp_path):
    text = recipe(tiny_dir, STAGES.split("  - {name: ppo")[0] + DPO_STAGE)
    out = tmp_path / "run"
    outcomes = {o.name: o for o in run_recipe(recipe_from_yaml(text, "r.yaml"), out)}
    rec = outcomes["dpo"].record
    assert outcomes["dpo"].status == "ran" and rec.kind == "dpo" and rec.adapter == "dpo/adapter"
    assert set(rec.metrics) == set(outcomes["sft"].record.metrics)
    assert rec.train["steps"] == 2 and "reward_margin" in rec.train
    assert rec.trainable_params == outcomes["sft"].record.trainable_params > 0  # it trains the SFT adapter on
    cfg = __import__("json").loads((out / "stages" / "dpo" / "dpo" / "config.json").read_text())
    assert cfg["from_adapter"].endswith("sft/adapter") and cfg["beta"] == 0.2
    assert (out / "stages" / "dpo" / "dpo" / "dpo_curves.png").is_file()
    html = (out / "report.html").read_text()
    assert "DPO (sigmoid, β=0.2) on support-summary-prefs from sft" in html
    split = rec.extra["vs_source"]["splits"]["test"]  # no PPO stage, so no reward to score with
    assert rec.extra["vs_source"]["reward"] is None
    assert not any(r["metric"].startswith("reward") for r in split["rows"])
    assert "KL to start (nats/token)" in html
    again = {o.name: o.status for o in run_recipe(recipe_from_yaml(text, "r.yaml"), out)}
    assert again == {"zero-shot": "reused", "sft": "reused", "dpo": "reused"}


def test_a_recipe_that_samples_compares_every_answer_with_its_start(tiny_dir, tmp_path):
    text = recipe(tiny_dir, STAGES.split("  - {name: ppo")[0] + DPO_STAGE).replace(
        "generation: {max_new_tokens: 8}", "generation: {max_new_tokens: 8, do_sample: true, num_return_sequences: 2}")
    out = tmp_path / "run"
    outcomes = {o.name: o for o in run_recipe(recipe_from_yaml(text, "r.yaml"), out)}
    rows = _samples(out, "dpo")
    assert all(len(r["predictions"]) == len(r["raw_predictions"]) == 2 for r in rows)
    split = outcomes["dpo"].record.extra["vs_source"]["splits"]["test"]
    tokens = next(r for r in split["rows"] if r["metric"] == "response tokens")
    assert split["n"] == split["kl_n"] == 4  # one KL per example, the mean over its two answers
    assert tokens["stage"] == pytest.approx(sum(sum(r["new_tokens_each"]) / 2 for r in rows) / 4)
    assert "Answers were sampled T=1, 2 answers each (mean)." in (out / "report.html").read_text()


def _samples(out, stage: str) -> list[dict]:
    import json

    return [json.loads(line) for line in (out / "stages" / stage / "eval" / "samples.jsonl").read_text().splitlines()]


def test_a_kto_stage_takes_its_weights():
    recipe = recipe_from_yaml("model: m\ntask: t\nstages: [zero-shot, {kind: dpo, from: zero-shot, options: "
                              "{data: p.jsonl, loss: kto, desirable_weight: 1.2, undesirable_weight: 1.0}}]\n",
                              source="r.yaml")
    assert recipe.stages[1].options["desirable_weight"] == 1.2


@pytest.mark.parametrize("options, match", [
    ("{beta: 0.1}", "data: names"),
    ("{data: p.jsonl, beta: 0}", "must be > 0"),
    ("{data: p.jsonl, loss: cpo}", "unknown DPO loss"),
    ("{data: p.jsonl, loss: kto, sft_weight: 1.0}", "not kto"),
    ("{data: p.jsonl, desirable_weight: 2.0}", "KTO's"),
    ("{data: p.jsonl, loss: ipo, label_smoothing: 0.1}", "for the sigmoid and robust losses"),
    ("{data: p.jsonl, steps: 3}", "unknown option"),
])
def test_dpo_stage_options_are_checked(options, match):
    with pytest.raises(ConfigError, match=match) as e:
        recipe_from_yaml(f"model: m\ntask: t\nstages: [zero-shot, {{kind: dpo, from: zero-shot, options: {options}}}]\n",
                         source="r.yaml")
    assert "stages[1]" in e.value.where


DETOX = """  - {{name: rude, kind: tune, method: lora, data: {data}, options: {{r: 4}}}}
  - {{name: ppo, kind: ppo, from: rude, options: {{reward: toxicity, steps: 1, batch_size: 2, mini_batch_size: 2,
      ppo_epochs: 1, max_new_tokens: 4, n_prompts: 2}}}}
"""


def detox(model, data: str) -> str:
    return tiny_recipe(model, DETOX.format(data=data), name="detox", task="detox-prompts", max_new_tokens=6,
                       max_seq_len=256)


def test_tune_stage_trains_on_its_own_data_and_is_scored_on_the_recipes_task(tiny_dir, tmp_path):
    """The detoxify shape: a rude start trained on detox-rude, scored on detox-prompts, then PPO from it."""
    from genlab.adapters import read_manifest
    from genlab.evaluation import EvalResult

    out = tmp_path / "run"
    outcomes = {o.name: o for o in run_recipe(recipe_from_yaml(detox(tiny_dir, "detox-rude"),
                                                               "d.yaml"), out)}
    rude = outcomes["rude"].record
    assert set(rude.metrics) == {"toxic_fraction"} and outcomes["ppo"].status == "ran"
    assert read_manifest(out / "stages" / "rude" / "adapter")["task"] == "detox-rude"
    scored = EvalResult.load(out / "stages" / "rude" / "eval")
    assert scored.config["task"] == "detox-prompts"
    with pytest.raises(ConfigError) as e:
        recipe_from_yaml(detox(tiny_dir, "no-such-task"), "d.yaml")
    assert e.value.where.endswith("stages[0].data")
