"""Reasoning as eval options on any generate task: chain-of-thought, program-aided, self-consistency.

- **CoT** (Wei et al. 2022, "Chain-of-Thought Prompting Elicits Reasoning in LLMs"): every
  prompt ends with "Let's think step by step." (Kojima et al. 2022) and each few-shot
  demonstration shows a worked solution: the row's ``rationale`` field where the data has
  one (it ends "The answer is X."), else just "The answer is <target>.". The answer is
  read back after the last "The answer is".
- **PAL** (Gao et al. 2023, "PAL: Program-aided Language Models"): demonstrations show the
  row's ``program`` (Python that prints the answer); the model's program runs in
  ``genlab.apps.sandbox`` and the answer is the last line it printed.
- **Self-consistency** (Wang et al. 2023): ``k`` sampled generations per prompt (temperature
  0.7 unless ``generation`` says otherwise), answers extracted, and the most frequent one
  wins (ties: the one seen first). Works with direct answers, CoT and PAL.

The task's metrics then score the voted answer against the task's own target.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from genlab.errors import ConfigError

COT_TRIGGER = "Let's think step by step."
PAL_TRIGGER = "Let's write a Python program that prints the answer."
SC_TEMPERATURE = 0.7
MIN_NEW_TOKENS = {"cot": 160, "pal": 160}
_ANSWER_IS = re.compile(r"answer is:?\s*(.+?)(?:\.\s|\.?$|\n)", re.IGNORECASE | re.MULTILINE)
_FENCE = re.compile(r"```(?:python)?\n(.*?)(?:```|$)", re.DOTALL)


def mode_of(cfg) -> str:
    return "pal" if getattr(cfg, "pal", False) else "cot" if getattr(cfg, "cot", False) else "direct"


def is_reasoning(cfg) -> bool:
    return mode_of(cfg) != "direct" or getattr(cfg, "self_consistency", 1) > 1


# -- prompts -------------------------------------------------------------------
@dataclass
class ReasoningTemplate:
    """Wraps one prompt variant of a task: same prompt plus a trigger; the target becomes the worked
    solution (CoT) or the program (PAL), so few-shot demonstrations show how to reason."""

    variant: Any  # genlab.tasks.Variant
    mode: str

    @property
    def name(self) -> str:
        return self.variant.name

    @property
    def fields(self) -> set[str]:
        return set(self.variant.template.fields)

    @property
    def input_fields(self) -> set[str]:
        return set(getattr(self.variant.template, "input_fields", self.fields))

    def choices(self, row: dict, where: str | None = None):
        return None

    def render(self, row: dict, **_: Any) -> tuple[str, str]:
        prompt, target = self.variant.render(row)
        if self.mode == "cot":
            return f"{prompt} {COT_TRIGGER}", row.get("rationale") or f"The answer is {target}."
        return f"{prompt} {PAL_TRIGGER}", row.get("program") or f"print({target!r})"


def reasoning_task(task, cfg):
    """The task with CoT/PAL templates and room to reason (``max_new_tokens``, a stop at a blank line)."""
    mode = mode_of(cfg)
    if task.output_type != "generate":
        raise ConfigError(f"--cot/--pal/--self-consistency need a generate task; {task.name} is {task.output_type}",
                          where="EvalConfig", hint="use them with generate tasks such as word-math")
    if mode == "direct":
        return task
    generation = dict(task.generation or {})
    asked = (cfg.generation or {}).get("max_new_tokens")  # the user's override is what the run will use
    generation["max_new_tokens"] = asked or max(int(generation.get("max_new_tokens", 0)), MIN_NEW_TOKENS[mode])
    generation["stop"] = ["\n\n"]  # a worked solution or a program may span lines; a blank line ends it
    templates = [ReasoningTemplate(v, mode) for v in task.variants()]
    return dataclasses.replace(task, templates=templates, generation=generation, postprocess=["strip"])


def with_task_targets(task, requests: list, template) -> list:
    """Put the original task's target back on each request (the reasoning task's target is a rationale)."""
    variant = task.variant(template)
    out = []
    for r in requests:
        target = variant.render(r.raw)[1]
        out.append(dataclasses.replace(r, target=target))
    return out


# -- answers -------------------------------------------------------------------
def extract_answer(text: str) -> str | None:
    """The answer in a CoT text: after the last "The answer is", else its last non-empty line."""
    text = (text or "").split("\n\n")[0].strip()
    found = _ANSWER_IS.findall(text)
    if found:
        return found[-1].strip().rstrip(".").strip() or None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else None


def extract_program(text: str) -> str:
    """The code in a PAL generation: inside the first fenced block if any, else up to the first blank line."""
    fenced = _FENCE.search(text or "")
    code = fenced.group(1) if fenced else (text or "").split("\n\n")[0]
    return code.strip("\n")


def program_answer(text: str, limits=None) -> tuple[str | None, dict]:
    """Run the model's program in the sandbox; its answer is the last line it printed."""
    from genlab.apps.sandbox import run_python

    code = extract_program(text)
    result = run_python(code, limits)
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    answer = lines[-1] if result.ok and lines else None
    return answer, {"program": code, "ok": result.ok, "error": result.error, "killed_by": result.killed_by}


def vote_key(answer: str) -> str:
    """Answers that mean the same vote together: numbers by value, text case/space-insensitively."""
    from genlab.evaluation.metrics.answer import parse_number

    number = parse_number(answer.strip())
    if number is not None:
        return f"{round(number, 6):g}"
    return " ".join(answer.lower().split())


def majority_vote(answers: list[str | None]) -> tuple[str | None, dict[str, int]]:
    """The most frequent answer (None abstains; ties go to the answer seen first) and the vote counts."""
    keyed = [(vote_key(a), a) for a in answers if a is not None and a.strip()]
    if not keyed:
        return None, {}
    counts = Counter(k for k, _ in keyed)
    best = max(counts.values())
    winner = next(a for k, a in keyed if counts[k] == best)
    return winner, dict(counts)


def answer_of(text: str, mode: str) -> tuple[str | None, dict]:
    if mode == "pal":
        return program_answer(text)
    if mode == "cot":
        return extract_answer(text), {}
    return (text or "").strip() or None, {}


# -- the model step ------------------------------------------------------------
def sampling_config(config, k: int, overrides: dict | None):
    """``k`` > 1 samples per prompt; sampling at 0.7 unless the user set do_sample/temperature."""
    if k <= 1:
        return config
    changes: dict[str, Any] = {"num_return_sequences": k}
    if "do_sample" not in (overrides or {}):
        changes["do_sample"] = True
    if "temperature" not in (overrides or {}):
        changes["temperature"] = SC_TEMPERATURE
    return dataclasses.replace(config, **changes)


def run_reasoning(lm, task, requests, cfg, precision: str, reporter):
    """Generate (k per prompt), extract or execute, vote: ``ModelOutputs`` like ``run_generate``'s."""
    from genlab.evaluation import postprocess
    from genlab.evaluation.generate_outputs import (cached_generate, generation_config, prompts_in_chat_format,
                                                    task_origin)
    from genlab.evaluation.outputs import ModelOutputs

    mode, k = mode_of(cfg), cfg.self_consistency
    config = sampling_config(generation_config(task, cfg.generation), k, cfg.generation)
    clean = postprocess.build(list(task.postprocess or []), where=f"{task_origin(task)}: postprocess")
    prompts = [r.prompt for r in requests]
    with reporter.task(f"generate ({mode}, k={k})", len(prompts)) as advance:
        outs, facts = cached_generate(lm, prompts, config, chat=False, batch_size=cfg.batch_size,
                                      precision=precision, use_cache=cfg.cache, progress=advance,
                                      batch_invariant=cfg.batch_invariant)
    preds, samples = [], []
    with reporter.task("answers" if mode != "pal" else "run programs", len(outs)) as advance:
        for r, o in zip(requests, outs):
            pred, row = _one(r, o, mode, clean)
            preds.append(pred)
            samples.append(row)
            advance(1)
    secs = facts["seconds"]
    throughput = {"examples_per_s": facts["misses"] / secs if secs > 0 else None,
                  "tokens_per_s": facts["new_tokens"] / secs if secs > 0 else None,
                  "new_tokens": facts["new_tokens"], "generated": facts["misses"], "cached": facts["hits"]}
    return ModelOutputs(preds, [r.target for r in requests], samples, secs, throughput,
                        {k_: facts[k_] for k_ in ("enabled", "hits", "misses")},
                        generation=config.to_dict(), chat=prompts_in_chat_format(lm, task, cfg.chat))


def _one(request, out: dict, mode: str, clean) -> tuple[str, dict]:
    answers, details = [], []
    for text in out["texts"]:
        answer, detail = answer_of(text, mode)
        answers.append(clean(answer) if answer is not None else None)
        details.append({"text": text, "answer": answer, **detail})
    winner, votes = majority_vote(answers)
    row = {"doc_id": request.doc_id, "prompt": request.prompt, "prediction": winner or "",
           "raw_prediction": out["texts"][0], "reference": request.target,
           "shots_used": getattr(request, "shots_used", 0), "prompt_tokens": out["prompt_tokens"],
           "new_tokens": sum(out["new_tokens"] or []) or None, "reasoning": mode, "votes": votes,
           "generations": details}
    return winner or "", row
