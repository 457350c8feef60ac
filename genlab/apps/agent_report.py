"""``agent eval --out``'s page: RAG-only vs agent with intervals, accuracy per question kind, every transcript."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from genlab.apps.agent_eval import AgentEval
from genlab.evaluation.metrics.bootstrap import interval_text as _ci


def _transcript(run: dict) -> str:
    lines = [f"Question: {run['question']}"]
    for s in run["steps"]:
        lines += [f"Thought: {s['thought']}", f"Action: {s['tool']}[{s['args']}]"]
        if s.get("observation"):
            lines.append(f"Observation: {s['observation']}")
    lines.append(f"→ answer {run['answer']!r} · gold {run['gold']!r} · stopped: {run['stopped']}")
    return "\n".join(lines)


def write_report(res: AgentEval, out: Path, title: str) -> Path:
    from genlab.report.html import Page

    page = Page("orders-agent: RAG-only vs ReAct agent", title)
    p = res.paired
    page.h2("Accuracy").table(["system", "exact answer [95% CI]"], [
        ("RAG only (base model)", _ci(res.metrics["rag_only"])), ("ReAct agent", _ci(res.metrics["agent"]))])
    page.p(f"agent − RAG only: {p['delta']:+.3f} [{p['ci_low']:+.3f}, {p['ci_high']:+.3f}], paired bootstrap "
           f"p = {p['p_value']:.3g}, n = {res.n}. Action-parse success {res.parse_success:.3f} over "
           f"{res.parse_attempts} generations.")
    by_kind: dict[str, list[float]] = defaultdict(list)
    for run in res.runs:
        by_kind[run["kind"]].append(run["agent_correct"])
    page.h3("Agent accuracy per question kind").table(
        ["kind", "questions", "agent correct"], [(k, len(v), sum(v) / len(v)) for k, v in sorted(by_kind.items())])
    page.h2("Transcripts")
    for run in res.runs:
        page.h3(f"{run['id']} ({run['kind']}): {'correct' if run['agent_correct'] else 'wrong'}")
        page.pre(_transcript(run) + f"\nRAG only: {run['rag_only']}")
    return page.write(out)
