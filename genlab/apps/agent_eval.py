"""``orders-agent`` scored for the ReAct agent and for RAG alone: exact answers, paired interval, parse rate.

Both systems answer the same questions. RAG-only is the base model (an adapter
loaded for the agent is switched off for it: a ReAct format adapter is not
RAG's format) and sees the handbook passages retrieved for the question but no
database; the agent has the database tools, the handbook search and the
calculator. Answers are graded by exact match after HELM normalization; a yes/no question also accepts a
prediction whose first word is the gold yes/no ("Yes, it can be returned").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from genlab.apps.agent import AgentConfig, run_agent


def grade(prediction: str | None, gold: str) -> float:
    from genlab.evaluation.metrics.exact_match import normalize_text

    if not prediction:
        return 0.0
    p, g = normalize_text(prediction), normalize_text(gold)
    if p == g:
        return 1.0
    return float(g in ("yes", "no") and p.split()[:1] == [g])


@dataclass
class AgentEval:
    n: int
    metrics: dict = field(default_factory=dict)  # system -> {value, ci_low, ci_high}
    paired: dict = field(default_factory=dict)  # agent - rag_only
    parse_success: float = 0.0
    parse_attempts: int = 0
    runs: list[dict] = field(default_factory=list)


def evaluate_orders(lm, rows: list[dict], tools, *, index, encoder, cfg: AgentConfig = AgentConfig(),
                    reporter=None) -> AgentEval:
    from genlab.apps.rag import RagConfig, answer_questions
    from genlab.adapters import active_adapter, set_adapter
    from genlab.evaluation.metrics import mean_with_ci, paired_bootstrap
    from genlab.progress import or_quiet

    questions, golds = [r["question"] for r in rows], [r["answer"] for r in rows]
    adapter = active_adapter(lm) if getattr(lm, "adapter_state", None) is not None else None
    if adapter:
        set_adapter(lm, None)  # RAG-only is the base model: an agent adapter is not RAG's format
    try:
        rag = answer_questions(lm, index, encoder, questions, RagConfig(k=3), reporter=reporter)
    finally:
        if adapter:
            set_adapter(lm, adapter)
    runs = []
    with or_quiet(reporter).task("agent", total=len(rows)) as advance:
        for q in questions:
            runs.append(run_agent(lm, q, tools, cfg))
            advance(1)
    scores = dict(rag_only=np.array([grade(a.answer.split("\n")[0], g) for a, g in zip(rag, golds)]),
                  agent=np.array([grade(r.answer, g) for r, g in zip(runs, golds)]))
    out = AgentEval(len(rows))
    out.metrics = {k: mean_with_ci(v) for k, v in scores.items()}
    stats = lambda v: np.column_stack([v, np.ones(len(v))])  # noqa: E731
    out.paired = paired_bootstrap(stats(scores["rag_only"]), stats(scores["agent"]),
                                  lambda s: s[..., 0] / np.maximum(s[..., 1], 1))
    out.parse_attempts = sum(r.parse_attempts for r in runs)
    failures = sum(r.parse_failures for r in runs)
    out.parse_success = 1 - failures / max(out.parse_attempts, 1)
    for r, row, a, s in zip(runs, rows, rag, scores["agent"]):
        out.runs.append(dict(id=row["id"], kind=row["kind"], gold=row["answer"], rag_only=a.answer,
                             agent_correct=float(s), **r.to_dict()))
    return out
