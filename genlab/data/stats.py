"""Numbers behind ``genlab data stats``: sizes, token lengths, duplicates, contamination."""

from __future__ import annotations

import numpy as np

from genlab.data.hygiene import contamination, dedupe


def _percentiles(lengths: list[int], qs=(50, 90, 99)) -> list[int]:
    if not lengths:
        return [0] * (len(qs) + 1)
    return [int(np.percentile(lengths, q)) for q in qs] + [max(lengths)]


def _input_fields(task) -> list[str]:
    """Fields that go into the prompt (not the target): what duplicates and contamination compare."""
    return sorted(set().union(*(t.input_fields for t in task.templates)))


def task_stats(task, tokenizer, *, threshold: float = 0.8, n: int = 13) -> dict:
    fields = _input_fields(task)
    out = {"task": task.name, "n": n, "fields": fields, "splits": [], "contamination": []}
    count = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    for split in task.split_names():
        reqs = task.requests(split, tokenizer=None, chat=False)
        _, dups = dedupe(task.examples(split), fields)
        p = _percentiles([count(r.prompt) for r in reqs])
        t = _percentiles([count(r.target) for r in reqs])
        out["splits"].append(dict(split=split, n=len(reqs), prompt=p, target=[t[0], t[1], t[3]],
                                  dup_exact=dups.exact, dup_norm=dups.normalized))
    train = task.examples("train") if "train" in task.split_names() else []
    for split in [s for s in task.split_names() if s != "train"]:
        rows = task.examples(split)
        report = contamination(train, rows, fields, n=n, threshold=threshold)
        out["contamination"].append(dict(split=split, n=len(rows), exact=report.exact,
                                         ngram=len(report.hits) - report.exact, rate=report.rate,
                                         mean_overlap=report.mean_overlap))
    return out

