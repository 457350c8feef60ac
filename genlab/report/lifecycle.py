"""The lifecycle report: leaderboard, charts, examples side by side, recipe and how to reproduce.

    collect(run_dir) -> RunData        (reads stage folders; no model needed)
    leaderboard(run) -> (columns, rows) (the terminal table and the HTML table)
    build_report(run_dir) -> report.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError
from genlab.evaluation.metrics.bootstrap import interval_text
from genlab.io import read_json
from genlab.records import RunInfo, StageRecord
from genlab.report import charts
from genlab.report.html import Markup, Page, esc, img_tag


@dataclass
class StageView:
    """A finished stage as the report sees it: its record plus what its eval folder holds."""

    record: StageRecord
    samples: list[dict[str, Any]]
    environment: dict[str, Any]
    timings: dict[str, Any]
    curves: list[dict[str, Any]]

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def kind(self) -> str:
        return self.record.kind

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        return self.record.metrics


@dataclass
class RunData:
    path: Path
    recipe_text: str
    run_info: RunInfo
    stages: list[StageView]
    main_metric: str
    metric_names: list[str] = field(default_factory=list)
    split: str = "test"  # the split the leaderboard ranks on
    other_splits: list[str] = field(default_factory=list)  # scored beside it by every stage


def collect(run_dir: str | Path) -> RunData:
    """Read a run folder's records (run.json, stage.json, eval results); no recipe parsing, no model."""
    run_dir = Path(run_dir)
    if not (run_dir / "stages").is_dir():
        raise GenlabError(f"{run_dir} has no stages/ folder, so it is not a lifecycle run",
                          hint="pass a folder written by `genlab run RECIPE --out DIR`")
    recipe_text = (run_dir / "recipe.yaml").read_text(encoding="utf-8") if (run_dir / "recipe.yaml").is_file() else ""
    run_info = RunInfo.from_json(read_json(run_dir / "run.json")) if (run_dir / "run.json").is_file() else RunInfo()
    records = [StageRecord.from_json(read_json(p / "stage.json"), p.name)
               for p in sorted((run_dir / "stages").iterdir()) if (p / "stage.json").is_file()]
    records = [r for r in records if r.done]
    if not records:
        raise GenlabError(f"no finished stage in {run_dir}", hint="run `genlab run RECIPE` first")
    stages = [_view(run_dir / "stages" / r.name, r) for r in _in_order(records, run_info.stages)]
    metric_names = list(stages[0].metrics)
    split = stages[0].record.split or stages[0].record.eval_config.get("split") or "test"
    others = [sp for sp in stages[0].record.other_splits if all(sp in s.record.other_splits for s in stages)]
    return RunData(run_dir, recipe_text, run_info, stages, metric_names[0], metric_names, split, others)


def _in_order(records: list[StageRecord], order: list[str]) -> list[StageRecord]:
    """Recipe order from run.json; runs written before it was recorded there: the order stages finished."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(records, key=lambda r: (rank.get(r.name, len(rank)), r.finished, r.name))


def _view(sdir: Path, record: StageRecord) -> StageView:
    edir = sdir / record.eval_dir
    results = read_json(edir / "results.json") if (edir / "results.json").is_file() else {}
    return StageView(record, _jsonl(edir / "samples.jsonl"), results.get("environment", {}),
                     results.get("timings", {}), _jsonl(sdir / "metrics.jsonl"))


def _jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- tables ------------------------------------------------------------------------

def _ci(m: dict) -> str:
    return interval_text(m, 4)


def split_metric(record: StageRecord, split: str, metric: str) -> dict | None:
    other = record.other_splits.get(split) or {}
    return (other.get("metrics") or {}).get(metric)


def leaderboard(run: RunData) -> tuple[list[str], list[list[Any]]]:
    """Columns: stage, how, the main metric on the main split, the same on every other split, the
    main split's other metrics, then cost columns."""
    cols = ["stage", "how", f"{run.main_metric} on {run.split} [95% CI]"] + \
        [f"{run.main_metric} on {sp} [95% CI]" for sp in run.other_splits] + run.metric_names[1:] + \
        ["trainable params", "train time (s)", "stage time (s)", "peak RSS (MB)", "eval tok/s", "train tok/s"]
    rows = []
    for s in run.stages:
        r, m = s.record, s.metrics
        train = r.train or {}
        total, trainable = r.total_params or 0, r.trainable_params or 0
        pct = f" ({100 * trainable / total:.2f}%)" if total and trainable else ""
        others = [split_metric(r, sp, run.main_metric) for sp in run.other_splits]
        rows.append([r.name, r.label, _ci(m[run.main_metric])] + [_ci(o) if o else "-" for o in others]
                    + [round(m[k]["value"], 4) if k in m else "-" for k in run.metric_names[1:]]
                    + [f"{trainable:,}{pct}", round(train.get("wall_s", 0), 1) if train else "-",
                       round(r.seconds or 0, 1), r.peak_rss_mb if r.peak_rss_mb is not None else "-",
                       round(r.eval_tokens_per_s or s.timings.get("tokens_per_s") or 0, 1),
                       round(train.get("tokens_per_s", 0), 1) if train else "-"])
    return cols, rows


def _eval_dir(stage: StageView, split: str, run: RunData) -> Path:
    sub = stage.record.eval_dir if split == run.split else stage.record.other_splits[split]["eval_dir"]
    return run.path / "stages" / stage.name / sub


def _delta_text(delta: float, low: float, high: float, p: float | None = None) -> str:
    text = f"{delta:+.4f} [{low:+.4f}, {high:+.4f}]"
    return text if p is None else f"{text}, p={p:.3f}"


def _paired_main_metric(run: RunData, a: StageView, b: StageView, split: str) -> tuple[float, str] | None:
    """Stage ``b`` against ``a`` on the run's main metric over the same ``split`` examples (``genlab compare``'s
    paired bootstrap): (delta, "delta [95% CI], p"), or None when the metric is missing."""
    from genlab.evaluation.compare import compare_runs

    cmp = compare_runs([_eval_dir(a, split, run), _eval_dir(b, split, run)], examples=0)
    row = next((r for r in cmp.rows if r["metric"] == run.main_metric), None)
    if row is None:
        return None
    (low, high), = row["delta_cis"]
    return row["deltas"][0], _delta_text(row["deltas"][0], low, high, row["p_values"][0])


def paired_vs_baseline(run: RunData) -> tuple[list[str], list[list[Any]]]:
    """Each later stage against the first on the main metric, per split: delta with a paired-bootstrap
    95% interval and p-value over the same examples (``genlab compare``'s test); with several splits,
    the share of the other split's gain that holds on the main split."""
    base, splits = run.stages[0], [run.split, *run.other_splits]
    cols = ["stage"] + [f"Δ {run.main_metric} on {sp} vs {base.name} [95% CI], p" for sp in splits] + \
        [f"gain on {run.split} / gain on {sp}" for sp in run.other_splits]
    rows = []
    for stage in run.stages[1:]:
        deltas, cells = {}, []
        for sp in splits:
            paired = _paired_main_metric(run, base, stage, sp)
            if paired is None:
                cells.append("-")
                continue
            deltas[sp], text = paired
            cells.append(text)
        kept = [f"{deltas[run.split] / deltas[sp]:.0%}" if deltas.get(sp, 0) > 0 and run.split in deltas else "-"
                for sp in run.other_splits]
        rows.append([stage.name, *cells, *kept])
    return cols, rows


def _best_index(run: RunData) -> int:
    vals = [s.metrics[run.main_metric]["value"] for s in run.stages]
    return vals.index(max(vals))


# -- examples ------------------------------------------------------------------------

def _by_doc(stage: StageView) -> dict[Any, dict]:
    return {r["doc_id"]: r for r in stage.samples}


def _score(row: dict, metric: str) -> float | None:
    v = (row.get("scores") or {}).get(metric)
    return v if isinstance(v, (int, float)) else None


def side_by_side(run: RunData, k: int = 5) -> list[dict]:
    maps = [_by_doc(s) for s in run.stages]
    common = [d for d in maps[0] if all(d in m for m in maps)][:k]
    return [{"doc_id": d, "input": maps[0][d].get("prompt", ""), "reference": maps[0][d].get("reference", ""),
             "outputs": [(s.name, m[d].get("prediction", ""), _score(m[d], run.main_metric))
                         for s, m in zip(run.stages, maps)]} for d in common]


def helped_hurt(run: RunData, stage: StageView, baseline: StageView, k: int = 3) -> tuple[list[dict], list[dict]]:
    """Examples where ``stage`` beat ``baseline`` most on the main metric, and where it lost most."""
    a, b = _by_doc(baseline), _by_doc(stage)
    rows = []
    for d in a.keys() & b.keys():
        sa, sb = _score(a[d], run.main_metric), _score(b[d], run.main_metric)
        if sa is not None and sb is not None:
            rows.append({"doc_id": d, "delta": sb - sa, "input": a[d].get("prompt", ""),
                         "reference": a[d].get("reference", ""), "baseline": a[d].get("prediction", ""),
                         "tuned": b[d].get("prediction", ""), "base_score": sa, "tuned_score": sb})
    rows.sort(key=lambda r: r["delta"])
    hurt = [r for r in rows[:k] if r["delta"] < 0]
    helped = [r for r in reversed(rows[-k:]) if r["delta"] > 0]
    return helped, hurt


# -- the page ------------------------------------------------------------------------

def build_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    run = collect(run_dir)
    page = Page(f"genlab run: {run.path.name}", _subtitle(run))
    _leaderboard_section(page, run)
    _charts_section(page, run)
    _tradeoff_section(page, run)
    _alignment_section(page, run)
    _examples_section(page, run)
    _stage_sections(page, run)
    _reproduce_section(page, run)
    return page.write(Path(out) if out else run.path / "report.html")


def _subtitle(run: RunData) -> str:
    first = run.stages[0]
    model = first.environment.get("model") if isinstance(first.environment.get("model"), str) else None
    n = len(first.samples)
    return (f"{len(run.stages)} stages · {n} {run.split!r} examples each · main metric {run.main_metric} · "
            f"started {run.run_info.started or '?'}" + (f" · {model}" if model else ""))


def _leaderboard_section(page: Page, run: RunData) -> None:
    cols, rows = leaderboard(run)
    best = _best_index(run)
    page.h2("Leaderboard", "leaderboard")
    also = (f" Each stage is also scored on {', '.join(run.other_splits)} (same settings); the ranking uses "
            f"{run.split}." if run.other_splits else "")
    from genlab.evaluation.task_eval import decoding_label

    decoding = decoding_label(run.stages[0].record.eval_config or {})
    answers = f" Answers were {decoding}." if decoding else ""
    page.p(f"Metrics on the {run.split!r} split with 95% bootstrap intervals (seeded).{also}{answers} Best "
           f"{run.main_metric}: {run.stages[best].name}. Peak RSS is the process's resident memory during the stage.",
           "muted")
    page.table(cols, rows, cls="leaderboard", row_classes=["best" if i == best else "" for i in range(len(rows))])
    if len(run.stages) > 1:
        page.h3(f"Against {run.stages[0].name}, example by example")
        page.p("Paired bootstrap over the examples both stages scored (1000 resamples, seeded): "
               "an interval that excludes 0 and a small p mean the change is not resampling noise.", "muted")
        page.table(*paired_vs_baseline(run))


def _charts_section(page: Page, run: RunData) -> None:
    page.h2("Charts", "charts")
    others = {sp: [split_metric(s.record, sp, run.main_metric) for s in run.stages] for sp in run.other_splits}
    others = {sp: ms for sp, ms in others.items() if all(ms)}
    figs = [img_tag(charts.metric_by_stage(run.stages, run.main_metric, run.split, others), "metric by stage",
                    f"{run.main_metric} by stage on {' and '.join([run.split, *others])}"),
            img_tag(charts.score_vs_params(run.stages, run.main_metric), "score vs trainable parameters",
                    "score vs trainable parameters")]
    curves = {s.name: s.curves for s in run.stages if s.kind != "prompt" and s.curves}
    if curves:
        figs.append(img_tag(charts.training_curves(curves), "training curves", "training and validation curves"))
    forgetting = [{"stage": s.name, **r} for s in run.stages for r in s.record.forgetting]
    if forgetting:
        firsts = {}
        for r in forgetting:
            firsts.setdefault((r["stage"], r["task"]), r)
        figs.append(img_tag(charts.forgetting_deltas(list(firsts.values())), "forgetting", "forgetting deltas"))
    page.charts(figs)
    if forgetting:
        page.h3("Forgetting (held-out tasks, before → after tuning)")
        page.table(["stage", "task", "metric", "before", "after", "delta [95% CI]"],
                   [[r["stage"], r["task"], r["metric"], round(r["before"], 4), round(r["after"], 4),
                     _delta_text(r["delta"], r["delta_low"], r["delta_high"])] for r in forgetting])


def tradeoffs(run: RunData) -> tuple[list[str], list[list[Any]], list[dict]]:
    """Optimized stages (those with ``extra.tradeoff``) beside the model each came from: size, decode speed,
    perplexity, the main metric, and the paired-bootstrap change against the source stage."""
    by_name = {s.name: s for s in run.stages}
    cols = ["stage", "from", "size MB", "decode tok/s (b1)", "perplexity", f"{run.main_metric} [95% CI]",
            f"Δ {run.main_metric} vs source [95% CI], p"]
    rows, points, seen = [], [], set()
    for s in run.stages:
        t = s.record.extra.get("tradeoff")
        if not t:
            continue
        source = s.record.stage.get("source")
        src_t = s.record.extra.get("source_tradeoff")
        src_name = source or "base"
        if src_t and src_name not in seen:
            seen.add(src_name)
            src = by_name.get(source)
            m = src.metrics.get(run.main_metric) if src else None
            rows.append([src_name, "-", src_t["size_mb"], src_t["decode_tok_s_b1"], src_t["perplexity"],
                         _ci(m) if m else "-", "reference"])
            if m:
                points.append({"name": src_name, "metric": m["value"], "source_of": True, **src_t})
        paired = _paired_main_metric(run, by_name[source], s, run.split) if source in by_name else None
        delta = paired[1] if paired else "-"
        m = s.metrics[run.main_metric]
        rows.append([s.name, src_name, t["size_mb"], t["decode_tok_s_b1"], t["perplexity"], _ci(m), delta])
        points.append({"name": s.name, "metric": m["value"], "source": src_name, **t})
    return cols, rows, points


def _tradeoff_section(page: Page, run: RunData) -> None:
    cols, rows, points = tradeoffs(run)
    if not rows:
        return
    page.h2("Deployment trade-offs", "tradeoffs")
    page.p("Each optimized model beside the model it came from, measured alike in this run: size of the weights "
           "on disk, greedy decode tokens/s at batch 1 (median of 3), perplexity on 16 held-out texts, and the "
           f"task metric with a paired bootstrap against the source on the same {run.split!r} examples. "
           "`genlab optimize compare` adds load time, batch-16 speed and peak memory.", "muted")
    page.table(cols, rows)
    if len(points) > 1:
        page.charts([img_tag(charts.tradeoff_scatter(points, run.main_metric), "deployment trade-offs",
                             "quality vs speed vs size")])


def alignment_rows(run: RunData) -> tuple[list[str], list[list[Any]]]:
    """Aligned stages (``extra.vs_source``) against the model each started from, per split: the reward,
    every task metric and the response length with paired-bootstrap changes, then KL and distinct-2."""
    cols = ["stage", "from", "split", "measure", "start", "stage value", "Δ [95% CI]", "p"]
    rows = []
    for s in run.stages:
        vs = s.record.extra.get("vs_source")
        for split, d in (vs or {}).get("splits", {}).items():
            head = [s.name, vs["source"], f"{split} (n={d['n']})"]
            for r in d["rows"]:
                rows.append(head + [r["metric"], round(r["start"], 4), round(r["stage"], 4),
                                    _delta_text(r["delta"], r["ci_low"], r["ci_high"]), f"{r['p_value']:.3f}"])
            kl = d.get("kl_per_token")
            if kl:
                rows.append(head + ["KL to start (nats/token)", 0, _ci(kl), "-", "-"])
            a, b = d["distinct_2"]
            rows.append(head + ["distinct-2", round(a, 4), round(b, 4), f"× {b / a:.2f}" if a else "-", "-"])
    return cols, rows


def _alignment_section(page: Page, run: RunData) -> None:
    cols, rows = alignment_rows(run)
    if not rows:
        return
    page.h2("Aligned stages against their start", "alignment")
    page.p("Each PPO/DPO stage beside the model it started from, on the same scored examples: the reward the "
           "recipe aligns to, the task metrics and the response length with a paired bootstrap (1000 resamples, "
           "seeded); the KL to the start in nats per response token, exact over the vocabulary along the "
           "stage's own replies (mean over examples, 95% interval); distinct-2 of the replies.", "muted")
    page.table(cols, rows)


def _examples_section(page: Page, run: RunData) -> None:
    page.h2("Examples", "examples")
    page.p("The same test inputs, with the reference and each stage's output "
           f"({run.main_metric} per example in brackets).", "muted")
    for ex in side_by_side(run):
        rows = [[name, Markup(f'<span class="out">{esc(out)}</span>'), "-" if s is None else round(s, 3)]
                for name, out, s in ex["outputs"]]
        page.raw(f'<div class="example"><details><summary>input #{esc(ex["doc_id"])}</summary>'
                 f'<div class="input">{esc(ex["input"])}</div></details>'
                 f'<p><b>reference:</b> {esc(ex["reference"])}</p>')
        page.table(["stage", "output", run.main_metric], rows)
        page.raw("</div>")
    baseline = run.stages[0]
    for s in run.stages:
        if s.kind == "prompt":
            continue
        helped, hurt = helped_hurt(run, s, baseline)
        page.h3(f"Where {s.name} helped and hurt most (vs {baseline.name})")
        for title, items in (("helped", helped), ("hurt", hurt)):
            if not items:
                page.p(f"no example where it {title}.", "muted")
            for r in items:
                cls = "pos" if r["delta"] > 0 else "neg"
                page.raw(f'<div class="example"><b class="{cls}">{title}: {r["delta"]:+.3f}</b> '
                         f'<details><summary>input #{esc(r["doc_id"])}</summary><div class="input">{esc(r["input"])}'
                         f'</div></details><p><b>reference:</b> {esc(r["reference"])}</p>'
                         f'<p><b>{esc(baseline.name)}</b> ({r["base_score"]:.3f}): '
                         f'<span class="out">{esc(r["baseline"])}</span></p>'
                         f'<p><b>{esc(s.name)}</b> ({r["tuned_score"]:.3f}): <span class="out">{esc(r["tuned"])}</span></p></div>')


def _stage_sections(page: Page, run: RunData) -> None:
    """What a stage kind adds beyond the common record: its own figures and examples (``record.extra``)."""
    shown = [s for s in run.stages if s.record.extra.get("figures") or s.record.extra.get("examples")]
    if not shown:
        return
    page.h2("Stage details", "stage-details")
    for s in shown:
        page.h3(f"{s.name} ({s.record.label})")
        sdir = run.path / "stages" / s.name
        figs = [img_tag(sdir / f, Path(f).stem, Path(f).stem.replace("_", " "))
                for f in s.record.extra.get("figures", []) if (sdir / f).is_file()]
        if figs:
            page.charts(figs)
        for ex in s.record.extra.get("examples", []):
            page.raw(f'<div class="example"><b>{esc(ex.get("title", ""))}</b>'
                     f'<p><span class="out">{esc(ex.get("text", ""))}</span></p></div>')


def _reproduce_section(page: Page, run: RunData) -> None:
    page.h2("Reproduce", "reproduce")
    cmd = run.run_info.command
    if cmd:
        page.p("Command:").pre(" ".join(cmd) if isinstance(cmd, list) else str(cmd))
    page.p("Recipe:").pre(run.recipe_text or "(recipe.yaml missing)")
    env = run.stages[0].environment
    if env:
        page.p("Versions:").pre(json.dumps(env, indent=2, default=str))


# -- two runs side by side ------------------------------------------------------------

def compare_rows(a: RunData, b: RunData) -> tuple[list[str], list[list[Any]]]:
    """Per stage (in either run): the main metric in each run and the difference b − a."""
    metric = a.main_metric
    sa, sb = {s.name: s for s in a.stages}, {s.name: s for s in b.stages}
    names = list(sa) + [n for n in sb if n not in sa]
    rows = []
    for n in names:
        va = sa[n].metrics.get(metric) if n in sa else None
        vb = sb[n].metrics.get(metric) if n in sb else None
        delta = f"{vb['value'] - va['value']:+.4f}" if va and vb else "-"
        rows.append([n, _ci(va) if va else "-", _ci(vb) if vb else "-", delta])
    return ["stage", f"{metric}: {a.path.name}", f"{metric}: {b.path.name}", "delta (b − a)"], rows


def build_compare(run_a: str | Path, run_b: str | Path, out: str | Path) -> Path:
    a, b = collect(run_a), collect(run_b)
    page = Page(f"genlab runs compared: {a.path.name} vs {b.path.name}",
                f"main metric {a.main_metric}; intervals are each run's 95% bootstrap CI")
    cols, rows = compare_rows(a, b)
    page.h2("Leaderboard", "leaderboard").table(cols, rows, cls="leaderboard")
    page.h2("Charts", "charts").charts([
        img_tag(charts.metric_by_stage(a.stages, a.main_metric), a.path.name, f"run a: {a.path}"),
        img_tag(charts.metric_by_stage(b.stages, b.main_metric), b.path.name, f"run b: {b.path}")])
    return page.write(out)
