"""lm-evaluation-harness's ``local-completions`` client against genlab serve, on the built-in ``reviews``
multiple-choice task: the same accuracy as ``genlab eval`` and per-choice log-probs within 1e-3 (fp32).

lm-eval sends token ids with ``echo: true, logprobs: 1, max_tokens: 1`` and sums ``token_logprobs[ctxlen:-1]``.
"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))

pytestmark = pytest.mark.slow
N = 24

TASK = """task: genlab_reviews
dataset_path: json
dataset_kwargs:
  data_files: {{test: {data}}}
test_split: test
output_type: multiple_choice
doc_to_text: prompt
doc_to_choice: choices
doc_to_target: label
target_delimiter: " "
metric_list:
  - metric: acc
"""


def test_lm_eval_local_completions_matches_genlab_eval(embedded, tmp_path):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from genlab.evaluation import evaluate
    from genlab.serving import ServeConfig, build_service, running
    from genlab.tasks import load_task

    task = load_task("reviews")
    requests = task.requests("test", n=N, tokenizer=embedded.tokenizer, context_window=embedded.context_window)
    with (tmp_path / "reviews.jsonl").open("w") as f:
        for r in requests:
            f.write(json.dumps({"prompt": r.prompt, "label": r.target_index,
                                "choices": [c[1:] if c.startswith(" ") else c for c in r.choices]}) + "\n")
    (tmp_path / "genlab_reviews.yaml").write_text(TASK.format(data=json.dumps(str(tmp_path / "reviews.jsonl"))))

    ours = evaluate(embedded, task, n=N, precision="fp32", cache=False)
    service = build_service(embedded, {}, ServeConfig(), name="smollm2")
    try:
        with running(service) as url:
            args = (f"model=smollm2,base_url={url}/v1/completions,tokenizer_backend=huggingface,"
                    f"tokenizer={embedded.path},num_concurrent=1,max_retries=1,tokenized_requests=True")
            out = simple_evaluate(model="local-completions", model_args=args, tasks=["genlab_reviews"],
                                  task_manager=TaskManager(include_path=str(tmp_path)), num_fewshot=0,
                                  log_samples=True, bootstrap_iters=0)
    finally:
        service.engine.stop(drain=False, timeout=10)
    theirs = sorted(out["samples"]["genlab_reviews"], key=lambda s: s["doc_id"])
    mine = sorted(ours.samples, key=lambda s: s["doc_id"])
    gaps = [abs(a - float(r[0][0])) for s, p in zip(mine, theirs) for a, r in zip(s["logprobs"], p["resps"])]
    assert len(gaps) == sum(len(r.choices) for r in requests)
    assert max(gaps) < 1e-3, max(gaps)
    assert out["results"]["genlab_reviews"]["acc,none"] == pytest.approx(ours.metrics["acc"]["value"])
