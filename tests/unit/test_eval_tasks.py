"""Task YAML problems as they reach ``evaluate``, and built-in tasks through evaluate() on a tiny model."""

from __future__ import annotations

import json

import pytest

from genlab.errors import ConfigError, GenlabError
from genlab.evaluation.task_eval import evaluate
from genlab.tasks import load_task

TEMPLATE = """name: mine
dataset: {{path: data.jsonl, splits: {{train: 0.5, test: 0.5}}}}
output_type: {output_type}
metrics: {metrics}
generation: {{max_new_tokens: 3}}
postprocess: {postprocess}
chat: false
templates:
  - name: t
    jinja: "Q: {{{{{field}}}}} ||| {{{{answer}}}}"
"""


def write_task(tmp_path, *, output_type="generate", metrics="[exact_match]", postprocess="[strip]",
               field="question"):
    rows = [{"question": f"what is {i} plus {i}?", "answer": str(2 * i)} for i in range(10)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / "mine.yaml"
    path.write_text(TEMPLATE.format(output_type=output_type, metrics=metrics, postprocess=postprocess, field=field))
    return path


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))


def test_user_task_yaml_runs_end_to_end(tiny_causal, tmp_path):
    result = evaluate(tiny_causal, str(write_task(tmp_path, metrics="[exact_match, f1]")),
                      n_resamples=20)
    assert set(result.metrics) == {"exact_match", "f1"} and len(result.samples) == 5
    assert result.samples[0]["prompt"].startswith("Q: what is")


def test_unknown_metric_names_the_file_and_lists_known_metrics(tiny_causal, tmp_path):
    path = write_task(tmp_path, metrics="[rouge_l]")
    with pytest.raises(ConfigError) as err:
        evaluate(tiny_causal, str(path))
    text = err.value.render()
    assert f"{path}: metrics[0]: unknown metric 'rouge_l'" in text
    assert "did you mean rougeL" in text and "known metrics: rouge1, rouge2, rougeL, rougeLsum, " in text
    assert "bleu" in text and "field_f1" in text


def test_metric_that_does_not_fit_the_output_type(tiny_causal, tmp_path):
    path = write_task(tmp_path, metrics="[acc]")
    with pytest.raises(ConfigError, match="metric 'acc' scores multiple_choice outputs.*'generate'"):
        evaluate(tiny_causal, str(path))


def test_bad_output_type_and_missing_column_are_caught_with_the_file_named(tiny_causal, tmp_path):
    with pytest.raises(ConfigError, match="output_type.*must be one of generate, multiple_choice"):
        evaluate(tiny_causal, str(write_task(tmp_path, output_type="classify")))
    with pytest.raises(GenlabError, match="question_text"):
        evaluate(tiny_causal, str(write_task(tmp_path, field="question_text")))


def test_bad_postprocess_regex(tiny_causal, tmp_path):
    path = write_task(tmp_path, postprocess='[{regex: "([0-9"}]')
    with pytest.raises(ConfigError, match=r"postprocess\[0\]: bad regex"):
        evaluate(tiny_causal, str(path))


def test_builtin_reviews_multiple_choice_on_tiny_model(tiny_causal, tmp_path):
    task = load_task("reviews")
    result = evaluate(tiny_causal, task, n=6, n_resamples=50, precision="fp32",
                      out_dir=tmp_path / "run")
    assert set(result.metrics) == {"acc", "acc_norm"}
    s = result.samples[0]
    assert s["choices"] == ["1", "2", "3", "4", "5"] and len(s["logprobs"]) == 5
    assert sum(s["probs"]) == pytest.approx(1.0)
    assert (tmp_path / "run" / "results.json").is_file()


def test_metric_options_in_task_yaml_reach_the_metric(tiny_causal, tmp_path):
    from rouge_score import rouge_scorer

    path = write_task(tmp_path, metrics="[rougeL, {rougeL: {use_stemmer: true}}]")
    result = evaluate(tiny_causal, str(path), n_resamples=20, precision="fp32")
    assert set(result.metrics) == {"rougeL", "rougeL_stem"}
    assert "stem:yes" in result.metrics["rougeL_stem"]["signature"]
    assert result.config["metrics"] == ["rougeL", {"rougeL": {"use_stemmer": True}}]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    for s in result.samples:  # per-sample scores are rouge-score's own with stemming on
        want = scorer.score(s["reference"], s["prediction"])["rougeL"].fmeasure
        assert s["scores"]["rougeL_stem"] == pytest.approx(want)
    # stemming matters on these words, so the option is not silently dropped
    assert scorer.score("the cats running", "cat run")["rougeL"].fmeasure > \
        rouge_scorer.RougeScorer(["rougeL"]).score("the cats running", "cat run")["rougeL"].fmeasure


def test_unknown_metric_option_names_the_metric_and_its_options(tiny_causal, tmp_path):
    path = write_task(tmp_path, metrics="[{rougeL: {stemmer: true}}]")
    with pytest.raises(ConfigError) as err:
        evaluate(tiny_causal, str(path))
    text = err.value.render()
    assert f"{path}: metrics[0]: metric 'rougeL'" in text and "stemmer" in text and "use_stemmer" in text


def test_a_metric_entry_that_is_neither_name_nor_mapping_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"metrics\[0\].*a metric is a name"):
        load_task(str(write_task(tmp_path, metrics="[[rougeL]]")))
