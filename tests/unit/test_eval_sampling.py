"""Evaluating with a chosen decoding: ``genlab eval --gen KEY=VALUE`` (lm-eval's ``--gen_kwargs``), sampling
implied by a temperature, and several sampled answers per prompt scored as their mean."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from genlab.cli.common import generation_settings
from genlab.errors import ConfigError
from genlab.evaluation import EvalConfig, evaluate
from genlab.evaluation.metrics import get_metric
from genlab.evaluation.task_eval import score_metrics
from genlab.generation.config import implied_sampling
from genlab.tasks import task_from_dict

ROWS = [{"text": f"item {i} is {c}", "label": c} for i, c in enumerate(["red", "blue", "green", "red blue"] * 3)]


def short_task(tmp_path):
    path = tmp_path / "colors.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return task_from_dict({"name": "colors", "dataset": {"path": str(path), "splits": {"train": 0.5, "test": 0.5}},
                           "metrics": ["rougeL", "bleu"], "generation": {"max_new_tokens": 4}, "chat": False,
                           "templates": [{"name": "t", "patterns": [["{text}. Color:", "{label}"]]}]})


def test_gen_settings_split_on_commas_before_a_key_only():
    got = generation_settings(["temperature=0.7,top_p=0.9", "stop=a,b", "max-new-tokens=5"])
    assert got == {"temperature": 0.7, "top_p": 0.9, "do_sample": True, "stop": ["a,b"], "max_new_tokens": 5}
    assert generation_settings(['stop=["\\n\\n", "###"]'])["stop"] == ["\n\n", "###"]
    assert generation_settings(["temperature=0"]) == {"do_sample": False}  # 0 = greedy, as OpenAI's API reads it
    assert generation_settings(["do_sample=false,temperature=0.7"]) == {"do_sample": False, "temperature": 0.7}
    assert generation_settings(["temperature=0.5,,top_k=3,"]) == {"temperature": 0.5, "top_k": 3, "do_sample": True}
    assert generation_settings(None) == {}


@pytest.mark.parametrize("items, message", [
    (["temperature"], "is not KEY=VALUE"),
    (["temp=0.7"], "unknown generation setting(s): temp"),
    (["top_p=1.5"], "top_p: must be in (0, 1]"),
    (["num_return_sequences=3,do_sample=false"], "greedy decoding returns the same text every time"),
])
def test_gen_settings_name_what_is_wrong(items, message):
    with pytest.raises(ConfigError) as e:
        generation_settings(items)
    assert message in e.value.message and e.value.where == "--gen"


def test_implied_sampling_leaves_no_op_filters_and_explicit_choices_alone():
    assert implied_sampling({"top_k": 0}) == ({"top_k": 0}, None)
    assert implied_sampling({"top_p": 1.0, "max_new_tokens": 8}) == ({"top_p": 1.0, "max_new_tokens": 8}, None)
    assert implied_sampling({"do_sample": False, "top_k": 5})[0] == {"do_sample": False, "top_k": 5}
    settings, said = implied_sampling({"top_k": 5})
    assert settings == {"top_k": 5, "do_sample": True} and "top_k=5" in said


def test_several_answers_score_as_their_mean_and_resample_by_example():
    refs = ["the red cat", "a blue dog", "green grass grows", "red and blue"]
    groups = [["the red cat", "a red cat", "red"], ["a blue dog", "blue", "the cat"], ["green grass", "grass grows",
              "green grass grows"], ["blue", "red and blue", "and"]]
    metrics = [get_metric("rougeL"), get_metric("bleu")]
    summary, rows = score_metrics(metrics, [g[0] for g in groups], refs, n_resamples=200, seed=0, groups=groups)
    flat_preds = [p for g in groups for p in g]
    flat_refs = [r for g, r in zip(groups, refs) for _ in g]
    for m in metrics:
        every = m.stats_matrix(flat_preds, flat_refs)
        assert summary[m.name]["value"] == pytest.approx(float(m.from_stats(every.sum(0))))  # all answers pooled
        assert summary[m.name]["ci_low"] <= summary[m.name]["value"] <= summary[m.name]["ci_high"]
    rouge = get_metric("rougeL")
    for i, (g, r) in enumerate(zip(groups, refs)):
        each = [rouge.sentence_score(p, r) for p in g]
        assert rows[i]["scores_each"]["rougeL"] == pytest.approx(each)
        assert rows[i]["scores"]["rougeL"] == pytest.approx(np.mean(each))
    assert rows[0]["scores"]["rougeL"] < 1.0 < 3 * rows[0]["scores"]["rougeL"]  # a mean, not the first answer's 1.0


def test_eval_samples_several_answers_on_a_tiny_model(tiny_causal, tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    task = short_task(tmp_path)
    cfg = EvalConfig(n=6, precision="fp32", generation={"do_sample": True, "temperature": 1.0,
                                                        "num_return_sequences": 3})
    res = evaluate(tiny_causal, task, cfg, out_dir=tmp_path / "run")
    assert res.config["generation"]["num_return_sequences"] == 3 and res.config["generation"]["do_sample"]
    saved = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert len(saved) == 6 and all(len(s["predictions"]) == 3 and len(s["scores_each"]["rougeL"]) == 3
                                   for s in saved)
    assert any(len(set(s["predictions"])) > 1 for s in saved)  # sampled: the answers differ
    again = evaluate(tiny_causal, task, cfg)  # same seed: the same answers (from the cache or sampled alike)
    assert [s["predictions"] for s in again.samples] == [s["predictions"] for s in saved]


def test_eval_config_refuses_several_answers_with_a_vote():
    with pytest.raises(ConfigError, match="num_return_sequences"):
        EvalConfig(self_consistency=3, generation={"do_sample": True, "num_return_sequences": 2})


def test_eval_cli_gen_flag(tiny_causal_dir, tmp_path, monkeypatch, capsys):
    from genlab.cli import main

    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    task = tmp_path / "colors.yaml"
    short_task(tmp_path)  # writes colors.jsonl
    task.write_text(yaml.safe_dump({"name": "colors", "dataset": {"path": str(tmp_path / "colors.jsonl"),
                                    "splits": {"train": 0.5, "test": 0.5}}, "metrics": ["rougeL"], "chat": False,
                                    "generation": {"max_new_tokens": 4},
                                    "templates": [{"name": "t", "patterns": [["{text}. Color:", "{label}"]]}]}))
    out = tmp_path / "run"
    assert main(["eval", "-m", str(tiny_causal_dir), "-t", str(task), "-n", "4", "--precision", "fp32",
                 "--gen", "temperature=0.9,num_return_sequences=2", "--gen", "max_new_tokens=3",
                 "--out", str(out)]) == 0
    assert "sampled T=0.9, 2 answers each (mean)" in " ".join(capsys.readouterr().out.split())
    config = json.loads((out / "results.json").read_text())["config"]
    assert config["generation"]["max_new_tokens"] == 3 and config["generation"]["do_sample"] is True
    assert main(["eval", "-m", str(tiny_causal_dir), "-t", "reviews", "-n", "2", "--gen", "max_new_tokens=3"]) == 2
    assert "multiple_choice task" in capsys.readouterr().err
    assert main(["prompt", "-m", str(tiny_causal_dir), "-t", str(task), "-n", "2", "--shots", "0,1", "--precision",
                 "fp32", "--gen", "max_new_tokens=2", "--out", str(tmp_path / "sweep")]) == 0
    swept = json.loads((tmp_path / "sweep" / "1shot" / "results.json").read_text())["config"]
    assert swept["generation"]["max_new_tokens"] == 2


def test_generate_cli_samples_when_a_temperature_is_given(tiny_causal_dir, tmp_path, capsys):
    from genlab.cli import main

    out = tmp_path / "out.jsonl"
    assert main(["generate", "-m", str(tiny_causal_dir), "hi", "-T", "0.8", "--num-return-sequences", "2",
                 "--max-new-tokens", "3", "--no-chat", "--out", str(out)]) == 0
    assert "sampling (temperature=0.8" in capsys.readouterr().err
    assert len(json.loads(out.read_text().splitlines()[0])["output"]) == 2


def test_aligned_vs_start_averages_each_examples_sampled_answers(tiny_causal, tmp_path, monkeypatch):
    """``genlab.alignment.versus``: with several answers per example, reward, length and KL are each example's
    mean over its answers, distinct-2 pools them all (a recipe whose eval samples gets its table that way)."""
    from genlab.alignment.rewards import reward_from_spec
    from genlab.alignment.textstats import distinct_n
    from genlab.alignment.versus import kl_per_token, split_comparison

    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    task = short_task(tmp_path)
    sampled = EvalConfig(n=4, precision="fp32", generation={"do_sample": True, "num_return_sequences": 3})
    evaluate(tiny_causal, task, sampled, out_dir=tmp_path / "a")
    evaluate(tiny_causal, task, sampled.replace(generation={**sampled.generation, "seed": 1}), out_dir=tmp_path / "b")
    reward = reward_from_spec("keywords:the,a,e")
    got = split_comparison(tmp_path / "a", tmp_path / "b", tiny_causal, tiny_causal, reward)
    rows = {r["metric"]: r for r in got["rows"]}
    b = [json.loads(line) for line in (tmp_path / "b" / "samples.jsonl").read_text().splitlines()]
    by_hand = [np.mean(reward([s["prompt"]] * 3, s["predictions"])) for s in b]
    assert rows["reward (keywords:the,a,e)"]["stage"] == pytest.approx(np.mean(by_hand))
    assert rows["response tokens"]["stage"] == pytest.approx(np.mean([np.mean(s["new_tokens_each"]) for s in b]))
    assert got["distinct_2"][1] == pytest.approx(distinct_n([p for s in b for p in s["predictions"]], 2))
    kl = kl_per_token(tiny_causal, tiny_causal, [b[0]["prompt"]] * 3, b[0]["raw_predictions"])
    assert got["kl_n"] == 4 and all(k == pytest.approx(0.0, abs=1e-6) for k in kl)  # same model: KL 0
