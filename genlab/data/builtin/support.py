"""Customer-support dialogues with reference summaries, extraction targets and their facts.

One generator feeds ``support-summary`` (dialogue -> short summary) and
``support-extract`` (dialogue -> JSON of customer name, order number, product,
requested action). A dialogue is planned from a scenario (``_support_scenarios``:
12 industries, 48 scenario types), an ending (resolved, resolved after a
rejected offer, escalated, transferred, failed) and a customer's writing style
(tidy, casual, fragments over several messages, typos, angry); the summary is
composed from the same plan by one of many summary styles (``_support_text``),
so every fact it states (names, reference numbers, amounts, dates) is one the
dialogue contains. The row's ``facts`` holds those slot values for the
``fact_accuracy`` metric.

``part="unseen"`` draws scenario types, companies, items, names and dialogue
phrasings that ``part="seen"`` (train, validation, test) never uses: the
``test-unseen`` split.
"""

from __future__ import annotations

import json
import random
import re

from genlab.data.builtin import _support_text as T
from genlab.data.builtin._common import (AGENTS, amount, check_part, day_of_year, format_day, halves, person, pick,
                                          sentence_case)
from genlab.data.builtin._support_scenarios import CITIES, INDUSTRIES, REF_LABELS, SCENARIOS

SCENARIO_PARTS = {"seen": [s for s in SCENARIOS if not s.get("unseen")],
                  "unseen": [s for s in SCENARIOS if s.get("unseen")]}
COMPANIES = {k: halves(v["companies"]) for k, v in INDUSTRIES.items()}
ITEMS = {k: halves(v["items"]) for k, v in INDUSTRIES.items()}
CITY = halves(CITIES)
STYLES = ["tidy", "tidy", "casual", "casual", "fragments", "typos", "angry"]
ENDINGS = ["resolved"] * 9 + ["pushback"] * 2 + ["escalated"] * 2 + ["transferred", "failed", "rejected"]
MAX_TURNS = 20


def _ref(rng: random.Random, kind: str) -> str:
    letters = "ABCDEFGHKMNPRSTW"
    if kind == "order":
        return str(rng.randint(100000, 999999)) if rng.random() < 0.6 else \
            f"{rng.choice(letters)}{rng.choice(letters)}-{rng.randint(10000, 99999)}"
    if kind == "booking":
        return "".join(rng.choice(letters + "23456789") for _ in range(6))
    if kind == "card":
        return f"{rng.randint(0, 9999):04d}"
    prefix = {"account": "", "patient": "P", "member": "M", "policy": "POL-"}[kind]
    return f"{prefix}{rng.randint(10 ** 6, 10 ** 7 - 1)}"


def scenario_slots(rng: random.Random, scenario: dict, part: str = "seen") -> dict:
    """Every slot value a scenario's phrasings may use (the dialogue mentions a subset)."""
    industry = INDUSTRIES[scenario["industry"]]
    item = rng.choice(ITEMS[scenario["industry"]][part])
    past = day_of_year(rng)
    hour = rng.choice([9, 10, 11, 12, 1, 2, 3, 4, 5, 6, 7, 8])
    return dict(item=item, a_item=("an " if item[0] in "aeiou" else "a ") + item,
                company=rng.choice(COMPANIES[scenario["industry"]][part]), ref=_ref(rng, industry["ref"]),
                ref_label=rng.choice(REF_LABELS[industry["ref"]]), date=format_day(rng, past),
                new_date=format_day(rng, day_of_year(rng, after=past)), amount=amount(rng),
                days=str(rng.choice([2, 3, 5, 7, 10, 14])), time=f"{hour}:{rng.choice(['00', '30', '15'])}",
                city=rng.choice(CITY[part]), last4=f"{rng.randint(0, 9999):04d}",
                case=str(rng.randint(10000, 99999)), team=industry["team"])


class Dialogue:
    """Turns as (role, text); customer text passes through the customer's writing style."""

    def __init__(self, rng: random.Random, style: str, protect: set[str]):
        self.rng, self.style, self.protect, self.turns = rng, style, protect, []

    def agent(self, text: str) -> None:
        self.turns.append(("agent", text))

    def customer(self, text: str) -> None:
        for piece in T.styled(self.rng, text, self.style, self.protect):
            self.turns.append(("customer", piece))

    def text(self) -> str:
        return " ".join(t for _, t in self.turns)


def _opening(d: Dialogue, rng, scenario, s, who, part) -> bool:
    """Greeting and the problem; returns whether the customer already gave their name."""
    if rng.random() < 0.6:
        d.agent(pick(rng, T.GREET_AGENT[part], **who, company=s["company"]))
    named = rng.random() < 0.4
    intro = pick(rng, T.INTRO[part], **who) if named else ""
    d.customer(sentence_case(rng.choice(T.GREET_CUSTOMER[part]) + intro + pick(rng, scenario["open"], **s)))
    if d.style == "fragments" or rng.random() < 0.2:
        d.customer(pick(rng, T.FOLLOW_UP[part], **s))  # a second message before the agent answers
    return named


def _identify(d: Dialogue, rng, scenario, s, who, named, part) -> None:
    """The agent asks for the reference number (and name); the customer gives them."""
    ask = pick(rng, T.ASK_REF[part], label=s["ref_label"])
    d.agent(f"{rng.choice(T.ACK[part])} {ask}" + ("" if named else f" {rng.choice(T.ASK_NAME[part])}"))
    if rng.random() < 0.15:
        d.customer(rng.choice(T.LOOKING[part]))
    give = pick(rng, T.GIVE_REF[part], ref=s["ref"], label=s["ref_label"])
    d.customer(give + ("" if named else " " + pick(rng, T.GIVE_NAME[part], **who)))
    if s["item"] not in d.text():  # the extraction target must be in the text
        d.customer(pick(rng, T.ITEM_NOTE[part], **s))


def _middle(d: Dialogue, rng, scenario, s, events, part) -> None:
    """Hold, check, a change of topic, anger: what makes dialogues differ."""
    if rng.random() < 0.4:
        d.agent(rng.choice(T.HOLD_AGENT[part]))
        if rng.random() < 0.6:
            d.customer(rng.choice(T.HOLD_CUSTOMER[part]))
    d.agent(pick(rng, scenario["check"], **s))
    if rng.random() < 0.25:
        question, answer, topic = rng.choice(T.ASIDES[part])
        d.customer(question.format(**s))
        d.agent(answer.format(**s))
        events["aside"] = topic
    if d.style == "angry" or rng.random() < 0.1:
        d.customer(rng.choice(T.ANGER[part]))
        d.agent(rng.choice(T.CALM[part]))
        events["angry"] = True


def _ending(d: Dialogue, rng, scenario, s, who, events) -> tuple[str, int | None]:
    """The ending; returns the summary's outcome clause and the index of the agreed fix (None if none)."""
    kind = rng.choice(ENDINGS)
    order = rng.sample(range(len(scenario["fixes"])), k=len(scenario["fixes"]))
    if kind in ("pushback", "rejected") and len(order) > 1:
        said, did = scenario["fixes"][order[0]]
        d.agent(said.format(**s))
        d.customer(rng.choice(T.PUSHBACK))
        if kind == "rejected":
            d.agent(rng.choice(T.NOTHING_MORE))
            d.customer(rng.choice(T.LEAVE))
            events["rejected"] = did.format(**s)
            return pick(rng, T.REJECTED_DID, **s), None
        events["pushback"] = True
        order = order[1:]
    if kind in ("escalated", "transferred", "failed"):
        return _unresolved(d, rng, kind, {**s, **who}, events), None
    said, did = scenario["fixes"][order[0]]
    d.agent(said.format(**s))
    d.customer(rng.choice(T.ACCEPT))
    return did.format(**s), order[0]


def _unresolved(d: Dialogue, rng, kind, s, events) -> str:
    said, reply, did = rng.choice(T.UNRESOLVED[kind])
    d.agent(said.format(**s))
    d.customer(reply.format(**s))
    events["unresolved"] = kind
    return did.format(**s)


def _closing(d: Dialogue, rng, who, part) -> None:
    if rng.random() < 0.35:
        return
    d.agent(rng.choice(T.ANYTHING_ELSE[part]))
    d.customer(rng.choice(T.NO_MORE[part]))
    if rng.random() < 0.6:
        d.agent(pick(rng, T.CLOSE[part], **who))


def _render(turns, who, labels: str) -> str:
    names = {"plain": ("Customer", "Agent"), "names": (who["first"], who["agent"]),
             "mixed": (who["first"], "Agent")}[labels]
    return "\n".join(f"{names[0] if role == 'customer' else names[1]}: {text}" for role, text in turns)


def _facts(slots: dict, who: dict, text: str) -> dict:
    """The slot values the dialogue states: what a summary may say, and what fact_accuracy checks."""
    keys = ("company", "item", "ref", "amount", "date", "new_date", "days", "time", "city", "case", "team")
    facts = {"customer_name": who["full"], "agent": who["agent"], **{k: slots[k] for k in keys}}
    facts = {k: v for k, v in facts.items() if T.said(v, text)}
    if "ref" in facts:
        facts["ref_label"] = slots["ref_label"]
    return facts


def support_dialogue(rng: random.Random, part: str = "seen") -> dict:
    """One dialogue with its summary, extraction fields and facts."""
    scenario = rng.choice(SCENARIO_PARTS[part])
    s = scenario_slots(rng, scenario, part)
    first, full = person(rng, part)
    who = dict(first=first, full=full, agent=rng.choice(AGENTS[part]))
    style = rng.choice(STYLES)
    while True:  # a plan longer than MAX_TURNS is drawn again (cutting it would cut facts the summary states)
        d, events = Dialogue(rng, style, protect={v for v in (*s.values(), first, full)}), {}
        named = _opening(d, rng, scenario, s, who, part)
        _identify(d, rng, scenario, s, who, named, part)
        _middle(d, rng, scenario, s, events, part)
        outcome, agreed = _ending(d, rng, scenario, s, who, events)
        if "unresolved" not in events and "rejected" not in events:
            _closing(d, rng, who, part)
        if len(d.turns) <= MAX_TURNS:
            break
    dialogue = _render(d.turns, who, rng.choice(["plain", "plain", "names", "mixed"]))
    facts = _facts(s, who, dialogue)
    summary = T.summary(rng, scenario, s, who, outcome, events, dialogue)
    order = s["ref"] if INDUSTRIES[scenario["industry"]]["ref"] in ("order", "booking") else None
    fields = dict(customer_name=full, order_number=order, product=s["item"], requested_action=scenario["action"])
    return dict(dialogue=dialogue, summary=summary, **fields, extraction=json.dumps(fields, ensure_ascii=False),
                facts=facts, scenario=scenario["key"], industry=scenario["industry"], style=style,
                outcome=outcome if agreed is not None else None, outcome_index=agreed,
                turns=len(d.turns))


def fix_clauses(row: dict, rng: random.Random) -> list[str]:
    """Every fix of ``row``'s scenario as a summary clause, filled with the row's facts (fresh values for
    slots the dialogue never mentioned): index ``row["outcome_index"]`` is what was agreed."""
    scenario = next(s for s in SCENARIOS if s["key"] == row["scenario"])
    part = "unseen" if scenario.get("unseen") else "seen"
    values = {**scenario_slots(rng, scenario, part), **row["facts"], "item": row["product"]}
    return [did.format(**values) for _, did in scenario["fixes"]]


def generate_support(n: int, seed: int = 0, part: str = "seen") -> list[dict]:
    """``n`` dialogues, deterministic given ``seed`` and ``part`` (one RNG per example, so prefixes agree)."""
    prefix = "support" if check_part(part) == "seen" else "support-unseen"
    return [dict(id=f"{prefix}-{seed}-{i}", **support_dialogue(random.Random(f"{prefix}:{seed}:{i}"), part))
            for i in range(n)]
