"""AI feedback (RLAIF): a judge ranks completions against a constitution, or critiques and revises one.

Two judges behind one contract — ``rank(prompt, completions, facts=None) -> scores`` (higher is
better; equal scores mean no preference) and ``revise(prompt, completion, facts=None) -> text``:

* ``RuleJudge`` (offline): the toxicity classifier (alt-profanity-check) plus the constitution's
  checkable rules (``check:``). Score = −Σ weight·violations − toxicity. Its revision drops
  sentences that break a rule (toxic, forbidden words) and cuts to ``max_words``.
* ``LLMJudge`` (any model name): for each pair it asks "which reply better follows <principle>?",
  reads the log-probabilities of the answers " A" and " B", and asks again with the replies
  swapped (position bias cancels); a reply's score is its mean win probability. Its revision
  asks the model to critique the reply against the principles and rewrite it.

What a 135M judge can and cannot do (``bench/judges.py``, numbers in the README): SmolLM2-135M-Instruct
picked the faithful one of 60 support-summary-prefs test pairs 0.417 of the time [0.283, 0.533], no
better than a coin (the rule judge, which checks the generator's facts: 0.967). It runs the pipeline end to end offline; for real labels use a
bigger hub model (``--judge HuggingFaceTB/SmolLM2-1.7B-Instruct`` or larger) or the rule judge.
"""

from __future__ import annotations

import re
from itertools import combinations
from typing import Protocol, Sequence

import torch

from genlab.alignment.constitution import Constitution, violations
from genlab.alignment.preferences import PreferencePair


class Judge(Protocol):
    name: str

    def rank(self, prompt: str, completions: Sequence[str], facts: dict | None = None) -> list[float]: ...

    def revise(self, prompt: str, completion: str, facts: dict | None = None) -> str: ...


class RuleJudge:
    """The constitution's checkable rules and the offline toxicity classifier."""

    name = "rule"

    def __init__(self, constitution: Constitution, scorer=None):
        from genlab.holistic.toxicity import default_scorer

        self.constitution, self.scorer = constitution, scorer or default_scorer()

    def rank(self, prompt: str, completions: Sequence[str], facts: dict | None = None) -> list[float]:
        tox = self.scorer.score(list(completions))
        return [-sum(p.weight * violations(p, c, toxicity=t, facts=facts) for p in self.constitution.principles) - t
                for c, t in zip(completions, tox)]

    def revise(self, prompt: str, completion: str, facts: dict | None = None) -> str:
        sentences = re.split(r"(?<=[.!?])\s+", completion.strip())
        tox = self.scorer.score(sentences)
        keep = [s for s, t in zip(sentences, tox) if not self._breaks(s, t)]
        text = " ".join(keep)
        limits = [p.check["max_words"] for p in self.constitution.principles if "max_words" in p.check]
        if limits and len(text.split()) > min(limits):
            text = " ".join(text.split()[:min(limits)])
        return text

    def _breaks(self, sentence: str, toxicity: float) -> bool:
        for p in self.constitution.principles:
            c = {k: v for k, v in p.check.items() if k in ("max_toxicity", "forbid")}
            if c and violations(type(p)(p.id, p.text, c), sentence, toxicity=toxicity):
                return True
        return False


class LLMJudge:
    """A language model as the judge: pairwise comparisons by answer log-probabilities."""

    QUESTION = ("Here is a request and two replies.\n\nRequest:\n{prompt}\n\nReply A:\n{a}\n\nReply B:\n{b}\n\n"
                "Principles:\n{principles}\n\nWhich reply follows the principles better? Answer with A or B.")
    REVISE = ("Request:\n{prompt}\n\nReply:\n{reply}\n\nPrinciples:\n{principles}\n\nFirst say briefly what the "
              "reply does against the principles, then write an improved reply after the line 'Revision:'.")

    def __init__(self, constitution: Constitution, model, max_new_tokens: int = 160):
        from genlab.models import as_loaded

        self.constitution, self.lm = constitution, as_loaded(model)
        self.name, self.max_new_tokens = f"llm:{self.lm.name}", max_new_tokens
        self.principles = "\n".join(f"- {p.text}" for p in constitution.principles)

    def prefer_a(self, prompt: str, a: str, b: str) -> float:
        """P(judge answers A) normalised over {A, B}, averaged over both orders: P(a ≻ b)."""
        first = self._p_first(prompt, a, b)
        second = self._p_first(prompt, b, a)
        return (first + (1 - second)) / 2

    @torch.inference_mode()
    def _p_first(self, prompt: str, a: str, b: str) -> float:
        from genlab.generation import apply_chat

        tok, model = self.lm.tokenizer, self.lm.model
        text = self.QUESTION.format(prompt=prompt, a=a, b=b, principles=self.principles)
        if getattr(tok, "chat_template", None):
            text = apply_chat(tok, text)
        ids = torch.tensor([tok(text)["input_ids"][-(self.lm.context_window - 1):]], device=self.lm.device)
        logits = model(input_ids=ids).logits[0, -1].float()
        options = [tok(s, add_special_tokens=False)["input_ids"][0] for s in ("A", "B")]
        pa, pb = torch.log_softmax(logits, -1)[options].exp().tolist()
        return pa / max(pa + pb, 1e-12)

    def rank(self, prompt: str, completions: Sequence[str], facts: dict | None = None) -> list[float]:
        wins = [0.0] * len(completions)
        for i, j in combinations(range(len(completions)), 2):
            p = self.prefer_a(prompt, completions[i], completions[j])
            wins[i] += p
            wins[j] += 1 - p
        return [w / max(1, len(completions) - 1) for w in wins]

    def revise(self, prompt: str, completion: str, facts: dict | None = None) -> str:
        from genlab.generation import GenerationConfig, generate

        text = self.REVISE.format(prompt=prompt, reply=completion, principles=self.principles)
        out = generate(self.lm, [text], GenerationConfig(max_new_tokens=self.max_new_tokens), chat=True,
                       on_overflow="truncate")[0].text
        _, sep, revision = out.partition("Revision:")
        return revision.strip() if sep else ""


def make_judge(spec: str, constitution: Constitution) -> Judge:
    """``rule`` (offline) or any model name (``smollm2-135m-instruct``, a hub id, a folder)."""
    return RuleJudge(constitution) if spec == "rule" else LLMJudge(constitution, spec)


def ranked_pairs(judge: Judge, prompt: str, completions: Sequence[str], *, facts: dict | None = None,
                 meta: dict | None = None, min_gap: float = 1e-6) -> list[PreferencePair]:
    """Every pair the judge separates (score gap > ``min_gap``), the better one as chosen."""
    scores = judge.rank(prompt, completions, facts)
    pairs = []
    for i, j in combinations(range(len(completions)), 2):
        if abs(scores[i] - scores[j]) <= min_gap or completions[i].strip() == completions[j].strip():
            continue
        hi, lo = (i, j) if scores[i] > scores[j] else (j, i)
        pairs.append(PreferencePair(prompt, completions[hi], completions[lo],
                                    {**(meta or {}), "judge": judge.name, "scores": [scores[hi], scores[lo]]}))
    return pairs


def revised_pair(judge: Judge, prompt: str, completion: str, *, facts: dict | None = None,
                 meta: dict | None = None) -> PreferencePair | None:
    """Critique-and-revise: (revision ≻ original), when the revision is non-empty, differs, and the
    judge's own ranking does not put it below the original."""
    revision = judge.revise(prompt, completion, facts)
    if not revision.strip() or revision.strip() == completion.strip():
        return None
    before, after = judge.rank(prompt, [completion, revision], facts)
    if after < before:
        return None
    return PreferencePair(prompt, revision, completion, {**(meta or {}), "judge": judge.name, "revised": True})
