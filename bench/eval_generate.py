"""Generation eval: genlab vs lm-evaluation-harness ``generate_until``, same model, prompts, examples.

    flock /tmp/genlab-heavy.lock python bench/eval_generate.py [--model smollm2-135m-instruct] [-n 50]

The ``support-summary`` test prompts (as genlab builds them, chat template
included) go to lm-eval 0.4 through a local task YAML (greedy, ``max_gen_toks``
= the task's ``max_new_tokens``, stop at the EOS token) and through
``genlab.evaluation.evaluate``. Prints ROUGE-L from both outputs (scored by
genlab's rouge-score wrapper), how many outputs are identical after strip(),
examples/s and the ratio. lm-eval runs the model as loaded (fp32); genlab runs
in fp32 (parity) and in its default precision (speed), without its cache.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

LM_EVAL_TASK = """task: genlab_summary
dataset_path: json
dataset_kwargs:
  data_files: {{test: {data}}}
test_split: test
output_type: generate_until
doc_to_text: prompt
doc_to_target: target
generation_kwargs:
  until: [{eos}]
  max_gen_toks: {max_new_tokens}
  do_sample: false
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""


def export(requests, folder: Path, eos: str, max_new_tokens: int) -> None:
    data = folder / "summary.jsonl"
    with data.open("w") as f:
        for r in requests:
            f.write(json.dumps({"doc_id": r.doc_id, "prompt": r.prompt, "target": r.target}) + "\n")
    (folder / "genlab_summary.yaml").write_text(
        LM_EVAL_TASK.format(data=json.dumps(str(data)), eos=json.dumps(eos), max_new_tokens=max_new_tokens))


def run_lm_eval(lm, folder: Path, batch_size: int) -> tuple[list[str], float]:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    peer = HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=batch_size)
    t0 = time.perf_counter()
    out = simple_evaluate(model=peer, tasks=["genlab_summary"], task_manager=TaskManager(include_path=str(folder)),
                          num_fewshot=0, log_samples=True, bootstrap_iters=0)
    seconds = time.perf_counter() - t0
    samples = sorted(out["samples"]["genlab_summary"], key=lambda s: s["doc_id"])
    return [s["resps"][0][0] for s in samples], seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()

    from genlab.evaluation import evaluate
    from genlab.evaluation.metrics import get_metric
    from genlab.models import load
    from genlab.tasks import load_task

    lm = load(args.model, precision="fp32")  # fp32 weights: the peer's setting; "auto" runs autocast on them
    task = load_task("support-summary")
    max_new = int(task.generation.get("max_new_tokens", 64))
    requests = task.requests("test", n=args.n, tokenizer=lm.tokenizer, context_window=lm.context_window)
    with tempfile.TemporaryDirectory() as tmp:
        export(requests, Path(tmp), lm.tokenizer.eos_token, max_new)
        peer_texts, peer_s = run_lm_eval(lm, Path(tmp), args.batch_size)
    rouge = get_metric("rougeL")
    refs = [r.target for r in requests]
    n = len(requests)
    print(f"model {args.model} · support-summary test · {n} examples · greedy, max_new_tokens {max_new}")
    print(f"{'system':<24}{'rougeL':>8}{'seconds':>9}{'ex/s':>7}{'ratio':>7}{'same output':>13}")
    peer_r = rouge.corpus_score([t.strip() for t in peer_texts], refs)
    print(f"{'lm-eval (fp32)':<24}{peer_r:>8.4f}{peer_s:>9.1f}{n / peer_s:>7.2f}{1.0:>6.2f}x")
    for precision in ("fp32", "auto"):
        t0 = time.perf_counter()
        res = evaluate(lm, task, n=args.n, precision=precision, batch_size=args.batch_size,
                       cache=False)
        secs = time.perf_counter() - t0
        ours = [s["raw_prediction"] for s in sorted(res.samples, key=lambda s: s["doc_id"])]
        same = sum(a.strip() == b.strip() for a, b in zip(ours, peer_texts))
        print(f"{'genlab (' + res.config['precision'] + ')':<24}{res.metrics['rougeL']['value']:>8.4f}{secs:>9.1f}"
              f"{n / secs:>7.2f}{peer_s / secs:>6.2f}x{same:>7}/{n} ({100 * same / n:.0f}%)")


if __name__ == "__main__":
    main()
