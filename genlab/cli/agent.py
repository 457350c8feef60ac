"""``genlab agent``: a ReAct agent with tools (orders database, handbook search, calculator)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from genlab.cli.common import AdapterOpt, ModelOpt, TrustOpt, help_when_bare, load_model

agent_app = typer.Typer(help="ReAct agents: Thought → Action → Observation with tools.",
                        invoke_without_command=True, callback=help_when_bare)

DbOpt = typer.Option(None, "--db", help="Orders SQLite file (default: the generated one, built on first use).")
StepsOpt = typer.Option(6, "--max-steps", min=1, help="Step limit per question.")


def register(app: typer.Typer) -> None:
    app.add_typer(agent_app, name="agent")


def _tools(db: Optional[Path]):
    from genlab.apps.encoder import load_encoder
    from genlab.apps.kb_eval import handbook_index
    from genlab.apps.orders_db import OrdersDB, ensure_default_db
    from genlab.apps.tools import builtin_tools

    encoder = load_encoder()
    index = handbook_index(encoder)
    return builtin_tools(OrdersDB(db or ensure_default_db()), index, encoder), index, encoder


@agent_app.command("ask")
def ask_cmd(question: str = typer.Argument(..., help='e.g. "Can Kenji Becker still return order 88-41972?"'),
            model: str = ModelOpt, adapter: Optional[str] = AdapterOpt, db: Optional[Path] = DbOpt,
            max_steps: int = StepsOpt, trust_remote_code: bool = TrustOpt) -> None:
    """Answer one question with the tools; prints the transcript."""
    from rich.markup import escape

    from genlab.apps.agent import AgentConfig, run_agent
    from genlab.ui import console

    tools, _, _ = _tools(db)
    lm = load_model(model, trust_remote_code, adapter=adapter)
    run = run_agent(lm, question, tools, AgentConfig(max_steps=max_steps))
    console.print(escape(run.transcript()), highlight=False)
    console.print(f"[dim]{len(run.steps)} steps · {run.parse_failures}/{run.parse_attempts} generations "
                  f"unparseable · stopped: {run.stopped}[/]")


@agent_app.command("eval")
def eval_cmd(model: str = ModelOpt, adapter: Optional[str] = AdapterOpt,
             n: int = typer.Option(30, "-n", min=2, help="Questions to score."),
             split: str = typer.Option("test", "--split", help="Split of orders-agent."),
             db: Optional[Path] = DbOpt, max_steps: int = StepsOpt,
             out: Optional[Path] = typer.Option(None, "--out",
                                                help="Write results.json, transcripts.jsonl and report.html here."),
             trust_remote_code: bool = TrustOpt) -> None:
    """RAG-only vs the agent on `orders-agent`: exact answers with a paired interval, action-parse rate."""
    from genlab.apps.agent import AgentConfig
    from genlab.apps.agent_eval import evaluate_orders
    from genlab.tasks import load_task
    from genlab.ui import RichReporter, console, table

    rows = load_task("orders-agent").examples(split)[:n]
    tools, index, encoder = _tools(db)
    lm = load_model(model, trust_remote_code, adapter=adapter)
    res = evaluate_orders(lm, rows, tools, index=index, encoder=encoder, cfg=AgentConfig(max_steps=max_steps),
                          reporter=RichReporter())
    from genlab.evaluation.metrics.bootstrap import interval_text as cell
    p = res.paired
    console.print(table(f"orders-agent [{split}] n={res.n} · exact answer · 95% CIs",
                        ["system", "accuracy"], [("RAG only (base model)", cell(res.metrics["rag_only"])),
                                                 ("ReAct agent", cell(res.metrics["agent"]))]))
    console.print(f"agent - RAG only: {p['delta']:+.3f} [{p['ci_low']:+.3f}, {p['ci_high']:+.3f}] "
                  f"p={p['p_value']:.3g} · action-parse success {res.parse_success:.3f} "
                  f"({res.parse_attempts} generations)", highlight=False)
    if out:
        from dataclasses import asdict

        from genlab.apps.agent_report import write_report
        from genlab.io import atomic_write_json, atomic_write_jsonl

        atomic_write_json(out / "results.json", {k: v for k, v in asdict(res).items() if k != "runs"})
        atomic_write_jsonl(out / "transcripts.jsonl", res.runs)
        page = write_report(res, out / "report.html", f"{model}{f' + {adapter}' if adapter else ''} · [{split}]")
        console.print(f"report: {page}", highlight=False)


@agent_app.command("tune")
def tune_cmd(out: Path = typer.Option(..., "--out", help="Run folder; the adapter goes to OUT/adapter."),
             model: str = ModelOpt, steps: int = typer.Option(40, "--steps", min=1, help="Optimizer steps."),
             r: int = typer.Option(16, "--r", min=1, help="LoRA rank."),
             db: Optional[Path] = DbOpt, overwrite: bool = typer.Option(False, "--overwrite",
                                                                       help="Replace a run already in OUT.")) -> None:
    """Tune a LoRA format adapter on teacher transcripts of `orders-agent` train questions."""
    from genlab.apps.agent_tuning import TranscriptTask
    from genlab.tuning import TrainConfig, tune
    from genlab.ui import RichReporter, console

    tools, _, _ = _tools(db)
    cfg = TrainConfig(max_steps=steps, batch_size=4, lr=1e-3, max_seq_len=1024, val_max_examples=16,
                      val_generate=0, warmup_ratio=0.05)
    res = tune(model, TranscriptTask(tools), "lora", {"r": r, "alpha": 2 * r}, cfg, out, n_train=4 * steps,
               eval_cfg=None, overwrite=overwrite, reporter=RichReporter())
    console.print(f"adapter: {res.adapter_path} · then `genlab agent eval --adapter {res.adapter_path}`",
                  highlight=False)
