"""The library prints nothing: each function the CLI calls, called from Python on tiny models, leaves
stdout and stderr empty (progress goes to a Reporter, warnings to ``warnings``/``logging``)."""

from __future__ import annotations

import warnings

import pytest

from genlab.testing import tiny_model_dir


@pytest.fixture(scope="module")
def long_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("quiet-lm"), "causal", max_position_embeddings=4096)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))


def assert_silent(capfd, what: str) -> None:
    out, err = capfd.readouterr()
    assert out == "" and err == "", f"{what} printed:\nstdout: {out[:400]!r}\nstderr: {err[:400]!r}"


def test_load_generate_and_truncation_are_quiet(long_dir, capfd):
    from genlab.generation import GenerationConfig, generate
    from genlab.generation.generate import PromptTruncated
    from genlab.models import load

    capfd.readouterr()
    lm = load(str(long_dir), precision="fp32")
    generate(lm, ["hello there"], GenerationConfig(max_new_tokens=3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        generate(lm, ["word " * 5000], GenerationConfig(max_new_tokens=2), on_overflow="truncate")
    assert any(issubclass(w.category, PromptTruncated) for w in caught)  # said through warnings, not printed
    assert_silent(capfd, "load/generate")


def test_evaluate_shot_sweep_and_compare_are_quiet(long_dir, tmp_path, capfd):
    from genlab.evaluation import EvalConfig, compare_runs, evaluate
    from genlab.evaluation.prompting import shot_sweep
    from genlab.models import load

    lm = load(str(long_dir), precision="fp32")
    capfd.readouterr()
    evaluate(lm, "support-summary", EvalConfig(n=2, batch_size=2), out_dir=tmp_path / "a")
    evaluate(lm, "reviews", EvalConfig(n=2, batch_size=2), out_dir=tmp_path / "b")
    evaluate(lm, "support-summary", EvalConfig(n=2, batch_size=2, shots=1), out_dir=tmp_path / "c")
    shot_sweep(lm, "reviews", [0, 1], EvalConfig(n=2, batch_size=2))
    compare_runs([tmp_path / "a", tmp_path / "c"])
    assert_silent(capfd, "evaluate/shot_sweep/compare_runs")


def test_tune_plan_and_data_stats_are_quiet(long_dir, tmp_path, capfd):
    from genlab.data.stats import task_stats
    from genlab.evaluation import EvalConfig
    from genlab.models import load
    from genlab.tasks import load_task
    from genlab.tuning import TrainConfig, tune
    from genlab.tuning.plan import plan

    capfd.readouterr()
    tune(str(long_dir), "support-summary", "lora", {"r": 2},
         TrainConfig(max_steps=2, batch_size=2, val_max_examples=2, val_generate=0, max_seq_len=256),
         tmp_path / "tune", n_train=4, eval_cfg=EvalConfig(n=2, batch_size=2))
    plan(str(long_dir), "lora")
    task_stats(load_task("reviews"), load(str(long_dir)).tokenizer)
    assert_silent(capfd, "tune/plan/task_stats")


def test_run_recipe_and_report_are_quiet(long_dir, tmp_path, capfd):
    from genlab.lifecycle import recipe_from_yaml, run_recipe

    recipe = recipe_from_yaml(f"""
name: quiet
model: {long_dir}
task: support-summary
eval: {{n: 2, batch_size: 2}}
n_train: 4
train: {{max_steps: 1, batch_size: 2, val_max_examples: 2, val_generate: 0, max_seq_len: 256}}
stages: [zero-shot, {{name: lora, kind: tune, method: lora, options: {{r: 2}}}}]
""", source="quiet.yaml")
    capfd.readouterr()
    run_recipe(recipe, tmp_path / "run")
    assert (tmp_path / "run" / "report.html").is_file()
    assert_silent(capfd, "run_recipe")


def test_holistic_suite_is_quiet(long_dir, tmp_path, capfd):
    from genlab.holistic import run_suite

    capfd.readouterr()
    run_suite([str(long_dir)], [None], n=2, out_dir=tmp_path / "bench", scenarios=["reviews", "support-summary"])
    assert_silent(capfd, "run_suite")


def test_inspect_views_are_quiet(long_dir, capfd):
    from genlab.inspect import attention_map, next_token_table
    from genlab.models import load

    lm = load(str(long_dir), precision="fp32")
    capfd.readouterr()
    next_token_table(lm, "The cat sat on the", top_k=3)
    attention_map(lm, "The cat sat")
    assert_silent(capfd, "inspect")
