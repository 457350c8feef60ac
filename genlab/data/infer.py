"""A data file or hub dataset given where a task is expected: input and target columns told from their names.

``genlab eval --task qa.jsonl`` (or ``--task hf:owner/name[:config]``) works
when the columns have one of the common shapes below (TRL's prompt/completion and conversational ``messages``,
Alpaca's instruction/input/output, question/answer, input/output, dialogue/summary, ...; multiple choice as
MMLU and HellaSwag lay it out). The result is an ordinary
task spec, as if the user had written this YAML next to the file::

    name: qa
    dataset: {path: qa.jsonl}            # split 80/10/10 by genlab's default ratios
    output_type: generate
    metrics: [answer_accuracy, exact_match]   # numbers; [quasi_exact_match, f1] for other short
                                              # targets, [rougeL, rouge1, bleu] for longer ones
    generation: {max_new_tokens: 16}     # from the longest target seen
    templates:
      - name: question-answer
        jinja: "{{question}} ||| {{answer}}"

Anything else (other columns, several templates, multiple choice, own splits)
is a task YAML; the error for an unknown shape prints one to start from.
"""

from __future__ import annotations

import math
from itertools import islice
from pathlib import Path

from genlab.data.loading import iter_file
from genlab.prompts.templates import choice_list
from genlab.errors import ConfigError

DATA_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".tsv", ".parquet", ".pq")
SAMPLE_ROWS = 1000  # rows read to tell the shape and the target length

# (target column, input columns, prompt side of the template), first match wins
SHAPES: list[tuple[str, tuple[str, ...], str]] = [
    ("completion", ("prompt",), "{{prompt}}"),
    ("response", ("prompt",), "{{prompt}}"),
    ("output", ("instruction",), "{{instruction}}"),  # Alpaca; its optional "input" is added below
    ("response", ("instruction",), "{{instruction}}"),
    ("answer", ("context", "question"), "{{context}}\n\nQuestion: {{question}}"),
    ("answer", ("question",), "{{question}}"),
    ("answer", ("query",), "{{query}}"),
    ("response", ("query",), "{{query}}"),
    ("output", ("input",), "{{input}}"),
    ("target", ("input",), "{{input}}"),
    ("target", ("source",), "{{source}}"),
    ("summary", ("dialogue",), "Summarize this dialogue:\n{{dialogue}}"),
    ("summary", ("document",), "Summarize this text:\n{{document}}"),
    ("summary", ("article",), "Summarize this article:\n{{article}}"),
    ("highlights", ("article",), "Summarize this article:\n{{article}}"),
    ("summary", ("text",), "Summarize this text:\n{{text}}"),
]
SHORT_TARGET_WORDS = 5  # median target this short: (quasi) exact match is the headline metric
# multiple choice (MMLU, HellaSwag style): a question, a list of choices, the answer (index, letter or text)
MC_QUESTION = ("question", "query", "prompt", "ctx", "context")
MC_CHOICES = ("choices", "options", "endings")
MC_ANSWER = ("answer", "answerKey", "label", "gold", "answer_index")
LETTERS = "ABCDEFGHIJ"
CORPUS_COLUMNS = {"text", "content", "id", "meta", "metadata", "url", "title", "source"}  # documents, no target


def is_data_file(path: Path) -> bool:
    return path.suffix.lower() in DATA_SUFFIXES


def task_spec_for_file(path: Path) -> dict:
    """A task spec for a data file whose columns have a known shape; a ConfigError with a YAML to write if not."""
    rows = [r for r in islice((r for r in iter_file(path) if isinstance(r, dict)), SAMPLE_ROWS)]
    if not rows:
        raise ConfigError(f"{path} has no readable rows", where=str(path),
                          hint="one JSON object per line (.jsonl), a header row (.csv), or a .parquet table")
    return task_spec_for_rows(path.stem, path.name, rows, {"path": str(path.resolve())})


def task_spec_for_hub(spec: str) -> dict:
    """The same for ``hf:owner/name[:config]``: the dataset's own splits, or 80/10/10 when it has one."""
    from genlab.data.loading import load_hub, parse_hub_spec
    from genlab.data.sources import DEFAULT_RATIOS

    loaded = load_hub(spec)
    rows = next((v.rows[:SAMPLE_ROWS] for v in loaded.values() if v.rows), [])
    if not rows:
        raise ConfigError(f"{spec} has no rows", where=spec)
    dataset: dict = {"hf": spec} if len(loaded) > 1 else {"hf": spec, "splits": dict(DEFAULT_RATIOS)}
    name = parse_hub_spec(spec)[0].rstrip("/").split("/")[-1]
    return task_spec_for_rows(name, spec, rows, dataset)


def task_spec_for_rows(name: str, label: str, rows: list[dict], dataset: dict) -> dict:
    columns = set().union(*(r.keys() for r in rows))
    for column in ("messages", "conversations"):  # TRL's conversational format, ShareGPT's: last turn = target
        if column in columns:
            answers = [str(m[-1].get("content", m[-1].get("value")) or "") for r in rows
                       if isinstance(m := r.get(column), list) and m and isinstance(m[-1], dict)]
            return _spec(name, f"{label}: {column} -> the last assistant turn", dataset,
                         {"name": "conversation", "messages": column}, answers or [""])
    if (mc := _multiple_choice(name, label, rows, columns, dataset)) is not None:
        return mc
    shape = next(((t, ins, p) for t, ins, p in SHAPES if t in columns and set(ins) <= columns), None)
    if shape is None and columns & {"text", "content"} and columns <= CORPUS_COLUMNS:
        field = "text" if "text" in columns else "content"
        raise ConfigError(f"{label} holds documents ({field!r}), not inputs and targets", hint=(
            f"a corpus is for (continued) pre-training: genlab pretrain --corpus {label} --text-field {field}; "
            "for a task, give columns such as prompt/completion or question/answer"))
    if shape is None:
        raise ConfigError(f"cannot tell which columns of {label} are the input and the target "
                          f"(columns: {', '.join(sorted(columns))})", hint=_yaml_hint(name, dataset, rows[0]))
    target, inputs, prompt = shape
    optional = []
    if inputs == ("instruction",) and "input" in columns:
        prompt, optional = "{{instruction}}{% if input %}\n\n{{input}}{% endif %}", ["input"]
    if optional:
        dataset = {**dataset, "optional": optional}
    what = f"{label}: {' + '.join(inputs + tuple(optional))} -> {target}"
    template = {"name": f"{'-'.join(inputs)}-{target}", "jinja": f"{prompt} ||| {{{{{target}}}}}"}
    return _spec(name, what, dataset, template, [str(r.get(target) or "") for r in rows])


def _multiple_choice(name: str, label: str, rows: list[dict], columns: set, dataset: dict) -> dict | None:
    question = next((c for c in MC_QUESTION if c in columns), None)
    choices = next((c for c in MC_CHOICES if c in columns and choice_list(rows[0].get(c))), None)
    answer = next((c for c in MC_ANSWER if c in columns), None)
    if not (question and choices and answer):
        return None
    values = [str(r.get(answer)) for r in rows]
    labelled = all(isinstance(r.get(choices), dict) and isinstance(r[choices].get("label"), list) for r in rows)
    if labelled:  # ARC: the answer is one of the row's own labels ("A".."E" or "1".."5")
        target, kind = f"{{{{answer_choices[{choices}.label.index({answer})]}}}}", "label"
    elif all(v.lstrip("-").isdigit() for v in values):
        target, kind = f"{{{{answer_choices[{answer}|int]}}}}", "index"
    elif all(len(v) == 1 and v in LETTERS for v in values):
        target, kind = f"{{{{answer_choices[\"{LETTERS}\".index({answer})]}}}}", "letter"
    else:
        target, kind = f"{{{{{answer}}}}}", "text"
    listing = f"{{% for c in answer_choices %}}\n{{{{\"{LETTERS}\"[loop.index0]}}}}. {{{{c}}}}{{% endfor %}}"
    return {
        "name": name,
        "description": f"{label}: multiple choice, {question} + {choices} -> {answer} ({kind}) (columns told from "
                       "their names; write a task YAML to change the template, metrics or splits)",
        "dataset": dataset, "output_type": "multiple_choice", "metrics": ["acc", "acc_norm"], "chat": False,
        "fewshot": {"target_prefix": "\nAnswer:"},  # each choice is scored as the continuation " <choice>"
        "templates": [{"name": f"{question}-{choices}", "answer_choices": {"field": choices},
                       "jinja": f"{{{{{question}}}}}{listing} ||| {target}"}],
    }


def _spec(name: str, what: str, dataset: dict, template: dict, targets: list[str]) -> dict:
    from genlab.evaluation.metrics.answer import parse_number

    words = sorted(len(t.split()) for t in targets)
    longest_chars = max(len(t) for t in targets)
    if all(parse_number(t) is not None for t in targets):  # GSM8K-like: the number the model gives
        metrics = ["answer_accuracy", "exact_match"]
    elif words[len(words) // 2] <= SHORT_TARGET_WORDS:  # short answers, scored as SQuAD and HELM do
        metrics = ["quasi_exact_match", "f1"]
    else:
        metrics = ["rougeL", "rouge1", "bleu"]
    return {
        "name": name,
        "description": f"{what} (columns told from their names; write a task YAML to change the "
                       "template, metrics or splits)",
        "dataset": dataset,
        "output_type": "generate",
        "metrics": metrics,
        # ~4 characters a token, half again for room, within [16, 512]
        "generation": {"max_new_tokens": min(512, max(16, math.ceil(1.5 * longest_chars / 4)))},
        "postprocess": ["strip"],
        "templates": [template],
    }


def _yaml_hint(name: str, dataset: dict, row: dict) -> str:
    names = [k for k in row if isinstance(k, str)]
    first, last = (names[0], names[-1]) if len(names) > 1 else ("input", "target")
    source = f"path: {Path(dataset['path']).name}" if "path" in dataset else f"hf: \"{dataset['hf']}\""
    return ("write a task YAML, e.g. my-task.yaml:\n"
            f"  name: {name}\n"
            f"  dataset: {{{source}, splits: {{train: 0.8, validation: 0.1, test: 0.1}}}}\n"
            "  metrics: [rougeL]\n"
            "  templates:\n"
            f"    - name: t\n      jinja: \"{{{{{first}}}}} ||| {{{{{last}}}}}\"\n"
            "then pass --task my-task.yaml (README: 'Your own data'). Column names read directly: "
            "messages, prompt/completion, instruction[/input]/output, question/answer, input/output, "
            "dialogue/summary, ...")
