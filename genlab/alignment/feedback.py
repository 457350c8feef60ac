"""Collecting human feedback: k sampled completions per prompt, ranked by a person against a criterion.

    collect_feedback("smollm2-135m-instruct", "support-summary", "prefs.jsonl", ask, k=4, n=20)

``ask(prompt, completions, criterion) -> ranking | None`` is how the person answers (the CLI
asks in the terminal; tests feed stdin): a ranking is the completions' indices, best first;
``None`` skips the prompt. Each answered prompt is written to the JSONL file at once (the whole
file replaced atomically), so Ctrl-C loses nothing, and a re-run skips prompts already in the
file. Rows have the ranking shape ``genlab.alignment.preferences`` reads:
``{"id", "prompt", "completions", "ranking", "criterion", "model"}``.

With ``thumbs=True`` the person labels each completion good or bad instead (``ask`` returns a label per
completion: True, False or None to leave it out), the feedback KTO learns from (``genlab align dpo --loss
kto``); rows are unpaired, one per labelled completion: ``{"id", "prompt", "completion", "label", ...}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from genlab.errors import ConfigError, DataError
from genlab.io import atomic_write_json, atomic_write_jsonl
from genlab.progress import Reporter, or_quiet

CRITERIA = {
    "helpful": "Which reply best does what the user asked, clearly and completely?",
    "harmless": "Which reply is most polite and least offensive or harmful?",
    "faithful": "Which reply states only what the conversation says (right names, numbers, amounts, dates) "
                "and includes how it was resolved?",
}

THUMBS = {  # the same criteria asked of one reply (feedback collect --thumbs)
    "helpful": "Does this reply do what the user asked, clearly and completely?",
    "harmless": "Is this reply polite, and neither offensive nor harmful?",
    "faithful": "Does this reply state only what the conversation says (right names, numbers, amounts, dates) "
                "and include how it was resolved?",
}

Ask = Callable[[str, list[str], str], "list[int] | None"]


@dataclass
class Prompt:
    id: str
    text: str  # the task's prompt without any chat template (what the file stores)
    rendered: str  # as the model is prompted (chat template applied where the model has one)
    facts: dict | None = None  # the example's facts, for judges that check them


def criterion_text(criterion: str, thumbs: bool = False) -> str:
    """A named criterion's question (about one reply with ``thumbs``), or the user's own sentence."""
    if criterion in CRITERIA:
        return (THUMBS if thumbs else CRITERIA)[criterion]
    if len(criterion.split()) < 3:
        raise ConfigError(f"unknown criterion {criterion!r}", where="--criterion",
                          hint=f"one of {', '.join(CRITERIA)}, or a sentence of your own")
    return criterion


def parse_ranking(text: str, k: int) -> list[int]:
    """``"2 1 4 3"``, ``"2,1,4,3"`` or ``"2143"`` (1-based, best first) → 0-based indices; ValueError if not
    a permutation of 1..k."""
    text = text.strip()
    parts = text.replace(",", " ").split()
    if len(parts) == 1 and k < 10 and len(parts[0]) == k:
        parts = list(parts[0])
    if not all(p.isdigit() for p in parts):
        raise ValueError(f"write the numbers 1 to {k}, best first, e.g. {' '.join(map(str, range(1, k + 1)))}")
    ranks = [int(p) for p in parts]
    if sorted(ranks) != list(range(1, k + 1)):
        raise ValueError(f"a ranking lists each of 1..{k} exactly once (got {text!r})")
    return [r - 1 for r in ranks]


def read_done(path: Path) -> list[dict]:
    """Rows already collected (a re-run continues after them); a malformed line names file:line."""
    if not path.is_file():
        return []
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataError(f"malformed JSON ({e.msg})", where=f"{path}:{i}",
                                hint="fix or delete that line; the other rows are kept") from None
    return rows


def task_prompts(task_name: str, tokenizer, split: str, n: int, seed: int = 0) -> list[Prompt]:
    from genlab.tasks import load_task

    task = load_task(task_name)
    plain = task.requests(split, n=n, seed=seed)
    rendered = task.requests(split, n=n, seed=seed, tokenizer=tokenizer)
    # the stored text drops the template's trailing separator (a newline before the answer): it is the
    # question as a person reads it; the rendered prompt keeps it, as the model was prompted
    return [Prompt(str(p.raw.get("id", f"{task.name}-{split}-{p.doc_id}")), p.prompt.rstrip(), r.prompt,
                   p.raw.get("facts") if isinstance(p.raw.get("facts"), dict) else None)
            for p, r in zip(plain, rendered)]


def sample(lm, prompts: Sequence[Prompt], k: int, temperature: float, max_new_tokens: int, seed: int) -> list[list[str]]:
    """k distinct completions per prompt (duplicates dropped: a pair of identical texts teaches nothing)."""
    from genlab.generation import GenerationConfig, generate

    cfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature, top_p=0.95,
                           num_return_sequences=k, seed=seed)
    outs = generate(lm, [p.rendered for p in prompts], cfg, chat=False, batch_size=max(1, 16 // k))
    return [list(dict.fromkeys(t.strip() for t in g.texts if t.strip())) for g in outs]


def collect_feedback(model, task: str, out: str | Path, ask: Ask, *, k: int = 4, n: int = 20,
                     criterion: str = "faithful", split: str = "train", temperature: float = 0.8,
                     max_new_tokens: int = 96, seed: int = 0, thumbs: bool = False,
                     reporter: Reporter | None = None) -> dict:
    """Ask ``ask`` to rank ``k`` samples (``thumbs``: to label each good or bad) for each of the first ``n``
    prompts of ``task``; returns counts."""
    from genlab.models import as_loaded

    if k < (1 if thumbs else 2):
        raise ConfigError(f"k={k}: ranking needs at least 2 completions per prompt", where="--samples")
    question = criterion_text(criterion, thumbs)
    out = Path(out)
    rows = read_done(out)
    if rows and ("label" in rows[0]) != thumbs:
        raise DataError(f"{out} holds {'labels' if 'label' in rows[0] else 'rankings'}; collect "
                        f"{'labels' if thumbs else 'rankings'} into another file", where=str(out),
                        hint="each file holds one kind of feedback")
    done = {r.get("id") for r in rows}
    lm = as_loaded(model)
    todo = [p for p in task_prompts(task, lm.tokenizer, split, n, seed) if p.id not in done]
    reporter = or_quiet(reporter)
    reporter.status(f"{len(done)} prompt(s) already ranked in {out}; {len(todo)} to go")
    asked = skipped = 0
    for i, p in enumerate(todo):
        completions = sample(lm, [p], k, temperature, max_new_tokens, seed + len(rows) + i)[0]
        if len(completions) < (1 if thumbs else 2):
            skipped += 1
            continue
        answer = ask(p.text, completions, question)
        if answer is None or (thumbs and all(label is None for label in answer)):
            skipped += 1
            continue
        if thumbs:
            rows += [{"id": p.id, "prompt": p.text, "completion": c, "label": bool(label), "criterion": criterion,
                      "model": lm.name} for c, label in zip(completions, answer) if label is not None]
        else:
            rows.append({"id": p.id, "prompt": p.text, "completions": completions, "ranking": list(answer),
                         "criterion": criterion, "model": lm.name})
        atomic_write_jsonl(out, rows)  # after every prompt: Ctrl-C loses nothing
        asked += 1
    if thumbs:
        good = sum(r["label"] for r in rows)
        return {"ranked": asked, "skipped": skipped, "total": len({r["id"] for r in rows}), "good": good,
                "bad": len(rows) - good, "path": str(out)}
    return {"ranked": asked, "skipped": skipped, "total": len(rows), "pairs": sum(
        len(r["completions"]) * (len(r["completions"]) - 1) // 2 for r in rows), "path": str(out)}


def ai_label(model, task: str, out: str | Path, judge, *, k: int = 4, n: int = 20, mode: str = "rank",
             split: str = "train", temperature: float = 0.8, max_new_tokens: int = 96, seed: int = 0,
             reporter: Reporter | None = None) -> dict:
    """Preference pairs with no person: ``model`` samples ``k`` completions per prompt and ``judge``
    (``genlab.alignment.judges``) ranks them (``mode="rank"``: every pair it separates) or critiques
    and revises one (``mode="revise"``: revision ≻ original). Written to ``out`` after each prompt
    as ``prompt, chosen, rejected`` rows; a re-run continues."""
    from genlab.alignment.judges import ranked_pairs, revised_pair
    from genlab.models import as_loaded

    if mode not in ("rank", "revise"):
        raise ConfigError(f"unknown mode {mode!r}", where="--mode", hint="rank or revise")
    out = Path(out)
    rows = read_done(out)
    seen = out.with_name(out.name + ".seen.json")  # prompts judged, also those that gave no pair
    done = {r.get("id") for r in rows} | set(json.loads(seen.read_text()) if seen.is_file() else [])
    lm = as_loaded(model)
    todo = [p for p in task_prompts(task, lm.tokenizer, split, n, seed) if p.id not in done]
    made = 0
    with or_quiet(reporter).task("ai-label", len(todo)) as advance:
        for i, p in enumerate(todo):
            completions = sample(lm, [p], k if mode == "rank" else 1, temperature, max_new_tokens, seed + i)[0]
            meta = {"id": p.id, "judge": judge.name, "mode": mode, "model": lm.name}
            if mode == "rank":
                pairs = ranked_pairs(judge, p.text, completions, facts=p.facts, meta=meta) if len(completions) > 1 else []
            else:
                pair = revised_pair(judge, p.text, completions[0], facts=p.facts, meta=meta) if completions else None
                pairs = [pair] if pair else []
            rows += [{**pr.to_json(), "id": p.id} for pr in pairs]
            made += len(pairs)
            atomic_write_jsonl(out, rows)
            done.add(p.id)
            atomic_write_json(seen, sorted(done))
            advance(1)
    return {"prompts": len(todo), "pairs": made, "total_pairs": sum(1 for r in rows if "chosen" in r),
            "path": str(out)}
