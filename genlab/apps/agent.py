"""ReAct agents (Yao et al. 2023): Thought → Action → Observation, until ``finish[answer]`` or the step limit.

Each step the model continues the transcript; generation stops where it would
write its own ``Observation:``, so observations only ever come from tools. The
step's text must contain ``Action: tool[args]``; anything else is unparseable
and is sampled again (``retries`` times) before the run gives up. Tool errors
(unknown tool, wrong arguments, a locked database) are observations the model
reads, not crashes. The transcript keeps every step, raw text included.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from genlab.apps.tools import Registry

FINISH = "finish"
ACTION = re.compile(r"^\s*Action\s*:\s*([A-Za-z_][\w-]*)\s*\[(.*)\]\s*$", re.M)
THOUGHT = re.compile(r"Thought\s*:\s*(.*?)(?=\n\s*Action\s*:|\Z)", re.S)
INSTRUCTION = """Answer the question with the tools below. Tools:
{tools}
- finish[answer]: give the final answer (short: yes, no, an amount, a status or an item).

Use exactly this format, one action per step:
Thought: what to do next
Action: tool[argument]
Then wait for the Observation. End with Action: finish[answer].

Question: {question}"""


class ParseError(ValueError):
    pass


@dataclass
class Step:
    thought: str
    tool: str
    args: str
    raw: str = ""
    observation: str = ""
    ok: bool = True
    attempts: int = 1  # generations needed to get a parseable step


def parse_step(text: str) -> Step:
    """The first ``Action: tool[args]`` of a step (and its thought); ``ParseError`` when there is none.

    Text after a model-written ``Observation:`` is ignored: the model may not invent tool results.
    """
    text = re.split(r"\n\s*Observation\s*:", text, maxsplit=1)[0]
    m = ACTION.search(text)
    if not m:
        raise ParseError("no line of the form 'Action: tool[argument]'")
    thought = THOUGHT.search(text[:m.start()] + "\n")
    return Step(thought.group(1).strip() if thought else "", m.group(1), m.group(2).strip(), raw=text.strip())


@dataclass
class AgentConfig:
    max_steps: int = 6
    retries: int = 2  # extra sampled generations for an unparseable step
    max_new_tokens: int = 64
    temperature: float = 0.7  # for retries only; the first try is greedy
    seed: int = 0


@dataclass
class AgentRun:
    question: str
    answer: str | None
    steps: list[Step] = field(default_factory=list)
    parse_attempts: int = 0
    parse_failures: int = 0
    stopped: str = ""  # finish | step_limit | unparseable

    def transcript(self) -> str:
        out = [f"Question: {self.question}"]
        for s in self.steps:
            out += [f"Thought: {s.thought}", f"Action: {s.tool}[{s.args}]"]
            if s.tool != FINISH:
                out.append(f"Observation: {s.observation}")
        out.append(f"Answer: {self.answer}" if self.answer is not None else f"(no answer: {self.stopped})")
        return "\n".join(out)

    def to_dict(self) -> dict:
        return dict(question=self.question, answer=self.answer, stopped=self.stopped,
                    parse_attempts=self.parse_attempts, parse_failures=self.parse_failures,
                    steps=[asdict(s) for s in self.steps])


def step_text(s: Step) -> str:
    text = f"Thought: {s.thought}\nAction: {s.tool}[{s.args}]\n"
    return text + (f"Observation: {s.observation}\n" if s.tool != FINISH else "")


def agent_prompt(tokenizer, question: str, tools: Registry, steps: list[Step]) -> str:
    """The instruction as the user's turn; the transcript so far as the start of the assistant's reply."""
    from genlab.apps.rag import render

    head = render(tokenizer, [{"role": "user",
                               "content": INSTRUCTION.format(tools=tools.describe(), question=question)}])
    return head + "".join(step_text(s) for s in steps) + "Thought:"


def run_agent(lm, question: str, tools: Registry, cfg: AgentConfig = AgentConfig()) -> AgentRun:
    """One ReAct episode."""
    run = AgentRun(question, None)
    for _ in range(cfg.max_steps):
        step = _next_step(lm, question, tools, run, cfg)
        if step is None:
            run.stopped = "unparseable"
            return run
        run.steps.append(step)
        if step.tool == FINISH:
            run.answer, run.stopped = step.args, "finish"
            return run
        step.observation, step.ok = tools.run(step.tool, step.args)
    run.stopped = "step_limit"
    return run


def _next_step(lm, question: str, tools: Registry, run: AgentRun, cfg: AgentConfig) -> Step | None:
    from genlab.generation import GenerationConfig, generate

    prompt = agent_prompt(lm.tokenizer, question, tools, run.steps)
    for attempt in range(cfg.retries + 1):
        sample = attempt > 0  # greedy first; a greedy retry would repeat the same text
        gen = GenerationConfig(max_new_tokens=cfg.max_new_tokens, stop=["Observation:"], do_sample=sample,
                               temperature=cfg.temperature if sample else 1.0, seed=cfg.seed + attempt)
        text = "Thought:" + generate(lm, [prompt], gen, on_overflow="truncate")[0].text
        run.parse_attempts += 1
        try:
            step = parse_step(text)
        except ParseError:
            run.parse_failures += 1
            continue
        step.attempts = attempt + 1
        return step
    return None
