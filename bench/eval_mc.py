"""Multiple choice: genlab vs lm-evaluation-harness, same model, same prompts, same examples.

    flock /tmp/genlab-heavy.lock python bench/eval_mc.py [--model smollm2-135m-instruct] [-n 200]

The ``reviews`` rating task (5 choices) is exported to a local JSONL with the
exact prompts genlab builds, and run through lm-eval 0.4 (``hf`` backend, a
local task YAML, ``multiple_choice``) and through ``genlab.evaluation.evaluate``.
Both score ``" " + choice`` after the prompt; acc_norm divides by the choice's
character length. Prints accuracies, every example whose prediction differs,
examples/s and the speed ratio (systems run interleaved ``--repeats`` times and
the fastest run of each counts, since the machine is shared). lm-eval runs the model as loaded (fp32); genlab
runs once in fp32 (the parity check) and once with its default precision.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

LM_EVAL_TASK = """task: genlab_reviews
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
  - metric: acc_norm
"""


def export(requests, folder: Path) -> None:
    """Write genlab's requests as the local dataset and task YAML lm-eval reads."""
    data = folder / "reviews.jsonl"
    with data.open("w") as f:
        for r in requests:
            f.write(json.dumps({"doc_id": r.doc_id, "prompt": r.prompt, "label": r.target_index,
                                "choices": [c[1:] if c.startswith(" ") else c for c in r.choices]}) + "\n")
    (folder / "genlab_reviews.yaml").write_text(LM_EVAL_TASK.format(data=json.dumps(str(data))))


def run_lm_eval(lm, folder: Path, batch_size: int) -> tuple[dict, list[dict], float]:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    peer = HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=batch_size)
    timed = {"s": 0.0}
    inner = peer.loglikelihood

    def loglikelihood(*a, **kw):  # the model part alone, comparable to genlab's timings["model_s"]
        t = time.perf_counter()
        try:
            return inner(*a, **kw)
        finally:
            timed["s"] += time.perf_counter() - t

    peer.loglikelihood = loglikelihood
    t0 = time.perf_counter()
    out = simple_evaluate(model=peer, tasks=["genlab_reviews"], task_manager=TaskManager(include_path=str(folder)),
                          num_fewshot=0, log_samples=True, bootstrap_iters=0)
    seconds = time.perf_counter() - t0
    metrics = out["results"]["genlab_reviews"]
    samples = sorted(out["samples"]["genlab_reviews"], key=lambda s: s["doc_id"])
    return metrics, samples, {"total": seconds, "model": timed["s"]}


def lm_eval_predictions(samples: list[dict]) -> list[int]:
    import numpy as np

    return [int(np.argmax([float(r[0][0]) for r in s["resps"]])) for s in samples]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2, help="Interleaved runs per system; the fastest counts.")
    args = ap.parse_args()

    from genlab.evaluation import evaluate
    from genlab.models import load
    from genlab.tasks import load_task

    lm = load(args.model, precision="fp32")  # fp32 weights: the peer's setting; "auto" runs autocast on them
    task = load_task("reviews")
    requests = task.requests("test", n=args.n, tokenizer=lm.tokenizer, context_window=lm.context_window)
    peer_best, runs = None, {}
    with tempfile.TemporaryDirectory() as tmp:
        export(requests, Path(tmp))
        for _ in range(args.repeats):  # interleaved; the best time of each counts (the machine is shared)
            peer = run_lm_eval(lm, Path(tmp), args.batch_size)
            if peer_best is None or peer[2]["model"] < peer_best[2]["model"]:
                peer_best = peer
            for precision in ("fp32", "auto"):
                t0 = time.perf_counter()
                res = evaluate(lm, task, n=args.n, precision=precision, batch_size=args.batch_size, cache=False)
                secs = time.perf_counter() - t0
                if precision not in runs or res.timings["model_s"] < runs[precision][0].timings["model_s"]:
                    runs[precision] = (res, secs)
    report(args, requests, *peer_best, runs)


def report(args, requests, peer_metrics, peer_samples, peer_s, runs) -> None:
    n = len(requests)
    peer_pred = lm_eval_predictions(peer_samples)
    print(f"model {args.model} · reviews test · {n} examples · batch {args.batch_size}")
    print("wall = whole eval call; model = scoring only (lm-eval's loglikelihood(), genlab's timings.model_s)")
    print(f"{'system':<24}{'acc':>7}{'acc_norm':>9}{'wall s':>8}{'ex/s':>7}{'ratio':>7}"
          f"{'model s':>9}{'ex/s':>7}{'ratio':>7}")
    pw, pm = peer_s["total"], peer_s["model"]
    print(f"{'lm-eval ' + __import__('lm_eval').__version__ + ' (fp32)':<24}{peer_metrics['acc,none']:>7.3f}"
          f"{peer_metrics['acc_norm,none']:>9.3f}{pw:>8.2f}{n / pw:>7.2f}{1.0:>6.2f}x{pm:>9.2f}{n / pm:>7.2f}{1.0:>6.2f}x")
    for precision, (res, secs) in runs.items():
        label = f"genlab ({res.config['precision']})"
        ms = res.timings["model_s"]
        print(f"{label:<24}{res.metrics['acc']['value']:>7.3f}{res.metrics['acc_norm']['value']:>9.3f}"
              f"{secs:>8.2f}{n / secs:>7.2f}{pw / secs:>6.2f}x{ms:>9.2f}{n / ms:>7.2f}{pm / ms:>6.2f}x")
    for precision, (res, _) in runs.items():
        ours = [s["pred_index"] for s in sorted(res.samples, key=lambda s: s["doc_id"])]
        differ = [i for i, (a, b) in enumerate(zip(ours, peer_pred)) if a != b]
        gaps = [max(abs(a - float(r[0][0])) for a, r in zip(s["logprobs"], p["resps"]))
                for s, p in zip(sorted(res.samples, key=lambda s: s["doc_id"]), peer_samples)]
        print(f"genlab ({res.config['precision']}): {len(differ)} of {n} predictions differ from lm-eval; "
              f"max |logprob difference| {max(gaps):.2e}")
        for i in differ:
            s = res.samples[i]
            print(f"  doc {i}: genlab {s['pred_index'] + 1} logprobs {[round(x, 3) for x in s['logprobs']]} · "
                  f"lm-eval {peer_pred[i] + 1} logprobs {[round(float(r[0][0]), 3) for r in peer_samples[i]['resps']]}")


if __name__ == "__main__":
    main()
