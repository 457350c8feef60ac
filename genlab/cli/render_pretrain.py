"""Terminal tables for ``genlab pretrain`` and ``genlab scaling``."""

from __future__ import annotations

SMOLLM2_VOCAB = 49_152


def _accounting_rows(res) -> list[list]:
    rows = []
    for when, a in (("before (planned)", res.before), ("after (measured)", res.after)):
        rows.append([when, f"{a.tokens:,}", f"{a.flops_6nd:.3g}", f"{a.flops_exact:.3g}",
                     "-" if a.tokens_per_s is None else f"{a.tokens_per_s:,.0f}",
                     "-" if a.mfu is None else f"{100 * a.mfu:.2f}% of {a.peak_tflops} TFLOPS {a.peak_dtype}",
                     f"{a.gpu_hours['A100']:.2g} / {a.gpu_hours['V100']:.2g}"])
    return rows


def print_pretrain(res, cfg) -> None:
    from genlab.pretraining.flops import params_for
    from genlab.ui import console, table

    p = res.params
    console.print(table("parameters", ["total", "non-embedding", "embedding", "embedding share"],
                        [[f"{p.total:,}", f"{p.non_embedding:,}", f"{p.embedding:,}", f"{100 * p.embedding_share:.1f}%"]]))
    if cfg.from_model is None:
        rows = []
        for label, v in (("this tokenizer", _vocab(res)), ("SmolLM2's 49k vocabulary", SMOLLM2_VOCAB)):
            q = params_for(cfg.objective, cfg.size, v, cfg.block_size)
            rows.append([label, f"{v:,}", f"{q.total:,}", f"{q.non_embedding:,}", f"{100 * q.embedding_share:.1f}%"])
        console.print(table(f"{cfg.size} {cfg.objective}: how much of the model is embedding",
                            ["tokenizer", "vocab", "params", "non-embedding", "embedding share"], rows))
    console.print(table("compute", ["", "tokens", "6·N·D", "exact FLOPs", "tok/s", "MFU", "A100-h / V100-h (course)"],
                        _accounting_rows(res)))
    line = f"held-out loss {res.heldout_loss:.4f}"
    if cfg.objective == "causal":
        line += f" (perplexity {res.perplexity:.2f})"
    console.print(line)
    if res.continued:
        print_continued(res.continued)
    saved = "adapter" if (res.out_dir / "adapter").is_dir() else "model"
    console.print(f"run folder: {res.out_dir}  {saved}: {res.out_dir / saved}")


def _vocab(res) -> int:
    import json

    cfg = json.loads((res.out_dir / "model" / "config.json").read_text())
    return int(cfg["vocab_size"])


def print_continued(c: dict) -> None:
    from genlab.ui import console, table

    rows = [[r["text"], f"{r['before_loss']:.4f}", f"{r['after_loss']:.4f}", f"{r['before_ppl']:.2f}",
             f"{r['after_ppl']:.2f}", f"{100 * (r['after_ppl'] / r['before_ppl'] - 1):+.1f}%", r["blocks"]]
            for r in c["perplexity"]]
    console.print(table("perplexity before / after continued pre-training",
                        ["text", "loss before", "loss after", "ppl before", "ppl after", "change", "blocks"], rows))
    if c.get("task"):
        t = c["task"]
        console.print(table(f"{t['task']} (n={t['n']}), after − before, paired bootstrap",
                            ["metric", "before", "after", "delta", "95% CI", "p"],
                            [[r["metric"], r["before"], r["after"], r["delta"],
                              f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}]", r["p_value"]] for r in t["rows"]]))


def print_grid(rows: list[dict]) -> None:
    from genlab.ui import console, table

    console.print(table("scaling grid (held-out loss after each run's own cosine schedule; mean over seeds)",
                        ["run", "N (all)", "N (non-emb)", "D tokens", "C = 6ND", "lr", "loss", "per seed", "s",
                         "tok/s", "MFU"],
                        [[r["run"], f"{r['N']:,}", _or_dash(r["N_nonemb"], ","), f"{r['D']:,}", f"{r['C']:.3g}",
                          _or_dash(r.get("lr"), ".2g"), f"{r['loss']:.4f}",
                          " ".join(f"{x:.3f}" for x in r.get("losses", [r["loss"]])),
                          _or_dash(r["seconds"], ""), _or_dash(r["tok_s"], ",.0f"),
                          "-" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"] for r in rows]))


def _or_dash(value, fmt: str) -> str:
    """``value`` formatted, or "-" where a table of runs measured elsewhere does not say."""
    return "-" if value is None else format(value, fmt)


def _with_ci(fit: dict, name: str, fmt: str = ".3g") -> str:
    value = fit["law"][name]
    ci = fit["intervals"].get(name)
    return f"{value:{fmt}}" + (f" [{ci[0]:{fmt}}, {ci[1]:{fmt}}]" if ci else "")


def print_fit(report: dict) -> None:
    from genlab.ui import console, table

    fits = [("ours, N = all parameters", report["fit"]), ("ours, N = non-embedding", report.get("fit_nonembedding"))]
    fits = [(label, f) for label, f in fits if f is not None]  # a table of runs may not give non-embedding N
    rows = []
    for label, f in fits:
        if f["converged"]:
            E = _with_ci(f, "E") if f.get("E_identified", True) else "not identified (→0)"
            rows.append([label, E] + [_with_ci(f, k) for k in ("A", "B", "alpha", "beta")])
        else:
            rows.append([label, "did not converge", "-", "-", "-", "-"])
    for label, a in (("Chinchilla (Hoffmann et al. 2022)", report["anchors"]["chinchilla"]),
                     ("replication (Besiroglu et al. 2024)", report["anchors"]["replication"])):
        rows.append([label] + [f"{a[k]:.3g}" for k in ("E", "A", "B", "alpha", "beta")])
    ns = [r["N"] for r in report["runs"]]
    scale = f"these runs: {min(ns):.1e}-{max(ns):.1e} params" if ns else "no runs"
    console.print(table(f"L(N, D) = E + A/N^α + B/D^β  (95% bootstrap intervals; {scale})",
                        ["fit", "E", "A", "B", "α", "β"], rows))
    for label, f in fits:
        if f["converged"] and not f.get("E_identified", True):
            console.print(f"[yellow]{label}:[/] {f['reason']}.")
        if not f["converged"]:
            console.print(f"[yellow]{label}: the fit did not converge[/] — {f['reason']}. No law is reported; "
                          "residuals of the best attempt:")
            console.print(table(None, ["N", "D", "observed", "best attempt", "log residual"],
                                [[f"{p['N']:,.0f}", f"{p['D']:,.0f}", f"{p['loss']:.4f}", f"{p['predicted']:.4f}",
                                  f"{p['residual_log']:+.4f}"] for p in f["points"]]))
    for key, n_count in (("holdout", "all parameters"), ("holdout_nonembedding", "non-embedding")):
        h = report.get(key)
        if not h:
            continue
        if h.get("predicted") is not None:
            ok = "within" if abs(h["error"]) <= 0.05 else "OUTSIDE"
            console.print(f"prediction check (N = {n_count}): fitted without {h['run']} (N={h['N']:,.0f}, "
                          f"D={h['D']:,.0f}): predicted {h['predicted']:.4f}, observed {h['observed']:.4f}, "
                          f"error {100 * h['error']:+.2f}% ({ok} the ±5% target)")
        else:
            console.print(f"prediction check (N = {n_count}): the fit without {h['run']} did not converge "
                          f"({h['reason']})")
    for key, n_count in (("all", "all parameters"), ("non_embedding", "non-embedding")):
        loo = report.get("leave_one_out", {}).get(key)
        if loo and loo["worst_run"]:
            failed = f"; {len(loo['not_converged'])} refit(s) did not converge" if loo["not_converged"] else ""
            console.print(f"leave-one-out (N = {n_count}): refitted without each run in turn, every run predicted "
                          f"within {100 * abs(loo['worst_error']):.1f}% (worst {loo['worst_run']}: "
                          f"{100 * loo['worst_error']:+.1f}%){failed}")
    o = report.get("optimal")
    if o:
        console.print(f"compute-optimal for C = {o['C']:.3g} FLOPs: N ≈ {o['N']:,.0f} parameters, D ≈ {o['D']:,.0f} "
                      f"tokens ({o['tokens_per_param']:.1f} tokens per parameter; Chinchilla: ~20), "
                      f"predicted loss {o['loss']:.4f}")
    for p in report.get("plots", []):
        console.print(f"plot: {p}")
