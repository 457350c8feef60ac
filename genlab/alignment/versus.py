"""How an aligned stage moved away from the model it started from, on the examples the recipe scored.

For a ``ppo`` or ``dpo`` stage built ``from:`` an earlier stage (the SFT model, a rude start), on each
scored split and over the same examples (matched by ``doc_id``):

- the reward the recipe aligns to (the PPO stage's reward model or ``-toxicity``) of both stages'
  outputs, every task metric (ROUGE-L, fact accuracy, toxic fraction, ...) and the response length:
  start, stage, and the paired-bootstrap change with its 95% interval and p-value;
- the KL of the stage to its start in nats per response token, along the stage's own scored
  responses: at each response position the exact KL(π_stage(·|x, y<t) ‖ π_start(·|x, y<t)) over the
  whole vocabulary, averaged over the response's tokens, then over examples (with a 95% interval).
  Exact rather than the log-ratio of sampled tokens, which is an unbiased estimate only for samples
  drawn from π_stage, not for the greedy replies a recipe scores;
- distinct-2 of each stage's outputs (diversity; corpus level, so no interval).

The result goes into ``record.extra["vs_source"]``; the lifecycle report renders it as a table.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from genlab.alignment.textstats import distinct_n
from genlab.evaluation.compare import compare_runs, from_stats_for
from genlab.evaluation.metrics.bootstrap import mean_with_ci, paired_bootstrap


def compare_to_source(ctx, stage, sdir: Path, record, lm, reward=None) -> None:
    """Fill ``record.extra["vs_source"]`` for a stage with ``from:``; ``lm`` is the stage's scored model."""
    from genlab.lifecycle.execute import stage_dir

    if stage.source is None:
        return
    src_record = ctx.stage_record(stage.source)
    src_dir = stage_dir(ctx.out, stage.source)
    pairs = [(record.split, src_dir / src_record.eval_dir, sdir / record.eval_dir)]
    pairs += [(sp, src_dir / src_record.other_splits[sp]["eval_dir"], sdir / info["eval_dir"])
              for sp, info in record.other_splits.items() if sp in src_record.other_splits]
    ctx.reporter.status(f"comparing with {stage.source}: reward, KL per token, task metrics")
    t0 = time.perf_counter()
    start = ctx.load_stage_model(stage.source, precision=ctx.recipe.eval.precision)
    splits = {sp: split_comparison(a, b, lm, start, reward) for sp, a, b in pairs}
    record.extra["vs_source"] = {"source": stage.source, "reward": getattr(reward, "name", None), "splits": splits,
                                 "seconds": round(time.perf_counter() - t0, 1)}


def split_comparison(start_dir: Path, stage_dir: Path, lm, start_lm, reward=None) -> dict:
    """One split: rows of (metric, start, stage, delta, interval, p), KL per token and distinct-2."""
    cmp = compare_runs([start_dir, stage_dir], examples=0)  # loads both runs' samples once, for all rows below
    a, b = ({r["doc_id"]: r for r in run.samples} for run in cmp.runs)
    shared = [d for d in a if d in b]
    prompts = [a[d]["prompt"] for d in shared]
    outs_a, outs_b = [_outputs(a[d]) for d in shared], [_outputs(b[d]) for d in shared]
    rows = []
    if reward is not None:
        rows.append(_paired(reward_label(reward), _per_example(reward, prompts, outs_a),
                            _per_example(reward, prompts, outs_b)))
    for r in cmp.rows:
        (low, high), = r["delta_cis"]
        rows.append({"metric": r["metric"], "start": r["values"][0], "stage": r["values"][1],
                     "delta": r["deltas"][0], "ci_low": low, "ci_high": high, "p_value": r["p_values"][0]})
    rows.append(_paired("response tokens", [_tokens(a[d]) for d in shared], [_tokens(b[d]) for d in shared]))
    kl = _per_example(lambda ps, cs: kl_per_token(lm, start_lm, ps, cs), prompts, [_raws(b[d]) for d in shared])
    finite = [k for k in kl if np.isfinite(k)]
    flat = lambda outs: [o for group in outs for o in group]  # noqa: E731
    return {"n": len(shared), "rows": rows, "kl_per_token": mean_with_ci(finite) if finite else None,
            "kl_n": len(finite), "distinct_2": [distinct_n(flat(outs_a), 2), distinct_n(flat(outs_b), 2)]}


def _per_example(score, prompts: Sequence[str], groups: Sequence[Sequence[str]]) -> list[float]:
    """``score(prompts, texts)`` of every answer, averaged over each example's answers (one answer each when
    the run was greedy, ``num_return_sequences`` when it sampled several)."""
    flat_prompts = [p for p, g in zip(prompts, groups) for _ in g]
    scores = list(score(flat_prompts, [t for g in groups for t in g]))
    out, at = [], 0
    for g in groups:
        part = [x for x in scores[at:at + len(g)] if np.isfinite(x)]
        out.append(float(np.mean(part)) if part else float("nan"))
        at += len(g)
    return out


@torch.inference_mode()
def kl_per_token(lm, ref_lm, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
    """Per example: mean over the completion's tokens of the exact KL(π ‖ π_ref) of the next-token
    distributions, in nats (NaN for an empty completion). One example per forward: no padding, and
    batching measured no faster here (CPU)."""
    tok = lm.tokenizer
    out = []
    for prompt, completion in zip(prompts, completions):
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        c = tok(completion, add_special_tokens=False)["input_ids"]
        if not c:
            out.append(float("nan"))
            continue
        ids = torch.tensor([p + c])
        logp, logq = _next_token_logprobs(lm, ids, len(c)), _next_token_logprobs(ref_lm, ids, len(c))
        per_token = (logp.exp() * (logp - logq)).sum(-1)
        out.append(float(per_token.clamp(min=0).mean()))  # ≥ 0 exactly; fp32 gives ~-1e-9 where π = π_ref
    return out


def _next_token_logprobs(lm, ids: torch.Tensor, n: int) -> torch.Tensor:
    """Log-probabilities (fp32) of the ``n`` distributions that predicted the last ``n`` tokens."""
    logits = lm.model(input_ids=ids.to(lm.device), logits_to_keep=n + 1).logits[0, :-1]
    return torch.log_softmax(logits.float(), dim=-1)


def reward_label(reward) -> str:
    """``reward (reward model)`` for a trained reward model (its path is in the stage record), else the name."""
    name = getattr(reward, "name", "reward")
    return "reward (reward model)" if name.startswith("reward-model:") else f"reward ({name})"


def _paired(name: str, start: Sequence[float], stage: Sequence[float]) -> dict:
    a = np.column_stack([np.asarray(start, dtype=float), np.ones(len(start))])
    b = np.column_stack([np.asarray(stage, dtype=float), np.ones(len(stage))])
    test = paired_bootstrap(a, b, from_stats_for(name))  # a name outside the metric registry: the mean
    return {"metric": name, "start": float(np.mean(start)), "stage": float(np.mean(stage)), "delta": test["delta"],
            "ci_low": test["ci_low"], "ci_high": test["ci_high"], "p_value": test["p_value"]}


def _outputs(row: dict) -> list[str]:
    return [p or "" for p in row.get("predictions") or [row.get("prediction")]]


def _raws(row: dict) -> list[str]:
    """The texts the model generated (before the task's post-processing), as they were conditioned on."""
    raws = row.get("raw_predictions") or [row.get("raw_prediction", row.get("prediction"))]
    return [r or "" for r in raws]


def _tokens(row: dict) -> float:
    each = row.get("new_tokens_each") or [row.get("new_tokens") or 0]
    return float(np.mean(each))
