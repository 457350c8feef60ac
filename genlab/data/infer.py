"""A data file or hub dataset given where a task is expected: input and target columns told from their names.

``genlab eval --task qa.jsonl`` (or ``--task hf:owner/name[:config]``) works
when the columns have one of the common shapes below (TRL's prompt/completion and conversational ``messages``,
Alpaca's instruction/input/output, question/answer, input/output, dialogue/summary, SQuAD, WMT, ...; multiple
choice as MMLU and HellaSwag lay it out; classification as SST-2 and MNLI do). Column names match in any case
(``Question``, ``User Input``). The result is an ordinary
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

Anything else (other columns, several templates, own splits)
is a task YAML; the error for an unknown shape prints one to start from.
"""

from __future__ import annotations

import keyword
import math
import re
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable

from genlab.data.loading import FORMATS, data_stem, data_suffix, iter_file
from genlab.prompts.templates import choice_list
from genlab.errors import ConfigError

SAMPLE_ROWS = 1000  # rows read to tell the shape and the target length

# (target column, input columns, prompt side of the template), first match wins
SHAPES: list[tuple[str, tuple[str, ...], str]] = [
    ("completion", ("prompt",), "{{prompt}}"),
    ("response", ("prompt",), "{{prompt}}"),
    ("output", ("instruction",), "{{instruction}}"),  # Alpaca; its optional "input" is added below
    ("response", ("instruction",), "{{instruction}}"),
    ("answer", ("context", "question"), "{{context}}\n\nQuestion: {{question}}"),
    ("answers", ("context", "question"), "{{context}}\n\nQuestion: {{question}}"),  # SQuAD
    ("answer", ("question",), "{{question}}"),
    ("answers", ("question",), "{{question}}"),  # WebQuestions, NQ-open: a list of answers
    ("response", ("question",), "{{question}}"),  # OpenOrca, SlimOrca-style
    ("answer", ("problem",), "{{problem}}"),  # competition math with a final answer
    ("solution", ("problem",), "{{problem}}"),
    ("chosen", ("prompt",), "{{prompt}}"),  # preference pairs: tune and evaluate toward the chosen answer
    ("answer", ("query",), "{{query}}"),
    ("response", ("query",), "{{query}}"),
    ("response", ("context",), "{{context}}"),
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
MC_ANSWER = ("answer", "answerkey", "label", "gold", "answer_index")  # matching keys: lower case
LETTERS = "ABCDEFGHIJ"
# classification (SST-2, IMDB, AG News, MNLI style): a text (or a pair) and a label with few distinct values
CLASS_LABEL = ("label", "labels", "sentiment", "category", "class", "intent", "emotion", "topic", "coarse_label",
               "polarity", "stars", "star_rating", "rating")
CLASS_PAIRS = (("premise", "hypothesis"), ("sentence1", "sentence2"), ("question1", "question2"),
               ("question", "sentence"), ("text1", "text2"))
CLASS_TEXT = ("text", "sentence", "review", "review_body", "content", "document", "tweet", "comment", "utterance",
              "body", "question", "query", "title", "headline")
MAX_CLASSES = 100  # Banking77's 77 intents fit; more distinct values read as free text, not classes
UNLABELED = (None, -1, "", "-1")  # GLUE's test splits carry label -1
GSM8K_ANSWER = re.compile(r"####\s*-?\$?[\d,]*\.?\d+\s*$")  # "...reasoning #### 72": the number is the answer
CORPUS_COLUMNS = {"text", "content", "id", "meta", "metadata", "url", "title", "source"}  # documents, no target


def _key(column: str) -> str:
    """Column name as matched against the shapes: ``"Question"``, ``"question "`` and ``"QUESTION"`` read alike."""
    return re.sub(r"\W+", "_", column.strip()).strip("_").lower()


class _Columns:
    """A sample's columns, looked up by their matching key; template names and the ``dataset.columns`` map."""

    def __init__(self, rows: list[dict]):
        self.names = list(dict.fromkeys(k for r in rows for k in r if isinstance(k, str)))
        self.original: dict[str, str] = {}
        for name in self.names:
            self.original.setdefault(_key(name), name)

    def __contains__(self, key: str) -> bool:
        return key in self.original

    def field(self, key: str) -> str:
        """The name a template uses: the column's own when Jinja can read it, else its key (mapped)."""
        name = self.original[key]
        return name if name.isidentifier() and not keyword.iskeyword(name) else key

    def values(self, rows: Iterable[dict], key: str) -> list:
        return [r.get(self.original[key]) for r in rows]

    def dataset(self, dataset: dict, keys: Iterable[str]) -> dict:
        """``dataset`` plus ``columns: {field: column}`` for the columns a template cannot name directly."""
        mapping = {self.field(k): self.original[k] for k in keys if self.field(k) != self.original[k]}
        return {**dataset, "columns": mapping} if mapping else dataset


def is_data_file(path: Path) -> bool:
    return data_suffix(path) in FORMATS


def is_data_source(text: str) -> bool:
    """Whether a ``--task`` value names data whose task is inferred: ``hf:...``, a folder, or a data file."""
    path = Path(text)
    return text.startswith("hf:") or path.is_dir() or (is_data_file(path) and path.is_file())


def task_spec_for_file(path: Path) -> dict:
    """A task spec for a data file whose columns have a known shape; a ConfigError with a YAML to write if not."""
    rows = [r for r in islice((r for r in iter_file(path) if isinstance(r, dict)), SAMPLE_ROWS)]
    if not rows:
        raise ConfigError(f"{path} has no readable rows", where=str(path),
                          hint="one JSON object per line (.jsonl), a header row (.csv), or a .parquet table")
    return task_spec_for_rows(data_stem(path), path.name, rows, {"path": str(path.resolve())},
                              every_row=lambda: (r for r in iter_file(path) if isinstance(r, dict)))


def task_spec_for_hub(spec: str, label: str | None = None) -> dict:
    """The same for ``hf:owner/name[:config]`` (or a local folder of data files, named ``label`` in messages): the
    dataset's own splits, or 80/10/10 when it has one."""
    from genlab.data.loading import load_hub, parse_hub_spec
    from genlab.data.sources import DEFAULT_RATIOS

    loaded = load_hub(spec)
    rows = next((v.rows[:SAMPLE_ROWS] for v in loaded.values() if v.rows), [])
    if not rows:
        raise ConfigError(f"{spec} has no rows", where=spec)
    dataset: dict = {"hf": spec} if len(loaded) > 1 else {"hf": spec, "splits": dict(DEFAULT_RATIOS)}
    name, config = parse_hub_spec(spec)
    class_names = {c: n for v in loaded.values() for c, n in v.class_names.items()}
    return task_spec_for_rows(name.rstrip("/").split("/")[-1], label or spec, rows, dataset, config=config,
                              every_row=lambda: (r for v in loaded.values() for r in v.rows), class_names=class_names)


def task_spec_for_rows(name: str, label: str, rows: list[dict], dataset: dict, *,
                       every_row: Callable[[], Iterable[dict]] | None = None,
                       class_names: dict[str, list[str]] | None = None, config: str | None = None) -> dict:
    """``every_row`` (all rows, read again) finds every class of a label column; ``class_names`` are the hub's
    ClassLabel names by column; ``config`` a hub config such as ``de-en`` (a translation's direction)."""
    cols = _Columns(rows)
    for key in ("messages", "conversations"):  # TRL's conversational format, ShareGPT's: last turn = target
        if key in cols:
            answers = [str(m[-1].get("content", m[-1].get("value")) or "") for m in cols.values(rows, key)
                       if isinstance(m, list) and m and isinstance(m[-1], dict)]
            return _spec(name, f"{label}: {cols.original[key]} -> the last assistant turn",
                         cols.dataset(dataset, [key]), {"name": "conversation", "messages": cols.field(key)},
                         answers or [""])
    for special in (_multiple_choice, _translation):
        if (spec := special(name, label, rows, cols, dataset, config)) is not None:
            return spec
    shape = next(((t, ins, p) for t, ins, p in SHAPES if t in cols and all(i in cols for i in ins)), None)
    if shape is None and (spec := _classification(name, label, rows, cols, dataset, every_row, class_names)):
        return spec
    if shape is None and ({"text", "content"} & set(cols.original)) and set(cols.original) <= CORPUS_COLUMNS:
        field = cols.original["text" if "text" in cols else "content"]
        raise ConfigError(f"{label} holds documents ({field!r}), not inputs and targets", hint=(
            f"a corpus is for (continued) pre-training: genlab pretrain --corpus {label} --text-field {field}; "
            "for a task, give columns such as prompt/completion or question/answer"))
    if shape is None:
        raise ConfigError(f"cannot tell which columns of {label} are the input and the target "
                          f"(columns: {', '.join(cols.names)})", hint=_yaml_hint(name, dataset, rows[0]))
    target, inputs, prompt = shape
    optional = []
    extra = next((k for k in ("input", "context") if k in cols), None) if inputs == ("instruction",) else None
    if extra:  # Alpaca's input, Dolly's context: present on some rows only
        prompt, optional = f"{{{{instruction}}}}{{% if {extra} %}}\n\n{{{{{extra}}}}}{{% endif %}}", [extra]
    system = next((k for k in ("system_prompt", "system") if k in cols), None)
    if system:  # OpenOrca's system prompt, on some rows only: before the rest
        prompt, optional = f"{{% if {system} %}}{{{{{system}}}}}\n\n{{% endif %}}{prompt}", [*optional, system]
    used = [*inputs, *optional, target]
    dataset = cols.dataset(dataset, used)
    if optional:
        dataset = {**dataset, "optional": [cols.field(k) for k in optional]}
    expression, picked, texts = _target(cols.field(target), cols.values(rows, target), label,
                                        cols.original[target])
    what = f"{label}: {' + '.join(cols.original[k] for k in (*inputs, *optional))} -> {cols.original[target]}{picked}"
    if target == "chosen" and "rejected" in cols:
        what += " (the chosen answers; genlab align trains on the pairs)"
    jinja = _named(prompt, cols) + f" ||| {{{{{expression}}}}}"
    return _spec(name, what, dataset, {"name": f"{'-'.join(inputs)}-{target}", "jinja": jinja}, texts)


def _target(field: str, values: list, label: str, column: str) -> tuple[str, str, list[str]]:
    """The target's Jinja expression, what it picks (for the description) and the sampled target texts:
    a text or number as it is; SQuAD's ``{text: [...]}`` or a list of answers: the first; TriviaQA's
    ``{value: ...}``: the value."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, (str, int, float)) for v in present):
        return field, "", [str(v if v is not None else "") for v in values]
    if all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in present):
        return f"({field} or [''])[0]", "[0]", [(v or [""])[0] if v else "" for v in values]
    if all(isinstance(v, dict) and isinstance(v.get("text"), list) for v in present):
        return f"({field}['text'] or [''])[0]", ".text[0]", [str((v["text"] or [""])[0]) for v in present]
    if all(isinstance(v, dict) and isinstance(v.get("value"), str) for v in present):
        return f"{field}['value']", ".value", [v["value"] for v in present]
    kinds = sorted({type(v).__name__ for v in present})
    raise ConfigError(f"{label}: target column {column!r} holds {', '.join(kinds)} values, not text",
                      hint="write a task YAML whose template picks the text out of it (README: 'Your own data')")


def _named(jinja: str, cols: _Columns) -> str:
    """A template written with matching keys (``{{question}}``), with each column's template name put in."""
    return re.sub(r"(\{\{|\{% if )(\w+)", lambda m: m.group(1) + cols.field(m.group(2)), jinja)


def _multiple_choice(name, label, rows, cols: _Columns, dataset, config) -> dict | None:
    question = next((k for k in MC_QUESTION if k in cols), None)
    choices = next((k for k in MC_CHOICES if k in cols and choice_list(rows[0].get(cols.original[k]))), None)
    answer = next((k for k in MC_ANSWER if k in cols), None)
    if not (question and choices and answer):
        return None
    values = [str(v) for v in cols.values(rows, answer)]
    q, c, a = cols.field(question), cols.field(choices), cols.field(answer)
    if all(isinstance(v, dict) and isinstance(v.get("label"), list) for v in cols.values(rows, choices)):
        target, kind = f"{{{{answer_choices[{c}.label.index({a})]}}}}", "label"  # ARC: "A".."E" or "1".."5"
    elif all(v.lstrip("-").isdigit() for v in values):
        target, kind = f"{{{{answer_choices[{a}|int]}}}}", "index"
    elif all(len(v) == 1 and v in LETTERS for v in values):
        target, kind = f"{{{{answer_choices[\"{LETTERS}\".index({a})]}}}}", "letter"
    else:
        target, kind = f"{{{{{a}}}}}", "text"
    listing = f"{{% for c in answer_choices %}}\n{{{{\"{LETTERS}\"[loop.index0]}}}}. {{{{c}}}}{{% endfor %}}"
    return {
        "name": name,
        "description": f"{label}: multiple choice, {' + '.join(cols.original[k] for k in (question, choices))} -> "
                       f"{cols.original[answer]} ({kind}) (columns told from their names; write a task YAML to "
                       "change the template, metrics or splits)",
        "dataset": cols.dataset(dataset, [question, choices, answer]), "output_type": "multiple_choice",
        "metrics": ["acc", "acc_norm"], "chat": False,
        "fewshot": {"target_prefix": "\nAnswer:"},  # each choice is scored as the continuation " <choice>"
        "templates": [{"name": f"{question}-{choices}", "answer_choices": {"field": c},
                       "jinja": f"{{{{{q}}}}}{listing} ||| {target}"}],
    }


LANGUAGES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
             "nl": "Dutch", "ro": "Romanian", "cs": "Czech", "ru": "Russian", "zh": "Chinese", "ja": "Japanese",
             "fi": "Finnish", "tr": "Turkish", "et": "Estonian", "hi": "Hindi", "ar": "Arabic", "ko": "Korean"}


def _translation(name, label, rows, cols: _Columns, dataset, config) -> dict | None:
    """WMT's layout: ``translation: {de: ..., en: ...}``; the direction from a ``de-en`` config, else key order."""
    pairs = cols.values(rows, "translation") if "translation" in cols else []
    if not pairs or not all(isinstance(p, dict) and len(p) == 2 for p in pairs):
        return None
    languages = list(pairs[0])
    wanted = (config or "").split("-")
    source, target = wanted if len(wanted) == 2 and set(wanted) == set(languages) else languages
    t = cols.field("translation")
    jinja = (f"Translate {LANGUAGES.get(source, source)} to {LANGUAGES.get(target, target)}:\n"
             f"{{{{{t}['{source}']}}}} ||| {{{{{t}['{target}']}}}}")
    return _spec(name, f"{label}: {cols.original['translation']}.{source} -> .{target}",
                 cols.dataset(dataset, ["translation"]), {"name": f"translate-{source}-{target}", "jinja": jinja},
                 [str(p.get(target) or "") for p in pairs], metrics=["bleu", "rougeL"])


def _classification(name, label, rows, cols: _Columns, dataset, every_row, class_names) -> dict | None:
    """A text (or a pair of texts) and a label with at most MAX_CLASSES values: each class is scored as a choice."""
    target = next((k for k in CLASS_LABEL if k in cols), None)
    inputs = next((p for p in CLASS_PAIRS if all(k in cols for k in p)), None) \
        or next(((k,) for k in CLASS_TEXT if k in cols and k != target), None)
    if target is None or inputs is None:
        return None
    sample = [v for v in cols.values(rows, target) if v not in UNLABELED]
    if not sample or not all(isinstance(v, (int, str)) for v in sample):  # bools are ints; floats are scores
        return None
    column, t = cols.original[target], cols.field(target)
    names = (class_names or {}).get(column)
    every = [r.get(column) for r in (every_row() if every_row else rows)]
    seen = {v for v in every if v not in UNLABELED}
    if names and all(isinstance(v, int) and not isinstance(v, bool) for v in seen):
        choices, answer = [str(n) for n in names], f"answer_choices[{t}] if {t} >= 0 else ''"
    else:
        choices = sorted({str(v).strip() for v in seen}, key=lambda v: (_number(v), v))
        answer = f"{t}|string|trim"
    if not 2 <= len(choices) <= MAX_CLASSES or max(len(c.split()) for c in choices) > SHORT_TARGET_WORDS:
        return None
    shown = "\n".join(f"{k.replace('_', ' ').capitalize()}: {{{{{cols.field(k)}}}}}" for k in inputs) \
        if len(inputs) > 1 else f"{{{{{cols.field(inputs[0])}}}}}"
    listing = "\n\nOptions:{% for c in answer_choices %}\n- {{c}}{% endfor %}"
    unlabeled = "; rows labelled -1 or left empty (an unlabeled test split, as GLUE's) cannot be scored: " \
                "evaluate another split" if any(v in UNLABELED for v in every) else ""
    return {
        "name": name,
        "description": f"{label}: classification, {' + '.join(cols.original[k] for k in inputs)} -> {column} "
                       f"({len(choices)} classes: {', '.join(choices)}){unlabeled} (columns told from their names; "
                       "write a task YAML to change the template, metrics or splits)",
        "dataset": cols.dataset(dataset, [*inputs, target]), "output_type": "multiple_choice",
        "metrics": ["acc", "macro_f1"], "chat": False,  # macro-F1: a rare class counts as much as a common one
        "fewshot": {"target_prefix": f"\n{target.replace('_', ' ').capitalize()}:"},
        "templates": [{"name": f"{'-'.join(inputs)}-{target}", "answer_choices": choices,
                       "jinja": f"{shown}{listing} ||| {{{{{answer}}}}}"}],
    }


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.inf


def _spec(name: str, what: str, dataset: dict, template: dict, targets: list[str],
          metrics: list[str] | None = None) -> dict:
    from genlab.evaluation.metrics.answer import parse_number

    words = sorted(len(t.split()) for t in targets)
    longest_chars = max(len(t) for t in targets)
    if metrics:
        pass
    elif all(parse_number(t) is not None for t in targets):  # numbers: the number the model gives
        metrics = ["answer_accuracy", "exact_match"]
    elif all(GSM8K_ANSWER.search(t) for t in targets):  # GSM8K: reasoning, then "#### 72"; the last number counts
        metrics = ["answer_accuracy"]
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
    cols = _Columns([row])
    keys = [_key(k) for k in cols.names]
    first, last = (keys[0], keys[-1]) if len(keys) > 1 else ("input", "target")
    first, last = (cols.field(first), cols.field(last)) if len(keys) > 1 else (first, last)
    source = f"path: {Path(dataset['path']).name}" if "path" in dataset else f"hf: \"{dataset['hf']}\""
    mapping = cols.dataset({}, keys[:1] + keys[-1:] if len(keys) > 1 else []).get("columns")
    renamed = ", columns: {" + ", ".join(f'{k}: "{v}"' for k, v in mapping.items()) + "}" if mapping else ""
    return ("write a task YAML, e.g. my-task.yaml:\n"
            f"  name: {name}\n"
            f"  dataset: {{{source}, splits: {{train: 0.8, validation: 0.1, test: 0.1}}{renamed}}}\n"
            "  metrics: [rougeL]\n"
            "  templates:\n"
            f"    - name: t\n      jinja: \"{{{{{first}}}}} ||| {{{{{last}}}}}\"\n"
            "then pass --task my-task.yaml (README: 'Your own data'). Column names read directly: "
            "messages, prompt/completion, instruction[/input]/output, question/answer, input/output, "
            "dialogue/summary, ...")
