"""A generated policy handbook and questions about it (``support-kb-qa``).

The handbook covers the retail and electronics companies of the support
generator (``_support_scenarios.INDUSTRIES``): for each company five Markdown
documents (returns, shipping, warranty, billing, accounts), each a few sections
of sentences that state one concrete number, deadline or exception. The values
are drawn from a seeded RNG per company, and agree with what the support
dialogues' agents say: retail items can be returned within thirty days,
electronics carry a two-year warranty and a two-week price promise.

Every fact sentence names its company, so a chunk cut from the middle of a
document still says whose policy it is. A question row carries the answer, the
evidence sentence and its character span in its document (``doc_id``,
``evidence_start``, ``evidence_end``): the retrieval metrics map that span to
whatever chunks an index cut, so the gold chunk does not depend on chunk size.

``part="unseen"`` asks about the held-out companies (``halves``: every fourth)
with held-out question phrasings; the handbook itself covers every company.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from genlab.data.builtin._common import check_part, halves
from genlab.data.builtin._support_scenarios import INDUSTRIES

HANDBOOK_INDUSTRIES = ("retail", "electronics")
TOPICS = ("returns", "shipping", "warranty", "billing", "accounts")


@dataclass(frozen=True)
class Fact:
    """One answerable statement: ``sentence`` states ``answer`` (a substring of it)."""

    key: str
    sentence: str
    answer: str
    questions: tuple[str, ...]  # phrasings; every fourth is kept for test-unseen


def slug(company: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", company.lower()).strip("-")


def _money(rng: random.Random, lo: int, hi: int) -> str:
    return f"${rng.randint(lo, hi)}.{rng.choice(['00', '49', '95', '99'])}"


# -- facts per topic --------------------------------------------------------------
def _returns(rng, c: str, industry: str) -> list[Fact]:
    window = 30 if industry == "retail" else rng.choice([15, 21, 45, 60])  # retail agents say "thirty days"
    fee = rng.choice([10, 12, 15, 20, 25])
    refund = rng.choice([3, 4, 5, 7, 10])
    label = rng.choice(["free", _money(rng, 3, 9)])
    clearance = rng.choice([7, 10, 14])
    return [
        Fact("return_window", f"{c} accepts returns of unwanted items within {window} days of delivery.",
             f"{window} days",
             (f"How many days does {c} allow for returning an unwanted item?",
              f"What is the return window at {c}?",
              f"Within how many days of delivery can I return something to {c}?",
              f"How long do {c} customers have to send back an item they don't want?")),
        Fact("restocking_fee", f"Opened items returned to {c} carry a restocking fee of {fee}% of the price.",
             f"{fee}%",
             (f"What restocking fee does {c} charge on opened items?",
              f"If I return an opened item to {c}, what percentage is deducted?",
              f"How much is the {c} restocking fee?",
              f"What share of the price does {c} keep when an opened product comes back?")),
        Fact("refund_time", f"{c} issues refunds within {refund} business days of receiving the return.",
             f"{refund} business days",
             (f"How long does {c} take to refund a return?",
              f"After {c} receives my return, when will I get my money back?",
              f"What is the refund processing time at {c}?",
              f"How many business days until a {c} refund is paid?")),
        Fact("return_label", f"A return shipping label from {c} costs "
                             f"{'nothing: it is free' if label == 'free' else label}.",
             "free" if label == "free" else label,
             (f"How much does a {c} return label cost?",
              f"What do I pay for return shipping with {c}?",
              f"Is the {c} return shipping label free, and if not, what does it cost?",
              f"What is the price of a return label at {c}?")),
        Fact("clearance_returns", f"Clearance items bought from {c} can only be returned within {clearance} days.",
             f"{clearance} days",
             (f"How long can I return a clearance item to {c}?",
              f"What is the return window for clearance items at {c}?",
              f"Within how many days must clearance purchases go back to {c}?",
              f"How many days do {c} customers get to return sale items from clearance?")),
    ]


def _shipping(rng, c: str, industry: str) -> list[Fact]:
    cost, free_over = _money(rng, 3, 8), f"${rng.choice([35, 40, 49, 50, 75, 99])}"
    days = rng.choice(["2 to 4", "3 to 5", "4 to 6", "5 to 7"])
    express = _money(rng, 9, 19)
    cutoff = rng.choice(["11 am", "12 pm", "1 pm", "2 pm", "3 pm"])
    lost = rng.choice([7, 10, 14, 21])
    return [
        Fact("shipping_cost", f"Standard shipping at {c} costs {cost} per order.", cost,
             (f"How much is standard shipping at {c}?", f"What does {c} charge for standard delivery?",
              f"What is the standard shipping fee at {c}?", f"How much will {c} charge me to ship an order normally?")),
        Fact("free_shipping", f"{c} ships for free on orders over {free_over}.", free_over,
             (f"Above what order value is shipping free at {c}?", f"What is the free shipping threshold at {c}?",
              f"How much do I need to spend at {c} to get free shipping?",
              f"From what basket total does {c} waive the delivery fee?")),
        Fact("delivery_time", f"Standard delivery from {c} takes {days} business days.", f"{days} business days",
             (f"How long does standard delivery take at {c}?", f"How many business days is {c} standard shipping?",
              f"When will a standard {c} order arrive?", f"What delivery time does {c} quote for standard parcels?")),
        Fact("express_cost", f"Express delivery from {c} costs {express} and arrives the next business day.",
             express,
             (f"How much is express delivery at {c}?", f"What does {c} charge for next-day express shipping?",
              f"What is the price of express shipping at {c}?", f"How much extra is {c}'s express option?")),
        Fact("cutoff", f"Orders placed with {c} before {cutoff} ship the same day.", cutoff,
             (f"What is the same-day dispatch cut-off at {c}?", f"By what time must I order from {c} to ship today?",
              f"What is {c}'s order cut-off time for same-day shipping?",
              f"Until when can I order at {c} and still have it dispatched the same day?")),
        Fact("lost_parcel", f"A missing parcel must be reported to {c} within {lost} days of the expected delivery date.",
             f"{lost} days",
             (f"How long do I have to report a lost parcel to {c}?",
              f"Within how many days must a missing {c} delivery be reported?",
              f"What is the deadline for reporting a lost {c} parcel?",
              f"How many days after the due date can I still tell {c} a parcel never came?")),
    ]


def _warranty(rng, c: str, industry: str) -> list[Fact]:
    years = 2 if industry == "electronics" else rng.choice([1, 3])  # electronics agents say "two-year warranty"
    unit = "year" if years == 1 else "years"
    extra, price = rng.choice([1, 2, 3]), _money(rng, 19, 89)
    repair = rng.choice([5, 7, 10, 14])
    exclusion = rng.choice(["water damage", "accidental drops", "cosmetic scratches", "commercial use"])
    return [
        Fact("warranty_length", f"Every product sold by {c} is under warranty against defects for {years} {unit}.",
             f"{years} {unit}",
             (f"How long is the warranty at {c}?", f"What warranty period does {c} give on its products?",
              f"For how many years are {c} products covered against defects?",
              f"How long does {c}'s defect warranty last?")),
        Fact("extended_warranty", f"{c} sells an extended warranty adding {extra} more year"
                                  f"{'s' if extra > 1 else ''} for {price}.", price,
             (f"How much does the {c} extended warranty cost?", f"What is the price of {c}'s extended warranty?",
              f"What do I pay to extend my warranty with {c}?", f"How much is extra warranty cover at {c}?")),
        Fact("repair_time", f"Warranty repairs at {c} are completed within {repair} business days.",
             f"{repair} business days",
             (f"How long does a warranty repair take at {c}?", f"What is the repair turnaround at {c}?",
              f"Within how many business days does {c} finish warranty repairs?",
              f"How quickly will {c} fix my product under warranty?")),
        Fact("exclusion", f"The {c} warranty does not cover {exclusion}.", exclusion,
             (f"What does the {c} warranty not cover?", f"Which damage is excluded from the {c} warranty?",
              f"What is the exclusion in {c}'s warranty?", f"What kind of problem will {c}'s warranty refuse?")),
    ]


def _billing(rng, c: str, industry: str) -> list[Fact]:
    promise = 14 if industry == "electronics" else rng.choice([7, 10, 21])  # "price promise covers two weeks"
    parts, over = rng.choice([3, 4, 6]), f"${rng.choice([100, 150, 200, 250])}"
    late = _money(rng, 5, 15)
    credit = rng.choice([5, 10, 15])
    return [
        Fact("price_match", f"{c} refunds the difference if the price drops within {promise} days of purchase.",
             f"{promise} days",
             (f"How long does the {c} price promise last?", f"Within how many days of buying does {c} match a price drop?",
              f"What is the price-match window at {c}?", f"If the price falls after I buy from {c}, how long am I covered?")),
        Fact("instalments", f"{c} lets customers pay in {parts} instalments, interest-free, on orders over {over}.",
             f"{parts} instalments",
             (f"In how many instalments can I pay at {c}?", f"How many interest-free payments does {c} offer?",
              f"Can I split a {c} order into instalments, and into how many?",
              f"Into how many parts can {c} customers split a large purchase?")),
        Fact("late_fee", f"A late instalment payment at {c} incurs a fee of {late}.", late,
             (f"What is the late payment fee at {c}?", f"How much does {c} charge for a late instalment?",
              f"What fee applies if I miss an instalment with {c}?", f"How much is a missed-payment charge at {c}?")),
        Fact("store_credit", f"Customers who take store credit instead of a refund at {c} receive a {credit}% bonus.",
             f"{credit}%",
             (f"What bonus does {c} add to store credit?", f"How much extra do I get if I choose store credit at {c}?",
              f"What is the store credit bonus at {c}?", f"By what percentage does {c} top up store credit?")),
    ]


def _accounts(rng, c: str, industry: str) -> list[Fact]:
    link = rng.choice([15, 30, 60])
    attempts, lock = rng.choice([3, 5, 10]), rng.choice([15, 30, 60])
    deletion = rng.choice([7, 14, 30])
    points, expiry = rng.choice([1, 2, 5]), rng.choice([12, 18, 24])
    return [
        Fact("reset_link", f"A {c} password reset link expires after {link} minutes.", f"{link} minutes",
             (f"How long is a {c} password reset link valid?", f"When does the {c} password reset email expire?",
              f"For how many minutes can I use a {c} reset link?", f"How long before a {c} reset link stops working?")),
        Fact("lockout", f"{c} locks an account for {lock} minutes after {attempts} failed sign-in attempts.",
             f"{lock} minutes",
             (f"How long is a {c} account locked after failed sign-ins?",
              f"For how many minutes does {c} lock my account after too many wrong passwords?",
              f"What is the account lockout time at {c}?", f"How long must I wait after {c} locks me out?")),
        Fact("deletion", f"{c} completes account deletion requests within {deletion} days.", f"{deletion} days",
             (f"How long does {c} take to delete an account?", f"Within how many days does {c} close a deleted account?",
              f"What is the account deletion time at {c}?", f"How soon will {c} erase my account after I ask?")),
        Fact("loyalty_points", f"{c} loyalty members earn {points} point{'s' if points > 1 else ''} per dollar spent.",
             f"{points} point{'s' if points > 1 else ''}",
             (f"How many loyalty points per dollar does {c} give?", f"What is the loyalty earn rate at {c}?",
              f"How many points do I earn for each dollar at {c}?", f"What does a dollar spent at {c} earn in points?")),
        Fact("points_expiry", f"Loyalty points at {c} expire after {expiry} months.", f"{expiry} months",
             (f"When do {c} loyalty points expire?", f"How long do {c} points last?",
              f"After how many months do loyalty points at {c} run out?",
              f"What is the expiry period of {c} reward points?")),
    ]


TOPIC_FACTS = dict(returns=_returns, shipping=_shipping, warranty=_warranty, billing=_billing, accounts=_accounts)
TITLES = dict(returns="Returns and refunds", shipping="Shipping and delivery", warranty="Warranty and repairs",
              billing="Billing and payments", accounts="Accounts and sign-in")


def companies() -> list[tuple[str, str]]:
    """(company, industry) for every company the handbook covers."""
    return [(c, ind) for ind in HANDBOOK_INDUSTRIES for c in INDUSTRIES[ind]["companies"]]


def company_facts(company: str, industry: str, seed: int = 0) -> dict[str, list[Fact]]:
    rng = random.Random(f"handbook:{seed}:{company}")  # per company: adding a company changes no other
    return {topic: TOPIC_FACTS[topic](rng, company, industry) for topic in TOPICS}


def _document(company: str, topic: str, facts: list[Fact]) -> tuple[str, dict[str, tuple[int, int]]]:
    """Markdown text and each fact's character span in it."""
    text, spans = f"# {company}: {TITLES[topic]}\n\n", {}
    for f in facts:
        text += f"## {f.key.replace('_', ' ').capitalize()}\n\n"
        spans[f.key] = (len(text), len(text) + len(f.sentence))
        text += f.sentence + "\n\n"
    return text, spans


def handbook(seed: int = 0) -> list[dict]:
    """The handbook documents: ``{id, title, company, industry, topic, text, spans}``, deterministic."""
    docs = []
    for company, industry in companies():
        for topic, facts in company_facts(company, industry, seed).items():
            text, spans = _document(company, topic, facts)
            docs.append(dict(id=f"{topic}/{slug(company)}", title=f"{company}: {TITLES[topic]}", company=company,
                             industry=industry, topic=topic, text=text, spans=spans))
    return docs


def handbook_fact(company: str, key: str, seed: int = 0) -> Fact:
    industry = dict(companies())[company]
    return next(f for facts in company_facts(company, industry, seed).values() for f in facts if f.key == key)


COMPANY_PARTS = halves([c for c, _ in companies()])


def kb_question(rng: random.Random, part: str, docs: list[dict]) -> dict:
    company = rng.choice(COMPANY_PARTS[part])
    doc = rng.choice([d for d in docs if d["company"] == company])
    industry = doc["industry"]
    fact = rng.choice(company_facts(company, industry)[doc["topic"]])
    phrasings = halves(fact.questions)[part]
    start, end = doc["spans"][fact.key]
    return dict(question=rng.choice(phrasings), answer=fact.answer, company=company, topic=doc["topic"],
                fact=fact.key, doc_id=doc["id"], evidence=fact.sentence, evidence_start=start, evidence_end=end)


def generate_kb_qa(n: int, seed: int = 0, part: str = "seen") -> list[dict]:
    """``n`` questions, each answered by one handbook sentence (the handbook is always seed 0)."""
    prefix = "kb" if check_part(part) == "seen" else "kb-unseen"
    docs = handbook()
    return [dict(id=f"{prefix}-{seed}-{i}", **kb_question(random.Random(f"{prefix}:{seed}:{i}"), part, docs))
            for i in range(n)]
