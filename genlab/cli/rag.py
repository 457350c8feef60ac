"""``genlab rag``: build a vector index of documents, ask questions over it, evaluate on ``support-kb-qa``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from genlab.cli.common import AdapterOpt, ModelOpt, TrustOpt, help_when_bare, load_model

rag_app = typer.Typer(help="Retrieval-augmented generation: index documents, retrieve, answer with citations.",
                      invoke_without_command=True, callback=help_when_bare)

EncoderOpt = typer.Option(None, "--encoder", help="Encoder model (default minilm-l6 for a new index; an existing "
                                                  "index keeps its own and refuses another).")
# -k means "how many examples go into the prompt" everywhere: shots in eval, passages here.
TopKOpt = typer.Option(5, "--top-k", "-k", min=1, help="Passages to retrieve (top k).")


def register(app: typer.Typer) -> None:
    app.add_typer(rag_app, name="rag")


def _encoder_for(index_dir: Optional[Path], name: Optional[str]):
    from genlab.apps.encoder import DEFAULT_ENCODER, load_encoder
    from genlab.apps.index import RagIndex
    from genlab.ui import err_console

    if index_dir is not None and (index_dir / "manifest.json").is_file():
        own = RagIndex.load(index_dir).manifest.encoder
        name = name or own
    with err_console.status(f"loading encoder {name or DEFAULT_ENCODER}..."):
        return load_encoder(name or DEFAULT_ENCODER)


@rag_app.command("index")
def index_cmd(docs: List[Path] = typer.Argument(..., help="Text/Markdown files, JSONL files (field text) or folders."),
              out: Path = typer.Option(..., "--out", help="Index folder; an existing index gets the documents added."),
              encoder: Optional[str] = EncoderOpt,
              chunk_size: int = typer.Option(128, "--chunk-size", help="Tokens per chunk (encoder tokens)."),
              overlap: int = typer.Option(32, "--overlap", help="Tokens shared by consecutive chunks.")) -> None:
    """Chunk, embed and index documents (incremental: unchanged documents are skipped, changed ones replaced)."""
    import time

    from genlab.apps.chunking import ChunkConfig, read_documents
    from genlab.apps.index import build_index
    from genlab.ui import RichReporter, console, err_console

    chunking = ChunkConfig(chunk_size, overlap)
    documents, skipped = read_documents(docs)
    for s in skipped:
        err_console.print(f"[yellow]skipped[/] {s.path}: {s.reason}", highlight=False)
    enc = _encoder_for(out, encoder)
    t0 = time.perf_counter()
    index, counts = build_index(documents, enc, out, chunking=chunking, skipped=skipped, reporter=RichReporter())
    console.print(f"{counts['added']} added, {counts['replaced']} replaced, {counts['unchanged']} unchanged, "
                  f"{counts['skipped']} skipped · {counts['chunks']} new chunks · {index.size} chunks in "
                  f"{index.manifest.kind} index · encoder {enc.name} · {time.perf_counter() - t0:.1f}s · {out}",
                  highlight=False)


@rag_app.command("handbook")
def handbook_cmd(out: Path = typer.Option(..., "--out", help="Folder to write the Markdown documents into.")) -> None:
    """Write the built-in policy handbook (the knowledge base of `genlab rag eval`) as Markdown files."""
    from genlab.apps.kb_eval import handbook_documents
    from genlab.io import atomic_write_text
    from genlab.ui import console

    docs = handbook_documents()
    for d in docs:
        atomic_write_text(out / f"{d.doc_id}.md", d.text)
    console.print(f"{len(docs)} documents written under {out}", highlight=False)


@rag_app.command("delete")
def delete_cmd(index_dir: Path = typer.Argument(..., help="Index folder."),
               doc_ids: List[str] = typer.Argument(..., help="Document ids (see `genlab rag info`).")) -> None:
    """Remove documents from an index."""
    from genlab.apps.index import RagIndex
    from genlab.ui import console

    index = RagIndex.load(index_dir)
    gone = index.delete(doc_ids)
    index.save(index_dir)
    console.print(f"removed {len(doc_ids)} document(s), {gone} chunks · {index.size} chunks left", highlight=False)


@rag_app.command("info")
def info_cmd(index_dir: Path = typer.Argument(..., help="Index folder.")) -> None:
    """The index's encoder, chunking, kind and documents."""
    from genlab.apps.index import RagIndex
    from genlab.ui import console, table

    index = RagIndex.load(index_dir)
    m = index.manifest
    console.print(f"encoder {m.encoder} ({m.encoder_hash[:12]}, dim {m.dim}) · chunks {index.size} · {m.kind} · "
                  f"chunking {m.chunking}", highlight=False)
    console.print(table(f"{len(m.documents)} documents", ["id", "source", "chunks"],
                        [(d, v["source"], len(v["chunks"])) for d, v in sorted(m.documents.items())]))


@rag_app.command("ask")
def ask_cmd(index_dir: Path = typer.Argument(..., help="Index folder."),
            question: str = typer.Argument(..., help="The question."),
            shots: int = TopKOpt, model: str = ModelOpt, encoder: Optional[str] = EncoderOpt,
            max_new_tokens: int = typer.Option(48, "--max-new-tokens", min=1, help="Answer length limit."),
            show_context: bool = typer.Option(False, "--show-context", help="Print the retrieved passages."),
            trust_remote_code: bool = TrustOpt) -> None:
    """Retrieve the top-k chunks, answer from them and cite the chunks used."""
    from rich.markup import escape

    from genlab.apps.index import RagIndex
    from genlab.apps.rag import RagConfig, answer_questions
    from genlab.ui import console, table

    index = RagIndex.load(index_dir)
    enc = _encoder_for(index_dir, encoder)
    index.check_encoder(enc)
    lm = load_model(model, trust_remote_code)
    ans = answer_questions(lm, index, enc, [question], RagConfig(k=shots, max_new_tokens=max_new_tokens))[0]
    if show_context:
        console.print(table("retrieved", ["rank", "chunk", "score", "in prompt", "text"],
                            [(h.rank, h.chunk.chunk_id, h.score, "yes" if h in ans.used else "no (did not fit)",
                              escape(" ".join(h.chunk.text.split()))) for h in ans.hits]))
    console.print(escape(ans.answer), highlight=False)
    cited = ans.cited or [h.chunk.chunk_id for h in ans.used]
    console.print(f"sources: {', '.join(cited)}" + ("" if ans.cited else " (passages in the prompt)"),
                  highlight=False)


@rag_app.command("eval")
def eval_cmd(model: str = ModelOpt, adapter: Optional[str] = AdapterOpt,
             n: int = typer.Option(100, "-n", min=2, help="Questions to score."),
             shots: int = TopKOpt, split: str = typer.Option("test", "--split", help="Split of support-kb-qa."),
             encoder: Optional[str] = EncoderOpt,
             chunk_size: int = typer.Option(64, "--chunk-size", help="Tokens per handbook chunk."),
             overlap: int = typer.Option(16, "--overlap", help="Tokens shared by consecutive chunks."),
             out: Optional[Path] = typer.Option(None, "--out", help="Write results.json and samples.jsonl here."),
             trust_remote_code: bool = TrustOpt) -> None:
    """Closed-book vs RAG on `support-kb-qa` over the built-in handbook: retrieval and answer metrics."""
    from genlab.apps.chunking import ChunkConfig
    from genlab.apps.encoder import load_encoder
    from genlab.apps.kb_eval import evaluate_kb, handbook_index
    from genlab.tasks import load_task
    from genlab.ui import RichReporter

    rows = load_task("support-kb-qa").examples(split)[:n]
    enc = load_encoder(encoder or "minilm-l6")
    index = handbook_index(enc, ChunkConfig(chunk_size, overlap), reporter=RichReporter())
    lm = load_model(model, trust_remote_code, adapter=adapter)
    result = evaluate_kb(lm, enc, rows, k=shots, index=index, reporter=RichReporter())
    _print_kb(result, split, index.size)
    if out:
        from dataclasses import asdict

        from genlab.io import atomic_write_json, atomic_write_jsonl

        atomic_write_json(out / "results.json", {k: v for k, v in asdict(result).items() if k != "samples"})
        atomic_write_jsonl(out / "samples.jsonl", result.samples)


@rag_app.command("tune")
def tune_cmd(out: Path = typer.Option(..., "--out", help="Run folder; the adapter goes to OUT/adapter."),
             model: str = ModelOpt, steps: int = typer.Option(60, "--steps", min=1, help="Optimizer steps."),
             shots: int = TopKOpt, r: int = typer.Option(16, "--r", min=1, help="LoRA rank."),
             encoder: Optional[str] = EncoderOpt,
             overwrite: bool = typer.Option(False, "--overwrite", help="Replace a run already in OUT.")) -> None:
    """Tune a LoRA format adapter on `support-kb-qa` train questions: retrieved passages -> the short answer."""
    from genlab.apps.encoder import load_encoder
    from genlab.apps.rag import RagConfig
    from genlab.apps.rag_tuning import KbAnswerTask
    from genlab.tuning import TrainConfig, tune
    from genlab.ui import RichReporter, console

    cfg = TrainConfig(max_steps=steps, batch_size=4, lr=1e-3, max_seq_len=1024, val_max_examples=16,
                      val_generate=0, warmup_ratio=0.05)
    task = KbAnswerTask(load_encoder(encoder or "minilm-l6"), k=shots,
                        budget=cfg.max_seq_len - RagConfig().max_new_tokens)
    res = tune(model, task, "lora", {"r": r, "alpha": 2 * r}, cfg, out, n_train=4 * steps, eval_cfg=None,
               overwrite=overwrite, reporter=RichReporter())
    console.print(f"adapter: {res.adapter_path} · then `genlab rag eval --adapter {res.adapter_path} "
                  "--split test-unseen`", highlight=False)


def _print_kb(result, split: str, n_chunks: int) -> None:
    from genlab.ui import console, table

    from genlab.evaluation.metrics.bootstrap import interval_text as cell
    r = result.metrics["retrieval"]
    console.print(f"retrieval over {n_chunks} chunks: recall@{result.k} {cell(r['recall_at_k'])} · "
                  f"MRR {cell(r['mrr'])}", highlight=False)
    systems = [s for s in ("closed-book", "rag") if s in result.metrics]
    names = ["exact_match", "f1", "faithfulness"]
    rows = [[m] + [cell(result.metrics[s][m]) if m in result.metrics[s] else "-" for s in systems]
            + ([_delta(result.paired[m])] if m in result.paired else ["-"]) for m in names]
    console.print(table(f"support-kb-qa [{split}] n={result.n} · 95% CIs", ["metric", *systems, "RAG - closed (paired)"],
                        rows))


def _delta(p: dict) -> str:
    return f"{p['delta']:+.3f} [{p['ci_low']:+.3f}, {p['ci_high']:+.3f}] p={p['p_value']:.3g}"
