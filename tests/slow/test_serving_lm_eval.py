"""lm-evaluation-harness's ``local-completions`` client against genlab serve, on the built-in ``reviews``
multiple-choice task: the same accuracy as ``genlab eval`` and per-choice log-probs within 1e-3 (fp32).

lm-eval sends token ids with ``echo: true, logprobs: 1, max_tokens: 1`` and sums ``token_logprobs[ctxlen:-1]``.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

pytestmark = pytest.mark.slow
N = 24


def test_lm_eval_local_completions_matches_genlab_eval(embedded, tmp_path):
    from eval_mc import export
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from genlab.evaluation import evaluate
    from genlab.serving import ServeConfig, build_service, running
    from genlab.tasks import load_task

    task = load_task("reviews")
    requests = task.requests("test", n=N, tokenizer=embedded.tokenizer, context_window=embedded.context_window)
    export(requests, tmp_path)  # the dataset and task YAML bench/eval_mc.py gives lm-eval

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
