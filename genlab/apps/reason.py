"""Ask a model one problem and let it reason: direct, chain-of-thought, self-consistency or PAL.

    from genlab.apps.reason import ask
    out = ask("smollm2-135m-instruct", "Ana buys 3 mugs at $4.50 each. How much does she pay?", method="pal")
    out.answer, out.votes, out.generations[0]["program"]

The prompts are those of ``genlab eval --cot/--pal/--self-consistency`` (``genlab.evaluation.reasoning``):
few-shot demonstrations from a task's train split (``word-math`` by default), so one problem
asked here is one prompt of the evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genlab.errors import ConfigError

METHODS = ("direct", "cot", "sc", "pal")


@dataclass
class Reasoned:
    """One problem's outcome: the (voted) answer, each generation with its extracted answer, the votes."""

    problem: str
    method: str
    answer: str | None
    prompt: str
    generations: list[dict[str, Any]] = field(default_factory=list)
    votes: dict[str, int] = field(default_factory=dict)


def eval_options(method: str, samples: int = 5) -> dict[str, Any]:
    """The ``EvalConfig`` fields that mean ``method`` (``sc`` = chain-of-thought with ``samples`` votes)."""
    if method not in METHODS:
        raise ConfigError(f"unknown reasoning method {method!r}", where="--method", hint=f"one of {', '.join(METHODS)}")
    if samples < 1:
        raise ConfigError(f"samples must be >= 1, got {samples}", where="--samples")
    return {"direct": {}, "cot": {"cot": True}, "pal": {"pal": True},
            "sc": {"cot": True, "self_consistency": samples}}[method]


def ask(model, problem: str, method: str = "cot", *, samples: int = 5, shots: int = 3, task: str = "word-math",
        seed: int = 0, precision: str = "auto", generation: dict | None = None) -> Reasoned:
    """Answer ``problem`` with ``method``; ``model`` is a name or a loaded model (``genlab.models.load``)."""
    from genlab.evaluation import EvalConfig
    from genlab.evaluation import reasoning
    from genlab.models import as_loaded
    from genlab.tasks import load_task

    if not problem or not problem.strip():
        raise ConfigError("the problem is empty", hint='e.g. genlab reason ask "Ana buys 3 mugs at $4 each. Total?"')
    cfg = EvalConfig(shots=shots, seed=seed, precision=precision, generation=dict(generation or {}),
                     **eval_options(method, samples))
    lm = as_loaded(model, precision=precision)
    base = load_task(task) if isinstance(task, str) else task
    rtask = reasoning.reasoning_task(base, cfg)
    prompt = _prompt(rtask, problem.strip(), cfg, lm)
    config = reasoning.sampling_config(_generation(rtask, cfg), cfg.self_consistency, cfg.generation)
    from genlab.generation import generate

    gen = generate(lm, [prompt], config, chat=False, precision=precision)[0]
    mode = reasoning.mode_of(cfg)
    details = []
    for text in gen.texts:
        answer, detail = reasoning.answer_of(text, mode)
        details.append({"text": text, "answer": answer, **detail})
    winner, votes = reasoning.majority_vote([d["answer"] for d in details])
    return Reasoned(problem.strip(), method, winner, prompt, details, votes)


def _generation(task, cfg):
    from genlab.generation import GenerationConfig

    return GenerationConfig.from_dict({**dict(task.generation or {}), **cfg.generation}, where="generation")


def _prompt(task, problem: str, cfg, lm) -> str:
    """The eval's prompt for a new problem: the task's template and seeded demonstrations."""
    from genlab.prompts import build_prompt, select_shots

    variant = task.variant(cfg.template_key())
    row = {name: "" for name in variant.template.fields} | {_question_field(variant): problem}
    pool = task.examples(task.fewshot_split) if cfg.shots else []
    picked = select_shots(pool, cfg.shots or 0, seed=cfg.seed, doc_id=0)
    budget = None
    if lm.context_window:
        budget = lm.context_window - int(task.generation.get("max_new_tokens", 0))
    built = build_prompt(row, variant.render, picked, config=task.fewshot, tokenizer=lm.tokenizer,
                         max_tokens=budget, chat=False, where="problem", fields=variant.template.fields)
    return built.prompt


def _question_field(variant) -> str:
    fields = sorted(getattr(variant.template, "input_fields", variant.template.fields))
    if "question" in fields:
        return "question"
    if len(fields) != 1:
        raise ConfigError(f"cannot tell which of the task's fields ({', '.join(fields)}) holds the problem",
                          hint="use a task whose prompt has one input field, or one named question")
    return fields[0]
