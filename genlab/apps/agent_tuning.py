"""A LoRA format adapter for the ReAct agent: tuned on gold transcripts made by a scripted teacher.

The course's answer when a small model cannot follow an application's format
zero-shot: tune it on examples of the format. The teacher knows how each
``orders-agent`` question kind is solved (look the order up; for returns, search
the company's return window and count the days since delivery) and runs the
real tools, so every observation in a training transcript is what the tools
return. Each step becomes one training pair: the prompt is the transcript so
far (exactly as the agent renders it), the target the next ``Thought/Action``.
Questions come from the task's train split only.
"""

from __future__ import annotations

import re

from genlab.apps.agent import FINISH, Step, agent_prompt
from genlab.apps.tools import Registry


def _step(tools: Registry, thought: str, tool: str, args: str) -> Step:
    s = Step(thought, tool, args)
    if tool != FINISH:
        s.observation, s.ok = tools.run(tool, args)
    return s


def _field(observation: str, key: str) -> str:
    for part in observation.split("; "):
        if part.startswith(f"{key}: "):
            return part[len(key) + 2:]
    return ""


def teacher_steps(row: dict, tools: Registry) -> list[Step]:
    """A correct transcript for one ``orders-agent`` question (its final answer is the gold answer)."""
    number = row["order_number"]
    look = _step(tools, f"I need to look up order {number}.", "get_order", number)
    steps = [look]
    if row["kind"] != "can_return":
        key = {"total": "total", "status": "status", "item": "item"}[row["kind"]]
        # the thought copies the value out of the observation, so the answer copies it from one line up
        steps.append(_step(tools, f"The order's {key} is {_field(look.observation, key)}.", FINISH, row["answer"]))
        return steps
    status, company = _field(look.observation, "status"), _field(look.observation, "company")
    if status != "delivered":
        steps.append(_step(tools, f"The order is {status}, not delivered, so it cannot be returned now.",
                           FINISH, "no"))
        return steps
    delivered = _field(look.observation, "delivered_date")
    steps.append(_step(tools, f"It was delivered by {company}. I need {company}'s return window.", "search",
                       f"{company} return window"))
    steps.append(_step(tools, f"Now I need the days since delivery on {delivered}.", "days_since", delivered))
    window = re.search(r"within (\d+) days of delivery", steps[1].observation)
    limit = f"the {window.group(1)}-day" if window else "the"
    verdict = "within" if row["answer"] == "yes" else "outside"
    steps.append(_step(tools, f"{steps[-1].observation} days since delivery is {verdict} {limit} return window.",
                       FINISH, row["answer"]))
    return steps


class TranscriptTask:
    """Duck-typed task for ``genlab.tuning.tune``: (prompt so far, next step) pairs from teacher transcripts."""

    name = "orders-agent-react"
    output_type = "generate"

    def __init__(self, tools: Registry):
        from genlab.tasks import load_task

        self.tools, self.task = tools, load_task("orders-agent")

    def split_names(self) -> list[str]:
        return ["train", "validation"]

    def training_pairs(self, split: str = "train", *, n: int | None = None, seed: int = 0, tokenizer=None,
                       **_) -> list[tuple[str, str]]:
        pairs = []
        for row in self.task.examples(split):
            steps = teacher_steps(row, self.tools)
            for i, s in enumerate(steps):
                prompt = agent_prompt(tokenizer, row["question"], self.tools, steps[:i])
                pairs.append((prompt, f" {s.thought}\nAction: {s.tool}[{s.args}]"))
            if n is not None and len(pairs) >= n:
                break
        return pairs[:n] if n is not None else pairs
