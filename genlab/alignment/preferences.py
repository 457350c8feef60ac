"""Preference data: ``(prompt, chosen, rejected)`` pairs from tasks, files, the hub or rankings.

Two row shapes are accepted everywhere (JSONL, CSV, Parquet, ``hf:`` datasets, built-in tasks):

* ``prompt, chosen, rejected`` — one pair;
* ``prompt, completions, ranking`` — ``k`` completions and their order, best first, as
  indices into ``completions`` (``ranking: [2, 0, 1]``: completion 2 is best). It becomes
  all ``k(k-1)/2`` pairs, the better completion as ``chosen`` (InstructGPT, Ouyang et al. 2022).
  In CSV, ``completions`` and ``ranking`` are JSON lists.

Files and hub datasets may also use TRL's other preference formats:

* conversational: ``prompt`` a list of ``{role, content}`` turns, ``chosen``/``rejected`` the
  assistant's reply as a one-turn list (the prompt goes through the chat template);
* implicit prompt: no ``prompt``; ``chosen`` and ``rejected`` are whole conversations (turn lists)
  that differ only in their last, assistant, turn, or texts that share everything up to the last
  ``"\n\nAssistant:"`` (Anthropic's HH-RLHF): the shared beginning is the prompt. A text ``prompt``
  beside whole conversations (UltraFeedback-binarized's shape) is read the same way, as TRL does.

A bad row (an empty completion, chosen identical to rejected, a ranking that is not a
permutation) is an error naming ``file:line``; with ``skip_bad_rows`` it is skipped and
listed in ``<file>.bad-rows.txt``, as ``genlab.data`` does for every other dataset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Sequence

from genlab.data import BadRow, load_file, load_hub
from genlab.data.infer import is_data_file
from genlab.data.splits import split_rows
from genlab.errors import DataError
from genlab.prompts.chat import chat_prompt, transcript



@dataclass
class PreferencePair:
    """``chosen`` is preferred over ``rejected`` as a reply to ``prompt`` (the prompt as the model sees it)."""

    prompt: str
    chosen: str
    rejected: str
    meta: dict[str, Any] = field(default_factory=dict)  # id, where, flaw, facts, the prompt before templating

    def to_json(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected,
                **{k: v for k, v in self.meta.items() if k not in ("prompt", "chosen", "rejected")}}


@dataclass
class PreferenceData:
    pairs: list[PreferencePair]
    bad: list[BadRow] = field(default_factory=list)
    report: Path | None = None


def check_pair(chosen: Any, rejected: Any, where: str | None = None) -> None:
    """Both completions are non-empty text and differ (a pair that prefers a text over itself teaches nothing)."""
    for name, text in (("chosen", chosen), ("rejected", rejected)):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f'empty completion "{name}"', where=where, hint="every completion needs some text")
    if chosen.strip() == rejected.strip():
        raise DataError("chosen and rejected are identical", where=where,
                        hint="a pair must compare two different completions; drop the row or fix it")


def ranking_to_pairs(prompt: str, completions: Sequence[str], ranking: Sequence[int], *,
                     where: str | None = None, meta: dict | None = None) -> list[PreferencePair]:
    """All ``k(k-1)/2`` pairs of a ranking (indices into ``completions``, best first), better one first."""
    k = len(completions)
    if k < 2:
        raise DataError(f"a ranking needs at least 2 completions, got {k}", where=where)
    ranks = list(ranking)
    if not all(isinstance(r, int) and not isinstance(r, bool) for r in ranks) or sorted(ranks) != list(range(k)):
        raise DataError(f"ranking {ranks} is not a permutation of 0..{k - 1}", where=where,
                        hint=f"list each of the {k} completions' indices once, best first, e.g. {list(range(k))}")
    pairs = []
    for a, b in combinations(ranks, 2):  # a is ranked above b
        check_pair(completions[a], completions[b], where=f"{where}: completions {a} vs {b}" if where else None)
        pairs.append(PreferencePair(prompt, completions[a], completions[b],
                                    {**(meta or {}), "ranks": [ranks.index(a), ranks.index(b)]}))
    return pairs


def row_pairs(row: dict, prompt: str | None = None, where: str | None = None) -> list[PreferencePair]:
    """The pairs of one row of either shape; ``prompt`` overrides the row's (a task's rendered prompt)."""
    where = where or getattr(row, "where", None)
    prompt = row.get("prompt") if prompt is None else prompt
    if not isinstance(prompt, str) or not prompt.strip():
        raise DataError('empty or missing field "prompt"', where=where)
    meta = {k: v for k, v in row.items() if k not in ("chosen", "rejected", "completions", "ranking")}
    meta["where"] = where
    if "completions" in row or "ranking" in row:
        completions, ranking = _json_list(row, "completions", where), _json_list(row, "ranking", where)
        if len(ranking) != len(completions):
            raise DataError(f"ranking has {len(ranking)} entries for {len(completions)} completions", where=where,
                            hint="rank every completion exactly once")
        return ranking_to_pairs(prompt, completions, ranking, where=where, meta=meta)
    for name in ("chosen", "rejected"):
        if name not in row:
            raise DataError(f'missing field "{name}"', where=where,
                            hint="rows need prompt, chosen, rejected (or prompt, completions, ranking)")
    check_pair(row["chosen"], row["rejected"], where)
    return [PreferencePair(prompt, row["chosen"], row["rejected"], meta)]


def _json_list(row: dict, name: str, where: str | None) -> list:
    value = row.get(name)
    if isinstance(value, str):  # CSV cells hold JSON
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise DataError(f'field "{name}" is not a JSON list ({e.msg})', where=where) from None
    if not isinstance(value, list):
        raise DataError(f'field "{name}" must be a list, got {type(value).__name__}', where=where)
    return value


def load_preferences(source: str | Path, *, split: str = "train", n: int | None = None, seed: int = 0,
                     tokenizer=None, chat: bool | None = None, template: int | str = 0,
                     skip_bad_rows: bool = False) -> PreferenceData:
    """Preference pairs from a task (``support-summary-prefs``, a task YAML), a file or ``hf:owner/name``.

    A task renders each prompt with its template (``template``: a variant index, a name or
    ``"sample"``) and, for chat models, the chat template, exactly as ``genlab eval`` would
    prompt the model; files and hub rows are wrapped in the chat template when ``tokenizer``
    has one (``chat=False`` keeps them raw). ``n`` keeps the first ``n`` rows.
    """
    text = str(source)
    if text.startswith("hf:"):
        splits = load_hub(text, skip_bad_rows=skip_bad_rows)
        rows, name = hub_split(text, {name: loaded.rows for name, loaded in splits.items()}, split)
        return _from_rows(rows[:n] if n else rows, tokenizer, chat, skip_bad_rows, splits[name].bad)
    if is_data_file(Path(text)):
        loaded = load_file(text, skip_bad_rows=skip_bad_rows)
        rows = file_split(loaded.rows, split, text)
        data = _from_rows(rows[:n] if n else rows, tokenizer, chat, skip_bad_rows, loaded.bad)
        if data.bad:
            from genlab.data.loading import write_bad_report

            data.report = write_bad_report(Path(text), data.bad)
        return data
    return _from_task(text, split, n, seed, tokenizer, chat, template, skip_bad_rows)


FILE_SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def file_split(rows: list, split: str, where: str) -> list:
    """``split`` of the rows of one file: a fixed cut of its rows, shuffled by seed 0, 80% train, 10% validation,
    10% test, so that a run's validation pairs and a reward model's test pairs are never among its training pairs
    (whatever the run's seed). Files of your own splits: a folder of train/validation/test files, as ``hf:FOLDER``."""
    if split not in FILE_SPLITS:
        raise DataError(f"a preference file has no split {split!r}", where=where,
                        hint=f"its rows are cut into {', '.join(FILE_SPLITS)} (80/10/10); for splits of your own, "
                             "put train.jsonl, validation.jsonl, test.jsonl in a folder and pass hf:FOLDER")
    return split_rows(rows, tuple(FILE_SPLITS.values()), seed=0, names=tuple(FILE_SPLITS))[split]


def hub_split(spec: str, splits: dict[str, list], split: str) -> tuple[list, str]:
    """``split`` of a hub dataset (or dataset folder): a dataset of one split (often only ``train``) is cut as a
    file is (``file_split``); else its own split of that name, for ``validation`` its ``test`` split when it has
    none. Returns (rows, the split read)."""
    if len(splits) == 1:
        (name, rows), = splits.items()
        return file_split(rows, split, spec), name
    if split in splits:
        return splits[split], split
    if split == "validation" and "test" in splits and "train" in splits:
        return splits["test"], "test"
    raise DataError(f"{spec} has no split {split!r}", hint=f"its splits: {', '.join(splits)}; export the ones to "
                                                          "use as train/validation/test files in a folder (hf:FOLDER)")


def _from_rows(rows, tokenizer, chat, skip_bad_rows, bad) -> PreferenceData:
    pairs, bad = [], list(bad)
    wrap = _chat_wrapper(tokenizer, chat)
    for row in rows:
        where = getattr(row, "where", None)
        try:
            row, prompt = _trl_shapes(row, where, tokenizer, chat)
            if prompt is None and isinstance(row.get("prompt"), str):
                prompt = wrap(row["prompt"])
            got = row_pairs(row, prompt, where)
        except DataError as e:
            if not skip_bad_rows:
                raise DataError(e.message, where=e.where,
                                hint=e.hint or "fix the row, or pass --skip-bad-rows to skip it") from None
            bad.append(BadRow(e.where or str(where), e.message))
            continue
        for p in got:
            p.meta.setdefault("prompt_text", row["prompt"])
        pairs.extend(got)
    return PreferenceData(pairs, bad)


HH_ASSISTANT = "\n\nAssistant:"


def _trl_shapes(row: dict, where: str | None, tokenizer, chat: bool | None) -> tuple[dict, str | None]:
    """A row of TRL's conversational or implicit-prompt shape as ``prompt, chosen, rejected`` texts, and the
    prompt as the model sees it: the turns through the chat template (a transcript without one, or with
    ``chat=False``), an HH-RLHF text beginning as it is. Other rows come back as they were, with ``None``."""
    prompt, chosen, rejected = row.get("prompt"), row.get("chosen"), row.get("rejected")
    if prompt is None and isinstance(chosen, str) and isinstance(rejected, str):  # HH-RLHF's text shape
        cut = chosen.rfind(HH_ASSISTANT)
        if cut < 0 or not rejected.startswith(chosen[:cut + len(HH_ASSISTANT)]):
            raise DataError('no "prompt", and chosen and rejected do not share a beginning that ends with '
                            f'{HH_ASSISTANT!r}', where=where,
                            hint="give a prompt column, or conversations as lists of {role, content} turns")
        head = chosen[:cut + len(HH_ASSISTANT)]
        return {**row, "prompt": head, "chosen": chosen[len(head):].strip(),
                "rejected": rejected[len(head):].strip()}, head
    if not any(isinstance(v, list) for v in (prompt, chosen, rejected)) or "completions" in row:
        return row, None
    if not (isinstance(chosen, list) and isinstance(rejected, list)) or not chosen or not rejected:
        raise DataError("conversational chosen and rejected must both be non-empty lists of {role, content} turns",
                        where=where)
    if isinstance(prompt, str):  # beside whole conversations (UltraFeedback-binarized), as TRL: they hold it
        prompt = None
    for name, turns in (("prompt", prompt or []), ("chosen", chosen), ("rejected", rejected)):
        if not all(isinstance(t, dict) and isinstance(t.get("content"), str) and t.get("role") for t in turns):
            raise DataError(f'"{name}": every turn needs a "role" and a string "content"', where=where)
    if prompt is None:  # implicit: the shared turns before the last are the prompt
        if chosen[:-1] != rejected[:-1] or len(chosen) < 2:
            raise DataError("no \"prompt\", and chosen and rejected differ before their last turn", where=where,
                            hint="implicit-prompt rows are whole conversations that differ only in the last reply")
        prompt, chosen, rejected = chosen[:-1], chosen[-1:], rejected[-1:]
    if not isinstance(prompt, list) or not prompt:
        raise DataError('"prompt" must be a non-empty list of turns when chosen and rejected are', where=where)
    if any(t["role"] != "assistant" for t in chosen + rejected):
        raise DataError("chosen and rejected hold the assistant's reply only (role: assistant)", where=where)
    text = lambda turns: "".join(t["content"] for t in turns)  # noqa: E731
    seen = chat_prompt(tokenizer, prompt) if _uses_chat(tokenizer, chat) else transcript(prompt)
    return {**row, "prompt": transcript(prompt), "chosen": text(chosen), "rejected": text(rejected)}, seen


def load_feedback(source: str | Path, *, split: str = "train", n: int | None = None, tokenizer=None,
                  chat: bool | None = None, skip_bad_rows: bool = False) -> list | None:
    """Unpaired feedback rows (``prompt, completion, label``: TRL's unpaired preference shape, for KTO) from a
    file or ``hf:`` dataset, as ``genlab.alignment.kto.Feedback``; None when the source's rows are not of that
    shape (a task, or preference pairs). ``prompt`` and ``completion`` may be turn lists (conversational)."""
    from genlab.alignment.kto import Feedback, read_label
    from genlab.prompts.templates import chat_turns

    text = str(source)
    if text.startswith("hf:"):
        splits = load_hub(text, skip_bad_rows=skip_bad_rows)
        rows = hub_split(text, {name: loaded.rows for name, loaded in splits.items()}, split)[0]
    elif is_data_file(Path(text)):
        rows = file_split(load_file(text, skip_bad_rows=skip_bad_rows).rows, split, text)
    else:
        return None
    if not rows or not {"completion", "label"} <= set(rows[0]) or {"chosen", "rejected"} & set(rows[0]):
        return None
    out, bad, wrap = [], [], _chat_wrapper(tokenizer, chat)
    for row in rows[:n] if n else rows:
        where = getattr(row, "where", None)
        try:
            prompt, completion = row.get("prompt"), row.get("completion")
            if isinstance(prompt, list):
                prompt = chat_turns(prompt, "prompt", where)
                seen = chat_prompt(tokenizer, prompt) if _uses_chat(tokenizer, chat) else transcript(prompt)
            elif isinstance(prompt, str) and prompt.strip():
                seen = wrap(prompt)
            else:
                raise DataError('empty or missing field "prompt"', where=where)
            if isinstance(completion, list):
                completion = chat_turns(completion, "completion", where)
                if any(t["role"] != "assistant" for t in completion):
                    raise DataError("completion holds the assistant's reply only (role: assistant)", where=where)
                completion = "".join(t["content"] for t in completion)
            if not isinstance(completion, str) or not completion.strip():
                raise DataError('empty or missing field "completion"', where=where)
            out.append(Feedback(seen, completion, read_label(row.get("label"), where),
                                {"where": where, "prompt_text": transcript(prompt) if isinstance(prompt, list)
                                 else prompt}))
        except DataError as e:
            if not skip_bad_rows:
                raise DataError(e.message, where=e.where, hint=e.hint or "fix the row, or pass --skip-bad-rows to "
                                                                         "skip it") from None
            bad.append(BadRow(e.where or str(where), e.message))
    if bad and not text.startswith("hf:"):
        from genlab.data.loading import write_bad_report

        write_bad_report(Path(text), bad)
    return out


def _uses_chat(tokenizer, chat: bool | None) -> bool:
    return tokenizer is not None and chat is not False and bool(getattr(tokenizer, "chat_template", None))


def _chat_wrapper(tokenizer, chat: bool | None):
    if not _uses_chat(tokenizer, chat):
        return lambda text: text
    from genlab.generation import apply_chat

    return lambda text: apply_chat(tokenizer, text)


def _from_task(name: str, split: str, n, seed, tokenizer, chat, template, skip_bad_rows) -> PreferenceData:
    from genlab.tasks import load_task

    task = load_task(name)
    requests = task.requests(split, n=n, seed=seed, tokenizer=tokenizer, chat=chat, template=template)
    pairs, bad = [], []
    for req in requests:
        where = getattr(req.raw, "where", None) or f"{task.name} [{split}] example {req.doc_id}"
        try:
            got = row_pairs(req.raw, req.prompt, where)
        except DataError as e:
            if not skip_bad_rows:
                raise
            bad.append(BadRow(e.where or where, e.message))
            continue
        pairs.extend(got)
    return PreferenceData(pairs, bad)
