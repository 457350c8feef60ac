"""Retrieval-augmented generation: retrieve chunks, fit them into the prompt, generate, cite.

The prompt is fitted to the decoder's context window the way few-shot prompts
are (``genlab.prompts``): the question and the answer budget are never cut;
the lowest-ranked passages are dropped until the prompt fits. A question that
does not fit on its own is an error the user sees.

Passages are labelled with their chunk ids (``[returns/shopright#2]``); the
answer's citations are the ids it names, and the sources are the chunks that
were in the prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from genlab.apps.index import Hit, RagIndex
from genlab.errors import GenlabError

INSTRUCTION = "Answer the question with a short phrase taken from the passages."
CLOSED_BOOK = "Answer the question with a short phrase."
# Two worked examples about a company that is in no index: they show the answer's form (a short
# phrase, not a sentence), which a small model does not infer from the instruction alone.
DEMOS = [("[demo#0] Acme Goods ships for free on orders over $60. Standard delivery from Acme Goods takes "
          "2 to 3 business days.", "What is the free shipping threshold at Acme Goods?", "$60"),
         ("[demo#1] An Acme Goods password reset link expires after 45 minutes.",
          "How long is an Acme Goods password reset link valid?", "45 minutes")]


@dataclass
class RagConfig:
    k: int = 5
    max_new_tokens: int = 48
    instruction: str = INSTRUCTION

    def __post_init__(self):
        if not isinstance(self.k, int) or self.k < 1:
            from genlab.errors import ConfigError

            raise ConfigError(f"k must be a whole number >= 1 (got {self.k!r})", where="-k")


@dataclass
class RagAnswer:
    question: str
    answer: str
    hits: list[Hit]  # retrieved, best first
    used: list[Hit]  # the ones that fit in the prompt
    prompt: str
    cited: list[str] = field(default_factory=list)  # chunk ids the answer names

    @property
    def context(self) -> str:
        return "\n".join(h.chunk.text for h in self.used)


def passage_block(hits: list[Hit]) -> str:
    return "\n".join(f"[{h.chunk.chunk_id}] {' '.join(h.chunk.text.split())}" for h in hits)


def rag_messages(question: str, hits: list[Hit], instruction: str = INSTRUCTION, demos: bool = True) -> list[dict]:
    """The worked examples as earlier chat turns (a small chat model copies the form of its own past
    replies far better than examples pasted into one message), then the question with its passages."""
    turns = [(f"Passages:\n{p}\nQuestion: {q}", a) for p, q, a in DEMOS] if demos else []
    return _messages(instruction, turns, f"Passages:\n{passage_block(hits)}\nQuestion: {question}")


def closed_book_messages(question: str, demos: bool = True) -> list[dict]:
    turns = [(f"Question: {q}", a) for _, q, a in DEMOS] if demos else []
    return _messages(CLOSED_BOOK, turns, f"Question: {question}")


def _messages(instruction: str, turns: list[tuple[str, str]], last: str) -> list[dict]:
    out = []
    for i, (user, reply) in enumerate(turns):
        out += [{"role": "user", "content": f"{instruction}\n\n{user}" if i == 0 else user},
                {"role": "assistant", "content": reply}]
    return out + [{"role": "user", "content": last if turns else f"{instruction}\n\n{last}"}]


def render(tokenizer, messages: list[dict]) -> str:
    """The conversation in the model's chat template, or as plain ``Question/Answer`` text without one."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    text = "\n\n".join(m["content"] if m["role"] == "user" else f"Answer: {m['content']}" for m in messages)
    return text + "\nAnswer:"


def fit_passages(question: str, hits: list[Hit], tokenizer, budget: int | None, *,
                 instruction: str = INSTRUCTION) -> tuple[str, list[Hit]]:
    """The rendered prompt with as many top-ranked passages as fit in ``budget`` tokens (``None``: all).

    The worked examples give way first (a window too small for them), then the lowest-ranked passages."""
    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    demos = budget is None or count(render(tokenizer, rag_messages(question, hits[:1], instruction))) <= budget

    def final(used: list[Hit]) -> str:
        return render(tokenizer, rag_messages(question, used, instruction, demos))

    if budget is not None and count(final([])) > budget:
        raise GenlabError(f"the question alone is {count(final([]))} tokens, over the {budget}-token budget "
                          "of the context window", hint="shorten the question or lower --max-new-tokens")
    used = list(hits)
    while budget is not None and used and count(final(used)) > budget:
        used = used[:-1]  # the lowest-ranked passage gives way first
    return final(used), used


CITATION = re.compile(r"\[([^\[\]\s]+#\d+)\]")


def citations(answer: str, used: list[Hit]) -> list[str]:
    known = {h.chunk.chunk_id for h in used}
    return [c for c in dict.fromkeys(CITATION.findall(answer)) if c in known]


def retrieve(index: RagIndex, encoder, questions: list[str], k: int = 5) -> list[list[Hit]]:
    index.check_encoder(encoder)
    return index.search(encoder.encode(questions, label="embed questions"), k)


def answer_questions(lm, index: RagIndex, encoder, questions: list[str], cfg: RagConfig = RagConfig(), *,
                     hits: list[list[Hit]] | None = None, reporter=None) -> list[RagAnswer]:
    """Retrieve (unless ``hits`` are given), build fitted prompts and generate, batched."""
    from genlab.generation import GenerationConfig, generate

    hits = hits if hits is not None else retrieve(index, encoder, questions, cfg.k)
    budget = lm.context_window - cfg.max_new_tokens
    built = [fit_passages(q, h, lm.tokenizer, budget, instruction=cfg.instruction)
             for q, h in zip(questions, hits)]
    gen = GenerationConfig(max_new_tokens=cfg.max_new_tokens, stop=["\nQuestion:"])
    from genlab.progress import or_quiet

    with or_quiet(reporter).task("generate", total=len(questions)) as advance:
        outs = generate(lm, [p for p, _ in built], gen, progress=advance)
    return [RagAnswer(q, o.text.strip(), h, used, p, citations(o.text, used))
            for q, h, (p, used), o in zip(questions, hits, built, outs)]


def closed_book(lm, questions: list[str], *, max_new_tokens: int = 48, reporter=None) -> list[str]:
    """The same model, same question, no passages: the baseline RAG must beat."""
    from genlab.generation import GenerationConfig, generate
    from genlab.progress import or_quiet

    budget = lm.context_window - max_new_tokens

    def prompt(q: str) -> str:  # the worked examples give way in a small window, as in fit_passages
        text = render(lm.tokenizer, closed_book_messages(q))
        fits = len(lm.tokenizer(text, add_special_tokens=False)["input_ids"]) <= budget
        return text if fits else render(lm.tokenizer, closed_book_messages(q, demos=False))

    prompts = [prompt(q) for q in questions]
    gen = GenerationConfig(max_new_tokens=max_new_tokens, stop=["\nQuestion:"])
    with or_quiet(reporter).task("generate (closed-book)", total=len(questions)) as advance:
        return [o.text.strip() for o in generate(lm, prompts, gen, progress=advance)]
