"""The ``multiple_choice`` and ``loglikelihood_rolling`` output types."""

from __future__ import annotations

import time
from dataclasses import replace

from genlab.evaluation.outputs import ModelOutputs
from genlab.progress import Reporter


def split_delimiter(requests) -> tuple[str, list]:
    """genlab.tasks writes choices as ``" " + choice``; lm-eval keeps the delimiter apart.

    Splitting it off again gives the same continuations (``" " + choice``) and the
    same ``acc_norm`` lengths as lm-eval (``len(choice)`` without the delimiter).
    """
    if all(c.startswith(" ") and len(c) > 1 for r in requests for c in r.choices):
        return " ", [replace(r, choices=[c[1:] for c in r.choices]) for r in requests]
    return "", list(requests)


def run_multiple_choice(lm, task, requests, cfg, precision: str, reporter: Reporter) -> ModelOutputs:
    from genlab.evaluation.classifier import classify_choices
    from genlab.evaluation.loglik import score_choices

    for r in requests:
        if r.target_index is None or not r.choices:
            raise ValueError(f"task {task.name}: doc {r.doc_id} has no choices/target_index; "
                             "multiple_choice requests need both")
    delimiter, requests = split_delimiter(requests)
    t0 = time.perf_counter()
    with reporter.task("score choices", len(requests)) as advance:
        if lm.kind == "encoder":  # no continuations to score: the classification head picks
            scores = classify_choices(lm, requests, batch_size=cfg.batch_size, precision=precision, progress=advance)
        else:
            scores = score_choices(lm, requests, batch_size=cfg.batch_size, precision=precision,
                                   target_delimiter=delimiter, progress=advance)
    secs = time.perf_counter() - t0
    samples = [{"doc_id": r.doc_id, "prompt": r.prompt, "prediction": r.choices[s.prediction()],
                "reference": r.choices[r.target_index], "target_index": r.target_index,
                "pred_index": s.prediction(), "pred_index_norm": s.prediction(normalize=True),
                "choices": r.choices, "logprobs": s.logprobs, "probs": s.probs, "choice_tokens": s.num_tokens,
                "shots_used": getattr(r, "shots_used", 0)}
               for r, s in zip(requests, scores)]
    return ModelOutputs(scores, [r.target_index for r in requests], samples, secs,
                        {"examples_per_s": len(requests) / secs if secs > 0 else None},
                        {"enabled": False, "hits": 0, "misses": len(requests)})


def run_rolling(lm, task, requests, cfg, precision: str, reporter: Reporter) -> ModelOutputs:
    from genlab.evaluation.loglik import score_rolling

    texts = [r.target or r.prompt for r in requests]
    t0 = time.perf_counter()
    with reporter.task("score text", len(texts)) as advance:
        scores = score_rolling(lm, texts, precision=precision, progress=advance)
    secs = time.perf_counter() - t0
    samples = [{"doc_id": r.doc_id, "prompt": "", "prediction": "", "reference": t,
                "loglik": s.loglik, "tokens": s.num_tokens, "bytes": s.num_bytes}
               for r, t, s in zip(requests, texts, scores)]
    n_tok = sum(s.num_tokens for s in scores)
    return ModelOutputs(scores, [None] * len(scores), samples, secs,
                        {"examples_per_s": len(texts) / secs if secs > 0 else None,
                         "tokens_per_s": n_tok / secs if secs > 0 else None},
                        {"enabled": False, "hits": 0, "misses": len(texts)})
