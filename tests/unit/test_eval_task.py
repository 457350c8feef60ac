"""evaluate() on tiny models: outputs on disk, cache hits and misses, task errors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
import torch

from genlab.errors import ConfigError
from genlab.evaluation.task_eval import EvalResult, evaluate
from genlab.tasks import Request as Req


@dataclass
class FakeTask:
    """The part of genlab.tasks.Task evaluate() uses."""

    name: str = "fake"
    output_type: str = "generate"
    metrics: list = field(default_factory=lambda: ["rougeL", "bleu", "exact_match"])
    generation: dict = field(default_factory=lambda: {"max_new_tokens": 6})
    postprocess: list = field(default_factory=lambda: ["strip"])
    chat: bool = False
    reqs: list = field(default_factory=list)

    def split_names(self):
        return ["test"]

    def requests(self, split, *, shots=0, n=None, seed=0, tokenizer=None, template=0, chat=None, fit="drop",
                 context_window=None):
        return self.reqs[:n] if n else list(self.reqs)


GEN = [Req(i, p, t) for i, (p, t) in enumerate([
    ("The cat sat on the", "mat"), ("Question: what is two plus two? Answer:", "four"),
    ("Customer: my order 12345 arrived late. Agent:", "I am sorry"), ("Hello, how are you", "today"),
    ("Review: great product, five stars. Rating:", "5"), ("Summarize the following conversation. Summary:", "refund"),
])]
MC = [Req(i, p, "", choices=[" " + x for x in c], target_index=t) for i, (p, c, t) in enumerate([
    ("Review: great product, five stars. Rating:", ["1", "3", "5"], 2),
    ("Question: what is two plus two? Answer:", ["four", "five"], 0),
    ("The dog sat on the", ["log", "mat", "refund"], 0),
    ("Hello, how are you today? I am", ["fine", "late"], 0),
])]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.fixture
def count_generate(monkeypatch):
    import genlab.generation as generation

    calls = []
    real = generation.generate

    def counting(lm, prompts, *a, **kw):
        calls.append(len(prompts))
        return real(lm, prompts, *a, **kw)

    monkeypatch.setattr(generation, "generate", counting)
    return calls


def test_generate_eval_writes_results_and_samples(tiny_causal, home):
    task = FakeTask(reqs=GEN)
    result = evaluate(tiny_causal, task, out_dir=home / "run", precision="fp32", n_resamples=200)
    data = json.loads((home / "run" / "results.json").read_text())
    rows = [json.loads(line) for line in (home / "run" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == len(GEN) and set(data["metrics"]) == {"rougeL", "bleu", "exact_match"}
    for m in data["metrics"].values():
        assert m["ci_low"] <= m["value"] <= m["ci_high"]
    assert data["metrics"]["bleu"]["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")
    assert data["model"]["hash"] == tiny_causal.model_hash and data["config"]["generation"]["max_new_tokens"] == 6
    assert data["environment"]["packages"]["sacrebleu"] and "total_s" in data["timings"]
    assert rows[0]["prediction"] == rows[0]["raw_prediction"].strip()
    assert set(rows[0]["scores"]) == {"rougeL", "bleu", "exact_match"} and rows[0]["stats"]["bleu"]
    loaded = EvalResult.load(home / "run")
    assert loaded.metrics == result.metrics and len(loaded.samples) == len(GEN)


def test_identical_rerun_hits_the_cache(tiny_causal, home, count_generate):
    task = FakeTask(reqs=GEN)
    first = evaluate(tiny_causal, task, precision="fp32", n_resamples=50)
    again = evaluate(tiny_causal, task, precision="fp32", n_resamples=50)
    assert count_generate == [len(GEN)]  # the second run generated nothing
    assert again.config["cache"] == {"enabled": True, "hits": len(GEN), "misses": 0}
    assert [s["prediction"] for s in again.samples] == [s["prediction"] for s in first.samples]
    assert again.metrics == first.metrics  # seeded bootstrap: same intervals


def test_cache_misses_on_new_config_prompt_or_weights_and_when_disabled(tiny_causal, home, count_generate):
    evaluate(tiny_causal, FakeTask(reqs=GEN), precision="fp32", n_resamples=10)
    forced = evaluate(tiny_causal, FakeTask(reqs=GEN), precision="fp32", cache=False, n_resamples=10)
    assert forced.config["cache"]["misses"] == len(GEN)
    longer = evaluate(tiny_causal, FakeTask(reqs=GEN, generation={"max_new_tokens": 7}), precision="fp32", n_resamples=10)
    assert longer.config["cache"]["misses"] == len(GEN)
    extra = GEN + [Req(99, "The dog sat on the", "log")]
    partial = evaluate(tiny_causal, FakeTask(reqs=extra), precision="fp32", n_resamples=10)
    assert partial.config["cache"] == {"enabled": True, "hits": len(GEN), "misses": 1}
    assert count_generate == [len(GEN)] * 3 + [1]
    param = next(tiny_causal.model.parameters())
    with torch.no_grad():
        param[0, 0] += 1.0  # a model changed in memory (e.g. fine-tuned) must not reuse old generations
    try:
        tuned = evaluate(tiny_causal, FakeTask(reqs=GEN), precision="fp32", n_resamples=10)
    finally:
        with torch.no_grad():
            param[0, 0] -= 1.0
    assert tuned.config["cache"]["misses"] == len(GEN)


def test_multiple_choice_eval_matches_scoring(tiny_causal, home):
    from genlab.evaluation.loglik import score_choices

    task = FakeTask(output_type="multiple_choice", metrics=["acc", "acc_norm"], reqs=MC)
    result = evaluate(tiny_causal, task, precision="fp32", n_resamples=100)
    # genlab.tasks writes choices as " " + choice; evaluate() scores the same continuations
    # but measures acc_norm lengths without the delimiter, as lm-eval does
    bare = [Req(r.doc_id, r.prompt, "", choices=[c[1:] for c in r.choices], target_index=r.target_index) for r in MC]
    scores = score_choices(tiny_causal, bare, precision="fp32", target_delimiter=" ")
    for metric, norm in (("acc", False), ("acc_norm", True)):
        expected = sum(s.prediction(norm) == r.target_index for s, r in zip(scores, MC)) / len(MC)
        assert result.metrics[metric]["value"] == pytest.approx(expected)
    assert result.samples[0]["probs"] == pytest.approx(scores[0].probs)
    assert result.samples[0]["choices"] == ["1", "3", "5"]


def test_rolling_eval_reports_perplexity(tiny_causal, home):
    reqs = [Req(i, "", t) for i, t in enumerate(["The cat sat on the mat.", "Hello, how are you today?"])]
    task = FakeTask(output_type="loglikelihood_rolling", metrics=["perplexity", "bits_per_byte"], reqs=reqs)
    result = evaluate(tiny_causal, task, precision="fp32", n_resamples=50)
    assert result.metrics["perplexity"]["value"] > 1 and result.metrics["bits_per_byte"]["value"] > 0


@pytest.mark.parametrize("task,message", [
    (FakeTask(metrics=["rouge_l"]), "unknown metric 'rouge_l'"),
    (FakeTask(metrics=["acc"]), "metric 'acc' scores multiple_choice outputs"),
    (FakeTask(output_type="classify"), "unknown output_type 'classify'"),
    (FakeTask(metrics=[]), "lists no metrics"),
    (FakeTask(postprocess=["trim"]), "unknown post-processing step 'trim'"),
    (FakeTask(generation={"max_new_tokens": 4, "temprature": 0.5}), "temprature"),
])
def test_task_errors_reach_the_user_clearly(tiny_causal, home, task, message):
    task.reqs = GEN[:2]
    with pytest.raises(Exception) as err:
        evaluate(tiny_causal, task)
    text = err.value.render() if hasattr(err.value, "render") else str(err.value)
    assert message in text and "task fake" in text
    if "unknown metric" in message:
        assert isinstance(err.value, ConfigError) and "rougeLsum" in text and "field_f1" in text
